"""Which config keys say what a run computes, and which only how it runs.

A run directory belongs to one config (workdir/ownership.py): resuming it
with a config that computes something else (loss, model, data, batch size,
learning rates, seed ...) would splice two experiments into one set of
checkpoints and curves. The keys below only say how long to run, how often
to log, save or evaluate, or where things are, and may change on resume;
sweeps never treat them as a variant.
"""
import json
from typing import Dict, List

import ml_collections


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
