"""Layers shared by the model families.

Randomness that touches individual examples (latent noise, dropout masks) is
drawn per example from a key folded with the example's *global* index in the
batch. The draws then do not depend on how the global batch is split across
devices, which is what makes a 1-device and an N-device run of the same config
agree to float tolerance.
"""
import functools
from typing import Any, Callable, Optional

import jax
import numpy as np
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.errors import ConfigError
from gan_jax.models import batch_norm, fast_conv, threefry


def global_example_ids(local_batch: int, axis_name: Optional[str]) -> jax.Array:
  """Indices of this device's examples in the global batch, int32 [local_batch].

  Inside `pmap(..., axis_name)` the device holds rows
  [axis_index * local_batch, (axis_index + 1) * local_batch) of the batch.
  """
  offset = 0 if axis_name is None else jax.lax.axis_index(axis_name) * local_batch
  return offset + jnp.arange(local_batch, dtype=jnp.int32)


def per_example_keys(key: jax.Array, local_batch: int,
                     axis_name: Optional[str]) -> jax.Array:
  """One PRNG key per example, [local_batch] keys for `jax.random`'s draws.
  Threefry keys (typed, or raw uint32 [2]) come back as typed
  `threefry.FUSED_THREEFRY` keys: the same draws, computed faster on the
  CPU; keys of another implementation keep their kind."""
  ids = global_example_ids(local_batch, axis_name)
  return threefry.fused_keys(jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, ids))


LATENT_DISTRIBUTIONS = ('normal', 'uniform')


def sample_latent(key: jax.Array, local_batch: int, latent_dim: int,
                  axis_name: Optional[str] = None,
                  distribution: str = 'normal') -> jax.Array:
  """Latent codes z, float32 [local_batch, latent_dim]: standard normal, or
  uniform on [-1, 1) (`distribution='uniform'`, DCGAN-tensorflow's and so
  PacGAN's Stacked-MNIST code). Each example's code depends only on `key`
  and its global index."""
  keys = per_example_keys(key, local_batch, axis_name)
  if distribution == 'uniform':
    draw = lambda k: jax.random.uniform(k, (latent_dim,), minval=-1.0, maxval=1.0)
  else:
    draw = lambda k: jax.random.normal(k, (latent_dim,))
  return jax.vmap(draw)(keys)


class ExampleDropout(nn.Module):
  """Inverted dropout whose mask for an example depends only on its global id.

  Same distribution as `nn.Dropout`; the per-example keys make the masks
  invariant to the device count (see module docstring).
  """
  rate: float
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if deterministic or self.rate == 0.0:
      return x
    keep = 1.0 - self.rate
    keys = per_example_keys(self.make_rng('dropout'), x.shape[0], self.axis_name)
    mask = jax.vmap(lambda k: jax.random.bernoulli(k, keep, x.shape[1:]))(keys)
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


def spectral_norm(layer: nn.Module, enabled: bool,
                  train: bool) -> Callable[[jax.Array], jax.Array]:
  """`layer`'s call, with each weight of two or more dimensions divided by its
  largest singular value when `enabled` (spectral normalisation, Miyato et
  al. 2018, Eq. 8; a conv kernel [kh, kw, in, out] as a (kh kw in) x out
  matrix).

  sigma is estimated by one power iteration per training call (their
  Algorithm 1), its vector u kept in the 'batch_stats' collection by
  `nn.SpectralNorm` and updated only when `train`. The layer's parameters
  keep their names and shapes: construct `layer` in the caller's compact
  method, so that it is the caller's submodule, and wrap it here. (flax
  stores the initial kernel already divided by its first sigma estimate: the
  same direction as without the option, another scale; W / sigma(W), and so
  D's function, does not depend on the scale.)
  """
  if not enabled:
    return layer
  return lambda x: nn.SpectralNorm(layer)(x, update_stats=train)


# Initialisers of the frameworks the reference models were written in, so that
# each config starts from the distribution its reference code used.
keras_kernel_init = nn.initializers.glorot_uniform()
# PyTorch's default for Linear/Conv weights: kaiming_uniform(a=sqrt(5)),
# i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
torch_kernel_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')


def torch_padding(kernel_size: int, padding: int, transpose: bool):
  """PyTorch `padding=p` as explicit flax padding pairs for both spatial dims.

  For a transposed convolution, PyTorch's p removes p rows from each side of
  the full output; with lax.conv_transpose semantics that is k - 1 - p of
  padding on the dilated input.
  """
  p = kernel_size - 1 - padding if transpose else padding
  return ((p, p), (p, p))


def conv_class(impl: str, dtype=jnp.float32):
  """The Conv module for `impl`, computing in `dtype`: 'xla' is flax's own;
  'fast' and 'auto' (fast on CPU only) give strided convolutions CPU-friendly
  gradients (fast_conv.py). The parameters are the same either way, so
  checkpoints move between implementations."""
  check_conv_impl(impl)
  if impl == 'xla':
    return functools.partial(nn.Conv, dtype=dtype)
  return functools.partial(fast_conv.Conv, impl=impl, dtype=dtype)


def conv_transpose_class(impl: str, dtype=jnp.float32):
  """The ConvTranspose module for `impl` (see `conv_class`)."""
  check_conv_impl(impl)
  if impl == 'xla':
    return functools.partial(nn.ConvTranspose, dtype=dtype)
  return functools.partial(fast_conv.ConvTranspose, impl=impl, dtype=dtype)


def check_conv_impl(impl: str) -> None:
  if impl not in fast_conv.IMPLS:
    raise ConfigError(f"unknown config.model.conv_impl '{impl}'; valid: "
                      f"{', '.join(fast_conv.IMPLS)}")


# ------------------------------------------------------ class conditioning
# config.model.g_conditioning / d_conditioning (num_classes > 0).
G_CONDITIONINGS = ('concat', 'cbn')
D_CONDITIONINGS = ('projection', 'concat', 'acgan')


def one_hot(labels: jax.Array, num_classes: int, dtype=jnp.float32) -> jax.Array:
  """int labels [B] in [0, num_classes) -> one-hot [B, num_classes]."""
  return jax.nn.one_hot(labels, num_classes, dtype=dtype)


def concat_labels(x: jax.Array, labels: jax.Array, num_classes: int) -> jax.Array:
  """x with the one-hot labels appended on its last axis: [B, F] ->
  [B, F + num_classes], images [B, H, W, C] -> [B, H, W, C + num_classes]
  (the label maps constant over the image), as the conditional GAN of Mirza &
  Osindero 2014 feeds y to both players. A Dense layer on [z, one_hot(y)]
  computes W z + E[y]: a learned class embedding added to z's projection."""
  y = one_hot(labels, num_classes, x.dtype)
  if x.ndim == 4:
    y = jnp.broadcast_to(y[:, None, None, :], x.shape[:3] + (num_classes,))
  return jnp.concatenate([x, y], axis=-1)


class ConditionalBatchNorm(nn.Module):
  """Batch norm whose gain and bias are looked up per class: x [B, ..., F],
  labels int [B] -> gamma_y * (x - mean) / sqrt(var + eps) + beta_y
  (conditional batch norm, de Vries et al. 2017; as the class-conditional
  generators of Miyato & Koyama 2018 and BigGAN use it). gamma starts at 1 and
  beta at 0, so at initialisation it is plain batch norm. The statistics are
  shared by all classes (the 'batch_stats' of its BatchNorm submodule)."""
  num_classes: int
  use_running_average: bool
  momentum: float = 0.99
  epsilon: float = 1e-5
  axis_name: Optional[str] = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array) -> jax.Array:
    x = batch_norm.BatchNorm(use_running_average=self.use_running_average,
                     momentum=self.momentum, epsilon=self.epsilon,
                     use_scale=False, use_bias=False, axis_name=self.axis_name,
                     dtype=self.dtype)(x)
    features = x.shape[-1]
    gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones,
                     name='gain')(labels)
    beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros,
                    name='bias')(labels)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return x * gamma.reshape(shape).astype(x.dtype) + beta.reshape(shape).astype(x.dtype)


def projection(features: jax.Array, labels: jax.Array, num_classes: int,
               wrap: Callable = lambda layer: layer) -> jax.Array:
  """The projection discriminator's class term <embed(y), phi(x)> (Miyato &
  Koyama 2018, Eq. 3): features phi(x) [B, F], labels int [B] -> [B] float32.
  Called inside a compact method (the embedding is the caller's submodule);
  `wrap` (e.g. spectral normalisation) wraps the embedding layer."""
  # Glorot-uniform, as the authors' SNEmbedID (pfnet-research/sngan_projection).
  embed = wrap(nn.Embed(num_classes, features.shape[-1], name='class_embedding',
                        embedding_init=nn.initializers.xavier_uniform()))
  e = embed(labels)
  return jnp.sum(e.astype(jnp.float32) * features.astype(jnp.float32), axis=-1)


def conditional_head(module: nn.Module, features: jax.Array, logits: jax.Array,
                     labels: Optional[jax.Array], wrap: Callable):
  """A discriminator's output from its last features phi(x) [B, F] and its
  real/fake logits [B], by `module.conditioning` when `module.num_classes`:
  the logits as they are (unconditional, or 'concat', whose labels went in
  with x), plus the projection term ('projection'), or (logits, class logits
  float32 [B, num_classes]) of ACGAN's auxiliary classifier ('acgan'). Called
  inside `module`'s compact method; `wrap` wraps the new layers (spectral
  normalisation)."""
  if not module.num_classes or module.conditioning == 'concat':
    return logits
  if module.conditioning == 'projection':
    return logits + projection(features, labels, module.num_classes, wrap)
  class_logits = wrap(nn.Dense(module.num_classes, dtype=module.dtype,
                               name='auxiliary_classifier'))(features)
  return logits, class_logits.astype(jnp.float32)


class SelfAttention(nn.Module):
  """Self-attention (SAGAN, Zhang et al. 2019) in the form BigGAN's code
  gives it (ajbrock/BigGAN-PyTorch layers.Attention; torch_mimicry's
  SelfAttention): x [B, H, W, C] -> x + gamma * o(softmax(theta(x)
  phi(x)^T) g(x)), where theta and phi are 1x1 convs to C/8 channels, g one
  to C/2, phi and g are 2x2 max-pooled (the keys and values are a quarter
  of the positions), o is a 1x1 conv back to C, all without bias, and the
  learned scalar gamma starts at 0 (the block starts as the identity).
  H and W must be even; `spectral_norm` normalises the four convs."""
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    batch, height, width, channels = x.shape
    if channels < 8:
      raise ConfigError(f'self-attention needs at least 8 channels (its queries and keys '
                        f'have C/8), got {channels} at {height}x{width}; raise '
                        'config.model.g_width_ratio / d_width_ratio or set '
                        'config.model.attention_resolution=0')

    def conv(features, name):
      layer = nn.Conv(features, (1, 1), use_bias=False, dtype=self.dtype, name=name)
      return spectral_norm(layer, self.spectral_norm, train)

    pool = lambda h: nn.max_pool(h, (2, 2), strides=(2, 2))
    queries = conv(channels // 8, 'theta')(x).reshape(batch, height * width, -1)
    keys = pool(conv(channels // 8, 'phi')(x)).reshape(batch, height * width // 4, -1)
    values = pool(conv(channels // 2, 'g')(x)).reshape(batch, height * width // 4, -1)
    attention = jax.nn.softmax(jnp.einsum('bqc,bkc->bqk', queries, keys), axis=-1)
    attended = jnp.einsum('bqk,bkc->bqc', attention, values)
    attended = conv(channels, 'o')(attended.reshape(batch, height, width, -1))
    gamma = self.param('gamma', nn.initializers.zeros, ())
    return x + gamma.astype(x.dtype) * attended


INITS = ('default', 'orthogonal')


def orthogonal_init(params, key: jax.Array):
  """`params` with every kernel (viewed as a [fan_in, out] matrix) and every
  embedding table drawn orthogonal (Saxe et al. 2014) and the biases of
  those kernels' layers set to 0, as StudioGAN's BigGAN initialises its
  convolutions, linear layers and embeddings (`init_weights('ortho')`:
  init.orthogonal_, gain 1, zero biases). Norms are kept, the per-class
  gains and biases of `ConditionalBatchNorm` included (its 'gain' and
  'bias' tables start at 1 and 0). Each leaf draws from `key` folded with
  its position in the tree."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  draw = nn.initializers.orthogonal()
  with_kernel = {tuple(path[:-1]) for path, _ in leaves
                 if getattr(path[-1], 'key', None) == 'kernel'}
  new = []
  for index, (path, leaf) in enumerate(leaves):
    name = getattr(path[-1], 'key', None)
    parent = getattr(path[-2], 'key', None) if len(path) > 1 else None
    if (name == 'kernel' or (name == 'embedding' and parent not in ('gain', 'bias'))) \
        and leaf.ndim >= 2:
      matrix = draw(jax.random.fold_in(key, index),
                    (int(np.prod(leaf.shape[:-1])), leaf.shape[-1]), leaf.dtype)
      leaf = matrix.reshape(leaf.shape)
    elif name == 'bias' and tuple(path[:-1]) in with_kernel:
      leaf = jnp.zeros_like(leaf)
    new.append(leaf)
  return jax.tree_util.tree_unflatten(treedef, new)
