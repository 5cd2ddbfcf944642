"""The evaluator of the TFDS image sets: FID, KID, IS, precision/recall,
density/coverage and, for a conditional G, intra-FID, in the feature space of
  - the FID Inception (evaluation/inception/; kind 'inception', every image
    set but MNIST and Fashion-MNIST by default): the papers' network and
    protocol, 50,000 samples against the training split's statistics;
  - the project's own classifier (`classifier.py`; kind 'classifier', MNIST
    and Fashion-MNIST): 10,000 samples against the test split (the numbers
    are NOT comparable with Inception-FIDs in papers);
and the Parzen-window log-likelihood of Goodfellow et al. 2014 in pixel
space (classifier sets).

'intra_fid' is the mean over classes of the FID between a class's samples
and the reference images of that class (Miyato & Koyama 2018, Sec. 5).
"""
import dataclasses
import os
from typing import Dict, Optional, Tuple

import ml_collections
import numpy as np

from gan_jax.data import batching
from gan_jax.data import tfds_images
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import metrics as metrics_lib
from gan_jax.evaluation import parzen, shipped
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.evaluation.inception import features as inception_features
from gan_jax.evaluation.inception import reference as inception_reference
from gan_jax.evaluation.inception import weights as inception_weights
from gan_jax.evaluation.evaluator import Evaluator, class_match
from gan_jax.sampling import pictures

# Parzen protocol: the validation set that selects sigma is the last 10,000
# training images (Goodfellow et al. 2014 cross-validate on a held-out set).
_PARZEN_VALIDATION = 10_000
# The metrics read in the classifier's feature space (or its logits).
_FEATURE_METRICS = frozenset({'fid', 'kid', 'is', 'pr', 'dc', 'cond', 'intra_fid'})


@dataclasses.dataclass
class _Reference:
  features: Optional[np.ndarray] = None     # real test features [N, D]
  fid_statistics: Optional[tuple] = None    # their (mean [D], covariance [D, D])
  size: int = 0                             # test examples the reference holds
  validation: Optional[np.ndarray] = None   # Parzen: [N, H*W*C] in [0, 1]
  test: Optional[np.ndarray] = None
  class_statistics: Optional[list] = None   # intra-FID: per class (mean, cov)


class ImageEvaluator(Evaluator):
  """Scores images [N, H, W, C] in [-1, 1] against a real split of
  config.data (protocol.reference_split)."""

  def _prepare(self, config: ml_collections.ConfigDict) -> None:
    data, metrics = config.data, set(self.metrics)
    self._ref, self._network = _Reference(), None
    self._inception = protocol_lib.kind_of(config) == 'inception'
    self._split = protocol_lib.reference_split(config)
    self._cache_root = config.eval.classifier_dir
    given = os.path.expanduser(config.eval.reference_statistics)
    # The protocol names a statistics file by its content, not its path.
    self._statistics_file = (
        f'{os.path.basename(given)}:{inception_weights.sha256_of(given)[:8]}'
        if given and os.path.isfile(given) else given)
    if metrics & _FEATURE_METRICS:  # Parzen alone works on pixels
      self._network = self._feature_network(config)
    # A statistics file, or the shipped evaluator's test statistics, is FID's
    # whole reference: FID alone then reads no real data. KID, precision/
    # recall, density/coverage need the features themselves, Parzen the images.
    fid_given = bool(given) or (self._network is not None and self._network.shipped
                                and self._split == 'test')
    needs_features = bool(metrics & {'kid', 'pr', 'dc'}) or ('fid' in metrics
                                                             and not fid_given)
    real = None
    if needs_features or 'parzen' in metrics:
      real = self._at_resolution(tfds_images.load_split(data, self._split), data)
      self._ref.size = len(real)
    if needs_features:
      self._ref.features = self._real_features(real, f'{data.dataset}-{self._split}')
    if 'fid' in metrics:
      self._ref.fid_statistics = self._fid_statistics(config, given)
    if 'parzen' in metrics:
      train = tfds_images.load_split(data, 'train')
      self._ref.validation = _unit_pixels(train[-_PARZEN_VALIDATION:])
      self._ref.test = _unit_pixels(tfds_images.load_split(data, 'test'))
    if 'intra_fid' in metrics:
      self._ref.class_statistics = self._class_statistics(data)

  def _feature_network(self, config: ml_collections.ConfigDict):
    if self._inception:
      network = inception_features.load(config.eval.inception_weights, self._cache_root)
      self.classifier_name = 'inception'
      return network
    self.classifier_name = config.data.dataset
    network = classifier_lib.get(config.data.dataset, config.eval.classifier,
                                 data_dir=config.data.data_dir,
                                 cache_dir=self._cache_root)
    self.classifier_accuracy = network.test_accuracy
    return network

  def _real_features(self, images: np.ndarray, name: str) -> np.ndarray:
    if self._inception:   # minutes per 10k images on a CPU: cached
      return inception_reference.features(self._network, images, name, self._cache_root)
    return self.features(batching.preprocess(images))

  def _at_resolution(self, images_u8: np.ndarray,
                     data: ml_collections.ConfigDict) -> np.ndarray:
    """The Inception's real uint8 images at the resolution G is trained at
    (data.image_size, resized as the input pipeline does): the reference
    sees what G is asked to match. The classifiers' protocol keeps the
    stored resolution (their networks take any size)."""
    size = data.image_size
    if not self._inception or not size or images_u8.shape[1:3] == (size, size):
      return images_u8
    return pictures.to_uint8(batching.preprocess(images_u8, size))

  def _fid_statistics(self, config: ml_collections.ConfigDict,
                      given: str) -> Tuple[np.ndarray, np.ndarray]:
    if given:
      mu, sigma = inception_reference.read_statistics(given)
      if mu.shape[0] != self._network.feature_dim:
        raise ConfigError(f'config.eval.reference_statistics={given} holds '
                          f'{mu.shape[0]}-d statistics; the {self.classifier_name} '
                          f'features are {self._network.feature_dim}-d')
      return mu, sigma
    if self._ref.features is None:   # the shipped classifier's test statistics
      self._ref.size = self._network.info['reference']['num_examples']
      return shipped.test_statistics(config.data.dataset)
    return metrics_lib.gaussian_statistics(self._ref.features)

  def _evaluator_id(self) -> str:
    return self._network.evaluator_id if self._network else 'parzen'

  def _reference_protocol(self) -> Dict[str, object]:
    if self._statistics_file:
      return dict(reference_statistics=self._statistics_file)
    if not self._ref.size:
      return {}
    return dict(reference_split=self._split, reference_size=self._ref.size)

  def _class_statistics(self, data: ml_collections.ConfigDict) -> list:
    """(mean, covariance) of the reference split's features of each class:
    intra-FID's references. Raises ConfigError for a class with fewer than 2
    images there."""
    images, labels = tfds_images.load_split(data, self._split, with_labels=True)
    images = self._at_resolution(images, data)
    features = self._real_features(images, f'{data.dataset}-{self._split}')
    counts = np.bincount(labels, minlength=self.num_classes)
    if len(counts) > self.num_classes or counts.min() < 2:
      raise ConfigError(f'intra_fid needs >= 2 {self._split} images of each of the '
                        f'{self.num_classes} classes (config.model.num_classes); '
                        f'the {self._split} split has {counts.tolist()}')
    return [metrics_lib.gaussian_statistics(features[labels == c])
            for c in range(self.num_classes)]

  def features(self, images) -> np.ndarray:
    """The feature network's features [N, D] of images [N, H, W, C] in [-1, 1]."""
    return self._network.features_and_logits(images)[0]

  def fid_reference(self) -> Tuple[np.ndarray, np.ndarray]:
    if self._ref.fid_statistics is None:
      return super().fid_reference()
    return self._ref.fid_statistics

  def _score(self, samples: np.ndarray, labels: Optional[np.ndarray]) -> Dict[str, float]:
    metrics, results = set(self.metrics), {}
    if metrics & _FEATURE_METRICS:
      features, logits = self._network.features_and_logits(samples)
    if 'cond' in metrics:
      results.update(class_match(np.argmax(logits, axis=1), labels))
    if 'intra_fid' in metrics:
      results['intra_fid'] = intra_fid(features, labels, self._ref.class_statistics)
    if 'fid' in metrics:
      results['fid'] = metrics_lib.frechet_distance(
          *metrics_lib.gaussian_statistics(features), *self._ref.fid_statistics)
    if 'kid' in metrics:
      results['kid'], results['kid_std'] = metrics_lib.kid(features, self._ref.features)
    if 'is' in metrics:
      results['is'], results['is_std'] = metrics_lib.inception_score(logits)
    if 'pr' in metrics:
      results['precision'], results['recall'] = metrics_lib.precision_recall(
          self._ref.features, features)
    if 'dc' in metrics:
      results['density'], results['coverage'] = metrics_lib.density_coverage(
          self._ref.features, features)
    if 'parzen' in metrics:
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


def intra_fid(features: np.ndarray, labels: np.ndarray, class_statistics) -> float:
  """Intra-class FID (Miyato & Koyama 2018): the mean over classes c of the
  FID between the features [N, D] of the samples generated for c and the
  Gaussian (mean, covariance) of class c's real features,
  `class_statistics[c]`. Raises ValueError unless every class has >= 2
  samples."""
  distances = []
  for c, reference in enumerate(class_statistics):
    mine = features[np.asarray(labels) == c]
    if len(mine) < 2:
      raise ValueError(f'intra-FID needs >= 2 samples of class {c}, got {len(mine)}')
    distances.append(metrics_lib.frechet_distance(
        *metrics_lib.gaussian_statistics(mine), *reference))
  return float(np.mean(distances))
