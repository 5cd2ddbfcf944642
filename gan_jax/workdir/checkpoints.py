"""Orbax checkpoints of the unreplicated GANState in `workdir/checkpoints`.

One CheckpointManager keeps the latest `keep` checkpoints plus the best one by
`best_metric` (orbax preservation policies), so cleaning up old steps never
removes the best. Saves are atomic (orbax writes to a temporary directory and
renames it on commit); a directory left by an interrupted save is never taken
for a checkpoint.
"""
import functools
import math
import os
import shutil
from typing import Any, Dict, List, Optional

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from gan_jax.errors import GanJaxError
from gan_jax.workdir import eval_reports
from gan_jax.workdir import metrics_log


class CorruptCheckpointError(GanJaxError):
  """No checkpoint in the workdir could be restored."""


def committed_steps(workdir: str) -> List[int]:
  """Steps of the committed checkpoints in `workdir`, ascending (read from
  the directory names, without opening a manager)."""
  path = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(path):
    return []
  return sorted(int(d) for d in os.listdir(path)
                if d.isdigit() and os.path.isdir(os.path.join(path, d)))


def create_manager(workdir: str, keep: int, best_metric: str,
                   best_mode: str) -> ocp.CheckpointManager:
  if best_mode not in ('min', 'max'):
    raise GanJaxError(f"config.best_mode must be 'min' or 'max', got '{best_mode}'")
  metric_fn = functools.partial(_metric_or_worst, best_metric, best_mode)
  preservation = policies.AnyPreservationPolicy([
      policies.LatestN(n=keep),
      policies.BestN(get_metric_fn=metric_fn, reverse=best_mode == 'min', n=1,
                     keep_checkpoints_without_metrics=False),
  ])
  return ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, 'checkpoints')),
      options=ocp.CheckpointManagerOptions(
          preservation_policy=preservation,
          # Orbax writes a checkpoint's metrics to disk only when it is given
          # a best_fn (CheckpointManager._track_best, orbax 0.12); without
          # one, a resumed run's policy saw no metric for the earlier
          # checkpoints and dropped the best of them.
          best_fn=metric_fn, best_mode=best_mode,
          create=True,
          cleanup_tmp_directories=True,
          # Orbax's async finalize thread runs a cross-device barrier; run
          # concurrently with the pmapped step, the two collectives can reach
          # the devices in different orders and deadlock (seen with 8 CPU
          # devices). The state is host-side already, so saving inline costs
          # only the write.
          enable_async_checkpointing=False))


def open_for_reading(workdir: str, best_metric: str,
                     best_mode: str) -> ocp.CheckpointManager:
  """A manager that only reads `workdir/checkpoints`, for the tools that look
  at a run (`gan_jax.evaluate`, `gan_jax.generate`), possibly while it trains:
  it creates nothing, removes no temporary directory (a save in progress is
  the training's) and deletes no checkpoint. Raises GanJaxError when the run
  has no checkpoint directory."""
  directory = os.path.abspath(os.path.join(workdir, 'checkpoints'))
  if not os.path.isdir(directory):
    raise GanJaxError(f'no checkpoint in {directory}; train first')
  metric_fn = functools.partial(_metric_or_worst, best_metric, best_mode)
  options = ocp.CheckpointManagerOptions(
      read_only=True, create=False, cleanup_tmp_directories=False,
      best_fn=metric_fn, best_mode=best_mode, enable_async_checkpointing=False)
  # The manager lists the step folders and then reads each one's metadata; a
  # training that saves meanwhile may delete one of them in between.
  for attempt in range(_READ_ATTEMPTS):
    try:
      return ocp.CheckpointManager(directory, options=options)
    except FileNotFoundError:
      if attempt + 1 == _READ_ATTEMPTS:
        raise


def _metric_or_worst(name: str, mode: str, metrics: Dict[str, float]) -> float:
  # A checkpoint saved before the first evaluation has no quality metric yet;
  # it ranks last rather than breaking the policy.
  value = metrics.get(name)
  if value is None or not math.isfinite(value):
    return math.inf if mode == 'min' else -math.inf
  return value


class CheckpointSaveError(GanJaxError):
  """A checkpoint could not be written (disk full, permissions ...)."""


def save(manager: ocp.CheckpointManager, step: int, state: Any,
         metrics: Optional[Dict[str, float]]) -> None:
  """Saves the host-side `state` at `step` (atomically).

  A failed write (disk full, say) leaves only a temporary directory, removed
  at the next start; the committed checkpoints are untouched. A disk without
  room for the state is refused before anything is written (a write that
  fails half-way inside orbax also leaves its threads printing tracebacks).
  Raises CheckpointSaveError.
  """
  needed = sum(np.asarray(x).nbytes for x in jax.tree.leaves(state)) + _METADATA_BYTES
  free = shutil.disk_usage(str(manager.directory)).free
  if free < needed:
    raise CheckpointSaveError(
        f'could not save the checkpoint of step {step} in {manager.directory} '
        f'(No space left on device: it needs about {needed:,} bytes, {free:,} are free); '
        f'the checkpoints of steps {sorted(manager.all_steps()) or "none"} are intact: '
        'free space and rerun the same command to resume')
  try:
    manager.save(step, args=ocp.args.StandardSave(state), metrics=metrics,
                 force=True)
  except (OSError, ValueError) as e:
    # tensorstore reports a full disk or a read-only folder as a ValueError
    # carrying the OS's message (RESOURCE_EXHAUSTED, PERMISSION_DENIED).
    reason = e.strerror if isinstance(e, OSError) else _os_reason(str(e))
    if reason is None:
      raise
    manager.reload()
    raise CheckpointSaveError(
        f'could not save the checkpoint of step {step} in {manager.directory} '
        f'({reason or e}); the checkpoints of steps '
        f'{sorted(manager.all_steps()) or "none"} are intact: free space (or '
        'fix the path) and rerun the same command to resume') from None


# A checkpoint's files beyond its arrays' bytes (orbax's metadata, measured
# at ~20 KB for the small models; an upper bound).
_METADATA_BYTES = 64 * 1024
# What tensorstore's errors say when the file system refused a write.
_OS_REASONS = ('No space left on device', 'Disk quota exceeded', 'Read-only file system',
               'Permission denied')


def _os_reason(message: str):
  """The OS's reason in an error message of a failed write, or None."""
  return next((r for r in _OS_REASONS if r in message), None)


def restore_latest(manager: ocp.CheckpointManager, target: Any):
  """(state, step) from the newest checkpoint that restores; (None, None) if
  the workdir has none.

  A checkpoint that fails to restore is reported in one line and moved to
  `<workdir>/corrupt_checkpoints/<step>` (kept for inspection, out of the way
  of the step being saved again), and the next older one is tried.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  for step in steps:
    try:
      state = _restore_step(manager, step, target)
    except CheckpointMismatchError:
      raise   # another model, not a damaged file: nothing is moved
    except (ValueError, OSError, KeyError) as e:  # orbax's errors for bad files
      quarantine = set_aside(manager, step, 'corrupt_checkpoints')
      logging.warning('checkpoint %d in %s is unreadable (%s: %s); moved it to '
                      '%s and trying the previous one', step, manager.directory,
                      type(e).__name__, str(e).splitlines()[0][:200], quarantine)
      continue
    return state, step
  if steps:
    raise CorruptCheckpointError(
        f'none of the checkpoints {steps} in {manager.directory} could be '
        'restored (moved to corrupt_checkpoints/); start afresh in a new workdir')
  return None, None


class CheckpointMismatchError(GanJaxError):
  """A checkpoint holds another model than the config describes."""


def _restore_step(manager: ocp.CheckpointManager, step: int, target: Any):
  """Checkpoint `step` restored into `target`'s structure. Raises
  CheckpointMismatchError when its tree or an array's shape is not the
  target's (another config or version saved it: not a damaged file, so it
  is not moved aside); orbax's errors for damaged files propagate."""
  where = f'checkpoint {step} in {manager.directory}'
  try:
    state = manager.restore(step, args=ocp.args.StandardRestore(target))
  except ValueError as e:
    if 'tree structures do not match' not in str(e):
      raise
    raise CheckpointMismatchError(
        f'{where} holds another model than the run\'s config describes (its tree of '
        'arrays differs); it was saved by another config or version of gan_jax') from None
  for (path, saved), wanted in zip(jax.tree_util.tree_leaves_with_path(state),
                                   jax.tree.leaves(target)):
    if np.shape(saved) != tuple(wanted.shape):
      raise CheckpointMismatchError(
          f'{where} holds another model than the run\'s config describes: '
          f'{jax.tree_util.keystr(path)} has shape {np.shape(saved)} there and '
          f'{tuple(wanted.shape)} in the config\'s model')
  return state


def best_step(manager: ocp.CheckpointManager, metric: str, mode: str) -> int:
  """The step whose saved metrics rank best by `metric` (ties: the later)."""
  steps = sorted(manager.all_steps())
  ranked = [(_metric_or_worst(metric, mode, manager.metrics(s) or {}), s)
            for s in steps]
  if mode == 'min':
    return min(ranked, key=lambda r: (r[0], -r[1]))[1]
  return max(ranked)[1]


def restore(manager: ocp.CheckpointManager, which: str, target: Any,
            best_metric: str = 'loss_d', best_mode: str = 'min'):
  """(state, step) of checkpoint `which`: 'latest', 'best' (by `best_metric`)
  or a step number.

  A run that trains meanwhile may delete the chosen checkpoint while it is
  read (keeping only its latest few): 'latest' and 'best' are then chosen
  again, a few times, among the checkpoints left.
  """
  for attempt in range(_READ_ATTEMPTS):
    step = _chosen_step(manager, which, best_metric, best_mode)
    try:
      return _restore_step(manager, step, target), step
    except CheckpointMismatchError:
      raise
    except (ValueError, OSError, KeyError) as e:
      directory = os.path.join(str(manager.directory), str(step))
      if not os.path.exists(directory) and attempt + 1 < _READ_ATTEMPTS:
        _reload(manager)   # deleted by the training while read
        continue
      raise CorruptCheckpointError(
          f'checkpoint {step} in {manager.directory} is unreadable '
          f'({type(e).__name__}: {str(e).splitlines()[0][:200]})') from None


# Reads of a checkpoint that a training deletes meanwhile, before giving up.
_READ_ATTEMPTS = 3


def _reload(manager: ocp.CheckpointManager) -> None:
  # Like opening a manager, a reload lists the steps and then reads each one,
  # and a step deleted in between is retried.
  for attempt in range(_READ_ATTEMPTS):
    try:
      return manager.reload()
    except FileNotFoundError:
      if attempt + 1 == _READ_ATTEMPTS:
        raise


def _chosen_step(manager: ocp.CheckpointManager, which: str, best_metric: str,
                 best_mode: str) -> int:
  steps = manager.all_steps()
  if not steps:
    raise GanJaxError(f'no checkpoint in {manager.directory}; train first')
  if which == 'latest':
    return manager.latest_step()
  if which == 'best':
    return best_step(manager, best_metric, best_mode)
  if not which.isdecimal():
    raise GanJaxError(f"--checkpoint must be best, latest or a step, got '{which}'")
  step = int(which)
  if step not in steps:
    raise GanJaxError(f'no checkpoint at step {step} in {manager.directory}; '
                      f'have {sorted(steps)}')
  return step


def set_aside(manager: ocp.CheckpointManager, step: int, folder: str) -> str:
  """Moves checkpoint `step` to `<workdir>/<folder>/<step>` (kept, out of the
  manager's way); returns the new path."""
  source = os.path.join(str(manager.directory), str(step))
  target_dir = os.path.join(os.path.dirname(str(manager.directory)), folder)
  os.makedirs(target_dir, exist_ok=True)
  target = os.path.join(target_dir, str(step))
  suffix = 0
  while os.path.exists(target):
    suffix += 1
    target = os.path.join(target_dir, f'{step}.{suffix}')
  os.rename(source, target)
  manager.reload()
  return target


def rewind(workdir: str, step: int) -> None:
  """Drops what `workdir` holds of the steps after `step`, to which a run
  goes back: their metrics.jsonl records and their evaluation reports
  (eval/<step>[,<setting>=<value>...].json, the loop's and
  `gan_jax.evaluate`'s; the references data.json and init.json are kept).

  A rollback (config.nonfinite='rollback') restores the latest checkpoint,
  so no checkpoint after `step` is left; it then redoes those steps with new
  noise, and until it reaches them again their records and reports would
  describe a discarded trajectory (and a later `gan_jax.evaluate` of the
  new checkpoint would merge into its report).
  """
  metrics_log.drop_records_after(workdir, step)
  eval_reports.drop_reports_after(workdir, step)
