"""The fully connected GAN for 28x28 MNIST (z=50).

G: 50 -> 128 -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2), BatchNorm on every
hidden layer but the first, tanh. D: 784 -> 512 -> 256 -> 1 with BatchNorm and
LeakyReLU(0.2). PyTorch defaults as in the reference (BN momentum 0.1 -> flax
0.9, eps 1e-5, biases everywhere).

Class-conditional (`num_classes` > 0): as dcgan.py ('concat' appends the
one-hot label to G's z and to D's flattened input; G's 'cbn' makes every
batch norm per-class; D's 'projection' and 'acgan' act on its last hidden
layer).
"""
import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import batch_norm, layers


def _dense(features: int, dtype) -> nn.Dense:
  return nn.Dense(features, kernel_init=layers.torch_kernel_init, dtype=dtype)


def _norm_kwargs(train: bool, axis_name: Optional[str], dtype) -> dict:
  return dict(use_running_average=not train, momentum=0.9, epsilon=1e-5,
              axis_name=axis_name, dtype=dtype)


def _norm(train: bool, axis_name: Optional[str], dtype) -> batch_norm.BatchNorm:
  return batch_norm.BatchNorm(**_norm_kwargs(train, axis_name, dtype))


class Generator(nn.Module):
  """z [B, latent_dim] (and labels int [B] when num_classes > 0) -> images
  [B, *image_shape] in [-1, 1]."""
  image_shape: Sequence[int] = (28, 28, 1)
  hidden: Sequence[int] = (128, 256, 512, 1024)
  axis_name: Optional[str] = None
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32
  num_classes: int = 0        # 0: unconditional
  conditioning: str = 'cbn'   # layers.G_CONDITIONINGS

  @nn.compact
  def __call__(self, z: jax.Array, train: bool,
               labels: Optional[jax.Array] = None) -> jax.Array:
    x = z
    if self.num_classes and self.conditioning == 'concat':
      x = layers.concat_labels(x, labels, self.num_classes)
    for i, features in enumerate(self.hidden):
      x = _dense(features, self.dtype)(x)
      if i > 0:
        if self.num_classes and self.conditioning == 'cbn':
          x = layers.ConditionalBatchNorm(
              self.num_classes, **_norm_kwargs(train, self.axis_name, self.dtype))(x, labels)
        else:
          x = _norm(train, self.axis_name, self.dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = _dense(math.prod(self.image_shape), self.dtype)(x)
    return jnp.tanh(x).astype(jnp.float32).reshape(z.shape[0], *self.image_shape)


class Discriminator(nn.Module):
  """images [B, H, W, C] in [-1, 1] (and labels int [B] when num_classes >
  0) -> logits float32 [B] (no sigmoid); with 'acgan' conditioning, (logits
  [B], class logits [B, num_classes])."""
  hidden: Sequence[int] = (512, 256)
  axis_name: Optional[str] = None
  spectral_norm: bool = False  # of every kernel (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32
  num_classes: int = 0             # 0: unconditional
  conditioning: str = 'projection'  # layers.D_CONDITIONINGS

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, labels: Optional[jax.Array] = None):
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    x = x.reshape(x.shape[0], -1)
    if self.num_classes and self.conditioning == 'concat':
      x = layers.concat_labels(x, labels, self.num_classes)
    for features in self.hidden:
      x = sn(_dense(features, self.dtype))(x)
      x = nn.leaky_relu(_norm(train, self.axis_name, self.dtype)(x), 0.2)
    logits = sn(_dense(1, self.dtype))(x)[:, 0].astype(jnp.float32)
    return layers.conditional_head(self, x, logits, labels, sn)
