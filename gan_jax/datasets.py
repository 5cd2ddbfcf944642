"""A data set by name: its examples, their shape, their labels, and the
geometry of the synthetic targets (as big_vision's datasets/core.py).

`config.data.dataset` names one of
  any TFDS image set with an `image` feature (mnist, fashion_mnist, ...):
      uint8 images [N, H, W, C], labels the TFDS `label` feature;
  mog_ring, mog_grid: float32 points [N, 2] drawn once from a 2-D Gaussian
      mixture (8 modes on a circle, Metz et al. 2016; 25 on a 5 x 5 grid,
      Srivastava et al. 2017), a fixed training set as in VEEGAN and PacGAN
      (Lin et al. 2018: N = 100,000); labels the mode each point came from;
  stacked_mnist: uint8 [N, 28, 28, 3], three MNIST training digits drawn
      independently as the R, G and B channels (Metz et al. 2016, Sec. 3.3;
      PacGAN: N = 128,000), 10^3 = 1000 modes; labels the mode ids
      100 d_R + 10 d_G + d_B.

Every set fits in host memory and is a pure function of `config.data` (its
`seed` included): every process builds all of it and takes its rows of each
global batch (`input_pipeline.train_batches`), so the data and the run do not
depend on the process count.

Config keys read (configs/default.py):
  data.dataset, data.split, data.data_dir ($TFDS_DATA_DIR when None),
  data.download, data.image_size (0 = native);
  synthetic sets: data.seed, data.num_examples (0 = the paper's size), and
  for the mixtures data.mog = ConfigDict(num_modes, radius | spacing, std).
"""
import math
import os
import socket
from typing import Optional, Tuple

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax.errors import ConfigError, DataNotFoundError

MIXTURES = ('mog_grid', 'mog_ring')
STACKED_MNIST = 'stacked_mnist'
SYNTHETIC = MIXTURES + (STACKED_MNIST,)

# Mode standard deviations. Ring: 0.02 at radius 2 (Unrolled GANs; VEEGAN and
# PacGAN use the same ring scaled to radius 1, std 0.01, i.e. variance 1e-4).
# Grid: 0.05 at spacing 2 (VEEGAN; PacGAN's variance 0.0025).
RING_STD = 0.02
GRID_STD = 0.05
DEFAULT_MIXTURES = {
    'mog_ring': dict(num_modes=8, radius=2.0, std=RING_STD),
    'mog_grid': dict(num_modes=25, spacing=2.0, std=GRID_STD),
}
# Training-set sizes of PacGAN's code (fjxmlzn/PacGAN configs: num_sample,
# num_training_sample), which follows VEEGAN.
DEFAULT_NUM_EXAMPLES = {'mog_ring': 100_000, 'mog_grid': 100_000,
                        STACKED_MNIST: 128_000}
# Folded into the seed so that a synthetic set and the batch order
# (input_pipeline's permutations, seeded [seed, epoch]) are independent.
_DATA_STREAM = 0xDA7A

_DOWNLOAD_HOST = 'storage.googleapis.com'
_HOW_TO_PROVIDE = (
    'set --config.data.data_dir (or $TFDS_DATA_DIR) to a directory holding the '
    'prepared TFDS dataset, e.g. `export TFDS_DATA_DIR=../shared/data/tfds` '
    'for the offline copy, or run once on a machine with internet: '
    "python -c \"import tensorflow_datasets as tfds; tfds.load('{name}')\"")


def load(data_config: ml_collections.ConfigDict, with_labels: bool = False):
  """The whole training set of `data_config.dataset`: examples [N, ...]
  (uint8 images [N, H, W, C], float32 points [N, 2]), and int32 labels [N]
  if `with_labels` (classes, mixture components or Stacked-MNIST modes).

  Raises:
    ConfigError: an unknown name, split or mixture geometry.
    DataNotFoundError: a TFDS set neither prepared nor downloadable, or
      unreadable.
  """
  name = data_config.dataset
  if name in MIXTURES:
    examples, labels = mixture_points(data_config)
  elif name == STACKED_MNIST:
    examples, labels = stacked_mnist(data_config)
  else:
    return load_split(data_config, with_labels=with_labels)
  logging.info('Built %s (seed %d): %s %s', name, data_config.get('seed', 0),
               examples.shape, examples.dtype)
  return (examples, labels) if with_labels else examples


def stored_shape(data_config: ml_collections.ConfigDict) -> Tuple[int, ...]:
  """Shape of one stored example of `data_config.dataset`, without loading
  the set: (2,) for the mixtures, (28, 28, 3) for Stacked MNIST, the TFDS
  image feature's (H, W, C) otherwise, read from the prepared set's
  metadata (a feature that leaves a side open, None, is loaded to see it).
  Raises ConfigError / DataNotFoundError as `load` does for TFDS sets
  (unknown, not prepared, no image feature)."""
  name = data_config.dataset
  if name in MIXTURES:
    return tuple(mixture(data_config)[0].shape[1:])
  if name == STACKED_MNIST:
    return (28, 28, 3)
  builder = _builder(data_config)
  if 'image' not in builder.info.features:
    raise ConfigError(f"config.data.dataset '{name}' has no 'image' feature")
  shape = tuple(builder.info.features['image'].shape)
  if None in shape:
    return tuple(load_split(data_config).shape[1:])
  return shape


def example_shape(data_config: ml_collections.ConfigDict,
                  stored_shape: Tuple[int, ...]) -> Tuple[int, ...]:
  """Shape of one example as the models see it: (H, W, C) after the optional
  resize to `data.image_size`, or the stored shape of non-image data, e.g.
  (2,) for 2-D points. Raises ConfigError for a resize of non-images."""
  size = data_config.image_size
  if len(stored_shape) != 3:
    if size:
      raise ConfigError(f'config.data.image_size={size} needs images, but '
                        f"'{data_config.dataset}' examples have shape "
                        f'{tuple(stored_shape)}; set it to 0')
    return tuple(stored_shape)
  h, w, c = stored_shape
  return (size, size, c) if size else (h, w, c)


# ----------------------------------------------------------------- TFDS sets

def _data_dir(data_config: ml_collections.ConfigDict) -> Optional[str]:
  return data_config.data_dir or os.environ.get('TFDS_DATA_DIR') or None


def _host_resolves(host: str) -> bool:
  # TFDS retries a failed download for minutes; an offline machine is told
  # at once instead.
  try:
    socket.getaddrinfo(host, 443)
    return True
  except OSError:
    return False


def check_name(name: str) -> None:
  """Raises ConfigError unless `name` is a synthetic set or a TFDS builder
  (the data need not be prepared)."""
  if name in SYNTHETIC or ':' in name.split('/')[0]:
    return  # a community namespace ('huggingface:...'): TFDS resolves it
  try:
    tfds.builder_cls(name.split(':')[0].split('/')[0])  # 'name[/config][:version]'
  except tfds.core.registered.DatasetNotFoundError:
    raise ConfigError(f"unknown config.data.dataset '{name}': neither a TFDS "
                      'dataset (see tfds.list_builders()) nor one of '
                      f"{', '.join(SYNTHETIC)}") from None


def _builder(data_config: ml_collections.ConfigDict):
  name, data_dir = data_config.dataset, _data_dir(data_config)
  check_name(name)
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return builder
  where = f"'{builder.data_dir}'"
  if not data_config.download:
    raise DataNotFoundError(f'{name} is not prepared in {where} and '
                            'config.data.download is False; '
                            + _HOW_TO_PROVIDE.format(name=name))
  if not _host_resolves(_DOWNLOAD_HOST):
    raise DataNotFoundError(f'{name} is not prepared in {where} and cannot be '
                            f'downloaded (no network); '
                            + _HOW_TO_PROVIDE.format(name=name))
  logging.info('Downloading and preparing %s into %s', name, builder.data_dir)
  builder.download_and_prepare()
  return builder


def load_split(data_config: ml_collections.ConfigDict, split: Optional[str] = None,
               with_labels: bool = False):
  """uint8 images [N, H, W, C] of a whole TFDS split (default
  `data_config.split`), and int32 labels [N] if `with_labels`.

  Raises ConfigError (no such set, split or feature) or DataNotFoundError.
  """
  split = split or data_config.split
  builder = _builder(data_config)
  if 'image' not in builder.info.features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'image' feature")
  if with_labels and 'label' not in builder.info.features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'label' feature")
  try:
    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  except ValueError as e:
    raise ConfigError(f"split '{split}' is not valid for "
                      f'{data_config.dataset}: {e}') from None
  except tf.errors.OpError as e:  # DataLossError: a truncated/garbled file
    detail = ' '.join(str(e).split('}}')[-1].split())[:160]
    raise DataNotFoundError(
        f'the prepared {data_config.dataset} in {builder.data_dir} is '
        f'unreadable ({type(e).__name__}: {detail}); delete that directory and '
        + _HOW_TO_PROVIDE.format(name=data_config.dataset)) from None
  logging.info('Loaded %s[%s]: %s %s from %s', data_config.dataset, split,
               data['image'].shape, data['image'].dtype, builder.data_dir)
  if with_labels:
    return data['image'], data['label'].astype(np.int32)
  return data['image']


# ------------------------------------------------------- 2-D Gaussian mixtures

def ring_centers(num_modes: int = 8, radius: float = 2.0) -> np.ndarray:
  """Mode means float64 [num_modes, 2] at angles 2 pi k / num_modes on a circle.

  Note that np.linspace(0, 2 pi, num_modes), as found in some benchmark code,
  would put the first and last modes on top of each other.
  """
  angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
  return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> np.ndarray:
  """Mode means float64 [side², 2] on a side x side grid centred at the origin.

  With the defaults the coordinates are {-4, -2, 0, 2, 4} (VEEGAN's 2-D grid).
  """
  coordinates = (np.arange(side) - (side - 1) / 2.0) * spacing
  xs, ys = np.meshgrid(coordinates, coordinates, indexing='ij')
  return np.stack([xs.ravel(), ys.ravel()], axis=1)


def sample_mixture(key_or_rng, centers, std: float, n: int, with_modes: bool = False):
  """n draws [n, 2] from the equal-weight mixture of N(center_k, std² I), and
  the component of each draw (int [n]) if `with_modes`.

  Args:
    key_or_rng: a jax PRNG key, giving float32 jax.Arrays (jittable with `n`
      static); or a np.random.Generator, giving float64 np.ndarrays.
    centers: mode means [K, 2], e.g. ring_centers() or grid_centers().
    std: per-coordinate standard deviation (RING_STD or GRID_STD), > 0.
    n: number of draws.
  """
  if isinstance(key_or_rng, np.random.Generator):
    centers = np.asarray(centers, np.float64)
    modes = key_or_rng.integers(centers.shape[0], size=n)
    points = centers[modes] + std * key_or_rng.standard_normal((n, centers.shape[1]))
  else:
    centers = jnp.asarray(centers, jnp.float32)
    mode_key, noise_key = jax.random.split(key_or_rng)
    modes = jax.random.randint(mode_key, (n,), 0, centers.shape[0])
    points = centers[modes] + std * jax.random.normal(noise_key, (n, centers.shape[1]))
  return (points, modes) if with_modes else points


def mixture(data_config: ml_collections.ConfigDict) -> Tuple[np.ndarray, float]:
  """Mode centres float64 [K, 2] and per-mode std of the mixture
  `data_config.dataset` (the defaults, edited by `data_config.mog`): the
  training target, and the reference of `evaluation.mog.mode_metrics`.

  Raises ConfigError for a name that is not a mixture or a bad geometry.
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
  if not num_modes >= 1:
    raise ConfigError(f'config.data.mog.num_modes must be >= 1, got {num_modes}')
  for key in ('radius', 'spacing', 'std'):
    if key in params and not params[key] > 0:
      raise ConfigError(f'config.data.mog.{key} must be > 0, got {params[key]}')
  if name == 'mog_ring':
    centers = ring_centers(num_modes, params['radius'])
  else:
    side = math.isqrt(num_modes)
    if side * side != num_modes:
      raise ConfigError('config.data.mog.num_modes must be a square number '
                        f'for mog_grid, got {num_modes}')
    centers = grid_centers(side, params['spacing'])
  return centers, float(params['std'])


def _rng(data_config: ml_collections.ConfigDict) -> np.random.Generator:
  return np.random.default_rng([_DATA_STREAM, data_config.get('seed', 0)])


def num_examples(data_config: ml_collections.ConfigDict) -> int:
  """N of a synthetic set: data.num_examples, or the paper's when 0."""
  n = data_config.get('num_examples') or DEFAULT_NUM_EXAMPLES[data_config.dataset]
  if n < 1:
    raise ConfigError(f'config.data.num_examples must be >= 1, got {n}')
  return n


def mixture_points(data_config: ml_collections.ConfigDict):
  """The whole training set of a mixture: float32 points [N, 2] and each
  point's component, int32 [N]."""
  centers, std = mixture(data_config)
  points, modes = sample_mixture(_rng(data_config), centers, std,
                                 num_examples(data_config), with_modes=True)
  return points.astype(np.float32), modes.astype(np.int32)


# -------------------------------------------------------------- Stacked MNIST

def stacked_mode_ids(digits) -> np.ndarray:
  """Mode of each digit triple: int [...] = 100 d_R + 10 d_G + d_B in [0, 1000).

  Args:
    digits: int [..., 3], the digit classes of the R, G, B channels (labels,
      or a classifier's predictions on generated samples).
  """
  digits = np.asarray(digits)
  return 100 * digits[..., 0] + 10 * digits[..., 1] + digits[..., 2]


def stacked_digits(modes) -> np.ndarray:
  """The digit triples (int [..., 3]: R, G, B) of modes, int [...] in
  [0, 1000): the inverse of `stacked_mode_ids`."""
  modes = np.asarray(modes)
  return np.stack([modes // 100, modes // 10 % 10, modes % 10], axis=-1)


def stacked_mnist(data_config: ml_collections.ConfigDict):
  """The whole Stacked MNIST training set: uint8 [N, 28, 28, 3] and the mode
  ids int32 [N] (`stacked_mode_ids` of the channels' labels). Channel c of
  example i is MNIST training digit indices[i, c], each index drawn uniformly
  and independently."""
  mnist = ml_collections.ConfigDict(dict(
      dataset='mnist', split='train', data_dir=data_config.data_dir,
      download=data_config.download, image_size=0))
  digits, labels = load_split(mnist, 'train', with_labels=True)
  indices = _rng(data_config).integers(len(digits), size=(num_examples(data_config), 3))
  images = np.stack([digits[indices[:, c], :, :, 0] for c in range(3)], axis=-1)
  return images, stacked_mode_ids(labels[indices]).astype(np.int32)
