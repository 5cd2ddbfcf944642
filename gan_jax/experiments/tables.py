"""A sweep's variants as text: the Markdown tables `gan_jax.report` prints
(mean ± sample std over seeds, a diverged column, the protocols of the
numbers shown, each run's pick) and the CSV beside them."""
import csv
import math
from typing import Sequence

import numpy as np

from gan_jax.experiments import evaluate_reports
from gan_jax.experiments import run_results
from gan_jax.experiments.variants import Section, Variant, mean_std, protocol_text
from gan_jax.workdir import atomic

def _diverged_cell(steps: Sequence[int]) -> str:
  """'0', or how many diverged and at which steps: '2 (778, 1850)'."""
  return f'{len(steps)} ({", ".join(str(s) for s in sorted(steps))})' if steps else '0'


def _cell(values: np.ndarray) -> str:
  mean, std = mean_std(values)
  if math.isnan(mean):
    return '–'
  if std < 1e-9 * abs(mean):  # equal values (vmapped seeds' shared time)
    std = 0.0
  return f'{mean:.4g}' if math.isnan(std) else f'{mean:.4g} ± {std:.2g}'


def _seeds(variant: Variant) -> str:
  # A variant's runs need not set the seed (one run of its base config).
  seeds = [r.overrides.get('seed') for r in variant.runs]
  return ','.join(str(s) for s in seeds if s is not None)


def markdown(parts: Sequence[Section], metrics: Sequence[str],
             left_out: Sequence[run_results.RunResult], source: str = '',
             reading: run_results.Reading = run_results.Reading()) -> str:
  """The tables; `source`, if given, is a line saying where the evaluation
  numbers come from (`source_line`); with `reading.select_by` each run's
  pick is listed under its table."""
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
    protocols = sorted({protocol_text(r.protocol) for r in shown})
    if protocols != ['unrecorded']:
      lines += [''] + [f'Protocol: {p}' for p in protocols if p != 'unrecorded']
      unrecorded = [r.name for r in shown if not r.protocol]
      if unrecorded:
        lines.append(f'Protocol unrecorded (evaluated before gan_jax recorded '
                     f'protocols): {", ".join(unrecorded)}')
    if reading.select_by:
      metric = reading.selection[0]
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
  with atomic.replace(path, newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['variant'] + keys + ['n_seeds', 'seeds', 'n_diverged'] +
                    [f'{m}_{s}' for m in metrics for s in ('mean', 'std')])
    for v in variants:
      stats = [x for m in metrics for x in mean_std(v.values(m))]
      writer.writerow([v.name] + [v.overrides.get(k, '') for k in keys] +
                      [len(v.runs), _seeds(v), len(v.diverged())] + stats)


def source_line(results: Sequence[run_results.RunResult],
                reading: run_results.Reading) -> str:
  """One line on where the evaluation numbers come from; '' for the default
  (each run's last evaluation in the training loop)."""
  if reading.is_default:
    return ''
  at_step, window_steps, eval_reports = (reading.at_step, reading.window_steps,
                                         reading.eval_reports)
  what = (evaluate_reports.eval_reports_text(eval_reports) if eval_reports else
          "the training loop's evaluations")
  end = f'step {at_step:,}' if at_step is not None else 'its last step'
  if reading.select_by:
    metric, maximise = reading.selection
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
