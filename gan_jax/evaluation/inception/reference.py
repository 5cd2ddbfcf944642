"""The real side of the Inception metrics: the reference split's features,
computed once per (data set, split, resolution, evaluator) and cached, and
statistics files in pytorch-fid/TTUR format (an `.npz` with `mu` [2048] and
`sigma` [2048, 2048], such as TTUR's published fid_stats_cifar10_train.npz).

The cache, `<cache root>/inception/reference/<name>.npz`, holds the
features and the sha256 of the images they came from: a data set prepared
again (other images) is scored again, never read stale.
"""
import hashlib
import os
import re
from typing import Optional, Tuple

from absl import logging
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.evaluation.inception import features as features_lib
from gan_jax.evaluation.inception import weights as weights_lib
from gan_jax.workdir import atomic


def read_statistics(path: str) -> Tuple[np.ndarray, np.ndarray]:
  """(mu float64 [D], sigma float64 [D, D]) of a pytorch-fid/TTUR statistics
  file. Raises ConfigError for a missing file or one without them."""
  try:
    with np.load(os.path.expanduser(path)) as data:
      mu, sigma = np.asarray(data['mu'], np.float64), np.asarray(data['sigma'], np.float64)
  except (OSError, ValueError) as e:
    raise ConfigError(f'config.eval.reference_statistics={path} is unreadable '
                      f'({type(e).__name__}: {str(e)[:120]})') from None
  except KeyError:
    raise ConfigError(f'config.eval.reference_statistics={path} has no mu and '
                      'sigma arrays (pytorch-fid/TTUR .npz format)') from None
  if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
    raise ConfigError(f'config.eval.reference_statistics={path}: mu {mu.shape} '
                      f'and sigma {sigma.shape} are not [D] and [D, D]')
  return mu, sigma


def write_statistics(path: str, mu: np.ndarray, sigma: np.ndarray) -> None:
  """Writes (mu, sigma) in pytorch-fid/TTUR format (atomically)."""
  with atomic.replace(path, 'wb') as f:
    np.savez(f, mu=mu, sigma=sigma)


def cache_path(name: str, images: np.ndarray, evaluator_id: str,
               cache_root: Optional[str] = None) -> str:
  """<cache root>/inception/reference/<name>-<N>x<H>x<W>x<C>-<evaluator_id>.npz."""
  safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', name)
  shape = 'x'.join(str(d) for d in images.shape)
  return os.path.join(weights_lib.cache_dir(cache_root), 'reference',
                      f'{safe}-{shape}-{evaluator_id}.npz')


def features(network: features_lib.FIDInception, images: np.ndarray, name: str,
             cache_root: Optional[str] = None) -> np.ndarray:
  """Pool3 features float32 [N, 2048] of the real uint8 images [N, H, W, C]
  (`name`: the data set and split, e.g. 'cifar10-train'), read from the cache
  when it holds these very images, else computed and cached."""
  path = cache_path(name, images, network.evaluator_id, cache_root)
  # Hashed in place: a copy of CelebA's 2 GB would not fit beside it.
  fingerprint = hashlib.sha256(memoryview(np.ascontiguousarray(images)).cast('B')).hexdigest()
  if os.path.isfile(path):
    try:
      with np.load(path) as cached:
        if str(cached['images_sha256']) == fingerprint:
          logging.info('Reference Inception features of %s from %s', name, path)
          return np.asarray(cached['features'])
    except (OSError, ValueError, KeyError):
      pass   # damaged: computed again below
  logging.info('Computing the Inception features of %d %s images', len(images), name)
  result = network.features_and_logits(images)[0]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with atomic.replace(path, 'wb') as f:
    np.savez(f, features=result, images_sha256=np.array(fingerprint))
  return result
