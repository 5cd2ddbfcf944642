"""Shapes, ranges and parameter counts of the reference models."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.config import defaults
from gan_jax import models
from gan_jax.errors import ConfigError
from gan_jax.game.state import param_count

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
    # Miyato et al.'s standard CNN as chainer-gan-lib builds it.
    # G: (128*8192+8192) + 2*8192 + (16*512*256+256) + 512 + (16*256*128+128) + 256
    #    + (16*128*64+64) + 128 + (9*64*3+3)
    # D: (27*64+64) + (16*64*128+128) + (9*128*128+128) + (16*128*256+256)
    #    + (9*256*256+256) + (16*256*512+512) + (9*512*512+512) + (8192+1)
    'standard_cnn': ((32, 32, 3), 128, 3_828_739, 5_860_865),
}


def model_config(name):
  config = defaults.get_config().model
  config.update(generator=name, discriminator=name, dropout_rate=0.3)
  return config


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
  from gan_jax.config import validation
  from gan_jax.game import train_step
  from gan_jax.game import state as state_lib
  config = mnist_dcgan3x3.get_config()
  validation.validate(config, num_devices=1)
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


def test_the_standard_cnn_normalises_every_d_layer_and_g_s_linear_output():
  config = model_config('standard_cnn')
  config.spectral_norm = True
  generator, discriminator = models.build(config, (32, 32, 3))
  g_vars = jax.eval_shape(lambda: generator.init(jax.random.PRNGKey(0), jnp.zeros((1, 128)),
                                                 train=False))
  d_vars = jax.eval_shape(lambda: discriminator.init(
      jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), train=False))
  # Chainer's BatchNormalization(4*4*512) on the linear layer's 8,192 outputs.
  assert g_vars['params']['BatchNorm_0']['scale'].shape == (8192,)
  vectors = [p for p, _ in jax.tree_util.tree_leaves_with_path(d_vars['batch_stats'])
             if jax.tree_util.keystr(p).endswith("/u']")]
  assert len(vectors) == 8   # 7 convolutions and the linear layer
