"""What the command-line entry points share: flag parsing and log filtering."""
import logging as std_logging
import os
import sys
import sysconfig
import traceback

from absl import app
from absl import flags
import tensorflow as tf

from gan_jax.experiments import sweep_plan
from gan_jax.training import xla_cpu


class QuietLibraries:
  """Drops the INFO chatter of orbax's save/restore machinery from the log."""

  def filter(self, record) -> bool:
    return record.levelno > std_logging.INFO or '/orbax/' not in record.pathname


# ml_collections applies --config.a.b=v overrides in this module: an error
# raised on the way is a bad override, any other one the config file's own.
_OVERRIDE_MODULE = os.path.join('config_flags', 'config_path.py')
# Frames of these are never the user's code.
_LIBRARY_DIRS = tuple({sysconfig.get_paths()[k] for k in ('stdlib', 'purelib', 'platlib')})


def parse_flags(argv):
  """absl's parser, with what goes wrong in the --config flags reported in
  one line: a bad --config.* override (a key the config lacks, a path below
  a value that is not a config dict), a config file that cannot be read, and
  an error the config file's get_config raises (with its file:line)."""
  _config_root_on_path(argv)
  try:
    remaining = flags.FLAGS(argv)
    config = flags.FLAGS['config'].value if 'config' in flags.FLAGS else None
    if config is not None:
      # ml_collections defers a config file it could not read to the first
      # read of one of its keys; read one here, where the error is handled.
      config.keys()
    return remaining
  except flags.Error as e:
    sys.exit(f'error: {_without_traceback(str(e))}')
  except (AttributeError, KeyError, TypeError, IndexError, OSError) as e:
    if isinstance(e, OSError):
      # Its last line says which file and why ("No such file or directory").
      sys.exit(f'error: --config: {str(e).strip().splitlines()[-1].strip()}')
    frames = traceback.extract_tb(e.__traceback__)
    if not any(f.filename.endswith(_OVERRIDE_MODULE) for f in frames):
      where = next((f' ({f.filename}:{f.lineno})' for f in reversed(frames)
                    if not f.filename.startswith(('<', *_LIBRARY_DIRS))), '')
      sys.exit(f'error: the config file raised {type(e).__name__}: {_message(e)}{where}')
    overrides = [a.split('=')[0] for a in argv[1:] if a.startswith('--config.')]
    which = overrides[0] if len(overrides) == 1 else 'a --config.* override'
    if isinstance(e, TypeError) or 'does not support indexing' in str(e):
      sys.exit(f'error: {which} goes below a value that is not a config dict '
               f'({_one_line(str(e))})')
    if isinstance(e, IndexError):   # config[...][i] past a sequence's end
      sys.exit(f'error: {which}: {_one_line(str(e))}')
    # ml_collections nests the missing key's repr, and an escaped newline
    # before its "Did you mean", in the AttributeError's text.
    detail = str(e).replace('\\n', '; ').replace('\\', '')
    detail = _one_line(detail.replace('"', '').replace("'", ''))
    sys.exit(f'error: unknown config key ({detail}); the valid keys are those of '
             'gan_jax/config/defaults.py and the config file')


def _config_root_on_path(argv) -> None:
  """Puts the folder above a --config file's folder on sys.path, so that the
  file's `from configs import ...` resolves from any working directory
  (`python -m gan_jax.main --config=/abs/path/configs/x.py`)."""
  for arg in argv[1:]:
    if arg.startswith('--config='):
      root = sweep_plan.config_root(arg[len('--config='):])
      if os.path.isdir(os.path.join(root, 'configs')) and root not in sys.path:
        sys.path.insert(1, root)


def _message(error: Exception) -> str:
  # A KeyError's str() is its key's repr: show the key as raised.
  if isinstance(error, KeyError) and len(error.args) == 1:
    return _one_line(str(error.args[0]))
  return _one_line(str(error))


def _one_line(text: str) -> str:
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
