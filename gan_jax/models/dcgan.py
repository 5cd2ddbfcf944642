"""The DCGAN of the TensorFlow tutorial, for 28x28 images.

https://www.tensorflow.org/tutorials/generative/dcgan. Keras defaults are kept
where the tutorial relies on them: LeakyReLU slope 0.3, BatchNormalization
momentum 0.99 and epsilon 1e-3, glorot-uniform kernels, 'same' padding.
Parameter counts (1 channel, z=100): G 2,305,472, D 212,865.
"""
from typing import Any, Optional

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import layers

_SLOPE = 0.3  # keras.layers.LeakyReLU default


class Generator(nn.Module):
  """z [B, latent_dim] -> images [B, 28, 28, channels] in [-1, 1]."""
  channels: int = 1
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    conv_t = layers.conv_transpose_class(self.conv_impl, self.dtype)
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.99,
                                epsilon=1e-3, axis_name=self.axis_name,
                                dtype=self.dtype)
    act = lambda x: nn.leaky_relu(x, _SLOPE)
    x = nn.Dense(7 * 7 * 256, use_bias=False, dtype=self.dtype,
                 kernel_init=layers.keras_kernel_init)(z)
    x = act(norm()(x)).reshape(-1, 7, 7, 256)
    for features, stride in ((128, 1), (64, 2)):
      x = conv_t(features, (5, 5), strides=(stride, stride), padding='SAME',
                 use_bias=False, kernel_init=layers.keras_kernel_init)(x)
      x = act(norm()(x))
    x = conv_t(self.channels, (5, 5), strides=(2, 2), padding='SAME',
               use_bias=False, kernel_init=layers.keras_kernel_init)(x)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, 28, 28, C] in [-1, 1] -> logits [B] (no sigmoid)."""
  dropout_rate: float = 0.3
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  spectral_norm: bool = False  # of every kernel (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    conv = layers.conv_class(self.conv_impl, self.dtype)
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    for features in (64, 128):
      x = sn(conv(features, (5, 5), strides=(2, 2), padding='SAME',
                  kernel_init=layers.keras_kernel_init))(x)
      x = nn.leaky_relu(x, _SLOPE)
      x = layers.ExampleDropout(self.dropout_rate, self.axis_name)(
          x, deterministic=not train)
    x = x.reshape(x.shape[0], -1)
    logits = sn(nn.Dense(1, dtype=self.dtype,
                         kernel_init=layers.keras_kernel_init))(x)[:, 0]
    return logits.astype(jnp.float32)
