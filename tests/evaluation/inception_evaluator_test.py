"""The image evaluator on the FID Inception: the papers' protocol (training
split's statistics, the network and weights named in every report), cached
reference features, pytorch-fid/TTUR statistics files, and a run on a
generated CIFAR-10 scored by `gan_jax.evaluate`.

The Inception's weights are the random ones pytorch-fid's outputs were
recorded with (inception_test.py): the numbers test the plumbing, not CIFAR.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from gan_jax.data import batching, tfds_images
from gan_jax.errors import ConfigError
from gan_jax.evaluation import evaluators, metrics, protocol
from gan_jax.evaluation.inception import features, reference


@pytest.fixture
def cifar_config(natural_like_dir, random_inception_weights, tmp_path):
  from configs import mnist
  config = mnist.get_config()
  config.data.dataset = 'cifar10'
  config.data.data_dir = natural_like_dir
  config.data.image_size = 28          # the 28x28 DCGAN on 32x32 images
  config.eval.inception_weights = random_inception_weights
  config.eval.classifier_dir = str(tmp_path / 'cache')
  config.eval.num_samples = 16
  return config


def test_natural_images_get_the_inception_protocol(cifar_config):
  assert protocol.kind_of(cifar_config) == 'inception'
  assert protocol.reference_split(cifar_config) == 'train'
  cifar_config.eval.num_samples = 0
  assert protocol.protocol_num_samples(cifar_config) == 50_000
  assert protocol.resolve_metrics('cifar10', 'auto') == ('fid', 'kid', 'is')
  # A conditional G on Inception features: intra-FID, not the ImageNet classes.
  assert protocol.resolve_metrics('cifar10', 'auto', conditional=True) == (
      'fid', 'kid', 'is', 'intra_fid')
  assert protocol.kind_of(cifar_config) == protocol.data_kind('mnist', 'inception')
  with pytest.raises(ConfigError, match="no evaluator classifier for 'cifar10'.*"
                                        'feature_network=inception'):
    protocol.data_kind('cifar10', 'classifier')


def test_the_evaluator_scores_on_inception_features_and_caches_the_reference(
    cifar_config, monkeypatch):
  evaluator = evaluators.create(cifar_config)
  assert evaluator.metrics == ('fid', 'kid', 'is')
  assert evaluator.protocol['evaluator'] == 'fid-inception-v3-01234567'
  assert evaluator.protocol['reference_split'] == 'train'
  assert evaluator.protocol['reference_size'] == 32
  # The test split (held out of the reference) at G's 28x28, as samples.
  test = tfds_images.load_split(cifar_config.data, 'test')
  samples = np.asarray(batching.preprocess(test[:16], 28))
  scores = evaluator.score(samples)
  # The same numbers from the metrics on the features: the cached reference
  # ones (the training split at 28x28) and the samples'.
  train = tfds_images.load_split(cifar_config.data, 'train')
  cached = reference.cache_path('cifar10-train', np.zeros((32, 28, 28, 3), np.uint8),
                                'fid-inception-v3-01234567',
                                cifar_config.eval.classifier_dir)
  with np.load(cached) as data:
    real_features = data['features']
  assert real_features.shape == (32, 2048)
  network = features.load(cifar_config.eval.inception_weights)
  fake_features, fake_logits = network.features_and_logits(samples)
  np.testing.assert_allclose(real_features[:4], network.features_and_logits(
      np.asarray(batching.preprocess(train[:4], 28)))[0], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(scores['fid'], metrics.fid(fake_features, real_features),
                             rtol=1e-4)
  assert scores['is'] == pytest.approx(metrics.inception_score(fake_logits)[0], rel=1e-5)
  assert scores['kid'] == pytest.approx(metrics.kid(fake_features, real_features)[0],
                                        rel=1e-3, abs=1e-6)
  # A second evaluator reads the cached features: no reference pass.
  calls = []
  original = features.FIDInception.features_and_logits
  monkeypatch.setattr(features.FIDInception, 'features_and_logits',
                      lambda self, x: calls.append(len(x)) or original(self, x))
  again = evaluators.create(cifar_config)
  assert calls == []
  assert again.score(samples) == pytest.approx(scores)
  assert calls == [16]


def test_a_statistics_file_is_the_whole_fid_reference(cifar_config, tmp_path):
  first = evaluators.create(cifar_config, metrics=('fid',))
  path = str(tmp_path / 'fid_stats_cifar10_train.npz')
  reference.write_statistics(path, *first.fid_reference())
  cifar_config.eval.reference_statistics = path
  cifar_config.data.data_dir = str(tmp_path / 'no_data_here')   # never read
  given = evaluators.create(cifar_config, metrics=('fid',))
  assert given.protocol['reference_statistics'].startswith('fid_stats_cifar10_train.npz:')
  assert 'reference_split' not in given.protocol
  rng = np.random.default_rng(0)
  samples = rng.uniform(-1, 1, (16, 28, 28, 3)).astype(np.float32)
  assert given.score(samples)['fid'] == pytest.approx(first.score(samples)['fid'])
  np.savez(path, mu=np.zeros(64), sigma=np.eye(64))
  with pytest.raises(ConfigError, match='holds 64-d statistics; the inception '
                                        'features are 2048-d'):
    evaluators.create(cifar_config, metrics=('fid',))
  np.savez(path, means=np.zeros(3))
  with pytest.raises(ConfigError, match='has no mu and sigma'):
    evaluators.create(cifar_config, metrics=('fid',))


@pytest.mark.slow  # ~1 min: trains a few steps, then the program scores it
@pytest.mark.memory_heavy
def test_gan_jax_evaluate_reports_inception_metrics_of_a_cifar_run(
    cifar_config, tmp_path, repo_dir):
  workdir = str(tmp_path / 'run')
  env = dict(os.environ, XLA_FLAGS='')
  overrides = ['--config.data.dataset=cifar10',
               f'--config.data.data_dir={cifar_config.data.data_dir}',
               '--config.data.image_size=28', '--config.num_train_steps=2',
               '--config.eval_every_steps=0', '--config.batch_size=16',
               f'--config.eval.inception_weights={cifar_config.eval.inception_weights}',
               f'--config.eval.classifier_dir={cifar_config.eval.classifier_dir}']
  trained = subprocess.run([sys.executable, '-m', 'gan_jax.main', '--config=configs/mnist.py',
                            f'--workdir={workdir}'] + overrides,
                           cwd=repo_dir, env=env, capture_output=True, text=True, timeout=600)
  assert trained.returncode == 0, trained.stderr[-2000:]
  for checkpoint in ('latest', 'data'):
    result = subprocess.run([sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={workdir}',
                             f'--checkpoint={checkpoint}', '--metrics=fid,kid,is',
                             '--num_samples=16'],
                            cwd=repo_dir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'fid-inception-v3-01234567' in result.stdout
    for name in ('fid', 'kid', 'is'):
      assert f'\n  {name} ' in result.stdout or f' {name} ' in result.stdout, result.stdout


def test_a_run_without_the_weights_stops_before_it_writes(cifar_config, tmp_path,
                                                          monkeypatch):
  from gan_jax.config import validation
  from gan_jax.evaluation.inception import weights
  from gan_jax.training import train

  def offline(*args):
    raise OSError('no network')
  monkeypatch.setattr(weights.socket, 'getaddrinfo', offline)
  cifar_config.eval_every_steps = 1
  validation.validate(cifar_config)   # the weights are given by path
  cifar_config.eval.inception_weights = None
  workdir = tmp_path / 'run'
  with pytest.raises(weights.InceptionWeightsError, match='offline: download'):
    train.train_and_evaluate(cifar_config, str(workdir))
  assert not workdir.exists()
  cifar_config.eval.inception_weights = str(tmp_path / 'missing.pth')
  with pytest.raises(weights.InceptionWeightsError, match='missing.pth is not a file'):
    validation.validate(cifar_config)
