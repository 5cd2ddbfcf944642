"""The guard against non-finite values (config.nonfinite).

At every sync the loop hands `Guard.check` the metrics of every step since
the last one. A non-finite value in any of them (the metrics include both
networks' parameter norms, so a NaN anywhere in the parameters counts) ends
the run ('stop'), or sends every seed of the group back to its latest
checkpoint, the diverged ones with fresh noise ('rollback', at most
config.max_rollbacks times). A run that stops keeps its divergence in its
workdir (workdir/divergence.py): in an ablation, divergence is its result.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax.errors import GanJaxError
from gan_jax.game.state import GAN, create_state
from gan_jax.training import dispatch
from gan_jax.training import runs as runs_lib
from gan_jax.workdir import divergence

# Folded into a diverged seed's key, with the rollback's number, for its
# fresh noise.
_ROLLBACK_NOISE = 0xD1F


class DivergenceError(GanJaxError):
  """Training produced a non-finite loss, gradient or parameter."""


def first_nonfinite(metrics: Sequence[dict], first_step: int
                    ) -> Optional[Tuple[int, List[str]]]:
  """(step, sorted names) of the first of the steps' `metrics` (one dict per
  step, from `first_step` on) holding a non-finite value, or None."""
  for i, step_metrics in enumerate(metrics):
    bad = [k for k, v in step_metrics.items() if not np.all(np.isfinite(v))]
    if bad:
      return first_step + i, sorted(bad)
  return None


class Guard:
  """Checks a group's metrics at each sync and stops or rolls back the group.

  `runs` are the group's seeds, `dispatcher` drives their steps, `template`
  is the state's shapes and dtypes (to restore checkpoints into).
  """

  def __init__(self, config: ml_collections.ConfigDict, gan: GAN,
               runs: Sequence[runs_lib.Run], dispatcher: dispatch.Dispatcher,
               template):
    self._config, self._gan, self._runs = config, gan, runs
    self._dispatcher, self._template = dispatcher, template
    self.rollbacks = 0

  def check(self, per_run: Sequence[List[dict]], step: int) -> Optional[int]:
    """None when every metric since the last sync (`per_run`: each run's
    metrics per step, the last of them `step`'s) is finite; otherwise the
    step the group goes on from, after a rollback.

    Raises DivergenceError when config.nonfinite is 'stop' or this would be
    rollback number config.max_rollbacks + 1.
    """
    diverged = self._divergences(per_run, step)
    if not diverged:
      return None
    self.rollbacks += 1
    config = self._config
    message = '; '.join(f'{what}; {where}' for _, what, where in diverged.values())
    if config.nonfinite != 'rollback':
      raise self._stop(diverged, f'{message}. Lower the learning rates, add a '
                       'penalty, or set --config.nonfinite=rollback')
    if self.rollbacks > config.max_rollbacks:
      raise self._stop(diverged, f'{message}. All {config.max_rollbacks} rollbacks '
                       '(config.max_rollbacks) are used up: lower the learning '
                       'rates or add a penalty')
    step = self._roll_back(diverged)
    logging.warning('%s; rolled back to step %d with new noise (%d/%d)', message,
                    step, self.rollbacks, config.max_rollbacks)
    return step

  def _divergences(self, per_run: Sequence[List[dict]], step: int
                   ) -> Dict[int, Tuple[int, str, str]]:
    """{run index: (first non-finite step, what was non-finite, where the
    good checkpoints are)} of the runs with a non-finite metric."""
    runs, found_by_run = self._runs, {}
    for i, (run, metrics) in enumerate(zip(runs, per_run)):
      found = first_nonfinite(metrics, step - len(metrics) + 1)
      if found:
        at, names = found
        saved = run.manager.latest_step()
        found_by_run[i] = (
            at, f'non-finite {", ".join(names)} at step {at}'
            + (f' of seed {run.config.seed}' if len(runs) > 1 else ''),
            f'checkpoints up to step {saved} in {run.manager.directory} are intact'
            if saved else f'no checkpoint was saved yet in {run.manager.directory}')
    return found_by_run

  def _stop(self, diverged: Dict[int, Tuple[int, str, str]],
            message: str) -> DivergenceError:
    """The error that ends the group; first records each diverged run's
    divergence in its workdir, so sweeps and reports keep it as its result."""
    if jax.process_index() == 0:
      for i, (at, what, _) in diverged.items():
        divergence.record_divergence(self._runs[i].workdir, at, what)
    return DivergenceError(message)

  def _roll_back(self, diverged: Dict[int, Tuple[int, str, str]]) -> int:
    """Restarts every run from the group's latest checkpoint (the initial
    state where there is none); returns its step."""
    runs = self._runs
    states, step = runs_lib.restore(runs, self._template)
    if states is None:
      states = [create_state(run.config, self._gan, run.images) for run in runs]
    # Fresh noise from the checkpoint on for the seeds that diverged (the
    # others replay their steps exactly); the data order is unchanged.
    states = [s.replace(rng=jax.random.fold_in(s.rng, _ROLLBACK_NOISE + self.rollbacks))
              if i in diverged else s for i, s in enumerate(states)]
    self._dispatcher.start(states, step)
    for run in runs:
      run.restart_at(step)
    return step
