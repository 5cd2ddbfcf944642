"""Synthetic training sets for mode-collapse experiments.

  mog_ring, mog_grid: float32 points [N, 2] from the 2-D mixtures of
    `evaluation.mog` (8 Gaussians on a circle, Metz et al. 2016; 25 on a 5 x 5
    grid, Srivastava et al. 2017), drawn once: a fixed training set of N
    points as in VEEGAN and PacGAN (Lin et al. 2018: N = 100,000), rather
    than fresh draws every step.
  stacked_mnist: uint8 [N, 28, 28, 3], three MNIST training digits drawn
    independently as the R, G and B channels (Metz et al. 2016, Sec. 3.3;
    VEEGAN; PacGAN uses N = 128,000), so 10^3 = 1000 modes, one per digit
    triple.

Each set is a pure function of `config.data` (its `seed` included): every
process builds the whole set, so the data do not depend on the process
count, and the batches of
`input_pipeline.train_batches` index into it deterministically (exact resume).

Config keys read (defaults: the papers' values):
  data.seed          int, seed of the draw.
  data.num_examples  int, N; 0 = the paper's size (100,000 / 128,000).
  data.mog           mixtures only: ConfigDict(num_modes, radius | spacing,
                     std), see `configs/mog_ring.py`, `configs/mog_grid.py`.
"""
import math

from absl import logging
import ml_collections
import numpy as np

from gan_jax import input_pipeline
from gan_jax.errors import ConfigError
from gan_jax.evaluation import mog

MIXTURES = ('mog_grid', 'mog_ring')
STACKED_MNIST = 'stacked_mnist'
DATASETS = MIXTURES + (STACKED_MNIST,)

# The standard targets (see evaluation/mog.py for the sources).
DEFAULT_MIXTURES = {
    'mog_ring': dict(num_modes=8, radius=2.0, std=mog.RING_STD),
    'mog_grid': dict(num_modes=25, spacing=2.0, std=mog.GRID_STD),
}
# Training-set sizes of PacGAN's code (fjxmlzn/PacGAN configs: num_sample,
# num_training_sample), which follows VEEGAN.
DEFAULT_NUM_EXAMPLES = {'mog_ring': 100_000, 'mog_grid': 100_000,
                        STACKED_MNIST: 128_000}
# Folded into the seed so that a data set and the batch order
# (input_pipeline._permutation, seeded [seed, epoch]) are independent streams.
_DATA_STREAM = 0xDA7A


def _rng(data_config: ml_collections.ConfigDict) -> np.random.Generator:
  return np.random.default_rng([_DATA_STREAM, data_config.get('seed', 0)])


def _num_examples(data_config: ml_collections.ConfigDict) -> int:
  n = data_config.get('num_examples') or DEFAULT_NUM_EXAMPLES[data_config.dataset]
  if n < 1:
    raise ConfigError(f'config.data.num_examples must be >= 1, got {n}')
  return n


def mixture(data_config: ml_collections.ConfigDict):
  """Mode centres [K, 2] and per-mode std of the mixture `data_config.dataset`.

  The target of `evaluation.mog.mode_metrics` for a run on that data set.
  """
  name = data_config.dataset
  if name not in MIXTURES:
    raise ConfigError(f"config.data.dataset '{name}' is not a mixture; "
                      f"valid names: {', '.join(MIXTURES)}")
  params = dict(DEFAULT_MIXTURES[name])
  if data_config.get('mog') is not None:
    unknown = set(data_config.mog) - set(params)
    if unknown:
      raise ConfigError(f'config.data.mog has keys {sorted(unknown)} that '
                        f"{name} does not use; valid: {', '.join(params)}")
    params.update(data_config.mog.to_dict())
  num_modes = params['num_modes']
  if name == 'mog_ring':
    centers = mog.ring_centers(num_modes, params['radius'])
  else:
    side = math.isqrt(num_modes)
    if side * side != num_modes:
      raise ConfigError('config.data.mog.num_modes must be a square number '
                        f'for mog_grid, got {num_modes}')
    centers = mog.grid_centers(side, params['spacing'])
  if params['std'] <= 0:
    raise ConfigError(f"config.data.mog.std must be > 0, got {params['std']}")
  return centers, float(params['std'])


def mixture_points(data_config: ml_collections.ConfigDict) -> np.ndarray:
  """The whole training set of a mixture: float32 points [N, 2]."""
  centers, std = mixture(data_config)
  points = mog.sample_mixture(_rng(data_config), centers, std,
                              _num_examples(data_config))
  return points.astype(np.float32)


def _mnist_config(data_config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      dataset='mnist', split='train', data_dir=data_config.data_dir,
      download=data_config.download, image_size=0))


def _stacked_digit_indices(data_config: ml_collections.ConfigDict,
                           num_digits: int) -> np.ndarray:
  """Indices [N, 3] into the MNIST training split: channel c of example i is
  digit image indices[i, c], each drawn uniformly and independently."""
  return _rng(data_config).integers(num_digits, size=(_num_examples(data_config), 3))


def stacked_mode_ids(digits: np.ndarray) -> np.ndarray:
  """Mode of each digit triple: int [...] = 100 d_R + 10 d_G + d_B in [0, 1000).

  Args:
    digits: int [..., 3], the digit classes of the R, G, B channels (labels,
      or a classifier's predictions on generated samples).
  """
  digits = np.asarray(digits)
  return 100 * digits[..., 0] + 10 * digits[..., 1] + digits[..., 2]


def stacked_mnist(data_config: ml_collections.ConfigDict, with_modes: bool = False):
  """The whole Stacked MNIST training set: uint8 [N, 28, 28, 3], and the mode
  ids int32 [N] (`stacked_mode_ids` of the channels' labels) if `with_modes`."""
  digits, labels = input_pipeline.load_split(
      _mnist_config(data_config), 'train', with_labels=True)
  indices = _stacked_digit_indices(data_config, len(digits))
  images = np.stack([digits[indices[:, c], :, :, 0] for c in range(3)], axis=-1)
  if with_modes:
    return images, stacked_mode_ids(labels[indices]).astype(np.int32)
  return images


def load(data_config: ml_collections.ConfigDict) -> np.ndarray:
  """The whole synthetic set `data_config.dataset`: float32
  [N, 2] for the mixtures, uint8 [N, 28, 28, 3] for stacked_mnist."""
  name = data_config.dataset
  if name in MIXTURES:
    data = mixture_points(data_config)
  elif name == STACKED_MNIST:
    data = stacked_mnist(data_config)
  else:
    raise ConfigError(f"unknown synthetic config.data.dataset '{name}'; valid "
                      f"names: {', '.join(DATASETS)}")
  logging.info('Built %s (seed %d): %s %s', name, data_config.get('seed', 0),
               data.shape, data.dtype)
  return data
