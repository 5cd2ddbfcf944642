"""A checkpoint's report (evaluation/checkpoint_eval.py, `python -m
gan_jax.evaluate`): evaluation wired into training, the report files and
their settings, the floor and the ceiling, FID∞, and one-line errors. The
2-D ring is the quick path through all of it (no classifier)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.evaluation import checkpoint_eval
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.training import train
from gan_jax.workdir import metrics_log


@pytest.fixture(scope='module')
def ring_run(tmp_path_factory, ring_config):
  workdir = str(tmp_path_factory.mktemp('ring'))
  train.train_and_evaluate(ring_config(8), workdir)
  return workdir


def test_training_logs_mode_metrics_and_keeps_the_best_by_modes(ring_run):
  records = [r for r in metrics_log.read_metrics(ring_run) if 'mode_score' in r]
  assert [r['step'] for r in records] == [2, 4, 6, 8]
  for r in records:
    assert 0 <= r['modes_covered'] <= 8 and 0 <= r['high_quality_fraction'] <= 1
    assert r['mode_score'] == r['modes_covered'] + r['high_quality_fraction']
    # Every evaluation names what it depends on besides the model.
    assert r['protocol'] == dict(evaluator='mog-closed-form', num_samples=2500,
                                 params='ema', bn_stats='batch', latent_seed=0,
                                 reference='mixture', centers=8, std=0.02)
  # Latest (8) plus the best by mode_score (ties: the later step).
  best = max(records, key=lambda r: (r['mode_score'], r['step']))['step']
  kept = sorted(int(d) for d in os.listdir(os.path.join(ring_run, 'checkpoints')))
  assert kept == sorted({best, 8})


def test_evaluate_scores_a_checkpoint_and_writes_json(ring_run):
  report = checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='latest')
  assert report['step'] == 8
  saved = json.load(open(os.path.join(ring_run, 'eval', '8.json')))
  assert saved['metrics'] == report['metrics']
  # The same draws as the training-time evaluation at step 8.
  logged = [r for r in metrics_log.read_metrics(ring_run) if r['step'] == 8 and
            'mode_score' in r][0]
  assert report['metrics']['mode_score'] == logged['mode_score']
  assert saved['protocol'] == logged['protocol']
  best = checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='best')
  assert best['metrics']['mode_score'] >= report['metrics']['mode_score']


def test_evaluations_under_other_settings_keep_their_own_files(ring_run):
  default = checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='latest')
  raw = checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='8', params='raw',
                                            num_samples=500)
  assert raw['path'] == os.path.join(ring_run, 'eval', '8,params=raw,num_samples=500.json')
  saved = json.load(open(os.path.join(ring_run, 'eval', '8.json')))
  assert saved['metrics'] == default['metrics'] and saved['params'] == 'ema'
  # Another --metrics under the same settings adds to the file, not replaces it.
  saved['metrics'] = {'parzen_nll': 1.5}
  json.dump(saved, open(os.path.join(ring_run, 'eval', '8.json'), 'w'))
  again = checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='latest')
  assert again['metrics'] == {'parzen_nll': 1.5, **default['metrics']}
  assert json.load(open(again['path']))['metrics'] == again['metrics']


def test_evaluate_never_replaces_a_report_of_another_protocol(ring_run):
  # As if the loop had scored step 8 with another evaluator: a report this
  # evaluation (mog-closed-form) cannot share. It is refused before any
  # sampling, and the file is left as it was.
  path = os.path.join(ring_run, 'eval', '8.json')
  theirs = dict(step=8, params='ema', bn_stats='batch', num_samples=2500, seed=0,
                metrics={'parzen': 101.0}, protocol=dict(evaluator='parzen'))
  os.makedirs(os.path.dirname(path), exist_ok=True)  # whichever test runs first
  with open(path, 'w') as f:
    json.dump(theirs, f)
  before = open(path).read()
  with pytest.raises(GanJaxError, match=r"8\.json holds parzen of this checkpoint measured "
                     r"under another protocol \(.*evaluator 'parzen' here "
                     r"'mog-closed-form'.*move that file aside"):
    checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='latest')
  assert open(path).read() == before
  os.remove(path)
  assert checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='latest')['step'] == 8


def test_the_loop_also_scores_the_other_generator_as_evaluate_would(ring_config, tmp_path):
  config = ring_config(6)
  config.ema_decay = 0.5   # an average far from raw G after 6 steps
  # Wide modes: an untrained G's samples are high-quality ones of some mode,
  # so the two generators' scores differ (at std 0.02 both are 0).
  config.data.mog.std = 1.0
  config.eval.also_params = 'raw'
  config.keep_checkpoints = 3
  workdir = str(tmp_path)
  train.train_and_evaluate(config, workdir)
  loop = {s: json.load(open(os.path.join(workdir, 'eval', f'{s},params=raw.json')))
          for s in (2, 4, 6)}
  assert all(r['step'] == s and r['params'] == 'raw' for s, r in loop.items())
  # The loop's own evaluations (the best checkpoint's ranking) stay the EMA's.
  logged = {r['step']: r for r in metrics_log.read_metrics(workdir) if 'mode_score' in r}
  assert sorted(logged) == [2, 4, 6]
  assert all(r['protocol']['params'] == 'ema' for r in logged.values())
  for step, report in loop.items():
    raw = checkpoint_eval.evaluate_checkpoint(workdir, checkpoint=str(step), params='raw')
    assert raw['path'] == os.path.join(workdir, 'eval', f'{step},params=raw.json')
    assert raw['metrics'] == report['metrics'] and raw['protocol'] == report['protocol']
    ema = checkpoint_eval.evaluate_checkpoint(workdir, checkpoint=str(step), params='ema')
    assert ema['metrics']['mode_score'] == logged[step]['mode_score']
  # The two generators differ, so the reports could tell a wrong one.
  assert any(loop[s]['metrics']['kl_to_uniform'] != logged[s]['kl_to_uniform']
             for s in loop)


def test_real_data_is_the_floor_and_untrained_generator_the_ceiling(ring_run):
  floor = checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='data')['metrics']
  assert floor['modes_covered'] == 8
  # Within 3 std in 2-D: P(chi2_2 <= 9) = 1 - exp(-4.5) = 0.989.
  assert abs(floor['high_quality_fraction'] - 0.989) < 0.01
  assert floor['kl_to_uniform'] < 0.01
  ceiling = checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='init')['metrics']
  assert ceiling['mode_score'] < floor['mode_score']
  assert os.path.exists(os.path.join(ring_run, 'eval', 'data.json'))


def test_fid_infinity_of_held_out_images(mnist_like_dir, tmp_path, repo_dir):
  # The shipped MNIST evaluator on the generated stand-in's 512 training
  # images, scored as samples against its test split.
  from configs import mnist
  config = mnist.get_config()
  config.data.data_dir = mnist_like_dir
  (tmp_path / 'config.json').write_text(config.to_json_best_effort())
  report = checkpoint_eval.evaluate_checkpoint(
      str(tmp_path), checkpoint='data', metrics='fid', num_samples=200,
      fid_infinity_sizes=[100, 200, 400])
  curve = report['fid_by_num_samples']
  assert [c['num_samples'] for c in curve] == [100, 200, 400]
  inverse = [1 / c['num_samples'] for c in curve]
  slope, intercept = np.polyfit(inverse, [c['fid'] for c in curve], 1)
  assert report['metrics']['fid_infinity'] == pytest.approx(intercept)
  assert report['protocol']['evaluator'].startswith('mnist-cnn-v')
  with pytest.raises(GanJaxError, match='only 512 held-out images for N up to 600'):
    checkpoint_eval.evaluate_checkpoint(str(tmp_path), checkpoint='data', metrics='fid',
                                        num_samples=200, fid_infinity_sizes=[300, 600])
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={tmp_path}',
       '--checkpoint=data', '--metrics=kid', '--fid_infinity=100,200'],
      cwd=repo_dir, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: --fid_infinity needs the fid metric')


def test_evaluate_cli_prints_a_table(ring_run, repo_dir):
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={ring_run}',
       '--checkpoint=latest', '--params=raw'],
      cwd=repo_dir, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'checkpoint latest = step 8, raw params' in result.stdout
  assert 'modes_covered' in result.stdout


def test_bad_requests_are_one_line_errors(ring_run, tmp_path, repo_dir):
  with pytest.raises(ConfigError, match="unknown eval metric.*fid.*valid: modes"):
    protocol_lib.resolve_metrics('mog_ring', 'fid')
  with pytest.raises(GanJaxError, match='not a gan_jax run directory'):
    checkpoint_eval.evaluate_checkpoint(str(tmp_path))
  with pytest.raises(GanJaxError, match='no checkpoint at step 3 .* have'):
    checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='3')
  with pytest.raises(GanJaxError, match='--num_samples must be >= 0'):
    checkpoint_eval.evaluate_checkpoint(ring_run, num_samples=-5)
  with pytest.raises(GanJaxError, match="--checkpoint must be best, latest, data or init, "
                     "or a step, got 'first'"):
    checkpoint_eval.evaluate_checkpoint(ring_run, checkpoint='first')
  with pytest.raises(ConfigError, match='--num_samples=3 is too few samples for pr'):
    protocol_lib.check_num_samples(('fid', 'pr'), 3, '--num_samples')
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.evaluate', f'--workdir={tmp_path}'],
      cwd=repo_dir, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: ') and 'not a gan_jax run directory' in result.stderr


def test_evaluate_reports_an_unreadable_config_json_in_one_line(tmp_path):
  (tmp_path / 'config.json').write_text('{"seed": ')
  with pytest.raises(GanJaxError, match='config.json is unreadable') as error:
    checkpoint_eval.evaluate_checkpoint(str(tmp_path))
  assert '\n' not in str(error.value)
