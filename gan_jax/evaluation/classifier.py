"""The evaluator classifiers: small CNNs whose feature space defines the metrics.

FID, KID, the IS-style score and the Stacked-MNIST mode count need a fixed
embedding network. Inception weights cannot be had offline, so gan_jax has
its own classifier per data set (MNIST, Fashion-MNIST): the penultimate
activations are the features [N, 128], the class logits [N, 10] give the
IS-style score and the digit read from each Stacked-MNIST channel. Numbers
measured in this space are comparable between evaluations with the same
evaluator id (shipped.py), NOT with Inception-FIDs in papers.

Two sources (`get`, config.eval.classifier):
  'shipped'  the weights shipped with gan_jax (shipped.py): no training, the
             same evaluator id on every machine. The default.
  'trained'  a classifier trained on this machine by the recipe below and
             cached; its weights, and so its evaluator id, differ from the
             shipped ones.

Recipe: a conv32-pool-conv64-pool-conv128-dense128-dense10 network with
BatchNorm, Adam (2e-3, cosine-decayed to 0), random shifts of up to 2 px, 4
epochs of batches of 128 over the train split. The shipped weights (seed 0,
trained by this recipe on 2 CPU cores, JAX 0.10.2) reach 99.45% test
accuracy on MNIST and 91.77% on Fashion-MNIST. The recipe is deterministic
on one machine and software stack, not across them -- hence the evaluator
ids, which name the weights. Test accuracy is measured on the test split after the last
epoch (never used to select anything). The first convolution is the
only one at 28x28 and has a single input channel: a wider one there makes
the step several times slower on XLA:CPU, where the kernel gradient of a
many-channel stride-1 convolution is the slow op.

The cache lives in `cache_path(dataset)`:
  `$GAN_JAX_CACHE` if set, else `~/.cache/gan_jax` (or an explicit
  `cache_dir`, config.eval.classifier_dir), then `classifiers/<dataset>/`,
holding `variables.msgpack` (flax serialisation) and `info.json` (accuracy,
seed, training time, recipe version). It is written to a temporary directory
and renamed into place, so an interrupted training leaves no half cache; an
unreadable or outdated cache is reported in one line and retrained.

The network and its inference are in classifier_net.py, the training in
classifier_training.py; this module holds `Classifier`, the cache and the CLI.

CLI: python -m gan_jax.evaluation.classifier --dataset=mnist [--data_dir=DIR]
         [--cache_dir=DIR] [--retrain] [--ship]
`--ship` writes the (cached or newly trained) classifier, its test-split
statistics and check value into gan_jax's shipped files: how the shipped
evaluators were made.
"""
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Optional, Tuple

from absl import app
from absl import flags
from absl import logging
from flax import serialization
import jax
import numpy as np

from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.evaluation import cache, classifier_training, metrics, protocol, shipped
from gan_jax.evaluation.classifier_net import (
    FEATURE_DIM, IMAGE_SHAPE, Variables, accuracy, apply_fn, batched_forward, template)
from gan_jax.data import tfds_images

SUPPORTED_DATASETS = protocol.CLASSIFIER_DATASETS
SOURCES = ('shipped', 'trained')

# Bump when the architecture or the recipe changes: caches of another version
# are retrained instead of silently giving different features.
VERSION = 1

_VARIABLES_FILE = 'variables.msgpack'
_INFO_FILE = 'info.json'


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A trained evaluator classifier (see `load_or_train`)."""
  dataset: str
  test_accuracy: float
  variables: Variables = dataclasses.field(repr=False, compare=False)
  # <dataset>-cnn-v<version>-<weights' sha256 prefix> (shipped.evaluator_id).
  evaluator_id: str = ''
  shipped: bool = False
  info: Dict[str, Any] = dataclasses.field(repr=False, compare=False,
                                           default_factory=dict)
  # `apply_fn(variables, images)`, pure: for use inside other jitted code.
  apply_fn: Callable[..., Tuple[jax.Array, jax.Array]] = dataclasses.field(
      default=apply_fn, repr=False, compare=False)

  @property
  def feature_dim(self) -> int:
    return FEATURE_DIM

  def features_and_logits(self, images) -> Tuple[np.ndarray, np.ndarray]:
    """images [N, H, W, 1] (float32 in [-1, 1]; see `apply_fn`) ->
    (features float32 [N, 128], logits float32 [N, 10]), in jitted chunks."""
    # On the host: slicing a device array would compile a kernel per shape.
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != IMAGE_SHAPE[-1]:
      raise ValueError(f'the {self.dataset} classifier takes grayscale images '
                       f'[N, H, W, 1], got shape {tuple(images.shape)}')
    return batched_forward(self.variables, images)


def _check_dataset(dataset: str) -> None:
  if dataset not in SUPPORTED_DATASETS:
    raise ConfigError(f"no evaluator classifier for dataset '{dataset}'; "
                      f"supported: {', '.join(SUPPORTED_DATASETS)}")


def cache_path(dataset: str, cache_dir: Optional[str] = None, seed: int = 0) -> str:
  """Directory of the cached classifier: <cache_dir or $GAN_JAX_CACHE or
  ~/.cache/gan_jax>/classifiers/<dataset> (<dataset>-seed<k> for seed k != 0)."""
  _check_dataset(dataset)
  name = dataset if seed == 0 else f'{dataset}-seed{seed}'
  return os.path.join(cache.root(cache_dir), 'classifiers', name)


class _StaleCache(Exception):
  """The cache holds another dataset, seed or recipe version."""


def _load(path: str, dataset: str, seed: int) -> Classifier:
  with open(os.path.join(path, _INFO_FILE)) as f:
    info = json.load(f)
  expected = dict(version=VERSION, dataset=dataset, seed=seed)
  found = {k: info.get(k) for k in expected}
  if found != expected:
    raise _StaleCache(f'it holds {found}, wanted {expected}')
  with open(os.path.join(path, _VARIABLES_FILE), 'rb') as f:
    variables = _from_bytes(f.read())
  return Classifier(dataset=dataset, test_accuracy=float(info['test_accuracy']),
                    variables=jax.device_put(variables), info=info,
                    evaluator_id=_evaluator_id(dataset, variables))


def _evaluator_id(dataset: str, variables: Variables) -> str:
  return shipped.evaluator_id(dataset, VERSION, serialization.to_bytes(
      jax.device_get(variables)))


def _from_bytes(data: bytes) -> Variables:
  expected_tree = template()
  variables = serialization.from_bytes(expected_tree, data)
  # from_bytes checks the tree's keys, not the arrays' shapes.
  shapes = jax.tree.map(lambda a: (tuple(a.shape), np.dtype(a.dtype)), variables)
  if shapes != jax.tree.map(lambda a: (a.shape, np.dtype(a.dtype)), expected_tree):
    raise ValueError('array shapes differ from the CNN\'s')
  return variables


def load_shipped(dataset: str, directory: str = shipped.SHIPPED_DIR) -> Classifier:
  """The classifier shipped with gan_jax for `dataset` (no data, no training).

  Raises ConfigError (unknown dataset) or shipped.ShippedFileError (none
  shipped, a file missing or not matching its sha256, another recipe)."""
  _check_dataset(dataset)
  data, info = shipped.weights(dataset, directory)
  # A manifest entry of another recipe may lack the field: a mismatch too.
  if info.get('version') != VERSION:
    raise shipped.ShippedFileError(
        f"the shipped {dataset} evaluator is of recipe version {info.get('version')}, "
        f'this gan_jax computes version {VERSION}; reinstall gan_jax')
  return Classifier(dataset=dataset, test_accuracy=float(info['test_accuracy']),
                    variables=jax.device_put(_from_bytes(data)), info=info,
                    evaluator_id=info['evaluator_id'], shipped=True)


def get(dataset: str, source: str = 'shipped', data_dir: Optional[str] = None,
        cache_dir: Optional[str] = None) -> Classifier:
  """The evaluator classifier of `dataset` from `source` ('shipped' or
  'trained', see the module docstring)."""
  if source not in SOURCES:
    raise ConfigError(f"config.eval.classifier must be 'shipped' or 'trained', "
                      f"got '{source}'")
  if source == 'shipped':
    return load_shipped(dataset)
  return load_or_train(dataset, data_dir=data_dir, cache_dir=cache_dir)


def _save(path: str, variables: Variables, info: Dict[str, Any]) -> None:
  """Writes the cache into a fresh directory and renames it to `path`."""
  parent, name = os.path.split(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f'.{name}.tmp-', dir=parent)
  try:
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide a shared cache
    with open(os.path.join(tmp, _VARIABLES_FILE), 'wb') as f:
      f.write(serialization.to_bytes(variables))
    with open(os.path.join(tmp, _INFO_FILE), 'w') as f:
      json.dump(info, f, indent=2)
  except BaseException:  # incl. KeyboardInterrupt: no litter, then re-raise
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  if os.path.lexists(path):  # a stale or corrupt cache: set aside, then drop
    old = tempfile.mkdtemp(prefix=f'.{name}.old-', dir=parent)
    os.rename(path, os.path.join(old, name))
    shutil.rmtree(old)
  os.rename(tmp, path)


def load_or_train(dataset: str, data_dir: Optional[str] = None,
                  cache_dir: Optional[str] = None, seed: int = 0,
                  retrain: bool = False) -> Classifier:
  """The cached classifier of `dataset`, or a new one trained and cached.

  Args:
    dataset: one of SUPPORTED_DATASETS.
    data_dir: TFDS data_dir; None: $TFDS_DATA_DIR, else TFDS's default.
    cache_dir: cache root; None: $GAN_JAX_CACHE, else ~/.cache/gan_jax.
    seed: training seed (part of the cache's identity).
    retrain: train even if a valid cache exists, and replace it.
  Raises:
    ConfigError: unknown dataset; DataNotFoundError: the data is not there.
  """
  path = cache_path(dataset, cache_dir, seed)
  if not retrain and os.path.isdir(path):
    try:
      classifier = _load(path, dataset, seed)
      logging.info('Loaded the %s classifier (test accuracy %.4f) from %s',
                   dataset, classifier.test_accuracy, path)
      return classifier
    except _StaleCache as e:
      logging.warning('The cached %s classifier in %s is outdated (%s); '
                      'retraining', dataset, path, e)
    except (OSError, ValueError, KeyError, TypeError) as e:  # bad files
      logging.warning('The cached %s classifier in %s is unreadable (%s: %s); '
                      'retraining', dataset, path, type(e).__name__, e)

  data_config = tfds_images.as_stored(dataset, data_dir)
  images, labels = tfds_images.load_split(
      data_config, 'train', with_labels=True)
  test = tfds_images.load_split(
      data_config, 'test', with_labels=True)
  epochs, batch_size = classifier_training.EPOCHS, classifier_training.BATCH_SIZE
  num_steps = epochs * (len(images) // batch_size)
  logging.info('Training the %s classifier: %d epochs, %d steps of %d, seed %d',
               dataset, epochs, num_steps, batch_size, seed)
  start = time.perf_counter()
  variables = classifier_training.train(images, labels, num_steps, seed, test=test,
                                        name=f'{dataset} classifier')
  seconds = time.perf_counter() - start
  test_accuracy = accuracy(variables, *test)
  info = dict(version=VERSION, dataset=dataset, seed=seed,
              test_accuracy=test_accuracy, train_seconds=round(seconds, 1),
              epochs=epochs, num_steps=num_steps, batch_size=batch_size,
              feature_dim=FEATURE_DIM, jax_version=jax.__version__,
              backend=jax.default_backend(),
              created=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
  _save(path, variables, info)
  logging.info('Trained the %s classifier in %.0f s: test accuracy %.4f; '
               'cached in %s', dataset, seconds, test_accuracy, path)
  return Classifier(dataset=dataset, test_accuracy=test_accuracy,
                    variables=jax.device_put(variables), info=info,
                    evaluator_id=_evaluator_id(dataset, variables))


def ship(classifier: Classifier, data_dir: Optional[str] = None,
         directory: str = shipped.SHIPPED_DIR) -> Dict[str, Any]:
  """Writes `classifier` as gan_jax's shipped evaluator of its data set, with
  the Gaussian statistics of its test-split features and the check value
  (the FID between the two halves of the test split). Returns the manifest
  entry."""
  data_config = tfds_images.as_stored(classifier.dataset, data_dir, split='test')
  test = tfds_images.load_split(data_config, 'test')
  features, _ = classifier.features_and_logits(test)
  mean, covariance = metrics.gaussian_statistics(features)
  half = len(features) // 2
  info = {k: classifier.info[k] for k in ('seed', 'epochs', 'num_steps', 'batch_size',
                                          'train_seconds', 'jax_version', 'backend',
                                          'created') if k in classifier.info}
  info.update(dataset=classifier.dataset, test_accuracy=classifier.test_accuracy,
              reference=dict(split='test', num_examples=len(features)),
              check_fid_test_halves=metrics.fid(features[:half], features[half:]))
  return shipped.write(classifier.dataset, VERSION,
                       serialization.to_bytes(jax.device_get(classifier.variables)),
                       mean, covariance, info, directory)


def _define_flags() -> None:
  # Only when run as a program, not when the evaluator imports this module
  # into a training process that has flags of its own.
  flags.DEFINE_string('dataset', None,
                      f"Which classifier: {', '.join(SUPPORTED_DATASETS)}.")
  flags.DEFINE_string('data_dir', None, 'TFDS data_dir; default $TFDS_DATA_DIR.')
  flags.DEFINE_string('cache_dir', None, 'Cache root; default $GAN_JAX_CACHE, '
                      'else ~/.cache/gan_jax.')
  flags.DEFINE_integer('seed', 0, 'Training seed.')
  flags.DEFINE_bool('retrain', False, 'Train even if a cached classifier exists.')
  flags.DEFINE_bool('ship', False, "Write it as gan_jax's shipped evaluator "
                    '(weights, test statistics, manifest).')
  flags.mark_flags_as_required(['dataset'])


def main(argv):
  import tensorflow as tf  # here: only the program needs it
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  # TensorFlow only reads the data: keep it off accelerators.
  tf.config.set_visible_devices([], 'GPU')
  f = flags.FLAGS
  try:
    classifier = load_or_train(f.dataset, data_dir=f.data_dir,
                               cache_dir=f.cache_dir, seed=f.seed,
                               retrain=f.retrain)
    if f.ship:
      entry = ship(classifier, data_dir=f.data_dir)
      print(f"shipped {entry['evaluator_id']} to {shipped.SHIPPED_DIR}")
  except GanJaxError as e:
    sys.exit(f'error: {e}')
  info = classifier.info
  # The command's result, on stdout (progress goes to the log on stderr).
  print(f'{classifier.dataset} classifier: test accuracy '
        f'{classifier.test_accuracy:.4f}, trained in {info["train_seconds"]:.0f} s '
        f'({info["epochs"]} epochs on {info["backend"]}), evaluator id '
        f'{classifier.evaluator_id}, cache {cache_path(f.dataset, f.cache_dir, f.seed)}')


if __name__ == '__main__':
  _define_flags()
  app.run(main)
