"""Sweeps: expansion and names, the launcher (dry run, skipping, Slurm
submission, a real tiny sweep). The report is tested in report_test.py,
multi-process training in training/multiprocess_test.py, the reproduction configs'
arguments in config/repro_arguments_test.py."""
import json
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from configs import ablation_mnist, ablation_mog, mog_grid
from gan_jax import report
from gan_jax.game import losses
from gan_jax.experiments import sweep_plan
from gan_jax.config import keys as config_keys
from gan_jax.workdir import divergence
from gan_jax.workdir import metrics_log

# A sweep over a small MoG config: 2-D points, no TFDS, a few steps.
_TINY_SWEEP = '''
from configs import mog_ring
from gan_jax.experiments import sweep_plan


def get_config():
  config = mog_ring.get_config()
  config.batch_size = 64
  config.num_train_steps = {steps}
  config.log_every_steps = 1
  config.checkpoint_every_steps = {steps}
  config.sample_every_steps = 1000
  config.eval_every_steps = {steps}
  config.eval.num_samples = 500
  config.data.num_examples = 1000
  return config


def sweep():
  return sweep_plan.product(seed=[0, 1]) + {extra}
'''


def write_config(tmp_path, steps=3, extra='[]', name='tiny_sweep.py'):
  path = tmp_path / name
  path.write_text(_TINY_SWEEP.format(steps=steps, extra=extra))
  return str(path)


def launch(repo_dir, *args, env=None, timeout=120):
  env = {**os.environ, **(env or {})}
  env.pop('XLA_FLAGS', None)  # not the tests' 8 fake devices
  return subprocess.run([sys.executable, 'launch/sweep.py', *args], cwd=repo_dir,
                        capture_output=True, text=True, timeout=timeout, env=env)


def make_checkpoint(workdir, step):
  os.makedirs(os.path.join(workdir, 'checkpoints', str(step)), exist_ok=True)


# ----------------------------------------------------------- expansion ----
def test_product_varies_the_last_axis_fastest_and_merges_dict_values():
  runs = sweep_plan.product({'loss.name': ['hinge', 'minimax']}, seed=range(2))
  assert runs == [{'loss.name': 'hinge', 'seed': 0}, {'loss.name': 'hinge', 'seed': 1},
                  {'loss.name': 'minimax', 'seed': 0}, {'loss.name': 'minimax', 'seed': 1}]
  runs = sweep_plan.product(loss=[{'loss.name': 'wgan_gp', 'n_critic': 5},
                              {'loss.name': 'hinge'}], seed=[3])
  assert runs == [{'loss.name': 'wgan_gp', 'n_critic': 5, 'seed': 3},
                  {'loss.name': 'hinge', 'seed': 3}]
  assert sweep_plan.product() == [{}]
  with pytest.raises(sweep_plan.SweepError, match="axis 'loss.name'"):
    sweep_plan.product({'loss.name': 'hinge'})  # a string is not a list of values


def test_run_names_are_sorted_readable_and_filesystem_safe():
  assert sweep_plan.run_name({'seed': 1, 'loss.name': 'hinge'}) == 'loss.name=hinge,seed=1'
  assert sweep_plan.run_name({}) == 'base'
  assert sweep_plan.run_name({'optimizer_d.learning_rate': 1e-4, 'ema_decay': 0.999,
                          'model.spectral_norm': True}) == (
                              'ema_decay=0.999,model.spectral_norm=True,'
                              'optimizer_d.learning_rate=0.0001')
  assert sweep_plan.run_name({'data.data_dir': '/a b/c'}) == 'data.data_dir=_a_b_c'
  assert sweep_plan.run_name({'model.g_hidden': (64, 64)}) == 'model.g_hidden=_64,64_'
  long = sweep_plan.run_name({f'key{i}': 'x' * 20 for i in range(20)})
  assert len(long) == 200 and long != sweep_plan.run_name({f'key{i}': 'y' * 20 for i in range(20)})


def test_flags_format_values_as_ml_collections_parses_them():
  assert sweep_plan.config_flags({'loss.name': 'hinge', 'seed': 2, 'ema_decay': 0.5,
                              'model.spectral_norm': False,
                              'model.g_hidden': (64, 32)}) == [
      '--config.loss.name=hinge', '--config.seed=2', '--config.ema_decay=0.5',
      '--config.model.spectral_norm=False', '--config.model.g_hidden=(64,32)']


def test_expand_checks_every_override_against_the_config(tmp_path):
  path = write_config(tmp_path, steps=7, extra="[{'num_train_steps': 9}]")
  runs = sweep_plan.expand(path, str(tmp_path / 'sweep'))
  assert [r.name for r in runs] == ['seed=0', 'seed=1', 'num_train_steps=9']
  assert [r.num_train_steps for r in runs] == [7, 7, 9]
  assert runs[0].workdir == str(tmp_path / 'sweep' / 'seed=0')
  bad = write_config(tmp_path, extra="[{'loss.nmae': 'hinge'}]", name='bad.py')
  with pytest.raises(sweep_plan.SweepError, match='run loss.nmae=hinge: .*nmae'):
    sweep_plan.expand(bad, str(tmp_path))
  twice = write_config(tmp_path, extra="[{'seed': 1}]", name='twice.py')
  with pytest.raises(sweep_plan.SweepError, match='two runs named seed=1'):
    sweep_plan.expand(twice, str(tmp_path))
  (tmp_path / 'plain.py').write_text('from configs import mog_ring\n'
                                     'get_config = mog_ring.get_config\n')
  with pytest.raises(sweep_plan.SweepError, match='defines no sweep'):
    sweep_plan.expand(str(tmp_path / 'plain.py'), str(tmp_path))


def _flat(config):
  return config_keys.flatten(json.loads(config.to_json_best_effort()))


def test_shipped_ablations_expand_to_registered_objectives():
  mog = sweep_plan.expand('configs/ablation_mog.py', 'sweep')
  assert len(mog) == 2 * len(ablation_mog.OBJECTIVES) * 3 == 60
  assert set(ablation_mog.OBJECTIVES) <= set(losses.OBJECTIVES)
  mnist = sweep_plan.expand('configs/ablation_mnist.py', 'sweep')
  assert len(mnist) == len(ablation_mnist.OBJECTIVES) * 3 == 18
  assert set(ablation_mnist.OBJECTIVES) <= set(losses.OBJECTIVES)
  # The grid runs train configs/mog_grid.py, but for data.mog (whose values
  # are the grid's defaults) and the sweep's dispatch of 1,000 steps.
  grid = ablation_mog.get_config()
  grid.update_from_flattened_dict(ablation_mog.DATASETS[1])
  expected = {k: v for k, v in _flat(mog_grid.get_config()).items()
              if not k.startswith('data.mog.')}
  expected.update({'log_every_steps': 1000, 'steps_per_dispatch': 1000,
                   'data.mog': None})  # None: the data set's own geometry
  assert _flat(grid) == expected
  fgan = sweep_plan.expand('configs/ablation_mog.py:fgan', 'sweep')
  assert len(fgan) == 2 * 7 * 3
  assert {r.overrides['loss.name'] for r in fgan} == set(ablation_mog.FGAN_OBJECTIVES)
  assert set(ablation_mog.FGAN_OBJECTIVES) <= set(losses.OBJECTIVES)


# -------------------------------------------------------------- status ----
def test_a_run_is_finished_when_its_final_checkpoint_exists(tmp_path):
  run = sweep_plan.Run('seed=0', {'seed': 0}, str(tmp_path / 'seed=0'), 10)
  assert sweep_plan.disk_status(run) == 'new'
  make_checkpoint(run.workdir, 5)
  os.makedirs(os.path.join(run.workdir, 'checkpoints', '10.orbax-checkpoint-tmp-1'))
  assert sweep_plan.disk_status(run) == 'partial'  # an uncommitted save is not one
  make_checkpoint(run.workdir, 10)
  assert sweep_plan.disk_status(run) == 'finished'
  run.num_train_steps = 20  # a longer budget: the run resumes
  assert sweep_plan.disk_status(run) == 'partial'


def test_a_diverged_run_stays_diverged_until_its_record_is_removed(tmp_path):
  run = sweep_plan.Run('seed=0', {'seed': 0}, str(tmp_path / 'seed=0'), 10)
  make_checkpoint(run.workdir, 5)
  divergence.record_divergence(run.workdir, 7, 'non-finite loss_d at step 7')
  assert sweep_plan.disk_status(run) == 'diverged'
  assert divergence.read_divergence(run.workdir) == {
      'step': 7, 'message': 'non-finite loss_d at step 7'}
  make_checkpoint(run.workdir, 10)  # trained to the end since: finished wins
  assert sweep_plan.disk_status(run) == 'finished'
  run.num_train_steps = 20
  divergence.clear_divergence(run.workdir)
  assert sweep_plan.disk_status(run) == 'partial'


def test_the_sweep_file_keeps_what_earlier_invocations_recorded(tmp_path):
  runs = [sweep_plan.Run(f'seed={s}', {'seed': s}, str(tmp_path / f'seed={s}'), 10)
          for s in (0, 1)]
  make_checkpoint(runs[0].workdir, 10)
  sweep_plan.write_sweep_file(str(tmp_path), 'x.py', runs,
                          {'seed=0': dict(exit_code=0, seconds=61.5, log='a.log')})
  # Resumed: seed=0 is skipped as finished, seed=1 runs now.
  make_checkpoint(runs[1].workdir, 5)
  sweep_plan.write_sweep_file(str(tmp_path), 'x.py', runs,
                          {'seed=1': dict(status='running', log='b.log')})
  first, second = sweep_plan.read_sweep_file(str(tmp_path))['runs']
  assert (first['status'], first['seconds'], first['log']) == ('finished', 61.5, 'a.log')
  assert (second['status'], second['last_checkpoint']) == ('running', 5)
  assert 'seconds' not in second
  # A run whose overrides changed under the same name starts a fresh record.
  runs[0] = sweep_plan.Run('seed=0', {'seed': 0, 'n_critic': 2}, runs[0].workdir, 10)
  sweep_plan.write_sweep_file(str(tmp_path), 'x.py', runs, {})
  assert 'seconds' not in sweep_plan.read_sweep_file(str(tmp_path))['runs'][0]


def test_dry_run_prints_commands_and_skips_finished_runs(tmp_path, repo_dir):
  config = write_config(tmp_path, steps=4)
  sweep_dir = tmp_path / 'sweep'
  make_checkpoint(sweep_dir / 'seed=0', 4)
  make_checkpoint(sweep_dir / 'seed=1', 2)
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}', '--dry_run')
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  assert lines[0] == '# skip seed=0 (finished)'
  assert lines[1] == '# resume seed=1'
  assert lines[2].endswith(f'-m gan_jax.main --config={config} '
                           f'--workdir={sweep_dir}/seed=1 --config.seed=1')
  assert lines[-1] == '# 2 runs: 1 skipped, 1 to run (dry run: nothing started)'
  assert sorted(os.listdir(sweep_dir)) == ['seed=0', 'seed=1']  # nothing written


def test_vmap_seeds_groups_the_runs_that_differ_only_in_seed(tmp_path):
  runs = [sweep_plan.Run(sweep_plan.run_name(o), o, str(tmp_path / sweep_plan.run_name(o)), 10)
          for o in sweep_plan.product({'loss.name': ['hinge', 'minimax']}, seed=range(3))]
  runs.append(sweep_plan.Run('base', {}, str(tmp_path / 'base'), 10))
  assert [len(j.runs) for j in sweep_plan.jobs(runs, str(tmp_path))] == [1] * 7
  jobs = sweep_plan.jobs(runs, str(tmp_path), vmap_seeds=2)
  assert [j.name for j in jobs] == [
      'loss.name=hinge,seed=0+1', 'loss.name=hinge,seed=2',
      'loss.name=minimax,seed=0+1', 'loss.name=minimax,seed=2', 'base']
  group = jobs[0]
  assert group.seeds == [0, 1] and group.overrides == {'loss.name': 'hinge'}
  assert group.workdir == str(tmp_path / 'loss.name=hinge,seed={seed}')
  assert sweep_plan.command('c.py', group)[3:] == [
      '--config=c.py', f'--workdir={tmp_path}/loss.name=hinge,seed={{seed}}',
      '--config.loss.name=hinge', '--seeds=0,1']
  # A single leftover seed is an ordinary run.
  assert jobs[1].seeds == [] and sweep_plan.command('c.py', jobs[1])[-1] == '--config.seed=2'


def test_dry_run_with_vmap_seeds_prints_one_command_per_group(tmp_path, repo_dir):
  config = write_config(tmp_path, steps=4)
  sweep_dir = tmp_path / 'sweep'
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}',
                  '--dry_run', '--vmap_seeds=4')
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.splitlines() == [
      '# start seed=0+1',
      f'{sys.executable} -m gan_jax.main --config={config} '
      f"'--workdir={sweep_dir}/seed={{seed}}' --seeds=0,1",
      '# 2 runs: 0 skipped, 2 to run in 1 process (dry run: nothing started)']


def test_dry_run_skips_a_diverged_seed_and_regroups_the_others(tmp_path, repo_dir):
  config = write_config(tmp_path, steps=4)
  sweep_dir = tmp_path / 'sweep'
  make_checkpoint(sweep_dir / 'seed=0', 2)
  make_checkpoint(sweep_dir / 'seed=1', 2)
  divergence.record_divergence(str(sweep_dir / 'seed=1'), 3, 'non-finite loss_g at step 3')
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}',
                  '--dry_run', '--vmap_seeds=4')
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  assert lines[0] == ('# skip seed=1 (diverged at step 3; delete its diverged.json '
                      'to train it again)')
  assert lines[1] == '# resume seed=0'
  assert lines[2].endswith(f'--workdir={sweep_dir}/seed=0 --config.seed=0')
  assert lines[-1] == '# 2 runs: 1 skipped, 1 to run (dry run: nothing started)'


_NEYMAN_RING = """
from configs import ablation_mog
from gan_jax.experiments import sweep_plan


def get_config():
  config = ablation_mog.get_config('fgan')
  config.loss.name = 'fgan_neyman'
  config.num_train_steps = 1000
  return config


def sweep():
  return sweep_plan.product(seed=[0, 1, 2])
"""


@pytest.mark.slow  # ~1 min: three seeds of the ring, 1,000 steps, twice
def test_seeds_stopped_by_a_diverged_seed_are_queued_again_without_it(tmp_path, repo_dir):
  # The f-GAN ablation's Neyman ring: seed 1 overflows at step 778, seeds 0
  # and 2 train on (docs/ablations.md).
  config = tmp_path / 'neyman_ring.py'
  config.write_text(_NEYMAN_RING)
  sweep_dir = tmp_path / 'sweep'
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}',
                  '--vmap_seeds=3', timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'queued again without the diverged seed(s): seed=0+2' in result.stderr
  assert '3 runs: 0 skipped, 3 to run in 1 process; 0 failed, 1 diverged' in result.stdout
  runs = {r['name']: r for r in sweep_plan.read_sweep_file(str(sweep_dir))['runs']}
  assert runs['seed=1']['status'] == 'diverged'
  assert runs['seed=0']['status'] == runs['seed=2']['status'] == 'finished'
  assert divergence.read_divergence(str(sweep_dir / 'seed=1'))['step'] < 1000


def test_seeds_resuming_from_different_steps_are_not_grouped(tmp_path):
  runs = [sweep_plan.Run(f'seed={s}', {'seed': s}, str(tmp_path / f'seed={s}'), 10)
          for s in range(4)]
  make_checkpoint(runs[1].workdir, 5)
  make_checkpoint(runs[3].workdir, 5)
  jobs = sweep_plan.jobs(runs, str(tmp_path), vmap_seeds=4)
  assert [j.name for j in jobs] == ['seed=0+2', 'seed=1+3']


def test_slurm_needs_sbatch_on_path(tmp_path, repo_dir):
  config = write_config(tmp_path)
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={tmp_path}/s',
                  '--slurm', env={'PATH': str(tmp_path)})
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: --slurm needs sbatch, which is not on PATH')


def test_slurm_submits_one_job_per_unfinished_run(tmp_path, repo_dir):
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  calls = tmp_path / 'sbatch_calls'
  (bin_dir / 'sbatch').write_text(
      f'#!/bin/sh\necho "$@" >> {calls}\necho "$(wc -l < {calls});cluster"\n')
  (bin_dir / 'sbatch').chmod(0o755)
  config = write_config(tmp_path, steps=4)
  sweep_dir = tmp_path / 'sweep'
  make_checkpoint(sweep_dir / 'seed=0', 4)
  env = {'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}'}
  dry = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}',
               '--slurm', '--sbatch_args=--partition=gpu --nodes=2', '--dry_run', env=env)
  assert dry.returncode == 0, dry.stderr[-2000:]
  command = dry.stdout.splitlines()[2]
  assert command.startswith('sbatch --parsable --job-name=seed=1 ')
  assert (f' --partition=gpu --nodes=2 {repo_dir}/launch/slurm.sbatch {config} '
          f'{sweep_dir}/seed=1 --config.seed=1') in command
  assert not calls.exists()
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}',
                  '--slurm', env=env)
  assert result.returncode == 0, result.stderr[-2000:]
  assert len(calls.read_text().splitlines()) == 1
  runs = {r['name']: r for r in sweep_plan.read_sweep_file(str(sweep_dir))['runs']}
  assert runs['seed=0']['status'] == 'finished'
  assert runs['seed=1']['job_id'] == '1' and runs['seed=1']['status'] == 'queued'


# --------------------------------------------------------- end to end ----
@pytest.mark.slow
def test_tiny_sweep_runs_reports_failures_and_skips_finished_runs(tmp_path, repo_dir):
  # Adam steps of 1e30: D's parameters overflow within the 3 steps.
  config = write_config(tmp_path, extra="[{'loss.name': 'no_such_loss'}, "
                                        "{'optimizer_d.learning_rate': 1e30}]")
  sweep_dir = tmp_path / 'sweep'
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}',
                  '--parallel=2', timeout=600)
  # The failing run is reported; the others still ran.
  assert result.returncode == 1, result.stderr[-3000:]
  assert ("FAILED loss.name=no_such_loss: exit code 1: error: unknown "
          "config.loss.name 'no_such_loss'") in result.stdout
  assert '1 failed, 1 diverged (kept as their result)' in result.stdout
  runs = {r['name']: r for r in sweep_plan.read_sweep_file(str(sweep_dir))['runs']}
  assert runs['seed=0']['status'] == runs['seed=1']['status'] == 'finished'
  assert runs['loss.name=no_such_loss']['status'] == 'failed'
  diverged, = [name for name in runs if name.startswith('optimizer_d.learning_rate')]
  assert runs[diverged]['status'] == 'diverged'
  assert runs[diverged]['error'].startswith('non-finite ')
  assert f'FAILED {diverged}' not in result.stdout
  assert runs['seed=1']['overrides'] == {'seed': 1}
  assert runs['seed=1']['last_checkpoint'] == 3
  for name in ('seed=0', 'seed=1'):
    records = metrics_log.read_metrics(str(sweep_dir / name))
    assert [r['step'] for r in records if 'loss_d' in r] == [1, 2, 3]
    assert 'mode_score' in records[-1]  # the evaluation at the last step
  again = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}', '--dry_run')
  assert again.stdout.splitlines()[:2] == ['# skip seed=0 (finished)',
                                           '# skip seed=1 (finished)']
  assert again.stdout.splitlines()[2].startswith(f'# skip {diverged} (diverged at step ')
  text = report.report(str(sweep_dir), metrics=['mode_score', 'loss_d'])
  assert text.splitlines()[2].startswith('| base | 2 | 0 | ')
  assert text.splitlines()[3].startswith(f'| {diverged} | 1 | 1 (')
  assert '- loss.name=no_such_loss: no metrics.jsonl (not started?)' in text


def test_a_second_launcher_of_one_sweep_is_refused(tmp_path, repo_dir):
  # A real process holds the sweep directory, as a running launcher does.
  config = write_config(tmp_path)
  sweep_dir = tmp_path / 'sweep'
  hold = ('import sys, time\nfrom gan_jax.workdir import lock\n'
          'lock.acquire(sys.argv[1], "sweep")\nprint("held", flush=True)\ntime.sleep(120)\n')
  holder = subprocess.Popen([sys.executable, '-c', hold, str(sweep_dir)], cwd=repo_dir,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: {sweep_dir} is being written by process {holder.pid} on '
        f'{socket.gethostname()}: one process writes a sweep at a time; wait for it to '
        'end (or stop it), or use another directory')
    assert sorted(os.listdir(sweep_dir)) == ['.lock']   # nothing started
  finally:
    holder.kill()
    holder.wait()


def test_a_damaged_sweep_json_stops_the_launcher_before_any_run(tmp_path, repo_dir):
  config = write_config(tmp_path)
  sweep_dir = tmp_path / 'sweep'
  sweep_dir.mkdir()
  (sweep_dir / 'sweep.json').write_text('{"runs": [{"name": "se')
  result = launch(repo_dir, f'--config={config}', f'--sweep_dir={sweep_dir}')
  assert result.returncode == 1
  assert re.match(r'error: .*sweep\.json is unreadable \(.*\); it is rewritten from the '
                  r"runs' workdirs: move it aside and run again$",
                  result.stderr.strip().splitlines()[-1])
  assert sorted(os.listdir(sweep_dir)) == ['sweep.json']   # no run started


def test_overrides_that_resolve_to_one_config_are_refused(tmp_path):
  # The tiny config's own batch size (64), spelled out beside the default.
  config = write_config(tmp_path, extra="[{'seed': 0, 'batch_size': 64}]")
  with pytest.raises(sweep_plan.SweepError, match=r'runs seed=0 and batch_size=64,seed=0 '
                     r"resolve to the same config \(an override repeats the config's own "
                     r'value\); drop one'):
    sweep_plan.expand(config, str(tmp_path / 'sweep'))


def test_a_sweep_stopped_as_its_runs_start_reports_them_interrupted(tmp_path, repo_dir):
  # SIGTERM right after the launcher started its first two runs: they die
  # before their own handler is installed, killed by the signal passed on.
  config = write_config(tmp_path, steps=100000)
  sweep_dir = tmp_path / 'sweep'
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  launcher = subprocess.Popen([sys.executable, 'launch/sweep.py', f'--config={config}',
                               f'--sweep_dir={sweep_dir}', '--parallel=2'], cwd=repo_dir,
                              env=env, stderr=subprocess.PIPE, text=True)
  started = 0
  for line in launcher.stderr:
    started += ' started seed=' in line
    if started == 2:
      break
  launcher.send_signal(signal.SIGTERM)
  _, stderr = launcher.communicate(timeout=120)
  assert launcher.returncode == 0, stderr[-2000:]   # nothing failed
  runs = {r['name']: r for r in json.load(open(sweep_dir / 'sweep.json'))['runs']}
  assert {r['status'] for r in runs.values()} == {'interrupted'}
  assert all(r['error'].startswith('stopped by the sweep') for r in runs.values())
  assert 'FAILED' not in stderr
