"""What an evaluation measures, by the kind of data set: the metric groups,
the quantity that picks the best checkpoint, the protocol's sample counts,
and the settings that make two measurements of one checkpoint different.
No JAX here: the report's command line reads it too.
"""
from typing import Optional, Sequence, Tuple

import ml_collections

from gan_jax.data import names
from gan_jax.errors import ConfigError

# The image sets with an evaluator classifier (evaluation/classifier.py).
CLASSIFIER_DATASETS = ('mnist', 'fashion_mnist')

# What makes two `gan_jax.evaluate` reports of one checkpoint different
# measurements: the report's fields of these names, and the settings that
# differ from the run's own evaluation name its file (eval/<step>,params=raw.json).
EVAL_SETTINGS = ('params', 'bn_stats', 'num_samples', 'seed')


# The values of two of them: which of G's parameters are scored (their moving
# average or the trained ones), and the batch-norm statistics G samples with.
GENERATOR_PARAMS = ('ema', 'raw')
BN_STATS = ('batch', 'running')

# Metric groups per kind of data set; 'auto' picks the cheap ones that are
# worth running every few thousand steps, 'all' everything.
_METRICS = {
    'classifier': ('fid', 'kid', 'is', 'pr', 'dc', 'parzen'),
    'stacked': ('modes',),
    'mog': ('modes',),
}
_AUTO = {'classifier': ('fid', 'kid', 'is'), 'stacked': ('modes',), 'mog': ('modes',)}
# The groups only a class-conditional G has; 'auto' and 'all' add them.
_CONDITIONAL_METRICS = {'classifier': ('cond', 'intra_fid'), 'stacked': ('cond',),
                        'mog': ('cond',)}
# The quantity that picks the "best" checkpoint per kind, and its direction.
BEST_METRIC = {'classifier': ('fid', 'min'), 'stacked': ('modes_covered', 'max'),
               'mog': ('mode_score', 'max')}
# The fewest generated samples each metric group can score: a covariance (FID)
# and KID's unbiased MMD need 2, the IS-style score 10 splits, precision/
# recall k = 3 and density/coverage k = 5 neighbours besides each point.
MIN_SAMPLES = {'fid': 2, 'kid': 2, 'is': 10, 'pr': 4, 'dc': 6, 'parzen': 1, 'modes': 1,
               'cond': 1, 'intra_fid': 2}
# Samples per evaluation when config.eval.num_samples is 0 (the protocols').
_DEFAULT_SAMPLES = {'classifier': 10_000, 'stacked': 26_000, 'mog': 2_500}
def protocol_num_samples(config: ml_collections.ConfigDict) -> int:
  """Samples per evaluation of a run: config.eval.num_samples, or the
  protocol's for its data when that is 0."""
  return config.eval.num_samples or _DEFAULT_SAMPLES.get(
      data_kind(config.data.dataset), 0)


def data_kind(dataset: str) -> Optional[str]:
  """'classifier', 'stacked', 'mog', or None for data sets with no evaluator."""
  if dataset in CLASSIFIER_DATASETS:
    return 'classifier'
  if dataset == names.STACKED_MNIST:
    return 'stacked'
  if dataset in names.MIXTURES:
    return 'mog'
  return None


def resolve_metrics(dataset: str, requested: str,
                    conditional: bool = False) -> Tuple[str, ...]:
  """The metric groups named by `requested` ('auto', 'all', '' or 'fid,kid,...');
  `conditional`: of a class-conditional G, which also has 'cond' (and
  'intra_fid' for classifier-scored images)."""
  kind = data_kind(dataset)
  requested = (requested or '').strip()
  if not requested or requested == 'none':
    return ()
  if kind is None:
    raise ConfigError(
        f"no evaluator for config.data.dataset '{dataset}' (have: "
        f"{', '.join(CLASSIFIER_DATASETS)}, stacked_mnist, "
        f"{', '.join(names.MIXTURES)}); set --config.eval.metrics=none")
  extra = _CONDITIONAL_METRICS[kind] if conditional else ()
  if requested == 'auto':
    return _AUTO[kind] + extra
  if requested == 'all':
    return _METRICS[kind] + extra
  chosen = tuple(n.strip() for n in requested.split(',') if n.strip())
  only_conditional = [n for n in chosen if not conditional and
                      n in _CONDITIONAL_METRICS[kind]]
  if only_conditional:
    raise ConfigError(f"eval metric(s) {', '.join(only_conditional)} score a "
                      'class-conditional G; set config.model.num_classes or leave '
                      'them out')
  unknown = [n for n in chosen if n not in _METRICS[kind] + extra]
  if unknown:
    raise ConfigError(f"unknown eval metric(s) {', '.join(unknown)} for "
                      f"'{dataset}'; valid: {', '.join(_METRICS[kind] + extra)}, "
                      'auto, all, none')
  return chosen


def is_conditional(config: ml_collections.ConfigDict) -> bool:
  """Whether the run's G is class-conditional (config.model.num_classes > 0)."""
  return bool(config.model.num_classes)


def check_num_samples(metrics: Sequence[str], num_samples: int,
                      key: str = 'config.eval.num_samples',
                      num_classes: int = 0) -> None:
  """Raises ConfigError when `num_samples` generated samples are too few for
  one of `metrics` (metric groups); `key` names the setting in the message.
  A class-conditional G's samples split over its `num_classes` classes:
  'cond' asks for each class once, 'intra_fid' for 2 samples of each."""
  for name in metrics:
    needed = MIN_SAMPLES[name] * (num_classes if name in ('cond', 'intra_fid') else 1)
    if num_samples < needed:
      raise ConfigError(f'{key}={num_samples} is too few samples for {name} (it needs '
                        f'at least {needed}); raise it, or leave {name} '
                        'out of the metrics')


def best_metric(config: ml_collections.ConfigDict) -> Tuple[str, str]:
  """(metric, 'min'|'max') that picks the best checkpoint.

  `config.best_metric='auto'` is the data set's quality metric when training
  evaluates, else the reference code's proxy, the lowest D loss.
  """
  if config.best_metric != 'auto':
    return config.best_metric, config.best_mode
  kind = data_kind(config.data.dataset)
  if config.eval_every_steps and kind and resolve_metrics(
      config.data.dataset, config.eval.metrics, is_conditional(config)):
    return BEST_METRIC[kind]
  return 'loss_d', 'min'
