"""Trains a GAN: python -m gan_jax.main --config=configs/mnist.py [--workdir=DIR].

Every knob is a config value, overridable as e.g. --config.loss.name=hinge.
`--seeds=0,1,2 --workdir='runs/ring/seed={seed}'` trains those seeds together,
vmapped on each device, each in its own workdir (what `--config.seed=S
--workdir=runs/ring/seed=S` would write).
"""
import logging as std_logging
import os
import sys

# TensorFlow only reads data and writes summaries; keep its C++ INFO lines
# (CPU feature notices) out of the user's terminal.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags
import tensorflow as tf

from gan_jax import cli
from gan_jax.training import train
from gan_jax.training import xla_cpu
from gan_jax.errors import GanJaxError
from gan_jax.workdir import ownership

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Where checkpoints, samples and logs go; '
                    'default ./runs/<config file name>.')
config_flags.DEFINE_config_file('config', None, 'Training config file.',
                                lock_config=True)
flags.DEFINE_list('seeds', [], 'Train these seeds together (vmapped); the '
                  'workdir must contain {seed}.')
flags.mark_flags_as_required(['config'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  std_logging.getLogger('absl').addFilter(cli.QuietLibraries())
  xla_cpu.configure(FLAGS.config.xla_cpu_tuning)
  # TensorFlow only reads data and writes summaries: keep it off accelerators.
  tf.config.set_visible_devices([], 'GPU')
  workdir = FLAGS.workdir or os.path.join(
      'runs', os.path.splitext(os.path.basename(flags.FLAGS['config'].config_filename))[0])
  if FLAGS.seeds and not FLAGS.workdir:
    workdir = os.path.join(workdir, 'seed={seed}')
  logging.info('workdir: %s', workdir)
  try:
    if FLAGS.seeds:
      train.train_seeds(FLAGS.config, ownership.for_seeds(workdir, FLAGS.seeds))
    else:
      train.train_and_evaluate(FLAGS.config, workdir)
  except GanJaxError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
