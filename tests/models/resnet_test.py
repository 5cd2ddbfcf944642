"""The ResNet GANs are torch_mimicry's SNGAN networks: the same parameter
counts, and the same outputs in training mode on the same (random) weights
and inputs: G's images and batch-norm statistics, D's logits and spectral
norm vectors after one power iteration.

The recorded outputs are torch_mimicry 0.1.16's (torch 2.14.1), regenerated
by tests/models/fixtures/make_resnet_reference.py.
"""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from gan_jax.errors import ConfigError
from gan_jax.models import layers, resnet


@pytest.fixture(scope='module')
def reference(recorded_reference):
  return recorded_reference('tests', 'models', 'fixtures', 'make_resnet_reference.py')


def _torch_name(path, state):
  """The torch state dict entry of a flax variable path, or None (sigma)."""
  collection, *modules, leaf = path
  if collection == 'batch_stats' and any(m.startswith('SpectralNorm_') for m in modules):
    if not leaf.endswith('/u'):
      return None   # sigma: computed, not stored by torch
    prefix = [m for m in modules if not m.startswith('SpectralNorm_')]
    return '.'.join(prefix + [leaf.split('/')[0]]) + '.weight_u'
  key = '.'.join(modules)
  if leaf == 'gamma':   # the self-attention's scale
    return '.'.join(modules + ['gamma'])
  if collection == 'batch_stats':
    return key + {'mean': '.running_mean', 'var': '.running_var'}[leaf]
  if leaf == 'kernel':
    return key + ('.weight_orig' if key + '.weight_orig' in state else '.weight')
  return key + {'scale': '.weight', 'bias': '.bias'}[leaf]


def _from_torch(template, state):
  """Flax variables shaped as `template`, filled from a torch state dict."""
  flat = {}
  for path, leaf in traverse_util.flatten_dict(template).items():
    name = _torch_name(path, state)
    if name is None:
      flat[path] = np.ones(leaf.shape, np.float32)
      continue
    value = state[name]
    if value.ndim == 4:
      value = value.transpose(2, 3, 1, 0)      # OIHW -> HWIO
    elif value.ndim == 2:
      value = value.T                          # [out, in] -> [in, out]
    flat[path] = np.asarray(value, np.float32).reshape(leaf.shape)
  return traverse_util.unflatten_dict(flat)


def _networks(size):
  return (resnet.Generator(image_size=size, conv_impl='xla'),
          resnet.Discriminator(image_size=size, conv_impl='xla'))


def _variables(module, size, data, role, seed_module, seed):
  inputs = (jnp.zeros((2, 128)) if role == 'g' else jnp.zeros((2, size, size, 3)))
  template = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), inputs, train=True))
  state = seed_module.random_state_dict(json.loads(str(data[f'{role}{size}/names_shapes'])),
                                        seed)
  return _from_torch(jax.tree.map(lambda s: np.zeros(s.shape), template), state), state


@pytest.mark.parametrize('size', [32, 48])
def test_parameter_counts_are_mimicrys(size, reference):
  _, data = reference
  generator, discriminator = _networks(size)
  count = lambda module, x: sum(int(np.prod(p.shape)) for p in jax.tree.leaves(
      jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), x, train=True))['params']))
  assert count(generator, jnp.zeros((1, 128))) == int(data[f'g{size}/parameters'])
  assert count(discriminator, jnp.zeros((1, size, size, 3))) == int(
      data[f'd{size}/parameters'])
  if size == 32:   # the counts the SNGAN issue and Mimicry's README state
    assert int(data['g32/parameters']) == 4_276_739
    assert int(data['d32/parameters']) == 1_053_825


@pytest.mark.parametrize('size', [32, 48])
def test_generator_equals_mimicrys_in_training_mode(size, reference):
  module, data = reference
  generator, _ = _networks(size)
  variables, _ = _variables(generator, size, data, 'g', module, module.SEED + size)
  z, _ = module.random_inputs(size)
  images, updated = jax.jit(lambda v, z: generator.apply(
      v, z, train=True, mutable=['batch_stats']))(variables, z)
  want = data[f'g{size}/output'].transpose(0, 2, 3, 1)
  np.testing.assert_allclose(images, want, rtol=1e-4, atol=2e-5)
  # The running statistics moved by PyTorch's momentum 0.1 (flax's 0.9).
  # (PyTorch's running variance is unbiased, flax's biased: tolerance.)
  for block in ('block2', f'block{4}'):
    np.testing.assert_allclose(updated['batch_stats'][block]['b1']['mean'],
                               data[f'g{size}/after/{block}.b1.running_mean'],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('size', [32, 48])
def test_discriminator_equals_mimicrys_in_training_mode(size, reference):
  module, data = reference
  _, discriminator = _networks(size)
  variables, _ = _variables(discriminator, size, data, 'd', module, module.SEED + size + 1)
  _, images = module.random_inputs(size)
  logits, updated = jax.jit(lambda v, x: discriminator.apply(
      v, x, train=True, mutable=['batch_stats']))(variables, images.transpose(0, 2, 3, 1))
  np.testing.assert_allclose(logits, data[f'd{size}/output'], rtol=1e-4, atol=1e-5)
  # One power iteration from the same u gives the same u.
  stats = traverse_util.flatten_dict(updated['batch_stats'], sep='/')
  np.testing.assert_allclose(stats['block1/SpectralNorm_0/c1/kernel/u'][0],
                             data[f'd{size}/after/block1.c1.weight_u'], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(stats['SpectralNorm_0/l5/kernel/u'][0],
                             data[f'd{size}/after/l5.weight_u'], rtol=1e-4, atol=1e-6)


def test_the_upsampling_is_pytorchs_bilinear():
  # F.interpolate([0, 1, 2, 3], scale_factor=2, bilinear, align_corners=False).
  x = jnp.arange(4.0).reshape(1, 4, 1, 1) * jnp.ones((1, 4, 4, 1))
  row = resnet.upsample_2x(x)[0, :, 0, 0]
  np.testing.assert_allclose(row, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3], atol=1e-6)


def test_other_image_sizes_are_refused_in_one_line():
  with pytest.raises(ConfigError, match='for 32x32 or 48x48 images, got 28x28; set '
                                        'config.data.image_size to 32 or 48'):
    resnet.layout((28, 28, 1))


def test_self_attention_equals_mimicrys_in_training_mode(reference):
  # SAGAN's block as BigGAN's code and Mimicry have it, spectrally normalised,
  # with a non-zero gamma so that the attention path counts.
  module, data = reference
  block = layers.SelfAttention(spectral_norm=True)
  x = module.attention_input().transpose(0, 2, 3, 1)
  template = jax.eval_shape(lambda: block.init(jax.random.PRNGKey(0), x, train=True))
  state = module.random_state_dict(json.loads(str(data['attention/names_shapes'])),
                                   module.SEED + 7)
  variables = _from_torch(jax.tree.map(lambda s: np.zeros(s.shape), template), state)
  out, _ = block.apply(variables, x, train=True, mutable=['batch_stats'])
  np.testing.assert_allclose(out, data['attention/output'].transpose(0, 2, 3, 1),
                             rtol=1e-4, atol=1e-5)
  assert float(np.abs(out - x).max()) > 0.1   # the attention moved it


def test_self_attention_starts_as_the_identity_in_both_players():
  # gamma starts at 0: G and D with the block compute what they compute
  # without it, from the same other parameters.
  z = jax.random.normal(jax.random.PRNGKey(1), (2, 128))
  x = jax.random.uniform(jax.random.PRNGKey(2), (2, 32, 32, 3), minval=-1, maxval=1)
  for plain, attending, inputs in (
      (resnet.Generator(width_ratio=0.25, conv_impl='xla'),
       resnet.Generator(width_ratio=0.25, attention_resolution=16, conv_impl='xla'), z),
      (resnet.Discriminator(width_ratio=0.25, conv_impl='xla'),
       resnet.Discriminator(width_ratio=0.25, attention_resolution=16, conv_impl='xla'), x)):
    variables = attending.init(jax.random.PRNGKey(0), inputs, train=False)
    assert 'attention' in variables['params']
    without = jax.tree.map(lambda v: v, variables)
    without['params'] = {k: v for k, v in variables['params'].items() if k != 'attention'}
    if 'batch_stats' in without:
      without['batch_stats'] = {k: v for k, v in variables['batch_stats'].items()
                                if k != 'attention'}
    np.testing.assert_allclose(attending.apply(variables, inputs, train=False),
                               plain.apply(without, inputs, train=False),
                               rtol=1e-6, atol=1e-6)


def test_an_attention_side_the_players_lack_is_named():
  from configs import cifar10_sngan
  from gan_jax import models
  config = cifar10_sngan.get_config()
  config.model.attention_resolution = 32
  with pytest.raises(ConfigError, match=r'attention_resolution=32: the 32x32 ResNet '
                                        r'has feature maps of sides \[8, 16, 32\] \(G\) '
                                        r'and \[16, 8\] \(D\)'):
    models.build(config.model, (32, 32, 3))


def test_the_wgan_gp_discriminator_equals_mimicrys(reference):
  # Mimicry's wgan_gp_32.py: the SNGAN D without spectral norm, mean-pooled.
  module, data = reference
  discriminator = resnet.Discriminator(spectral_norm=False, pooling='mean', conv_impl='xla')
  template = jax.eval_shape(lambda: discriminator.init(
      jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)), train=True))
  state = module.random_state_dict(json.loads(str(data['wgan_gp_d32/names_shapes'])),
                                   module.SEED + 9)
  variables = _from_torch(jax.tree.map(lambda s: np.zeros(s.shape), template), state)
  assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(variables['params'])) == int(
      data['wgan_gp_d32/parameters'])
  _, images = module.random_inputs(32)
  logits = discriminator.apply(variables, images.transpose(0, 2, 3, 1), train=True)
  np.testing.assert_allclose(logits, data['wgan_gp_d32/output'], rtol=1e-4, atol=1e-5)
