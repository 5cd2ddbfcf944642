"""`<workdir>/config.json`: a run directory belongs to one config. Re-running
the same command resumes; a config that computes something else is refused
(config/keys.py says which keys may change), or, with config.overwrite, the
old run is moved aside, never deleted."""
import json
import os
import time
from typing import Dict, Optional, Sequence

from absl import logging
import ml_collections

from gan_jax.config import keys as config_keys
from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.workdir import atomic
from gan_jax.workdir import checkpoints
from gan_jax.workdir import lock


CONFIG_FILE = 'config.json'


class WorkdirConfigMismatch(GanJaxError):
  """The workdir holds a run of a different config."""


def saved_config(workdir: str) -> Optional[dict]:
  """The flattened config.json of the run in `workdir`, or None (no run, or
  unreadable: `claim` reports that)."""
  try:
    with open(os.path.join(workdir, CONFIG_FILE)) as f:
      return config_keys.flatten(json.load(f))
  except (OSError, ValueError):
    return None


def claim(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Makes `workdir` the home of a run of `config`, written by this process
  alone (workdir/lock.py: until `lock.release` or the process's end);
  writes config.json.

  A workdir holding a run of another config is refused with the keys that
  differ, or, with `config.overwrite`, that run is moved to
  `<workdir>.replaced-<time>` (never deleted) and the workdir starts afresh.
  A workdir another process writes is refused naming it
  (lock.DirectoryInUseError).
  """
  lock.acquire(workdir)
  try:
    _claim(workdir, config)
  except BaseException:
    lock.release(workdir)
    raise


def _claim(workdir: str, config: ml_collections.ConfigDict) -> None:
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    try:
      with open(path) as f:
        saved = json.load(f)
    except ValueError as e:  # written atomically: changed outside gan_jax
      if not config.overwrite:
        raise WorkdirConfigMismatch(
            f'{path} is unreadable ({e}); restore it, use a new --workdir, or '
            '--config.overwrite=True to move that run aside and start afresh') from None
      saved = None
    diffs = (config_keys.config_differences(saved, config) if saved is not None
             else ['config.json unreadable'])
    if diffs and not config.overwrite:
      shown = '; '.join(diffs[:4]) + (f'; and {len(diffs) - 4} more' if len(diffs) > 4 else '')
      raise WorkdirConfigMismatch(
          f'{workdir} holds a run of a different config ({shown}); use a new '
          '--workdir, or --config.overwrite=True to move that run aside and '
          'start afresh')
    if not diffs:
      _check_budget(config, workdir)   # the run resumes
    if diffs:
      aside = f'{workdir.rstrip(os.sep)}.replaced-{time.strftime("%Y%m%d-%H%M%S")}'
      lock.release(workdir)   # the lock file moves aside with the old run
      os.rename(workdir, aside)
      lock.acquire(workdir)
      logging.warning('config.overwrite: moved the previous run (%s) to %s',
                      '; '.join(diffs[:4]), aside)
  os.makedirs(workdir, exist_ok=True)
  atomic.write_text(path, config.to_json_best_effort(indent=2, sort_keys=True))


def _check_budget(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses a budget below the run's latest checkpoint (before config.json
  is rewritten): resuming cannot go back, and the run would be tabulated
  at the smaller budget with a later step's numbers. Raises ConfigError."""
  steps = checkpoints.committed_steps(workdir)
  if steps and steps[-1] > config.num_train_steps:
    raise ConfigError(
        f'config.num_train_steps={config.num_train_steps} is below the latest checkpoint '
        f'of {workdir} (step {steps[-1]}); set it to {steps[-1]} or more to go on, or read '
        f'the run at an earlier step with gan_jax.report --at_step or gan_jax.evaluate '
        '--checkpoint')


def for_seeds(template: str, seeds: Sequence[str]) -> Dict[int, str]:
  """{seed: workdir} for `--seeds`: `template` with `{seed}` filled in."""
  try:
    numbers = [int(s) for s in seeds]
  except ValueError:
    raise ConfigError(f'--seeds must be integers, got {",".join(seeds)}') from None
  if len(set(numbers)) != len(numbers):
    raise ConfigError(f'--seeds repeats a seed: {",".join(seeds)}')
  if '{seed}' not in template:
    raise ConfigError("with --seeds, --workdir must contain '{seed}', e.g. "
                      "--workdir='runs/ring/seed={seed}'")
  return {s: template.replace('{seed}', str(s)) for s in numbers}
