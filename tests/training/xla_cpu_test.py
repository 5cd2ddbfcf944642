"""XLA:CPU flag tuning (config.xla_cpu_tuning, gan_jax/training/xla_cpu.py)."""
import os

import jax.numpy as jnp
import pytest

from gan_jax.training import xla_cpu

TUNED = f'{xla_cpu.FLAG}={xla_cpu.TUNED}'


@pytest.mark.parametrize('given,version,expected', [
    ('', '0.10.2', TUNED),
    ('--xla_force_host_platform_device_count=8', '0.11.0',
     f'--xla_force_host_platform_device_count=8 {TUNED}'),
    # The user's own setting wins.
    (f'{xla_cpu.FLAG}=', '0.10.2', f'{xla_cpu.FLAG}='),
    # Not set where it was not measured: XLA aborts on flags it lacks.
    ('', '0.12.0', ''),
])
def test_tuned_flags(given, version, expected):
  assert xla_cpu.tuned_flags(given, version) == expected


def test_the_tests_run_tuned():
  # conftest sets it, so every test exercises the configuration training uses.
  assert TUNED in os.environ['XLA_FLAGS']


def test_configure_after_the_backend_started_only_warns(monkeypatch, caplog):
  jnp.zeros(1).block_until_ready()  # the backend is running
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
  xla_cpu.configure(True)
  assert os.environ['XLA_FLAGS'] == '--xla_force_host_platform_device_count=8'
  assert 'before starting Python' in caplog.text
  xla_cpu.configure(False)  # off: nothing to do
  assert os.environ['XLA_FLAGS'] == '--xla_force_host_platform_device_count=8'

