"""What an evaluation measures, by the kind of data set: the metric groups,
the quantity that picks the best checkpoint, the protocol's sample counts,
and the settings that make two measurements of one checkpoint different.
No JAX here: the report's command line reads it too.
"""
from typing import Sequence, Tuple

import ml_collections

from gan_jax.data import names
from gan_jax.errors import ConfigError

# The image sets with an evaluator classifier (evaluation/classifier.py);
# every other TFDS image set is scored on the FID Inception's features
# (evaluation/inception/), as papers on natural images report.
CLASSIFIER_DATASETS = ('mnist', 'fashion_mnist')
# config.eval.feature_network: the network whose features FID, KID, IS ...
# read; 'auto' is the classifier where there is one, else the Inception.
FEATURE_NETWORKS = ('auto', 'classifier', 'inception')

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
    'inception': ('fid', 'kid', 'is', 'pr', 'dc'),
    'stacked': ('modes',),
    'mog': ('modes',),
}
_AUTO = {'classifier': ('fid', 'kid', 'is'), 'inception': ('fid', 'kid', 'is'),
         'stacked': ('modes',), 'mog': ('modes',)}
# The groups only a class-conditional G has; 'auto' and 'all' add them.
# The Inception's 1008 ImageNet classes are not the data set's, so its
# conditional G is scored by intra-FID alone.
_CONDITIONAL_METRICS = {'classifier': ('cond', 'intra_fid'), 'inception': ('intra_fid',),
                        'stacked': ('cond',), 'mog': ('cond',)}
# The quantity that picks the "best" checkpoint per kind, and its direction.
BEST_METRIC = {'classifier': ('fid', 'min'), 'inception': ('fid', 'min'), 'stacked': ('modes_covered', 'max'),
               'mog': ('mode_score', 'max')}
# The fewest generated samples each metric group can score: a covariance (FID)
# and KID's unbiased MMD need 2, the IS-style score 10 splits, precision/
# recall k = 3 and density/coverage k = 5 neighbours besides each point.
MIN_SAMPLES = {'fid': 2, 'kid': 2, 'is': 10, 'pr': 4, 'dc': 6, 'parzen': 1, 'modes': 1,
               'cond': 1, 'intra_fid': 2}
# Samples per evaluation when config.eval.num_samples is 0 (the protocols'):
# the Inception protocol of the papers scores 50,000 (Heusel et al. 2017).
_DEFAULT_SAMPLES = {'classifier': 10_000, 'inception': 50_000, 'stacked': 26_000,
                    'mog': 2_500}
# The real split the image evaluators compare with when
# config.eval.reference_split is 'auto': the papers' Inception statistics
# are of the training split (fid_stats_cifar10_train.npz); the classifier
# protocol holds its training split out of the classifier's test.
_REFERENCE_SPLIT = {'classifier': 'test', 'inception': 'train'}


def protocol_num_samples(config: ml_collections.ConfigDict) -> int:
  """Samples per evaluation of a run: config.eval.num_samples, or the
  protocol's for its data when that is 0."""
  return config.eval.num_samples or _DEFAULT_SAMPLES[kind_of(config)]


def reference_split(config: ml_collections.ConfigDict) -> str:
  """The real split an image evaluator compares with: config.eval.
  reference_split, or the protocol's ('train' for the Inception, 'test' for
  the classifiers) when that is 'auto'."""
  if config.eval.reference_split != 'auto':
    return config.eval.reference_split
  return _REFERENCE_SPLIT.get(kind_of(config), 'test')


def data_kind(dataset: str, feature_network: str = 'auto') -> str:
  """'classifier' (MNIST, Fashion-MNIST), 'inception' (any other TFDS image
  set, or any image set with feature_network='inception'), 'stacked' or
  'mog'. Raises ConfigError for an unknown feature_network or a classifier
  asked for a set without one."""
  if dataset == names.STACKED_MNIST:
    return 'stacked'
  if dataset in names.MIXTURES:
    return 'mog'
  if feature_network not in FEATURE_NETWORKS:
    raise ConfigError(f"config.eval.feature_network must be one of "
                      f"{', '.join(FEATURE_NETWORKS)}, got '{feature_network}'")
  if feature_network == 'classifier' and dataset not in CLASSIFIER_DATASETS:
    raise ConfigError(f"no evaluator classifier for '{dataset}' (have: "
                      f"{', '.join(CLASSIFIER_DATASETS)}); set "
                      '--config.eval.feature_network=inception')
  if feature_network == 'inception':
    return 'inception'
  return 'classifier' if dataset in CLASSIFIER_DATASETS else 'inception'


def kind_of(config: ml_collections.ConfigDict) -> str:
  """data_kind of a run's config."""
  return data_kind(config.data.dataset, config.eval.feature_network)


def resolve_metrics(dataset: str, requested: str, conditional: bool = False,
                    feature_network: str = 'auto') -> Tuple[str, ...]:
  """The metric groups named by `requested` ('auto', 'all', '' or 'fid,kid,...');
  `conditional`: of a class-conditional G, which also has 'cond' (and
  'intra_fid' for images); `feature_network` as config.eval's."""
  kind = data_kind(dataset, feature_network)
  requested = (requested or '').strip()
  if not requested or requested == 'none':
    return ()
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
  if config.eval_every_steps and resolve_metrics(
      config.data.dataset, config.eval.metrics, is_conditional(config),
      config.eval.feature_network):
    return BEST_METRIC[kind_of(config)]
  return 'loss_d', 'min'
