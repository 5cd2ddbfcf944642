"""The Stacked-MNIST DCGANs of PacGAN's experiments (Lin et al. 2018, Sec. 5.2).

Two setups, as in the reference code (fjxmlzn/PacGAN,
stacked_MNIST_experiments/), both built from DCGAN-tensorflow's layers:
5x5 (VEEGAN setup) or 3x3 (Unrolled-GAN setup) convolutions, stride 2,
'SAME' padding; transposed convolutions padded to TF's conv2d_transpose with
an explicit output shape (4 -> 7 included); weights N(0, 0.02^2)
(convolutions: truncated at 2 std, as tf.truncated_normal), biases 0; batch
norm with momentum 0.9, eps 1e-5, scale and offset.

VEEGAN setup (Srivastava et al. 2017's Stacked MNIST, PacGAN Table 2), family
'dcgan_veegan':
  G: z -> Linear 2*2*512 -> BN -> ReLU -> ConvT 256 -> BN -> ReLU (4x4) ->
     ConvT 128 (7x7) -> ConvT 64 (14x14), each BN + ReLU -> ConvT C (28x28)
     -> tanh;
  D: Conv 64 -> LReLU(0.2) -> Conv 128 / 256 / 512, each BN + LReLU(0.2)
     (14, 7, 4, 2) -> Linear 1.
  Parameters (C=3, z=100, pack 1): G 4,514,819; D 4,310,401.
Unrolled-GAN setup (Metz et al. 2016, App. E; PacGAN Table 3), family
'dcgan_unrolled':
  G: z -> Linear 4*4*64 -> BN -> ReLU -> ConvT 32 (7x7) -> ConvT 16 (14x14)
     -> ConvT 8 (28x28), each 3x3 + BN + ReLU -> Conv C 3x3 stride 1 -> tanh;
  D: three 3x3 stride-2 Conv + BN + LReLU(0.3), of `d_width_ratio` x G's
     widths (8, 16, 32): (2, 4, 8) at 1/4, (4, 8, 16) at 1/2 -> Linear 1.
  `g_width_ratio` (not in the reference; 1 there) scales G's widths, and D's
  with them.
  Parameters (C=3, z=256, pack 1): G 287,875; D 585 (1/4) or 1,889 (1/2).
"""
import math
from typing import Any, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import batch_norm, layers

_DENSE_INIT = nn.initializers.normal(0.02)       # DCGAN-tensorflow's linear, deconv2d
_CONV_INIT = nn.initializers.truncated_normal(0.02)  # its conv2d


def transpose_pads(in_size: int, out_size: int, kernel: int,
                   stride: int) -> Tuple[int, int]:
  """Padding of a transposed convolution in_size -> out_size that computes TF's
  conv2d_transpose(padding='SAME', output_shape=out_size): the gradient of
  the 'SAME' convolution out_size -> in_size."""
  total = max((in_size - 1) * stride + kernel - out_size, 0)
  low = total // 2
  return kernel - 1 - low, kernel - 1 - (total - low)


class _Generator(nn.Module):
  """z [B, latent_dim] -> images [B, 28, 28, channels] in [-1, 1]."""
  base_shape: Tuple[int, int, int]          # after the linear layer
  widths: Sequence[int]                     # of the transposed convolutions
  sizes: Sequence[int]                      # their output sizes
  kernel: int
  final_conv: bool                          # a stride-1 conv to the channels
  channels: int = 3
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    conv_t = layers.conv_transpose_class(self.conv_impl, self.dtype)
    norm = lambda: batch_norm.BatchNorm(use_running_average=not train, momentum=0.9,
                                epsilon=1e-5, axis_name=self.axis_name,
                                dtype=self.dtype)
    x = nn.Dense(math.prod(self.base_shape), kernel_init=_DENSE_INIT,
                 dtype=self.dtype)(z)
    x = nn.relu(norm()(x.reshape((-1,) + tuple(self.base_shape))))
    size = self.base_shape[0]
    k = self.kernel
    for i, (features, out_size) in enumerate(zip(self.widths, self.sizes)):
      pad = transpose_pads(size, out_size, k, 2)
      x = conv_t(features, (k, k), strides=(2, 2), padding=(pad, pad),
                 kernel_init=_DENSE_INIT)(x)
      size = out_size
      if i < len(self.widths) - 1 or self.final_conv:
        x = nn.relu(norm()(x))
    if self.final_conv:
      conv = layers.conv_class(self.conv_impl, self.dtype)
      x = conv(self.channels, (k, k), strides=(1, 1), padding='SAME',
               kernel_init=_CONV_INIT)(x)
    return jnp.tanh(x).astype(jnp.float32)


class _Discriminator(nn.Module):
  """images [B, 28, 28, C] (C: channels x pack) -> logits [B]."""
  widths: Sequence[int]
  kernel: int
  slope: float
  first_batch_norm: bool
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    conv = layers.conv_class(self.conv_impl, self.dtype)
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    k = self.kernel
    for i, features in enumerate(self.widths):
      x = sn(conv(features, (k, k), strides=(2, 2), padding='SAME',
                  kernel_init=_CONV_INIT))(x)
      if i > 0 or self.first_batch_norm:
        x = batch_norm.BatchNorm(use_running_average=not train, momentum=0.9,
                         epsilon=1e-5, axis_name=self.axis_name,
                         dtype=self.dtype)(x)
      x = nn.leaky_relu(x, self.slope)
    x = x.reshape(x.shape[0], -1)
    logits = sn(nn.Dense(1, kernel_init=_DENSE_INIT, dtype=self.dtype))(x)[:, 0]
    return logits.astype(jnp.float32)


def veegan(channels: int, axis_name=None, conv_impl='auto', spectral_norm=False,
           dtype=jnp.float32):
  """(G, D) of the VEEGAN setup (5x5 kernels, 64 base filters)."""
  g = _Generator(base_shape=(2, 2, 512), widths=(256, 128, 64, channels),
                 sizes=(4, 7, 14, 28), kernel=5, final_conv=False,
                 channels=channels, axis_name=axis_name, conv_impl=conv_impl,
                 dtype=dtype)
  d = _Discriminator(widths=(64, 128, 256, 512), kernel=5, slope=0.2,
                     first_batch_norm=False, axis_name=axis_name,
                     conv_impl=conv_impl, spectral_norm=spectral_norm, dtype=dtype)
  return g, d


UNROLLED_G_WIDTHS = (32, 16, 8)   # G's transposed convolutions (7, 14, 28)


def _scaled(widths: Sequence[int], ratio: float) -> Tuple[int, ...]:
  return tuple(max(1, round(w * ratio)) for w in widths)


def unrolled(channels: int, d_width_ratio: float = 0.25, axis_name=None,
             conv_impl='auto', spectral_norm=False, dtype=jnp.float32,
             g_width_ratio: float = 1.0):
  """(G, D) of the Unrolled-GAN setup: G's linear layer and transposed
  convolutions `g_width_ratio` x the reference's (64; 32, 16, 8), D's widths
  `d_width_ratio` x G's (so 0.25 is the reference's D at 1 / 4 of G at any
  g_width_ratio). Not in the reference: g_width_ratio != 1."""
  g_widths = _scaled(UNROLLED_G_WIDTHS, g_width_ratio)
  g = _Generator(base_shape=(4, 4) + _scaled((64,), g_width_ratio), widths=g_widths,
                 sizes=(7, 14, 28), kernel=3, final_conv=True,
                 channels=channels, axis_name=axis_name, conv_impl=conv_impl,
                 dtype=dtype)
  widths = _scaled(g_widths[::-1], d_width_ratio)
  d = _Discriminator(widths=widths, kernel=3, slope=0.3, first_batch_norm=True,
                     axis_name=axis_name, conv_impl=conv_impl,
                     spectral_norm=spectral_norm, dtype=dtype)
  return g, d
