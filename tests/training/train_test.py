"""The training loop end to end: outputs, exact resume, the card command."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from gan_jax.experiments import run_results
from gan_jax.training import preemption as preemption_lib
from gan_jax.training import runs as runs_lib
from gan_jax.training import train
from gan_jax.evaluation import checkpoint_eval
from gan_jax.sampling import generation
from gan_jax.workdir import metrics_log


def test_resume_continues_exactly(tiny_config, tmp_path):
  straight = train.train_and_evaluate(tiny_config(6), str(tmp_path / 'a'))
  train.train_and_evaluate(tiny_config(4), str(tmp_path / 'b'))
  # Same command, longer budget: picks up the step-4 checkpoint.
  resumed = train.train_and_evaluate(tiny_config(6), str(tmp_path / 'b'))
  assert int(resumed.step) == 6
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(x, y)
  records_a = run_results.without_timing(metrics_log.read_metrics(str(tmp_path / 'a')))
  records_b = run_results.without_timing(metrics_log.read_metrics(str(tmp_path / 'b')))
  assert [r['step'] for r in records_b] == [2, 4, 6]
  assert records_a == records_b


def test_keeps_latest_and_best_checkpoints(tiny_config, tmp_path):
  config = tiny_config(8)
  config.keep_checkpoints = 1
  config.best_metric, config.best_mode = 'loss_d', 'min'
  train.train_and_evaluate(config, str(tmp_path))
  records = metrics_log.read_metrics(str(tmp_path))
  best = min(records, key=lambda r: r['loss_d'])['step']
  kept = sorted(int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit())
  assert kept == sorted({best, 8})


def test_card_command_writes_checkpoints_metrics_and_samples(mnist_like_dir, repo_dir,
                                                             tmp_path):
  workdir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/mnist.py',
       f'--workdir={workdir}', '--config.num_train_steps=3',
       '--config.batch_size=16', '--config.log_every_steps=1',
       '--config.sample_every_steps=2', '--config.checkpoint_every_steps=2',
       '--config.eval_every_steps=0'],
      cwd=repo_dir, capture_output=True, text=True, timeout=600,
      env={**os.environ, 'TFDS_DATA_DIR': mnist_like_dir})
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'generator 2,305,472, discriminator 212,865' in result.stderr
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '3']
  records = metrics_log.read_metrics(str(workdir))
  assert [r['step'] for r in records] == [1, 2, 3]
  for record in records:
    assert {'loss_d', 'loss_g', 'd_real', 'd_fake'} <= set(record)
    assert all(np.isfinite(v) for v in record.values())
    assert record['interval_seconds'] > 0
    assert record['steps_per_s'] == pytest.approx(1 / record['interval_seconds'])
  grid = Image.open(workdir / 'samples' / 'step_0000003.png')
  assert grid.size == (8 * 28, 8 * 28)
  config = json.loads((workdir / 'config.json').read_text())
  assert config['model']['generator'] == 'dcgan28' and config['num_train_steps'] == 3
  assert os.listdir(workdir / 'tensorboard')


# A fresh process each: one in the default suite, the others (whose values
# config_validation_test refuses in-process too) in the slow one.
@pytest.mark.parametrize('flag,message', [
    pytest.param('--config.loss.name=hing',
                 "error: unknown config.loss.name 'hing'; valid names: ",
                 marks=pytest.mark.slow),
    pytest.param('--config.batch_size=30',
                 'error: config.batch_size=30 must be a positive multiple',
                 marks=pytest.mark.slow),
    ('--config.data.data_dir=/nonexistent', 'error: mnist is not prepared in'),
])
def test_bad_input_gets_one_line_error(flag, message, repo_dir, tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'gan_jax.main', '--config=configs/mnist.py',
       f'--workdir={tmp_path}', '--config.data.download=False', flag],
      cwd=repo_dir, capture_output=True, text=True, timeout=300,
      env={**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=4'})
  assert result.returncode == 1
  last_line = result.stderr.strip().splitlines()[-1]
  assert last_line.startswith(message), result.stderr[-2000:]
  assert not os.path.exists(tmp_path / 'checkpoints')


@pytest.mark.slow  # ~2 min: a real subprocess, signalled mid-run
def test_sigterm_saves_a_checkpoint_and_the_run_resumes(mnist_like_dir, repo_dir,
                                                        tmp_path):
  command = [sys.executable, '-m', 'gan_jax.main', '--config=configs/mnist_mlp.py',
             f'--workdir={tmp_path}', '--config.batch_size=16',
             '--config.log_every_steps=5', '--config.checkpoint_every_steps=100000',
             '--config.sample_every_steps=100000']
  env = {**os.environ, 'TFDS_DATA_DIR': mnist_like_dir,
         'XLA_FLAGS': '--xla_force_host_platform_device_count=2'}
  process = subprocess.Popen(command + ['--config.num_train_steps=1000000'],
                             cwd=repo_dir, env=env, stderr=subprocess.PIPE, text=True)
  metrics = tmp_path / 'metrics.jsonl'
  deadline = time.time() + 300
  while not (metrics.exists() and metrics.read_text().strip()):
    assert process.poll() is None and time.time() < deadline, 'training did not start'
    time.sleep(0.5)
  # A second writer of the same workdir is refused in one line naming the first.
  second = subprocess.run(command + ['--config.num_train_steps=1000000'], cwd=repo_dir,
                          env=env, capture_output=True, text=True, timeout=300)
  assert second.returncode == 1
  last_line = second.stderr.strip().splitlines()[-1]
  assert last_line.startswith(f'error: {tmp_path} is being written by process '
                              f'{process.pid} on '), second.stderr[-2000:]
  assert process.poll() is None   # the first goes on
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 0, stderr[-2000:]
  assert 'Received SIGTERM at step' in stderr
  saved = [int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit()]
  assert len(saved) == 1 and saved[0] >= 5
  resumed = subprocess.run(command + [f'--config.num_train_steps={saved[0] + 2}'],
                           cwd=repo_dir, env=env, capture_output=True, text=True,
                           timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert f'Resuming from the checkpoint at step {saved[0]}' in resumed.stderr
  assert metrics_log.read_metrics(str(tmp_path))[-1]['step'] == saved[0] + 2


@pytest.mark.slow  # ~1 min: a real training, read while it saves
def test_evaluate_and_generate_read_a_run_while_it_trains(repo_dir, tmp_path):
  # The ring saving every 200 steps while this process scores and samples its
  # checkpoints: the readers must not touch the training's saves in progress.
  command = [sys.executable, '-m', 'gan_jax.main', '--config=configs/mog_ring.py',
             f'--workdir={tmp_path}', '--config.num_train_steps=1000000',
             '--config.checkpoint_every_steps=200', '--config.log_every_steps=200',
             '--config.keep_checkpoints=2', '--config.eval_every_steps=0']
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  process = subprocess.Popen(command, cwd=repo_dir, env=env, stderr=subprocess.PIPE,
                             text=True)
  deadline = time.time() + 120
  while not (tmp_path / 'checkpoints').exists() or not [
      d for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit()]:
    assert process.poll() is None and time.time() < deadline, 'no checkpoint'
    time.sleep(0.2)
  steps = []
  for _ in range(5):
    report = checkpoint_eval.evaluate_checkpoint(str(tmp_path), 'latest', num_samples=200)
    generated = generation.generate(str(tmp_path), 16, 'latest')
    assert generated.samples.shape == (16, 2)
    steps.append(report['step'])
    assert process.poll() is None, process.stderr.read()[-2000:]
  assert steps == sorted(steps) and steps[-1] > steps[0]   # it went on saving
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 0, stderr[-2000:]


def test_corrupt_latest_checkpoint_falls_back_to_previous(tiny_config, tmp_path,
                                                          caplog):
  config = tiny_config(4)
  straight = train.train_and_evaluate(config, str(tmp_path / 'a'))
  train.train_and_evaluate(config, str(tmp_path / 'b'))
  (tmp_path / 'b' / 'checkpoints' / '4' / 'default' / '_METADATA').write_text('{garbage')
  with caplog.at_level('WARNING'):
    redone = train.train_and_evaluate(config, str(tmp_path / 'b'))
  assert 'checkpoint 4 in' in caplog.text and 'unreadable' in caplog.text
  # Resumed from step 2 and recomputed steps 3-4 exactly; step 2 is kept.
  for x, y in zip(jax.tree.leaves(straight), jax.tree.leaves(redone)):
    np.testing.assert_array_equal(x, y)
  assert (tmp_path / 'b' / 'checkpoints' / '2').exists()
  assert (tmp_path / 'b' / 'corrupt_checkpoints' / '4' / 'default').exists()


@pytest.mark.parametrize('intervals,step,stop,due', [
    # (log, sample, checkpoint, eval) every ..., at step of 10
    ((2, 4, 5, 5), 4, False, dict(log=True, sample=True, evaluate=False, save=False)),
    ((2, 4, 5, 5), 5, False, dict(log=False, sample=False, evaluate=True, save=True)),
    ((2, 4, 5, 5), 3, True, dict(log=False, sample=False, evaluate=False, save=True)),
    ((3, 3, 3, 3), 10, False, dict(log=True, sample=True, evaluate=True, save=True)),
    # 0: log and save at the last step only; no samples, no evaluations.
    ((0, 0, 0, 0), 4, False, dict(log=False, sample=False, evaluate=False, save=False)),
    ((0, 0, 0, 0), 10, False, dict(log=True, sample=False, evaluate=False, save=True)),
    ((0, 0, 0, 0), 7, True, dict(log=False, sample=False, evaluate=False, save=True)),
])
def test_what_is_due_at_a_step(intervals, step, stop, due, tiny_config):
  config = tiny_config(10)
  (config.log_every_steps, config.sample_every_steps, config.checkpoint_every_steps,
   config.eval_every_steps) = intervals
  assert train.due_at(config, step, stop, evaluates=True) == train.Due(**due)
  assert not train.due_at(config, 5, False, evaluates=False).evaluate


def test_intervals_of_zero_log_and_save_only_at_the_end(ring_config, tmp_path):
  config = ring_config(4)
  config.log_every_steps = config.sample_every_steps = 0
  config.checkpoint_every_steps = config.eval_every_steps = 0
  train.train_and_evaluate(config, str(tmp_path))
  assert [r['step'] for r in metrics_log.read_metrics(str(tmp_path))] == [4]
  assert os.listdir(tmp_path / 'checkpoints') == ['4']
  assert os.listdir(tmp_path / 'samples') == []


@pytest.mark.parametrize('best_metric,best_mode', [('loss_d', 'min'),
                                                   ('d_param_norm', 'max')])
def test_the_best_checkpoint_survives_a_resume(best_metric, best_mode, ring_config,
                                               tmp_path):
  """The best of the first run's checkpoints is kept when a resumed run saves
  worse ones, and --checkpoint=best restores it (orbax keeps the metrics of
  a checkpoint on disk only when told how to rank them)."""
  def config(steps):
    c = ring_config(steps)
    c.batch_size, c.eval_every_steps, c.sample_every_steps = 32, 0, 0
    c.keep_checkpoints, c.log_every_steps, c.checkpoint_every_steps = 1, 10, 10
    c.best_metric, c.best_mode = best_metric, best_mode
    return c

  train.train_and_evaluate(config(30), str(tmp_path))
  train.train_and_evaluate(config(50), str(tmp_path))  # resumes at step 30
  records = metrics_log.read_metrics(str(tmp_path))
  assert [r['step'] for r in records] == [10, 20, 30, 40, 50]
  pick = min if best_mode == 'min' else max
  best = pick(records, key=lambda r: r[best_metric])['step']
  assert best <= 30  # saved by the first run: what a resume used to drop
  kept = sorted(int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit())
  assert kept == sorted({best, 50})
  report = checkpoint_eval.evaluate_checkpoint(str(tmp_path), checkpoint='best')
  assert report['step'] == best


def test_a_sigterm_during_start_up_is_a_checkpoint_at_the_first_step(
    tiny_config, tmp_path, monkeypatch):
  # A scheduler's SIGTERM while the run is restored or compiled (minutes for
  # a big model) is honoured at the first step boundary, not fatal.
  restore = runs_lib.restore

  def restore_then_signal(runs, template):
    os.kill(os.getpid(), signal.SIGTERM)
    return restore(runs, template)

  monkeypatch.setattr(runs_lib, 'restore', restore_then_signal)
  state = train.train_and_evaluate(tiny_config(50), str(tmp_path / 'run'))
  assert int(state.step) == 1
  assert os.listdir(tmp_path / 'run' / 'checkpoints') == ['1']


def test_a_second_interrupt_interrupts_at_once():
  with preemption_lib.PreemptionRequest() as preemption:
    os.kill(os.getpid(), signal.SIGINT)
    assert preemption.requested and preemption.name == 'SIGINT'
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
