"""workdir/lock.py: one writer per directory, tested with a real second
process; a lock left by a killed process never blocks a restart."""
import os
import signal
import subprocess
import sys

import pytest

from gan_jax.errors import ConfigError
from gan_jax.workdir import lock

_HOLD = ('import sys, time\nfrom gan_jax.workdir import lock\n'
         'lock.acquire(sys.argv[1])\nprint("held", flush=True)\ntime.sleep(120)\n')


@pytest.fixture
def holder(tmp_path, repo_dir):
  """A second process holding the lock on tmp_path/run."""
  directory = str(tmp_path / 'run')
  process = subprocess.Popen([sys.executable, '-c', _HOLD, directory], cwd=repo_dir,
                             stdout=subprocess.PIPE, text=True)
  assert process.stdout.readline().strip() == 'held'
  yield directory, process
  process.kill()
  process.wait()


def test_a_second_writer_is_refused_naming_the_first(holder):
  directory, process = holder
  with pytest.raises(lock.DirectoryInUseError) as error:
    lock.acquire(directory)
  message = str(error.value)
  assert f'is being written by process {process.pid} on ' in message
  assert 'one process writes a run at a time' in message and '\n' not in message


def test_a_killed_writer_leaves_no_lock_behind(holder):
  directory, process = holder
  process.send_signal(signal.SIGKILL)
  process.wait()
  lock.acquire(directory)
  try:
    lock.acquire(directory)   # held already by this process: a no-op
    with open(os.path.join(directory, lock.LOCK_FILE)) as f:
      assert f.read().startswith(f'process {os.getpid()} on ')
  finally:
    lock.release(directory)


def test_a_directory_that_cannot_be_written_is_one_line(tmp_path):
  (tmp_path / 'file').write_text('not a directory')
  for directory in (tmp_path / 'file', tmp_path / 'file' / 'run'):
    with pytest.raises(ConfigError, match=r'cannot write the run directory .* use a '
                       '--workdir in a writable place'):
      lock.acquire(str(directory))


def test_a_read_only_file_system_is_one_line(small_filesystem):
  disk = small_filesystem(64)
  result = subprocess.run(['mount', '-o', 'remount,ro', str(disk)], capture_output=True)
  if result.returncode:
    pytest.skip('cannot remount read-only here')
  with pytest.raises(ConfigError, match=r'cannot write the run directory .*run \(Read-only '
                     r'file system\); use a --workdir in a writable place'):
    lock.acquire(str(disk / 'run'))
