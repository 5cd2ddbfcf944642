"""The metrics of the 2-D mixture-of-Gaussians mode-collapse benchmark.

Two targets, each an equal-weight mixture of isotropic Gaussians (their
geometry: `mixtures.mixture`):
  ring: 8 modes evenly spaced on a circle (Metz et al. 2016, "Unrolled GANs"),
  grid: 25 modes on the 5 x 5 grid {-4, -2, 0, 2, 4}² (Srivastava et al. 2017,
        "VEEGAN"),
both used in the synthetic experiments of VEEGAN and PacGAN (Lin et al. 2018).

Metrics, after VEEGAN (whose protocol PacGAN reuses):
  * a generated sample is *high quality* (HQ) if it lies within 3 standard
    deviations of its nearest mode centre;
  * a mode is *captured* if at least one HQ sample has it as nearest centre;
  * the KL divergence of the histogram of HQ samples over modes to the uniform
    mode distribution, PacGAN's "reverse KL" (the model on the left).
"""
from typing import Dict

import jax
import numpy as np

from gan_jax.evaluation import metrics

ArrayLike = np.ndarray | jax.Array

# A sample is high quality within this many standard deviations of its
# nearest centre (VEEGAN).
HIGH_QUALITY_STDS = 3.0


def mode_metrics(samples: ArrayLike, centers: ArrayLike, std: float) -> Dict[str, float]:
  """Mode coverage and quality of generated 2-D samples (VEEGAN, PacGAN).

  Each sample is assigned to its nearest centre; it is high quality (HQ) if
  that distance is at most HIGH_QUALITY_STDS * std.

  Args:
    samples: generated points [N, 2].
    centers: the target's mode means [K, 2].
    std: the target's per-mode standard deviation.
  Returns:
    dict(
      modes_covered: int in [0, K], modes that are the nearest centre of at
        least one HQ sample;
      high_quality_fraction: float in [0, 1], HQ samples / N;
      kl_to_uniform: float in [0, log K], KL(q || uniform) =
        sum_k q_k log(K q_k), with q the histogram of HQ samples over modes.
        Empty modes contribute 0 log 0 = 0, so no smoothing is applied: in
        this direction a missed mode needs none, and a pseudo-count would
        understate exactly the collapse the metric measures. With no HQ sample
        at all q is undefined and the value is inf.)
  """
  samples = np.asarray(samples, np.float64)
  centers = np.asarray(centers, np.float64)
  if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
    raise ValueError(f'Expected samples [N, D] and centers [K, D], got {samples.shape} '
                     f'and {centers.shape}.')
  num_modes = centers.shape[0]
  sq_dist = _squared_distances(samples, centers)
  nearest = np.argmin(sq_dist, axis=1)
  high_quality = sq_dist[np.arange(samples.shape[0]), nearest] <= (HIGH_QUALITY_STDS * std) ** 2
  counts = np.bincount(nearest[high_quality], minlength=num_modes)
  num_high_quality = counts.sum()
  if num_high_quality == 0:
    kl = np.inf
  else:
    kl = metrics.kl_to_uniform(counts)
  return dict(modes_covered=int(np.count_nonzero(counts)),
              high_quality_fraction=float(num_high_quality / max(samples.shape[0], 1)),
              kl_to_uniform=kl)


def _squared_distances(samples: np.ndarray, centers: np.ndarray) -> np.ndarray:
  return np.sum((samples[:, None, :] - centers[None, :, :]) ** 2, axis=2)  # [N, K]


def nearest_mode(samples: ArrayLike, centers: ArrayLike) -> np.ndarray:
  """The index of each sample's nearest centre, int [N] (a conditional G's
  reading of its samples' classes: the mixtures' labels are the modes)."""
  return np.argmin(_squared_distances(np.asarray(samples, np.float64),
                                      np.asarray(centers, np.float64)), axis=1)
