"""A run directory belongs to one config: resuming it with another is refused.

Re-running the same command resumes; changing what the run *computes* (loss,
model, data, batch size, learning rates, seed ...) in the same workdir would
silently splice two experiments into one set of checkpoints and curves. The
keys below only say how long to run, how often to log, save or evaluate, or
where things are, and may change on resume.
"""
import json
import os
import time
from typing import Dict, List, Optional, Sequence

from absl import logging
import ml_collections

from gan_jax.errors import ConfigError, GanJaxError

CONFIG_FILE = 'config.json'
# Written when a run stops on a non-finite value: in an ablation, divergence
# is the run's result (a rerun of the same config diverges the same way).
DIVERGED_FILE = 'diverged.json'

# What makes two `gan_jax.evaluate` reports of one checkpoint different
# measurements: the report's fields of these names, and the settings that
# differ from the run's own evaluation name its file (eval/<step>,params=raw.json).
EVAL_SETTINGS = ('params', 'bn_stats', 'num_samples', 'seed')

# The values of two of them: which of G's parameters are scored (their moving
# average or the trained ones), and the batch-norm statistics G samples with.
# Spelled here, in a module without JAX, for the report's command line too.
GENERATOR_PARAMS = ('ema', 'raw')
BN_STATS = ('batch', 'running')

# How a run is executed, not what it computes: never a variant of a sweep.
EXECUTION_KEYS = (
    'log_every_steps', 'checkpoint_every_steps', 'sample_every_steps',
    'keep_checkpoints', 'num_devices', 'distributed', 'overwrite',
    'data.data_dir', 'data.download',
    # Same mathematics, another kernel formulation (tested equal).
    'model.conv_impl', 'steps_per_dispatch', 'xla_cpu_tuning',
)
# Keys added after runs were saved without them: a saved config that lacks
# one has the value the code used before the key existed (compared only when
# the new config has the key: the mixtures' model keys are theirs alone).
ADDED_KEYS = {
    'model.compute_dtype': 'float32',
    'model.pack': 1, 'model.latent_distribution': 'normal',
    'update_order': 'alternating', 'n_generator': 1, 'shared_fake_batch': False,
    'model.bn_momentum': 0.9, 'model.bn_epsilon': 1e-5,
    'model.d_maxout_pieces': 0, 'model.init_std': 0.0,
    'model.num_classes': 0, 'model.g_conditioning': 'cbn',
    'model.d_conditioning': 'projection', 'loss.acgan_weight': 1.0,
    'loss.real_label': 1.0, 'diffaugment': '',
    'instance_noise.std': 0.0, 'instance_noise.anneal_steps': 0,
    'ema_warmup': False, 'model.g_output_bias': 'zeros',
    'model.d_width_ratio': 0.25, 'model.g_width_ratio': 1.0,
}
for _player in ('optimizer_g', 'optimizer_d'):
  ADDED_KEYS.update({
      f'{_player}.schedule': 'constant', f'{_player}.decay_rate': 1.0,
      f'{_player}.decay_steps': 1, f'{_player}.end_learning_rate': 0.0,
      f'{_player}.b1_final': None, f'{_player}.b1_ramp_steps': 0})
# What a run may change when it resumes (a prefix ending in '.' covers a
# subtree): the execution, the budget, and what is measured along the way.
RESUMABLE_KEYS = EXECUTION_KEYS + (
    'num_train_steps', 'eval_every_steps', 'eval.', 'best_metric', 'best_mode',
    'nonfinite', 'max_rollbacks',
)


class WorkdirConfigMismatch(GanJaxError):
  """The workdir holds a run of a different config."""


def flatten(tree, prefix: str = '') -> Dict[str, object]:
  """A nested dict as {'a.b.c': value}, the dotted keys of config overrides."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def _as_plain(config: ml_collections.ConfigDict) -> dict:
  # Through JSON, so tuples/lists and placeholders compare as they are saved.
  return json.loads(config.to_json_best_effort(sort_keys=True))


def fill_added_keys(flat: Dict[str, object], present) -> None:
  """Gives the flat config of a run saved before a key of ADDED_KEYS existed
  that key's old value, for each such key in `present` (the keys of the
  config it is compared with)."""
  for key, value in ADDED_KEYS.items():
    if key in present and key not in flat:
      flat[key] = value


def config_differences(saved: dict, config: ml_collections.ConfigDict) -> List[str]:
  """'key: old -> new' for each key that differs and may not change on resume."""
  old, new = flatten(saved), flatten(_as_plain(config))
  fill_added_keys(old, new)
  diffs = []
  for key in sorted(set(old) | set(new)):
    if any(key == k or (k.endswith('.') and key.startswith(k))
           for k in RESUMABLE_KEYS):
      continue
    if old.get(key, '<unset>') != new.get(key, '<unset>'):
      diffs.append(f'{key}: {old.get(key, "<unset>")!r} -> {new.get(key, "<unset>")!r}')
  return diffs


def saved_config(workdir: str) -> Optional[dict]:
  """The flattened config.json of the run in `workdir`, or None (no run, or
  unreadable: `claim` reports that)."""
  try:
    with open(os.path.join(workdir, CONFIG_FILE)) as f:
      return flatten(json.load(f))
  except (OSError, ValueError):
    return None


def claim(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Makes `workdir` the home of a run of `config`; writes config.json.

  A workdir holding a run of another config is refused with the keys that
  differ, or, with `config.overwrite`, that run is moved to
  `<workdir>.replaced-<time>` (never deleted) and the workdir starts afresh.
  """
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
    diffs = (config_differences(saved, config) if saved is not None
             else ['config.json unreadable'])
    if diffs and not config.overwrite:
      shown = '; '.join(diffs[:4]) + (f'; and {len(diffs) - 4} more' if len(diffs) > 4 else '')
      raise WorkdirConfigMismatch(
          f'{workdir} holds a run of a different config ({shown}); use a new '
          '--workdir, or --config.overwrite=True to move that run aside and '
          'start afresh')
    if diffs:
      aside = f'{workdir.rstrip(os.sep)}.replaced-{time.strftime("%Y%m%d-%H%M%S")}'
      os.rename(workdir, aside)
      logging.warning('config.overwrite: moved the previous run (%s) to %s',
                      '; '.join(diffs[:4]), aside)
  os.makedirs(workdir, exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  os.replace(tmp, path)


def record_divergence(workdir: str, step: int, message: str) -> None:
  """Writes `<workdir>/diverged.json`: {"step": the first step with a
  non-finite value, "message": what was non-finite}. Atomic."""
  path = os.path.join(workdir, DIVERGED_FILE)
  with open(path + '.tmp', 'w') as f:
    json.dump({'step': int(step), 'message': message}, f)
  os.replace(path + '.tmp', path)


def read_divergence(workdir: str) -> Optional[dict]:
  """The record `record_divergence` wrote in `workdir`, or None."""
  try:
    with open(os.path.join(workdir, DIVERGED_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def clear_divergence(workdir: str) -> None:
  """Removes the record (a run trains again: its outcome is open)."""
  try:
    os.remove(os.path.join(workdir, DIVERGED_FILE))
  except FileNotFoundError:
    pass


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
