"""PacGAN packing: which examples a packed D input holds, what D sees in a
step, device invariance, and the checks."""
import json

import jax
import ml_collections
import numpy as np
import pytest

from configs import mog_ring
from gan_jax.config import keys as config_keys
from gan_jax.config import validation
from gan_jax.game import packing
from gan_jax.game import state as state_lib
from gan_jax.game import train_step
from gan_jax.errors import ConfigError


def test_pack_concatenates_consecutive_examples_along_the_last_axis():
  images = np.arange(6 * 2 * 2 * 3, dtype=np.float32).reshape(6, 2, 2, 3)
  packed = np.asarray(packing.pack(images, 3))
  assert packed.shape == (2, 2, 2, 9)
  for i in range(2):
    for j in range(3):
      np.testing.assert_array_equal(packed[i, ..., 3 * j:3 * (j + 1)], images[3 * i + j])
  points = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)
  np.testing.assert_array_equal(packing.pack(points, 2),
                                np.concatenate([points[0::2], points[1::2]], axis=1))
  assert packing.pack(points, 1) is points
  assert packing.packed_shape((28, 28, 3), 4) == (28, 28, 12)
  with pytest.raises(ValueError, match='does not split into packs of 3'):
    packing.pack(points, 3)


def _packed_ring_config(pack):
  config = mog_ring.get_config()
  config.model.g_hidden = config.model.d_hidden = (16,)
  config.model.pack = pack
  return config


def test_a_packed_discriminator_judges_exactly_the_grouped_real_examples():
  config = _packed_ring_config(pack=2)
  gan = state_lib.build_gan(config, (2,), axis_name='batch')
  state = state_lib.create_state(config, gan)
  real = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
  move = jax.vmap(lambda s, x, k: train_step.discriminator_move(s, x, k, gan, config),
                  axis_name='batch')
  _, metrics = move(jax.tree.map(lambda x: x[None], state), real[None],
                    jax.random.PRNGKey(0)[None])
  # D's input layer has 2 x 2 features; by hand: example pairs (0,1), (2,3)...
  assert state.d_params['Dense_0']['kernel'].shape == (4, 16)
  by_hand = np.concatenate([real[0::2], real[1::2]], axis=1)
  logits = gan.discriminator.apply({'params': state.d_params}, by_hand, train=False)
  assert logits.shape == (4,)
  np.testing.assert_allclose(metrics['d_real_logit'][0], np.mean(logits), rtol=1e-6)


def test_pack_one_leaves_the_step_as_without_packing():
  # A config saved without the key (before packing), completed from the
  # defaults as a run's is when read back, and pack=1 step to bit-identical
  # states.
  states = []
  for pack in (None, 1):
    config = _packed_ring_config(pack=1)
    if pack is None:
      saved = json.loads(config.to_json_best_effort())
      del saved['model']['pack']
      config = ml_collections.ConfigDict(config_keys.complete(saved))
    gan = state_lib.build_gan(config, (2,), axis_name='batch')
    state = state_lib.create_state(config, gan)
    step = jax.vmap(train_step.make_train_step(config, gan), axis_name='batch')
    real = np.random.default_rng(0).normal(size=(1, 1, 32, 2)).astype(np.float32)
    states.append(step(jax.tree.map(lambda x: x[None], state), real)[0])
  for x, y in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1])):
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize('penalty', ['none', 'wgan_gp'])
def test_packed_step_is_the_same_on_one_and_four_devices(penalty, assert_devices_agree):
  config = _packed_ring_config(pack=4)
  config.model.g_batch_norm = True
  config.loss.penalty = penalty
  config.optimizer_g.name = config.optimizer_d.name = 'sgd'
  config.batch_size = 32
  real = np.random.default_rng(0).normal(size=(1, 32, 2)).astype(np.float32)
  assert_devices_agree(config, [real], rtol=1e-5, atol=1e-6)


def test_pack_must_divide_the_batch_per_device():
  config = _packed_ring_config(pack=4)
  config.batch_size = 24
  validation.validate(config, num_devices=2)      # 12 per device
  with pytest.raises(ConfigError, match=r'pack=4 must divide the batch per device \(6\)'):
    validation.validate(config, num_devices=4)
  config.model.pack = 0
  with pytest.raises(ConfigError, match='config.model.pack must be >= 1'):
    validation.validate(config)


def test_a_batch_of_one_pack_with_discriminator_batch_norm_is_refused():
  from configs import mnist_dcgan64
  from gan_jax.training import runs as runs_lib
  config = mnist_dcgan64.get_config()   # batch norm in D
  config.model.pack, config.batch_size = 4, 4
  gan = state_lib.build_gan(config, (64, 64, 1), axis_name=None)
  state = jax.eval_shape(lambda: state_lib.create_state(config, gan))
  with pytest.raises(ConfigError, match=r'batch_size=4 \(model.pack=4\): batch norm in '
                     r'the discriminator would normalise'):
    runs_lib.check_batch_norm_batch(config, state)
  config.batch_size = 8
  runs_lib.check_batch_norm_batch(config, state)
