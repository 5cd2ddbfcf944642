"""A sweep's runs grouped into variants: the runs that differ only in their
seed form one variant, whose numbers are the mean and sample standard
deviation over its seeds; `sections` splits the variants by a config key.
Runs averaged into one variant must share their evaluation protocol (but
for the latent seed) and, but for a pick per run, the step they are scored
at."""
import dataclasses
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from gan_jax.errors import GanJaxError
from gan_jax.experiments import run_results
from gan_jax.experiments import sweep_plan

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
        variant.runs, lambda r: protocol_text(r.protocol) if r.protocol else None)
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


def protocol_text(protocol: Optional[Dict[str, object]]) -> str:
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
