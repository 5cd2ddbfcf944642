"""Multi-process training: 2 processes joined by jax.distributed on localhost
train the model 1 process trains, and stop together on one's SIGTERM."""
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from gan_jax.experiments import run_results
from gan_jax.config import keys as config_keys
from gan_jax.workdir import metrics_log


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _flags(num_train_steps, log_every_steps=1):
  return ['--config=configs/mnist_mlp.py', '--config.batch_size=16',
          f'--config.num_train_steps={num_train_steps}',
          f'--config.log_every_steps={log_every_steps}',
          f'--config.checkpoint_every_steps={num_train_steps}',
          '--config.sample_every_steps=100000', '--config.eval_every_steps=0',
          # SGD: Adam's g / sqrt(v) turns the float noise of a different
          # reduction order in near-zero gradients into whole steps.
          '--config.optimizer_g.name=sgd', '--config.optimizer_g.b1=0',
          '--config.optimizer_d.name=sgd', '--config.optimizer_d.b1=0',
          '--config.optimizer_g.learning_rate=0.05',
          '--config.optimizer_d.learning_rate=0.05']


def _start(repo_dir, mnist_like_dir, workdir, devices, flags, extra_env=None,
           extra_flags=(), output=subprocess.PIPE):
  env = {**os.environ, 'TFDS_DATA_DIR': mnist_like_dir, **(extra_env or {}),
         'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'}
  return subprocess.Popen(
      [sys.executable, '-m', 'gan_jax.main', f'--workdir={workdir}', *flags,
       *extra_flags], cwd=repo_dir, stdout=output, stderr=subprocess.STDOUT,
      text=True, env=env)


def _slurm_env(port):
  # What srun sets; jax.distributed.initialize() reads it (clusters/slurm_cluster.py).
  return lambda i: {'SLURM_JOB_ID': '1', 'SLURM_STEP_NODELIST': 'localhost',
                    'SLURM_NTASKS': '2', 'SLURM_PROCID': str(i),
                    'SLURM_LOCALID': str(i),
                    'JAX_COORDINATOR_ADDRESS': f'localhost:{port}'}


@pytest.mark.slow
def test_two_processes_train_as_one(mnist_like_dir, repo_dir, tmp_path):
  """2 processes x 2 CPU devices (jax.distributed over localhost, as under
  srun) compute what 1 process x 4 devices computes on the same global batch."""
  flags = _flags(3)
  slurm = _slurm_env(_free_port())
  processes = [_start(repo_dir, mnist_like_dir, tmp_path / 'one', 4, flags)] + [
      _start(repo_dir, mnist_like_dir, tmp_path / 'two', 2, flags, slurm(i),
             ['--config.distributed=True'])
      for i in range(2)]
  outputs = [p.communicate(timeout=900)[0] for p in processes]
  for p, out in zip(processes, outputs):
    assert p.returncode == 0, out[-3000:]
  assert 'step 3/3' in outputs[2]  # process 1 trained too

  import orbax.checkpoint as ocp
  one = ocp.StandardCheckpointer().restore(tmp_path / 'one' / 'checkpoints' / '3' / 'default')
  two = ocp.StandardCheckpointer().restore(tmp_path / 'two' / 'checkpoints' / '3' / 'default')
  for key in ('g_params', 'd_params', 'g_batch_stats', 'd_batch_stats'):
    flat_one, flat_two = (config_keys.flatten(one[key]), config_keys.flatten(two[key]))
    assert flat_one.keys() == flat_two.keys()
    for name in flat_one:
      np.testing.assert_allclose(flat_two[name], flat_one[name], rtol=1e-4,
                                 atol=1e-6, err_msg=f'{key}.{name}')
  records_one = run_results.without_timing(metrics_log.read_metrics(str(tmp_path / 'one')))
  records_two = run_results.without_timing(metrics_log.read_metrics(str(tmp_path / 'two')))
  assert [r['step'] for r in records_two] == [1, 2, 3]
  for a, b in zip(records_one, records_two):
    for key in a:
      np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6, err_msg=key)


def _wait_for(path, text, process, timeout=600):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if text in path.read_text():
      return
    assert process.poll() is None, path.read_text()[-3000:]
    time.sleep(0.2)
  raise AssertionError(f'no {text!r} in {path} after {timeout} s')


@pytest.mark.slow
def test_a_signal_to_one_process_stops_all_at_one_step(mnist_like_dir, repo_dir,
                                                        tmp_path):
  """SIGTERM to process 1 only: both processes save the same step and exit 0
  (without the shared decision the other one would wait in the next step's
  collectives, or save alone); the same command resumes both from it."""
  flags = _flags(100_000, log_every_steps=10)
  logs = [tmp_path / f'process{i}.log' for i in range(2)]

  def start_both():
    slurm = _slurm_env(_free_port())
    return [_start(repo_dir, mnist_like_dir, tmp_path / 'run', 2, flags, slurm(i),
                   ['--config.distributed=True'], output=open(logs[i], 'w'))
            for i in range(2)]

  processes = start_both()
  _wait_for(logs[1], 'step 20/', processes[1])
  processes[1].send_signal(signal.SIGTERM)
  for p in processes:
    assert p.wait(timeout=300) == 0, [log.read_text()[-3000:] for log in logs]
  outputs = [log.read_text() for log in logs]
  saved = [int(out.split('Received ')[1].split(' at step ')[1].split(':')[0])
           for out in outputs]
  assert saved[0] == saved[1] > 20, saved
  assert 'Received SIGTERM' in outputs[1]
  assert 'Received a stop request of another process' in outputs[0]
  assert os.listdir(tmp_path / 'run' / 'checkpoints') == [str(saved[0])]

  processes = start_both()
  _wait_for(logs[0], f'step {saved[0] // 10 * 10 + 20}/', processes[0])  # logged
  processes[0].send_signal(signal.SIGTERM)
  for p in processes:
    assert p.wait(timeout=300) == 0, [log.read_text()[-3000:] for log in logs]
  assert f'Resuming from the checkpoint at step {saved[0]}' in logs[1].read_text()
