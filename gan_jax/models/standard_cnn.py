"""The "standard CNN" of Miyato et al. 2018 (SN-GANs, Table 3 and Table 2's
CIFAR-10 "Standard CNN" rows), as its official code builds it
(pfnet-research/chainer-gan-lib `common/net.py`: DCGANGenerator and
SNDCGANDiscriminator, which the paper's first author names as the code of
the standard-CNN scores), at 32x32.

G: z -> linear to 4x4x512, batch norm over its 8,192 features, ReLU,
reshape; three 4x4 stride-2 transposed convs (pad 1) to 256, 128, 64
channels, each with batch norm and ReLU; a 3x3 stride-1 layer to C
channels; tanh.   4 -> 8 -> 16 -> 32
D: 3x3 s1 conv 64, 4x4 s2 conv 128, 3x3 s1 128, 4x4 s2 256, 3x3 s1 256,
4x4 s2 512, 3x3 s1 512, each followed by a leaky ReLU of slope 0.2; a
linear layer on the flattened 4x4x512 map to 1. Spectral normalisation of
every D layer with `spectral_norm` (SN-DCGAN; the flag off is the same
network, as the paper's other standard-CNN rows use it).
Trainable parameters (C = 3): G 3,828,739, D 5,860,865 (the counts Chainer
7.8.1 gives for the official nets).

Where the official code and the paper's Table 3 differ, this module follows
the code: G's batch norm and ReLU after the linear layer (Table 3 shows
neither), D's channels 64, 128, 128, 256, 256, 512, 512 (Table 3: 64, 64,
128, 128, 256, 256, 512, D 2,935,873 parameters) and the leaky ReLU's slope
0.2 (Chainer's default; Table 3 says 0.1). The code's last G layer is a
3x3 stride-1 transposed conv, here a conv (the same functions and
parameter count). Initialisation as the code: every kernel N(0, 0.02^2),
every bias 0; batch norm eps 2e-5, running averages with decay 0.9.
"""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models import batch_norm, layers

BOTTOM = 4
# G's transposed convs' channels; D's convs' (kernel, stride, channels).
G_CHANNELS = (512, 256, 128, 64)
D_LAYERS = ((3, 1, 64), (4, 2, 128), (3, 1, 128), (4, 2, 256), (3, 1, 256),
            (4, 2, 512), (3, 1, 512))
LEAKY_SLOPE = 0.2
_INIT = dict(kernel_init=nn.initializers.normal(0.02), bias_init=nn.initializers.zeros)


def check_shape(image_shape) -> None:
  """Raises ConfigError unless the images are 32x32."""
  if tuple(image_shape[:2]) != (32, 32):
    raise ConfigError(f"the 'standard_cnn' networks are for 32x32 images, got "
                      f'{image_shape[0]}x{image_shape[1]}; set config.data.image_size to 32')


def _norm(train: bool, axis_name: Optional[str], dtype) -> batch_norm.BatchNorm:
  # Chainer's BatchNormalization: eps 2e-5, decay 0.9 (flax's momentum).
  return batch_norm.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=2e-5,
                      axis_name=axis_name, dtype=dtype)


class Generator(nn.Module):
  """z [B, latent_dim] -> images [B, 32, 32, channels] in [-1, 1]."""
  channels: int = 3
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    x = nn.Dense(BOTTOM * BOTTOM * G_CHANNELS[0], dtype=self.dtype, **_INIT)(z)
    x = nn.relu(_norm(train, self.axis_name, self.dtype)(x))
    # Chainer's reshape to (B, 512, 4, 4): the features are channel-major.
    x = x.reshape(x.shape[0], G_CHANNELS[0], BOTTOM, BOTTOM).transpose(0, 2, 3, 1)
    conv_t = layers.conv_transpose_class(self.conv_impl, self.dtype)
    for features in G_CHANNELS[1:]:
      x = conv_t(features, (4, 4), strides=(2, 2),
                 padding=layers.torch_padding(4, 1, transpose=True), **_INIT)(x)
      x = nn.relu(_norm(train, self.axis_name, self.dtype)(x))
    x = layers.conv_class(self.conv_impl, self.dtype)(
        self.channels, (3, 3), padding=((1, 1), (1, 1)), **_INIT)(x)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, 32, 32, C] in [-1, 1] -> logits float32 [B] (no sigmoid)."""
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  spectral_norm: bool = False  # of every layer (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    conv = layers.conv_class(self.conv_impl, self.dtype)
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    for kernel, stride, features in D_LAYERS:
      pad = 1   # 3x3 s1 and 4x4 s2 convs keep or halve the side
      x = sn(conv(features, (kernel, kernel), strides=(stride, stride),
                  padding=((pad, pad), (pad, pad)), **_INIT))(x)
      x = nn.leaky_relu(x, LEAKY_SLOPE)
    x = x.reshape(x.shape[0], -1)
    logits = sn(nn.Dense(1, dtype=self.dtype, **_INIT))(x)
    return logits[:, 0].astype(jnp.float32)
