"""The evaluator classifiers shipped with gan_jax, and their test statistics.

FIDs are comparable only within one feature space. gan_jax therefore ships
the weights of its MNIST and Fashion-MNIST classifiers (classifier.py's
network, trained once by `python -m gan_jax.evaluation.classifier
--dataset=D --ship`) as package data, each named by an *evaluator id*:
`<dataset>-cnn-v<recipe version>-<first 12 hex digits of the weights'
sha256>`. Every evaluation records that id; a classifier retrained on
another machine has other weights, so another id, and `gan_jax.report`
refuses to average numbers measured with different ones.

Beside each weights file: the Gaussian statistics (mean [128], covariance
[128, 128], float64) of the test split's features, so FID needs no pass over
the real data, and in the manifest a check value, the FID between the two
halves of the test split, that a fresh machine can recompute.

Files (gan_jax/evaluation/shipped/): manifest.json, <dataset>.msgpack (flax
serialisation of the CNN's variables), <dataset>_test_stats.npz. Each file's
sha256 is in the manifest and is checked when it is read.
"""
import hashlib
import io
import json
import os
from typing import Any, Dict, Tuple

import numpy as np

from gan_jax.errors import GanJaxError
from gan_jax.workdir import atomic

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'shipped')
MANIFEST = 'manifest.json'


class ShippedFileError(GanJaxError):
  """A shipped evaluator file is missing or differs from its manifest entry."""


def evaluator_id(dataset: str, version: int, weights: bytes) -> str:
  """`<dataset>-cnn-v<version>-<sha256 of the weights, 12 hex digits>`."""
  return f'{dataset}-cnn-v{version}-{hashlib.sha256(weights).hexdigest()[:12]}'


def manifest(directory: str = SHIPPED_DIR) -> Dict[str, Any]:
  """The manifest: {'classifiers': {dataset: entry}}, {} entries if none."""
  path = os.path.join(directory, MANIFEST)
  if not os.path.exists(path):
    return {'classifiers': {}}
  with open(path) as f:
    return json.load(f)


def entry(dataset: str, directory: str = SHIPPED_DIR) -> Dict[str, Any]:
  """The manifest entry of `dataset`'s shipped classifier.

  Raises ShippedFileError when gan_jax ships none for it."""
  entries = manifest(directory)['classifiers']
  if dataset not in entries:
    raise ShippedFileError(
        f'gan_jax ships no {dataset} evaluator (it has: '
        f"{', '.join(sorted(entries)) or 'none'}); set --config.eval.classifier="
        'trained to train one on this machine')
  return entries[dataset]


def read_checked(name: str, sha256: str, directory: str = SHIPPED_DIR) -> bytes:
  """The bytes of a shipped file, after checking its sha256."""
  path = os.path.join(directory, name)
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise ShippedFileError(f'the shipped evaluator file {path} is unreadable '
                           f'({e.strerror}); reinstall gan_jax') from None
  digest = hashlib.sha256(data).hexdigest()
  if digest != sha256:
    raise ShippedFileError(f'the shipped evaluator file {path} has sha256 '
                           f'{digest[:12]}..., its manifest says {sha256[:12]}...; '
                           'reinstall gan_jax')
  return data


def weights(dataset: str, directory: str = SHIPPED_DIR) -> Tuple[bytes, Dict[str, Any]]:
  """(serialised variables, manifest entry) of the shipped `dataset` classifier."""
  info = entry(dataset, directory)
  return read_checked(info['weights'], info['sha256'], directory), info


def test_statistics(dataset: str, directory: str = SHIPPED_DIR
                    ) -> Tuple[np.ndarray, np.ndarray]:
  """(mean float64 [D], covariance float64 [D, D]) of the shipped classifier's
  features of `dataset`'s test split."""
  reference = entry(dataset, directory)['reference']
  data = read_checked(reference['file'], reference['sha256'], directory)
  with np.load(io.BytesIO(data)) as stats:
    return stats['mean'], stats['covariance']


def write(dataset: str, version: int, weights_bytes: bytes,
          mean: np.ndarray, covariance: np.ndarray, info: Dict[str, Any],
          directory: str = SHIPPED_DIR) -> Dict[str, Any]:
  """Writes a classifier's weights and test statistics and records them (with
  `info`: accuracy, training facts, the check value) in the manifest.
  Returns the new manifest entry."""
  os.makedirs(directory, exist_ok=True)
  weights_name, stats_name = f'{dataset}.msgpack', f'{dataset}_test_stats.npz'
  with atomic.replace(os.path.join(directory, weights_name), 'wb') as f:
    f.write(weights_bytes)
  stats_path = os.path.join(directory, stats_name)
  with atomic.replace(stats_path, 'wb') as f:
    np.savez(f, mean=np.asarray(mean, np.float64),
             covariance=np.asarray(covariance, np.float64))
  with open(stats_path, 'rb') as f:
    stats_sha = hashlib.sha256(f.read()).hexdigest()
  new = dict(info, evaluator_id=evaluator_id(dataset, version, weights_bytes),
             version=version, weights=weights_name,
             sha256=hashlib.sha256(weights_bytes).hexdigest())
  # A first shipping has no reference entry yet.
  new['reference'] = dict(info.get('reference', {}), file=stats_name, sha256=stats_sha)
  current = manifest(directory)
  current['classifiers'][dataset] = new
  with atomic.replace(os.path.join(directory, MANIFEST)) as f:
    json.dump(current, f, indent=2, sort_keys=True)
    f.write('\n')
  return new
