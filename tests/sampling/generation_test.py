"""`python -m gan_jax.generate`: samples of a trained run, the truncation
trick and latent interpolation (gan_jax.sampling). latent_space's own closed
forms are in tests/sampling/latent_space_test.py.

The run is the loop tests' tiny 2-D ring with batch norm in G and EMA, 4
steps: batch norm by batch statistics makes "the same samples as the
evaluator" depend on G seeing the same batches.
"""
import importlib
import json
import os
import subprocess
import sys
import types
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from gan_jax.config import defaults
from gan_jax.sampling import latent_space
from gan_jax.sampling import generation
from gan_jax.training import train
from gan_jax.errors import GanJaxError
from gan_jax.sampling import sampler as sampler_lib
from gan_jax.data import mixtures
from gan_jax.evaluation import mog
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.sampling import pictures
from gan_jax.sampling import restore as restore_lib
from gan_jax.workdir import metrics_log


@pytest.fixture(scope='module')
def bn_run(tmp_path_factory, ring_config):
  """A 4-step run of the ring with G's batch norm and EMA 0.5, checkpoints
  at steps 2 and 4."""
  config = ring_config(4)
  config.model.g_batch_norm = True
  config.model.g_hidden = config.model.d_hidden = (64, 64)
  config.batch_size = 32
  config.ema_decay = 0.5
  config.eval_every_steps = 0
  config.keep_checkpoints = 3
  workdir = str(tmp_path_factory.mktemp('bn_ring'))
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def restored(bn_run):
  """(config, gan, state at step 4) of `bn_run`."""
  config = restore_lib.load_run_config(bn_run)
  gan, state, step = restore_lib.restore_run(bn_run, config, 'latest')
  assert step == 4
  return config, gan, state


def _load(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def test_npz_holds_the_samples_the_evaluator_scores(bn_run, restored, tmp_path):
  config, gan, state = restored
  assert config.eval.bn_stats == 'batch'
  # 1,500: the second chunk of 1,000 is padded; with batch norm by batch
  # statistics its 500 samples depend on the 500 codes drawn after them.
  out = str(tmp_path / 'samples.npz')
  generation.write(out, generation.generate(bn_run, 1500, checkpoint='latest'))
  saved = _load(out)
  assert sorted(saved) == ['samples', 'z']
  assert saved['samples'].shape == (1500, 2) and saved['samples'].dtype == np.float32
  assert saved['z'].shape == (1500, 2) and saved['z'].dtype == np.float32
  sample = sampler_lib.generator_sampler(gan, state.ema_g_params, state.g_batch_stats,
                                           config.model.latent_dim, 'batch')
  expected = sample(sampler_lib.latent_key(config.seed), 1500)
  np.testing.assert_allclose(saved['samples'], expected, rtol=1e-6, atol=1e-6)
  # z is the evaluation's codes: chunk i of 1,000 from fold_in(key, i).
  key = sampler_lib.latent_key(config.seed)
  first = jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, 0), 7), (2,))
  np.testing.assert_array_equal(saved['z'][7], first)
  # Another seed, other codes.
  other = generation.generate(bn_run, 10, checkpoint='latest', seed=1)
  np.testing.assert_allclose(other.samples, sample(sampler_lib.latent_key(1), 1000)[:10],
                             rtol=1e-6, atol=1e-6)


def test_params_bn_stats_and_checkpoint_choose_what_is_sampled(bn_run, restored):
  config, gan, state = restored
  ema = generation.generate(bn_run, 64, checkpoint='latest', bn_stats='running')
  raw = generation.generate(bn_run, 64, checkpoint='latest', params='raw',
                          bn_stats='running')
  np.testing.assert_array_equal(ema.z, raw.z)
  assert not np.allclose(ema.samples, raw.samples)  # ema_decay 0.5
  running = jax.jit(sampler_lib.generator_apply(gan, 'running'))
  for generated, params in ((ema, state.ema_g_params), (raw, state.g_params)):
    np.testing.assert_allclose(
        generated.samples, running(params, state.g_batch_stats, jnp.asarray(ema.z)),
        rtol=1e-6, atol=1e-6)
  # The run's default (config.eval.bn_stats = batch) differs from running.
  assert not np.allclose(generation.generate(bn_run, 64, checkpoint='latest').samples,
                         ema.samples)
  earlier = generation.generate(bn_run, 64, checkpoint='2', bn_stats='running')
  assert earlier.step == 2 and not np.allclose(earlier.samples, ema.samples)
  # No evaluation: the best is the lowest D loss of the saved steps.
  assert generation.generate(bn_run, 8).step in (2, 4)


def test_png_is_the_training_time_scatter_plot_for_mixtures(bn_run, tmp_path):
  generated = generation.generate(bn_run, 300, checkpoint='latest')
  out = str(tmp_path / 'ring.png')
  generation.write(out, generated)
  centers, _ = mixtures.mixture(generated.config.data)
  picture = np.asarray(Image.open(out))
  np.testing.assert_array_equal(picture, pictures.scatter_plot(generated.samples, centers))


def test_png_of_images_is_a_grid_holding_every_sample(tmp_path):
  images = np.random.default_rng(0).uniform(-1, 1, (50, 4, 3, 1)).astype(np.float32)
  generated = generation.Generated(samples=images, z=np.zeros((50, 2), np.float32),
                                 labels=None, rows=generation.grid_rows(50), step=1,
                                 config=None)
  out = str(tmp_path / 'grid.png')
  generation.write(out, generated)
  picture = np.asarray(Image.open(out))
  assert picture.shape == (5 * 4, 10 * 3)  # 5 rows of 10
  np.testing.assert_array_equal(picture, pictures.image_grid(images, 5)[..., 0])
  assert [generation.grid_rows(n) for n in (1, 7, 12, 64, 100)] == [1, 1, 3, 8, 10]


# ---------------------------------------------------------------- truncation


def test_generate_truncates_the_codes_it_feeds_g(bn_run, restored):
  config, gan, state = restored
  generated = generation.generate(bn_run, 200, checkpoint='latest', truncation=0.3,
                                bn_stats='running')
  assert np.abs(generated.z).max() <= 0.3
  plain = generation.generate(bn_run, 200, checkpoint='latest', truncation=1e6,
                            bn_stats='running')
  untruncated = generation.generate(bn_run, 200, checkpoint='latest', bn_stats='running')
  np.testing.assert_array_equal(plain.samples, untruncated.samples)
  running = jax.jit(sampler_lib.generator_apply(gan, 'running'))
  np.testing.assert_allclose(
      generated.samples,
      running(state.ema_g_params, state.g_batch_stats, jnp.asarray(generated.z)),
      rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------- interpolation


def test_interpolation_rows_run_between_pairs_of_evaluation_codes(bn_run, tmp_path):
  generated = generation.generate(bn_run, 3, checkpoint='latest', interpolate=5,
                                bn_stats='running')
  assert generated.samples.shape == (15, 2) and generated.z.shape == (15, 2)
  key = sampler_lib.latent_key(generated.config.seed)
  ends = np.asarray(generation.sample_codes(key, 6, 2))[:6]
  paths = generated.z.reshape(3, 5, 2)
  np.testing.assert_allclose(paths[:, 0], ends[:3], atol=1e-5)
  np.testing.assert_allclose(paths[:, -1], ends[3:], atol=1e-5)
  np.testing.assert_allclose(
      paths, latent_space.slerp(jnp.asarray(ends[:3]), jnp.asarray(ends[3:]),
                                jnp.linspace(0.0, 1.0, 5)), atol=1e-6)
  out = str(tmp_path / 'paths.npz')
  generation.write(out, generated)
  np.testing.assert_array_equal(_load(out)['z'], generated.z)


# ------------------------------------------------------------ class labels


class _ConditionalStub(nn.Module):
  """G(z, labels) = z + label: where the labels went, in closed form."""
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z, train, labels=None):
    del train
    return z + labels[:, None].astype(z.dtype)


class _UnconditionalStub(nn.Module):
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z, train):
    del train
    return 2 * z


def test_class_labels_reach_a_conditional_generator_and_only_it():
  z = jnp.arange(2500 * 3, dtype=jnp.float32).reshape(2500, 3)
  for bn_stats in protocol_lib.BN_STATS:
    apply = sampler_lib.generator_apply(
        types.SimpleNamespace(generator=_ConditionalStub()), bn_stats)
    np.testing.assert_array_equal(sampler_lib.apply_in_chunks(apply, {}, {}, z, 7), z + 7)
    apply = sampler_lib.generator_apply(
        types.SimpleNamespace(generator=_UnconditionalStub()), bn_stats)
    np.testing.assert_array_equal(sampler_lib.apply_in_chunks(apply, {}, {}, z), 2 * z)


def test_class_needs_a_class_conditional_run(bn_run, ring_config):
  config = ring_config(2)
  with pytest.raises(GanJaxError, match=r'--class=3: the run in .* is unconditional'):
    generation.check_class(config, 'runs/x', 3)
  config.model.num_classes = 0
  with pytest.raises(GanJaxError, match='is unconditional'):
    generation.check_class(config, 'runs/x', 0)
  config.model.num_classes = 10
  generation.check_class(config, 'runs/x', 9)
  for label in (10, -1):
    with pytest.raises(GanJaxError, match=r'--class must be in \[0, 10\)'):
      generation.check_class(config, 'runs/x', label)
  with pytest.raises(GanJaxError, match='is unconditional'):
    generation.generate(bn_run, 4, label=1)


def test_class_conditions_g_of_a_class_conditional_run(ring_config, tmp_path):
  config = ring_config(2)
  config.model.g_batch_norm = True
  config.model.g_hidden = config.model.d_hidden = (64, 64)
  config.model.num_classes = 8
  # One-hot labels concatenated to z: G's output depends on the class
  # already at initialisation.
  config.model.g_conditioning = 'concat'
  (tmp_path / 'config.json').write_text(config.to_json_best_effort())
  workdir = str(tmp_path)
  three = generation.generate(workdir, 16, checkpoint='init', label=3)
  five = generation.generate(workdir, 16, checkpoint='init', label=5)
  np.testing.assert_array_equal(three.labels, np.full(16, 3, np.int32))
  # With batch statistics a class's samples are drawn among the evaluation's
  # class mix (classes in turn, 16 x 8 samples) and picked out of it: G
  # normalises them as it does in training and evaluation, not as a batch
  # of one class.
  gan, state, _ = restore_lib.restore_run(workdir, config, 'init')
  z = generation.sample_codes(sampler_lib.latent_key(config.seed), 16 * 8, 2)
  mix = np.resize(np.arange(8, dtype=np.int32), len(z))
  expected = np.asarray(sampler_lib.generator_apply(gan, 'batch')(
      state.ema_g_params, state.g_batch_stats, z, jnp.asarray(mix)))
  for drawn, label in ((three, 3), (five, 5)):
    positions = np.flatnonzero(mix[:128] == label)
    np.testing.assert_array_equal(drawn.z, np.asarray(z)[positions])
    np.testing.assert_allclose(drawn.samples, expected[positions], rtol=1e-6, atol=1e-6)
  # A batch of class 3 alone is normalised otherwise: that is not what --class draws.
  alone = np.asarray(sampler_lib.generator_apply(gan, 'batch')(
      state.ema_g_params, state.g_batch_stats, jnp.asarray(three.z),
      jnp.full((16,), 3, jnp.int32)))
  assert not np.allclose(alone, three.samples, atol=1e-3)
  # Running averages do not depend on the batch: class 3 alone, the first codes.
  running = generation.generate(workdir, 16, checkpoint='init', label=3, bn_stats='running')
  np.testing.assert_array_equal(running.z, np.asarray(z)[:16])
  out = str(tmp_path / 'three.npz')
  generation.write(out, three)
  assert sorted(_load(out)) == ['labels', 'samples', 'z']
  # Without --class: the evaluation's classes (i mod 8); an interpolation
  # keeps one class per row.
  every = generation.generate(workdir, 16, checkpoint='init')
  np.testing.assert_array_equal(every.labels, np.arange(16) % 8)
  paths = generation.generate(workdir, 3, checkpoint='init', interpolate=4)
  np.testing.assert_array_equal(paths.labels, np.repeat([0, 1, 2], 4))


# ------------------------------------------------------------------ errors


def test_bad_requests_are_one_line_errors(bn_run, tmp_path):
  for out, message in ((tmp_path / 's.jpg', r'--out must end in \.png .* or \.npz'),
                       (tmp_path / 's', r'--out must end in \.png'),
                       (tmp_path / 'missing' / 's.npz', 'folder .*missing does not exist'),
                       (tmp_path, r'--out must end in \.png')):
    with pytest.raises(GanJaxError, match=message):
      generation.check_out(str(out))
  assert generation.check_out(str(tmp_path / 'S.NPZ')) == '.npz'
  with pytest.raises(GanJaxError, match='not a gan_jax run directory'):
    generation.generate(str(tmp_path), 4)
  with pytest.raises(GanJaxError, match='no checkpoint at step 3 .* have'):
    generation.generate(bn_run, 4, checkpoint='3')
  for which in ('x', '3²'):   # '²' is a digit to str.isdigit(), not to int()
    with pytest.raises(GanJaxError,
                       match=f"--checkpoint must be best, latest or init, or a step, got "
                       f"'{which}'"):
      generation.generate(bn_run, 4, checkpoint=which)
  for kwargs, message in ((dict(num_samples=0), '--num_samples must be >= 1'),
                          (dict(num_samples=4, truncation=0.0), '--truncation must be > 0'),
                          (dict(num_samples=4, interpolate=1), 'at least 2 steps'),
                          (dict(num_samples=4, params='best'), '--params must be ema or raw'),
                          (dict(num_samples=4, bn_stats='train'), '--bn_stats must be'),
                          # Bounded before anything is drawn: 4 GB of floats at most.
                          (dict(num_samples=10 ** 9),
                           r'--num_samples: 1,000,000,000 samples of shape \(2,\) would take')):
    with pytest.raises(GanJaxError, match=message):
      generation.generate(bn_run, **kwargs)
  untrained = tmp_path / 'untrained'
  untrained.mkdir()
  config = json.load(open(os.path.join(bn_run, 'config.json')))
  (untrained / 'config.json').write_text(json.dumps(config))
  with pytest.raises(GanJaxError, match='no checkpoint in .*; train first'):
    generation.generate(str(untrained), 4, checkpoint='latest')


def test_an_unwritable_folder_is_refused(tmp_path):
  locked = tmp_path / 'locked'
  locked.mkdir(mode=0o500)
  if os.access(locked, os.W_OK):
    pytest.skip('running as root: the folder stays writable')
  with pytest.raises(GanJaxError, match='is not writable'):
    generation.check_out(str(locked / 's.png'))


def test_cli_writes_the_file_or_one_error_line(bn_run, tmp_path, repo_dir):
  out = tmp_path / 'ring.png'
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.generate', f'--workdir={bn_run}',
       '--checkpoint=latest', '--num_samples=100', f'--out={out}', '--truncation=1.5'],
      cwd=repo_dir, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'wrote 100 samples of step 4 to {out}' in result.stdout
  assert np.asarray(Image.open(out)).shape == (512, 512, 3)
  bad = tmp_path / 'class.npz'
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.generate', f'--workdir={bn_run}',
       '--num_samples=4', f'--out={bad}', '--class=2'],
      cwd=repo_dir, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: --class=2: the run in') and last.endswith(
      'is unconditional (config.model.num_classes is 0); leave --class out')
  assert not bad.exists()


# ------------------------------------------------------- every shipped config

_CONFIGS = sorted(os.path.splitext(name)[0] for name in os.listdir(
    os.path.join(os.path.dirname(__file__), '..', '..', 'configs'))
                  if name.endswith('.py') and not name.startswith('_'))


@pytest.mark.slow  # builds and samples every config's G (~10 s each)
@pytest.mark.parametrize('name', _CONFIGS)
def test_generate_works_on_every_shipped_config(name, tfds_data_dir, natural_like_dir,
                                               tmp_path):
  module = importlib.import_module(f'configs.{name}')
  config = module.get_config()
  # MNIST's sets are the prepared ones; the natural-image sets generated.
  natural = config.data.dataset in ('cifar10', 'stl10', 'celeb_a')
  config.data.data_dir = natural_like_dir if natural else tfds_data_dir
  if config.data.get('num_examples') is not None:
    config.data.num_examples = 1000  # synthetic sets: enough to build the GAN
  (tmp_path / 'config.json').write_text(config.to_json_best_effort())
  generated = generation.generate(str(tmp_path), 20, checkpoint='init')
  assert generated.samples.shape[0] == 20 and np.isfinite(generated.samples).all()
  num_classes = config.model.get('num_classes', 0)
  assert (generated.labels is None) == (not num_classes)
  out = str(tmp_path / 'samples.png')
  generation.write(out, generated)
  assert os.path.getsize(out) > 0


def test_png_of_a_conditional_run_has_a_row_per_class():
  # Samples of classes 0, 1, 2, 0, 1, 2 (the evaluation's order) whose pixels
  # are their class: the grid's row c is all c.
  labels = np.arange(6) % 3
  images = np.broadcast_to(labels[:, None, None, None] / 4.0, (6, 2, 2, 1)).astype(np.float32)
  config = defaults.get_config()
  config.model.num_classes = 3
  generated = generation.Generated(samples=images, z=np.zeros((6, 2), np.float32),
                                 labels=labels.astype(np.int32), rows=2, step=None,
                                 config=config)
  grid = generation.render(generated)
  assert grid.shape[:2] == (3 * 2, 2 * 2)
  for c in range(3):
    assert len(np.unique(grid[2 * c:2 * c + 2])) == 1
  assert len(np.unique(grid)) == 3


@pytest.mark.slow  # ~30 s: trains a conditional G on the ring
def test_class_samples_are_read_as_their_class_as_in_evaluation(ring_config, tmp_path):
  # The mixture's nearest mode is the classifier: --class=K samples are
  # read as K as often as the evaluation reads its class-K samples as K.
  config = ring_config(1500)
  config.model.num_classes, config.model.g_conditioning = 8, 'concat'
  config.model.g_batch_norm = True
  config.eval_every_steps = 1500
  config.eval.metrics = 'modes,cond'
  workdir = str(tmp_path)
  train.train_and_evaluate(config, workdir)
  evaluated = [r for r in metrics_log.read_metrics(workdir) if 'conditional_accuracy' in r]
  centers, _ = mixtures.mixture(config.data)
  hits = []
  for label in range(8):
    drawn = generation.generate(workdir, 312, checkpoint='latest', label=label)
    hits.append(np.mean(mog.nearest_mode(drawn.samples, centers) == label))
  assert evaluated[-1]['conditional_accuracy'] > 0.5   # G learnt the classes
  assert np.mean(hits) == pytest.approx(evaluated[-1]['conditional_accuracy'], abs=0.01)
