"""benchmarks/compare.py's pure parts: the commands it builds, the parsing of
a benchmark's output, the ratios and the Markdown table (no subprocess)."""
import os

import pytest


def _record(side, model, round_, images_per_s, peak=None, batch=128):
  result = dict(images_per_s=images_per_s, batch_size=batch)
  if side == 'gan_jax':
    result.update(peak_fraction=peak, backend='cpu', devices=1,
                  conv_impl='auto', compute_dtype='float32')
  else:
    result.update(torch='2.14.1', device='cpu', threads=2)
  return dict(side=side, model=model, round=round_, result=result)


def test_ratios_are_gan_jax_over_torch(compare):
  assert compare.ratios([100.0, 200.0], [250.0, 100.0]) == [2.5, 0.5]
  assert compare.ratios([0.0, 10.0], [5.0, None]) == [None, None]


def test_table_rows_pair_rounds_in_order(compare):
  records = [_record('torch', 'mlp', 1, 100.0),
             _record('gan_jax', 'mlp', 1, 300.0, 0.5),
             _record('gan_jax', 'mlp', 2, 330.0, 0.55),   # side order alternates
             _record('torch', 'mlp', 2, 110.0),
             _record('torch', 'sngan', 1, 3.0, batch=64),
             _record('gan_jax', 'sngan', 1, 3.3, 0.78, batch=64),
             _record('torch', 'sngan', 2, 3.1, batch=64)]  # round 2 incomplete
  mlp, sngan = compare.table_rows(records)
  assert mlp['model'] == 'mlp' and mlp['batch'] == 128
  assert mlp['torch'] == [100.0, 110.0] and mlp['gan_jax'] == [300.0, 330.0]
  assert mlp['ratio'] == pytest.approx([3.0, 3.0])
  assert mlp['median_ratio'] == pytest.approx(3.0)
  assert mlp['peak'] == [0.5, 0.55]
  assert sngan['batch'] == 64 and sngan['torch'] == [3.0]
  assert sngan['ratio'] == pytest.approx([1.1])


def test_markdown_table(compare):
  records = [_record('torch', 'dcgan28', 1, 50.0),
             _record('gan_jax', 'dcgan28', 1, 100.0, 0.25),
             _record('gan_jax', 'dcgan28', 2, 120.0, None),
             _record('torch', 'dcgan28', 2, 40.0)]
  lines = compare.markdown_table(records).splitlines()
  assert lines[0].startswith('| model | batch | PyTorch images/s | gan_jax images/s')
  assert lines[1].startswith('|---|')
  assert lines[2] == ('| dcgan28 | 128 | 50.0 / 40.0 | 100.0 / 120.0 | 2.00 / 3.00 '
                      '| 2.50 | 0.250 / – |')
  assert 'PyTorch 2.14.1 on cpu, 2 threads' in compare.setup_line(records)
  assert 'gan_jax on cpu x 1' in compare.setup_line(records)


def test_parse_result_takes_the_last_json_line(compare):
  out = 'warning: something\n{"images_per_s": 1.0}\n{"images_per_s": 2.0}\n\n'
  assert compare.parse_result(out) == {'images_per_s': 2.0}
  with pytest.raises(ValueError):
    compare.parse_result('no json here\n')


def test_commands(compare):
  jax = compare.jax_command('py', 'sngan', compare.model_batch('sngan', 128, 64), 2, 3)
  assert jax == ['py', '-m', 'gan_jax.benchmark', '--config=configs/cifar10_sngan.py',
                 '--config.batch_size=64', '--config.g_batch_size=0',
                 '--steps=2', '--repeats=3']
  torch = compare.torch_command('tpy', 'dcgan64', 128, 2, 3, 'cuda')
  assert torch[0] == 'tpy' and torch[1].endswith(os.path.join('benchmarks', 'torch_side.py'))
  assert torch[2:] == ['dcgan64', '--batch=128', '--steps=2', '--repeats=3',
                       '--device=cuda']
  assert '--n_critic=5' in compare.torch_command('tpy', 'sngan', 64, 1, 1, 'cpu')
  for model in compare.MODELS.values():
    assert os.path.exists(os.path.join(compare.REPO, model.config))
