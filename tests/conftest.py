"""Test-wide setup: 8 fake CPU devices, set before jax is imported."""
import os

from gan_jax import xla_cpu  # noqa: E402  (imports no jax)

os.environ['XLA_FLAGS'] = xla_cpu.tuned_flags(
    os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import pytest  # noqa: E402  (after the environment is set)

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def tfds_data_dir():
  """A TFDS data_dir holding prepared mnist: $TFDS_DATA_DIR or the offline
  copy beside the checkout (../shared/data/tfds)."""
  for path in (os.environ.get('TFDS_DATA_DIR'),
               os.path.join(_REPO, '..', 'shared', 'data', 'tfds')):
    if path and os.path.isdir(os.path.join(path, 'mnist')):
      return os.path.abspath(path)
  pytest.skip('prepared TFDS mnist not found: set TFDS_DATA_DIR (see README)')


@pytest.fixture(scope='session')
def repo_dir():
  return _REPO
