"""Stacked MNIST's evaluator: modes covered of 1000 and the KL of the mode
histogram to uniform, each channel read by the MNIST classifier (VEEGAN /
PacGAN protocol, 26,000 samples), and that KL split into the channels'
digit KLs and their coupling (`stacked_modes.py`). A conditional G's sample
is read as its three digits' mode."""
from typing import Dict, Optional

import ml_collections
import numpy as np

from gan_jax.evaluation import classifier as classifier_lib
from gan_jax.evaluation import stacked_modes
from gan_jax.evaluation.evaluator import Evaluator, class_match


class StackedMnistEvaluator(Evaluator):
  """Scores [N, 28, 28, 3] images in [-1, 1] by their three digits."""

  def _prepare(self, config: ml_collections.ConfigDict) -> None:
    self._classifier = classifier_lib.get(
        'mnist', config.eval.classifier, data_dir=config.data.data_dir,
        cache_dir=config.eval.classifier_dir)
    self.classifier_name = 'mnist'
    self.classifier_accuracy = self._classifier.test_accuracy

  def _evaluator_id(self) -> str:
    return self._classifier.evaluator_id

  def _score(self, samples: np.ndarray, labels: Optional[np.ndarray]) -> Dict[str, float]:
    modes = stacked_modes.mode_ids(self._classifier, samples)
    result = stacked_modes.mode_metrics(modes)
    if 'cond' in self.metrics:
      result.update(class_match(modes, labels))
    return result
