"""A sweep's runs as numbers: each run's final metrics and curves, read from
its workdir (metrics.jsonl, config.json, diverged.json, eval/*.json), for
`gan_jax.report`.

A run's final numbers are its last evaluation record in metrics.jsonl and its
last loss_d / loss_g; `train_minutes` is its time in the training loop. Two
options change where the evaluation numbers come from:
  * `eval_reports`: the run's `gan_jax.evaluate` reports (eval/<step>.json for
    'run', eval/<step>,<settings>.json for settings such as 'params=raw')
    instead of the training loop's evaluations;
  * `window_steps` W: the mean of each metric over the run's evaluations at
    steps S - W ... S (S its last step, or `at_step`), instead of the last one:
    a score that jitters between evaluations (raw G's own motion) read as
    the average over the run's final stretch.
"""
import dataclasses
import json
import math
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from gan_jax import sweep_plan
from gan_jax import workdir as workdir_lib
from gan_jax.errors import GanJaxError

# Keys of metrics.jsonl records that time the run rather than measure the
# model: they differ between otherwise identical runs.
TIMING_KEYS = ('steps_per_s', 'interval_seconds', 'eval_seconds')
# Keys of a metrics.jsonl record that are bookkeeping, not results.
_NOT_METRICS = ('step', 'protocol') + TIMING_KEYS
LOSSES = ('loss_d', 'loss_g')
# Minutes in the training loop, from the logged intervals' lengths.
TRAIN_MINUTES = 'train_minutes'


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
  # The first non-finite step of a run that diverged (workdir.read_divergence):
  # a result, not a gap; its final numbers are left empty.
  diverged_at: Optional[int] = None
  # Steps of the evaluations averaged into `final` (one, without a window).
  evaluated_steps: List[int] = dataclasses.field(default_factory=list)


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


def _derived_overrides(configs: Dict[str, dict]) -> Dict[str, Dict[str, object]]:
  """Per run, the config values that differ between the runs."""
  flat = {name: workdir_lib.flatten(c) for name, c in configs.items()}
  varying = [k for k in varying_keys(list(flat.values()))
             if k not in workdir_lib.EXECUTION_KEYS]
  return {name: {k: f.get(k) for k in varying} for name, f in flat.items()}


def _check_eval_reports(settings: str) -> None:
  if settings != 'run' and not re.fullmatch(r'[a-z_]+=[^,/]+(,[a-z_]+=[^,/]+)*', settings):
    raise GanJaxError(f"eval reports '{settings}': use 'run' (eval/<step>.json) or the "
                      "settings of gan_jax.evaluate's file names, e.g. params=raw")


def read_eval_reports(workdir: str, settings: str) -> List[dict]:
  """The run's `gan_jax.evaluate` reports under `settings` as metrics.jsonl-like
  evaluation records {step, <metrics>..., protocol}, by step. 'run' reads
  eval/<step>.json (the run's own evaluation settings); e.g. 'params=raw'
  reads eval/<step>,params=raw.json. Raises GanJaxError for other names."""
  _check_eval_reports(settings)
  suffix = '' if settings == 'run' else ',' + settings
  pattern = re.compile(r'(\d+)' + re.escape(suffix) + r'\.json')
  directory = os.path.join(workdir, 'eval')
  records = []
  for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
    if pattern.fullmatch(name):
      report = _read_json(os.path.join(directory, name))
      records.append(dict(step=report['step'], **report.get('metrics', {}),
                          protocol=report.get('protocol')))
  return sorted(records, key=lambda r: r['step'])


def _window_mean(evals: Sequence[dict], end: int,
                 window_steps: int) -> Tuple[Dict[str, float], List[dict]]:
  """Each metric's mean over the records at steps end - window_steps ... end."""
  inside = [r for r in evals if end - window_steps <= r['step'] <= end]
  keys = [k for r in inside for k in r if k not in _NOT_METRICS]
  return {k: math.fsum(r[k] for r in inside if k in r) / sum(k in r for r in inside)
          for k in dict.fromkeys(keys)}, inside


def _evaluate_command(workdir: str, step: int, settings: str) -> str:
  flags = '' if settings == 'run' else ''.join(f' --{kv}' for kv in settings.split(','))
  return f'python -m gan_jax.evaluate --workdir={workdir} --checkpoint={step}{flags}'


def read_run(name: str, workdir: str, overrides: Dict[str, object],
             num_train_steps: Optional[int] = None,
             at_step: Optional[int] = None, window_steps: Optional[int] = None,
             eval_reports: str = '') -> RunResult:
  """The final metrics of the run in `workdir` -- or, with `at_step`, those at
  that step (records after it ignored; a run short of it is unfinished);
  `problem` says what is missing. A run that diverged (by `at_step`) has its
  first non-finite step in `diverged_at` and no final metrics. With
  `eval_reports` the evaluations are the run's `gan_jax.evaluate` reports
  (`read_eval_reports`), and one must exist at its last step; with
  `window_steps` the final metrics average the evaluations of the last
  `window_steps` steps (both ends included)."""
  config = _read_json(os.path.join(workdir, 'config.json')) or {}
  if num_train_steps is None:
    num_train_steps = config.get('num_train_steps')
  result = RunResult(name, overrides, {}, {}, 0, num_train_steps)
  divergence = workdir_lib.read_divergence(workdir)
  horizon = at_step if at_step is not None else num_train_steps
  if divergence and horizon and divergence['step'] > horizon:
    divergence = None  # within the budget tabulated, it had not diverged
  if divergence:
    result.diverged_at = divergence['step']
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    if not divergence:  # else diverged before its first record
      result.problem = 'no metrics.jsonl (not started?)'
    return result
  train, evals = [], []
  with open(path) as f:
    for line in f:
      if line.strip():
        try:
          record = json.loads(line)
        except json.JSONDecodeError:
          continue  # a line cut by a kill mid-write
        if at_step is None or record.get('step', 0) <= at_step:
          (train if 'loss_d' in record else evals).append(record)
  if at_step is not None:
    num_train_steps = at_step
  if eval_reports:
    evals = [r for r in read_eval_reports(workdir, eval_reports)
             if at_step is None or r['step'] <= at_step]
  for record in train + evals:
    for key, value in record.items():
      if key not in _NOT_METRICS:
        result.curves.setdefault(key, []).append((record['step'], value))
  for curve in result.curves.values():
    curve.sort()
  result.last_step = max((r['step'] for r in train + evals), default=0)
  end = num_train_steps or result.last_step
  if window_steps:
    window, evals = _window_mean(evals, end, window_steps)
    result.final.update(window)
  elif evals:
    result.final.update({k: v for k, v in evals[-1].items() if k not in _NOT_METRICS})
    evals = evals[-1:]
  if evals:
    result.protocol = evals[-1].get('protocol')
    result.evaluated_steps = [r['step'] for r in evals]
    protocols = {json.dumps(r.get('protocol'), sort_keys=True) for r in evals}
  if train:
    result.final.update({k: train[-1][k] for k in LOSSES if k in train[-1]})
    result.final[TRAIN_MINUTES] = train_minutes(train)
  if divergence:
    # No numbers shown, so no protocol to agree with the other seeds'.
    result.final, result.protocol = {}, None
  elif not train:
    result.problem = 'no training records'
  elif num_train_steps and result.last_step < num_train_steps:
    result.problem = f'unfinished: step {result.last_step}/{num_train_steps}'
  elif eval_reports and end not in result.evaluated_steps:
    result.problem = (f'no gan_jax.evaluate report ({eval_reports}) at its step {end}; '
                      f'run {_evaluate_command(workdir, end, eval_reports)}')
  elif evals and len(protocols) > 1:
    result.problem = (f'its evaluations at steps {result.evaluated_steps[0]}-{end} differ '
                      'in protocol, so they do not average; shorten the window')
  return result


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
    elif record.get('steps_per_s'):
      seconds += (record['step'] - previous) / record['steps_per_s']
    previous = record['step']
  return seconds / 60


def collect(sweep_dir: str, at_step: Optional[int] = None,
            window_steps: Optional[int] = None, eval_reports: str = '') -> List[RunResult]:
  """Every run of the sweep in `sweep_dir`, in the sweep's order (as at
  `at_step`, if given; `window_steps` and `eval_reports`: `read_run`)."""
  if eval_reports:
    _check_eval_reports(eval_reports)
  options = dict(at_step=at_step, window_steps=window_steps, eval_reports=eval_reports)
  sweep = sweep_plan.read_sweep_file(sweep_dir)
  if sweep:
    # A run's workdir is <sweep_dir>/<name>, wherever the sweep was run from.
    return [read_run(r['name'], os.path.join(sweep_dir, r['name']),
                     r['overrides'], r.get('num_train_steps'), **options)
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
  overrides = _derived_overrides(configs)
  return [read_run(name, os.path.join(sweep_dir, name), overrides[name], **options)
          for name in configs]
