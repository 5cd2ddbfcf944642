"""The data sets by name (2-D mixtures, Stacked MNIST, TFDS), their models, pictures
and an end-to-end run."""
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import mog_grid, mog_ring
from gan_jax.config import defaults
from gan_jax import models
from gan_jax.data import batching
from gan_jax.game import penalties
from gan_jax.training import train
from gan_jax.errors import ConfigError, DataNotFoundError
from gan_jax.evaluation import mog
from gan_jax.models import layers
from gan_jax.game.state import build_gan, param_count
from gan_jax.data import datasets
from gan_jax.data import mixtures
from gan_jax.data import stacked_mnist as stacked_mnist_lib
from gan_jax.data import tfds_images
from gan_jax.sampling import pictures
from gan_jax.workdir import metrics_log


def data_config(dataset, mog=None, **overrides):
  config = defaults.get_config().data
  config.update(dict(dict(dataset=dataset, download=False, num_examples=20_000),
                     **overrides))
  if mog is not None:
    config.mog = ml_collections.ConfigDict(mog)
  return config


@pytest.mark.parametrize('get_config', [mog_ring.get_config, mog_grid.get_config])
def test_mixture_modes_are_equally_likely_with_the_configured_spread(get_config):
  config = get_config().data
  config.num_examples = 20_000
  points = datasets.load(config)
  assert points.shape == (20_000, 2) and points.dtype == np.float32
  centers, std = mixtures.mixture(config)
  assert std == config.mog.std and len(centers) == config.mog.num_modes
  nearest = np.argmin(np.sum((points[:, None] - centers[None]) ** 2, axis=2), axis=1)
  counts = np.bincount(nearest, minlength=len(centers))
  # Uniform over modes: Pearson's chi-square test at the 0.1% level (the
  # 0.999 quantiles of chi2 with K - 1 = 7 and 24 degrees of freedom).
  expected = len(points) / len(centers)
  chi2 = np.sum((counts - expected) ** 2 / expected)
  assert chi2 < {8: 24.32, 25: 51.18}[len(centers)]
  offsets = points - centers[nearest]
  np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=5 * std / np.sqrt(len(points)))
  np.testing.assert_allclose(offsets.std(axis=0), std, rtol=0.03)
  # The data themselves score as a perfect generator: every mode, and the
  # high-quality fraction of an isotropic 2-D Gaussian within 3 std,
  # P(chi2_2 <= 9) = 1 - exp(-4.5).
  metrics = mog.mode_metrics(points, centers, std)
  assert metrics['modes_covered'] == len(centers)
  assert abs(metrics['high_quality_fraction'] - (1 - np.exp(-4.5))) < 0.004


def test_mixture_shape_is_a_config_value():
  ring = data_config('mog_ring', mog=dict(num_modes=5, radius=3.0, std=0.1))
  centers, std = mixtures.mixture(ring)
  np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 3.0)
  assert centers.shape == (5, 2) and std == 0.1
  grid = data_config('mog_grid', mog=dict(num_modes=9, spacing=1.5, std=0.05))
  centers, _ = mixtures.mixture(grid)
  assert sorted(set(centers[:, 0])) == [-1.5, 0.0, 1.5]
  with pytest.raises(ConfigError, match='square number'):
    mixtures.mixture(data_config('mog_grid', mog=dict(num_modes=10, spacing=2.0, std=0.05)))
  with pytest.raises(ConfigError, match=r"\['spacing'\]"):
    mixtures.mixture(data_config('mog_ring', mog=dict(spacing=2.0)))


def test_mixture_is_a_function_of_the_seed():
  a = datasets.load(data_config('mog_grid', num_examples=1000))
  b = datasets.load(data_config('mog_grid', num_examples=1000))
  c = datasets.load(data_config('mog_grid', num_examples=1000, seed=1))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  # The config's data seed follows --config.seed.
  config = mog_ring.get_config()
  config.seed = 7
  assert config.data.seed == 7


def test_points_pass_preprocessing_unchanged():
  points = np.random.default_rng(0).normal(size=(4, 3, 2)).astype(np.float32) * 4
  np.testing.assert_array_equal(batching.preprocess(points), points)
  assert datasets.example_shape(data_config('mog_ring'), (2,)) == (2,)
  with pytest.raises(ConfigError, match='image_size=32 needs images'):
    datasets.example_shape(data_config('mog_ring', image_size=32), (2,))


def test_unknown_dataset_lists_the_synthetic_ones():
  with pytest.raises(ConfigError, match="unknown config.data.dataset 'mog_rnig'.*"
                     'mog_grid, mog_ring, stacked_mnist'):
    datasets.load(data_config('mog_rnig'))


def test_stacked_mode_ids():
  np.testing.assert_array_equal(
      stacked_mnist_lib.stacked_mode_ids([[1, 2, 3], [9, 9, 9], [0, 0, 7]]), [123, 999, 7])
  every = np.arange(1000)
  np.testing.assert_array_equal(
      stacked_mnist_lib.stacked_mode_ids(stacked_mnist_lib.stacked_digits(every)), every)


@pytest.fixture(scope='module')
def mnist_train(mnist_like_dir):
  return tfds_images.load_split(data_config('mnist', data_dir=mnist_like_dir),
                             with_labels=True)


@pytest.mark.parametrize('dataset', ['mnist', 'stacked_mnist', 'mog_ring', 'mog_grid'])
def test_stored_shape_is_the_loaded_examples_shape(dataset, mnist_like_dir):
  config = data_config(dataset, data_dir=mnist_like_dir, num_examples=100)
  assert datasets.stored_shape(config) == datasets.load(config).shape[1:]


def test_stacked_mnist_channels_are_mnist_digits_with_their_mode(mnist_like_dir,
                                                                 mnist_train):
  config = data_config('stacked_mnist', data_dir=mnist_like_dir, num_examples=2000)
  images, modes = stacked_mnist_lib.stacked_mnist(config)
  assert images.shape == (2000, 28, 28, 3) and images.dtype == np.uint8
  assert modes.shape == (2000,) and modes.dtype == np.int32
  np.testing.assert_array_equal(datasets.load(config), images)
  # Each channel is one MNIST training image; its label gives the mode digit.
  digits, labels = mnist_train
  label_of = {image.tobytes(): label for image, label in zip(digits[..., 0], labels)}
  channel_labels = np.array([[label_of[images[i, :, :, c].tobytes()] for c in range(3)]
                             for i in range(len(images))])
  np.testing.assert_array_equal(
      modes, 100 * channel_labels[:, 0] + 10 * channel_labels[:, 1] + channel_labels[:, 2])
  # Channels are drawn independently and uniformly: 2000 draws of 1000 modes
  # hit about 1000 (1 - exp(-2)) = 865 distinct ones.
  assert 820 < len(np.unique(modes)) < 910
  other_seed = data_config('stacked_mnist', data_dir=mnist_like_dir,
                           num_examples=2000, seed=1)
  assert not np.array_equal(stacked_mnist_lib.stacked_mnist(other_seed)[0], images)


@pytest.mark.parametrize('hidden,latent_dim,g_count,d_count', [
    # G: (2*128 + 128) + (128*128 + 128) + (128*2 + 2); D: ... + (128 + 1)
    (None, 2, 17_154, 17_025),
    # G: (8*32 + 32) + (32*2 + 2); D: (2*16 + 16) + (16*16 + 16) + (16 + 1)
    ((32,), 8, 354, 337),
])
def test_mlp2d_shapes_and_parameter_counts(hidden, latent_dim, g_count, d_count):
  model_config = defaults.get_config().model
  model_config.update(generator='mlp2d', discriminator='mlp2d')
  if hidden:  # else the defaults' (128, 128)
    model_config.g_hidden, model_config.d_hidden = hidden, (16, 16)
  generator, discriminator = models.build(model_config, (2,))
  z = jax.random.normal(jax.random.PRNGKey(0), (5, latent_dim))
  g_vars = generator.init(jax.random.PRNGKey(1), z, train=False)
  x = generator.apply(g_vars, z, train=False)
  d_vars = discriminator.init(jax.random.PRNGKey(2), x, train=False)
  assert x.shape == (5, 2) and x.dtype == jnp.float32
  assert discriminator.apply(d_vars, x, train=True).shape == (5,)
  assert param_count(g_vars['params']) == g_count
  assert param_count(d_vars['params']) == d_count
  assert 'batch_stats' not in g_vars and 'batch_stats' not in d_vars


def test_mlp2d_generator_with_batch_norm():
  model_config = defaults.get_config().model
  model_config.update(generator='mlp2d', discriminator='mlp2d',
                      g_hidden=(400,) * 4, g_batch_norm=True)  # VEEGAN/PacGAN's G
  generator, _ = models.build(model_config, (2,))
  g_vars = generator.init(jax.random.PRNGKey(0), jnp.zeros((3, 2)), train=False)
  assert len(g_vars['batch_stats']) == 4
  # No biases before batch norm: 4 x (400 scale + 400 offset) + weights + out.
  assert param_count(g_vars['params']) == 2 * 400 + 3 * 400 * 400 + 4 * 800 + 802


def test_dcgan28_makes_and_judges_three_channel_images():
  model_config = defaults.get_config().model
  model_config.update(generator='dcgan28', discriminator='dcgan28', dropout_rate=0.3)
  generator, discriminator = models.build(model_config, (28, 28, 3))
  z = jnp.zeros((2, 100))
  g_vars = generator.init(jax.random.PRNGKey(0), z, train=False)
  x = generator.apply(g_vars, z, train=False)
  d_vars = discriminator.init(jax.random.PRNGKey(1), x, train=False)
  assert x.shape == (2, 28, 28, 3)
  assert discriminator.apply(d_vars, x, train=False).shape == (2,)
  # The 1-channel counts (models/models_test.py) plus 2 more 5x5x64 output filters
  # in G's last layer and 2 more input channels of D's first conv.
  assert param_count(g_vars['params']) == 2_305_472 + 2 * 25 * 64
  assert param_count(d_vars['params']) == 212_865 + 2 * 25 * 64


def test_gradient_penalties_on_points():
  # D(x) = w . x has input gradient w everywhere: ||w|| = 5.
  w = jnp.array([3.0, 4.0])
  d_fn = lambda x: x @ w
  real, fake = jnp.ones((6, 2)), -jnp.ones((6, 2))
  key = jax.random.PRNGKey(0)
  np.testing.assert_allclose(penalties.wgan_gp(d_fn, real, fake, key), 16.0, rtol=1e-5)
  np.testing.assert_allclose(penalties.r1(d_fn, real, fake, key), 12.5, rtol=1e-5)


def test_render_samples():
  images = np.random.default_rng(0).uniform(-1, 1, (64, 28, 28, 3))
  np.testing.assert_array_equal(pictures.render_samples(images), pictures.image_grid(images))
  picture = pictures.render_samples(np.array([[1.0, 2.0], [100.0, 0.0]]),
                                   centers=np.array([[-3.0, -3.0]]), extent=5.0)
  assert picture.shape == (512, 512, 3) and picture.dtype == np.uint8
  # 51.2 pixels per unit from (-5, 5) at the top left: (1, 2) is at column
  # floor(6 * 51.2) = 307, row floor(3 * 51.2) = 153, drawn as a 3x3 dot.
  dark = np.all(picture < 100, axis=-1)
  assert np.array_equal(np.argwhere(dark), [[r, c] for r in (152, 153, 154)
                                            for c in (306, 307, 308)])
  # The centre (-3, -3) at row floor(8 * 51.2) = 409, column 102, light red.
  assert tuple(picture[409, 102]) == pictures._CENTER
  assert tuple(picture[10, 10]) == (255, 255, 255)
  # Without an extent the view is 1.25 x the centres' range: the ring of
  # radius 2 in [-2.5, 2.5]², whose point (2, 0) is at column 460.
  ring = pictures.render_samples(mixtures.ring_centers()[:1], centers=mixtures.ring_centers())
  assert np.all(ring[255, 459:462] < 100)
  with pytest.raises(ValueError, match=r'\[N, 2\]'):
    pictures.render_samples(np.zeros((4, 3)))


def tiny_ring_config(num_train_steps):
  config = mog_ring.get_config()
  config.batch_size = 64
  config.data.num_examples = 10_000
  config.num_train_steps = num_train_steps
  config.log_every_steps = 10
  config.sample_every_steps = 10
  config.checkpoint_every_steps = 10
  return config


def test_trains_on_the_ring_end_to_end(tmp_path):
  state = train.train_and_evaluate(tiny_ring_config(20), str(tmp_path))
  assert int(state.step) == 20
  records = [r for r in metrics_log.read_metrics(str(tmp_path)) if 'loss_d' in r]
  assert [r['step'] for r in records] == [10, 20]  # (evaluations apart)
  assert all(np.isfinite(v) for r in records for v in r.values())
  assert sorted(os.listdir(tmp_path / 'samples')) == ['step_0000010.png',
                                                      'step_0000020.png']


@pytest.mark.slow
def test_ring_config_covers_the_modes(tmp_path):
  config = mog_ring.get_config()
  config.num_devices = 1  # the fake devices of conftest would only slow it
  state = train.train_and_evaluate(config, str(tmp_path))
  gan = build_gan(config, (2,))
  z = layers.sample_latent(jax.random.PRNGKey(1), 2500, config.model.latent_dim)
  samples = gan.generator.apply(
      {'params': state.ema_g_params, 'batch_stats': state.g_batch_stats}, z, train=False)
  centers, std = mixtures.mixture(config.data)
  metrics = mog.mode_metrics(np.asarray(samples), centers, std)
  assert metrics['modes_covered'] >= 6, metrics


def test_loads_real_mnist(tfds_data_dir):
  images = datasets.load(data_config('mnist', data_dir=tfds_data_dir, split='test'))
  assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8


def test_missing_data_says_how_to_provide_it(tmp_path, monkeypatch):
  with pytest.raises(DataNotFoundError, match='TFDS_DATA_DIR'):
    datasets.load(data_config('mnist', data_dir=str(tmp_path)))
  monkeypatch.setattr(tfds_images, '_host_resolves', lambda host: False)
  with pytest.raises(DataNotFoundError, match='cannot be downloaded'):
    datasets.load(data_config('mnist', data_dir=str(tmp_path), download=True))


def test_unknown_dataset_name():
  with pytest.raises(ConfigError, match="unknown config.data.dataset 'mnits'"):
    datasets.load(data_config('mnits'))


@pytest.mark.parametrize('dataset,mog,message', [
    ('mog_ring', dict(num_modes=0), 'config.data.mog.num_modes must be >= 1, got 0'),
    ('mog_ring', dict(radius=-1.0), 'config.data.mog.radius must be > 0, got -1.0'),
    ('mog_grid', dict(spacing=0.0), 'config.data.mog.spacing must be > 0, got 0.0'),
    ('mog_grid', dict(std=0.0), 'config.data.mog.std must be > 0, got 0.0'),
])
def test_a_mixture_geometry_out_of_range_is_one_line(dataset, mog, message):
  with pytest.raises(ConfigError) as error:
    mixtures.mixture(data_config(dataset, mog=mog))
  assert str(error.value) == message
