"""The FID Inception network (the 2015-12-05 TensorFlow Inception graph of
Heusel et al. 2017 and Salimans et al. 2016) in Flax, module for module as
pytorch-fid builds it (`pytorch_fid/inception.py`, `fid_inception_v3`):
torchvision's Inception-v3 with 1008 classes and no auxiliary head, where
Mixed_5b-d are `FIDInceptionA`, Mixed_6b-e `FIDInceptionC`, Mixed_7b
`FIDInceptionE_1` and Mixed_7c `FIDInceptionE_2`. They differ from
torchvision's blocks only in their pooling branch: an average pool that does
not count the padding (TensorFlow's), and a max pool in Mixed_7c.

Layout: images NHWC; parameter names are the PyTorch module names
(`Mixed_5b/branch1x1/conv/kernel`), so `weights.py` maps a state dict onto
them one to one. Every convolution is `BasicConv2d`: conv without bias,
batch norm (eps 0.001, inference statistics), ReLU.
"""
import functools
from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# The network's input side; images of any other size are resized to it.
INPUT_SIZE = 299
FEATURE_DIM = 2048   # pool3, the features of FID, KID, precision/recall
NUM_CLASSES = 1008   # the logits of the Inception score
_BN_EPSILON = 0.001


class BasicConv2d(nn.Module):
  """Conv (no bias) -> BatchNorm (eps 0.001, running statistics) -> ReLU."""
  features: int
  kernel_size: Tuple[int, int]
  strides: int = 1
  padding: Tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    (ph, pw) = self.padding
    x = nn.Conv(self.features, self.kernel_size, strides=self.strides,
                padding=((ph, ph), (pw, pw)), use_bias=False, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=_BN_EPSILON, name='bn')(x)
    return nn.relu(x)


def _conv(features: int, kernel, name: str, strides: int = 1, padding=0) -> BasicConv2d:
  kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
  padding = (padding, padding) if isinstance(padding, int) else tuple(padding)
  return BasicConv2d(features, kernel, strides, padding, name=name)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  # TensorFlow's average pool divides by the window's pixels inside the
  # image (count_include_pad=False in pytorch-fid's FID blocks).
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def _max_pool(x: jax.Array, strides: int, padding: int = 0) -> jax.Array:
  return nn.max_pool(x, (3, 3), strides=(strides, strides),
                     padding=((padding, padding), (padding, padding)))


class FIDInceptionA(nn.Module):
  """Mixed_5b-d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1."""
  pool_features: int

  @nn.compact
  def __call__(self, x):
    branch1x1 = _conv(64, 1, 'branch1x1')(x)
    branch5x5 = _conv(48, 1, 'branch5x5_1')(x)
    branch5x5 = _conv(64, 5, 'branch5x5_2', padding=2)(branch5x5)
    double = _conv(64, 1, 'branch3x3dbl_1')(x)
    double = _conv(96, 3, 'branch3x3dbl_2', padding=1)(double)
    double = _conv(96, 3, 'branch3x3dbl_3', padding=1)(double)
    pool = _conv(self.pool_features, 1, 'branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([branch1x1, branch5x5, double, pool], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a: stride-2 3x3 | 1x1-3x3-3x3/2 | max pool/2."""

  @nn.compact
  def __call__(self, x):
    branch3x3 = _conv(384, 3, 'branch3x3', strides=2)(x)
    double = _conv(64, 1, 'branch3x3dbl_1')(x)
    double = _conv(96, 3, 'branch3x3dbl_2', padding=1)(double)
    double = _conv(96, 3, 'branch3x3dbl_3', strides=2)(double)
    return jnp.concatenate([branch3x3, double, _max_pool(x, 2)], axis=-1)


class FIDInceptionC(nn.Module):
  """Mixed_6b-e: factorised 7x7 convolutions (1x7 and 7x1)."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    branch1x1 = _conv(192, 1, 'branch1x1')(x)
    b7 = _conv(c7, 1, 'branch7x7_1')(x)
    b7 = _conv(c7, (1, 7), 'branch7x7_2', padding=(0, 3))(b7)
    b7 = _conv(192, (7, 1), 'branch7x7_3', padding=(3, 0))(b7)
    d7 = _conv(c7, 1, 'branch7x7dbl_1')(x)
    d7 = _conv(c7, (7, 1), 'branch7x7dbl_2', padding=(3, 0))(d7)
    d7 = _conv(c7, (1, 7), 'branch7x7dbl_3', padding=(0, 3))(d7)
    d7 = _conv(c7, (7, 1), 'branch7x7dbl_4', padding=(3, 0))(d7)
    d7 = _conv(192, (1, 7), 'branch7x7dbl_5', padding=(0, 3))(d7)
    pool = _conv(192, 1, 'branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([branch1x1, b7, d7, pool], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2."""

  @nn.compact
  def __call__(self, x):
    b3 = _conv(192, 1, 'branch3x3_1')(x)
    b3 = _conv(320, 3, 'branch3x3_2', strides=2)(b3)
    b7 = _conv(192, 1, 'branch7x7x3_1')(x)
    b7 = _conv(192, (1, 7), 'branch7x7x3_2', padding=(0, 3))(b7)
    b7 = _conv(192, (7, 1), 'branch7x7x3_3', padding=(3, 0))(b7)
    b7 = _conv(192, 3, 'branch7x7x3_4', strides=2)(b7)
    return jnp.concatenate([b3, b7, _max_pool(x, 2)], axis=-1)


class FIDInceptionE(nn.Module):
  """Mixed_7b (`max_pool=False`: FIDInceptionE_1, an average pool that does
  not count padding) and Mixed_7c (`max_pool=True`: FIDInceptionE_2, the max
  pool the TensorFlow graph has there)."""
  max_pool: bool

  @nn.compact
  def __call__(self, x):
    branch1x1 = _conv(320, 1, 'branch1x1')(x)
    b3 = _conv(384, 1, 'branch3x3_1')(x)
    b3 = jnp.concatenate([_conv(384, (1, 3), 'branch3x3_2a', padding=(0, 1))(b3),
                          _conv(384, (3, 1), 'branch3x3_2b', padding=(1, 0))(b3)], axis=-1)
    d3 = _conv(448, 1, 'branch3x3dbl_1')(x)
    d3 = _conv(384, 3, 'branch3x3dbl_2', padding=1)(d3)
    d3 = jnp.concatenate([_conv(384, (1, 3), 'branch3x3dbl_3a', padding=(0, 1))(d3),
                          _conv(384, (3, 1), 'branch3x3dbl_3b', padding=(1, 0))(d3)], axis=-1)
    pooled = _max_pool(x, 1, padding=1) if self.max_pool else _avg_pool_3x3(x)
    pool = _conv(192, 1, 'branch_pool')(pooled)
    return jnp.concatenate([branch1x1, b3, d3, pool], axis=-1)


class FIDInceptionV3(nn.Module):
  """Images [N, 299, 299, 3] scaled to [-1, 1] -> (pool3 features float32
  [N, 2048], logits float32 [N, 1008]). Resize and scale with `preprocess`."""

  @nn.compact
  def __call__(self, x: jax.Array) -> Tuple[jax.Array, jax.Array]:
    x = _conv(32, 3, 'Conv2d_1a_3x3', strides=2)(x)
    x = _conv(32, 3, 'Conv2d_2a_3x3')(x)
    x = _conv(64, 3, 'Conv2d_2b_3x3', padding=1)(x)
    x = _max_pool(x, 2)
    x = _conv(80, 1, 'Conv2d_3b_1x1')(x)
    x = _conv(192, 3, 'Conv2d_4a_3x3')(x)
    x = _max_pool(x, 2)
    x = FIDInceptionA(32, name='Mixed_5b')(x)
    x = FIDInceptionA(64, name='Mixed_5c')(x)
    x = FIDInceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    for name, channels in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160),
                           ('Mixed_6e', 192)):
      x = FIDInceptionC(channels, name=name)(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = FIDInceptionE(max_pool=False, name='Mixed_7b')(x)
    x = FIDInceptionE(max_pool=True, name='Mixed_7c')(x)
    features = jnp.mean(x, axis=(1, 2))   # adaptive average pool to 1x1
    logits = nn.Dense(NUM_CLASSES, name='fc')(features)
    return features, logits


@functools.lru_cache(maxsize=None)
def bilinear_matrix(size_in: int, size_out: int = INPUT_SIZE) -> np.ndarray:
  """The [size_out, size_in] float32 matrix of one axis of PyTorch's
  `F.interpolate(mode='bilinear', align_corners=False)` (no antialiasing):
  output pixel i reads the input at (i + 0.5) * size_in / size_out - 0.5,
  clamped at 0, linearly between its two neighbours (the last one repeated
  at the far edge). Rows sum to 1."""
  scale = size_in / size_out
  source = np.maximum((np.arange(size_out) + 0.5) * scale - 0.5, 0.0)
  low = np.floor(source).astype(np.int64)
  low = np.minimum(low, size_in - 1)
  high = np.minimum(low + 1, size_in - 1)
  weight_high = (source - low).astype(np.float32)
  matrix = np.zeros((size_out, size_in), np.float32)
  rows = np.arange(size_out)
  np.add.at(matrix, (rows, low), 1.0 - weight_high)
  np.add.at(matrix, (rows, high), weight_high)
  return matrix


def preprocess(images: jax.Array) -> jax.Array:
  """Images [N, H, W, C] in [0, 1] (C = 1 or 3; grey is repeated to RGB) ->
  [N, 299, 299, 3] in [-1, 1], resized as pytorch-fid's `InceptionV3`
  does (bilinear, align_corners=False, then 2x - 1)."""
  images = images.astype(jnp.float32)
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  height, width = images.shape[1:3]
  if (height, width) != (INPUT_SIZE, INPUT_SIZE):
    rows, cols = bilinear_matrix(height), bilinear_matrix(width)
    images = jnp.einsum('yh,nhwc,xw->nyxc', rows, images, cols,
                        precision=jax.lax.Precision.HIGHEST)
  return 2.0 * images - 1.0


@functools.lru_cache(maxsize=None)
def variable_shapes():
  """The network's variables as jax.ShapeDtypeStructs ({'params': ...,
  'batch_stats': ...}), traced once."""
  return jax.eval_shape(FIDInceptionV3().init, jax.random.PRNGKey(0),
                        jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3)))


def parameter_shapes() -> Sequence[Tuple[str, Tuple[int, ...]]]:
  """('Mixed_5b/branch1x1/conv/kernel', shape) of every variable, in the
  order of the tree (params then batch_stats)."""
  flat = jax.tree_util.tree_flatten_with_path(variable_shapes())[0]
  return [('/'.join(k.key for k in path), tuple(leaf.shape)) for path, leaf in flat]
