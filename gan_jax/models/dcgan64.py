"""The PyTorch DCGAN for 64x64 images (Radford et al. 2016 layout, 1 channel).

Layer for layer the reference's modules, with PyTorch's paddings and defaults
(biases on every convolution, BatchNorm momentum 0.1 -> flax 0.9, eps 1e-5):
  G: ConvT 100->256 k4 s1 p0, 256->128 k4 s2 p1, 128->64 k4 s2 p1 (BN+ReLU),
     64->C k4 s4 p0, tanh.             1x1 -> 4 -> 8 -> 16 -> 64
  D: Conv C->64 k4 s4 p0 LeakyReLU(0.2), 64->128 k4 s2 p1 BN LeakyReLU,
     128->256 k4 s2 p1 BN LeakyReLU, 256->1 k4 s1 p0.   64 -> 16 -> 8 -> 4 -> 1
"""
from typing import Any, Optional

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import batch_norm, layers


def _norm(train: bool, axis_name: Optional[str], dtype) -> batch_norm.BatchNorm:
  return batch_norm.BatchNorm(use_running_average=not train, momentum=0.9,
                      epsilon=1e-5, axis_name=axis_name, dtype=dtype)


class Generator(nn.Module):
  """z [B, latent_dim] -> images [B, 64, 64, channels] in [-1, 1]."""
  channels: int = 1
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    conv_t = layers.conv_transpose_class(self.conv_impl, self.dtype)
    x = z.reshape(z.shape[0], 1, 1, z.shape[-1])
    # (features, stride, torch padding)
    for features, stride, pad in ((256, 1, 0), (128, 2, 1), (64, 2, 1)):
      x = conv_t(features, (4, 4), strides=(stride, stride),
                 padding=layers.torch_padding(4, pad, transpose=True),
                 kernel_init=layers.torch_kernel_init)(x)
      x = nn.relu(_norm(train, self.axis_name, self.dtype)(x))
    x = conv_t(self.channels, (4, 4), strides=(4, 4),
               padding=layers.torch_padding(4, 0, transpose=True),
               kernel_init=layers.torch_kernel_init)(x)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, 64, 64, C] in [-1, 1] -> logits [B] (no sigmoid)."""
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  spectral_norm: bool = False  # of every kernel (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    conv = layers.conv_class(self.conv_impl, self.dtype)
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    # (features, stride, torch padding, batch norm)
    for features, stride, pad, bn in ((64, 4, 0, False), (128, 2, 1, True),
                                      (256, 2, 1, True)):
      x = sn(conv(features, (4, 4), strides=(stride, stride),
                  padding=layers.torch_padding(4, pad, transpose=False),
                  kernel_init=layers.torch_kernel_init))(x)
      if bn:
        x = _norm(train, self.axis_name, self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = sn(conv(1, (4, 4), padding='VALID',
                kernel_init=layers.torch_kernel_init))(x)
    return x.reshape(x.shape[0]).astype(jnp.float32)
