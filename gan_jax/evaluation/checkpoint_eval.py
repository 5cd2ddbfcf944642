"""Scores one checkpoint of a trained run, as `python -m gan_jax.evaluate`
does: `evaluate_checkpoint(workdir, ...)` returns the report and writes it
to `<workdir>/eval/<step>.json` (or data.json, init.json for the floor and
the ceiling), `format_report` prints it.

Image metrics live in the feature space of the FID Inception for natural
images (comparable with papers' numbers, docs/evaluation.md), and of
gan_jax's own classifier for MNIST and Fashion-MNIST (compare those within
gan_jax only).
Each report records its protocol (evaluator id, samples, reference, params,
batch-norm mode, latent seed); `fid_infinity_sizes` adds FID at several
sample counts and its extrapolation FID∞ (Chong & Forsyth 2020).
"""
import os
import time
from typing import List, Optional, Sequence, Tuple

import jax
import ml_collections
import numpy as np

from gan_jax.data import batching
from gan_jax.errors import GanJaxError
from gan_jax.evaluation import evaluator as evaluator_lib
from gan_jax.evaluation import evaluators
from gan_jax.sampling import restore as restore_lib
from gan_jax.sampling import sampler as sampler_lib
from gan_jax.evaluation import metrics as metrics_lib
from gan_jax.game.state import GAN
from gan_jax.data import datasets
from gan_jax.data import mixtures
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.workdir import eval_reports


def real_samples(config, num_samples: int, seed: int,
                 with_labels: bool = False):
  """Real data scored as if generated: the floor of every metric. For
  MNIST-like sets, N training images drawn without replacement by `seed`
  (the reference statistics are the test split's, so they are held out from
  it); for the 2-D mixtures, N fresh points. Examples [N, ...] in the models'
  units; with `with_labels`, (examples, their labels int [N]) -- a perfect
  conditional G's samples."""
  if protocol_lib.kind_of(config) == 'mog':
    centers, std = mixtures.mixture(config.data)
    rng = np.random.default_rng([seed, 0xF100])
    points, modes = mixtures.sample_mixture(rng, centers, std, num_samples,
                                            with_modes=True)
    points = points.astype(np.float32)
    return (points, modes) if with_labels else points
  # Images held out of the reference: the training split against the
  # classifiers' test split, the test split against the Inception's
  # training split; Stacked MNIST draws its own triples.
  data, image_size = _held_out(config), 0
  images, labels = datasets.load(data, with_labels=True)
  if protocol_lib.kind_of(config) == 'inception':
    image_size = config.data.image_size   # at the resolution G makes
  rng = np.random.default_rng(seed)
  idx = np.sort(rng.choice(len(images), min(num_samples, len(images)), replace=False))
  images = np.asarray(batching.preprocess(images[idx], image_size))
  return (images, labels[idx]) if with_labels else images


def _held_out(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """config.data, reading the split that is not the image evaluator's
  reference (config.data.split, else 'test', else 'train')."""
  if protocol_lib.kind_of(config) not in ('classifier', 'inception'):
    return config.data
  reference = protocol_lib.reference_split(config)
  if config.data.split != reference:
    return config.data
  data = config.data.copy_and_resolve_references()
  data.split = 'test' if reference != 'test' else 'train'
  return data


def _labels(gan: GAN, n: int) -> tuple:
  """The labels argument a sampler of `gan` takes for n samples: () for an
  unconditional G, (evaluation_labels,) for a conditional one."""
  return (sampler_lib.evaluation_labels(gan.num_classes, n),) if gan.num_classes else ()


def _checked_request(config: ml_collections.ConfigDict, metrics: str, num_samples: int,
                     fid_infinity_sizes: Sequence[int]) -> Tuple[Tuple[str, ...], List[int]]:
  """(metric names, sorted FID∞ sample counts) of an evaluation request.
  Raises GanJaxError for metrics that select nothing, a negative sample
  count, too few samples for the metrics, or FID∞ without FID."""
  metric_names = protocol_lib.resolve_metrics(config.data.dataset, metrics,
                                              protocol_lib.is_conditional(config),
                                              config.eval.feature_network)
  if not metric_names:
    raise GanJaxError("--metrics selects nothing; use e.g. --metrics=all")
  if num_samples < 0:
    raise GanJaxError(f'--num_samples must be >= 0 (0: the protocol), got {num_samples}')
  protocol_lib.check_num_samples(
      metric_names, num_samples or protocol_lib.protocol_num_samples(config),
      '--num_samples', int(config.model.num_classes))
  sizes = sorted({int(n) for n in fid_infinity_sizes})
  if sizes and ('fid' not in metric_names or len(sizes) < 2 or sizes[0] < 2):
    raise GanJaxError('--fid_infinity needs the fid metric and two or more sample '
                      f'counts >= 2, got metrics {",".join(metric_names)} and '
                      f'counts {sizes}')
  return metric_names, sizes


def _fid_infinity(config: ml_collections.ConfigDict, evaluator: evaluator_lib.Evaluator,
                  sample: Optional[sampler_lib.SampleFn], gan: Optional[GAN],
                  sizes: Sequence[int], seed: int):
  """(FID∞, [(N, FID_N)]) of G's samples (`sample`), or of held-out real
  data when `sample` is None, at the sample counts `sizes` (metrics.fid_infinity),
  on latent draws apart from the evaluation's."""
  n = sizes[-1]
  generated = (real_samples(config, n, seed + 1) if sample is None
               else sample(jax.random.fold_in(sampler_lib.latent_key(seed), 1),
                           n, *_labels(gan, n)))
  if len(generated) < n:
    raise GanJaxError(f'--fid_infinity: only {len(generated)} held-out images for '
                      f'N up to {n}')
  return metrics_lib.fid_infinity(evaluator.features(generated),
                                  *evaluator.fid_reference(), sizes, seed)


def evaluate_checkpoint(workdir: str, checkpoint: str = 'best', metrics: str = 'all',
             params: str = 'ema', num_samples: int = 0,
             data_dir: str = None, seed: Optional[int] = None,
             bn_stats: Optional[str] = None,
             fid_infinity_sizes: Sequence[int] = ()) -> dict:
  """Scores `checkpoint` of the run in `workdir` (best | latest | a step |
  data: held-out real data, the floor | init: the untrained generator, the
  ceiling) with the metric groups `metrics`; returns the report and writes
  it (see `_write_report`). With `fid_infinity_sizes` (sample counts N, e.g.
  5000..50000) the report also holds FID at each N and FID∞, the intercept of
  FID_N against 1/N. Raises GanJaxError for a workdir that is not a run, a
  missing checkpoint, metrics that select nothing, or FID∞ without FID."""
  restore_lib.check_checkpoint_name(checkpoint, ('best', 'latest', 'data', 'init'))
  config = restore_lib.load_run_config(workdir)
  # By default the latent draws of the run's own evaluations.
  seed = config.seed if seed is None else seed
  if data_dir:
    config.data.data_dir = data_dir
  metric_names, sizes = _checked_request(config, metrics, num_samples, fid_infinity_sizes)
  evaluator = evaluators.create(config, metric_names, num_samples)
  start = time.perf_counter()
  real = checkpoint == 'data'
  gan = step = sample = None
  if real:
    params = bn_stats = None  # no generator is sampled
  else:
    gan, state, step = restore_lib.restore_run(workdir, config, checkpoint)
    bn_stats = bn_stats or config.eval.bn_stats
    sample = sampler_lib.generator_sampler(
        gan, restore_lib.generator_params(state, params), state.g_batch_stats,
        config.model.latent_dim, bn_stats, config.model.latent_distribution)
  name = str(step) if checkpoint in ('best', 'latest') or checkpoint.isdecimal() else checkpoint
  out_dir = eval_reports.reports_dir(workdir)
  # Refused before any sampling: a report of other measurements is never lost.
  _check_replaces_nothing(out_dir, name, _report(
      workdir, config, evaluator, checkpoint, step, params, bn_stats, seed, {}, 0.0),
                          config, seed)
  if not real:
    results = evaluator(sample, sampler_lib.latent_key(seed))
  elif protocol_lib.is_conditional(config):
    results = evaluator.score(*real_samples(config, evaluator.num_samples, seed, True))
  else:
    results = evaluator.score(real_samples(config, evaluator.num_samples, seed))
  curve = None
  if sizes:
    results['fid_infinity'], curve = _fid_infinity(config, evaluator, sample, gan,
                                                   sizes, seed)
  report = _report(workdir, config, evaluator, checkpoint, step, params, bn_stats,
                   seed, results, time.perf_counter() - start)
  if curve:
    report['fid_by_num_samples'] = [dict(num_samples=n, fid=v) for n, v in curve]
  report['path'] = _write_report(out_dir, name, report, config, seed)
  return report


def _report(workdir: str, config: ml_collections.ConfigDict,
            evaluator: evaluator_lib.Evaluator, checkpoint: str, step: Optional[int],
            params: Optional[str], bn_stats: Optional[str], seed: int,
            results: dict, seconds: float) -> dict:
  """The report of one evaluation; params and bn_stats None: real data."""
  protocol = dict(evaluator.protocol, latent_seed=seed)
  if params is None:  # no generator was sampled
    del protocol['params'], protocol['bn_stats']
  else:
    protocol.update(params=params, bn_stats=bn_stats)
  report = dict(
      workdir=os.path.abspath(workdir), checkpoint=checkpoint, step=step,
      params=params, bn_stats=bn_stats,
      dataset=config.data.dataset, num_samples=evaluator.num_samples,
      seconds=round(seconds, 2), metrics=results, protocol=protocol)
  if evaluator.classifier_accuracy is not None:
    report['feature_space'] = (f'gan_jax {evaluator.classifier_name} classifier '
                               f'(test accuracy {evaluator.classifier_accuracy:.4f}), '
                               'not Inception')
  return report


def write_loop_report(workdir: str, config: ml_collections.ConfigDict,
                      evaluator: evaluator_lib.Evaluator, step: int, params: str,
                      results: dict, seconds: float) -> str:
  """Writes the training loop's score of G's `params` ('ema' or 'raw') at
  `step` as the report `gan_jax.evaluate --checkpoint=<step> --params=<params>`
  would write (eval/<step>,params=<params>.json when they are not the run's
  own config.eval.params); returns its path. `config.eval.also_params`."""
  # The mode the loop sampled with: its config, built on gan_jax/config/defaults.py,
  # always has the key (unlike the saved configs of old runs, read with .get).
  bn_stats = config.eval.bn_stats
  report = _report(workdir, config, evaluator, str(step), step, params, bn_stats,
                   config.seed, results, seconds)
  return _write_report(eval_reports.reports_dir(workdir), str(step), report, config,
                       config.seed)


# What makes two evaluations of one checkpoint different measurements.
_SETTINGS = protocol_lib.EVAL_SETTINGS


def _report_path(out_dir: str, name: str, report: dict,
                 config: ml_collections.ConfigDict) -> str:
  """eval/<name>[,<setting>=<value>...].json: the settings of `report` that
  differ from the run's own evaluation are part of the name."""
  protocol = dict(params=config.eval.params, seed=config.seed,
                  bn_stats=config.eval.bn_stats,
                  num_samples=protocol_lib.protocol_num_samples(config))
  name = ','.join([name] + [f'{k}={report[k]}' for k in _SETTINGS
                            if report[k] is not None and report[k] != protocol[k]])
  return os.path.join(out_dir, f'{name}.json')


def _same_measurement(earlier: dict, report: dict) -> bool:
  return all(earlier.get(k) == report[k] for k in _SETTINGS + ('step', 'protocol'))


def _check_replaces_nothing(out_dir: str, name: str, report: dict,
                            config: ml_collections.ConfigDict, seed: int) -> None:
  """Raises GanJaxError if writing `report` (its metrics still to come) would
  replace a report of the same checkpoint and settings whose metrics were
  measured under another protocol -- e.g. the training loop's Parzen score
  of raw G (evaluator 'parzen'), by a --metrics=fid evaluation (the
  classifier's evaluator): the two cannot share one report's protocol."""
  report = dict(report, seed=seed)
  path = _report_path(out_dir, name, report, config)
  earlier = eval_reports.read_report(path)
  # A report on disk may come from an older gan_jax or another tool: its
  # fields are read with .get, never assumed.
  if earlier and earlier.get('metrics') and not _same_measurement(earlier, report):
    theirs, ours = earlier.get('protocol') or {}, report['protocol']
    differ = ', '.join(f'{k} {theirs.get(k)!r} here {ours.get(k)!r}'
                       for k in sorted(set(theirs) | set(ours))
                       if theirs.get(k) != ours.get(k)) or 'unrecorded protocol'
    raise GanJaxError(
        f'{path} holds {", ".join(sorted(earlier["metrics"]))} of this checkpoint '
        f'measured under another protocol ({differ}), and this evaluation would '
        f'replace it; move that file aside (e.g. to {path}.bak) and run again')


def _write_report(out_dir: str, name: str, report: dict,
                  config: ml_collections.ConfigDict, seed: int) -> str:
  """Writes eval/<name>[,<setting>=<value>...].json; returns its path.

  The settings that differ from the run's own evaluation (raw params, the
  other batch-norm mode, another sample count or seed) are part of the file
  name, so they never overwrite it; metrics measured under the same settings
  and protocol by an earlier call (another --metrics) are kept beside the
  new ones. `gan_jax.evaluate` refuses, before it samples, to replace a
  report of another protocol (`_check_replaces_nothing`).
  """
  report['seed'] = seed
  path = _report_path(out_dir, name, report, config)
  earlier = eval_reports.read_report(path)
  if earlier and _same_measurement(earlier, report):
    report['metrics'] = {**earlier.get('metrics', {}), **report['metrics']}
  eval_reports.write_report(path, report)
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
  lines.append('protocol: ' + ', '.join(f'{k} {v}' for k, v in report['protocol'].items()))
  width = max(len(k) for k in report['metrics'])
  lines += [f'  {k:<{width}}  {v:12.5g}' for k, v in report['metrics'].items()]
  lines.append(f"written to {report['path']}")
  return '\n'.join(lines)
