"""BigGAN (Brock et al. 2019) at 32x32, as PyTorch-StudioGAN builds it for
CIFAR-10 (`src/models/big_resnet.py`, `src/configs/CIFAR10/BigGAN.yaml`,
`src/utils/ops.py`; checked at StudioGAN commit 947b35e).

G: z [B, latent_dim] is cut into 4 equal chunks (hierarchical z). The first
goes through a linear layer to 4x4x384; each of the 3 up-blocks (384
channels, 4 -> 8 -> 16 -> 32) takes [shared(y), z_k] (the shared class
embedding of `shared_dim` first, then its chunk) as the input of its
conditional batch norms; SAGAN's self-attention after the block of side 16;
batch norm, ReLU, 3x3 conv to C, tanh. A block: CBN, ReLU, x2 nearest
up-sampling, 3x3 conv, CBN, ReLU, 3x3 conv, plus the shortcut: x2 nearest
up-sampling, then a 1x1 conv (always, though in = out). Its conditional
batch norm: batch norm without affine parameters (eps 1e-4), times 1 +
gain(c), plus bias(c), gain and bias linear layers without bias.
Unconditional (num_classes = 0): each block's CBN takes its z chunk alone.

D: the SNGAN ResNet D of `resnet.py` at 192 channels (an optimised block
32 -> 16, self-attention at 16x16, a down block 16 -> 8, two plain blocks),
ReLU, global sum pooling, a linear layer to 1 plus the projection term of a
spectrally normalised class embedding. StudioGAN's D blocks share Mimicry's
layout, in-place-ReLU shortcut included (`resnet.DBlock`).

Spectral normalisation: every conv, linear and embedding of D; in G (when
`spectral_norm`) every conv and linear, the CBN gains and biases included,
but not the shared embedding. Trainable parameters at CIFAR-10's settings
(latent_dim 80, shared_dim 128, 10 classes, 3 channels): G 9,416,196 and D
2,415,170, StudioGAN's (its own count and its 2021 CIFAR-10 training log's).
Orthogonal initialisation (`config.model.init='orthogonal'`,
`layers.orthogonal_init`) is StudioGAN's `init_weights('ortho')`; with
'default' G's convolutions and linear layers start at PyTorch's defaults,
D's at Mimicry's (`resnet.py`), the attention's 1x1 convolutions at
flax's.

Where gan_jax's networks differ from StudioGAN's: spectral norm's epsilon
is flax's 1e-12 (StudioGAN 1e-6); batch norm's running variance is the
biased one (PyTorch keeps the unbiased); the power iteration of the
projection embedding's spectral norm keeps its vector on the feature side
(PyTorch on the class side), so the two estimates of sigma start apart and
meet as the iteration converges. None changes what a trained network
computes.

`width_ratio`s scale G's 384 and D's 192 channels (the reduced-width
BigGAN the CPU can train).
"""
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models import batch_norm, layers, resnet

# Per layout (image side): G's bottom width and channels (input of the first
# block, then each block's output), D's channels (resnet.Discriminator's
# layout at this width ratio of SNGAN's 128).
LAYOUTS = {
    32: dict(bottom=4, g_channels=(384, 384, 384, 384), d_width_ratio=192 / 128),
}
# StudioGAN's batch norms: nn.BatchNorm2d(eps=1e-4, momentum=0.1).
_BN = dict(momentum=0.9, epsilon=1e-4)


def layout(image_shape: Sequence[int]) -> dict:
  """The layout of images [H, W, C]: H = W in LAYOUTS. Raises ConfigError."""
  height, width = image_shape[:2]
  if height != width or height not in LAYOUTS:
    raise ConfigError(f'the BigGAN networks are for 32x32 images, got {height}x'
                      f'{width}; set config.data.image_size to 32')
  return LAYOUTS[height]


def latent_chunks(image_size: int) -> int:
  """How many equal chunks G cuts z into: one per block, and one for the
  linear layer."""
  return len(LAYOUTS[image_size]['g_channels'])


def check_latent_dim(latent_dim: int, image_size: int) -> None:
  """Raises ConfigError unless z splits into equal chunks."""
  chunks = latent_chunks(image_size)
  if latent_dim % chunks:
    raise ConfigError(f'the BigGAN G cuts z into {chunks} equal chunks (hierarchical z): '
                      f'config.model.latent_dim={latent_dim} must be a multiple of {chunks} '
                      '(CIFAR-10 BigGAN: 80)')


def upsample_nearest_2x(x: jax.Array) -> jax.Array:
  """x [B, H, W, C] -> [B, 2H, 2W, C], each pixel repeated (PyTorch's
  F.interpolate(scale_factor=2, mode='nearest'))."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _torch_dense(features: int, fan_in: int, use_bias: bool, dtype, name: str):
  """nn.Linear's default initialisation (`init='default'`)."""
  return nn.Dense(features, use_bias=use_bias, dtype=dtype,
                  kernel_init=layers.torch_kernel_init,
                  bias_init=resnet.torch_bias_init(fan_in), name=name)


def _torch_conv(features: int, kernel: int, in_channels: int, conv_impl: str, dtype,
                name: str):
  """A k x k stride-1 'same' conv with nn.Conv2d's default initialisation."""
  pad = kernel // 2
  return layers.conv_class(conv_impl, dtype)(
      features, (kernel, kernel), padding=((pad, pad), (pad, pad)),
      kernel_init=layers.torch_kernel_init,
      bias_init=resnet.torch_bias_init(in_channels * kernel ** 2), name=name)


class LinearConditionalBatchNorm(nn.Module):
  """BigGAN's conditional batch norm: x [B, H, W, F] and a conditioning
  vector c [B, D] (the shared class embedding and a z chunk) ->
  BN(x) * (1 + gain(c)) + bias(c), where BN has no affine parameters and
  gain and bias are linear layers without bias (spectrally normalised
  when `spectral_norm`). At gain = bias = 0 it is plain batch norm."""
  use_running_average: bool
  spectral_norm: bool = True
  axis_name: Optional[str] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array, train: bool) -> jax.Array:
    features = x.shape[-1]
    x = batch_norm.BatchNorm(use_running_average=self.use_running_average, use_scale=False,
                     use_bias=False, axis_name=self.axis_name, dtype=self.dtype,
                     name='bn', **_BN)(x)

    def linear(name):
      dense = _torch_dense(features, condition.shape[-1], False, self.dtype, name)
      return layers.spectral_norm(dense, self.spectral_norm, train)(condition)

    shape = (x.shape[0], 1, 1, features)
    gain = (1.0 + linear('gain')).reshape(shape).astype(x.dtype)
    return x * gain + linear('bias').reshape(shape).astype(x.dtype)


class GBlock(nn.Module):
  """StudioGAN's GenBlock: x [B, H, W, in], condition [B, D] -> [B, 2H, 2W, out]."""
  out_channels: int
  spectral_norm: bool = True
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array, train: bool) -> jax.Array:
    def norm(h, name):
      return LinearConditionalBatchNorm(
          use_running_average=not train, spectral_norm=self.spectral_norm,
          axis_name=self.axis_name, dtype=self.dtype, name=name)(h, condition, train)

    def conv(h, features, kernel, name):
      layer = _torch_conv(features, kernel, h.shape[-1], self.conv_impl, self.dtype, name)
      return layers.spectral_norm(layer, self.spectral_norm, train)(h)

    h = upsample_nearest_2x(nn.relu(norm(x, 'bn1')))
    h = conv(h, self.out_channels, 3, 'conv1')
    h = conv(nn.relu(norm(h, 'bn2')), self.out_channels, 3, 'conv2')
    return h + conv(upsample_nearest_2x(x), self.out_channels, 1, 'conv0')


class Generator(nn.Module):
  """z [B, latent_dim] (latent_dim a multiple of 4) and labels int [B] when
  num_classes > 0 -> images [B, 32, 32, channels] in [-1, 1]."""
  image_size: int = 32
  channels: int = 3
  width_ratio: float = 1.0
  shared_dim: int = 128          # the shared class embedding's size
  attention_resolution: int = 16  # SAGAN's block after the block of this side; 0 = none
  num_classes: int = 0
  spectral_norm: bool = True
  axis_name: Optional[str] = None
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool,
               labels: Optional[jax.Array] = None) -> jax.Array:
    spec = LAYOUTS[self.image_size]
    widths = [resnet.scaled(c, self.width_ratio) for c in spec['g_channels']]
    bottom = spec['bottom']
    chunks = jnp.split(z, latent_chunks(self.image_size), axis=-1)
    conditions = chunks[1:]
    if self.num_classes:
      # A plain embedding (no spectral norm), shared by every block.
      shared = nn.Embed(self.num_classes, self.shared_dim, name='shared',
                        embedding_init=nn.initializers.normal(1.0))(labels)
      conditions = [jnp.concatenate([shared.astype(c.dtype), c], axis=-1)
                    for c in conditions]
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    x = sn(_torch_dense(bottom * bottom * widths[0], chunks[0].shape[-1], True,
                        self.dtype, 'linear0'))(chunks[0])
    # PyTorch's view(B, C, H, W): the linear layer's outputs are channel-major.
    x = x.reshape(x.shape[0], widths[0], bottom, bottom).transpose(0, 2, 3, 1)
    for i, width in enumerate(widths[1:]):
      x = GBlock(width, spectral_norm=self.spectral_norm, axis_name=self.axis_name,
                 conv_impl=self.conv_impl, dtype=self.dtype,
                 name=f'block{i + 1}')(x, conditions[i], train)
      if x.shape[1] == self.attention_resolution:
        x = layers.SelfAttention(spectral_norm=self.spectral_norm, dtype=self.dtype,
                                 name='attention')(x, train)
    x = batch_norm.BatchNorm(use_running_average=not train, axis_name=self.axis_name,
                     dtype=self.dtype, name='bn4', **_BN)(x)
    x = sn(_torch_conv(self.channels, 3, widths[-1], self.conv_impl, self.dtype,
                       'conv5'))(nn.relu(x))
    return jnp.tanh(x).astype(jnp.float32)


def discriminator(image_size: int = 32, width_ratio: float = 1.0,
                  attention_resolution: int = 16, spectral_norm: bool = True,
                  num_classes: int = 0, conditioning: str = 'projection',
                  axis_name: Optional[str] = None, conv_impl: str = 'auto',
                  dtype: Any = jnp.float32) -> resnet.Discriminator:
  """BigGAN's D: images [B, 32, 32, C] in [-1, 1] (and labels int [B]) ->
  logits float32 [B]; `resnet.Discriminator` at 192 x width_ratio channels."""
  return resnet.Discriminator(
      image_size=image_size,
      width_ratio=LAYOUTS[image_size]['d_width_ratio'] * width_ratio,
      attention_resolution=attention_resolution, spectral_norm=spectral_norm,
      pooling='sum', num_classes=num_classes, conditioning=conditioning,
      axis_name=axis_name, conv_impl=conv_impl, dtype=dtype)
