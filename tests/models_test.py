"""Shapes, ranges and parameter counts of the reference models."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import models
from gan_jax.errors import ConfigError
from gan_jax.state import param_count

# Trainable parameters of the reference implementations, layer by layer
# (weights + biases + batch-norm scale/offset), from
# ../shared/bench/torch_seeds.py and the TF tutorial.
REFERENCE_COUNTS = {
    # G: 100*12544 + 2*12544 + 25*256*128 + 2*128 + 25*128*64 + 2*64 + 25*64
    # D: (25*64 + 64) + (25*64*128 + 128) + (6272 + 1)
    'dcgan28': ((28, 28, 1), 100, 2_305_472, 212_865),
    # G: (100*256*16+256) + 512 + (256*128*16+128) + 256 + (128*64*16+64) + 128 + (64*16+1)
    # D: (16*64+64) + (64*128*16+128) + 256 + (128*256*16+256) + 512 + (256*16+1)
    'dcgan64': ((64, 64, 1), 100, 1_067_329, 661_697),
    # The TF2 blog's 'VALID' DCGAN. G: 100*4608 + (9*512*256+256) + 512 +
    # (25*256*128+128) + 256 + (16*128*3+3) + (81*3+1)
    # D: (9*64+64) + 128 + (9*64*128+128) + 256 + (4*128*256+256) + 512 + (2304+1)
    'dcgan3x3': ((28, 28, 1), 100, 2_467_191, 209_025),
    # G: 6528 + 33024 + 512 + 131584 + 1024 + 525312 + 2048 + 803600
    # D: 401920 + 1024 + 131328 + 512 + 257
    'mlp': ((28, 28, 1), 50, 1_503_632, 535_041),
}


def model_config(name):
  return ml_collections.ConfigDict(dict(generator=name, discriminator=name,
                                        dropout_rate=0.3, conv_impl='auto'))


@pytest.mark.parametrize('name', sorted(REFERENCE_COUNTS))
def test_parameter_counts_and_shapes(name):
  shape, latent_dim, g_count, d_count = REFERENCE_COUNTS[name]
  generator, discriminator = models.build(model_config(name), shape)
  z = jax.random.normal(jax.random.PRNGKey(0), (3, latent_dim))
  # Jitted: one compilation each instead of one per operation.
  g_vars = jax.jit(lambda k: generator.init(k, z, train=False))(jax.random.PRNGKey(1))
  x = jax.jit(lambda v: generator.apply(v, z, train=False))(g_vars)
  d_vars = jax.jit(lambda k: discriminator.init(k, x, train=False))(jax.random.PRNGKey(2))
  assert param_count(g_vars['params']) == g_count
  assert param_count(d_vars['params']) == d_count
  assert x.shape == (3,) + shape and x.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(x))) <= 1.0
  logits, _ = discriminator.apply(d_vars, x, train=True, mutable=['batch_stats'],
                                  rngs={'dropout': jax.random.PRNGKey(3)})
  assert logits.shape == (3,) and logits.dtype == jnp.float32


def test_tutorial_generator_has_no_biases():
  generator, _ = models.build(model_config('dcgan28'), (28, 28, 1))
  params = generator.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)
  names = [jax.tree_util.keystr(p) for p, _ in
           jax.tree_util.tree_leaves_with_path(params['params'])]
  assert not any('bias' in n and 'BatchNorm' not in n for n in names)


def test_dropout_mask_is_independent_of_batch_split():
  # Example i's mask depends on its global id only: one batch of 8 equals the
  # two halves computed as devices 0 and 1 of a pmap.
  _, discriminator = models.build(model_config('dcgan28'), (28, 28, 1),
                                  axis_name='batch')
  x = jax.random.uniform(jax.random.PRNGKey(0), (8, 28, 28, 1), minval=-1)
  params = discriminator.init(jax.random.PRNGKey(1), x, train=False)
  apply = lambda v: discriminator.apply(params, v, train=True,
                                        rngs={'dropout': jax.random.PRNGKey(5)})
  whole = jax.pmap(apply, axis_name='batch', devices=jax.devices()[:1])(x[None])
  halves = jax.pmap(apply, axis_name='batch', devices=jax.devices()[:2])(
      x.reshape(2, 4, 28, 28, 1))
  np.testing.assert_allclose(whole.reshape(-1), halves.reshape(-1), rtol=1e-5,
                             atol=1e-6)
  assert not np.allclose(whole, discriminator.apply(params, x, train=False))


def test_unknown_model_name():
  with pytest.raises(ConfigError, match="unknown config.model.generator 'dcgan32'"):
    models.build(model_config('dcgan32'), (28, 28, 1))


@pytest.mark.parametrize('name', ['dcgan28', 'dcgan64', 'dcgan3x3'])
def test_conv_implementations_compute_the_same_model(name):
  shape, latent_dim, _, _ = REFERENCE_COUNTS[name]
  z = jax.random.normal(jax.random.PRNGKey(0), (2, latent_dim))
  outputs = []
  for impl in ('xla', 'fast'):
    config = model_config(name)
    config.conv_impl = impl
    generator, discriminator = models.build(config, shape)
    g_vars = generator.init(jax.random.PRNGKey(1), z, train=False)
    x = generator.apply(g_vars, z, train=False)
    d_vars = discriminator.init(jax.random.PRNGKey(2), x, train=False)
    outputs.append((x, discriminator.apply(d_vars, x, train=False)))
  np.testing.assert_allclose(outputs[0][0], outputs[1][0], atol=1e-5)
  np.testing.assert_allclose(outputs[0][1], outputs[1][1], rtol=1e-4, atol=1e-5)


def test_unknown_conv_impl():
  config = model_config('dcgan28')
  config.conv_impl = 'cudnn'
  with pytest.raises(ConfigError, match="unknown config.model.conv_impl 'cudnn'"):
    models.build(config, (28, 28, 1))


@pytest.mark.parametrize('name,shape,latent_dim,atol', [
    ('dcgan28', (28, 28, 1), 100, 0.05), ('dcgan64', (64, 64, 1), 100, 0.05),
    ('dcgan3x3', (28, 28, 1), 100, 0.05),
    ('mlp', (28, 28, 1), 50, 0.05), ('mlp2d', (2,), 2, 0.05)])
def test_bfloat16_compute_keeps_float32_parameters_and_outputs(
    name, shape, latent_dim, atol):
  config = model_config(name)
  g32, d32 = models.build(config, shape)
  config.compute_dtype = 'bfloat16'
  g16, d16 = models.build(config, shape)
  z = jax.random.normal(jax.random.PRNGKey(0), (8, latent_dim))
  # Jitted: one compilation each instead of one per operation.
  init = lambda module, x: jax.jit(
      lambda k: module.init(k, x, train=False))(jax.random.PRNGKey(1))
  g_vars = init(g32, z)
  # The same parameters (float32, same names) serve both dtypes.
  assert jax.tree.structure(jax.eval_shape(lambda k: g16.init(k, z, train=False),
                                           jax.random.PRNGKey(1))) == jax.tree.structure(g_vars)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(g_vars))
  run = lambda g, z: g.apply(g_vars, z, train=True, mutable=['batch_stats'])[0]
  x32, x16 = jax.jit(lambda z: run(g32, z))(z), jax.jit(lambda z: run(g16, z))(z)
  assert x16.dtype == jnp.float32 and x16.shape == x32.shape
  # bfloat16 arithmetic (8-bit mantissa), not float32 relabelled.
  assert 0 < float(jnp.max(jnp.abs(x16 - x32))) < atol
  assert 'bf16' in str(jax.make_jaxpr(lambda z: run(g16, z))(z))
  d_vars = init(d32, x32)
  logits = jax.jit(lambda x: d16.apply(d_vars, x, train=True, mutable=['batch_stats'],
                                       rngs={'dropout': jax.random.PRNGKey(3)})[0])(x32)
  assert logits.dtype == jnp.float32 and logits.shape == (8,)


def test_unknown_compute_dtype():
  config = model_config('mlp')
  config.compute_dtype = 'float16'
  with pytest.raises(ConfigError, match="unknown config.model.compute_dtype "
                     "'float16'; valid: float32, bfloat16"):
    models.build(config, (28, 28, 1))


@pytest.mark.parametrize('pack', [1, 2, 4])
def test_pacgan_2d_networks_have_the_reference_parameter_counts(pack):
  # fjxmlzn/PacGAN's 2-D nets (its pacgan_task.py prints these counts):
  # G 2-400x4-2, bias-free hidden layers with batch norm; D 3 LinearMaxout
  # layers of 200 x 5 pieces on 2*pack inputs, then Linear 1.
  from configs import repro_pacgan_2d
  from gan_jax import state as state_lib
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
])
def test_stacked_mnist_dcgans_have_the_reference_parameter_counts(
    family, ratio, pack, g_count, d_count):
  ratio, g_ratio = ratio if isinstance(ratio, tuple) else (ratio, 1.0)
  config = ml_collections.ConfigDict(dict(
      generator=family, discriminator=family, d_width_ratio=ratio,
      g_width_ratio=g_ratio, conv_impl='auto', compute_dtype='float32'))
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
  config = ml_collections.ConfigDict(dict(
      generator='maxout_mlp', discriminator='maxout_mlp', conv_impl='auto',
      compute_dtype='float32'))
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
  from gan_jax import state as state_lib
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
  from gan_jax import state as state_lib
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


def test_dcgan3x3_layers_have_the_blogs_spatial_sizes():
  # G 3 -> 9 -> 21 -> 64 -> 28 and D 28 -> 13 -> 6 -> 3, all 'VALID'.
  generator, discriminator = models.build(model_config('dcgan3x3'), (28, 28, 1))
  z = jnp.zeros((2, 100))
  g_vars = generator.init(jax.random.PRNGKey(0), z, train=False)
  _, g_out = generator.apply(g_vars, z, train=False, capture_intermediates=True)
  sizes = {name: out['__call__'][0].shape[1:]
           for name, out in g_out['intermediates'].items() if name != '__call__'}
  assert sizes['ConvTranspose_0'] == (9, 9, 256)
  assert sizes['ConvTranspose_1'] == (21, 21, 128)
  assert sizes['ConvTranspose_2'] == (64, 64, 3)
  assert sizes['Conv_0'] == (28, 28, 1)
  x = jnp.zeros((2, 28, 28, 1))
  d_vars = discriminator.init(jax.random.PRNGKey(1), x, train=False)
  _, d_out = discriminator.apply(d_vars, x, train=False, capture_intermediates=True)
  assert [d_out['intermediates'][f'Conv_{i}']['__call__'][0].shape[1:]
          for i in range(3)] == [(13, 13, 64), (6, 6, 128), (3, 3, 256)]
  # Only G's Dense is bias-free (Keras' use_bias=False there alone).
  assert 'bias' not in g_vars['params']['Dense_0']
  assert all('bias' in g_vars['params'][n] for n in
             ('ConvTranspose_0', 'ConvTranspose_1', 'ConvTranspose_2', 'Conv_0'))


@pytest.mark.parametrize('in_size,out_size,kernel,stride', [
    (3, 9, 3, 3), (9, 21, 5, 2), (21, 64, 4, 3)])
def test_valid_transpose_convolution_is_keras_conv2d_transpose(
    in_size, out_size, kernel, stride):
  # Keras' Conv2DTranspose(padding='valid') is the input gradient of the
  # 'VALID' conv out -> in, of (in - 1) * stride + kernel rows: so is lax's
  # (and flax's) 'VALID' transposed conv, rows and values (with the kernel
  # flipped, transpose_kernel=True).
  assert (in_size - 1) * stride + kernel == out_size
  w = jax.random.normal(jax.random.PRNGKey(0), (kernel, kernel, 2, 3))
  conv = lambda x: jax.lax.conv_general_dilated(
      x, w, (stride, stride), 'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  y = jax.random.normal(jax.random.PRNGKey(1), (1, in_size, in_size, 3))
  _, vjp = jax.vjp(conv, jnp.zeros((1, out_size, out_size, 2)))
  got = jax.lax.conv_transpose(y, w, (stride, stride), 'VALID',
                               dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                               transpose_kernel=True)
  assert got.shape == (1, out_size, out_size, 2)
  np.testing.assert_allclose(got, vjp(y)[0], rtol=1e-5, atol=1e-5)


def test_dcgan3x3_discriminator_is_affine_as_published():
  # No activation between D's layers: with batch norm on its running
  # statistics, D is an affine function of its input.
  _, discriminator = models.build(model_config('dcgan3x3'), (28, 28, 1))
  rng = np.random.default_rng(0)
  x, y = rng.uniform(-1, 1, (2, 4, 28, 28, 1)).astype(np.float32)
  d_vars = discriminator.init(jax.random.PRNGKey(0), x, train=False)
  d = jax.jit(lambda v: discriminator.apply(d_vars, v, train=False))
  np.testing.assert_allclose(d(0.3 * x + 0.7 * y), 0.3 * d(x) + 0.7 * d(y),
                             rtol=1e-4, atol=1e-5)


def test_mnist_dcgan3x3_config_builds_and_trains_one_step():
  from flax import jax_utils
  from configs import mnist_dcgan3x3
  from gan_jax import config_validation, train_step
  from gan_jax import state as state_lib
  config = mnist_dcgan3x3.get_config()
  config_validation.validate(config, num_devices=1)
  assert (config.optimizer_g.learning_rate, config.optimizer_g.b1,
          config.optimizer_g.b2, config.optimizer_g.eps) == (1e-3, 0.9, 0.999, 1e-7)
  assert config.optimizer_d.eps == 1e-7 and config.loss.name == 'non_saturating'
  config.batch_size = 4  # The config's own 256, cut for the test's time.
  gan = state_lib.build_gan(config, (28, 28, 1))
  state = state_lib.create_state(config, gan)
  assert param_count(state.g_params) == 2_467_191
  assert param_count(state.d_params) == 209_025
  devices = jax.devices()[:1]
  step = jax.pmap(train_step.make_train_step(config, gan), axis_name='batch',
                  devices=devices)
  images = np.random.default_rng(0).integers(0, 256, (1, 1, 4, 28, 28, 1), np.uint8)
  new_state, metrics = step(jax_utils.replicate(state, devices), images)
  new_state = jax.device_get(jax.tree.map(lambda a: a[0], new_state))
  assert int(new_state.step) == 1
  assert all(np.isfinite(m).all() for m in jax.tree.leaves(jax.device_get(metrics)))
  # Adam's first update moves each parameter with a gradient by ~lr.
  moved = np.abs(new_state.g_params['Dense_0']['kernel'] - state.g_params['Dense_0']['kernel'])
  assert 0 < moved.max() <= 1.01e-3
