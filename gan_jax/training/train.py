"""The training loop: `train_and_evaluate(config, workdir)` trains (or
resumes) one run; `train_seeds` trains several seeds of a config together,
vmapped inside the pmap.

The loop dispatches steps ahead of the devices (`dispatch.Dispatcher`) and
syncs only at the steps where something is due (`due_at`): logging,
samples, evaluation or a checkpoint. Each sync first checks every step since
the last one for non-finite values (`nonfinite.Guard`), so no bad state is
ever read; the per-run work is done by each seed's `runs_lib.Run`.
"""
import dataclasses
import time
from typing import Dict, List, Mapping, Optional, Sequence

from absl import logging
import jax
import ml_collections

from gan_jax.config import validation
from gan_jax.training import dispatch
from gan_jax.training import runs as runs_lib
from gan_jax.training import nonfinite
from gan_jax.training import preemption as preemption_lib
from gan_jax.game.state import GANState
from gan_jax.workdir import divergence


def itstime(step: int, every_n_steps: int, total_steps: int,
            at_end: bool = True) -> bool:
  """True at every multiple of `every_n_steps` (never, when it is 0) and,
  with `at_end`, at the last step (as big_vision's `itstime`)."""
  return ((every_n_steps > 0 and step % every_n_steps == 0)
          or (at_end and step == total_steps))


@dataclasses.dataclass(frozen=True)
class Due:
  """What the loop does at a step."""
  log: bool
  sample: bool
  evaluate: bool
  save: bool

  @property
  def anything(self) -> bool:
    return self.log or self.sample or self.evaluate or self.save

  @property
  def reads_state(self) -> bool:
    return self.sample or self.evaluate or self.save


def due_at(config: ml_collections.ConfigDict, step: int, stop: bool,
           evaluates: bool) -> Due:
  """What is due at `step`: every interval's multiples and the last step; a
  checkpoint also when the run stops there; intervals of 0 log and save at
  the last step only, and turn samples and evaluations off."""
  total = config.num_train_steps
  return Due(
      log=itstime(step, config.log_every_steps, total),
      sample=itstime(step, config.sample_every_steps, total,
                     at_end=config.sample_every_steps > 0),
      evaluate=evaluates and itstime(step, config.eval_every_steps, total,
                                     at_end=config.eval_every_steps > 0),
      save=stop or itstime(step, config.checkpoint_every_steps, total))


def _next_log(config: ml_collections.ConfigDict, step: int) -> int:
  every = config.log_every_steps
  if not every:
    return config.num_train_steps
  return min(config.num_train_steps, -(-step // every) * every)


class _Clock:
  """Wall time and steps of the current logging interval."""

  def __init__(self, step: int):
    self.reset(step)

  def reset(self, step: int) -> None:
    self._time, self._step = time.perf_counter(), step

  def seconds(self) -> float:
    return time.perf_counter() - self._time

  def lap(self, step: int) -> Dict[str, float]:
    now = time.perf_counter()
    seconds = now - self._time
    timing = dict(steps_per_s=(step - self._step) / seconds, interval_seconds=seconds)
    self._time, self._step = now, step
    return timing


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> GANState:
  """Trains (or resumes) the GAN of `config` in `workdir`; returns the final
  host-side state. Outputs: checkpoints/, tensorboard/, samples/,
  metrics.jsonl, config.json, param_counts.json."""
  return train_seeds(config, {config.seed: workdir})[0]


def train_seeds(config: ml_collections.ConfigDict,
                workdirs: Mapping[int, str]) -> List[GANState]:
  """Trains one run of `config` per seed, `workdirs[seed]` each; returns
  their final host-side states.

  Several seeds train together: one program, `jax.vmap`ped over the seeds
  inside the pmap, steps all of them (on an accelerator, small models then
  fill the device; on CPU the group only shares the process start, see
  README). Each workdir is what a solo run of `--config.seed=<seed>` writes,
  to float tolerance, and either may resume the other.
  """
  if config.distributed:
    jax.distributed.initialize()
  # A stop request (a scheduler's SIGTERM) that comes while the runs are
  # built, restored or compiled is honoured at the first step boundary: a
  # model's start-up takes minutes, and a scheduler's grace time as long.
  # (After jax.distributed.initialize, whose coordination client installs
  # its own SIGTERM handler, so that this one is the handler in force.)
  with preemption_lib.PreemptionRequest() as preemption:
    devices = dispatch.local_devices(config)
    validation.validate(config, len(devices) * jax.process_count())
    gan, states, runs = runs_lib.build(config, workdirs, jax.process_index() == 0)
    try:
      dispatcher = _resume_and_train(config, gan, states, runs, devices, preemption)
    except BaseException:
      for run in runs:
        run.abandon()
      raise
  for run in runs:
    run.close()
  return dispatcher.host_states()


def _resume_and_train(config: ml_collections.ConfigDict, gan, states: List[GANState],
                      runs: Sequence[runs_lib.Run], devices,
                      preemption: preemption_lib.PreemptionRequest
                      ) -> dispatch.Dispatcher:
  """Resumes the runs from their common checkpoint (or starts them), then
  trains them to the budget; returns the dispatcher holding their states."""
  if jax.process_index() == 0:
    for run in runs:  # trained again: an earlier divergence is not its result
      divergence.clear_divergence(run.workdir)
  template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), states[0])
  restored, step = runs_lib.restore(runs, template)
  if restored is not None:
    states = restored
    logging.info('Resuming from the checkpoint at step %d', step)
  if len(runs) > 1:
    logging.info('Training seeds %s together (vmapped)', [r.config.seed for r in runs])
  dispatcher = dispatch.Dispatcher(config, gan, devices,
                                   [(run.images, run.labels, run.config.seed)
                                    for run in runs])
  dispatcher.start(states, step)
  del states, restored
  if jax.process_index() == 0:
    for run in runs:
      run.open_writer(step)
  guard = nonfinite.Guard(config, gan, runs, dispatcher, template)
  _loop(config, runs, dispatcher, guard, step, preemption)
  return dispatcher


def _loop(config: ml_collections.ConfigDict, runs: Sequence[runs_lib.Run],
          dispatcher: dispatch.Dispatcher, guard: nonfinite.Guard, step: int,
          preemption: preemption_lib.PreemptionRequest) -> None:
  """Dispatches the steps from `step` to the budget, or to a stop request
  (SIGTERM, another process's), doing at each step what is due."""
  evaluates = runs[0].evaluator is not None
  clock = _Clock(step)
  first_dispatch = step < config.num_train_steps
  while step < config.num_train_steps:
    step, stop = dispatcher.dispatch(preemption.requested)
    if first_dispatch:
      # One wait, so the console shows life within seconds of the start
      # rather than at the first logged step (minutes for a CPU DCGAN).
      dispatcher.wait()
      logging.info('Step %d done, %.1f s after the loop started (compilation '
                   'included); the first log is at step %d', step,
                   clock.seconds(), _next_log(config, step))
      first_dispatch = False
    due = due_at(config, step, stop, evaluates)
    if not due.anything:
      continue
    per_run = dispatcher.drain()
    rolled_back_to = guard.check(per_run, step)
    if rolled_back_to is not None:
      step = rolled_back_to
      clock.reset(step)
      continue
    _do(due, step, runs, per_run, dispatcher, clock.lap(step) if due.log else None)
    if stop:
      logging.warning('Received %s at step %d: saved a checkpoint in %s; '
                      'run the same command to resume.',
                      preemption.name or 'a stop request of another process',
                      step, ', '.join(str(r.manager.directory) for r in runs))
      return


def _do(due: Due, step: int, runs: Sequence[runs_lib.Run],
        per_run: Sequence[List[dict]], dispatcher: dispatch.Dispatcher,
        timing: Optional[Dict[str, float]]) -> None:
  """Each run's work due at `step`, given its metrics since the last sync
  (`per_run`) and the logging interval's `timing`."""
  states = dispatcher.host_states() if due.reads_state else [None] * len(runs)
  for run, metrics, state in zip(runs, per_run, states):
    run.interval += metrics
    if due.log:
      run.log(step, timing)
    if due.sample:
      run.write_samples(step, state)
    if due.evaluate:
      run.evaluate(step, state)
    if due.save:
      run.save(step, state)
