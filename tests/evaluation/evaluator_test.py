"""The evaluators (one per data kind, evaluation/evaluators.py): the image
evaluator against real MNIST in the feature space of a quickly trained
classifier, the mixtures' and the protocol's choices. A checkpoint's report
(`gan_jax.evaluate`) is checkpoint_eval_test.py's."""
import jax
import numpy as np
import pytest

from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.errors import ConfigError
from gan_jax.data import mixtures
from gan_jax.evaluation import evaluators
from gan_jax.evaluation import mixture_evaluator
from gan_jax.sampling import sampler as sampler_lib
from gan_jax.data import tfds_images


def test_best_metric_follows_the_data_set(ring_config):
  config = ring_config(2)
  assert protocol_lib.best_metric(config) == ('mode_score', 'max')
  config.eval_every_steps = 0
  assert protocol_lib.best_metric(config) == ('loss_d', 'min')
  config.best_metric, config.best_mode = 'loss_g', 'min'
  assert protocol_lib.best_metric(config) == ('loss_g', 'min')


# ----------------------------------------------------------------------------
# Images: real MNIST scored in the feature space of a quickly trained
# classifier (the shipped one is the same network trained for longer).
# ----------------------------------------------------------------------------


@pytest.fixture(scope='module')
def mnist_evaluator(tfds_data_dir):
  from configs import mnist
  from gan_jax.data import batching
  from gan_jax.evaluation import classifier as classifier_lib
  from gan_jax.evaluation import classifier_training
  config = mnist.get_config()
  config.data.data_dir = tfds_data_dir
  images, labels = tfds_images.load_split(config.data, 'train', with_labels=True)
  variables = classifier_training.train(images[:20_000], labels[:20_000],
                                        num_steps=150, seed=0)
  quick = classifier_lib.Classifier(dataset='mnist', test_accuracy=0.0,
                                    variables=variables)
  original = classifier_lib.get
  classifier_lib.get = lambda *args, **kwargs: quick
  try:
    evaluator = evaluators.create(config, metrics=('fid', 'kid', 'is', 'pr', 'dc'),
                                        num_samples=5_000)
  finally:
    classifier_lib.get = original
  real = np.asarray(batching.preprocess(images[-5_000:]))
  return evaluator, real


@pytest.mark.slow  # trains a classifier on real MNIST (~1 min)
def test_held_out_real_images_score_near_the_floor(mnist_evaluator):
  evaluator, real = mnist_evaluator
  floor = evaluator.score(real)
  noise = evaluator.score(np.random.default_rng(0).uniform(-1, 1, real.shape)
                          .astype(np.float32))
  assert floor['fid'] < 0.02 * noise['fid']
  assert abs(floor['kid']) < 3 * floor['kid_std'] + 1e-3
  assert floor['is'] > 8.0 > noise['is']  # ten evenly used, confident classes
  assert floor['precision'] > 0.6 and floor['recall'] > 0.6
  assert noise['precision'] < 0.05
  assert 0.6 < floor['density'] < 1.4 and floor['coverage'] > 0.8


@pytest.mark.slow  # trains a classifier on real MNIST (~1 min)
def test_one_digit_only_is_caught_by_recall_and_score(mnist_evaluator, tfds_data_dir):
  evaluator, real = mnist_evaluator
  from gan_jax.evaluation import classifier as classifier_lib
  _, logits = evaluator._network.features_and_logits(real)
  ones = real[np.argmax(logits, axis=1) == 1]
  collapsed = evaluator.score(np.resize(ones, (2000,) + ones.shape[1:]))
  floor = evaluator.score(real)
  assert collapsed['is'] < 1.5
  assert collapsed['recall'] < 0.3 * floor['recall']
  assert collapsed['fid'] > 10 * floor['fid']
  del classifier_lib


def test_bn_stats_batch_ignores_the_running_averages_and_running_uses_them():
  from configs import mnist_mlp
  from gan_jax.game import state as state_lib
  config = mnist_mlp.get_config()
  gan = state_lib.build_gan(config, (28, 28, 1))  # G bound to the pmap axis
  state = state_lib.create_state(config, gan)
  z = jax.random.normal(jax.random.PRNGKey(0), (32, config.model.latent_dim))
  shifted = jax.tree.map(lambda s: s + 3.0, state.g_batch_stats)
  batch = jax.jit(sampler_lib.generator_apply(gan, 'batch'))
  running = jax.jit(sampler_lib.generator_apply(gan, 'running'))
  a = batch(state.g_params, state.g_batch_stats, z)
  np.testing.assert_array_equal(a, batch(state.g_params, shifted, z))
  assert a.shape == (32, 28, 28, 1) and a.dtype == np.float32
  # Each sample normalised with the statistics of this batch: the first
  # half alone gives other outputs.
  assert not np.allclose(a[:16], batch(state.g_params, state.g_batch_stats, z[:16]))
  b = running(state.g_params, state.g_batch_stats, z)
  assert not np.allclose(b, running(state.g_params, shifted, z))
  np.testing.assert_array_equal(b[:16], running(state.g_params, state.g_batch_stats, z[:16]))
  with pytest.raises(ConfigError, match="bn_stats must be 'batch' or 'running'"):
    sampler_lib.generator_apply(gan, 'train')


def test_every_image_set_has_an_evaluator_and_its_metrics_are_named():
  # Natural images are scored on the Inception, which has no pixel-space
  # Parzen window (the 2014 MNIST protocol) and no classes of their own.
  assert protocol_lib.resolve_metrics('cifar10', 'auto') == ('fid', 'kid', 'is')
  assert protocol_lib.resolve_metrics('cifar10', 'none') == ()
  with pytest.raises(ConfigError, match=r"^unknown eval metric\(s\) parzen for 'cifar10'; "
                                        r'valid: fid, kid, is, pr, dc, auto, all, none$'):
    protocol_lib.resolve_metrics('cifar10', 'fid,parzen')


def test_each_data_kind_gets_its_evaluator(ring_config):
  config = ring_config(2)
  evaluator = evaluators.create(config)
  assert isinstance(evaluator, mixture_evaluator.MixtureEvaluator)
  centers, std = mixtures.mixture(config.data)
  assert evaluator.metrics == ('modes',) and evaluator.num_samples == 2_500
  assert evaluator.protocol == dict(
      evaluator='mog-closed-form', num_samples=2_500, params=config.eval.params,
      bn_stats=config.eval.bn_stats, latent_seed=config.seed, reference='mixture',
      centers=8, std=std)
  # Points on the centres: every mode covered, every sample of high quality.
  scores = evaluator.score(np.repeat(centers, 10, axis=0))
  assert scores['modes_covered'] == 8 and scores['high_quality_fraction'] == 1.0
  config.eval.metrics = 'none'
  assert evaluators.create(config).protocol == {}
  assert evaluators.create(config)(None, None) == {}
