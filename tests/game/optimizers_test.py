"""Optimiser schedules: the learning rate and SGD momentum after t updates,
against their closed forms."""
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.config import defaults
from gan_jax.game import optimizers
from gan_jax.errors import ConfigError


def _sgd_steps(config, num_steps, grad=1.0):
  """Parameter of x -> grad * x after each of num_steps SGD updates from 0."""
  tx = optimizers.create(config)
  params = jnp.zeros(())
  state = tx.init(params)
  trajectory = []
  for _ in range(num_steps):
    updates, state = tx.update(jnp.asarray(grad), state, params)
    params = params + updates
    trajectory.append(float(params))
  return np.array(trajectory)


def test_exponential_decay_is_pylearn2s_per_update_factor_with_a_floor():
  # Goodfellow et al. 2014's ExponentialDecay: lr_t = lr0 / 1.000004^t, >= min_lr.
  config = defaults.optimizer(0.1, b1=0.0, name='sgd', schedule='exponential',
                             decay_rate=1 / 1.000004, end_learning_rate=1e-6)
  lr = optimizers.learning_rate(config)
  for t in (0, 1, 500, 125_000):
    np.testing.assert_allclose(lr(t), 0.1 / 1.000004 ** t, rtol=1e-5)
  assert float(lr(10_000_000)) == pytest.approx(1e-6)
  # Plain SGD with gradient 1: the parameter moves by -lr_t at update t.
  expected = -np.cumsum([0.1 / 1.000004 ** t for t in range(5)])
  np.testing.assert_allclose(_sgd_steps(config, 5), expected, rtol=1e-6)


def test_cosine_decay_reaches_the_end_value_at_decay_steps():
  config = defaults.optimizer(2e-4, schedule='cosine', decay_steps=100,
                             end_learning_rate=2e-5)
  lr = optimizers.learning_rate(config)
  np.testing.assert_allclose(lr(0), 2e-4)
  np.testing.assert_allclose(lr(50), 2e-5 + 0.5 * (2e-4 - 2e-5), rtol=1e-5)
  np.testing.assert_allclose(lr(100), 2e-5, rtol=1e-5)
  np.testing.assert_allclose(lr(1000), 2e-5, rtol=1e-5)


def test_momentum_ramps_linearly_to_its_final_value():
  # pylearn2's MomentumAdjustor: momentum 0.5 -> 0.7 over the ramp. With a
  # constant gradient g the trace is t_k = g + m_k t_{k-1}, the step -lr t_k.
  config = defaults.optimizer(0.1, b1=0.5, name='sgd', b1_final=0.7, b1_ramp_steps=4)
  got = _sgd_steps(config, 6)
  trace, params, expected = 0.0, 0.0, []
  for k in range(6):
    momentum = 0.5 + 0.2 * min(k, 4) / 4
    trace = 1.0 + momentum * trace
    params -= 0.1 * trace
    expected.append(params)
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_constant_schedule_is_the_plain_optimiser():
  config = defaults.optimizer(0.1, b1=0.5, name='sgd')
  np.testing.assert_allclose(_sgd_steps(config, 3), [-0.1, -0.25, -0.425], rtol=1e-6)
  assert optimizers.learning_rate(config) == 0.1


def test_unknown_schedule_is_one_line():
  config = defaults.optimizer(0.1, schedule='step')
  with pytest.raises(ConfigError, match="unknown optimizer schedule 'step'"):
    optimizers.create(config)


def test_cosine_without_decay_steps_is_refused_in_one_line():
  from configs import mog_ring
  from gan_jax.config import validation
  config = mog_ring.get_config()
  config.optimizer_d.schedule = 'cosine'
  with pytest.raises(ConfigError, match=r'config.optimizer_d.schedule=cosine decays over '
                     r'decay_steps updates, got 1; set config.optimizer_d.decay_steps, '
                     r'e.g. to num_train_steps \(10000\)$'):
    validation.validate(config)
  config.optimizer_d.decay_steps = 10_000
  validation.validate(config)


def test_linear_decay_reaches_the_end_value_at_decay_steps():
  # SNGAN's lr_decay='linear': lr (1 - t / T) down to 0, then held there.
  config = defaults.optimizer(2e-4, schedule='linear', decay_steps=500_000)
  lr = optimizers.learning_rate(config)
  np.testing.assert_allclose(lr(0), 2e-4)
  np.testing.assert_allclose(lr(125_000), 1.5e-4, rtol=1e-5)
  np.testing.assert_allclose(lr(500_000), 0.0, atol=1e-12)
  np.testing.assert_allclose(lr(600_000), 0.0, atol=1e-12)
