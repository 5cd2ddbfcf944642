"""The natural-image recipes run end to end on generated sets of their data
sets' shapes: the full models, a few steps at a small batch, checkpoints,
an exact resume, and evaluations on the FID Inception (its random test
weights: the numbers test the plumbing, not the recipes)."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax.evaluation import checkpoint_eval
from gan_jax.training import train
from gan_jax.workdir import metrics_log

# The full models with the Inception evaluator: one such test at a time.
pytestmark = pytest.mark.memory_heavy


@pytest.fixture(scope='module')
def natural_dir(natural_like_dir):
  return {'cifar10': natural_like_dir, 'stl10': natural_like_dir,
          'celeb_a': natural_like_dir}


def _overrides(name, natural_dir, random_inception_weights, tmp_path, num_steps):
  """{dotted key: value}: configs/<name>.py at batch 8 (G's 16 where it has
  its own), logging and checkpointing every step, evaluating 16 samples
  every 2 steps."""
  module = __import__(f'configs.{name}', fromlist=['get_config'])
  config = module.get_config()
  overrides = {'data.data_dir': natural_dir[config.data.dataset], 'batch_size': 8,
               'num_train_steps': num_steps, 'log_every_steps': 1,
               'checkpoint_every_steps': 1, 'sample_every_steps': 0,
               'eval_every_steps': 2, 'eval.num_samples': 16,
               'eval.inception_weights': random_inception_weights,
               'eval.classifier_dir': str(tmp_path / 'cache')}
  if config.g_batch_size:
    overrides['g_batch_size'] = 16
  return config, overrides


def _small(name, natural_dir, random_inception_weights, tmp_path, num_steps):
  """The config of `_overrides`, applied."""
  config, overrides = _overrides(name, natural_dir, random_inception_weights, tmp_path,
                                 num_steps)
  for key, value in overrides.items():
    *parents, leaf = key.split('.')
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  return config


@pytest.mark.slow  # ~2 min: the full SNGAN ResNets compile three times
def test_cifar10_sngan_trains_resumes_exactly_and_is_evaluated(
    natural_dir, random_inception_weights, tmp_path):
  make = lambda n: _small('cifar10_sngan', natural_dir, random_inception_weights,
                          tmp_path, n)
  straight = train.train_and_evaluate(make(2), str(tmp_path / 'a'))
  train.train_and_evaluate(make(1), str(tmp_path / 'b'))
  resumed = train.train_and_evaluate(make(2), str(tmp_path / 'b'))
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(x, y)
  records = metrics_log.read_metrics(str(tmp_path / 'a'))
  evaluations = [r for r in records if 'fid' in r]
  assert [r['step'] for r in evaluations] == [2]
  assert all(np.isfinite(evaluations[-1][k]) for k in ('fid', 'kid', 'is'))
  assert all(np.isfinite(r['loss_d']) for r in records if 'loss_d' in r)
  with open(tmp_path / 'a' / 'param_counts.json') as f:
    counts = json.load(f)
  assert counts['generator'] == 4_276_739 and counts['discriminator'] == 1_053_825
  report = checkpoint_eval.evaluate_checkpoint(str(tmp_path / 'a'), 'latest',
                                               metrics='fid,is', num_samples=16)
  assert report['protocol']['evaluator'] == 'fid-inception-v3-01234567'
  assert report['protocol']['reference_split'] == 'train'


@pytest.mark.slow  # 1-4 min each: the full model, two steps straight, one by the CLI, resumed
@pytest.mark.parametrize('name, parameters', [
    ('cifar10_wgan_gp', (4_276_739, 1_053_825)),
    ('cifar10_sndcgan', (3_828_739, 5_860_865)),
    ('cifar10_biggan', (9_416_196, 2_415_170)),
    ('stl10_sngan', (4_878_083, 10_141_441)),
    ('celeba64_dcgan', None),
])
def test_the_recipe_trains_from_the_command_line_and_resumes_exactly(
    name, parameters, natural_dir, random_inception_weights, tmp_path, repo_dir):
  # The evaluation's path is the SNGAN test's, and the class-conditional
  # one BigGAN's; here the model and the data.
  evaluated = name == 'cifar10_biggan'

  def config(num_steps):
    config = _small(name, natural_dir, random_inception_weights, tmp_path, num_steps)
    config.eval_every_steps = 2 if evaluated else 0
    config.eval.num_samples = 20   # intra-FID's least: 2 per class
    return config

  workdir = str(tmp_path / name)
  straight = train.train_and_evaluate(config(2), workdir)
  assert int(straight.step) == 2
  records = metrics_log.read_metrics(workdir)
  assert all(np.isfinite(r['loss_d']) and np.isfinite(r['loss_g'])
             for r in records if 'loss_d' in r)
  if evaluated:
    scores, = [r for r in records if 'fid' in r]
    assert all(np.isfinite(scores[k]) for k in ('fid', 'kid', 'is', 'intra_fid'))
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', '2'))
  if parameters:
    with open(os.path.join(workdir, 'param_counts.json')) as f:
      counts = json.load(f)
    assert (counts['generator'], counts['discriminator']) == parameters
  # The first step from the command line, as a user starts the recipe; its
  # evaluation is the one above (a second would double the test's ~11 GB
  # peak, as this process still holds the first's programs).
  _, overrides = _overrides(name, natural_dir, random_inception_weights, tmp_path, 1)
  overrides.update(eval_every_steps=0, **{'eval.num_samples': 20})
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', f'--config=configs/{name}.py',
       f'--workdir={tmp_path / "resumed"}'] +
      [f'--config.{key}={value}' for key, value in overrides.items()],
      cwd=repo_dir, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  resumed = train.train_and_evaluate(config(2), str(tmp_path / 'resumed'))
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(x, y)
