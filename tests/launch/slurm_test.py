"""The Slurm launch path on a real Slurm (the single-node cluster of
conftest.py): a sweep as one job per run, a run of 2 processes through srun
and jax.distributed, and preemption (scancel --signal=TERM, the time-limit
warning, requeue and resubmission)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from gan_jax.config import keys as config_keys
from gan_jax.experiments import sweep_plan

# A 2-D sweep of the ring: 2 objectives x 2 seeds, a few hundred steps each.
_SWEEP = '''
from configs import mog_ring
from gan_jax.experiments import sweep_plan


def get_config():
  config = mog_ring.get_config()
  config.batch_size = 64
  config.num_train_steps = 200
  config.log_every_steps = 50
  config.checkpoint_every_steps = 200
  config.sample_every_steps = 0
  config.eval_every_steps = 200
  config.eval.num_samples = 500
  config.data.num_examples = 1000
  return config


def sweep():
  return sweep_plan.product({'loss.name': ['hinge', 'least_squares']}, seed=[0, 1])
'''
# A budget no test reaches: the run ends on a signal.
_FOREVER = 1_000_000
_RECEIVED = re.compile(r'^(\d+): .*Received SIGTERM at step (\d+):', re.M)


def _ring_flags(num_train_steps):
  """The ring, every step logged; SGD, as in training/multiprocess_test.py:
  Adam's g / sqrt(v) would turn the float noise of another reduction order
  into whole steps."""
  return ['--config.batch_size=64', f'--config.num_train_steps={num_train_steps}',
          '--config.log_every_steps=1', f'--config.checkpoint_every_steps={_FOREVER}',
          '--config.sample_every_steps=0', '--config.eval_every_steps=0',
          '--config.data.num_examples=1000',
          '--config.optimizer_g.name=sgd', '--config.optimizer_g.b1=0',
          '--config.optimizer_d.name=sgd', '--config.optimizer_d.b1=0',
          '--config.optimizer_g.learning_rate=0.05',
          '--config.optimizer_d.learning_rate=0.05']


def _submit_run(slurm, repo_dir, log_dir, workdir, tasks, devices, num_train_steps,
                *options):
  """`sbatch [--ntasks-per-node=2] OPTIONS launch/slurm.sbatch
  configs/mog_ring.py WORKDIR ...` with `devices` CPU devices per process;
  (job id, its log's path)."""
  job = slurm.sbatch(
      *([f'--ntasks-per-node={tasks}'] if tasks > 1 else []),
      f'--output={log_dir}/%j.log', *options, 'launch/slurm.sbatch',
      'configs/mog_ring.py', str(workdir), *_ring_flags(num_train_steps),
      env={'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'},
      cwd=repo_dir)
  return job, os.path.join(log_dir, f'{job}.log')


def _completed(slurm, job, log, timeout=600):
  """Waits for `job`; asserts that it completed with exit code 0; its log."""
  info = slurm.wait_until_ended(job, timeout)
  if (info['JobState'], info['ExitCode']) != ('COMPLETED', '0:0'):
    raise AssertionError(slurm.why_ended(job, info, log, 'not COMPLETED with exit code 0'))
  return open(log, errors='replace').read()


def _saved_step(text):
  """The step both processes saved at on their last SIGTERM in a job's log
  (asserted to be one)."""
  saved = {int(task): int(step) for task, step in _RECEIVED.findall(text)}
  assert sorted(saved) == [0, 1], text[-3000:]
  assert saved[0] == saved[1], saved
  return saved[0]


def _assert_same_params(workdir_a, workdir_b, step):
  import orbax.checkpoint as ocp
  a, b = (ocp.StandardCheckpointer().restore(
      os.path.join(w, 'checkpoints', str(step), 'default')) for w in (workdir_a, workdir_b))
  for key in ('g_params', 'd_params'):
    flat_a, flat_b = config_keys.flatten(a[key]), config_keys.flatten(b[key])
    assert flat_a.keys() == flat_b.keys()
    for name in flat_a:
      np.testing.assert_allclose(flat_b[name], flat_a[name], rtol=1e-4, atol=1e-6,
                                 err_msg=f'{key}.{name}')


def _needs_two_cpus(slurm):
  if slurm.cpus < 2:
    pytest.skip(f'2 tasks need 2 CPUs; the node has {slurm.cpus}')


def _sweep(slurm, repo_dir, *args):
  result = subprocess.run([sys.executable, 'launch/sweep.py', *args], cwd=repo_dir,
                          capture_output=True, text=True, timeout=300,
                          env={**slurm.env, 'XLA_FLAGS': ''})
  assert result.returncode == 0, result.stderr[-3000:]
  return result


@pytest.mark.slow
def test_a_sweep_is_one_job_per_unfinished_run(slurm, repo_dir, tmp_path):
  config = tmp_path / 'ring_sweep.py'
  config.write_text(_SWEEP)
  sweep_dir = tmp_path / 'sweep'
  args = [f'--config={config}', f'--sweep_dir={sweep_dir}', '--slurm']
  # About half the node's CPUs each (one on this 2-CPU machine): some jobs
  # run while the others wait.
  cpus_per_job = max(1, slurm.cpus // 2)
  submitted = _sweep(slurm, repo_dir, *args,
                     f'--sbatch_args=--time=10 --cpus-per-task={cpus_per_job}')
  runs = sweep_plan.read_sweep_file(str(sweep_dir))['runs']
  jobs = {r['name']: r['job_id'] for r in runs}
  assert [r['status'] for r in runs] == ['queued'] * 4
  assert len(set(jobs.values())) == 4, submitted.stderr[-3000:]
  assert slurm.job(jobs['loss.name=hinge,seed=0'])['TimeLimit'] == '00:10:00'

  first = list(jobs.values())[:slurm.cpus // cpus_per_job]
  slurm.wait_for_state(first, 'RUNNING')
  dry = _sweep(slurm, repo_dir, *args, '--dry_run')
  assert dry.stdout.splitlines() == [
      f'# skip {name} (job {job} {"running" if job in first else "queued"})'
      for name, job in jobs.items()] + ['# 4 runs: 4 skipped, 0 to run (dry run: nothing started)']
  again = _sweep(slurm, repo_dir, *args)
  assert '4 runs: 4 skipped, 0 to run; 0 failed' in again.stdout
  logs = {name: str(sweep_dir / 'logs' / f'{name}-{job}.log') for name, job in jobs.items()}
  runs = sweep_plan.read_sweep_file(str(sweep_dir))['runs']
  # A first job may have finished its 200 steps by now on an idle machine.
  assert {r['status'] for r in runs} <= {'queued', 'running', 'finished'}, runs
  assert {r['name']: (r['job_id'], r['log']) for r in runs} == {
      name: (job, logs[name]) for name, job in jobs.items()}
  assert set(slurm.queue()) <= set(jobs.values())   # nothing submitted twice

  for name, job in jobs.items():
    _completed(slurm, job, logs[name])
  done = _sweep(slurm, repo_dir, *args)
  assert '4 runs: 4 skipped, 0 to run; 0 failed' in done.stdout
  runs = sweep_plan.read_sweep_file(str(sweep_dir))['runs']
  assert [(r['status'], r['last_checkpoint'], r['log']) for r in runs] == [
      ('finished', 200, logs[name]) for name in jobs]
  dry = _sweep(slurm, repo_dir, *args, '--dry_run')
  assert dry.stdout.splitlines()[:4] == [f'# skip {name} (finished)' for name in jobs]

  report = subprocess.run(
      [sys.executable, '-m', 'gan_jax.report', f'--sweep_dir={sweep_dir}',
       '--metrics=modes_covered,loss_d'], cwd=repo_dir, capture_output=True, text=True,
      timeout=300)
  assert report.returncode == 0, report.stderr[-3000:]
  rows = [line for line in report.stdout.splitlines() if line.startswith('| loss.name=')]
  assert [row.split(' | ')[:2] for row in rows] == [
      ['| loss.name=hinge', '2'], ['| loss.name=least_squares', '2']], report.stdout


@pytest.mark.slow
def test_two_tasks_through_srun_train_as_one_process(slurm, repo_dir, tmp_path,
                                                     assert_logs_close):
  """`sbatch --ntasks-per-node=2`: 2 processes x 2 CPU devices, joined by
  jax.distributed, log and save what 1 process x 4 devices does."""
  _needs_two_cpus(slurm)
  two, two_log = _submit_run(slurm, repo_dir, tmp_path, tmp_path / 'two', 2, 2, 20)
  one, one_log = _submit_run(slurm, repo_dir, tmp_path, tmp_path / 'one', 1, 4, 20)
  text = _completed(slurm, two, two_log)
  one_text = _completed(slurm, one, one_log)
  node = slurm.node_name
  assert re.search(
      rf'^gan_jax: job {two}, partition cpu, 1 node\(s\) \[{node}\], 2 task\(s\) '
      rf'\(2 per node\), 2 CPU\(s\) on {node}; no GPU \(ask with --gpus-per-node=G\): '
      r'JAX runs on the CPU, 2 device\(s\) per process; 2 processes joined by '
      rf'jax.distributed \(coordinator {node}:\d+\); ', text, re.M), text[:2000]
  assert re.search(rf'^gan_jax: job {one}, .* 1 task\(s\) \(1 per node\), 1 CPU\(s\) '
                   r'.* 4 device\(s\) per process; one process; ', one_text, re.M)
  for task in (0, 1):
    assert re.search(rf'^{task}: .*step 20/20 ', text, re.M), text[-3000:]
  assert_logs_close(tmp_path / 'one', tmp_path / 'two')
  _assert_same_params(tmp_path / 'one', tmp_path / 'two', 20)


@pytest.mark.slow
def test_term_saves_every_task_and_the_run_resumes_exactly(slurm, repo_dir, tmp_path,
                                                           assert_logs_close):
  """scancel --signal=TERM, then the same job requeued, then TERM again,
  then the same sbatch command to the end: the run equals an uninterrupted
  one; then the header's time-limit warning (--signal=TERM@120), and a
  plain scancel, stop it the same way."""
  _needs_two_cpus(slurm)
  workdir = tmp_path / 'run'
  job, log = _submit_run(slurm, repo_dir, tmp_path, workdir, 2, 2, _FOREVER)
  slurm.wait_for_text(log, r'^\d: .*step 10/', job)
  slurm.run('scancel', '--signal=TERM', job)
  first = _saved_step(_completed(slurm, job, log))
  assert os.listdir(workdir / 'checkpoints') == [str(first)]

  # Slurm holds a requeued job ~2 minutes; StartTime=now+2 starts it sooner.
  # Not at once: slurmd refuses to launch a job in the same second as it
  # revoked the job's credential on its end ("Job N already killed, do not
  # launch batch job", and the job FAILS).
  slurm.run('scontrol', 'requeue', job)
  slurm.run('scontrol', 'update', f'JobId={job}', 'StartTime=now+2')
  slurm.wait_for_text(log, rf'^0: .*Resuming from the checkpoint at step {first}$', job)
  slurm.wait_for_text(log, rf'^\d: .*step {first + 10}/', job)
  slurm.run('scancel', '--signal=TERM', job)
  text = _completed(slurm, job, log)
  assert slurm.job(job)['Restarts'] == '1'
  assert len(_RECEIVED.findall(text)) == 4   # the log holds both runs
  second = _saved_step(text)
  assert second > first

  end = second + 10
  job, log = _submit_run(slurm, repo_dir, tmp_path, workdir, 2, 2, end)
  text = _completed(slurm, job, log)
  assert re.search(rf'^1: .*Resuming from the checkpoint at step {second}$', text, re.M)
  reference, reference_log = _submit_run(slurm, repo_dir, tmp_path, tmp_path / 'reference',
                                         2, 2, end)
  _completed(slurm, reference, reference_log)
  assert_logs_close(tmp_path / 'reference', workdir)
  _assert_same_params(tmp_path / 'reference', workdir, end)

  # The header's --signal=TERM@120 with --time=3: Slurm sends it 51-57 s
  # after the start here (it may be up to 60 s early), when the processes
  # train (from ~20 s on 2 busy cores).
  job, log = _submit_run(slurm, repo_dir, tmp_path, workdir, 2, 2, _FOREVER, '--time=3')
  text = _completed(slurm, job, log, timeout=300)
  assert re.search(rf'^0: .*Resuming from the checkpoint at step {end}$', text, re.M)
  warned = _saved_step(text)
  assert warned > end

  # A plain scancel cancels the job; its processes still save within KillWait.
  job, log = _submit_run(slurm, repo_dir, tmp_path, workdir, 2, 2, _FOREVER)
  slurm.wait_for_text(log, rf'^\d: .*step {warned + 10}/', job)
  slurm.run('scancel', job)
  assert slurm.wait_until_ended(job)['JobState'] == 'CANCELLED'
  assert _saved_step(open(log).read()) > warned + 10
