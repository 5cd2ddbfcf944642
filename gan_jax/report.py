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
import os
import sys
from typing import Optional, Sequence

from absl import app
from absl import flags

from gan_jax.errors import GanJaxError
from gan_jax.experiments import curves_plot
from gan_jax.experiments import run_results
from gan_jax.experiments import tables
from gan_jax.experiments import variants as variants_lib
from gan_jax.workdir import atomic

FLAGS = flags.FLAGS


def _stem(reading: run_results.Reading) -> str:
  """report[_step<S>][_window<W>][_<eval_reports>][_by_<metric>[_min]]."""
  stem = 'report' + ('' if reading.at_step is None else f'_step{reading.at_step}')
  stem += f'_window{reading.window_steps}' if reading.window_steps else ''
  stem += f'_{reading.eval_reports}' if reading.eval_reports else ''
  if reading.select_by:
    stem += f'_by_{reading.select_by.replace(":max", "").replace(":", "_")}'
  return stem


def _check_metric_names(results, metrics: Sequence[str], plot_metric: str) -> None:
  """Raises GanJaxError, before anything is written, for a --metrics or
  --plot_metric name no run recorded (a table of dashes would replace a
  good report)."""
  known = {k for r in results for k in list(r.final) + list(r.curves)}
  known.add(run_results.TRAIN_MINUTES)
  for flag, names in (('--metrics', list(metrics)), ('--plot_metric', [plot_metric])):
    unknown = [n for n in names if n and n not in known]
    if unknown and len(known) > 1:
      raise GanJaxError(f"{flag}: no run recorded {', '.join(unknown)}; the runs' "
                        f"metrics: {', '.join(sorted(known))}")


def report(sweep_dir: str, metrics: Sequence[str] = (),
           plot_metric: str = '', split_by: str = '',
           at_step: Optional[int] = None, window_steps: Optional[int] = None,
           eval_reports: str = '', select_by: str = '') -> str:
  """Writes report[_step<S>][_window<W>][_<eval_reports>][_by_<metric>[_min]].{md,
  csv,png} in `sweep_dir` (see the module docstring); returns the Markdown.
  Raises GanJaxError for options `run_results.Reading` refuses, and before
  anything is written."""
  reading = run_results.Reading(at_step, window_steps, eval_reports, select_by)
  results = run_results.collect(sweep_dir, reading)
  if at_step is not None and results and all(r.last_step < at_step for r in results):
    raise GanJaxError(f'--at_step={at_step} is beyond every run (the furthest is at step '
                      f'{max(r.last_step for r in results):,}); use a step the runs reached')
  _check_metric_names(results, metrics, plot_metric)
  variants = variants_lib.group(results, same_step=not select_by)
  parts = variants_lib.sections(variants, split_by)
  metrics = list(metrics) or variants_lib.default_metrics(
      [r for v in variants for r in v.runs])
  left_out = [r for r in results if r.problem]
  text = tables.markdown(parts, metrics, left_out,
                         tables.source_line(results, reading), reading)
  stem = os.path.join(sweep_dir, _stem(reading))
  atomic.write_text(stem + '.md', text)
  tables.write_csv(stem + '.csv', variants, metrics)
  plot_metric = plot_metric or (metrics[0] if metrics else '')
  if plot_metric and variants:
    curves_plot.plot(stem + '.png', parts, plot_metric)
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
