"""launch/sweep.py --slurm reads squeue back: runs whose earlier job is still
queued or running are shown so and not submitted again, and a squeue that
cannot answer stops the launcher before it submits anything. (Fake sbatch and
squeue; slurm_test.py drives a real Slurm.)"""
import os
import subprocess
import sys

from gan_jax.experiments import sweep_plan

_CONFIG = '''
from configs import mog_ring
from gan_jax.experiments import sweep_plan


def get_config():
  config = mog_ring.get_config()
  config.num_train_steps = 4
  return config


def sweep():
  return sweep_plan.product(seed=[0, 1, 2])
'''


def _fake(bin_dir, name, script):
  path = bin_dir / name
  path.write_text('#!/bin/sh\n' + script)
  path.chmod(0o755)


def _launch(repo_dir, bin_dir, *args):
  env = {**os.environ, 'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}'}
  env.pop('XLA_FLAGS', None)
  return subprocess.run([sys.executable, 'launch/sweep.py', *args], cwd=repo_dir,
                        capture_output=True, text=True, timeout=120, env=env)


def test_jobs_in_squeue_are_not_submitted_again(tmp_path, repo_dir):
  config = tmp_path / 'three_seeds.py'
  config.write_text(_CONFIG)
  sweep_dir = tmp_path / 'sweep'
  runs = sweep_plan.expand(str(config), str(sweep_dir))
  log = str(sweep_dir / 'logs' / 'seed=0-11.log')
  sweep_plan.write_sweep_file(str(sweep_dir), str(config), runs, {
      'seed=0': dict(status='queued', job_id='11', log=log),
      'seed=1': dict(status='queued', job_id='12'),
      'seed=2': dict(status='queued', job_id='13')})   # 13: ended, gone from squeue
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  calls = tmp_path / 'sbatch_calls'
  _fake(bin_dir, 'sbatch', f'echo "$@" >> {calls}\necho 14\n')
  _fake(bin_dir, 'squeue', 'echo "11 RUNNING"\necho "12 PENDING"\n')
  args = [f'--config={config}', f'--sweep_dir={sweep_dir}', '--slurm']

  dry = _launch(repo_dir, bin_dir, *args, '--dry_run')
  assert dry.returncode == 0, dry.stderr[-2000:]
  assert dry.stdout.splitlines()[:3] == ['# skip seed=0 (job 11 running)',
                                         '# skip seed=1 (job 12 queued)', '# start seed=2']
  result = _launch(repo_dir, bin_dir, *args)
  assert result.returncode == 0, result.stderr[-2000:]
  assert len(calls.read_text().splitlines()) == 1
  entries = {r['name']: r for r in sweep_plan.read_sweep_file(str(sweep_dir))['runs']}
  assert [(entries[f'seed={s}']['status'], entries[f'seed={s}']['job_id']) for s in range(3)] \
      == [('running', '11'), ('queued', '12'), ('queued', '14')]
  assert entries['seed=0']['log'] == log
  assert entries['seed=2']['log'] == str(sweep_dir / 'logs' / 'seed=2-14.log')

  _fake(bin_dir, 'squeue', 'echo "squeue: error: Unable to contact slurm controller" >&2\n'
        'exit 1\n')
  failed = _launch(repo_dir, bin_dir, *args)
  assert failed.returncode == 1
  assert failed.stderr.strip().splitlines()[-1] == (
      'error: squeue failed (squeue: error: Unable to contact slurm controller): cannot '
      "tell which of this sweep's jobs are still queued, so none is submitted")
  assert len(calls.read_text().splitlines()) == 1
