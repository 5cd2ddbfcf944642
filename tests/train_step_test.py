"""The pmapped update step: device-count invariance, objectives, errors."""
import jax
import numpy as np
import pytest
from flax import jax_utils

from configs import mnist, mnist_mlp
from gan_jax import state as state_lib
from gan_jax import train_step
from gan_jax.errors import ConfigError


def run_steps(config, num_devices, batches):
  gan = state_lib.build_gan(config, (28, 28, 1))
  devices = jax.devices()[:num_devices]
  step = jax.pmap(train_step.make_train_step(config, gan), axis_name='batch',
                  donate_argnums=(0,), devices=devices)
  state = jax_utils.replicate(state_lib.create_state(config, gan), devices)
  history = []
  for images in batches:  # [n_critic, global batch, ...] -> per device
    n_critic, batch = images.shape[:2]
    per_device = images.reshape((n_critic, num_devices, batch // num_devices) +
                                images.shape[2:]).swapaxes(0, 1)
    state, metrics = step(state, per_device)
    history.append(jax.device_get(jax.tree.map(lambda m: m[0], metrics)))
  return jax.device_get(jax.tree.map(lambda x: x[0], state)), history


def random_batches(config, num_steps, seed=0):
  rng = np.random.default_rng(seed)
  return [rng.integers(0, 256, (config.n_critic, config.batch_size, 28, 28, 1),
                       dtype=np.uint8) for _ in range(num_steps)]


def assert_trees_close(a, b, rtol, atol):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


@pytest.mark.parametrize('get_config', [mnist.get_config, mnist_mlp.get_config],
                         ids=['dcgan28', 'mlp'])
def test_one_and_four_devices_agree(get_config):
  # SGD instead of the config's Adam: Adam's first steps are ~lr * sign(g), so
  # float rounding in gradient components near zero (which differs with the
  # reduction order across devices) would show up as lr-sized differences
  # and hide what is under test, the step's arithmetic.
  config = get_config()
  config.batch_size, config.n_critic, config.ema_decay = 16, 2, 0.9
  config.optimizer_g.name = config.optimizer_d.name = 'sgd'
  config.optimizer_g.learning_rate = config.optimizer_d.learning_rate = 0.05
  batches = random_batches(config, 3)
  state1, history1 = run_steps(config, 1, batches)
  state4, history4 = run_steps(config, 4, batches)
  for m1, m4 in zip(history1, history4):
    assert_trees_close(m1, m4, rtol=1e-4, atol=1e-5)
  assert_trees_close(state1.g_params, state4.g_params, rtol=1e-4, atol=1e-5)
  assert_trees_close(state1.d_params, state4.d_params, rtol=1e-4, atol=1e-5)
  assert_trees_close(state1.g_batch_stats, state4.g_batch_stats, rtol=1e-4, atol=1e-5)
  assert_trees_close(state1.ema_g_params, state4.ema_g_params, rtol=1e-4, atol=1e-5)
  assert int(state4.step) == 3
  # The step really moved the parameters (and both players).
  initial = state_lib.create_state(config, state_lib.build_gan(config, (28, 28, 1)))
  for before, after in ((initial.g_params, state1.g_params),
                        (initial.d_params, state1.d_params)):
    assert not np.allclose(jax.tree.leaves(before)[0], jax.tree.leaves(after)[0])


def test_wasserstein_clips_critic_and_wgan_gp_penalises():
  config = mnist_mlp.get_config()
  config.batch_size, config.n_critic = 8, 3
  config.loss.name = 'wasserstein'
  state, _ = run_steps(config, 2, random_batches(config, 2))
  leaves = jax.tree.leaves(state.d_params)
  assert max(float(np.max(np.abs(x))) for x in leaves) <= 0.01 + 1e-7
  config.loss.name = 'wgan_gp'
  _, history = run_steps(config, 2, random_batches(config, 1))
  assert history[0]['penalty'] > 0
  assert np.isfinite(history[0]['loss_d'])


def test_first_step_losses_match_the_objective():
  # At initialisation D is near chance: the minimax D loss is near log 4.
  config = mnist_mlp.get_config()
  config.batch_size = 32
  _, history = run_steps(config, 1, random_batches(config, 1))
  assert abs(history[0]['loss_d'] - np.log(4)) < 0.2
  assert 0.3 < history[0]['d_real'] < 0.7


@pytest.mark.parametrize('field,value,match', [
    ('batch_size', 30, 'multiple of the device count'),
    ('n_critic', 0, 'n_critic must be >= 1'),
])
def test_invalid_step_config(field, value, match):
  config = mnist.get_config()
  setattr(config, field, value)
  with pytest.raises(ConfigError, match=match):
    state_lib.validate(config, num_devices=4)
