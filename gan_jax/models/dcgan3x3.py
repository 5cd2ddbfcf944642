"""The DCGAN of a TensorFlow 2 blog for 28x28 MNIST, with 'VALID' convolutions.

G: z -> Dense 3*3*512 (no bias) -> LeakyReLU -> ConvT 256 3x3 s3 -> BN ->
   LeakyReLU -> ConvT 128 5x5 s2 -> BN -> LeakyReLU -> ConvT 3 4x4 s3 ->
   Conv C 9x9 s2 -> tanh.                       3 -> 9 -> 21 -> 64 -> 28
D: Conv 64 3x3 s2 -> BN -> Conv 128 3x3 s2 -> BN -> Conv 256 2x2 s2 -> BN ->
   flatten -> Dense 1.                           28 -> 13 -> 6 -> 3

D has no activation between its layers: a deliberate reproduction of the
blog's code as published, not an omission here. Its D is affine between
batch norms, so with running statistics (train=False) it is an affine
function of the image, and in training only the batch statistics couple the
examples nonlinearly.

Keras defaults everywhere the blog relies on them: biases on (except G's
Dense), LeakyReLU slope 0.3, BatchNormalization momentum 0.99 and epsilon
1e-3, glorot-uniform kernels. Keras' Conv2DTranspose 'valid' gives
(n - 1) s + k; lax's 'VALID' gives s n + max(k - s, 0), the same for k >= s,
as every layer here has.
Parameter counts (1 channel, z=100): G 2,467,191, D 209,025.
"""
from typing import Any, Optional

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import batch_norm, layers

_SLOPE = 0.3  # keras.layers.LeakyReLU default


def _norm(train: bool, axis_name: Optional[str], dtype) -> batch_norm.BatchNorm:
  # keras.layers.BatchNormalization defaults.
  return batch_norm.BatchNorm(use_running_average=not train, momentum=0.99,
                      epsilon=1e-3, axis_name=axis_name, dtype=dtype)


class Generator(nn.Module):
  """z [B, latent_dim] -> images [B, 28, 28, channels] in [-1, 1]."""
  channels: int = 1
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    conv_t = layers.conv_transpose_class(self.conv_impl, self.dtype)
    conv = layers.conv_class(self.conv_impl, self.dtype)
    act = lambda x: nn.leaky_relu(x, _SLOPE)
    x = nn.Dense(3 * 3 * 512, use_bias=False, dtype=self.dtype,
                 kernel_init=layers.keras_kernel_init)(z)
    x = act(x.reshape(-1, 3, 3, 512))
    for features, kernel, stride in ((256, 3, 3), (128, 5, 2)):   # -> 9, 21
      x = conv_t(features, (kernel, kernel), strides=(stride, stride),
                 padding='VALID', kernel_init=layers.keras_kernel_init)(x)
      x = act(_norm(train, self.axis_name, self.dtype)(x))
    x = conv_t(3, (4, 4), strides=(3, 3), padding='VALID',             # -> 64
               kernel_init=layers.keras_kernel_init)(x)
    x = conv(self.channels, (9, 9), strides=(2, 2), padding='VALID',   # -> 28
             kernel_init=layers.keras_kernel_init)(x)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, 28, 28, C] in [-1, 1] -> logits [B] (no sigmoid)."""
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  spectral_norm: bool = False  # of every kernel (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    conv = layers.conv_class(self.conv_impl, self.dtype)
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    # No activations: the blog's D, as published (module docstring).
    for features, kernel in ((64, 3), (128, 3), (256, 2)):   # -> 13, 6, 3
      x = sn(conv(features, (kernel, kernel), strides=(2, 2), padding='VALID',
                  kernel_init=layers.keras_kernel_init))(x)
      x = _norm(train, self.axis_name, self.dtype)(x)
    x = x.reshape(x.shape[0], -1)
    logits = sn(nn.Dense(1, dtype=self.dtype,
                         kernel_init=layers.keras_kernel_init))(x)[:, 0]
    return logits.astype(jnp.float32)
