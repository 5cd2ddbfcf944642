"""Every check of a training config, in one pass, before anything is read or
written: names (objective, penalty, models, optimisers, metrics, modes) and
the range of every numeric key. Each failure is one line naming the key, the
value and what is allowed (`ConfigError`).

What needs the data (a split, a model whose output does not match the
examples) is checked when the data loads, still before the workdir is
touched.
"""
import math
from typing import Optional

import ml_collections

from gan_jax import models
from gan_jax.game import augment
from gan_jax.game import losses
from gan_jax.game import optimizers
from gan_jax.game import state
from gan_jax.models import layers
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.data import datasets
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.evaluation.inception import weights as inception_weights

_INF = math.inf
# key: (low, high, low_inclusive, high_inclusive, integer), for the keys of
# gan_jax/config/defaults.py; a key a config does not have is skipped. Intervals may
# be 0: log and checkpoint only at the last step (and, checkpoints, on a
# stop), samples and evaluations off.
RANGES = {
    'seed': (0, _INF, True, False, True),
    'batch_size': (1, _INF, True, False, True),
    'g_batch_size': (0, _INF, True, False, True),
    'ema_start_step': (0, _INF, True, False, True),
    'num_train_steps': (0, _INF, True, False, True),
    'n_critic': (1, _INF, True, False, True),
    'n_generator': (1, _INF, True, False, True),
    'ema_decay': (0.0, 1.0, True, False, False),
    'log_every_steps': (0, _INF, True, False, True),
    'checkpoint_every_steps': (0, _INF, True, False, True),
    'sample_every_steps': (0, _INF, True, False, True),
    'eval_every_steps': (0, _INF, True, False, True),
    'keep_checkpoints': (1, _INF, True, False, True),
    'max_rollbacks': (0, _INF, True, False, True),
    'num_devices': (0, _INF, True, False, True),
    'steps_per_dispatch': (1, _INF, True, False, True),
    'eval.num_samples': (0, _INF, True, False, True),
    'data.image_size': (0, _INF, True, False, True),
    'data.crop': (0, _INF, True, False, True),
    'data.num_examples': (0, _INF, True, False, True),
    'data.seed': (0, _INF, True, False, True),
    'model.latent_dim': (1, _INF, True, False, True),
    'model.pack': (1, _INF, True, False, True),
    'model.g_width_ratio': (0.0, _INF, False, False, False),
    'model.d_width_ratio': (0.0, _INF, False, False, False),
    'model.num_classes': (0, _INF, True, False, True),
    'model.attention_resolution': (0, _INF, True, False, True),
    'model.g_shared_dim': (1, _INF, True, False, True),
    'loss.acgan_weight': (0.0, _INF, True, False, False),
    'model.bn_momentum': (0.0, 1.0, True, False, False),
    'model.bn_epsilon': (0.0, _INF, False, False, False),
    'model.d_maxout_pieces': (0, _INF, True, False, True),
    'model.init_std': (0.0, _INF, True, False, False),
    'model.dropout_rate': (0.0, 1.0, True, False, False),
    'loss.penalty_weight': (0.0, _INF, True, False, False),
    'loss.weight_clip': (0.0, _INF, True, False, False),  # 0: no clipping
    'loss.real_label': (0.0, 1.0, False, True, False),
    'instance_noise.std': (0.0, _INF, True, False, False),
    'instance_noise.anneal_steps': (0, _INF, True, False, True),
}
# Each player's optimiser (b1: Adam's beta1 or SGD's momentum; b2: Adam's
# beta2 or RMSProp's decay).
for _player in ('optimizer_g', 'optimizer_d'):
  RANGES.update({
      f'{_player}.learning_rate': (0.0, _INF, False, False, False),
      f'{_player}.b1': (0.0, 1.0, True, False, False),
      f'{_player}.b2': (0.0, 1.0, True, False, False),
      f'{_player}.eps': (0.0, _INF, True, False, False),
      f'{_player}.decay_rate': (0.0, 1.0, False, True, False),
      f'{_player}.decay_steps': (1, _INF, True, False, True),
      f'{_player}.end_learning_rate': (0.0, _INF, True, False, False),
      f'{_player}.b1_final': (0.0, 1.0, True, False, False),
      f'{_player}.b1_ramp_steps': (0, _INF, True, False, True),
  })
_CHOICES = {
    'nonfinite': ('stop', 'rollback'),
    'update_order': ('alternating', 'simultaneous'),
    'model.latent_distribution': layers.LATENT_DISTRIBUTIONS,
    'model.g_output_bias': ('zeros', 'data_marginals'),
    'best_mode': ('min', 'max'),
    'eval.params': protocol_lib.GENERATOR_PARAMS,
    'eval.also_params': ('',) + protocol_lib.GENERATOR_PARAMS,
    'eval.bn_stats': protocol_lib.BN_STATS,
    'eval.classifier': classifier_lib.SOURCES,
    'eval.feature_network': protocol_lib.FEATURE_NETWORKS,
    'model.init': layers.INITS,
    'model.d_pooling': ('sum', 'mean'),
    'optimizer_g.schedule': optimizers.SCHEDULES,
    'optimizer_d.schedule': optimizers.SCHEDULES,
}


def _get(config: ml_collections.ConfigDict, key: str):
  node = config
  for part in key.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return None
    node = node[part]
  return node


def _range_text(low, high, low_in, high_in) -> str:
  if high == _INF:
    return f"{'>=' if low_in else '>'} {low}"
  return f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def check_range(key: str, value, low, high, low_in=True, high_in=False,
                integer=False) -> None:
  """Raises ConfigError unless `value` (of config key `key`) lies in the
  interval; None (an unset optional key) passes."""
  if value is None:
    return
  number = (int,) if integer else (int, float)
  if not isinstance(value, number) or isinstance(value, bool):
    raise ConfigError(f"config.{key} must be {'an integer' if integer else 'a number'}, "
                      f'got {value!r}')
  if not (math.isfinite(value) and (low <= value if low_in else low < value) and
          (value <= high if high_in else value < high)):
    raise ConfigError(f'config.{key} must be {_range_text(low, high, low_in, high_in)}, '
                      f'got {value!r}')


# Each check takes (config, num_devices: devices x processes or None) and
# raises ConfigError; `validate` runs them in this order.


def _check_ranges(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """Every numeric key of RANGES in its interval."""
  for key, bounds in RANGES.items():
    check_range(key, _get(config, key), *bounds)


def _check_choices(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """Every key of _CHOICES one of its values."""
  for key, choices in _CHOICES.items():
    value = _get(config, key)
    if value is not None and value not in choices:
      quoted = [f"'{c}'" for c in choices]
      allowed = (' or '.join(quoted) if len(quoted) == 2
                 else 'one of ' + ', '.join(quoted))
      raise ConfigError(f"config.{key} must be {allowed}, got '{value}'")


def _check_names(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """The models, their dtype and conditioning, the objective and penalty,
  the optimisers and the data set exist by the names given."""
  for role in ('generator', 'discriminator'):
    models.check_name(config.model[role], role)
  models.compute_dtype(config.model)
  models.check_conditioning(config.model)
  state.penalty_name(config.loss)  # the objective's name and the penalty's
  for name in ('optimizer_g', 'optimizer_d'):
    optimizers.check_name(config[name].name, name)
  datasets.check_name(config.data.dataset)


def _check_discriminator_view(config: ml_collections.ConfigDict,
                              num_devices: Optional[int]) -> None:
  """One-sided label smoothing needs an objective with a soft real target;
  DiffAugment needs a known policy and image data."""
  losses.get_objective(config.loss.name, config.loss.real_label)
  policy = config.diffaugment
  if augment.parse_policy(policy) and config.data.dataset in datasets.MIXTURES:
    raise ConfigError(f"config.diffaugment='{policy}' transforms images, but "
                      f"'{config.data.dataset}' examples are 2-D points; set "
                      "it to '' (config.instance_noise works on any data)")


def _check_evaluation(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """With evaluations on: metrics the data set has, and enough samples for them."""
  if config.eval_every_steps:
    metrics = protocol_lib.resolve_metrics(config.data.dataset, config.eval.metrics,
                                           protocol_lib.is_conditional(config),
                                           config.eval.feature_network)
    protocol_lib.check_num_samples(metrics, protocol_lib.protocol_num_samples(config),
                                   num_classes=models.num_classes(config.model))
    if metrics and protocol_lib.kind_of(config) == 'inception':
      inception_weights.check_available(config.eval.inception_weights,
                                        config.eval.classifier_dir)


def _check_batch_on_devices(config: ml_collections.ConfigDict,
                            num_devices: Optional[int]) -> None:
  """The batch splits evenly over the devices, and each device's share into
  D's packs."""
  if num_devices and config.batch_size % num_devices:
    raise ConfigError(
        f'config.batch_size={config.batch_size} must be a positive multiple of '
        f'the device count ({num_devices} = devices x processes); use e.g. '
        f'--config.batch_size={max(1, config.batch_size // num_devices) * num_devices}')
  pack = config.model.pack
  local_batch = config.batch_size // (num_devices or 1)
  if local_batch % pack:
    raise ConfigError(
        f'config.model.pack={pack} must divide the batch per device '
        f'({local_batch}): D judges packs of consecutive examples; set '
        f'batch_size to a multiple of pack x devices')


def _check_generator_batch(config: ml_collections.ConfigDict,
                           num_devices: Optional[int]) -> None:
  """A G batch of its own: a whole number of fakes per device (and of packs),
  and nothing in G's move that pairs its fakes with the real batch."""
  size = config.g_batch_size
  if not size or size == config.batch_size:
    return
  devices = num_devices or 1
  local = size // devices
  if size % devices:
    raise ConfigError(f'config.g_batch_size={size} must be a multiple of the device '
                      f'count ({devices}); use e.g. --config.g_batch_size='
                      f'{max(1, local) * devices}')
  if local % config.model.pack:
    raise ConfigError(f'config.g_batch_size={size}: the fakes per device ({local}) '
                      f'must be a multiple of config.model.pack={config.model.pack}')
  pairs = []
  if losses.OBJECTIVES[config.loss.name].generator_uses_real:
    pairs.append(f"config.loss.name='{config.loss.name}' (its G loss reads D's real scores)")
  if models.num_classes(config.model):
    pairs.append('config.model.num_classes (G generates for the real batch\'s labels)')
  if config.shared_fake_batch:
    pairs.append('config.shared_fake_batch')
  if pairs:
    raise ConfigError(f'config.g_batch_size={size} differs from batch_size='
                      f'{config.batch_size}, which {pairs[0]} needs; set '
                      'g_batch_size=0')


def _check_crop(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """Crops are of the TFDS image sets, which are read through them."""
  if config.data.crop and config.data.dataset in datasets.SYNTHETIC:
    raise ConfigError(f'config.data.crop={config.data.crop} crops TFDS image sets as '
                      f"they are read, not '{config.data.dataset}'; set it to 0")


def _check_output_bias(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """g_output_bias='data_marginals' needs a G with a sigmoid output."""
  if models.g_init_reads_data(config.model) and config.model.generator != 'maxout_mlp':
    raise ConfigError(
        "config.model.g_output_bias='data_marginals' sets the bias of a sigmoid "
        f"output, which only maxout_mlp's G has (not '{config.model.generator}'); "
        "set it to 'zeros'")


def _check_ema(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """also_params names the other G, and what reads the EMA has one."""
  also = config.eval.also_params
  if also and also == config.eval.params:
    raise ConfigError(f"config.eval.also_params='{also}' repeats config.eval.params; "
                      f"set it to '{'raw' if also == 'ema' else 'ema'}' or ''")
  if also and not config.ema_decay:
    raise ConfigError('config.eval.also_params scores the EMA of G beside raw G, and '
                      "the EMA is off (ema_decay=0); set config.ema_decay, e.g. 0.999, "
                      "or config.eval.also_params=''")
  if config.ema_start_step and not config.ema_decay:
    raise ConfigError('config.ema_start_step starts the EMA of G, which is off '
                      '(ema_decay=0); set config.ema_decay, e.g. 0.9999')
  if config.ema_warmup and not config.ema_decay:
    raise ConfigError('config.ema_warmup warms up the EMA of G, which is off '
                      '(ema_decay=0); set config.ema_decay, e.g. 0.999')


def _check_update_order(config: ml_collections.ConfigDict,
                        num_devices: Optional[int]) -> None:
  """A simultaneous step makes one move of each player; only it has a fake
  batch to share."""
  if config.update_order == 'simultaneous':
    for key in ('n_critic', 'n_generator'):
      if config[key] != 1:
        raise ConfigError(f'config.update_order=simultaneous makes one move of '
                          f'each player per step; set config.{key}=1 (got {config[key]})')
  if config.shared_fake_batch and config.update_order != 'simultaneous':
    raise ConfigError('config.shared_fake_batch=True makes G score the fake batch of '
                      "the step's D move, which only a simultaneous step has; set "
                      "config.update_order='simultaneous' or config.shared_fake_batch=False")


def _check_schedules(config: ml_collections.ConfigDict, num_devices: Optional[int]) -> None:
  """A cosine or linear schedule decays over at least two updates."""
  for name in ('optimizer_g', 'optimizer_d'):
    opt = config[name]
    if opt.schedule in ('cosine', 'linear') and opt.decay_steps < 2:
      raise ConfigError(f'config.{name}.schedule={opt.schedule} decays over decay_steps '
                        f'updates, got {opt.decay_steps}; set '
                        f'config.{name}.decay_steps, e.g. to num_train_steps '
                        f'({config.num_train_steps})')


def _check_dispatch_intervals(config: ml_collections.ConfigDict,
                              num_devices: Optional[int]) -> None:
  """Logging, samples, checkpoints and evaluations fall where a dispatch ends."""
  k = config.steps_per_dispatch
  for name in ('log_every_steps', 'sample_every_steps', 'checkpoint_every_steps',
               'eval_every_steps'):
    if config[name] % k:
      raise ConfigError(
          f'config.{name}={config[name]} must be a multiple of '
          f'config.steps_per_dispatch={k}, where one dispatch ends')


CHECKS = (_check_ranges, _check_choices, _check_names, _check_discriminator_view,
          _check_evaluation, _check_batch_on_devices, _check_generator_batch, _check_crop,
          _check_output_bias, _check_ema,
          _check_update_order, _check_schedules, _check_dispatch_intervals)


def validate(config: ml_collections.ConfigDict, num_devices: Optional[int] = None) -> None:
  """Runs every check of CHECKS on a training config; `num_devices` (devices
  x processes), when given, must divide the batch. Raises ConfigError with
  the first failure."""
  for check in CHECKS:
    check(config, num_devices)
