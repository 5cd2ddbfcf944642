"""Model families, looked up by the names used in `config.model`."""
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_jax.errors import ConfigError
from gan_jax.models import (biggan, dcgan, dcgan3x3, dcgan64, layers, maxout_mlp,
                            mlp, mlp2d, resnet, stacked_dcgan, standard_cnn)


# Every discriminator has the spectral normalisation option (Miyato et al. 2018).
def _spectral_norm(model_config) -> bool:
  return bool(model_config.spectral_norm)


COMPUTE_DTYPES = ('float32', 'bfloat16')


def compute_dtype(model_config) -> jnp.dtype:
  """The layers' arithmetic dtype, config.model.compute_dtype."""
  name = model_config.compute_dtype
  if name not in COMPUTE_DTYPES:
    raise ConfigError(f"unknown config.model.compute_dtype '{name}'; valid: "
                      f"{', '.join(COMPUTE_DTYPES)}")
  return jnp.dtype(name)


def num_classes(model_config) -> int:
  """Classes the players are conditioned on, config.model.num_classes; 0 =
  unconditional."""
  return int(model_config.num_classes)


def g_init_reads_data(model_config) -> bool:
  """Whether G's initial parameters depend on the training images
  (config.model.g_output_bias 'data_marginals', maxout_mlp's G only)."""
  return model_config.g_output_bias == 'data_marginals'


def _conditioning(model_config):
  """The class-conditioning fields of G and of D (families in CONDITIONAL)."""
  n = num_classes(model_config)
  return (dict(num_classes=n, conditioning=model_config.g_conditioning),
          dict(num_classes=n, conditioning=model_config.d_conditioning))


def _dcgan28(model_config, image_shape, axis_name):
  dtype = compute_dtype(model_config)
  g_cond, d_cond = _conditioning(model_config)
  return (dcgan.Generator(channels=image_shape[-1], axis_name=axis_name,
                          conv_impl=model_config.conv_impl, dtype=dtype, **g_cond),
          dcgan.Discriminator(dropout_rate=model_config.dropout_rate,
                              axis_name=axis_name,
                              conv_impl=model_config.conv_impl,
                              spectral_norm=_spectral_norm(model_config),
                              dtype=dtype, **d_cond))


def _convolutional(module):
  """The builder of a convolutional family whose G and D take only the
  shared options (channels, conv_impl, spectral norm, dtype)."""

  def build(model_config, image_shape, axis_name):
    dtype = compute_dtype(model_config)
    return (module.Generator(channels=image_shape[-1], axis_name=axis_name,
                             conv_impl=model_config.conv_impl, dtype=dtype),
            module.Discriminator(axis_name=axis_name,
                                 conv_impl=model_config.conv_impl,
                                 spectral_norm=_spectral_norm(model_config),
                                 dtype=dtype))

  return build


_dcgan64 = _convolutional(dcgan64)
_dcgan3x3 = _convolutional(dcgan3x3)


def _standard_cnn(model_config, image_shape, axis_name):
  standard_cnn.check_shape(image_shape)
  return _convolutional(standard_cnn)(model_config, image_shape, axis_name)


def _mlp(model_config, image_shape, axis_name):
  dtype = compute_dtype(model_config)
  g_cond, d_cond = _conditioning(model_config)
  return (mlp.Generator(image_shape=tuple(image_shape), axis_name=axis_name,
                        dtype=dtype, **g_cond),
          mlp.Discriminator(axis_name=axis_name,
                            spectral_norm=_spectral_norm(model_config),
                            dtype=dtype, **d_cond))


def _mlp2d(model_config, image_shape, axis_name):
  dtype = compute_dtype(model_config)
  init_std = model_config.init_std
  g_cond, d_cond = _conditioning(model_config)
  return (mlp2d.Generator(out_shape=tuple(image_shape),
                          batch_norm=model_config.g_batch_norm,
                          bn_momentum=model_config.bn_momentum,
                          bn_epsilon=model_config.bn_epsilon,
                          hidden=tuple(model_config.g_hidden), init_std=init_std,
                          axis_name=axis_name, dtype=dtype, **g_cond),
          mlp2d.Discriminator(maxout_pieces=model_config.d_maxout_pieces,
                              init_std=init_std,
                              spectral_norm=_spectral_norm(model_config),
                              hidden=tuple(model_config.d_hidden), dtype=dtype,
                              **d_cond))


def _dcgan_veegan(model_config, image_shape, axis_name):
  return stacked_dcgan.veegan(
      image_shape[-1], axis_name=axis_name, conv_impl=model_config.conv_impl,
      spectral_norm=_spectral_norm(model_config), dtype=compute_dtype(model_config))


def _dcgan_unrolled(model_config, image_shape, axis_name):
  return stacked_dcgan.unrolled(
      image_shape[-1], model_config.d_width_ratio,
      axis_name=axis_name, conv_impl=model_config.conv_impl,
      spectral_norm=_spectral_norm(model_config), dtype=compute_dtype(model_config),
      g_width_ratio=model_config.g_width_ratio)


def _maxout_mlp(model_config, image_shape, axis_name):
  dtype = compute_dtype(model_config)
  return (maxout_mlp.Generator(image_shape=tuple(image_shape), dtype=dtype),
          maxout_mlp.Discriminator(axis_name=axis_name,
                                   spectral_norm=_spectral_norm(model_config),
                                   dtype=dtype))


def _check_residual_family(model_config, image_shape, family: str, label: str) -> None:
  """The checks that the ResNet-based families (resnet, biggan) share: the
  attention's side exists in both players, and a class-conditional G of
  the family takes y through its batch norms."""
  side = model_config.attention_resolution
  g_sides, d_sides = resnet.attention_sides(image_shape[0])
  if side and (side not in g_sides or side not in d_sides):
    raise ConfigError(f'config.model.attention_resolution={side}: the {image_shape[0]}x'
                      f'{image_shape[0]} {label} has feature maps of sides {g_sides} (G) '
                      f'and {d_sides} (D); pick one of both, or 0')
  if (num_classes(model_config) and model_config.generator == family
      and model_config.g_conditioning != 'cbn'):
    raise ConfigError(f"the {label} G is conditioned through its batch norms: set "
                      "config.model.g_conditioning='cbn'")


def _resnet(model_config, image_shape, axis_name):
  resnet.layout(image_shape)
  _check_residual_family(model_config, image_shape, 'resnet', 'ResNet')
  dtype = compute_dtype(model_config)
  n = num_classes(model_config)
  side = model_config.attention_resolution
  return (resnet.Generator(image_size=image_shape[0], channels=image_shape[-1],
                           width_ratio=model_config.g_width_ratio, num_classes=n,
                           attention_resolution=side,
                           axis_name=axis_name, conv_impl=model_config.conv_impl,
                           dtype=dtype),
          resnet.Discriminator(image_size=image_shape[0],
                               width_ratio=model_config.d_width_ratio,
                               attention_resolution=side,
                               spectral_norm=_spectral_norm(model_config),
                               pooling=model_config.d_pooling,
                               num_classes=n, conditioning=model_config.d_conditioning,
                               axis_name=axis_name, conv_impl=model_config.conv_impl,
                               dtype=dtype))


def _biggan(model_config, image_shape, axis_name):
  biggan.layout(image_shape)
  _check_residual_family(model_config, image_shape, 'biggan', 'BigGAN')
  if model_config.generator == 'biggan':
    biggan.check_latent_dim(model_config.latent_dim, image_shape[0])
  dtype = compute_dtype(model_config)
  n = num_classes(model_config)
  side = model_config.attention_resolution
  return (biggan.Generator(image_size=image_shape[0], channels=image_shape[-1],
                           width_ratio=model_config.g_width_ratio,
                           shared_dim=model_config.g_shared_dim,
                           attention_resolution=side, num_classes=n,
                           spectral_norm=bool(model_config.g_spectral_norm),
                           axis_name=axis_name, conv_impl=model_config.conv_impl,
                           dtype=dtype),
          biggan.discriminator(image_size=image_shape[0],
                               width_ratio=model_config.d_width_ratio,
                               attention_resolution=side,
                               spectral_norm=_spectral_norm(model_config),
                               num_classes=n, conditioning=model_config.d_conditioning,
                               axis_name=axis_name, conv_impl=model_config.conv_impl,
                               dtype=dtype))


# name -> builder(model_config, image_shape, axis_name) -> (generator, discriminator)
_FAMILIES = {'dcgan28': _dcgan28, 'dcgan64': _dcgan64, 'dcgan3x3': _dcgan3x3,
             'mlp': _mlp, 'mlp2d': _mlp2d, 'dcgan_veegan': _dcgan_veegan,
             'dcgan_unrolled': _dcgan_unrolled, 'maxout_mlp': _maxout_mlp,
             'resnet': _resnet, 'biggan': _biggan, 'standard_cnn': _standard_cnn}
MODEL_NAMES = tuple(sorted(_FAMILIES))
# The families that take class labels (config.model.num_classes > 0).
CONDITIONAL = ('biggan', 'dcgan28', 'mlp', 'mlp2d', 'resnet')
# The generators with spectrally normalised layers (config.model.g_spectral_norm).
G_SPECTRAL_NORM = ('biggan',)


def check_name(name: str, role: str) -> None:
  """Raises ConfigError unless `name` is a model family (`role`: generator or
  discriminator, for the message)."""
  if name not in _FAMILIES:
    raise ConfigError(f"unknown config.model.{role} '{name}'; valid names: "
                      f"{', '.join(MODEL_NAMES)}")


def check_conditioning(model_config) -> None:
  """Raises ConfigError for class conditioning a family or setting cannot do."""
  n = num_classes(model_config)
  if n == 0:
    return
  if n < 0:
    raise ConfigError(f'config.model.num_classes must be >= 0, got {n}')
  for role in ('generator', 'discriminator'):
    name = model_config[role]
    if name not in CONDITIONAL:
      raise ConfigError(
          f"config.model.{role} '{name}' is not class-conditional; with "
          f"config.model.num_classes={n} use one of {', '.join(CONDITIONAL)}, "
          'or set num_classes=0')
  for key, valid in (('g_conditioning', layers.G_CONDITIONINGS),
                     ('d_conditioning', layers.D_CONDITIONINGS)):
    value = model_config[key]
    if value not in valid:
      raise ConfigError(f"unknown config.model.{key} '{value}'; valid: "
                        f"{', '.join(valid)}")
  if (model_config.generator == 'mlp2d' and not model_config.g_batch_norm
      and model_config.g_conditioning == 'cbn'):
    raise ConfigError("config.model.g_conditioning='cbn' conditions G's batch norm, "
                      "but mlp2d's G has none; set config.model.g_batch_norm=True "
                      "or config.model.g_conditioning='concat'")
  if model_config.pack > 1:
    raise ConfigError('config.model.pack > 1 with class labels is not supported '
                      '(a pack would need one label per member); set pack=1 or '
                      'num_classes=0')


def check_generator_spectral_norm(model_config) -> None:
  """Raises ConfigError for config.model.g_spectral_norm on a G without it."""
  if model_config.g_spectral_norm and model_config.generator not in G_SPECTRAL_NORM:
    raise ConfigError(f"config.model.g_spectral_norm=True: the '{model_config.generator}' "
                      f"G has no spectrally normalised variant (those that do: "
                      f"{', '.join(G_SPECTRAL_NORM)}); set it to False")


def _family(name: str, role: str):
  check_name(name, role)
  return _FAMILIES[name]


def build(model_config: ml_collections.ConfigDict, image_shape: Sequence[int],
          axis_name: Optional[str] = None) -> Tuple[nn.Module, nn.Module]:
  """Generator and discriminator for examples of `image_shape`: (H, W, C), or
  (2,) for the 2-D mixtures' points (family mlp2d).

  G and D may come from different families (`model.generator`,
  `model.discriminator`). `axis_name` is the pmap axis over which batch norm
  statistics and per-example randomness are global; None outside pmap.
  """
  layers.check_conv_impl(model_config.conv_impl)
  compute_dtype(model_config)
  check_conditioning(model_config)
  check_generator_spectral_norm(model_config)
  generator, _ = _family(model_config.generator, 'generator')(
      model_config, image_shape, axis_name)
  _, discriminator = _family(model_config.discriminator, 'discriminator')(
      model_config, image_shape, axis_name)
  return generator, discriminator
