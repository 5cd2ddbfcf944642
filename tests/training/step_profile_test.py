"""The step's breakdown: the layers it times are the model's, counted as
often as the step runs them, and the rest closes the sum to the step."""
import pytest

from configs import mnist_dcgan64
from gan_jax.training import step_profile


def _dcgan64():
  config = mnist_dcgan64.get_config()
  config.batch_size = 4
  config.num_devices = 1   # the layers are timed on one device's share
  return config


def test_records_every_layer_of_both_networks_with_its_input_shape():
  config = _dcgan64()
  # The step is not timed here: a fixed rate of 2 steps/s (500 ms).
  result = step_profile.profile(config, (28, 28, 1),
                                lambda: dict(steps_per_s=2.0, images_per_s=8.0),
                                repeats=1)
  layers = [(l['net'], l['path'], l['kind'], l['input']) for l in result['layers']]
  # dcgan64.py: G's four transposed convs with three batch norms between;
  # D's four convs, batch norm after the second and third.
  assert layers == [
      ('G', 'ConvTranspose_0', 'transposed conv', [4, 1, 1, 100]),
      ('G', 'BatchNorm_0', 'batch norm', [4, 4, 4, 256]),
      ('G', 'ConvTranspose_1', 'transposed conv', [4, 4, 4, 256]),
      ('G', 'BatchNorm_1', 'batch norm', [4, 8, 8, 128]),
      ('G', 'ConvTranspose_2', 'transposed conv', [4, 8, 8, 128]),
      ('G', 'BatchNorm_2', 'batch norm', [4, 16, 16, 64]),
      ('G', 'ConvTranspose_3', 'transposed conv', [4, 16, 16, 64]),
      ('D', 'Conv_0', 'conv', [4, 64, 64, 1]),
      ('D', 'Conv_1', 'conv', [4, 16, 16, 64]),
      ('D', 'BatchNorm_0', 'batch norm', [4, 8, 8, 128]),
      ('D', 'Conv_2', 'conv', [4, 8, 8, 128]),
      ('D', 'BatchNorm_1', 'batch norm', [4, 4, 4, 256]),
      ('D', 'Conv_3', 'conv', [4, 4, 4, 256]),
  ]
  rows = {r['row']: r['ms'] for r in result['rows']}
  # One D move (n_critic 1): G forward twice a step, backward once; D forward
  # and backward three times (real, fake, the G move). Rows are rounded to
  # 0.1 ms, layers to 0.001 ms.
  total = lambda net, kind, what: sum(l[f'{what}_ms'] for l in result['layers']
                                      if l['net'] == net and l['kind'] == kind)
  assert rows['transposed conv forward'] == pytest.approx(
      2 * total('G', 'transposed conv', 'forward'), abs=0.15)
  assert rows['transposed conv backward'] == pytest.approx(
      total('G', 'transposed conv', 'backward'), abs=0.15)
  assert rows['conv forward'] == pytest.approx(3 * total('D', 'conv', 'forward'), abs=0.15)
  assert rows['conv backward'] == pytest.approx(3 * total('D', 'conv', 'backward'), abs=0.15)
  assert rows['batch norm forward'] == pytest.approx(
      2 * total('G', 'batch norm', 'forward') + 3 * total('D', 'batch norm', 'forward'),
      abs=0.15)
  assert result['step_ms'] == 500.0
  # The rest is what the measured step leaves.
  assert rows[next(r for r in rows if r.startswith('the rest'))] == pytest.approx(
      500.0 - sum(ms for r, ms in rows.items() if not r.startswith('the rest')), abs=0.5)
  table = step_profile.markdown(result, with_layers=True)
  assert '| **the whole step (measured)** | **500.0** | 100 % |' in table
  assert '| D | Conv_1 | conv | [4, 16, 16, 64] |' in table
  assert 'of the matmul peak' not in table   # the stand-in step measured none


def test_layer_work_counts_the_taps_that_meet_the_input():
  config = _dcgan64()
  result = step_profile.profile(
      config, (28, 28, 1),
      lambda: dict(steps_per_s=2.0, images_per_s=8.0, matmul_peak_gflop_per_s=100.0),
      repeats=1)
  layer = {l['path']: l for l in result['layers'] if l['net'] == 'D'}
  # Conv_1: 16x16 -> 8x8, k4 s2 pad 1: per axis the first and last outputs
  # meet 3 of the 4 taps (30 of 32); 64 -> 128 channels, batch 4, plus the
  # bias. The backward: the input's and the kernel's gradients (as many
  # multiply-adds each) and the bias's (a sum over the same outputs).
  taps = 2 * 4 * 64 * 128 * 30 ** 2
  outputs = 4 * 8 * 8 * 128
  assert layer['Conv_1']['forward_gflop'] == pytest.approx((taps + outputs) / 1e9, abs=2e-6)
  assert layer['Conv_1']['backward_gflop'] == pytest.approx((2 * taps + outputs) / 1e9,
                                                            abs=2e-6)
  # Conv_3: 4x4 -> 1x1 'VALID', 256 -> 1.
  assert layer['Conv_3']['forward_gflop'] == pytest.approx((2 * 4 * 16 * 256 + 4) / 1e9,
                                                           abs=2e-6)
  rate = 1e3 * layer['Conv_1']['forward_gflop'] / layer['Conv_1']['forward_ms']
  row = next(line for line in step_profile.markdown(result, True).splitlines()
             if '| D | Conv_1 |' in line)
  assert row.split(' | ')[6] == f'{rate:.0f} ({rate / 100:.2f})'


def test_counts_every_move_of_the_step():
  # 3 D moves and 2 G moves, G's at twice the batch: G forward 3 times at 4
  # and twice at 8 (backward twice at 8), D forward and backward 6 times at 4
  # and twice at 8.
  config = _dcgan64()
  config.n_critic, config.n_generator, config.g_batch_size = 3, 2, 8
  result = step_profile.profile(config, (28, 28, 1),
                                lambda: dict(steps_per_s=1.0, images_per_s=4.0),
                                repeats=1)
  layer = lambda net, path, batch: next(
      l for l in result['layers'] if (l['net'], l['path']) == (net, path)
      and l['input'][0] == batch)
  rows = {r['row']: r['ms'] for r in result['rows']}
  d_convs = [f'Conv_{i}' for i in range(4)]
  expected = sum(6 * layer('D', p, 4)['backward_ms'] + 2 * layer('D', p, 8)['backward_ms']
                 for p in d_convs)
  assert rows['conv backward'] == pytest.approx(expected, abs=0.15)
  g_convs = [f'ConvTranspose_{i}' for i in range(4)]
  expected = sum(3 * layer('G', p, 4)['forward_ms'] + 2 * layer('G', p, 8)['forward_ms']
                 for p in g_convs)
  assert rows['transposed conv forward'] == pytest.approx(expected, abs=0.15)


def test_refuses_steps_with_other_passes():
  config = _dcgan64()
  config.loss.penalty = 'r1'
  with pytest.raises(ValueError, match='gradient penalty'):
    step_profile.profile(config, (28, 28, 1), lambda: {}, repeats=1)
