"""The 2-D mixtures' evaluator (rings and grids): modes covered, the share
of high-quality samples and the KL of the mode histogram to uniform, the
VEEGAN / PacGAN protocol (2,500 samples; `mog.py`). A conditional G's
sample is read as its nearest mode."""
from typing import Dict, Optional

import ml_collections
import numpy as np

from gan_jax.data import mixtures
from gan_jax.evaluation import mog
from gan_jax.evaluation.evaluator import Evaluator, class_match


class MixtureEvaluator(Evaluator):
  """Scores 2-D points [N, 2] against the mixture of config.data."""

  def _prepare(self, config: ml_collections.ConfigDict) -> None:
    self._centers, self._std = mixtures.mixture(config.data)

  def _evaluator_id(self) -> str:
    return 'mog-closed-form'

  def _reference_protocol(self) -> Dict[str, object]:
    return dict(reference='mixture', centers=len(self._centers), std=self._std)

  def _score(self, samples: np.ndarray, labels: Optional[np.ndarray]) -> Dict[str, float]:
    result = mog.mode_metrics(samples, self._centers, self._std)
    result['mode_score'] = result['modes_covered'] + result['high_quality_fraction']
    if 'cond' in self.metrics:
      result.update(class_match(mog.nearest_mode(samples, self._centers), labels))
    return {k: float(v) for k, v in result.items()}
