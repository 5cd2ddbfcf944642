"""The DCGAN of the TensorFlow tutorial, for 28x28 images.

https://www.tensorflow.org/tutorials/generative/dcgan. Keras defaults are kept
where the tutorial relies on them: LeakyReLU slope 0.3, BatchNormalization
momentum 0.99 and epsilon 1e-3, glorot-uniform kernels, 'same' padding.
Parameter counts (1 channel, z=100): G 2,305,472, D 212,865.

Class-conditional (`num_classes` > 0, labels int [B]): G takes the one-hot
label beside z ('concat', Mirza & Osindero 2014) or per-class batch-norm gains
and biases ('cbn'); D takes label maps as extra input channels ('concat'),
adds the projection term <embed(y), phi(x)> to its logit ('projection',
Miyato & Koyama 2018) or has an auxiliary classifier head ('acgan', Odena et
al. 2017), whose class logits it returns beside the real/fake logit.
"""
from typing import Any, Optional

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import batch_norm, layers

_SLOPE = 0.3  # keras.layers.LeakyReLU default


class Generator(nn.Module):
  """z [B, latent_dim] (and labels int [B] when num_classes > 0) -> images
  [B, 28, 28, channels] in [-1, 1]."""
  channels: int = 1
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32
  num_classes: int = 0        # 0: unconditional
  conditioning: str = 'cbn'   # layers.G_CONDITIONINGS

  @nn.compact
  def __call__(self, z: jax.Array, train: bool,
               labels: Optional[jax.Array] = None) -> jax.Array:
    conv_t = layers.conv_transpose_class(self.conv_impl, self.dtype)
    cbn = self.num_classes > 0 and self.conditioning == 'cbn'

    def norm(x):
      kwargs = dict(use_running_average=not train, momentum=0.99, epsilon=1e-3,
                    axis_name=self.axis_name, dtype=self.dtype)
      if cbn:
        return layers.ConditionalBatchNorm(self.num_classes, **kwargs)(x, labels)
      return batch_norm.BatchNorm(**kwargs)(x)

    act = lambda x: nn.leaky_relu(x, _SLOPE)
    if self.num_classes and self.conditioning == 'concat':
      z = layers.concat_labels(z, labels, self.num_classes)
    x = nn.Dense(7 * 7 * 256, use_bias=False, dtype=self.dtype,
                 kernel_init=layers.keras_kernel_init)(z)
    x = act(norm(x)).reshape(-1, 7, 7, 256)
    for features, stride in ((128, 1), (64, 2)):
      x = conv_t(features, (5, 5), strides=(stride, stride), padding='SAME',
                 use_bias=False, kernel_init=layers.keras_kernel_init)(x)
      x = act(norm(x))
    x = conv_t(self.channels, (5, 5), strides=(2, 2), padding='SAME',
               use_bias=False, kernel_init=layers.keras_kernel_init)(x)
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, 28, 28, C] in [-1, 1] (and labels int [B] when num_classes >
  0) -> logits float32 [B] (no sigmoid); with 'acgan' conditioning, (logits
  [B], class logits [B, num_classes])."""
  dropout_rate: float = 0.3
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  spectral_norm: bool = False  # of every kernel (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32
  num_classes: int = 0             # 0: unconditional
  conditioning: str = 'projection'  # layers.D_CONDITIONINGS

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, labels: Optional[jax.Array] = None):
    conv = layers.conv_class(self.conv_impl, self.dtype)
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    if self.num_classes and self.conditioning == 'concat':
      x = layers.concat_labels(x, labels, self.num_classes)
    for features in (64, 128):
      x = sn(conv(features, (5, 5), strides=(2, 2), padding='SAME',
                  kernel_init=layers.keras_kernel_init))(x)
      x = nn.leaky_relu(x, _SLOPE)
      x = layers.ExampleDropout(self.dropout_rate, self.axis_name)(
          x, deterministic=not train)
    x = x.reshape(x.shape[0], -1)
    logits = sn(nn.Dense(1, dtype=self.dtype,
                         kernel_init=layers.keras_kernel_init))(x)[:, 0]
    return layers.conditional_head(self, x, logits.astype(jnp.float32), labels, sn)
