"""config.shared_fake_batch: in a simultaneous step, G's move scores the
fake batch of D's move (the 2014 GAN's and PacGAN's code), checked against
the minimax game's zero-sum gradient."""
import jax
import numpy as np
import pytest

from configs import mog_ring, repro_parzen
from gan_jax.config import defaults
from gan_jax.config import validation
from gan_jax.data import batching
from gan_jax.game import packing
from gan_jax.game import state as state_lib
from gan_jax.game import train_step
from gan_jax.errors import ConfigError
from gan_jax.models import layers


def _maxout_d_with_dropout_views_and_packs():
  """The 2014 GAN's nets (maxout D with dropout 0.2 / 0.5) at batch 8, with
  instance noise on D's views and packs of 2."""
  config = repro_parzen.get_config('1')
  config.batch_size = 8
  config.instance_noise.std, config.model.pack = 0.1, 2
  return config, (28, 28, 1), lambda rng: rng.integers(0, 256, (8, 28, 28, 1),
                                                       dtype=np.uint8)


def _ring_with_spectral_norm():
  """The ring's MLPs with batch norm in G and spectral norm in D, whose
  power iteration advances with each D call."""
  config = mog_ring.get_config()
  config.model.g_hidden = config.model.d_hidden = (64, 64)
  config.model.g_batch_norm = config.model.spectral_norm = True
  config.update_order = 'simultaneous'
  return config, (2,), lambda rng: rng.normal(size=(32, 2)).astype(np.float32) + 3.0


@pytest.mark.parametrize('setup', [_maxout_d_with_dropout_views_and_packs,
                                   _ring_with_spectral_norm],
                         ids=['maxout_dropout_noise_pack2', 'ring_spectral_norm'])
def test_a_shared_fake_batch_makes_the_minimax_step_zero_sum(setup):
  """config.shared_fake_batch: G's move scores the fake batch of the step's D
  move, through the same dropout masks, views and D state (goodfeli/
  adversarial computes d_obj and g_obj from one sample). With the minimax
  objective, G's loss is minus D's fake term, so G's SGD step is exactly
  +lr * grad over G of D's loss on D's own draws; with G drawing its own
  batch it is not."""
  config, example_shape, draw = setup()
  config.loss.name = 'minimax'
  # D's small init makes G's gradient ~1e-7 per weight in the maxout nets; a
  # large rate keeps the step far above the rounding of new - old weights.
  lr = 1e4
  config.optimizer_g = defaults.optimizer(lr, b1=0.0, name='sgd')
  config.update_order, config.shared_fake_batch = 'simultaneous', True
  gan = state_lib.build_gan(config, example_shape, axis_name='batch')
  state = state_lib.create_state(config, gan)
  real_u8 = draw(np.random.default_rng(0))
  step_key = jax.random.fold_in(state.rng, state.step)
  d_key = jax.random.split(jax.random.fold_in(step_key, 0), 1)[0]

  def d_loss_of_g(g_params):  # D's loss on D's draws, in D's move's order
    z_key, real_key, fake_key, _ = jax.random.split(d_key, 4)
    z = layers.sample_latent(z_key, real_u8.shape[0], config.model.latent_dim,
                             'batch', config.model.latent_distribution)
    fake, _ = train_step.generate(gan, g_params, state.g_batch_stats, z)
    view = lambda x, stream: packing.pack(train_step.d_view(
        x, d_key, stream, state.step, config, 'batch'), gan.pack)
    real = batching.preprocess(real_u8, config.data.image_size)
    d_real, _, stats = train_step.discriminate(
        gan, state.d_params, state.d_batch_stats, view(real, train_step.REAL_VIEW),
        real_key)
    d_fake, _, _ = train_step.discriminate(
        gan, state.d_params, stats, view(fake, train_step.FAKE_VIEW), fake_key)
    return gan.objective(d_real, d_fake, 'batch')[0]

  want = jax.vmap(jax.grad(d_loss_of_g), axis_name='batch', axis_size=1,
                  in_axes=None)(state.g_params)
  want = jax.tree.map(lambda g: np.asarray(g[0], np.float64) * lr, want)
  relative_error = {}
  for shared in (True, False):
    config.shared_fake_batch = shared
    step = jax.vmap(train_step.make_train_step(config, gan), axis_name='batch')
    stepped, _ = step(jax.tree.map(lambda x: x[None], state), real_u8[None, None])
    moved = jax.tree.map(lambda new, old: np.asarray(new[0], np.float64) - old,
                         stepped.g_params, state.g_params)
    relative_error[shared] = max(
        np.linalg.norm(m - w) / np.linalg.norm(w)
        for m, w in zip(jax.tree.leaves(moved), jax.tree.leaves(want)))
  assert relative_error[True] < 1e-4, relative_error
  assert relative_error[False] > 0.1, relative_error
  config.update_order = 'alternating'
  config.shared_fake_batch = True
  with pytest.raises(ConfigError, match="shared_fake_batch.*update_order='simultaneous'"):
    validation.validate(config)
