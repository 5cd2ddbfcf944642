"""A sweep's runs as numbers: each run's final metrics and curves, read from
its workdir (metrics.jsonl, config.json, diverged.json), for `gan_jax.report`.

A run's final numbers are its last evaluation record in metrics.jsonl and its
last loss_d / loss_g; `train_minutes` is its time in the training loop.
"""
import dataclasses
import json
import os
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


def read_run(name: str, workdir: str, overrides: Dict[str, object],
             num_train_steps: Optional[int] = None,
             at_step: Optional[int] = None) -> RunResult:
  """The final metrics of the run in `workdir` -- or, with `at_step`, those at
  that step (records after it ignored; a run short of it is unfinished);
  `problem` says what is missing. A run that diverged (by `at_step`) has its
  first non-finite step in `diverged_at` and no final metrics."""
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
  for record in train + evals:
    for key, value in record.items():
      if key not in _NOT_METRICS:
        result.curves.setdefault(key, []).append((record['step'], value))
  for curve in result.curves.values():
    curve.sort()
  result.last_step = max((r['step'] for r in train + evals), default=0)
  if evals:
    result.final.update({k: v for k, v in evals[-1].items() if k not in _NOT_METRICS})
    result.protocol = evals[-1].get('protocol')
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


def collect(sweep_dir: str, at_step: Optional[int] = None) -> List[RunResult]:
  """Every run of the sweep in `sweep_dir`, in the sweep's order (as at
  `at_step`, if given: `read_run`)."""
  sweep = sweep_plan.read_sweep_file(sweep_dir)
  if sweep:
    # A run's workdir is <sweep_dir>/<name>, wherever the sweep was run from.
    return [read_run(r['name'], os.path.join(sweep_dir, r['name']),
                     r['overrides'], r.get('num_train_steps'), at_step)
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
  return [read_run(name, os.path.join(sweep_dir, name), overrides[name],
                   at_step=at_step)
          for name in configs]
