"""How the evaluation samples a generator: the latent draws of a run's
evaluations (`latent_key`), G applied for sampling with batch norm by batch
or running statistics (`generator_apply`), in chunks of 1,000
(`generator_sampler`, `apply_in_chunks`), and the classes a
class-conditional G is asked for (`evaluation_labels`). Training-time
evaluation, `gan_jax.evaluate` and `gan_jax.generate` all sample through
here, so their samples agree.
"""
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.models import layers
from gan_jax.evaluation import protocol as protocol_lib

# Generator samples per jitted call; the last call is padded, so one compile.
_SAMPLE_CHUNK = 1000

# sample(key, n[, labels]) -> samples [n, ...], float32 numpy.
SampleFn = Callable[..., np.ndarray]


def evaluation_labels(num_classes: int, n: int) -> Optional[np.ndarray]:
  """The classes an evaluation asks a conditional G for: int32 [n], sample i
  of class i mod num_classes (balanced); None when num_classes is 0."""
  if not num_classes:
    return None
  return (np.arange(n) % num_classes).astype(np.int32)


def latent_key(seed: int) -> jax.Array:
  """The key of the evaluation's latent draws: the same at every evaluation
  of a run (training-time and `gan_jax.evaluate`), so scores are comparable."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), 0xE7A1)


def generator_apply(gan, bn_stats: str) -> Callable:
  """`apply(params, batch_stats, z, labels=None) -> samples` of G for
  sampling: batch norm by the batch's own statistics ('batch'; the running
  averages are left as they are) or by the running averages ('running'); see
  gan_jax/config/defaults.py. `labels` (int32 [B], class-conditional G only) is
  passed on as G's `labels` keyword; None calls G without it."""
  if bn_stats not in protocol_lib.BN_STATS:
    raise ConfigError(f"config.eval.bn_stats must be 'batch' or 'running', "
                      f"got '{bn_stats}'")
  condition = lambda labels: {} if labels is None else {'labels': labels}
  if bn_stats == 'running':
    return lambda params, stats, z, labels=None: gan.generator.apply(
        {'params': params, 'batch_stats': stats}, z, train=False, **condition(labels))
  # Statistics of this batch only, not synchronised over a pmap axis (a G
  # without batch norm, such as the maxout MLP's, has no axis to drop).
  generator = gan.generator
  if hasattr(generator, 'axis_name'):
    generator = generator.clone(axis_name=None)

  def apply(params, stats, z, labels=None):
    samples, _ = generator.apply({'params': params, 'batch_stats': stats}, z,
                                 train=True, mutable=['batch_stats'], **condition(labels))
    return samples

  return apply


def _chunk_keys(key: jax.Array, n: int):
  """The key of each chunk of `_SAMPLE_CHUNK` codes that n samples need."""
  return [jax.random.fold_in(key, i) for i in range(-(-n // _SAMPLE_CHUNK))]


def _latent_chunk(key: jax.Array, latent_dim: int, distribution: str) -> jax.Array:
  return layers.sample_latent(key, _SAMPLE_CHUNK, latent_dim, distribution=distribution)


def latent_chunks(key: jax.Array, n: int, latent_dim: int,
                  distribution: str = 'normal') -> jax.Array:
  """Every code z that `generator_sampler(...)(key, n)` feeds G, float32
  [ceil(n / 1000) * 1000, latent_dim]: n rounded up to whole chunks, because
  batch norm by batch statistics ('batch') normalises over a whole chunk, so
  the rows after n shape the first n samples too."""
  return jnp.concatenate([_latent_chunk(k, latent_dim, distribution)
                          for k in _chunk_keys(key, n)])


def apply_in_chunks(apply: Callable, params, batch_stats, z: jax.Array,
                    labels=None) -> np.ndarray:
  """G's outputs for codes z [N, latent_dim], float32 numpy, G called on
  consecutive chunks of 1,000 (the last one smaller), the batches of
  `generator_sampler`. `apply` as `generator_apply`'s (jitted by the
  caller); `labels` (class-conditional G only): every sample's class, an int
  or int32 [N]."""
  if labels is not None:
    labels = np.broadcast_to(np.asarray(labels, np.int32), (len(z),))
  out = []
  for start in range(0, len(z), _SAMPLE_CHUNK):
    chunk = z[start:start + _SAMPLE_CHUNK]
    chunk_labels = None if labels is None else jnp.asarray(
        labels[start:start + _SAMPLE_CHUNK])
    out.append(apply(params, batch_stats, chunk, chunk_labels))
  return np.concatenate(jax.device_get(out))


def generator_sampler(gan, params, batch_stats, latent_dim: int,
                      bn_stats: str = 'batch',
                      latent_distribution: str = 'normal') -> SampleFn:
  """`sample(key, n[, labels])`: n generator outputs, float32 numpy, in
  chunks of 1,000 (batch norm: see `generator_apply`; z:
  `layers.sample_latent`). A class-conditional G needs `labels`, int32 [n]
  (`evaluation_labels`); an unconditional one takes none."""
  apply = generator_apply(gan, bn_stats)

  @jax.jit
  def chunk(params, batch_stats, key, labels):
    return apply(params, batch_stats,
                 _latent_chunk(key, latent_dim, latent_distribution), labels)

  def sample(key: jax.Array, n: int, labels: Optional[np.ndarray] = None) -> np.ndarray:
    if (labels is None) != (not gan.num_classes):
      raise ValueError(f'labels are {"missing" if labels is None else "given"} '
                       f'for a G with num_classes={gan.num_classes}')
    if labels is not None:  # padded to whole chunks, as z is
      labels = np.resize(np.asarray(labels, np.int32), -(-n // _SAMPLE_CHUNK) * _SAMPLE_CHUNK)
    out = [chunk(params, batch_stats, k, None if labels is None else
                 labels[i * _SAMPLE_CHUNK:(i + 1) * _SAMPLE_CHUNK])
           for i, k in enumerate(_chunk_keys(key, n))]
    return np.concatenate(jax.device_get(out))[:n]

  return sample
