"""training/runs.py: each seed's host side. A seed's config is the one its
solo run would have, its sample grid's codes and labels are fixed, the data
of a class-conditional run are checked, and a group of seeds resumes at
their common step with the checkpoints ahead of it set aside."""
import os
import types

import jax
import numpy as np
import pytest

from configs import mog_ring
from gan_jax.errors import ConfigError
from gan_jax.training import runs as runs_lib
from gan_jax.workdir import checkpoints


def test_a_seeds_config_is_its_solo_runs_and_the_callers_is_unchanged():
  config = mog_ring.get_config()   # data.seed follows seed
  mine = runs_lib.seed_config(config, 3)
  assert mine.seed == 3 and mine.data.seed == 3
  assert config.seed == 0 and config.data.seed == 0
  config.seed = 5   # the reference still ties the caller's own
  assert config.data.seed == 5 and mine.data.seed == 3


def test_the_sample_grids_codes_are_fixed_per_seed():
  config = mog_ring.get_config()
  first = runs_lib.fixed_latents(config, 16)
  np.testing.assert_array_equal(first, runs_lib.fixed_latents(config, 16))
  assert first.shape == (16, config.model.latent_dim)
  assert not np.allclose(first, runs_lib.fixed_latents(runs_lib.seed_config(config, 1), 16))


@pytest.mark.parametrize('num_classes,n,images,labels,rows', [
    (0, 64, True, None, 8),
    (10, 100, True, [c for c in range(10) for _ in range(10)], 10),
    (3, 6, True, [0, 0, 1, 1, 2, 2], 3),
    (12, 20, True, [r // 2 for r in range(20)], 10),   # the first ten classes
    (8, 10, False, [0, 1, 2, 3, 4, 5, 6, 7, 0, 1], 1),
])
def test_grid_labels_give_a_row_per_class(num_classes, n, images, labels, rows):
  got, got_rows = runs_lib.grid_labels(num_classes, n, images)
  assert got_rows == rows
  if labels is None:
    assert got is None
  else:
    assert got.dtype == np.int32 and got.tolist() == labels


def test_a_conditional_run_needs_the_data_sets_classes():
  config = mog_ring.get_config()
  config.data.num_examples = 400
  config.model.num_classes = 8
  points, labels = runs_lib.load_data(config)
  assert points.shape == (400, 2) and sorted(set(labels.tolist())) == list(range(8))
  config.model.num_classes = 10
  with pytest.raises(ConfigError) as error:
    runs_lib.load_data(config)
  assert str(error.value) == ("config.model.num_classes=10 but 'mog_ring' has labels "
                              "0 .. 7; set --config.model.num_classes=8")
  config.model.num_classes = 0
  assert runs_lib.load_data(config)[1] is None


def _group(tmp_path, latest_steps):
  """Fake runs (what `restore` reads: a manager and a workdir) whose
  checkpoints are the steps 2, 4, ... up to each latest step."""
  runs = []
  for i, latest in enumerate(latest_steps):
    workdir = str(tmp_path / f'seed{i}')
    manager = checkpoints.create_manager(workdir, 10, 'loss_d', 'min')
    for step in range(2, latest + 1, 2):
      checkpoints.save(manager, step, {'w': np.full((2,), 10 * i + step, np.float32)},
                       {'loss_d': 1.0})
    runs.append(types.SimpleNamespace(manager=manager, workdir=workdir))
  return runs


def test_a_group_resumes_at_its_common_step_and_sets_aside_what_is_ahead(tmp_path):
  runs = _group(tmp_path, [6, 4, 6])
  template = {'w': jax.ShapeDtypeStruct((2,), np.float32)}
  states, step = runs_lib.restore(runs, template)
  assert step == 4
  assert [float(s['w'][0]) for s in states] == [4.0, 14.0, 24.0]
  for i in (0, 2):
    assert sorted(runs[i].manager.all_steps()) == [2, 4]
    assert os.listdir(tmp_path / f'seed{i}' / 'superseded_checkpoints') == ['6']


def test_a_group_with_a_seed_not_yet_saved_starts_afresh(tmp_path):
  runs = _group(tmp_path, [4, 0])
  template = {'w': jax.ShapeDtypeStruct((2,), np.float32)}
  assert runs_lib.restore(runs, template) == (None, 0)
  # The seed that had saved starts over too; its checkpoints are kept aside.
  assert list(runs[0].manager.all_steps()) == []
  assert sorted(os.listdir(tmp_path / 'seed0' / 'superseded_checkpoints')) == ['2', '4']
  assert runs_lib.restore(_group(tmp_path / 'none', [0, 0]), template) == (None, 0)
