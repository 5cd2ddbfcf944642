"""benchmarks/cpu_forms.py: the forms it times compute the same thing, the
rule's choice is reported, and the tables render (small shapes, no timing
asserted)."""
import jax
import jax.numpy as jnp
import numpy as np


def test_interleaved_times_every_form(cpu_forms):
  forms = {'a': jax.jit(lambda x: x + 1), 'b': jax.jit(lambda x: x * 2)}
  ms = cpu_forms.interleaved(forms, (jnp.ones(3),), rounds=3, calls=2)
  assert set(ms) == {'a', 'b'} and all(v > 0 for v in ms.values())


def test_rows_at_small_shapes_render_with_the_chosen_form(cpu_forms, monkeypatch):
  # Two of the table's layers at batch 2: every form runs and is timed.
  monkeypatch.setattr(cpu_forms, 'TRANSPOSED', [(2, 4, 256, 128, 4, 2, 1),
                                                (2, 14, 64, 1, 5, 2, None)])
  rows = cpu_forms.transposed_rows(rounds=1, calls=1)
  assert [r['chosen'] for r in rows] == ['phases', 'lax']
  dropout = cpu_forms.dropout_row(rounds=1, calls=1, batch=4)
  assert dropout['equal_masks'] is True
  table = cpu_forms.markdown(rows, dropout)
  assert '| 2 | 4x4x256 | 128 | k4 s2 |' in table
  assert table.splitlines()[-1].startswith('| 4, [[14, 14, 64], [7, 7, 128]] |')
  assert np.isfinite([float(v) for r in rows for v in r['ms'].values()]).all()
