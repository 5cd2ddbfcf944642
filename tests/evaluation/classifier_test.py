"""Tests of the evaluator classifier: deterministic training, the cache, the API.

The fast tests train on 256 generated MNIST-shaped images for a few steps
(one compile of the step, shared by every test); the slow ones run the CLI,
and train the real classifiers on the real data and check the accuracy the
metrics rely on.
"""
import json
import logging
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax.config import defaults
from gan_jax.data import batching
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier, classifier_net, classifier_training
from gan_jax.data import tfds_images

_NUM_EXAMPLES = 256   # two steps of 128 per epoch
_NUM_STEPS = 4


def _data_config(dataset, data_dir):
  config = defaults.get_config().data
  config.update(dataset=dataset, data_dir=data_dir, download=False)
  return config


@pytest.fixture(scope='module')
def tiny_mnist(mnist_like_dir):
  """uint8 images [256, 28, 28, 1] and labels [256] of a generated 'mnist'."""
  return tfds_images.load_split(
      _data_config('mnist', mnist_like_dir), f'train[:{_NUM_EXAMPLES}]',
      with_labels=True)


@pytest.fixture(scope='module')
def tiny_variables(tiny_mnist):
  return classifier_training.train(*tiny_mnist, num_steps=_NUM_STEPS, seed=0)


def _tree_equal(a, b) -> bool:
  return jax.tree.structure(a) == jax.tree.structure(b) and all(
      np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _info(**overrides):
  info = dict(version=classifier.VERSION, dataset='mnist', seed=0,
              test_accuracy=0.5, train_seconds=1.0, epochs=1, backend='cpu')
  info.update(overrides)
  return info


def test_training_is_deterministic_in_the_seed(tiny_mnist, tiny_variables):
  again = classifier_training.train(*tiny_mnist, num_steps=_NUM_STEPS, seed=0)
  other = classifier_training.train(*tiny_mnist, num_steps=_NUM_STEPS, seed=1)
  assert _tree_equal(again, tiny_variables)
  assert not _tree_equal(other, tiny_variables)
  # Training moved the parameters and the BatchNorm statistics.
  initial = classifier_training.init_variables(0)
  for collection in ('params', 'batch_stats'):
    moved = jax.tree.map(lambda a, b: not np.array_equal(a, b),
                         initial[collection], tiny_variables[collection])
    assert all(jax.tree.leaves(moved))


def test_random_shift_translates_within_bounds():
  images = np.zeros((64, 28, 28, 1), np.uint8)
  images[:, 14, 14] = 255
  shifted = classifier_training.random_shift(np.random.default_rng(0), images, max_shift=2)
  assert shifted.shape == images.shape and shifted.dtype == np.uint8
  rows, cols = np.nonzero(shifted[..., 0])[1:]
  assert len(rows) == 64   # the pixel is never shifted out
  assert set(rows) == set(cols) == set(range(12, 17))


def test_features_and_logits_shapes_and_chunks(tiny_mnist, tiny_variables,
                                               monkeypatch):
  clf = classifier.Classifier('mnist', 0.5, tiny_variables)
  images = np.asarray(batching.preprocess(tiny_mnist[0][:20]))
  features, logits = clf.features_and_logits(images)
  assert features.shape == (20, classifier_net.FEATURE_DIM) == (20, clf.feature_dim)
  assert logits.shape == (20, 10)
  assert features.dtype == logits.dtype == np.float32
  assert (features >= 0).all()  # post-ReLU activations
  # Rows are independent of the chunking and of the padding of the last chunk.
  monkeypatch.setattr(classifier_net, '_CHUNK', 8)
  chunked = clf.features_and_logits(images)
  np.testing.assert_allclose(chunked[0], features, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(chunked[1], logits, rtol=1e-5, atol=1e-5)
  # uint8 input is the same image; the pure apply_fn runs inside jit.
  from_uint8 = clf.features_and_logits(tiny_mnist[0][:20])
  np.testing.assert_allclose(from_uint8[1], logits, rtol=1e-5, atol=1e-5)
  jitted = jax.jit(clf.apply_fn)(clf.variables, images[:8])
  np.testing.assert_allclose(jitted[1], logits[:8], rtol=1e-5, atol=1e-5)
  # 64x64 samples (the dcgan64 generator's) are resized to 28x28.
  resized = clf.features_and_logits(np.zeros((3, 64, 64, 1), np.float32))
  assert resized[0].shape == (3, classifier_net.FEATURE_DIM)
  empty = clf.features_and_logits(np.zeros((0, 28, 28, 1), np.float32))
  assert empty[0].shape == (0, classifier_net.FEATURE_DIM) and empty[1].shape == (0, 10)
  with pytest.raises(ValueError, match=r'\[N, H, W, 1\]'):
    clf.features_and_logits(np.zeros((2, 28, 28, 3), np.float32))


def test_unknown_dataset_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match='supported: mnist, fashion_mnist'):
    classifier.load_or_train('cifar10', cache_dir=str(tmp_path))
  with pytest.raises(ConfigError):
    classifier.cache_path('stacked_mnist')


def test_cache_path(tmp_path, monkeypatch):
  monkeypatch.delenv('GAN_JAX_CACHE', raising=False)
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))
  assert classifier.cache_path('mnist') == str(
      tmp_path / 'home' / '.cache' / 'gan_jax' / 'classifiers' / 'mnist')
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'env'))
  assert classifier.cache_path('fashion_mnist') == str(
      tmp_path / 'env' / 'classifiers' / 'fashion_mnist')
  assert classifier.cache_path('mnist', str(tmp_path / 'arg'), seed=3) == str(
      tmp_path / 'arg' / 'classifiers' / 'mnist-seed3')


def test_cache_round_trip(tmp_path, tiny_mnist, tiny_variables, monkeypatch):
  path = classifier.cache_path('mnist', str(tmp_path))
  classifier._save(path, tiny_variables, _info(test_accuracy=0.25))
  monkeypatch.setattr(classifier_training, 'train', _no_training)
  loaded = classifier.load_or_train('mnist', cache_dir=str(tmp_path))
  assert loaded.dataset == 'mnist' and loaded.test_accuracy == 0.25
  assert _tree_equal(loaded.variables, tiny_variables)
  images = tiny_mnist[0][:16]
  expected = classifier.Classifier('mnist', 0.25, tiny_variables)
  for got, want in zip(loaded.features_and_logits(images),
                       expected.features_and_logits(images)):
    np.testing.assert_array_equal(got, want)
  assert sorted(os.listdir(tmp_path / 'classifiers')) == ['mnist']


def _no_training(*args, **kwargs):
  raise AssertionError('trained although a valid cache exists')


def _corrupt_bytes(path):
  with open(os.path.join(path, 'variables.msgpack'), 'wb') as f:
    f.write(b'\x00 not msgpack')


def _truncate(path):
  file = os.path.join(path, 'variables.msgpack')
  with open(file, 'rb') as f:
    data = f.read()
  with open(file, 'wb') as f:
    f.write(data[:len(data) // 2])


def _drop_info(path):
  os.remove(os.path.join(path, 'info.json'))


def _old_version(path):
  with open(os.path.join(path, 'info.json'), 'w') as f:
    json.dump(_info(version=classifier.VERSION - 1), f)


@pytest.mark.parametrize('damage', [_corrupt_bytes, _truncate, _drop_info,
                                    _old_version])
def test_bad_cache_is_retrained(damage, tmp_path, tiny_mnist, tiny_variables,
                                monkeypatch, caplog):
  path = classifier.cache_path('mnist', str(tmp_path))
  classifier._save(path, tiny_variables, _info())
  damage(path)
  # Retraining reads the tiny subset instead of the whole split, 1 epoch.
  monkeypatch.setattr(classifier.tfds_images, 'load_split',
                      lambda *args, **kwargs: tiny_mnist)
  monkeypatch.setattr(classifier_training, 'EPOCHS', 1)
  with caplog.at_level(logging.WARNING):
    retrained = classifier.load_or_train('mnist', cache_dir=str(tmp_path))
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1 and 'retraining' in warnings[0], warnings
  assert retrained.info['num_steps'] == _NUM_EXAMPLES // 128
  # The new cache replaced the bad one, and nothing else is left beside it.
  monkeypatch.setattr(classifier_training, 'train', _no_training)
  reloaded = classifier.load_or_train('mnist', cache_dir=str(tmp_path))
  assert _tree_equal(reloaded.variables, retrained.variables)
  assert reloaded.test_accuracy == retrained.test_accuracy
  assert sorted(os.listdir(tmp_path / 'classifiers')) == ['mnist']


def test_interrupted_save_leaves_no_cache(tmp_path, tiny_variables, monkeypatch):
  path = classifier.cache_path('mnist', str(tmp_path))

  def interrupted(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(classifier.json, 'dump', interrupted)
  with pytest.raises(KeyboardInterrupt):
    classifier._save(path, tiny_variables, _info())
  assert os.listdir(tmp_path / 'classifiers') == []


def _run_cli(args, repo_dir, tfds_data_dir):
  env = dict(os.environ, TFDS_DATA_DIR=tfds_data_dir, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, '-m', 'gan_jax.evaluation.classifier'] + args,
                        cwd=repo_dir, env=env, capture_output=True, text=True,
                        timeout=300)


@pytest.mark.slow  # two fresh processes importing TensorFlow and JAX
def test_cli(tmp_path, tiny_variables, repo_dir, mnist_like_dir):
  path = classifier.cache_path('mnist', str(tmp_path))
  classifier._save(path, tiny_variables, _info(test_accuracy=0.99412))
  result = _run_cli(['--dataset=mnist', f'--cache_dir={tmp_path}'], repo_dir,
                    mnist_like_dir)
  assert result.returncode == 0, result.stderr[-2000:]
  evaluator_id = classifier._evaluator_id('mnist', tiny_variables)
  assert evaluator_id.startswith('mnist-cnn-v1-')
  assert result.stdout.strip().splitlines() == [
      f'mnist classifier: test accuracy 0.9941, trained in 1 s (1 epochs on '
      f'cpu), evaluator id {evaluator_id}, cache {path}']
  result = _run_cli(['--dataset=cifar10'], repo_dir, mnist_like_dir)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "error: no evaluator classifier for dataset 'cifar10'; supported: "
      'mnist, fashion_mnist')


@pytest.mark.slow
@pytest.mark.parametrize('dataset, target', [('mnist', 0.993),
                                             ('fashion_mnist', 0.91)])
def test_full_classifier_accuracy(dataset, target, tmp_path, tfds_data_dir):
  trained = classifier.load_or_train(dataset, data_dir=tfds_data_dir,
                                     cache_dir=str(tmp_path))
  assert trained.test_accuracy >= target
  # The cached copy gives the same accuracy on the test split.
  test_images, test_labels = tfds_images.load_split(
      _data_config(dataset, tfds_data_dir), 'test', with_labels=True)
  loaded = classifier.load_or_train(dataset, cache_dir=str(tmp_path))
  assert classifier.accuracy(loaded.variables, test_images, test_labels) == (
      trained.test_accuracy)
