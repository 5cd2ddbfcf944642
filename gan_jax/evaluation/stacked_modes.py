"""The metrics of the Stacked-MNIST mode-collapse benchmark.

Stacked MNIST (Srivastava et al. 2017, "VEEGAN"; Metz et al. 2016) puts three
MNIST digits in the R, G, B channels of one 28 x 28 image: 1000 modes, the
digit triples, equally likely in the data. A generated sample's mode is the
triple the MNIST classifier reads, one channel at a time. Metrics, after
VEEGAN (whose protocol PacGAN, Lin et al. 2018, Tables 2-3, reuses):
  * modes covered: how many of the 1000 triples at least one sample has;
  * KL(q || uniform) in nats of the samples' mode histogram q;
and, to say where a KL comes from, its exact split into each channel's digit
KL and the channels' coupling (`mode_metrics`).
"""
from typing import Dict

import numpy as np

from gan_jax.evaluation import metrics
from gan_jax.data import stacked_mnist as stacked_mnist_lib

NUM_MODES = 1000

# Channel pairs of a triple, as (name, first axis, second axis) of the
# [red, green, blue] histogram.
_CHANNEL_PAIRS = (('rg', 0, 1), ('rb', 0, 2), ('gb', 1, 2))


def mode_ids(classifier, samples: np.ndarray) -> np.ndarray:
  """The mode of each Stacked-MNIST sample: int [N] in [0, 1000), 100 d_R +
  10 d_G + d_B (`stacked_mnist_lib.stacked_mode_ids`), each channel's digit the argmax
  of `classifier` (an MNIST classifier, `classifier.get('mnist')`) on that
  channel.

  Args:
    classifier: has `features_and_logits(images [N, 28, 28, 1] in [-1, 1])`
      -> (features, logits [N, 10]).
    samples: float [N, 28, 28, 3] in [-1, 1].
  """
  digits = [np.argmax(classifier.features_and_logits(samples[..., c:c + 1])[1], axis=1)
            for c in range(3)]
  return stacked_mnist_lib.stacked_mode_ids(np.stack(digits, axis=-1))


def _entropy(counts: np.ndarray) -> float:
  q = counts[counts > 0] / counts.sum()
  return float(-np.sum(q * np.log(q)))


def mode_metrics(modes: np.ndarray) -> Dict[str, float]:
  """Modes covered of 1000 and KL(q || uniform) in nats of the histogram q of
  `modes` (int [N] in [0, 1000)), and where that KL comes from:
    * kl_digits_{r,g,b}: each channel's digit histogram's KL to uniform over 10;
    * total_correlation: sum of the channels' digit entropies minus the
      triple's entropy (Watanabe 1960), >= 0, 0 iff the channels' digits are
      independent. The uniform target is a product, so kl_to_uniform =
      kl_digits_r + kl_digits_g + kl_digits_b + total_correlation exactly;
    * mutual_info_{rg,rb,gb}: the channel pairs' mutual informations.
      total_correlation minus their sum is minus the co-information: > 0
      when the triple is coupled beyond its pairs (blue = red + green mod
      10), < 0 when the pairs repeat one dependence (three equal digits).
  All in nats, plug-in estimates: N samples of independent uniform channels
  score about 81 / 2N per pair and 972 / 2N of total correlation (Miller
  1955), for N well above 1000. Raises ValueError for no modes or a mode
  outside [0, 1000)."""
  modes = np.asarray(modes)
  if not modes.size:
    raise ValueError('mode_metrics needs at least one mode')
  if modes.min() < 0 or modes.max() >= NUM_MODES:
    raise ValueError(f'Stacked-MNIST modes are in [0, {NUM_MODES}), got '
                     f'{modes.min()} to {modes.max()}')
  counts = np.bincount(modes, minlength=NUM_MODES)
  # Mode 100 r + 10 g + b is entry [r, g, b]: the joint digit histogram.
  joint = counts.reshape(10, 10, 10)
  result = dict(modes_covered=float(np.count_nonzero(counts)),
                kl_to_uniform=metrics.kl_to_uniform(counts))
  marginals = [joint.sum(axis=tuple(a for a in range(3) if a != c)) for c in range(3)]
  for name, digits in zip('rgb', marginals):
    result[f'kl_digits_{name}'] = metrics.kl_to_uniform(digits)
  entropies = [_entropy(m) for m in marginals]
  # Clipped at 0: the plug-in differences can come out -1e-16.
  result['total_correlation'] = max(sum(entropies) - _entropy(counts), 0.0)
  for name, a, b in _CHANNEL_PAIRS:
    pair = joint.sum(axis=3 - a - b)
    result[f'mutual_info_{name}'] = max(entropies[a] + entropies[b] - _entropy(pair), 0.0)
  return result
