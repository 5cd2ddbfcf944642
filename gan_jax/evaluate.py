"""Scores a trained run: python -m gan_jax.evaluate --workdir=DIR.

  --checkpoint  best | latest | STEP, or two references for the table:
                data (held-out real images scored like samples: the floor)
                and init (the untrained generator: the ceiling)
  --metrics     all | auto | fid,kid,is,pr,dc,parzen | modes
  --params      ema | raw generator parameters
  --bn_stats    batch | running: G's batch norm (default: the run's config)

Prints a table and writes DIR/eval/<step>.json (or data.json, init.json);
settings other than the run's own evaluation's are added to the name, e.g.
eval/2000,params=raw.json, and metrics of the same settings accumulate. Image metrics live in
the feature space of gan_jax's own classifier, not Inception's: compare them
within gan_jax, not with published Inception-FIDs.
"""
import json
import logging as std_logging
import os
import sys
import time
from typing import Optional

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from gan_jax import checkpointing, cli, input_pipeline, synthetic_data, xla_cpu
from gan_jax.errors import GanJaxError
from gan_jax.evaluation import evaluator as evaluator_lib
from gan_jax.evaluation import mog
from gan_jax.state import build_gan, create_state

FLAGS = flags.FLAGS


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise GanJaxError(f'{workdir} is not a gan_jax run directory (no '
                      'config.json); pass the --workdir of a training run')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def _held_out_real(config, num_samples: int, seed: int) -> np.ndarray:
  """Real data scored as if generated: the floor of every metric."""
  if evaluator_lib.data_kind(config.data.dataset) == 'mog':
    centers, std = synthetic_data.mixture(config.data)
    rng = np.random.default_rng([seed, 0xF100])
    return mog.sample_mixture(rng, centers, std, num_samples).astype(np.float32)
  # Training images against the test split (the reference) for MNIST-like
  # sets; Stacked MNIST draws its own triples.
  images = input_pipeline.load_images(config.data)
  rng = np.random.default_rng(seed)
  idx = rng.choice(len(images), min(num_samples, len(images)), replace=False)
  return np.asarray(input_pipeline.preprocess(images[np.sort(idx)]))


def evaluate(workdir: str, checkpoint: str = 'best', metrics: str = 'all',
             params: str = 'ema', num_samples: int = 0,
             data_dir: str = None, seed: Optional[int] = None,
             bn_stats: Optional[str] = None) -> dict:
  """Scores `checkpoint` of the run in `workdir`; returns and writes the report."""
  config = load_run_config(workdir)
  # By default the latent draws of the run's own evaluations.
  seed = config.seed if seed is None else seed
  if data_dir:
    config.data.data_dir = data_dir
  metric_names = evaluator_lib.resolve_metrics(config.data.dataset, metrics)
  if not metric_names:
    raise GanJaxError("--metrics selects nothing; use e.g. --metrics=all")
  evaluator = evaluator_lib.Evaluator(config, metric_names, num_samples)
  start = time.perf_counter()
  step = None
  if checkpoint == 'data':
    results = evaluator.score(_held_out_real(config, evaluator.num_samples, seed))
  else:
    images = input_pipeline.load_images(config.data)
    gan = build_gan(config, input_pipeline.image_shape(config.data, images.shape[1:]),
                    axis_name=None)
    del images
    state = create_state(config, gan)
    if checkpoint != 'init':
      manager = checkpointing.create_manager(
          workdir, config.keep_checkpoints, *evaluator_lib.best_metric(config))
      state, step = checkpointing.restore(
          manager, checkpoint, state, *evaluator_lib.best_metric(config))
    g_params = state.ema_g_params if params == 'ema' else state.g_params
    bn_stats = bn_stats or config.eval.get('bn_stats', 'running')
    sample = evaluator_lib.generator_sampler(gan, g_params, state.g_batch_stats,
                                             config.model.latent_dim, bn_stats)
    results = evaluator(sample, evaluator_lib.latent_key(seed))
  report = dict(
      workdir=os.path.abspath(workdir), checkpoint=checkpoint, step=step,
      params=params if checkpoint != 'data' else None,
      bn_stats=bn_stats if checkpoint != 'data' else None,
      dataset=config.data.dataset, num_samples=evaluator.num_samples,
      seconds=round(time.perf_counter() - start, 2), metrics=results)
  if evaluator.classifier_accuracy is not None:
    report['feature_space'] = (f'gan_jax {evaluator.classifier_name} classifier '
                               f'(test accuracy {evaluator.classifier_accuracy:.4f}), '
                               'not Inception')
  name = str(step) if checkpoint in ('best', 'latest') or checkpoint.isdigit() else checkpoint
  path = _write_report(os.path.join(workdir, 'eval'), name, report, config, seed)
  report['path'] = path
  return report


# What makes two evaluations of one checkpoint different measurements.
_SETTINGS = ('params', 'bn_stats', 'num_samples', 'seed')


def _write_report(out_dir: str, name: str, report: dict,
                  config: ml_collections.ConfigDict, seed: int) -> str:
  """Writes eval/<name>[,<setting>=<value>...].json; returns its path.

  The settings that differ from the run's own evaluation (raw params, the
  other batch-norm mode, another sample count or seed) are part of the file
  name, so they never overwrite it; metrics measured under the same settings
  by an earlier call (another --metrics) are kept beside the new ones.
  """
  report['seed'] = seed
  protocol = dict(params=config.eval.params, seed=config.seed,
                  bn_stats=config.eval.get('bn_stats', 'running'),
                  num_samples=evaluator_lib.protocol_num_samples(config))
  name = ','.join([name] + [f'{k}={report[k]}' for k in _SETTINGS
                            if report[k] is not None and report[k] != protocol[k]])
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, f'{name}.json')
  try:
    with open(path) as f:
      earlier = json.load(f)
  except (OSError, ValueError):  # none yet, or unreadable: replaced
    earlier = None
  if earlier and all(earlier.get(k) == report[k] for k in _SETTINGS + ('step',)):
    report['metrics'] = {**earlier.get('metrics', {}), **report['metrics']}
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(report, f, indent=2)
  os.replace(tmp, path)  # a reader never sees half a report
  return path


def format_report(report: dict) -> str:
  what = {'data': 'held-out real data (floor)',
          'init': 'untrained generator (ceiling)'}.get(
              report['checkpoint'],
              f"checkpoint {report['checkpoint']} = step {report['step']}, "
              f"{report['params']} params")
  lines = [f"{report['dataset']}: {what}, {report['num_samples']:,} samples, "
           f"{report['seconds']:.1f} s"]
  if 'feature_space' in report:
    lines.append(f"features: {report['feature_space']}")
  width = max(len(k) for k in report['metrics'])
  lines += [f'  {k:<{width}}  {v:12.5g}' for k, v in report['metrics'].items()]
  lines.append(f"written to {report['path']}")
  return '\n'.join(lines)


def _define_flags() -> None:
  # Only when run as a program: tests and other tools import this module
  # beside modules with flags of their own.
  flags.DEFINE_string('workdir', None, 'The run directory (holds config.json '
                      'and checkpoints/).')
  flags.DEFINE_string('checkpoint', 'best', 'best, latest, a step, data or init.')
  flags.DEFINE_string('metrics', 'all', 'Metric groups: all, auto or a list.')
  flags.DEFINE_enum('params', 'ema', ['ema', 'raw'], 'Generator parameters.')
  flags.DEFINE_integer('num_samples', 0, 'Samples to score; 0 = the protocol.')
  flags.DEFINE_string('data_dir', None, 'TFDS data_dir; default: the run\'s, '
                      'then $TFDS_DATA_DIR.')
  flags.DEFINE_integer('seed', None, 'Seed of the latent draws; default the '
                       "run's (the draws of its training-time evaluations).")
  flags.DEFINE_enum('bn_stats', None, list(evaluator_lib.BN_STATS),
                    "G's batch norm when sampling: batch or running; default "
                    "the run's config.eval.bn_stats.")
  flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  std_logging.getLogger('absl').addFilter(cli.QuietLibraries())
  tf.config.set_visible_devices([], 'GPU')  # TF only reads data here
  xla_cpu.configure(True)  # the default of every config
  try:
    report = evaluate(FLAGS.workdir, FLAGS.checkpoint, FLAGS.metrics,
                      FLAGS.params, FLAGS.num_samples, FLAGS.data_dir, FLAGS.seed,
                      FLAGS.bn_stats)
  except GanJaxError as e:
    sys.exit(f'error: {e}')
  print(format_report(report))


if __name__ == '__main__':
  _define_flags()
  app.run(main, flags_parser=cli.parse_flags)
