"""The shipped evaluators: weights that match their manifest, reproduce their
recorded accuracy and check value, test statistics that match a fresh
computation, no training on first use, one-line errors for damaged files,
and FID∞."""
import json
import os
import shutil

import numpy as np
import pytest

from configs import mnist
from gan_jax.evaluation import classifier, classifier_training, metrics, shipped
from gan_jax.evaluation import evaluators
from gan_jax.data import stacked_mnist as stacked_mnist_lib
from gan_jax.data import tfds_images

SHIPPED = shipped.manifest()['classifiers']


@pytest.mark.parametrize('dataset', ['mnist', 'fashion_mnist'])
def test_shipped_weights_match_the_manifest(dataset):
  entry = SHIPPED[dataset]
  loaded = classifier.load_shipped(dataset)
  assert loaded.shipped and loaded.evaluator_id == entry['evaluator_id']
  assert entry['evaluator_id'] == shipped.evaluator_id(
      dataset, classifier.VERSION, shipped.weights(dataset)[0])
  assert entry['evaluator_id'].startswith(f'{dataset}-cnn-v{classifier.VERSION}-')
  # A few MB at most, as package data.
  size = os.path.getsize(os.path.join(shipped.SHIPPED_DIR, entry['weights']))
  assert size < 4_000_000
  mean, covariance = shipped.test_statistics(dataset)
  assert mean.shape == (128,) and covariance.shape == (128, 128)
  np.testing.assert_allclose(covariance, covariance.T)


@pytest.mark.parametrize('dataset,floor', [('mnist', 0.993), ('fashion_mnist', 0.91)])
def test_shipped_classifier_reproduces_its_accuracy_statistics_and_check_value(
    dataset, floor, tfds_data_dir):
  if not os.path.isdir(os.path.join(tfds_data_dir, dataset)):
    pytest.skip(f'prepared {dataset} not found')
  entry = SHIPPED[dataset]
  loaded = classifier.load_shipped(dataset)
  config = mnist.get_config()
  config.data.dataset, config.data.data_dir = dataset, tfds_data_dir
  images, labels = tfds_images.load_split(config.data, 'test', with_labels=True)
  accuracy = classifier.accuracy(loaded.variables, images, labels)
  assert accuracy == pytest.approx(entry['test_accuracy'], abs=2e-4) and accuracy >= floor
  features, _ = loaded.features_and_logits(images)
  # The shipped statistics are those of a fresh pass: FID(test, shipped) ~ 0.
  mean, covariance = shipped.test_statistics(dataset)
  assert metrics.frechet_distance(*metrics.gaussian_statistics(features),
                                  mean, covariance) < 1e-4
  # The check value another machine recomputes: FID between the test halves.
  half = len(features) // 2
  assert metrics.fid(features[:half], features[half:]) == pytest.approx(
      entry['check_fid_test_halves'], rel=1e-3)


def test_real_stacked_mnist_covers_its_1000_modes(tfds_data_dir):
  # PacGAN's protocol on 26,000 real triples: every mode is hit ~26 times, the
  # shipped classifier reads each channel; KL ~ (K - 1) / 2N = 0.02 for a
  # multinomial draw.
  from configs import stacked_mnist
  from gan_jax.data import batching
  config = stacked_mnist.get_config()
  config.data.data_dir, config.data.num_examples = tfds_data_dir, 26_000
  images, modes = stacked_mnist_lib.stacked_mnist(config.data)
  evaluator = evaluators.create(config, metrics=('modes',), num_samples=26_000)
  scores = evaluator.score(np.asarray(batching.preprocess(images)))
  assert len(np.unique(modes)) == 1000
  assert scores['modes_covered'] == 1000 and scores['kl_to_uniform'] < 0.05
  assert evaluator.protocol['evaluator'] == SHIPPED['mnist']['evaluator_id']


def test_fid_with_the_shipped_evaluator_trains_nothing_and_reads_no_data(
    tmp_path, monkeypatch):
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'cache'))
  monkeypatch.setattr(classifier_training, 'train', _no_training)
  monkeypatch.setattr(tfds_images, 'load_split', _no_data)
  config = mnist.get_config()
  evaluator = evaluators.create(config, metrics=('fid', 'is'), num_samples=100)
  assert not os.path.exists(tmp_path / 'cache')
  protocol = evaluator.protocol
  assert protocol['evaluator'] == SHIPPED['mnist']['evaluator_id']
  assert protocol['reference_split'] == 'test' and protocol['reference_size'] == 10_000
  assert protocol['num_samples'] == 100 and protocol['latent_seed'] == config.seed
  scores = evaluator.score(np.random.default_rng(0).uniform(-1, 1, (100, 28, 28, 1))
                           .astype(np.float32))
  assert scores['fid'] > 1.0 and 1.0 <= scores['is'] < 10.0


def test_a_damaged_shipped_file_is_one_line(tmp_path):
  directory = tmp_path / 'shipped'
  shutil.copytree(shipped.SHIPPED_DIR, directory)
  weights = directory / SHIPPED['mnist']['weights']
  data = bytearray(weights.read_bytes())
  data[100] ^= 1
  weights.write_bytes(bytes(data))
  with pytest.raises(shipped.ShippedFileError, match=r'has sha256 .* its manifest '
                     r'says .*; reinstall gan_jax$'):
    classifier.load_shipped('mnist', str(directory))
  manifest = json.loads((directory / 'manifest.json').read_text())
  del manifest['classifiers']['fashion_mnist']
  (directory / 'manifest.json').write_text(json.dumps(manifest))
  with pytest.raises(shipped.ShippedFileError, match='ships no fashion_mnist evaluator'):
    classifier.load_shipped('fashion_mnist', str(directory))


def test_fid_infinity_extrapolates_the_sample_size_bias_away():
  # Features ~ N(0, I) against the reference N(0, I): FID is 0 at N =
  # infinity, and the estimates of mean and covariance add a bias ~ c / N.
  rng = np.random.default_rng(0)
  dim = 32
  features = rng.normal(size=(40_000, dim))
  sizes = [2_000, 5_000, 10_000, 20_000, 40_000]
  fid_inf, curve = metrics.fid_infinity(features, np.zeros(dim), np.eye(dim), sizes)
  assert [n for n, _ in curve] == sizes
  values = [v for _, v in curve]
  assert values == sorted(values, reverse=True) and values[-1] > 0.005
  np.testing.assert_allclose(values[0] * sizes[0], values[2] * sizes[2], rtol=0.2)  # ~ c / N
  assert abs(fid_inf) < values[-1]   # closer to the truth than the largest N
  with pytest.raises(ValueError, match='two or more distinct sample sizes'):
    metrics.fid_infinity(features, np.zeros(dim), np.eye(dim), [5_000, 5_000])


def _no_training(*args, **kwargs):
  raise AssertionError('a classifier was trained')


def _no_data(*args, **kwargs):
  raise AssertionError('the real data was read')


def test_parzen_alone_needs_no_feature_network(mnist_like_dir, monkeypatch):
  def no_classifier(*args, **kwargs):
    raise AssertionError('a classifier was loaded')
  monkeypatch.setattr(classifier, 'get', no_classifier)
  config = mnist.get_config()
  config.data.data_dir = mnist_like_dir
  evaluator = evaluators.create(config, metrics=('parzen',), num_samples=50)
  assert evaluator.protocol['evaluator'] == 'parzen'
  assert evaluator.protocol['reference_size'] == 256   # the stand-in's test split
  scores = evaluator.score(np.zeros((50, 28, 28, 1), np.float32))
  assert np.isfinite(scores['parzen']) and np.isfinite(scores['parzen_validation'])
