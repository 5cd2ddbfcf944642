"""Scores a trained run: python -m gan_jax.evaluate --workdir=DIR.

  --checkpoint  best | latest | STEP, or two references for the table:
                data (held-out real images scored like samples: the floor)
                and init (the untrained generator: the ceiling)
  --metrics     all | auto | fid,kid,is,pr,dc,parzen | modes
  --params      ema | raw generator parameters
  --bn_stats    batch | running: G's batch norm (default: the run's config)
  --fid_infinity  sample counts, e.g. 5000,10000,...,50000: FID at each and
                the extrapolated FID∞ (Chong & Forsyth 2020), for comparing
                FIDs measured at different N

Prints a table and writes DIR/eval/<step>.json (or data.json, init.json);
settings other than the run's own evaluation's are added to the name, e.g.
eval/2000,params=raw.json, and metrics of the same settings accumulate
(gan_jax.evaluation.checkpoint_eval). Natural images (CIFAR-10, STL-10,
CelebA, ...) are scored on the FID Inception (pytorch-fid's network and
weights), as the papers score them; MNIST and Fashion-MNIST in the feature
space of gan_jax's own classifier, whose numbers compare runs within gan_jax,
not with published Inception-FIDs. The report's feature_space says which.
"""
import sys

from absl import app
from absl import flags

from gan_jax import cli
from gan_jax.errors import GanJaxError
from gan_jax.evaluation import checkpoint_eval
from gan_jax.evaluation import protocol as protocol_lib

FLAGS = flags.FLAGS


def _define_flags() -> None:
  # Only when run as a program: other tools may import this module beside
  # modules with flags of their own (gan_jax.main's --workdir).
  flags.DEFINE_string('workdir', None, 'The run directory (holds config.json '
                      'and checkpoints/).')
  flags.DEFINE_string('checkpoint', 'best', 'best, latest, a step, data or init.')
  flags.DEFINE_string('metrics', 'all', 'Metric groups: all, auto or a list.')
  flags.DEFINE_enum('params', 'ema', list(protocol_lib.GENERATOR_PARAMS), 'Generator parameters.')
  flags.DEFINE_integer('num_samples', 0, 'Samples to score; 0 = the protocol.')
  flags.DEFINE_string('data_dir', None, 'TFDS data_dir; default: the run\'s, '
                      'then $TFDS_DATA_DIR.')
  flags.DEFINE_integer('seed', None, 'Seed of the latent draws; default the '
                       "run's (the draws of its training-time evaluations).")
  flags.DEFINE_enum('bn_stats', None, list(protocol_lib.BN_STATS),
                    "G's batch norm when sampling: batch or running; default "
                    "the run's config.eval.bn_stats.")
  flags.DEFINE_list('fid_infinity', [], 'Sample counts N for FID_N and FID∞, '
                    'e.g. 5000,10000,20000,30000,40000,50000.')
  flags.mark_flags_as_required(['workdir'])


def _sample_counts(values):
  try:
    return [int(v) for v in values]
  except ValueError:
    raise GanJaxError(f'--fid_infinity takes sample counts, got {",".join(values)}') from None


def main(argv):
  cli.start_program(argv)
  try:
    report = checkpoint_eval.evaluate_checkpoint(
        FLAGS.workdir, FLAGS.checkpoint, FLAGS.metrics, FLAGS.params,
        FLAGS.num_samples, FLAGS.data_dir, FLAGS.seed, FLAGS.bn_stats,
        _sample_counts(FLAGS.fid_infinity))
  except GanJaxError as e:
    sys.exit(f'error: {e}')
  print(checkpoint_eval.format_report(report))


if __name__ == '__main__':
  _define_flags()
  app.run(main, flags_parser=cli.parse_flags)
