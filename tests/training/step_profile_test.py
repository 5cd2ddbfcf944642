"""The step's breakdown: the layers it times are the model's, counted as
often as the step runs them, and the rest closes the sum to the step."""
import pytest

from configs import mnist_dcgan64
from gan_jax.training import step_profile


def _dcgan64():
  config = mnist_dcgan64.get_config()
  config.batch_size = 4
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
  # and backward three times (real, fake, the G move).
  per_layer = result['layers']
  expected = (2 * sum(l['forward_ms'] for l in per_layer
                      if l['net'] == 'G' and l['kind'] == 'transposed conv') +
              3 * sum(l['forward_ms'] for l in per_layer
                      if l['net'] == 'D' and l['kind'] == 'transposed conv'))
  assert rows['transposed conv forward'] == pytest.approx(expected, abs=0.2)
  assert result['step_ms'] == 500.0
  assert sum(rows.values()) == pytest.approx(500.0, abs=0.5)
  table = step_profile.markdown(result, with_layers=True)
  assert '| **the whole step (measured)** | **500.0** | 100 % |' in table
  assert '| D | Conv_1 | conv | [4, 16, 16, 64] |' in table
