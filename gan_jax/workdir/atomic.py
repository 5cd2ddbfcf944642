"""Every file gan_jax writes appears whole or not at all.

`replace(path)` opens a temporary file beside `path` and, once it is
written and flushed to disk, renames it onto `path` (a rename within a
folder is atomic on POSIX file systems); if anything fails on the way (a
full disk, a read-only folder, an error while the content is made) the
temporary file is removed and `path` keeps what it held. The failure is one
line (OutputError) saying which file was not written and that the old one
is intact.
"""
import contextlib
import json
import os
from typing import IO, Iterator

from gan_jax.errors import GanJaxError


class OutputError(GanJaxError):
  """A file could not be written (full disk, read-only or missing folder)."""


def _kept(path: str) -> str:
  return f'{path} is unchanged' if os.path.exists(path) else 'nothing was written'


@contextlib.contextmanager
def replace(path: str, mode: str = 'w', **open_kwargs) -> Iterator[IO]:
  """A file object for the new content of `path` ('w' or 'wb'), renamed
  onto `path` when the block ends without an error.

  Raises OutputError for an OSError while writing; other errors propagate,
  in both cases with `path` untouched and no temporary file left.
  """
  tmp = f'{path}.tmp{os.getpid()}'
  try:
    try:
      with open(tmp, mode, **open_kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp, path)
    except OSError as e:
      raise OutputError(f'could not write {path} ({e.strerror or e}); {_kept(path)}: '
                        'free space or fix the path, then run again') from None
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_text(path: str, text: str) -> None:
  with replace(path) as f:
    f.write(text)


def write_json(path: str, value, **dump_kwargs) -> None:
  with replace(path) as f:
    json.dump(value, f, **dump_kwargs)
