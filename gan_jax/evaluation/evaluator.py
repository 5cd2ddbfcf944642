"""Sample quality of a generator, measured the same way in training and after.

`Evaluator` is the interface every data kind's evaluator implements
(`evaluators.create` picks the one for a config):
  inception   every other TFDS image set (image_evaluator.py): FID, KID,
              IS, precision/recall, density/coverage on the FID Inception's
              features (evaluation/inception/), the papers' protocol.
  classifier  MNIST, Fashion-MNIST (image_evaluator.py): FID, KID, IS-style
              score, precision/recall, density/coverage in the feature space
              of the project's own classifier, and the Parzen-window
              log-likelihood of Goodfellow et al. 2014 in pixel space.
  stacked     Stacked MNIST (stacked_evaluator.py): modes covered of 1000 and
              KL of the mode histogram to uniform (VEEGAN / PacGAN protocol).
  mog         the 2-D rings and grids (mixture_evaluator.py): modes covered,
              share of high-quality samples, KL to uniform (VEEGAN / PacGAN).

A class-conditional G (config.model.num_classes > 0) is sampled for the
classes in turn (sample i has class i mod num_classes), and is also scored
by how well its samples match their classes ('cond'): the evaluator's
reading of each sample against its label (conditional_accuracy) and, with
the per-class mode coverage, classes_covered.

The reference (real) statistics are computed once, when the evaluator is
made; each call only samples the generator and scores the samples.
"""
import time
from typing import Dict, Optional, Sequence, Tuple

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.sampling import sampler

SampleFn = sampler.SampleFn


class Evaluator:
  """Scores generator samples against the data set of `config.data`.

  Usage: `evaluator(sample_fn, key)` -> {metric: float}, deterministic given
  `key`; `evaluator.score(samples, labels)` scores given samples.
  `metrics` defaults to config.eval.metrics resolved for the data set,
  `num_samples` to the protocol's count (protocol.protocol_num_samples).

  Attributes: dataset, metrics (tuple), num_samples, num_classes, protocol
  (what the numbers depend on besides the model; {} with no metrics), and
  classifier_name / classifier_accuracy (the feature network's data set and
  test accuracy; None without one).
  """

  def __init__(self, config: ml_collections.ConfigDict,
               metrics: Optional[Sequence[str]] = None,
               num_samples: Optional[int] = None):
    data = config.data
    self.dataset = data.dataset
    self.num_classes = config.model.num_classes
    self.metrics = tuple(metrics) if metrics is not None else protocol_lib.resolve_metrics(
        data.dataset, config.eval.metrics, bool(self.num_classes),
        config.eval.feature_network)
    self.num_samples = num_samples or protocol_lib.protocol_num_samples(config)
    self.classifier_name = self.classifier_accuracy = None
    self.protocol = {}
    if not self.metrics:
      return
    start = time.perf_counter()
    self._prepare(config)
    # Two runs' numbers compare only under equal protocols (but for
    # latent_seed, which follows each run's seed).
    self.protocol = dict(evaluator=self._evaluator_id(), num_samples=self.num_samples,
                         params=config.eval.params, bn_stats=config.eval.bn_stats,
                         latent_seed=config.seed, **self._reference_protocol())
    logging.info('Evaluator for %s: %s on %d samples (reference ready in %.1f s)',
                 self.dataset, ', '.join(self.metrics), self.num_samples,
                 time.perf_counter() - start)

  def _prepare(self, config: ml_collections.ConfigDict) -> None:
    """Loads the feature network and computes the reference statistics."""
    raise NotImplementedError

  def _evaluator_id(self) -> str:
    """Names what scores the samples: a feature network's id (which names its
    weights) or a closed-form protocol."""
    raise NotImplementedError

  def _reference_protocol(self) -> Dict[str, object]:
    """The protocol's entries that describe the reference."""
    return {}

  def _score(self, samples: np.ndarray, labels: Optional[np.ndarray]) -> Dict[str, float]:
    raise NotImplementedError

  def fid_reference(self) -> Tuple[np.ndarray, np.ndarray]:
    """(mean [D], covariance [D, D]) of the reference's features: FID's other
    Gaussian. Raises ConfigError when this evaluator computes no FID."""
    raise ConfigError('this evaluator does not compute FID')

  def __call__(self, sample_fn: SampleFn, key: jax.Array) -> Dict[str, float]:
    if not self.metrics:
      return {}
    labels = sampler.evaluation_labels(self.num_classes, self.num_samples)
    if labels is None:
      return self.score(sample_fn(key, self.num_samples))
    return self.score(sample_fn(key, self.num_samples, labels), labels)

  def score(self, samples: np.ndarray,
            labels: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Metrics of generated (or held-out real) samples [N, ...] in the
    models' range ([-1, 1] images, raw 2-D points); `labels` int [N], the
    classes a conditional G was asked for (needed by 'cond', 'intra_fid').
    Raises ValueError when those metrics are asked for without labels."""
    if set(self.metrics) & {'cond', 'intra_fid'} and labels is None:
      raise ValueError("the metrics 'cond' and 'intra_fid' need the samples' labels")
    return self._score(samples, labels)


def class_match(predicted: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
  """conditional_accuracy: the share of samples read as the class they were
  generated for; classes_covered: how many of the asked-for classes have at
  least one sample read as themselves (per-class mode coverage)."""
  hit = np.asarray(predicted) == np.asarray(labels)
  return dict(conditional_accuracy=float(np.mean(hit)),
              classes_covered=float(len(np.unique(np.asarray(labels)[hit]))))
