"""Sample quality of a generator, measured the same way in training and after.

What is measured depends on the data set (`kind`):
  classifier  MNIST, Fashion-MNIST: FID, KID, IS-style score, precision/recall,
              density/coverage in the feature space of the project's own
              classifier (`classifier.py`; Inception weights cannot be had
              offline, so the numbers are NOT comparable with Inception-FIDs
              in papers), and the Parzen-window log-likelihood of Goodfellow
              et al. 2014 in pixel space.
  stacked     Stacked MNIST: modes covered of 1000 and KL of the mode
              histogram to uniform, each channel read by the MNIST classifier
              (VEEGAN / PacGAN protocol, 26,000 samples), and that KL split
              into the channels' digit KLs and their coupling
              (`stacked_modes.py`).
  mog         the 2-D rings and grids: modes covered, share of high-quality
              samples, KL to uniform (VEEGAN / PacGAN protocol, 2,500 samples).

A class-conditional G (config.model.num_classes > 0) is sampled for the
classes in turn (sample i has class i mod num_classes), and is also scored
by how well its samples match their classes ('cond'): the evaluator's
reading of each sample against its label (conditional_accuracy: the
classifier's argmax; Stacked MNIST's three digits; the mixtures' nearest
mode) and, with the per-class mode coverage, classes_covered; 'intra_fid' is
the mean over classes of the FID between a class's samples and the test
images of that class (Miyato & Koyama 2018, Sec. 5).

The reference (real) statistics are computed once, when the Evaluator is made;
each call only samples the generator and scores the samples.
"""
import dataclasses
import time
from typing import Dict, Optional, Sequence, Tuple

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax.data import batching
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import metrics as metrics_lib
from gan_jax.evaluation import mog, parzen, protocol, shipped, stacked_modes
from gan_jax.sampling import sampler
from gan_jax.data import mixtures
from gan_jax.data import tfds_images

# Parzen protocol: the validation set that selects sigma is the last 10,000
# training images (Goodfellow et al. 2014 cross-validate on a held-out set).
_PARZEN_VALIDATION = 10_000

SampleFn = sampler.SampleFn



@dataclasses.dataclass
class _Reference:
  features: Optional[np.ndarray] = None     # real test features [N, D]
  fid_statistics: Optional[tuple] = None    # their (mean [D], covariance [D, D])
  size: int = 0                             # test examples the reference holds
  validation: Optional[np.ndarray] = None   # Parzen: [N, H*W*C] in [0, 1]
  test: Optional[np.ndarray] = None
  class_statistics: Optional[list] = None   # intra-FID: per class (mean, cov)


class Evaluator:
  """Scores generator samples against the data set of `config.data`.

  Usage: `Evaluator(config)(sample_fn, key)` -> {metric: float}. Results are
  deterministic given `key`.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               metrics: Optional[Sequence[str]] = None,
               num_samples: Optional[int] = None):
    data = config.data
    self.dataset = data.dataset
    self.kind = protocol.data_kind(data.dataset)
    self.num_classes = config.model.num_classes
    self.metrics = tuple(metrics) if metrics is not None else protocol.resolve_metrics(
        data.dataset, config.eval.metrics, bool(self.num_classes))
    self.num_samples = num_samples or protocol.protocol_num_samples(config)
    self._ref = _Reference()
    self._classifier = None
    self.classifier_name = self.classifier_accuracy = None
    self.protocol = {}
    if not self.metrics:
      return
    start = time.perf_counter()
    name = 'mnist' if self.kind == 'stacked' else data.dataset
    # Parzen alone works on pixels: no feature network.
    if self.kind == 'stacked' or (self.kind == 'classifier' and set(self.metrics) & {
        'fid', 'kid', 'is', 'pr', 'dc', 'cond', 'intra_fid'}):
      self._classifier = classifier_lib.get(
          name, config.eval.classifier, data_dir=data.data_dir,
          cache_dir=config.eval.classifier_dir)
      self.classifier_name = name
      self.classifier_accuracy = self._classifier.test_accuracy
    if self.kind == 'mog':
      self._centers, self._std = mixtures.mixture(data)
    if self.kind == 'classifier':
      # The shipped evaluator brings the test split's statistics: FID alone
      # reads no real data. KID, precision/recall, density/coverage need the
      # test features themselves, Parzen the images.
      needs_features = bool(set(self.metrics) & {'kid', 'pr', 'dc'}) or (
          'fid' in self.metrics and not self._classifier.shipped)
      test = None
      if needs_features or 'parzen' in self.metrics:
        test = tfds_images.load_split(data, 'test')
        self._ref.size = len(test)
      if needs_features:
        self._ref.features = self.features(batching.preprocess(test))
      if 'fid' in self.metrics:
        if self._classifier.shipped:
          self._ref.fid_statistics = shipped.test_statistics(name)
          self._ref.size = self._classifier.info['reference']['num_examples']
        else:
          self._ref.fid_statistics = metrics_lib.gaussian_statistics(self._ref.features)
      if 'parzen' in self.metrics:
        train = tfds_images.load_split(data, 'train')
        self._ref.validation = _unit_pixels(train[-_PARZEN_VALIDATION:])
        self._ref.test = _unit_pixels(test)
      if 'intra_fid' in self.metrics:
        self._ref.class_statistics = self._class_statistics(data)
    self.protocol = self._protocol(config)
    logging.info('Evaluator for %s: %s on %d samples (reference ready in %.1f s)',
                 self.dataset, ', '.join(self.metrics), self.num_samples,
                 time.perf_counter() - start)

  def _protocol(self, config: ml_collections.ConfigDict) -> Dict[str, object]:
    """What the numbers depend on besides the model: the evaluator (its id
    names the weights), the number of samples, the reference, how G is
    sampled. Two runs' numbers compare only under equal protocols (but for
    latent_seed, which follows each run's seed)."""
    closed_form = 'parzen' if self.kind == 'classifier' else f'{self.kind}-closed-form'
    protocol = dict(evaluator=(self._classifier.evaluator_id if self._classifier
                               else closed_form),
                    num_samples=self.num_samples,
                    params=config.eval.params,
                    bn_stats=config.eval.bn_stats,
                    latent_seed=config.seed)
    if self.kind == 'classifier' and self._ref.size:
      protocol.update(reference_split='test', reference_size=self._ref.size)
    elif self.kind == 'mog':
      protocol.update(reference='mixture', centers=len(self._centers), std=self._std)
    return protocol

  def _class_statistics(self, data: ml_collections.ConfigDict) -> list:
    """(mean, covariance) of the test features of each class: intra-FID's
    references. Raises ConfigError for a class with fewer than 2 test images."""
    images, labels = tfds_images.load_split(data, 'test', with_labels=True)
    features = self.features(batching.preprocess(images))
    counts = np.bincount(labels, minlength=self.num_classes)
    if len(counts) > self.num_classes or counts.min() < 2:
      raise ConfigError(f'intra_fid needs >= 2 test images of each of the '
                        f'{self.num_classes} classes (config.model.num_classes); '
                        f'the test split has {counts.tolist()}')
    return [metrics_lib.gaussian_statistics(features[labels == c])
            for c in range(self.num_classes)]

  def features(self, images) -> np.ndarray:
    return self._classifier.features_and_logits(images)[0]

  def fid_reference(self) -> Tuple[np.ndarray, np.ndarray]:
    """(mean [D], covariance [D, D]) of the reference's features: FID's other
    Gaussian."""
    if self._ref.fid_statistics is None:
      raise ConfigError('this evaluator does not compute FID')
    return self._ref.fid_statistics

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
    classes a conditional G was asked for (needed by 'cond', 'intra_fid')."""
    if set(self.metrics) & {'cond', 'intra_fid'} and labels is None:
      raise ValueError("the metrics 'cond' and 'intra_fid' need the samples' labels")
    if self.kind == 'mog':
      result = mog.mode_metrics(samples, self._centers, self._std)
      result['mode_score'] = result['modes_covered'] + result['high_quality_fraction']
      if 'cond' in self.metrics:
        result.update(_class_match(mog.nearest_mode(samples, self._centers), labels))
      return {k: float(v) for k, v in result.items()}
    if self.kind == 'stacked':
      modes = stacked_modes.mode_ids(self._classifier, samples)
      result = stacked_modes.mode_metrics(modes)
      if 'cond' in self.metrics:
        result.update(_class_match(modes, labels))
      return result
    results = {}
    needs_features = set(self.metrics) & {'fid', 'kid', 'pr', 'dc', 'is', 'cond',
                                          'intra_fid'}
    if needs_features:
      features, logits = self._classifier.features_and_logits(samples)
    if 'cond' in self.metrics:
      results.update(_class_match(np.argmax(logits, axis=1), labels))
    if 'intra_fid' in self.metrics:
      results['intra_fid'] = intra_fid(features, labels, self._ref.class_statistics)
    if 'fid' in self.metrics:
      results['fid'] = metrics_lib.frechet_distance(
          *metrics_lib.gaussian_statistics(features), *self._ref.fid_statistics)
    if 'kid' in self.metrics:
      results['kid'], results['kid_std'] = metrics_lib.kid(features, self._ref.features)
    if 'is' in self.metrics:
      results['is'], results['is_std'] = metrics_lib.inception_score(logits)
    if 'pr' in self.metrics:
      results['precision'], results['recall'] = metrics_lib.precision_recall(
          self._ref.features, features)
    if 'dc' in self.metrics:
      results['density'], results['coverage'] = metrics_lib.density_coverage(
          self._ref.features, features)
    if 'parzen' in self.metrics:
      estimate = parzen.parzen_estimate(_unit_pixels_from_model(samples),
                                        self._ref.validation, self._ref.test)
      results.update(parzen=estimate['mean'], parzen_stderr=estimate['stderr'],
                     parzen_sigma=estimate['sigma'],
                     parzen_validation=estimate['validation'])
    return results


def _unit_pixels(images_u8: np.ndarray) -> np.ndarray:
  """uint8 images -> float32 [N, H*W*C] in [0, 1] (the Parzen protocol's scale)."""
  return images_u8.reshape(images_u8.shape[0], -1).astype(np.float32) / 255.0


def _unit_pixels_from_model(images: np.ndarray) -> np.ndarray:
  x = (np.asarray(images, np.float32) + 1.0) / 2.0
  return x.reshape(x.shape[0], -1)


def _class_match(predicted: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
  """conditional_accuracy: the share of samples read as the class they were
  generated for; classes_covered: how many of the asked-for classes have at
  least one sample read as themselves (per-class mode coverage)."""
  hit = np.asarray(predicted) == np.asarray(labels)
  return dict(conditional_accuracy=float(np.mean(hit)),
              classes_covered=float(len(np.unique(np.asarray(labels)[hit]))))


def intra_fid(features: np.ndarray, labels: np.ndarray, class_statistics) -> float:
  """Intra-class FID (Miyato & Koyama 2018): the mean over classes c of the
  FID between the features [N, D] of the samples generated for c and the
  Gaussian (mean, covariance) of class c's real features,
  `class_statistics[c]`. Every class needs >= 2 samples."""
  distances = []
  for c, reference in enumerate(class_statistics):
    mine = features[np.asarray(labels) == c]
    if len(mine) < 2:
      raise ValueError(f'intra-FID needs >= 2 samples of class {c}, got {len(mine)}')
    distances.append(metrics_lib.frechet_distance(
        *metrics_lib.gaussian_statistics(mine), *reference))
  return float(np.mean(distances))
