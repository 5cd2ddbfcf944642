"""Samples a trained run's generator: python -m gan_jax.generate --workdir=DIR
--num_samples=N --out=PATH.

  --out         PATH.png: a picture (an image grid; a scatter plot over the
                mode centres for the 2-D mixtures); PATH.npz: the arrays
                samples (float32, the model's units: images in [-1, 1] NHWC,
                2-D points) and z (their codes)
  --checkpoint  best | latest | STEP (or init: the untrained generator)
  --params      ema | raw generator parameters
  --bn_stats    batch | running: G's batch norm (default: the run's config)
  --seed        seed of the codes; default the run's, whose first N codes
                are those gan_jax.evaluate scores
  --truncation  psi > 0: codes from the prior restricted to [-psi, psi]
                (BigGAN's truncation trick; gan_jax.latent_space.truncate)
  --interpolate K: num_samples rows of K codes from one random code to
                another (slerp for Gaussian z, linear for uniform), K columns
  --class       K: every sample of class K (class-conditional runs only;
                without it they sample their classes in turn, a row each)

A bad request stops with one line, before anything is written
(gan_jax.sampling).
"""
import sys

from absl import app
from absl import flags

from gan_jax import cli
from gan_jax.sampling import generation
from gan_jax.errors import GanJaxError
from gan_jax.evaluation import protocol as protocol_lib

FLAGS = flags.FLAGS


def _define_flags() -> None:
  # Only when run as a program, as gan_jax.evaluate's.
  flags.DEFINE_string('workdir', None, 'The run directory (holds config.json '
                      'and checkpoints/).')
  flags.DEFINE_string('checkpoint', 'best', 'best, latest, a step, or init.')
  flags.DEFINE_integer('num_samples', None, 'Samples; with --interpolate, rows.')
  flags.DEFINE_string('out', None, 'Output file: .png (a picture) or .npz '
                      '(arrays samples and z).')
  flags.DEFINE_enum('params', 'ema', list(protocol_lib.GENERATOR_PARAMS), 'Generator parameters.')
  flags.DEFINE_enum('bn_stats', None, list(protocol_lib.BN_STATS),
                    "G's batch norm: batch or running; default the run's "
                    'config.eval.bn_stats.')
  flags.DEFINE_integer('seed', None, "Seed of the codes; default the run's.")
  flags.DEFINE_float('truncation', None, 'psi > 0: truncate each code '
                     'component to [-psi, psi] (truncation trick).')
  flags.DEFINE_integer('interpolate', 0, 'K >= 2: rows of K codes interpolated '
                       'between two random codes; 0: independent samples.')
  flags.DEFINE_integer('class', None, 'Class of every sample (class-conditional '
                       'runs only; unset: the classes in turn, a grid row each).')
  flags.mark_flags_as_required(['workdir', 'num_samples', 'out'])


def main(argv):
  cli.start_program(argv)
  try:
    generation.check_out(FLAGS.out)
    generated = generation.generate(
        FLAGS.workdir, FLAGS.num_samples, FLAGS.checkpoint, FLAGS.params,
        FLAGS.bn_stats, FLAGS.seed, FLAGS.truncation, FLAGS.interpolate,
        FLAGS['class'].value)
    generation.write(FLAGS.out, generated)
  except GanJaxError as e:
    sys.exit(f'error: {e}')
  step = 'the untrained G' if generated.step is None else f'step {generated.step}'
  print(f'wrote {len(generated.samples)} samples of {step} to {FLAGS.out}')


if __name__ == '__main__':
  _define_flags()
  app.run(main, flags_parser=cli.parse_flags)
