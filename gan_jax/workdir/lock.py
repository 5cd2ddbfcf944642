"""One writer per directory: a run's workdir (or a sweep's directory) is
written by one process at a time.

The writer holds an advisory lock (`fcntl.flock`) on `<directory>/.lock`
for as long as it writes; the kernel releases it when the process ends, so
a lock left by a killed process never blocks a restart. The file names its
holder, so a second writer is refused in one line saying who writes there.
Readers (`gan_jax.evaluate`, `gan_jax.generate`, `gan_jax.report`) take no
lock. A lock on a network file system is only as good as its flock.
"""
import fcntl
import os
import socket
from typing import Dict

from gan_jax.errors import ConfigError, GanJaxError

LOCK_FILE = '.lock'
# Lock file path -> the open descriptor holding its lock, in this process.
_HELD: Dict[str, int] = {}


class DirectoryInUseError(GanJaxError):
  """Another process writes the directory."""


def acquire(directory: str, what: str = 'run') -> None:
  """Makes this process the one writer of `directory` (created if missing)
  until `release` or the process's end; a no-op if it already is.

  Raises DirectoryInUseError naming the holder when another process writes
  there, and ConfigError when the directory cannot be created or written
  (a file, under a file, read-only).
  """
  path = os.path.join(os.path.abspath(directory), LOCK_FILE)
  if path in _HELD:
    return
  try:
    os.makedirs(directory, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise ConfigError(f'cannot write the {what} directory {directory} '
                      f'({e.strerror or e}); use a --workdir in a writable place') from None
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    holder = os.pread(fd, 200, 0).decode(errors='replace').strip() or 'another process'
    os.close(fd)
    raise DirectoryInUseError(
        f'{directory} is being written by {holder}: one process writes a {what} '
        'at a time; wait for it to end (or stop it), or use another directory') from None
  os.ftruncate(fd, 0)
  os.pwrite(fd, f'process {os.getpid()} on {socket.gethostname()}\n'.encode(), 0)
  _HELD[path] = fd


def release(directory: str) -> None:
  """Gives up this process's lock on `directory`, if it holds one."""
  fd = _HELD.pop(os.path.join(os.path.abspath(directory), LOCK_FILE), None)
  if fd is not None:
    os.close(fd)   # closing the descriptor drops its flock
