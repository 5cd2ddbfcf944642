"""The ResNet GANs of Miyato et al. 2018 (SNGAN, Table 3/Appendix B) and of
Gulrajani et al. 2017 (WGAN-GP's CIFAR ResNet), as torch_mimicry builds them
(`torch_mimicry/nets/sngan/sngan_32.py`, `sngan_48.py`,
`modules/resblocks.py`), which follow the official Chainer code
(pfnet-research/sngan_projection) but for three details, kept here as
Mimicry has them: G up-samples bilinearly (align_corners=False) where
Chainer repeats pixels; D's last linear layer has a bias; and D's blocks
after the first apply their leading ReLU to the shortcut's input too
(Mimicry's and StudioGAN's in-place ReLU rewrites the input the shortcut
then reads), where Chainer's shortcut reads the block's input as it is.

32x32 (CIFAR-10): G z=128 -> linear 4x4x256 -> 3 up-blocks of 256 -> BN,
ReLU, 3x3 conv to C, tanh; D an optimised first block of 128 (conv, ReLU,
conv, 2x2 mean pool; shortcut pool then 1x1 conv), a down block, two plain
blocks of 128, ReLU, global sum pooling, linear to 1. Trainable parameters
(C = 3): G 4,276,739, D 1,053,825 (Mimicry's counts).
48x48 (STL-10): G z=128 -> 6x6x512 -> up-blocks 256, 128, 64; D blocks 64
(optimised), 128, 256, 512 (down), 1024. G 4,878,083, D 10,141,441 (C = 3).

A G block: BN, ReLU, (x2 up-sample), 3x3 conv, BN, ReLU, 3x3 conv, plus the
shortcut: (x2 up-sample), 1x1 conv when the shape changes, else identity. A
D block: r = ReLU(x), then 3x3 conv, ReLU, 3x3 conv, (2x2 mean pool), plus
the shortcut of r: 1x1 conv, (mean pool) when the shape changes, else r. D's convs and
linear layer are spectrally normalised with `spectral_norm` (SNGAN; off for
WGAN-GP's D). Initialisation as Mimicry: Xavier-uniform kernels, gain sqrt 2
for the blocks' 3x3 convs and 1 elsewhere; PyTorch's default biases.

WGAN-GP's D (Mimicry's wgan_gp_32.py, after Gulrajani et al.'s code) is
the same D without spectral normalisation, pooling the last feature map by
its mean (`pooling='mean'`, config.model.d_pooling) instead of its sum.

`width_ratio`s scale every block's channels (the reduced-width ResNet the
CPU can train). Class-conditional: G's batch norms become conditional
('cbn', as Miyato & Koyama 2018's ResNet G) and D gets the projection term
(`layers.conditional_head`).
"""
import math
from typing import Any, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models import batch_norm, layers

# Per layout (image side): G's bottom width, its channels (input of the first
# block, then each block's output) and D's (optimised block, then each
# block's (channels, down-sample)).
LAYOUTS = {
    32: dict(bottom=4, g_channels=(256, 256, 256, 256),
             d_channels=(128, ((128, True), (128, False), (128, False)))),
    48: dict(bottom=6, g_channels=(512, 256, 128, 64),
             d_channels=(64, ((128, True), (256, True), (512, True), (1024, False)))),
}


def layout(image_shape: Sequence[int]) -> dict:
  """The layout of images [H, W, C]: H = W in LAYOUTS. Raises ConfigError."""
  height, width = image_shape[:2]
  if height != width or height not in LAYOUTS:
    raise ConfigError(f'the ResNet GANs are for 32x32 or 48x48 images, got '
                      f'{height}x{width}; set config.data.image_size to 32 or 48')
  return LAYOUTS[height]


def xavier_uniform(gain: float):
  """torch.nn.init.xavier_uniform_(w, gain) for flax's kernel layouts."""
  return nn.initializers.variance_scaling(gain ** 2, 'fan_avg', 'uniform')


def torch_bias_init(fan_in: int):
  """PyTorch's default bias of a Linear/Conv layer: U(-1/sqrt(fan_in), +)."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
      key, shape, dtype, -bound, bound)


def upsample_2x(x: jax.Array) -> jax.Array:
  """x [B, H, W, C] -> [B, 2H, 2W, C], as PyTorch's F.interpolate(
  scale_factor=2, mode='bilinear', align_corners=False): output 2i reads
  0.25 x[i-1] + 0.75 x[i], output 2i+1 0.75 x[i] + 0.25 x[i+1], the edges
  repeated."""
  for axis in (1, 2):
    n = x.shape[axis]
    take = lambda start, stop: jax.lax.slice_in_dim(x, start, stop, axis=axis)
    before = jnp.concatenate([take(0, 1), take(0, n - 1)], axis=axis)
    after = jnp.concatenate([take(1, n), take(n - 1, n)], axis=axis)
    even, odd = 0.25 * before + 0.75 * x, 0.75 * x + 0.25 * after
    x = jnp.stack([even, odd], axis=axis + 1)
    x = x.reshape(x.shape[:axis] + (2 * n,) + x.shape[axis + 2:])
  return x


def mean_pool_2x(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def _conv(features: int, kernel: int, gain: float, in_channels: int, name: str,
          conv_impl: str, dtype) -> nn.Module:
  """A k x k stride-1 'same' conv with Mimicry's initialisation."""
  pad = kernel // 2
  return layers.conv_class(conv_impl, dtype)(
      features, (kernel, kernel), padding=((pad, pad), (pad, pad)),
      kernel_init=xavier_uniform(gain),
      bias_init=torch_bias_init(in_channels * kernel ** 2), name=name)


class GBlock(nn.Module):
  """Mimicry's GBlock: x [B, H, W, in] -> [B, 2H, 2W, out] (or [B, H, W,
  out] without `upsample`)."""
  out_channels: int
  upsample: bool = True
  num_classes: int = 0
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool, labels=None):
    in_channels = x.shape[-1]

    def norm(h, name):
      # PyTorch's BatchNorm2d: momentum 0.1 (flax's 0.9), eps 1e-5.
      kwargs = dict(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                    axis_name=self.axis_name, dtype=self.dtype, name=name)
      if self.num_classes:
        return layers.ConditionalBatchNorm(self.num_classes, **kwargs)(h, labels)
      return batch_norm.BatchNorm(**kwargs)(h)

    conv = lambda f, k, g, c, name: _conv(f, k, g, c, name, self.conv_impl, self.dtype)
    h = nn.relu(norm(x, 'b1'))
    if self.upsample:
      h = upsample_2x(h)
    h = conv(self.out_channels, 3, math.sqrt(2.0), in_channels, 'c1')(h)
    h = nn.relu(norm(h, 'b2'))
    h = conv(self.out_channels, 3, math.sqrt(2.0), self.out_channels, 'c2')(h)
    shortcut = x
    if in_channels != self.out_channels or self.upsample:
      if self.upsample:
        shortcut = upsample_2x(shortcut)
      shortcut = conv(self.out_channels, 1, 1.0, in_channels, 'c_sc')(shortcut)
    return h + shortcut


class DBlock(nn.Module):
  """Mimicry's DBlock (`optimized`: DBlockOptimized, the first block, which
  takes the images: no leading ReLU, the shortcut pooled before its conv)."""
  out_channels: int
  downsample: bool = True
  optimized: bool = False
  spectral_norm: bool = True
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    in_channels = x.shape[-1]
    # DBlock's hidden channels are its input's; the optimised block's its output's.
    hidden = self.out_channels if self.optimized else in_channels
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    conv = lambda f, k, g, c, name: sn(_conv(f, k, g, c, name, self.conv_impl,
                                             self.dtype))
    if not self.optimized:
      # Mimicry's (and StudioGAN's) in-place ReLU rewrites the block's input
      # before the shortcut reads it: both branches see relu(x).
      x = nn.relu(x)
    h = x
    h = conv(hidden, 3, math.sqrt(2.0), in_channels, 'c1')(h)
    h = conv(self.out_channels, 3, math.sqrt(2.0), hidden, 'c2')(nn.relu(h))
    if self.downsample:
      h = mean_pool_2x(h)
    if self.optimized:
      shortcut = conv(self.out_channels, 1, 1.0, in_channels, 'c_sc')(mean_pool_2x(x))
    elif in_channels != self.out_channels or self.downsample:
      shortcut = conv(self.out_channels, 1, 1.0, in_channels, 'c_sc')(x)
      if self.downsample:
        shortcut = mean_pool_2x(shortcut)
    else:
      shortcut = x
    return h + shortcut


def attention_sides(image_size: int) -> Tuple[Sequence[int], Sequence[int]]:
  """The feature-map sides after G's blocks and after D's blocks, where
  `attention_resolution` may put the self-attention block."""
  spec = LAYOUTS[image_size]
  g_sides = [spec['bottom'] * 2 ** (k + 1) for k in range(len(spec['g_channels']) - 1)]
  side, d_sides = image_size // 2, [image_size // 2]
  for _, down in spec['d_channels'][1]:
    side = side // 2 if down else side
    d_sides.append(side)
  return g_sides, sorted(set(d_sides), reverse=True)


def scaled(channels: int, ratio: float) -> int:
  """A block's channels at a width ratio (at least 1)."""
  return max(1, int(round(channels * ratio)))


class Generator(nn.Module):
  """z [B, latent_dim] (and labels int [B] when num_classes > 0) -> images
  [B, S, S, channels] in [-1, 1], S = image_size (32 or 48)."""
  image_size: int = 32
  channels: int = 3
  width_ratio: float = 1.0
  attention_resolution: int = 0   # SAGAN's block after the block of this side
  num_classes: int = 0
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool,
               labels: Optional[jax.Array] = None) -> jax.Array:
    spec = LAYOUTS[self.image_size]
    widths = [scaled(c, self.width_ratio) for c in spec['g_channels']]
    bottom = spec['bottom']
    x = nn.Dense(bottom * bottom * widths[0], dtype=self.dtype,
                 kernel_init=xavier_uniform(1.0),
                 bias_init=torch_bias_init(z.shape[-1]), name='l1')(z)
    # PyTorch's view(B, C, H, W): the linear layer's outputs are channel-major.
    x = x.reshape(x.shape[0], widths[0], bottom, bottom).transpose(0, 2, 3, 1)
    for i, width in enumerate(widths[1:]):
      x = GBlock(width, upsample=True, num_classes=self.num_classes,
                 axis_name=self.axis_name, conv_impl=self.conv_impl, dtype=self.dtype,
                 name=f'block{i + 2}')(x, train, labels)
      if x.shape[1] == self.attention_resolution:
        x = layers.SelfAttention(dtype=self.dtype, name='attention')(x, train)
    x = batch_norm.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     axis_name=self.axis_name, dtype=self.dtype, name='b5')(x)
    x = _conv(self.channels, 3, 1.0, widths[-1], 'c5', self.conv_impl, self.dtype)(
        nn.relu(x))
    return jnp.tanh(x).astype(jnp.float32)


class Discriminator(nn.Module):
  """images [B, S, S, C] in [-1, 1] (and labels int [B] when num_classes >
  0) -> logits float32 [B] (no sigmoid)."""
  image_size: int = 32
  width_ratio: float = 1.0
  attention_resolution: int = 0   # SAGAN's block after the block of this side
  spectral_norm: bool = True
  pooling: str = 'sum'   # over the last feature map: SNGAN's 'sum', WGAN-GP's 'mean'
  num_classes: int = 0
  conditioning: str = 'projection'
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, labels: Optional[jax.Array] = None):
    first, blocks = LAYOUTS[self.image_size]['d_channels']
    if self.num_classes and self.conditioning == 'concat':
      x = layers.concat_labels(x, labels, self.num_classes)
    kwargs = dict(spectral_norm=self.spectral_norm, conv_impl=self.conv_impl,
                  dtype=self.dtype)
    x = DBlock(scaled(first, self.width_ratio), downsample=True, optimized=True,
               name='block1', **kwargs)(x, train)
    attended = False

    def attend(x):   # once, after the first block of the attention's side
      nonlocal attended
      if attended or x.shape[1] != self.attention_resolution:
        return x
      attended = True
      return layers.SelfAttention(spectral_norm=self.spectral_norm, dtype=self.dtype,
                                  name='attention')(x, train)

    x = attend(x)
    for i, (width, down) in enumerate(blocks):
      x = attend(DBlock(scaled(width, self.width_ratio), downsample=down,
                        name=f'block{i + 2}', **kwargs)(x, train))
    pool = jnp.mean if self.pooling == 'mean' else jnp.sum
    features = pool(nn.relu(x), axis=(1, 2))   # global sum (or mean) pooling
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    logits = sn(nn.Dense(1, dtype=self.dtype, kernel_init=xavier_uniform(1.0),
                         bias_init=torch_bias_init(features.shape[-1]),
                         name='l5'))(features)[:, 0]
    return layers.conditional_head(self, features, logits.astype(jnp.float32),
                                   labels, sn)
