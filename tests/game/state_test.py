"""game/state.py: the GAN's static half built by name from the config, and
its state, one PyTree made from config.seed alone."""
import jax
import numpy as np
import pytest

from configs import mnist, mnist_dcgan64, mog_ring
from gan_jax.errors import ConfigError
from gan_jax.game import state as state_lib


def _ring():
  config = mog_ring.get_config()   # G 2-128-128-2, D 2-128-128-1
  return config, state_lib.build_gan(config, (2,))


def test_the_initial_state_is_a_function_of_the_seed():
  config, gan = _ring()
  a, b = state_lib.create_state(config, gan), state_lib.create_state(config, gan)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  config.seed = 1
  other = state_lib.create_state(config, gan)
  assert not np.array_equal(a.g_params['Dense_0']['kernel'],
                            other.g_params['Dense_0']['kernel'])


def test_the_initial_state_holds_both_players_and_their_optimisers():
  config, gan = _ring()
  state = state_lib.create_state(config, gan)
  assert int(state.step) == 0
  # Dense layers: in * out + out parameters each.
  hidden = (2 * 128 + 128) + (128 * 128 + 128)
  assert state_lib.param_count(state.g_params) == hidden + (128 * 2 + 2)
  assert state_lib.param_count(state.d_params) == hidden + (128 + 1)
  for x, y in zip(jax.tree.leaves(state.ema_g_params), jax.tree.leaves(state.g_params)):
    np.testing.assert_array_equal(x, y)   # the EMA starts at G
  # Adam's moments start at zero, shaped like the parameters.
  moments = [leaf for leaf in jax.tree.leaves(state.d_opt_state) if leaf.ndim == 2]
  assert sorted(m.shape for m in moments) == sorted(
      2 * [p.shape for p in jax.tree.leaves(state.d_params) if p.ndim == 2])
  assert all(np.all(m == 0) for m in moments)
  # The state is one PyTree: mapped, it keeps its type and every field.
  doubled = jax.tree.map(lambda x: x * 2, state)
  assert type(doubled) is state_lib.GANState and int(doubled.step) == 0


def test_the_penalty_is_the_objectives_own_unless_named():
  config = mog_ring.get_config()
  config.loss.name, config.loss.penalty = 'wgan_gp', ''
  assert state_lib.penalty_name(config.loss) == 'wgan_gp'
  config.loss.penalty = 'r1'
  assert state_lib.penalty_name(config.loss) == 'r1'
  config.loss.penalty = 'r3'
  with pytest.raises(ConfigError, match="unknown config.loss.penalty 'r3'; valid names: none, "):
    state_lib.penalty_name(config.loss)


def test_a_generator_of_the_wrong_shape_is_refused():
  config = mnist.get_config()   # the 28x28 DCGAN, on 32x32 data
  gan = state_lib.build_gan(config, (32, 32, 1))
  with pytest.raises(ConfigError) as error:
    state_lib.create_state(config, gan)
  assert str(error.value).startswith(
      "config.model.generator 'dcgan28' makes images of shape (28, 28, 1) but the "
      'data are (32, 32, 1); set --config.data.image_size=28')
  # PyTorch's 64x64 DCGAN on MNIST at another size: the same line, not
  # flax's reshape error from a D built for the wrong shape.
  config = mnist_dcgan64.get_config()
  for size in (28, 32, 96):
    config.data.image_size = size
    gan = state_lib.build_gan(config, (size, size, 1))
    with pytest.raises(ConfigError, match=r"'dcgan64' makes images of shape \(64, 64, 1\) "
                       rf'but the data are \({size}, {size}, 1\); set '
                       r'--config.data.image_size=64'):
      state_lib.create_state(config, gan)


def test_orthogonal_init_draws_every_kernel_and_embedding_orthogonal():
  from configs import mnist_cgan
  config = mnist_cgan.get_config()        # a projection D has an embedding
  config.model.init = 'orthogonal'
  gan = state_lib.build_gan(config, (28, 28, 1))
  state = state_lib.create_state(config, gan)
  checked = 0
  for params in (state.g_params, state.d_params):
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
      name = path[-1].key
      if name == 'kernel' or (name == 'embedding' and path[-2].key not in ('gain', 'bias')):
        m = np.asarray(leaf).reshape(-1, leaf.shape[-1])
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-4)
        checked += 1
  assert checked >= 6
  # Norms keep the family's initialisation: conditional batch norm's
  # per-class gains at 1 and biases at 0.
  norms = {k: v for k, v in state.g_params.items() if 'Norm' in k}
  assert norms
  for leaf in jax.tree.leaves(norms):
    assert np.all(np.isin(np.asarray(leaf), (0.0, 1.0)))


def test_orthogonal_init_zeroes_the_drawn_layers_biases():
  # The ResNet's layers start with PyTorch's uniform biases; StudioGAN's
  # init_weights('ortho') sets them to 0 with the orthogonal kernels.
  from configs import cifar10_sngan
  config = cifar10_sngan.get_config()
  config.model.g_width_ratio = config.model.d_width_ratio = 1 / 16
  gan = state_lib.build_gan(config, (32, 32, 3))

  def conv_biases(init):
    config.model.init = init
    params = state_lib.create_state(config, gan).d_params
    return [np.asarray(leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
            if path[-1].key == 'bias']

  assert all(np.any(b) for b in conv_biases('default'))
  assert all(not np.any(b) for b in conv_biases('orthogonal'))
