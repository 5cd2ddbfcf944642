"""Which config keys say what a run computes, and which only how it runs.

A run directory belongs to one config (workdir/ownership.py): resuming it
with a config that computes something else (loss, model, data, batch size,
learning rates, seed ...) would splice two experiments into one set of
checkpoints and curves. The keys below only say how long to run, how often
to log, save or evaluate, or where things are, and may change on resume;
sweeps never treat them as a variant.
"""
import json
from typing import Dict, List, Mapping

import ml_collections

from gan_jax.config import defaults


# How a run is executed, not what it computes: never a variant of a sweep.
EXECUTION_KEYS = (
    'log_every_steps', 'checkpoint_every_steps', 'sample_every_steps',
    'keep_checkpoints', 'num_devices', 'distributed', 'overwrite',
    'data.data_dir', 'data.download',
    # Same mathematics, another kernel formulation (tested equal).
    'model.conv_impl', 'steps_per_dispatch', 'xla_cpu_tuning',
)


# What a run may change when it resumes (a prefix ending in '.' covers a
# subtree): the execution, the budget, and what is measured along the way.
RESUMABLE_KEYS = EXECUTION_KEYS + (
    'num_train_steps', 'eval_every_steps', 'eval.', 'best_metric', 'best_mode',
    'nonfinite', 'max_rollbacks',
)


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


def unflatten(flat: Mapping[str, object]) -> dict:
  """The nested dict of {'a.b.c': value} (the inverse of `flatten`)."""
  tree = {}
  for key, value in flat.items():
    *parents, leaf = key.split('.')
    node = tree
    for parent in parents:
      node = node.setdefault(parent, {})
    node[leaf] = value
  return tree


def _ancestors(key: str) -> set:
  """The subtrees holding a dotted key: 'a.b.c' -> {'a', 'a.b'}."""
  parts = key.split('.')
  return {'.'.join(parts[:i]) for i in range(1, len(parts))}


def complete(saved: Mapping) -> dict:
  """A run's saved config (config.json's nested dict) with every key of
  gan_jax/config/defaults.py that it lacks, at its default: the value the
  code computed with before the key existed. Keys the defaults no longer
  have are kept."""
  given = flatten(saved)
  subtrees = set().union(*map(_ancestors, given))
  # A key the run saved as a subtree (data.mog of a mixture) replaces the
  # defaults' leaf (None), and a leaf the defaults' subtree.
  kept = {key: value for key, value in flatten(_as_plain(defaults.get_config())).items()
          if key not in subtrees and not _ancestors(key) & given.keys()}
  return unflatten({**kept, **given})


def config_differences(saved: dict, config: ml_collections.ConfigDict) -> List[str]:
  """'key: old -> new' for each key that differs and may not change on resume."""
  old, new = flatten(complete(saved)), flatten(_as_plain(config))
  diffs = []
  for key in sorted(set(old) | set(new)):
    if any(key == k or (k.endswith('.') and key.startswith(k))
           for k in RESUMABLE_KEYS):
      continue
    if old.get(key, '<unset>') != new.get(key, '<unset>'):
      diffs.append(f'{key}: {old.get(key, "<unset>")!r} -> {new.get(key, "<unset>")!r}')
  return diffs
