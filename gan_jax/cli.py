"""What the command-line entry points share: flag parsing and log filtering."""
import logging as std_logging
import os
import sys
import traceback

import absl
from absl import app
from absl import flags
import ml_collections
import tensorflow as tf

from gan_jax import xla_cpu


class QuietLibraries:
  """Drops the INFO chatter of orbax's save/restore machinery from the log."""

  def filter(self, record) -> bool:
    return record.levelno > std_logging.INFO or '/orbax/' not in record.pathname


def parse_flags(argv):
  """absl's parser, with a bad --config.* override reported in one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f'error: {_without_traceback(str(e))}')
  except (AttributeError, KeyError, TypeError) as e:
    frames = traceback.extract_tb(e.__traceback__)
    if not any(f.filename.endswith(_OVERRIDE_MODULE) for f in frames):
      # Not an override: the config file's get_config raised it itself.
      where = next((f'{f.filename}:{f.lineno}' for f in reversed(frames)
                    if not f.filename.startswith(_LIBRARIES)), 'the config file')
      sys.exit(f'error: the config file raised {type(e).__name__}: '
               f'{_one_line(e)} ({where})')
    if isinstance(e, TypeError):
      sys.exit(f'error: a --config.* override goes below a value that is not a '
               f'config dict ({_one_line(e)})')
    sys.exit(f'error: unknown config key ({_one_line(e)}); the valid keys are those '
             'of configs/default.py and the config file')


# ml_collections applies --config.a.b=v overrides here; an AttributeError or
# KeyError raised on the way is a key the config lacks.
_OVERRIDE_MODULE = os.path.join('config_flags', 'config_path.py')
_LIBRARIES = tuple(os.path.dirname(m.__file__) for m in (absl, ml_collections))


def _one_line(error: Exception) -> str:
  # ml_collections' missing-key errors nest a KeyError's quoted repr and an
  # escaped newline ('\'nmae\'\\nDid you mean "name"...'); unwrap them.
  text = str(error).replace('\\n', '; ').replace('\\', '').replace('\n', ' ')
  if isinstance(error, (AttributeError, KeyError)):
    text = text.replace('"', '').replace("'", '')
  return ' '.join(text.split())


def _without_traceback(message: str) -> str:
  # ml_collections puts the traceback of a config file's get_config (a bad
  # `path:argument`, say) into the flag error; its first line names the flag
  # and its last what went wrong, which is what the user has to change.
  if 'Traceback (most recent call last)' not in message:
    return message
  lines = message.splitlines()
  # Frame lines are indented; the exception's own text (it may span lines)
  # starts at column 0 after the last of them.
  last_frame = max((i for i, line in enumerate(lines) if line[:1].isspace()), default=0)
  error = ' '.join(line.strip() for line in lines[last_frame + 1:] if line.strip())
  return f'{lines[0].strip()} {error}'


def start_program(argv) -> None:
  """What the evaluate and generate programs do first: refuse stray
  arguments, quiet the libraries' log lines, keep TensorFlow (which only
  reads data there) off accelerators, and tune XLA:CPU as every config does
  by default."""
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  std_logging.getLogger('absl').addFilter(QuietLibraries())
  tf.config.set_visible_devices([], 'GPU')
  xla_cpu.configure(True)
