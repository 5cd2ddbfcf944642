"""The evaluator of each data kind (protocol.data_kind), by name:
`create(config)` is the one that scores a run of `config`."""
from typing import Optional, Sequence

import ml_collections

from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.evaluation.evaluator import Evaluator
from gan_jax.evaluation.image_evaluator import ImageEvaluator
from gan_jax.evaluation.mixture_evaluator import MixtureEvaluator
from gan_jax.evaluation.stacked_evaluator import StackedMnistEvaluator

BY_KIND = {'classifier': ImageEvaluator, 'inception': ImageEvaluator,
           'stacked': StackedMnistEvaluator, 'mog': MixtureEvaluator}


def create(config: ml_collections.ConfigDict,
           metrics: Optional[Sequence[str]] = None,
           num_samples: Optional[int] = None) -> Evaluator:
  """The evaluator of config.data's kind (see `Evaluator` for the arguments)."""
  kind = protocol_lib.kind_of(config)
  return BY_KIND[kind](config, metrics, num_samples)
