"""A real single-node Slurm on localhost, for the tests of the Slurm launch
path (slurm_test.py).

`slurm_cluster` starts the installed Slurm (Debian's slurm-wlm 22.05 where
gan_jax is developed): munged, slurmctld and slurmd, each with a private key,
configuration, state, logs and free ports in a temporary directory, once per
test session (per xdist worker), and stops them after it; it is up in about
1 s (the node idle 1.06 s after munged starts, on 2 busy cores). Its one node is this machine as `slurmd -C` reports it (CPUs, memory),
CPU only, in one partition; each task gets one CPU unless it asks for more,
bound to it (task/affinity), as on a production cluster, and there is no
accounting. Jobs reach it through SLURM_CONF in the environment they are
submitted from (`slurm.env`), which sbatch passes on to them.

slurmd must run as root (it starts each job as its user). Where Slurm or
munge is not installed, or the tests do not run as root, the tests that use
it skip with one line saying why; .ci/run installs them with apt-get.
"""
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

_PROGRAMS = ('munged', 'slurmctld', 'slurmd', 'sbatch', 'srun', 'squeue',
             'scontrol', 'scancel', 'sinfo')
_INSTALL = 'apt-get install slurmctld slurmd slurm-client munge'
# The states of a job that has ended.
_ENDED = ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED',
          'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE')
# Each xdist worker starts its own cluster on the same cores: their jobs
# would stretch each other's timing, so one test at a time uses Slurm.
_MACHINE_LOCK = os.path.join(tempfile.gettempdir(), 'gan_jax_slurm_tests.lock')


def _free_port():
  with socket.socket() as s:
    s.bind(('', 0))
    return s.getsockname()[1]


def _why_no_slurm():
  """Why no cluster can start here, or None."""
  missing = [p for p in _PROGRAMS if not shutil.which(p)]
  if missing:
    return (f'Slurm is not installed (no {", ".join(missing)} on PATH): `{_INSTALL}` '
            '(Debian/Ubuntu, as .ci/run does) to test the launch path on a real Slurm')
  if os.geteuid() != 0:
    return 'the Slurm tests start slurmd, which must run as root: run them as root'
  return None


class SlurmCluster:
  """A single-node Slurm whose files are all under `root`: `start()`,
  `stop()`, and the commands the tests submit and watch jobs with."""

  def __init__(self, root: str):
    self.root = root
    self.conf = os.path.join(root, 'slurm.conf')
    self.env = {**os.environ, 'SLURM_CONF': self.conf}
    self.node_name = None
    self.cpus = 0
    self.startup_seconds = None
    self._pid_files = {name: os.path.join(root, f'{name}.pid')
                       for name in ('munged', 'slurmctld', 'slurmd')}

  def _path(self, *parts):
    return os.path.join(self.root, *parts)

  def run(self, *command, check=True):
    """Runs a Slurm command against this cluster; its CompletedProcess."""
    result = subprocess.run(command, capture_output=True, text=True, env=self.env,
                            timeout=60)
    if check and result.returncode:
      raise RuntimeError(f'{" ".join(command)} failed ({result.returncode}): '
                         f'{result.stderr.strip()}')
    return result

  def start(self, timeout: float = 60) -> None:
    """Starts munged, slurmctld and slurmd; returns once the node is idle.
    Raises RuntimeError with the daemons' last log lines if it never is."""
    begin = time.monotonic()
    for folder in ('munge', 'state', 'spool', 'log'):
      os.makedirs(self._path(folder), exist_ok=True)
    key = self._path('munge', 'munge.key')
    with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), 'wb') as f:
      f.write(os.urandom(128))
    # --force: munged refuses root and a socket in a folder others cannot enter.
    self._start_daemon('munged', '--force', f'--key-file={key}',
                       f'--socket={self._path("munge", "socket")}',
                       f'--pid-file={self._pid_files["munged"]}',
                       f'--log-file={self._path("log", "munged.log")}',
                       f'--seed-file={self._path("munge", "seed")}')
    node = subprocess.run(['slurmd', '-C'], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]
    self.node_name = re.search(r'NodeName=(\S+)', node).group(1)
    self.cpus = int(re.search(r'CPUs=(\d+)', node).group(1))
    with open(self.conf, 'w') as f:
      f.write(self._config(node))
    self._start_daemon('slurmctld', '-f', self.conf)
    self._start_daemon('slurmd', '-f', self.conf)
    deadline = time.monotonic() + timeout
    while self.run('sinfo', '-h', '-o', '%T', check=False).stdout.strip() != 'idle':
      if time.monotonic() > deadline:
        raise RuntimeError(f'the Slurm node is not idle after {timeout} s:\n'
                           + self.daemon_logs())
      time.sleep(0.05)
    self.startup_seconds = time.monotonic() - begin

  def _start_daemon(self, *command) -> None:
    """Runs a daemon's command (it forks and returns); RuntimeError with the
    daemons' logs if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, env=self.env,
                            timeout=60)
    if result.returncode:
      raise RuntimeError(f'{command[0]} failed to start ({result.returncode}): '
                         f'{result.stderr.strip()}\n{self.daemon_logs()}')

  def _config(self, node: str) -> str:
    """slurm.conf: this machine as the one node (`node`: slurmd -C's line)."""
    return '\n'.join([
        'ClusterName=gan_jax_tests',
        f'SlurmctldHost={self.node_name}(127.0.0.1)',
        f'SlurmctldPort={_free_port()}',
        f'SlurmdPort={_free_port()}',
        'SlurmUser=root',
        'AuthType=auth/munge',
        f'AuthInfo=socket={self._path("munge", "socket")}',
        f'StateSaveLocation={self._path("state")}',
        f'SlurmdSpoolDir={self._path("spool")}',
        f'SlurmctldPidFile={self._pid_files["slurmctld"]}',
        f'SlurmdPidFile={self._pid_files["slurmd"]}',
        f'SlurmctldLogFile={self._path("log", "slurmctld.log")}',
        f'SlurmdLogFile={self._path("log", "slurmd.log")}',
        # No cgroups here: processes are tracked by their parents, and tasks
        # bound to their CPUs with sched_setaffinity.
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/affinity',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_CPU',
        'MpiDefault=none',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'ReturnToService=2',
        f'{node} NodeAddr=127.0.0.1 State=UNKNOWN',
        'PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
        ''])

  def daemon_logs(self, lines: int = 20) -> str:
    """The last lines of each daemon's log."""
    text = []
    for name in ('munged', 'slurmctld', 'slurmd'):
      try:
        with open(self._path('log', f'{name}.log'), errors='replace') as f:
          text.append(f'--- {name}.log\n' + ''.join(f.readlines()[-lines:]))
      except OSError:
        text.append(f'--- no {name}.log')
    return '\n'.join(text)

  def _pid(self, daemon):
    try:
      with open(self._pid_files[daemon]) as f:
        return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
      return None

  def cancel_all(self, timeout: float = 60) -> None:
    """Cancels this cluster's jobs and waits until they have ended."""
    jobs = self.run('squeue', '-h', '-o', '%i', check=False).stdout.split()
    if jobs:
      self.run('scancel', *jobs, check=False)
    deadline = time.monotonic() + timeout
    while self.run('squeue', '-h', '-o', '%i', check=False).stdout.split():
      if time.monotonic() > deadline:
        break
      time.sleep(0.2)

  def stop(self, timeout: float = 30) -> None:
    """Ends the jobs, then slurmctld and slurmd (scontrol shutdown), then
    munged; a daemon still there after `timeout` s is killed."""
    if self._pid('slurmctld'):
      self.cancel_all()
      self.run('scontrol', 'shutdown', check=False)
    for daemon in ('slurmctld', 'slurmd', 'munged'):
      pid = self._pid(daemon)
      if pid is None:
        continue
      if daemon == 'munged':
        _signal(pid, signal.SIGTERM)
      deadline = time.monotonic() + timeout
      while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
      if _alive(pid):
        _signal(pid, signal.SIGKILL)

  # ---------------------------------------------------------------- jobs ---
  def sbatch(self, *args, env=None, cwd=None) -> str:
    """Submits `sbatch --parsable ARGS` from `cwd` with this cluster's
    environment plus `env`; the job id."""
    result = subprocess.run(['sbatch', '--parsable', *args], capture_output=True,
                            text=True, env={**self.env, **(env or {})}, cwd=cwd,
                            timeout=60)
    if result.returncode:
      raise RuntimeError(f'sbatch {" ".join(args)} failed: {result.stderr.strip()}')
    return result.stdout.strip().split(';')[0]

  def job(self, job_id: str) -> dict:
    """`scontrol show job`'s fields of a job (JobState, ExitCode, Restarts ...)."""
    out = self.run('scontrol', '-o', 'show', 'job', job_id).stdout
    return dict(field.split('=', 1) for field in out.split() if '=' in field)

  def queue(self) -> dict:
    """Job id -> state of the jobs squeue lists."""
    out = self.run('squeue', '-h', '-o', '%i %T').stdout
    return dict(line.split() for line in out.splitlines() if line.strip())

  def wait_for_state(self, job_ids, state: str, timeout: float = 600) -> None:
    """Waits until every job of `job_ids` is in `state` (RUNNING ...)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      states = [self.job(j)['JobState'] for j in job_ids]
      if states == [state] * len(job_ids):
        return
      time.sleep(0.2)
    raise AssertionError(f'jobs {job_ids} are {states}, not {state}, after {timeout} s')

  def wait_until_ended(self, job_id: str, timeout: float = 600) -> dict:
    """The job's fields once it has ended; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      job = self.job(job_id)
      if job['JobState'] in _ENDED:
        return job
      time.sleep(0.5)
    raise AssertionError(f'job {job_id} still {job["JobState"]} after {timeout} s')

  def wait_for_text(self, path: str, pattern: str, job_id: str,
                    timeout: float = 600) -> re.Match:
    """The first match of the regular expression `pattern` in the file at
    `path` (a job's log), waiting for it while job `job_id` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      text = open(path, errors='replace').read() if os.path.exists(path) else ''
      match = re.search(pattern, text, re.M)
      if match:
        return match
      job = self.job(job_id)
      if job['JobState'] in _ENDED:
        raise AssertionError(self.why_ended(job_id, job, path, f'before {pattern!r}'))
      time.sleep(0.2)
    raise AssertionError(f'no {pattern!r} in {path} after {timeout} s')

  def why_ended(self, job_id: str, job: dict, log: str, what: str) -> str:
    """A failure message for job `job_id` that ended (`job`: its fields)
    `what`: its state, reason and exit code, its log's end (read now, after
    the state) and the daemons' last lines."""
    text = '(no log)'
    if os.path.exists(log):
      with open(log, errors='replace') as f:
        text = f.read()
    fields = ' '.join(f'{k}={job.get(k)}' for k in ('JobState', 'Reason', 'ExitCode',
                                                    'Restarts', 'BatchFlag'))
    return (f'job {job_id} ended {what}: {fields}\n--- its log\n{text[-3000:]}\n'
            + self.daemon_logs())


def _alive(pid: int) -> bool:
  """Whether process `pid` runs (a zombie has ended: where init does not
  reap the daemons, they stay zombies after they exit)."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
  except (OSError, IndexError):
    return False


def _signal(pid: int, signum: int) -> None:
  try:
    os.kill(pid, signum)
  except ProcessLookupError:
    pass


@pytest.fixture(scope='session')
def slurm_cluster(tmp_path_factory):
  """This session's SlurmCluster, started (skips where Slurm cannot run)."""
  why = _why_no_slurm()
  if why:
    pytest.skip(why)
  cluster = SlurmCluster(str(tmp_path_factory.mktemp('slurm')))
  try:
    cluster.start()
    yield cluster
  finally:
    cluster.stop()


@pytest.fixture
def slurm(slurm_cluster):
  """The session's SlurmCluster for one test: no other test on this machine
  uses Slurm meanwhile, and the test's jobs are cancelled after it."""
  with open(_MACHINE_LOCK, 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      yield slurm_cluster
    finally:
      slurm_cluster.cancel_all()
