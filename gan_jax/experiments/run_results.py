"""A sweep's runs as numbers: each run's final metrics and curves, read from
its workdir (metrics.jsonl, config.json, diverged.json, eval/*.json), for
`gan_jax.report`.

A run's final numbers are its last evaluation record in metrics.jsonl and its
last loss_d / loss_g; `train_minutes` is its time in the training loop.
A `Reading` says how else to read them:
  * `at_step` S: the run as it was at step S (records after it ignored);
  * `eval_reports`: the run's `gan_jax.evaluate` reports instead of the
    training loop's evaluations: 'run' for eval/<step>.json, or settings such
    as 'params=raw' for the reports whose fields say so;
  * `window_steps` W: the mean of each metric over the run's evaluations at
    steps S - W ... S (S its budget, num_train_steps, or `at_step`), instead
    of the last one: a score that jitters between evaluations (raw G's own
    motion) read as the average over the run's final stretch;
  * `select_by` 'METRIC[:max|:min]': each run's evaluation with the best
    METRIC over its history up to its last step (or `at_step`), e.g.
    'parzen_validation' -- model selection on a validation score, as
    Goodfellow et al. (2014) pick their Parzen checkpoint; `selected_step`
    says which. A run stopped short of its budget is selected over what it
    ran; the candidates are the evaluations under the protocol of its last
    one, so values measured differently are not compared; a run that
    diverged has no pick (as it has no final numbers otherwise).
"""
import dataclasses
import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

from gan_jax.experiments import evaluate_reports
from gan_jax.experiments import sweep_plan
from gan_jax.errors import GanJaxError
from gan_jax.config import keys as config_keys
from gan_jax.workdir import divergence
from gan_jax.workdir import metrics_log

# Keys of metrics.jsonl records that time the run rather than measure the
# model: they differ between otherwise identical runs.
TIMING_KEYS = ('steps_per_s', 'interval_seconds', 'eval_seconds')
# Keys of a metrics.jsonl record that are bookkeeping, not results.
_NOT_METRICS = ('step', 'protocol') + TIMING_KEYS
LOSSES = ('loss_d', 'loss_g')
# Minutes in the training loop, from the logged intervals' lengths.
TRAIN_MINUTES = 'train_minutes'
# With select_by: the step of the evaluation picked.
SELECTED_STEP = 'selected_step'


def without_timing(records: Sequence[dict]) -> List[dict]:
  """metrics.jsonl records without their TIMING_KEYS: what two runs of the
  same config must agree on."""
  return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


@dataclasses.dataclass
class RunResult:
  """One run's final numbers, or why it has none."""
  name: str
  overrides: Dict[str, object]
  final: Dict[str, float]
  curves: Dict[str, List[Tuple[int, float]]]  # metric -> [(step, value)]
  last_step: int
  num_train_steps: Optional[int]
  problem: str = ''  # '' for a finished (or diverged) run, else what is missing
  protocol: Optional[Dict[str, object]] = None  # of its last evaluation
  # The first non-finite step of a run that diverged (divergence.read_divergence):
  # a result, not a gap; its final numbers are left empty.
  diverged_at: Optional[int] = None
  # Steps of the evaluations in `final` (one without a window; none for a
  # run that diverged).
  evaluated_steps: List[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Reading:
  """How a run's final numbers are read (the module docstring): `at_step`,
  `window_steps`, `eval_reports` ('' for the training loop's evaluations)
  and `select_by`; the defaults read each run's last evaluation.

  Checked when made: raises GanJaxError for a step or window below 1, an
  `eval_reports` or `select_by` value `evaluate_reports.parse_eval_reports` /
  `parse_select_by` refuse, or `select_by` with `window_steps` (one pick
  per run against a mean over several).
  """
  at_step: Optional[int] = None
  window_steps: Optional[int] = None
  eval_reports: str = ''
  select_by: str = ''

  def __post_init__(self):
    if self.at_step is not None and self.at_step < 1:
      raise GanJaxError(f'--at_step={self.at_step}: use a step of 1 or more')
    if self.window_steps is not None and self.window_steps < 1:
      raise GanJaxError(f'--window_steps={self.window_steps}: use a positive '
                        'number of steps')
    if self.eval_reports:
      evaluate_reports.parse_eval_reports(self.eval_reports)
    if self.select_by:
      parse_select_by(self.select_by)
      if self.window_steps:
        raise GanJaxError('--select_by picks one evaluation per run and '
                          '--window_steps averages several: use one of them')

  @property
  def selection(self) -> Optional[Tuple[str, bool]]:
    """(metric, True to maximise) of `select_by`; None without one."""
    return parse_select_by(self.select_by) if self.select_by else None

  @property
  def is_default(self) -> bool:
    """Each run's last evaluation in the training loop (at_step aside)."""
    return not (self.window_steps or self.eval_reports or self.select_by)


def _read_json(path: str) -> Optional[dict]:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def varying_keys(flat: Sequence[Dict[str, object]]) -> List[str]:
  """The keys (sorted) whose values differ between the flat dicts; a key
  missing from some of them counts as the value None there."""
  keys = sorted(set().union(*flat)) if flat else []
  return [k for k in keys
          if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def _derived_overrides(configs: Dict[str, dict],
                       ignored: Sequence[str] = ()) -> Dict[str, Dict[str, object]]:
  """Per run, the config values that differ between the runs, but for the
  execution keys and `ignored`."""
  # A run saved before a key existed computed with its default (as on
  # resume): not another variant for that.
  flat = {name: config_keys.flatten(config_keys.complete(c)) for name, c in configs.items()}
  varying = [k for k in varying_keys(list(flat.values()))
             if k not in config_keys.EXECUTION_KEYS and k not in ignored]
  return {name: {k: f.get(k) for k in varying} for name, f in flat.items()}


def _mean(values: Sequence[float], metric: str) -> float:
  try:
    return sum(float(v) for v in values) / len(values)
  except (TypeError, ValueError):
    raise GanJaxError(f'{metric} has a value that is not a number in the '
                      'evaluations averaged: tabulate it without --window_steps') from None


def parse_select_by(select_by: str) -> Tuple[str, bool]:
  """--select_by 'METRIC', 'METRIC:max' or 'METRIC:min' as (METRIC, True to
  maximise). Raises GanJaxError for another suffix or an empty metric."""
  metric, colon, direction = select_by.partition(':')
  if not metric or (colon and direction not in ('max', 'min')):
    raise GanJaxError(f"--select_by={select_by}: use a metric, optionally with :max "
                      "(the default) or :min, e.g. parzen_validation or fid:min")
  return metric, direction != 'min'


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _final_evaluation(evals: Sequence[dict], end: int, reading: Reading):
  """(final metrics, the records they come from): the last record's values as
  logged, or with `window_steps` each metric's mean over the records at steps
  end - window_steps ... end (a metric missing from some records averages
  those that have it), or with `select_by` the record up to `end` with the
  best finite value of its metric (the earliest of equals) among those under
  the last such record's protocol, and its step as SELECTED_STEP."""
  window_steps = reading.window_steps
  if reading.select_by:
    metric, maximise = reading.selection
    scored = [r for r in evals if r['step'] <= end and _is_number(r.get(metric))]
    if not scored:
      return {}, []
    # Evaluations logged before protocols were recorded have none (None).
    protocol = scored[-1].get('protocol')
    scored = [r for r in scored if r.get('protocol') == protocol]
    sign = 1.0 if maximise else -1.0
    best = max(scored, key=lambda r: (sign * r[metric], -r['step']))
    final = {k: v for k, v in best.items() if k not in _NOT_METRICS}
    return dict(final, **{SELECTED_STEP: best['step']}), [best]
  if not window_steps:
    last = list(evals[-1:])
    return {k: v for r in last for k, v in r.items() if k not in _NOT_METRICS}, last
  evals = [r for r in evals if end - window_steps <= r['step'] <= end]
  keys = dict.fromkeys(k for r in evals for k in r if k not in _NOT_METRICS)
  return {k: _mean([r[k] for r in evals if k in r], k) for k in keys}, evals


def _problem(result: RunResult, train: Sequence[dict], evals: Sequence[dict],
             used: Sequence[dict], end: int, reading: Reading, workdir: str) -> str:
  """What keeps a run that did not diverge out of the table, or ''."""
  window_steps, eval_reports = reading.window_steps, reading.eval_reports
  if not train:
    return 'no training records'
  if reading.select_by:
    metric = reading.selection[0]
    if used:
      return ''
    if eval_reports:
      return (f'no gan_jax.evaluate report ({eval_reports}) up to step {end} records '
              f'{metric}; run {evaluate_reports.evaluate_command(workdir, end, eval_reports)}')
    return f'no evaluation up to step {end} records {metric}'
  if end and result.last_step < end:
    return f'unfinished: step {result.last_step}/{end}'
  if eval_reports and end not in result.evaluated_steps:
    return (f'no gan_jax.evaluate report ({eval_reports}) at its step {end}; '
            f'run {evaluate_reports.evaluate_command(workdir, end, eval_reports)}')
  if window_steps and evals and not used:
    return (f'no evaluation at steps {end - window_steps}-{end} (its last at '
            f'{evals[-1]["step"]}); widen --window_steps')
  if len({json.dumps(r.get('protocol'), sort_keys=True) for r in used}) > 1:
    return (f'its evaluations at steps {used[0]["step"]}-{end} differ in protocol, '
            'so they do not average; shorten --window_steps')
  return ''


def read_run(name: str, workdir: str, overrides: Dict[str, object],
             num_train_steps: Optional[int] = None,
             reading: Reading = Reading()) -> RunResult:
  """The final metrics of the run in `workdir`, read as `reading` says -- or,
  with `at_step`, those at
  that step (records after it ignored; a run short of it is unfinished);
  `problem` says what is missing. A run that diverged (by `at_step`) has its
  first non-finite step in `diverged_at` and no final metrics.

  With `eval_reports` the evaluations are the run's `gan_jax.evaluate`
  reports (`read_eval_reports`), and one must exist at its end step. With
  `window_steps` W the final metrics average the evaluations at steps
  S - W ... S, both included, S the end step: `at_step`, else the run's
  budget (num_train_steps); a run with none there is left out. With
  `select_by` they are the best evaluation up to `at_step` or the run's
  last step (`_final_evaluation`), finished or not."""
  at_step, eval_reports, select_by = reading.at_step, reading.eval_reports, reading.select_by
  # A run not yet started has no config.json: its budget is then unknown.
  config = _read_json(os.path.join(workdir, 'config.json')) or {}
  if num_train_steps is None:
    num_train_steps = config.get('num_train_steps')
  result = RunResult(name, overrides, {}, {}, 0, num_train_steps)
  diverged = divergence.read_divergence(workdir)
  horizon = at_step if at_step is not None else num_train_steps
  if diverged and horizon and diverged['step'] > horizon:
    diverged = None  # within the budget tabulated, it had not diverged
  if diverged:
    result.diverged_at = diverged['step']
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    if not diverged:  # else diverged before its first record
      result.problem = 'no metrics.jsonl (not started?)'
    return result
  records, damage = _records(path)
  if damage:
    result.problem = damage   # never a wrong number from a damaged file
    return result
  train, evals = [], []
  for record in records:
    # Every record gan_jax writes has a step; a hand-made one counts as 0.
    if at_step is None or record.get('step', 0) <= at_step:
      (train if 'loss_d' in record else evals).append(record)
  if at_step is not None:
    num_train_steps = at_step
  if eval_reports:
    evals = [r for r in evaluate_reports.read_eval_reports(workdir, eval_reports)
             if at_step is None or r['step'] <= at_step]
  for record in train + evals:
    for key, value in record.items():
      if key not in _NOT_METRICS:
        result.curves.setdefault(key, []).append((record['step'], value))
  for curve in result.curves.values():
    curve.sort()
  result.last_step = max((r['step'] for r in train + evals), default=0)
  # A pick reads the run as far as it went (its records stop at at_step).
  end = result.last_step if select_by else num_train_steps or result.last_step
  if diverged:
    return result  # no numbers shown, so no protocol to agree with the other seeds'
  result.final, used = _final_evaluation(evals, end, reading)
  if used:
    result.protocol = used[-1].get('protocol')
    result.evaluated_steps = [r['step'] for r in used]
  if train:
    result.final.update({k: train[-1][k] for k in LOSSES if k in train[-1]})
    result.final[TRAIN_MINUTES] = train_minutes(train)
  result.problem = _problem(result, train, evals, used, end, reading, workdir)
  return result


def _records(path: str) -> Tuple[List[dict], str]:
  """(the records of metrics.jsonl at `path`, '' or what is damaged).

  A record cut short is the last one of a run stopped mid-write (resuming
  drops it); a run's numbers are not read around it, nor around a garbled
  line elsewhere (the file was edited)."""
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  try:
    records, torn = metrics_log.parse_records(lines, path)
  except GanJaxError as e:
    return [], f'damaged metrics.jsonl: {e}'
  if torn:
    return [], (f'damaged metrics.jsonl: its last record is cut short ({torn[:40]!r}); '
                'the run stopped mid-write: run its command again to resume')
  return records, ''


def train_minutes(train: Sequence[dict]) -> float:
  """Time in the training loop: the logging intervals' seconds (which
  include the samples, evaluations and saves inside them) summed over the
  run's segments; without the process starts and the evaluation after the
  last log. Seeds vmapped together each show the group's time.

  Records written before `interval_seconds` was logged give the interval's
  steps over its steps_per_s instead; that overcounts the first interval
  after a resume, which timed only the steps since the checkpoint.
  """
  seconds, previous = 0.0, 0
  for record in train:
    if 'interval_seconds' in record:
      seconds += record['interval_seconds']
    elif record.get('steps_per_s'):   # records older than interval_seconds
      seconds += (record['step'] - previous) / record['steps_per_s']
    previous = record['step']
  return seconds / 60


def collect(sweep_dir: str, reading: Reading = Reading()) -> List[RunResult]:
  """Every run of the sweep in `sweep_dir`, in the sweep's order, read as
  `reading` says (`read_run`). Raises GanJaxError when `select_by` names a
  metric no run evaluated."""
  results = _collect(sweep_dir, reading)
  metric = reading.selection[0] if reading.select_by else ''
  if metric and any(r.curves for r in results) and not any(metric in r.curves
                                                          for r in results):
    evaluated = sorted({k for r in results for k in r.curves
                        if k not in LOSSES and k not in _NOT_METRICS})
    raise GanJaxError(f"--select_by={reading.select_by}: no run evaluated {metric}; "
                      f"the runs' metrics: {', '.join(evaluated) or 'none'}")
  return results


def _collect(sweep_dir: str, reading: Reading) -> List[RunResult]:
  sweep = sweep_plan.read_sweep_file(sweep_dir)
  if sweep:
    # A run's workdir is <sweep_dir>/<name>, wherever the sweep was run from;
    # sweep.json written before budgets were recorded lacks num_train_steps.
    return [read_run(r['name'], os.path.join(sweep_dir, r['name']),
                     r['overrides'], r.get('num_train_steps'), reading)
            for r in sweep['runs']]
  if not os.path.isdir(sweep_dir):
    raise GanJaxError(f'{sweep_dir} does not exist')
  configs = {}
  for name in sorted(os.listdir(sweep_dir)):
    config = _read_json(os.path.join(sweep_dir, name, 'config.json'))
    if config is not None:
      configs[name] = config
  if not configs:
    raise GanJaxError(f'{sweep_dir} holds neither sweep.json nor run '
                      'directories with a config.json')
  # Read at one step, a run resumed to a longer budget (config.json keeps
  # the last) is measured as its shorter-budget seeds are: not another variant.
  overrides = _derived_overrides(
      configs, ignored=('num_train_steps',) if reading.at_step is not None else ())
  return [read_run(name, os.path.join(sweep_dir, name), overrides[name], reading=reading)
          for name in configs]
