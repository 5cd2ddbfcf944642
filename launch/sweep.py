"""Runs the sweep of a config file: every run an ordinary, resumable gan_jax run.

  python launch/sweep.py --config=configs/ablation_mog.py
      [--sweep_dir=runs/sweeps/ablation_mog] [--dry_run]
      [--parallel=N | --gpus=0,1,...] [--vmap_seeds=K]
      [--slurm [--sbatch_args='...']]

The runs are the override dicts of the config's `sweep()` (gan_jax/experiments/sweep_plan.py);
run R trains in <sweep_dir>/<R's name> with `python -m gan_jax.main`. Runs
whose final checkpoint exists, or that diverged, are skipped; the others
start or resume from their latest checkpoint, so re-running the same
command completes a sweep.

Locally: with --gpus, one run per listed GPU at a time (CUDA_VISIBLE_DEVICES
masks it to that GPU); without, --parallel runs at a time on the CPU, each
pinned to its own cores (sched_setaffinity: XLA's and TensorFlow's thread
pools size themselves to the cores a process may use) with OMP / TF thread
counts to match, and with JAX_PLATFORMS=cpu when several share the machine.
Output goes to <sweep_dir>/logs/<run>.log. A failed run is reported (name,
exit code, last error line) and the others go on; the sweep exits 1 if any
failed. A run that stops on a non-finite value (config.nonfinite) is not
a failure: divergence is its result, recorded in <run>/diverged.json,
shown by gan_jax.report and skipped by later invocations (the same config
would diverge the same way). The other seeds of its --vmap_seeds group,
stopped with it, are queued again at once without it. SIGTERM/SIGINT stop
new runs and are passed on to the running ones, which checkpoint and exit. <sweep_dir>/sweep.json lists the runs, their
overrides and status.

--vmap_seeds=K trains the runs that differ only in their seed K at a time in
one process (`gan_jax.main --seeds`, vmapped on each device): one compiled
program steps them all, which pays for small models on accelerators (on CPU
it only saves the process starts; see README). Each run's workdir is the same
as without it.

--slurm submits one `sbatch launch/slurm.sbatch` job per unfinished run, or
group of seeds, with --sbatch_args as sbatch's options; its log goes to
<sweep_dir>/logs/<run>-<job id>.log. Runs whose job from an earlier
submission is still in squeue are not submitted again: sweep.json and
--dry_run show them queued or running, with their job id. Re-running the
same command later submits what is unfinished (preempted, timed out, failed)
and marks the rest finished.
"""
import collections
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List

from absl import app
from absl import flags
from absl import logging

from gan_jax.experiments import sweep_plan
from gan_jax.errors import GanJaxError
from gan_jax.workdir import divergence
from gan_jax.workdir import lock

FLAGS = flags.FLAGS
flags.DEFINE_string('config', None, 'Config file defining get_config() and sweep().')
flags.DEFINE_string('sweep_dir', None, 'Where the runs go; default '
                    'runs/sweeps/<config name>.')
flags.DEFINE_bool('dry_run', False, 'Print each run\'s command and whether it '
                  'would be skipped; run nothing, write nothing.')
flags.DEFINE_integer('parallel', 1, 'CPU runs at a time (without --gpus).')
flags.DEFINE_list('gpus', [], 'GPU ids: one run per GPU at a time.')
flags.DEFINE_integer('vmap_seeds', 0, 'Train up to this many seeds of a '
                     'variant together in one process (0: one run per process).')
flags.DEFINE_bool('slurm', False, 'Submit one Slurm job per run (sbatch).')
flags.DEFINE_string('sbatch_args', '', 'sbatch options of each job (launch/'
                    'slurm.sbatch asks for one task, no GPU), e.g. "--partition=gpu '
                    '--gpus-per-node=1 --cpus-per-task=8 --time=24:00:00".')
flags.mark_flags_as_required(['config'])

_SBATCH_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'slurm.sbatch')
_POLL_SECONDS = 1.0


def _slots(gpus: List[str], parallel: int) -> List[Dict]:
  """Per concurrent run: environment variables and CPU cores (or None)."""
  if gpus:
    return [dict(env={'CUDA_VISIBLE_DEVICES': g}, cores=None, label=f'GPU {g}')
            for g in gpus]
  if parallel < 1:
    raise app.UsageError('--parallel must be >= 1')
  if parallel == 1:
    return [dict(env={}, cores=None, label='this machine')]
  cores = sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else []
  per_run = max(1, len(cores) // parallel) if cores else 1
  slots = []
  for i in range(parallel):
    mine = [cores[(i * per_run + j) % len(cores)] for j in range(per_run)] if cores else None
    threads = str(per_run)
    # Several runs on one accelerator would fight over its memory.
    env = {'JAX_PLATFORMS': 'cpu', 'OMP_NUM_THREADS': threads,
           'TF_NUM_INTRAOP_THREADS': threads, 'TF_NUM_INTEROP_THREADS': '1'}
    slots.append(dict(env=env, cores=mine,
                      label=f'cores {",".join(map(str, mine))}' if mine else f'slot {i}'))
  return slots


def _run_env(config_path: str, extra: Dict[str, str]) -> Dict[str, str]:
  # The config's `from configs import ...` must resolve from any cwd.
  root = sweep_plan.config_root(config_path)
  path = os.pathsep.join(p for p in (root, os.environ.get('PYTHONPATH')) if p)
  return {**os.environ, 'PYTHONPATH': path, **extra}


def _last_error_line(log_path: str) -> str:
  """gan_jax's one-line `error: ...`, else the last line (a traceback's)."""
  try:
    with open(log_path, errors='replace') as f:
      lines = [line.strip() for line in f.readlines()[-200:] if line.strip()]
  except OSError:
    return ''
  errors = [line for line in lines if line.startswith('error:')]
  return (errors or lines or [''])[-1][:500]


class _StopRequest:
  """SIGTERM/SIGINT: stop starting runs; the running ones are told to stop."""

  def __init__(self):
    self.signal = None

  def __call__(self, signum, frame):
    del frame
    self.signal = signum


class _LocalSweep:
  """The local runner's state: the jobs queued, those running (one per
  slot), and the runs' results, written to sweep.json at every change."""

  def __init__(self, config_path: str, sweep_dir: str, runs: List[sweep_plan.Run],
               jobs: List[sweep_plan.Job], vmap_seeds: int):
    self.config_path, self.sweep_dir, self.runs = config_path, sweep_dir, runs
    self.vmap_seeds = vmap_seeds
    self.log_dir = os.path.join(sweep_dir, 'logs')
    os.makedirs(self.log_dir, exist_ok=True)
    self.queue = collections.deque(jobs)
    self.running = {}  # slot index -> (job, process, log file, start time)
    self.results: Dict[str, dict] = {}

  def _write(self) -> None:
    sweep_plan.write_sweep_file(self.sweep_dir, self.config_path, self.runs,
                                self.results)

  def start(self, i: int, slot: Dict) -> None:
    """Starts the next queued job on slot `i`, its output to logs/<job>.log."""
    job = self.queue.popleft()
    log_path = os.path.join(self.log_dir, f'{job.name}.log')
    log = open(log_path, 'a')
    cores = slot['cores']
    process = subprocess.Popen(
        sweep_plan.command(self.config_path, job), stdout=log, stderr=subprocess.STDOUT,
        env=_run_env(self.config_path, slot['env']),
        preexec_fn=(lambda c=cores: os.sched_setaffinity(0, c)) if cores else None)
    self.running[i] = (job, process, log, time.time())
    logging.info('started %s (%s) on %s; log: %s', job.name,
                 ', '.join(sorted({sweep_plan.disk_status(r) for r in job.runs})),
                 slot['label'], log_path)
    for run in job.runs:
      self.results[run.name] = dict(status='running', log=log_path)
    self._write()

  def forward(self, signum: int) -> None:
    """Passes a stop request on to the running jobs (they checkpoint)."""
    logging.warning('received %s: stopping the %d running job(s) (they '
                    'checkpoint); %d not started', signal.Signals(signum).name,
                    len(self.running), len(self.queue))
    for _, process, _, _ in self.running.values():
      process.send_signal(signal.SIGTERM)

  def reap(self, stopping: bool) -> None:
    """Finishes the jobs whose process has exited."""
    for i, (job, process, log, start) in list(self.running.items()):
      code = process.poll()
      if code is not None:
        log.close()
        del self.running[i]
        self.finish(job, code, log.name, round(time.time() - start, 1), stopping)

  def finish(self, job: sweep_plan.Job, code: int, log_path: str, seconds: float,
             stopping: bool) -> None:
    """Records the results of `job`'s runs from its exit `code` and their
    workdirs; the seeds of a group stopped by another seed's divergence are
    queued again without it (unless the sweep is `stopping`)."""
    error = None
    if code != 0:   # a negative code: killed by that signal, before any log line
      error = (f'killed by {signal.Signals(-code).name}' if code < 0
               else _last_error_line(log_path))
    statuses = {run.name: sweep_plan.disk_status(run) for run in job.runs}
    # A seed's divergence is its result and stops its whole group.
    diverged = code != 0 and 'diverged' in statuses.values()
    # A job the sweep itself stopped (its signal, or a second Ctrl-C reaching
    # it after it saved, or before its own handler was installed) is
    # interrupted, not failed: rerunning resumes it.
    stopped = stopping and code != 0 and not diverged
    if code != 0 and not diverged and not stopped:
      logging.error('FAILED %s: exit code %d: %s', job.name, code, error)
    for run in job.runs:
      result = dict(exit_code=code, seconds=seconds, log=log_path)
      if len(job.runs) > 1:
        result['group'] = job.name
      if statuses[run.name] == 'diverged':
        record = divergence.read_divergence(run.workdir)
        result.update(status='diverged', error=record['message'])
        logging.warning('DIVERGED %s at step %d: %s (its result, kept in %s)',
                        run.name, record['step'], record['message'],
                        divergence.DIVERGED_FILE)
      elif code != 0 and not diverged and not stopped:
        result.update(status='failed', error=error)
      elif statuses[run.name] != 'finished':
        result['status'] = 'interrupted'
        if stopped:
          result['error'] = f'stopped by the sweep ({error})'
        elif not diverged:
          logging.warning('%s stopped before its last step; rerun to resume', run.name)
      self.results[run.name] = result
    left = [r for r in job.runs if statuses[r.name] not in ('finished', 'diverged')]
    if diverged and left and not stopping:
      # Each requeue drops the diverged seeds, so this ends.
      again = sweep_plan.jobs(left, self.sweep_dir, self.vmap_seeds)
      self.queue.extendleft(reversed(again))
      logging.info('queued again without the diverged seed(s): %s',
                   ', '.join(j.name for j in again))
    if code == 0 and all(s == 'finished' for s in statuses.values()):
      logging.info('finished %s in %.0f s', job.name, seconds)
    elif code == 0:
      logging.info('stopped %s after %.0f s (a checkpoint saved; rerun to resume)',
                   job.name, seconds)
    self._write()


def run_local(config_path: str, sweep_dir: str, runs: List[sweep_plan.Run],
              jobs: List[sweep_plan.Job], slots: List[Dict],
              vmap_seeds: int = 0) -> Dict[str, dict]:
  """Runs `jobs` with at most one per slot at a time; results by run name.
  The seeds of a group stopped by another seed's divergence are queued
  again, regrouped without it (`vmap_seeds`)."""
  sweep = _LocalSweep(config_path, sweep_dir, runs, jobs, vmap_seeds)
  stop = _StopRequest()
  previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
  forwarded = False
  try:
    while sweep.running or (sweep.queue and not stop.signal):
      for i, slot in enumerate(slots):
        if i not in sweep.running and sweep.queue and not stop.signal:
          sweep.start(i, slot)
      if stop.signal and not forwarded:
        sweep.forward(stop.signal)
        forwarded = True
      time.sleep(_POLL_SECONDS)
      sweep.reap(stopping=bool(stop.signal))
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
  return sweep.results


# squeue's job states as the statuses of sweep.json; any other state a job
# in squeue can be in (SUSPENDED, REQUEUE_HOLD ...) is written in lower case.
_SLURM_STATUS = {'PENDING': 'queued', 'CONFIGURING': 'running',
                 'RUNNING': 'running', 'COMPLETING': 'running'}


def _queued_slurm_jobs(sweep_dir: str) -> Dict[str, dict]:
  """Run name -> its sweep.json results (status: queued or running, job_id,
  log) for the runs whose job from an earlier submission squeue still lists.

  Raises SweepError when squeue is missing or fails: the launcher would
  otherwise submit a second job for a run that is still queued.
  """
  previous = sweep_plan.read_sweep_file(sweep_dir) or {}
  earlier = {r['name']: r for r in previous.get('runs', []) if r.get('job_id')}
  if not earlier:
    return {}
  if not shutil.which('squeue'):
    raise sweep_plan.SweepError(
        'squeue is not on PATH: cannot tell which of the jobs in '
        f'{os.path.join(sweep_dir, sweep_plan.SWEEP_FILE)} are still queued')
  # Job ids Slurm no longer knows are left out; squeue fails only when it
  # cannot answer (no controller).
  ids = sorted({str(r['job_id']) for r in earlier.values()})
  out = subprocess.run(['squeue', '-h', '-o', '%i %T', '-j', ','.join(ids)],
                       capture_output=True, text=True)
  if out.returncode != 0:
    error = (out.stderr.strip().splitlines() or [''])[-1]
    raise sweep_plan.SweepError(
        f'squeue failed ({error}): cannot tell which of this sweep\'s jobs are '
        'still queued, so none is submitted')
  states = dict(line.split()[:2] for line in out.stdout.splitlines() if line.strip())
  queued = {}
  for name, entry in earlier.items():
    state = states.get(str(entry['job_id']))
    if state:
      queued[name] = dict(status=_SLURM_STATUS.get(state, state.lower()),
                          job_id=str(entry['job_id']),
                          **({'log': entry['log']} if entry.get('log') else {}))
  return queued


def sbatch_command(config_path: str, sweep_dir: str, job: sweep_plan.Job) -> List[str]:
  """The `sbatch launch/slurm.sbatch` command line of `job`."""
  return (['sbatch', '--parsable', f'--job-name={job.name}',
           f'--output={os.path.join(sweep_dir, "logs", job.name)}-%j.log']
          + shlex.split(FLAGS.sbatch_args)
          + [_SBATCH_SCRIPT, config_path, job.workdir]
          + sweep_plan.job_flags(job)[1:])  # the workdir is the script's argument


def submit_slurm(config_path: str, sweep_dir: str,
                 jobs: List[sweep_plan.Job]) -> Dict[str, dict]:
  """Submits one Slurm job per job of `jobs`; the sweep.json results by run
  name: queued with the job id and log, or failed with sbatch's last line."""
  os.makedirs(os.path.join(sweep_dir, 'logs'), exist_ok=True)
  results = {}
  for job in jobs:
    out = subprocess.run(sbatch_command(config_path, sweep_dir, job),
                         capture_output=True, text=True,
                         env=_run_env(config_path, {}))
    if out.returncode != 0:
      error = (out.stderr.strip().splitlines() or [''])[-1]
      for run in job.runs:
        results[run.name] = dict(status='failed', exit_code=out.returncode,
                                 error=f'sbatch: {error}')
      logging.error('sbatch failed for %s: %s', job.name, error)
      continue
    job_id = out.stdout.strip().split(';')[0]
    log_path = os.path.join(sweep_dir, 'logs', f'{job.name}-{job_id}.log')
    for run in job.runs:
      results[run.name] = dict(status='queued', job_id=job_id, log=log_path)
    logging.info('submitted %s as job %s; log: %s', job.name, job_id, log_path)
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config_path = FLAGS.config
  sweep_dir = FLAGS.sweep_dir or sweep_plan.default_sweep_dir(config_path)
  if FLAGS.slurm and not FLAGS.dry_run and not shutil.which('sbatch'):
    sys.exit('error: --slurm needs sbatch, which is not on PATH; run on a '
             'Slurm login node, or drop --slurm to run here')
  try:
    runs = sweep_plan.expand(config_path, sweep_dir)
    sweep_plan.read_sweep_file(sweep_dir)   # damaged: refused before a run starts
    queued = _queued_slurm_jobs(sweep_dir) if FLAGS.slurm else {}
  except sweep_plan.SweepError as e:
    sys.exit(f'error: {e}')
  todo, skipped, in_queue = [], 0, {}
  for run in runs:
    status = sweep_plan.disk_status(run)
    if status in ('new', 'partial') and run.name in queued:
      in_queue[run.name] = queued[run.name]
      why = 'job {job_id} {status}'.format(**queued[run.name])
    elif status == 'diverged':
      why = (f'diverged at step {divergence.read_divergence(run.workdir)["step"]}; '
             f'delete its {divergence.DIVERGED_FILE} to train it again')
    elif status == 'finished':
      why = status
    else:
      todo.append(run)
      continue
    skipped += 1
    if FLAGS.dry_run:
      print(f'# skip {run.name} ({why})')
  jobs = sweep_plan.jobs(todo, sweep_dir, FLAGS.vmap_seeds)
  summary = f'{len(runs)} runs: {skipped} skipped, {len(todo)} to run'
  if len(jobs) != len(todo):
    summary += f' in {len(jobs)} process{"es" if len(jobs) > 1 else ""}'
  if FLAGS.dry_run:
    for job in jobs:
      action = ' + '.join(sorted({'resume' if sweep_plan.disk_status(r) == 'partial'
                                  else 'start' for r in job.runs}))
      cmd = (sbatch_command(config_path, sweep_dir, job) if FLAGS.slurm
             else sweep_plan.command(config_path, job))
      print(f'# {action} {job.name}\n{shlex.join(cmd)}')
    print(f'# {summary} (dry run: nothing started)')
    return
  logging.info('%s; sweep dir %s', summary, sweep_dir)
  try:
    # One launcher per sweep directory (its runs each lock their workdir too).
    lock.acquire(sweep_dir, 'sweep')
  except GanJaxError as e:
    sys.exit(f'error: {e}')
  if FLAGS.slurm:
    results = {**in_queue, **submit_slurm(config_path, sweep_dir, jobs)}
  else:
    results = run_local(config_path, sweep_dir, runs, jobs,
                        _slots(FLAGS.gpus, FLAGS.parallel), FLAGS.vmap_seeds)
  path = sweep_plan.write_sweep_file(sweep_dir, config_path, runs, results)
  failed = {n: r for n, r in results.items() if r.get('status') == 'failed'}
  for name, result in failed.items():
    print(f'FAILED {name}: exit code {result["exit_code"]}: {result.get("error", "")}')
  counts = collections.Counter(r.get('status') for r in results.values())
  print(f'{summary}; {len(failed)} failed'
        + (f', {counts["diverged"]} diverged (kept as their result)'
           if counts['diverged'] else '')
        + (f', {counts["interrupted"]} interrupted (rerun to resume)'
           if counts['interrupted'] else '') + f'. Status: {path}')
  if failed:
    sys.exit(1)


if __name__ == '__main__':
  app.run(main)
