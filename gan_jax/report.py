"""Tabulates a sweep: python -m gan_jax.report --sweep_dir=DIR.

  --metrics      which columns, e.g. fid,kid or mode_score,modes_covered;
                 default: every evaluated metric, then loss_d, loss_g,
                 train_minutes (the time in the training loop)
  --plot_metric  the metric plotted against the step; default the first one
  --split_by     a config key, e.g. data.dataset: one table (and one panel of
                 the plot) per value, its variants named by what varies in it
  --at_step      tabulate each run as it was at this step (its last records
                 at or before it): a scaled budget read off runs that go on
                 to the full one; in a directory without sweep.json, runs
                 that differ only in their budget (num_train_steps) are
                 then one variant, if scored at the same step
  --window_steps each run's metrics are the mean of its evaluations at steps
                 S - W ... S (S its budget or --at_step), not the last one:
                 a score that jitters from one evaluation to the next read
                 over the run's final stretch
  --eval_reports the runs' gan_jax.evaluate reports instead of the training
                 loop's evaluations: 'run' (eval/<step>.json) or the
                 settings they were made with, e.g. params=raw (written to
                 eval/<step>,params=raw.json); each run needs one at its
                 last step (or --at_step)
  --select_by    METRIC[:max|:min]: each run at its evaluation with the best
                 METRIC up to its last step (or --at_step), finished or
                 not, e.g. parzen_validation (the 2014 paper's model
                 selection), among the evaluations under the protocol of
                 its last one; a selected_step column and a list under the
                 table say each run's step; a diverged run has no pick

A run's final numbers are its last evaluation record in metrics.jsonl (or
what --window_steps and --eval_reports make of its evaluations) and its
last loss_d / loss_g. Each evaluation record names its protocol (evaluator
id, samples, reference, EMA/raw, batch-norm mode, latent seed); runs averaged
into one row must share it but for the latent seed, which follows each run's
seed -- else the report stops with one line -- and each table lists the
protocols of its rows. Runs that differ only in `seed` form one variant row:
mean ± sample standard deviation (n - 1) over its seeds, and n. Writes
DIR/report.md (also printed), DIR/report.csv and DIR/report.png (mean over
seeds vs step, the band spanning the seeds; needs matplotlib); with the
options, report[_step<S>][_window<W>][_<settings>][_by_<metric>[_min]].* instead. Runs without
metrics, not yet at their last step (but with --select_by), without the evaluate report asked for
(the command that makes it is given), or whose window holds no evaluation or
evaluations of differing protocols, are listed under the table and left
out of it. Runs that diverged (diverged.json, written when a run stops on a
non-finite value) count in n and in a 'diverged (steps)' column; the metric
cells and the plot average the others.

The runs are those of DIR/sweep.json (written by launch/sweep.py), or else
every subdirectory holding a config.json, whose differing config values
then name the variants.
"""
import csv
import dataclasses
import math
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags
from absl import logging
import numpy as np

from gan_jax.experiments import run_results
from gan_jax.experiments import sweep_plan
from gan_jax.errors import GanJaxError

FLAGS = flags.FLAGS

# Protocol fields allowed to differ between the seeds of a variant.
_PER_SEED_PROTOCOL = ('latent_seed',)


def _is_seed_key(key: str, results: Sequence[run_results.RunResult]) -> bool:
  """`seed`, or a key that equals `seed` in every run (data.seed follows it)."""
  if key == 'seed':
    return True
  with_seed = [r for r in results if 'seed' in r.overrides]
  return (len({r.overrides['seed'] for r in with_seed}) > 1 and
          all(r.overrides.get(key) == r.overrides['seed'] for r in with_seed))


@dataclasses.dataclass
class Variant:
  """Runs that differ only in their seed."""
  name: str
  overrides: Dict[str, object]
  runs: List[run_results.RunResult]

  def values(self, metric: str) -> np.ndarray:
    """`metric` of the runs that did not diverge."""
    return np.array([r.final[metric] for r in self.runs if metric in r.final],
                    np.float64)

  def diverged(self) -> List[int]:
    return [r.diverged_at for r in self.runs if r.diverged_at is not None]


def _diverged_cell(steps: Sequence[int]) -> str:
  """'0', or how many diverged and at which steps: '2 (778, 1850)'."""
  return f'{len(steps)} ({", ".join(str(s) for s in sorted(steps))})' if steps else '0'


def _first_run_by(runs: Sequence[run_results.RunResult],
                  value_of: Callable[[run_results.RunResult], object]) -> Dict[object, str]:
  """{value: the name of the first run with it} over the runs whose
  `value_of` is not None: one key when they all agree."""
  first = {}
  for r in runs:
    value = value_of(r)
    if value is not None:
      first.setdefault(value, r.name)
  return first


def group(results: Sequence[run_results.RunResult],
          same_step: bool = True) -> List[Variant]:
  """Finished runs grouped by their overrides other than the seed(s); with
  `same_step` (not for a pick per run, --select_by) the seeds of a variant
  must be scored at one step."""
  seed_keys = {k for r in results for k in r.overrides if _is_seed_key(k, results)}
  variants: Dict[str, Variant] = {}
  for run in results:
    if run.problem:
      continue
    key = {k: v for k, v in run.overrides.items() if k not in seed_keys}
    name = sweep_plan.run_name(key)
    variants.setdefault(name, Variant(name, key, [])).runs.append(run)
  for variant in variants.values():
    # Runs evaluated before protocols were recorded: unknown, not compared.
    protocols = _first_run_by(
        variant.runs, lambda r: _protocol_text(r.protocol) if r.protocol else None)
    if len(protocols) > 1:
      (a, run_a), (b, run_b) = list(protocols.items())[:2]
      raise GanJaxError(
          f'variant {variant.name}: runs {run_a} and {run_b} were evaluated under '
          f'different protocols ({a} vs {b}), so their numbers do not average; '
          'train them again under one protocol, or tabulate them apart')
    # Seeds resumed to other budgets share a variant under --at_step; the
    # loop evaluates at each run's last step, off the evaluation grid too, so
    # the step a run is scored at is checked, not assumed.
    scored_at = _first_run_by(
        variant.runs, lambda r: r.evaluated_steps[-1] if r.evaluated_steps else None)
    if same_step and len(scored_at) > 1:
      (a, run_a), (b, run_b) = sorted(scored_at.items())[:2]
      raise GanJaxError(
          f'variant {variant.name}: run {run_a} is scored at step {a} and {run_b} '
          f'at step {b}, so their numbers do not average; use --at_step at a step '
          'both evaluated')
  return list(variants.values())


def _protocol_text(protocol: Optional[Dict[str, object]]) -> str:
  """The protocol but its per-seed fields, as one line ('unrecorded' for runs
  evaluated before protocols were recorded)."""
  if not protocol:
    return 'unrecorded'
  return ', '.join(f'{k} {v}' for k, v in sorted(protocol.items())
                   if k not in _PER_SEED_PROTOCOL)


def default_metrics(results: Sequence[run_results.RunResult]) -> List[str]:
  """Evaluated metrics in order of appearance, then the losses and the
  training minutes."""
  tail = run_results.LOSSES + (run_results.TRAIN_MINUTES,)
  names = []
  for run in results:
    for key in run.final:
      if key not in tail and key not in names:
        names.append(key)
  return names + [k for k in tail if any(k in r.final for r in results)]


def mean_std(values: np.ndarray) -> Tuple[float, float]:
  """Mean and sample std (n - 1; NaN for fewer than two values)."""
  if values.size == 0:
    return math.nan, math.nan
  with np.errstate(invalid='ignore'):  # an inf value (e.g. a KL) has std NaN
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else math.nan


def _cell(values: np.ndarray) -> str:
  mean, std = mean_std(values)
  if math.isnan(mean):
    return '–'
  if std < 1e-9 * abs(mean):  # equal values (vmapped seeds' shared time)
    std = 0.0
  return f'{mean:.4g}' if math.isnan(std) else f'{mean:.4g} ± {std:.2g}'


def _seeds(variant: Variant) -> str:
  seeds = [r.overrides.get('seed') for r in variant.runs]
  return ','.join(str(s) for s in seeds if s is not None)


Section = Tuple[str, List[Variant], Dict[str, str]]  # title, variants, labels


def sections(variants: Sequence[Variant], split_by: str = '') -> List[Section]:
  """The variants in one section, or with `split_by` one per value of that
  key, each variant labelled by the keys that vary within its section."""
  if not split_by:
    return [('', list(variants), {v.name: v.name for v in variants})]
  if variants and not any(split_by in v.overrides for v in variants):
    raise GanJaxError(f"--split_by={split_by}: no run of the sweep sets it; "
                      f"its keys: {', '.join(sorted({k for v in variants for k in v.overrides}))}")
  parts: Dict[str, List[Variant]] = {}
  for v in variants:
    value = v.overrides.get(split_by)
    parts.setdefault(f'{split_by}={sweep_plan.format_value(value)}', []).append(v)
  result = []
  for title, members in parts.items():
    varying = run_results.varying_keys([v.overrides for v in members])
    labels = {v.name: ','.join(f'{k}={sweep_plan.format_value(v.overrides[k])}'
                               for k in varying if k in v.overrides) or 'base'
              for v in members}
    result.append((title, members, labels))
  return result


def markdown(parts: Sequence[Section], metrics: Sequence[str],
             left_out: Sequence[run_results.RunResult], source: str = '',
             select_by: str = '') -> str:
  """The tables; `source`, if given, is a line saying where the evaluation
  numbers come from (a window, evaluate reports, a pick); with `select_by`
  each run's pick is listed under its table."""
  lines = [source, ''] if source else []
  for title, variants, labels in parts:
    if title:
      lines += ([''] if lines and lines[-1] else []) + [f'### {title}', '']
    # A 'diverged' column when a run diverged: the metric cells average the
    # runs that did not.
    diverging = any(v.diverged() for v in variants)
    extra = ['diverged (steps)'] if diverging else []
    lines += ['| variant | n | ' + ' | '.join(extra + list(metrics)) + ' |',
              '|---|---:|' + '---:|' * (len(extra) + len(metrics))]
    for v in variants:
      cells = ([_diverged_cell(v.diverged())] if diverging else []) + [
          _cell(v.values(m)) for m in metrics]
      lines.append(f'| {labels[v.name]} | {len(v.runs)} | ' + ' | '.join(cells) + ' |')
    # The protocols of the numbers shown: a diverged run's are not.
    shown = [r for v in variants for r in v.runs if r.diverged_at is None]
    protocols = sorted({_protocol_text(r.protocol) for r in shown})
    if protocols != ['unrecorded']:
      lines += [''] + [f'Protocol: {p}' for p in protocols if p != 'unrecorded']
      unrecorded = [r.name for r in shown if not r.protocol]
      if unrecorded:
        lines.append(f'Protocol unrecorded (evaluated before gan_jax recorded '
                     f'protocols): {", ".join(unrecorded)}')
    if select_by:
      metric = run_results.parse_select_by(select_by)[0]
      lines += ['', 'Each run\'s pick:'] + [
          f'- {r.name}: step {r.final[run_results.SELECTED_STEP]:,} '
          f'({metric} {r.final[metric]:.6g} of {r.last_step:,} steps run)'
          for r in shown]
  if left_out:
    lines += ['', f'Not in the table ({len(left_out)}):']
    lines += [f'- {r.name}: {r.problem}' for r in left_out]
  return '\n'.join(lines) + '\n'


def write_csv(path: str, variants: Sequence[Variant], metrics: Sequence[str]) -> None:
  keys = sorted({k for v in variants for k in v.overrides})
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['variant'] + keys + ['n_seeds', 'seeds', 'n_diverged'] +
                    [f'{m}_{s}' for m in metrics for s in ('mean', 'std')])
    for v in variants:
      stats = [x for m in metrics for x in mean_std(v.values(m))]
      writer.writerow([v.name] + [v.overrides.get(k, '') for k in keys] +
                      [len(v.runs), _seeds(v), len(v.diverged())] + stats)


def plot(path: str, parts: Sequence[Section], metric: str) -> bool:
  """Mean over seeds of `metric` vs step per variant, the band spanning the
  seeds (at the steps every seed logged); one panel per section, the legend
  beside it. False if matplotlib is missing."""
  try:
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
  except ImportError:
    logging.warning('matplotlib is not installed (pip install matplotlib): no plot')
    return False
  fig, axes = plt.subplots(len(parts), 1, figsize=(11, 4.5 * len(parts)),
                           squeeze=False)
  for ax, (title, variants, labels) in zip(axes[:, 0], parts):
    for v in variants:
      curves = [dict(r.curves.get(metric, [])) for r in v.runs if r.diverged_at is None]
      steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
      if not steps:
        continue
      values = np.array([[c[s] for s in steps] for c in curves], np.float64)
      line, = ax.plot(steps, values.mean(0), marker='.' if len(steps) < 3 else None,
                      label=f'{labels[v.name]} (n={len(curves)})')
      if len(curves) > 1:
        ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2,
                        color=line.get_color())
    ax.set_xlabel('step')
    ax.set_ylabel(metric)
    ax.set_title(f'{title + ": " if title else ""}{metric}, mean over seeds; '
                 'band: min to max', fontsize='small')
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend(fontsize='x-small', loc='upper left', bbox_to_anchor=(1.01, 1.0))
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return True


def _source(results: Sequence[run_results.RunResult], window_steps: Optional[int],
            eval_reports: str, at_step: Optional[int], select_by: str = '') -> str:
  """One line on where the evaluation numbers come from; '' for the default
  (each run's last evaluation in the training loop)."""
  if not window_steps and not eval_reports and not select_by:
    return ''
  what = (run_results.eval_reports_text(eval_reports) if eval_reports else
          "the training loop's evaluations")
  end = f'step {at_step:,}' if at_step is not None else 'its last step'
  if select_by:
    metric, maximise = run_results.parse_select_by(select_by)
    budget = lambda r: min(at_step, r.num_train_steps or at_step) if at_step else r.num_train_steps
    short = [f'{r.name} ({r.last_step:,} of {budget(r):,})' for r in results
             if not r.problem and r.diverged_at is None and budget(r)
             and r.last_step < budget(r)]
    return (f"Evaluation metrics: {what}, each run's evaluation with the "
            f"{'highest' if maximise else 'lowest'} {metric} up to {end} (its step: "
            f'{run_results.SELECTED_STEP}); the losses are the last logged.' +
            (f" Runs stopped short of their budget: {', '.join(short)}." if short else ''))
  if not window_steps:
    return f"Evaluation metrics: {what}, each run's at {end}."
  counts = sorted({len(r.evaluated_steps) for r in results
                   if not r.problem and r.evaluated_steps})
  per_run = (f'{counts[0]} to {counts[-1]}' if len(counts) > 1 else
             str(counts[0]) if counts else 'no')
  plural = '' if counts == [1] else 's'
  return (f"Evaluation metrics: {what}, each run's mean over the {window_steps:,} "
          f'steps up to {end} ({per_run} evaluation{plural} per run, both ends '
          'included); the losses are the last logged.')


def report(sweep_dir: str, metrics: Sequence[str] = (),
           plot_metric: str = '', split_by: str = '',
           at_step: Optional[int] = None, window_steps: Optional[int] = None,
           eval_reports: str = '', select_by: str = '') -> str:
  """Writes report[_step<S>][_window<W>][_<eval_reports>][_by_<metric>[_min]].{md,
  csv,png} in `sweep_dir` (see the module docstring); returns the Markdown."""
  if window_steps is not None and window_steps < 1:
    raise GanJaxError(f'--window_steps={window_steps}: use a positive number of steps')
  results = run_results.collect(sweep_dir, at_step, window_steps, eval_reports, select_by)
  variants = group(results, same_step=not select_by)
  parts = sections(variants, split_by)
  metrics = list(metrics) or default_metrics([r for v in variants for r in v.runs])
  left_out = [r for r in results if r.problem]
  text = markdown(parts, metrics, left_out,
                  _source(results, window_steps, eval_reports, at_step, select_by),
                  select_by)
  stem = 'report' + ('' if at_step is None else f'_step{at_step}')
  stem += (f'_window{window_steps}' if window_steps else '') + (
      f'_{eval_reports}' if eval_reports else '') + (
      f'_by_{select_by.replace(":max", "").replace(":", "_")}' if select_by else '')
  stem = os.path.join(sweep_dir, stem)
  with open(stem + '.md', 'w') as f:
    f.write(text)
  write_csv(stem + '.csv', variants, metrics)
  plot_metric = plot_metric or (metrics[0] if metrics else '')
  if plot_metric and variants:
    plot(stem + '.png', parts, plot_metric)
  return text


def _define_flags() -> None:
  # Only when run as a program: tests and other tools import this module
  # beside modules with flags of their own.
  flags.DEFINE_string('sweep_dir', None, 'Directory of the runs (holds sweep.json '
                      'or run directories).')
  flags.DEFINE_list('metrics', [], 'Columns; default: evaluated metrics, loss_d, '
                    'loss_g, train_minutes.')
  flags.DEFINE_string('plot_metric', '', 'Metric plotted vs step; default the first.')
  flags.DEFINE_string('split_by', '', 'Config key: one table and plot panel per '
                      'value, e.g. data.dataset.')
  flags.DEFINE_integer('at_step', None, 'Tabulate the runs as they were at this '
                       'step (a scaled budget of longer runs).', lower_bound=1)
  flags.DEFINE_integer('window_steps', None, "Each run's metrics: the mean of its "
                       'evaluations over its last W steps.', lower_bound=1)
  flags.DEFINE_string('eval_reports', '', "Read gan_jax.evaluate reports: 'run' or "
                      'their settings, e.g. params=raw.')
  flags.DEFINE_string('select_by', '', "Each run at its evaluation with the best "
                      'METRIC[:max|:min], e.g. parzen_validation.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not FLAGS.sweep_dir:
    sys.exit('error: --sweep_dir is required')
  try:
    text = report(FLAGS.sweep_dir, FLAGS.metrics, FLAGS.plot_metric,
                  FLAGS.split_by, FLAGS.at_step, FLAGS.window_steps, FLAGS.eval_reports,
                  FLAGS.select_by)
  except GanJaxError as e:
    sys.exit(f'error: {e}')
  print(text, end='')


if __name__ == '__main__':
  _define_flags()
  app.run(main)
