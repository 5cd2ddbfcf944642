"""The evaluator of the TFDS image sets (MNIST, Fashion-MNIST): FID, KID,
IS-style score, precision/recall, density/coverage in the feature space of
the project's own classifier (`classifier.py`; the numbers are NOT
comparable with Inception-FIDs in papers), intra-FID for a conditional G,
and the Parzen-window log-likelihood of Goodfellow et al. 2014 in pixel
space.

'intra_fid' is the mean over classes of the FID between a class's samples
and the test images of that class (Miyato & Koyama 2018, Sec. 5).
"""
import dataclasses
from typing import Dict, Optional, Tuple

import ml_collections
import numpy as np

from gan_jax.data import batching
from gan_jax.data import tfds_images
from gan_jax.errors import ConfigError
from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import metrics as metrics_lib
from gan_jax.evaluation import parzen, shipped
from gan_jax.evaluation.evaluator import Evaluator, class_match

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
  """Scores images [N, H, W, C] in [-1, 1] against the test split of
  config.data."""

  def _prepare(self, config: ml_collections.ConfigDict) -> None:
    data, metrics = config.data, set(self.metrics)
    self._ref, self._classifier = _Reference(), None
    if metrics & _FEATURE_METRICS:  # Parzen alone works on pixels
      self._classifier = classifier_lib.get(
          data.dataset, config.eval.classifier, data_dir=data.data_dir,
          cache_dir=config.eval.classifier_dir)
      self.classifier_name = data.dataset
      self.classifier_accuracy = self._classifier.test_accuracy
    # The shipped evaluator brings the test split's statistics: FID alone
    # reads no real data. KID, precision/recall, density/coverage need the
    # test features themselves, Parzen the images.
    needs_features = bool(metrics & {'kid', 'pr', 'dc'}) or (
        'fid' in metrics and not self._classifier.shipped)
    test = None
    if needs_features or 'parzen' in metrics:
      test = tfds_images.load_split(data, 'test')
      self._ref.size = len(test)
    if needs_features:
      self._ref.features = self.features(batching.preprocess(test))
    if 'fid' in metrics:
      if self._classifier.shipped:
        self._ref.fid_statistics = shipped.test_statistics(data.dataset)
        self._ref.size = self._classifier.info['reference']['num_examples']
      else:
        self._ref.fid_statistics = metrics_lib.gaussian_statistics(self._ref.features)
    if 'parzen' in metrics:
      train = tfds_images.load_split(data, 'train')
      self._ref.validation = _unit_pixels(train[-_PARZEN_VALIDATION:])
      self._ref.test = _unit_pixels(test)
    if 'intra_fid' in metrics:
      self._ref.class_statistics = self._class_statistics(data)

  def _evaluator_id(self) -> str:
    return self._classifier.evaluator_id if self._classifier else 'parzen'

  def _reference_protocol(self) -> Dict[str, object]:
    if not self._ref.size:
      return {}
    return dict(reference_split='test', reference_size=self._ref.size)

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
    """The classifier's features [N, D] of images [N, H, W, C] in [-1, 1]."""
    return self._classifier.features_and_logits(images)[0]

  def fid_reference(self) -> Tuple[np.ndarray, np.ndarray]:
    if self._ref.fid_statistics is None:
      return super().fid_reference()
    return self._ref.fid_statistics

  def _score(self, samples: np.ndarray, labels: Optional[np.ndarray]) -> Dict[str, float]:
    metrics, results = set(self.metrics), {}
    if metrics & _FEATURE_METRICS:
      features, logits = self._classifier.features_and_logits(samples)
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
