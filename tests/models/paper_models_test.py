"""The papers' own networks, checked against their reference code: PacGAN's
2-D nets and Stacked-MNIST DCGANs (fjxmlzn/PacGAN), and Goodfellow et al.
2014's MNIST nets (goodfeli/adversarial): parameter counts, layer options
and hand-computed forwards."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.config import defaults
from gan_jax import models
from gan_jax.game.state import param_count

@pytest.mark.parametrize('pack', [1, 2, 4])
def test_pacgan_2d_networks_have_the_reference_parameter_counts(pack):
  # fjxmlzn/PacGAN's 2-D nets (its pacgan_task.py prints these counts):
  # G 2-400x4-2, bias-free hidden layers with batch norm; D 3 LinearMaxout
  # layers of 200 x 5 pieces on 2*pack inputs, then Linear 1.
  from configs import repro_pacgan_2d
  from gan_jax.game import state as state_lib
  config = repro_pacgan_2d.get_config()
  config.model.pack = pack
  gan = state_lib.build_gan(config, (2,))
  state = state_lib.create_state(config, gan)
  assert param_count(state.g_params) == 484_802
  assert param_count(state.d_params) == 405_201 + 2_000 * (pack - 1)
  # N(0, 0.02^2) weights, zero biases.
  kernel = np.asarray(state.g_params['Dense_1']['kernel'])
  assert abs(kernel.std() - 0.02) < 0.001
  assert not np.any(state.d_params['Maxout_0']['Dense_0']['bias'])


def test_maxout_is_the_max_over_each_units_pieces():
  from gan_jax.models import mlp2d
  layer = mlp2d.Maxout(units=3, pieces=4)
  x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
  params = layer.init(jax.random.PRNGKey(0), x)
  dense = params['params']['Dense_0']
  affine = x @ np.asarray(dense['kernel']) + np.asarray(dense['bias'])   # [5, 12]
  np.testing.assert_allclose(layer.apply(params, x),
                             affine.reshape(5, 3, 4).max(axis=-1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('family,ratio,pack,g_count,d_count', [
    # By hand from fjxmlzn/PacGAN's stacked_MNIST_experiments model.py files
    # (DCGAN-tensorflow layers: biases everywhere, batch norm with scale and
    # offset per channel): VEEGAN setup G 206,848 + 1,024 + 3,277,056 + 512
    # + 819,328 + 256 + 204,864 + 128 + 4,803; D 4,864 + 204,928 + 256 +
    # 819,456 + 512 + 3,277,312 + 1,024 + 2,049. Packing widens D's first
    # conv by 5*5*3*64 per extra sample.
    ('dcgan_veegan', 0.25, 1, 4_514_819, 4_310_401),
    ('dcgan_veegan', 0.25, 2, 4_514_819, 4_310_401 + 4_800),
    ('dcgan_unrolled', 0.25, 1, 287_875, 585),
    ('dcgan_unrolled', 0.5, 1, 287_875, 1_889),
    ('dcgan_unrolled', 0.25, 3, 287_875, 585 + 2 * 54),
    # g_width_ratio 2 (not in the reference): Linear 256 -> 4*4*128, ConvT
    # 128 -> 64 -> 32 -> 16, Conv 16 -> 3, each with its bias, and batch norms
    # of 128 + 64 + 32 + 16 channels: 526,336 + 73,792 + 18,464 + 4,624 + 435
    # + 2 * 240. D keeps 1/4 of G's widths: (4, 8, 16), the reference's 1/2.
    ('dcgan_unrolled', (0.25, 2.0), 1, 624_131, 1_889),
    # configs/study_stacked_recipe.py's D, 4x G's widths at pack 2: convs
    # 6 -> 64 -> 128 -> 256 (3,520 + 73,856 + 295,168 with biases), batch
    # norms 2 * (64 + 128 + 256), Linear 4*4*256 + 1; and its first recipe
    # ':d1', G's widths: 880 + 4,640 + 18,496 + 2 * 112 + 1,025.
    ('dcgan_unrolled', (4.0, 2.0), 2, 624_131, 377_537),
    ('dcgan_unrolled', (1.0, 2.0), 2, 624_131, 25_265),
])
def test_stacked_mnist_dcgans_have_the_reference_parameter_counts(
    family, ratio, pack, g_count, d_count):
  ratio, g_ratio = ratio if isinstance(ratio, tuple) else (ratio, 1.0)
  config = defaults.get_config().model
  config.update(generator=family, discriminator=family, d_width_ratio=ratio,
                g_width_ratio=g_ratio)
  generator, discriminator = models.build(config, (28, 28, 3))
  z = jnp.zeros((2, 100 if family == 'dcgan_veegan' else 256))
  g_vars = generator.init(jax.random.PRNGKey(0), z, train=False)
  assert generator.apply(g_vars, z, train=False).shape == (2, 28, 28, 3)
  d_vars = discriminator.init(jax.random.PRNGKey(0), jnp.zeros((2, 28, 28, 3 * pack)),
                              train=False)
  assert param_count(g_vars['params']) == g_count
  assert param_count(d_vars['params']) == d_count


@pytest.mark.parametrize('in_size,out_size,kernel', [(2, 4, 5), (4, 7, 5), (7, 14, 5),
                                                     (4, 7, 3), (14, 28, 3)])
def test_transpose_padding_inverts_tf_same_convolution(in_size, out_size, kernel):
  # TF's conv2d_transpose(output_shape=out) is the input gradient of the
  # 'SAME' conv out -> in: so is the padded flax ConvTranspose, exactly.
  from gan_jax.models import stacked_dcgan
  pads = stacked_dcgan.transpose_pads(in_size, out_size, kernel, 2)
  w = jax.random.normal(jax.random.PRNGKey(0), (kernel, kernel, 2, 3))
  conv = lambda x: jax.lax.conv_general_dilated(
      x, w, (2, 2), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  y = jax.random.normal(jax.random.PRNGKey(1), (1, in_size, in_size, 3))
  _, vjp = jax.vjp(conv, jnp.zeros((1, out_size, out_size, 2)))
  expected = vjp(y)[0]
  got = jax.lax.conv_transpose(y, w, (2, 2), (pads, pads),
                               dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                               transpose_kernel=True)
  assert got.shape == (1, out_size, out_size, 2)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_goodfellow2014_networks_match_the_reference_counts_and_function():
  # goodfeli/adversarial mnist.yaml: G 100-1200-1200-784 ReLU + sigmoid on
  # z ~ U(-sqrt3, sqrt3); D maxout 240 x 5, twice, then one sigmoid unit.
  config = defaults.get_config().model
  config.update(generator='maxout_mlp', discriminator='maxout_mlp')
  generator, discriminator = models.build(config, (28, 28, 1))
  z = np.random.default_rng(0).uniform(-1, 1, (4, 100)).astype(np.float32)
  g_vars = generator.init(jax.random.PRNGKey(0), z, train=False)
  d_vars = discriminator.init(jax.random.PRNGKey(1), jnp.zeros((2, 28, 28, 1)), train=False)
  assert param_count(g_vars['params']) == 2_503_984
  assert param_count(d_vars['params']) == 1_231_441
  p = jax.tree.map(np.asarray, g_vars['params'])
  assert np.abs(p['Dense_0']['kernel']).max() <= 0.05
  # The paper's sigmoid output on z * sqrt(3), mapped from [0, 1] to [-1, 1].
  h = np.maximum(np.sqrt(3) * z @ p['Dense_0']['kernel'] + p['Dense_0']['bias'], 0)
  h = np.maximum(h @ p['Dense_1']['kernel'] + p['Dense_1']['bias'], 0)
  a = h @ p['Dense_2']['kernel'] + p['Dense_2']['bias']
  expected = 2 / (1 + np.exp(-a)) - 1
  np.testing.assert_allclose(generator.apply(g_vars, z, train=False).reshape(4, -1),
                             expected, rtol=1e-4, atol=1e-5)
  # D reads the paper's [0, 1] pixels: gan_jax's [-1, 1] image mapped back.
  x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (2, 28, 28, 1)), jnp.float32)
  q = jax.tree.map(np.asarray, d_vars['params'])
  h = (np.asarray(x).reshape(2, -1) + 1) / 2
  for name in ('Maxout_0', 'Maxout_1'):
    a = h @ q[name]['Dense_0']['kernel'] + q[name]['Dense_0']['bias']
    h = a.reshape(2, 240, 5).max(-1)
  expected = (h @ q['Dense_0']['kernel'] + q['Dense_0']['bias'])[:, 0]
  np.testing.assert_allclose(discriminator.apply(d_vars, x, train=False), expected,
                             rtol=1e-4, atol=1e-6)
  # Dropout only while training: inference is deterministic, training not.
  rngs = lambda k: {'dropout': jax.random.PRNGKey(k)}
  np.testing.assert_array_equal(discriminator.apply(d_vars, x, train=False),
                                discriminator.apply(d_vars, x, train=False))
  assert not np.allclose(discriminator.apply(d_vars, x, train=True, rngs=rngs(0)),
                         discriminator.apply(d_vars, x, train=True, rngs=rngs(1)))


def test_the_2014_g_starts_at_the_data_marginals():
  # pylearn2's init_sigmoid_bias_from_marginals: sigmoid(b) = the mean pixel,
  # clipped to [1e-7, 1 - 1e-7]. At z = 0 the ReLU layers output 0 (zero
  # biases), so G(0) is the output bias alone: the mean image.
  from configs import repro_parzen
  from gan_jax.game import state as state_lib
  from gan_jax.models import maxout_mlp
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (50, 28, 28, 1), dtype=np.uint8)
  images[:, 0] = 0      # a border row: black in every image
  images[:, 1] = 255    # one white in every image
  bias = maxout_mlp.output_bias_from_marginals(images)
  mean = images.reshape(50, -1).mean(0) / 255
  np.testing.assert_allclose(bias[:28], np.log(1e-7 / (1 - 1e-7)), rtol=1e-6)
  np.testing.assert_allclose(bias[28:56], np.log((1 - 1e-7) / 1e-7), rtol=1e-6)
  np.testing.assert_allclose(1 / (1 + np.exp(-bias[56:])), mean[56:], rtol=1e-5)

  config = repro_parzen.get_config()
  config.model.g_output_bias = 'data_marginals'
  gan = state_lib.build_gan(config, (28, 28, 1), axis_name=None)
  state = state_lib.create_state(config, gan, images)
  z = jnp.zeros((1, 100))
  g0 = gan.generator.apply({'params': state.g_params}, z, train=False)
  np.testing.assert_allclose(np.asarray(g0).reshape(-1)[56:], 2 * mean[56:] - 1, atol=1e-5)
  assert np.asarray(g0).reshape(-1)[:28].max() < -1 + 1e-6
  np.testing.assert_array_equal(  # the EMA starts where G starts
      state.ema_g_params['Dense_2']['bias'], state.g_params['Dense_2']['bias'])
  # Without the images (a restore template), the bias stays at zero.
  template = state_lib.create_state(config, gan)
  np.testing.assert_array_equal(template.g_params['Dense_2']['bias'], 0)


def test_pacgan_2d_layer_options_reach_the_layers():
  from configs import repro_pacgan_2d
  from gan_jax.game import state as state_lib
  config = repro_pacgan_2d.get_config()
  gan = state_lib.build_gan(config, (2,), axis_name=None)
  assert gan.generator.bn_momentum == 0.95 and gan.generator.bn_epsilon == 1e-4
  assert gan.discriminator.maxout_pieces == 5 and gan.discriminator.init_std == 0.02
  # G's batch norm with eps 1e-4 and momentum 0.95, by hand on one layer.
  state = state_lib.create_state(config, gan)
  z = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
  _, updates = gan.generator.apply({'params': state.g_params, 'batch_stats': state.g_batch_stats},
                                   z, train=True, mutable=['batch_stats'])
  h = z @ np.asarray(state.g_params['Dense_0']['kernel'])
  np.testing.assert_allclose(updates['batch_stats']['BatchNorm_0']['mean'],
                             0.05 * h.mean(axis=0), rtol=1e-4, atol=1e-7)
