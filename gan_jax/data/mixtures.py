"""The 2-D Gaussian mixtures: mog_ring, 8 modes on a circle (Metz et al.
2016, Sec. 3.1), and mog_grid, 25 modes on a 5 x 5 grid (Srivastava et al.
2017, Sec. 5.1), each a fixed training set of float32 points [N, 2] drawn
once, as in VEEGAN and PacGAN (Lin et al. 2018: N = 100,000), labelled by
the mode each point came from.

Config keys read: data.dataset, data.seed, data.num_examples, data.mog
(num_modes, radius | spacing, std).
"""
import math
from typing import Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.data import names, synthetic
from gan_jax.errors import ConfigError

MIXTURES = names.MIXTURES


# Mode standard deviations. Ring: 0.02 at radius 2 (Unrolled GANs; VEEGAN and
# PacGAN use the same ring scaled to radius 1, std 0.01, i.e. variance 1e-4).
# Grid: 0.05 at spacing 2 (VEEGAN; PacGAN's variance 0.0025).
RING_STD = 0.02
GRID_STD = 0.05


DEFAULT_MIXTURES = {
    'mog_ring': dict(num_modes=8, radius=2.0, std=RING_STD),
    'mog_grid': dict(num_modes=25, spacing=2.0, std=GRID_STD),
}


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
  if data_config.mog is not None:
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


def mixture_points(data_config: ml_collections.ConfigDict):
  """The whole training set of a mixture: float32 points [N, 2] and each
  point's component, int32 [N]."""
  centers, std = mixture(data_config)
  points, modes = sample_mixture(synthetic.rng(data_config), centers, std,
                                 synthetic.num_examples(data_config), with_modes=True)
  return points.astype(np.float32), modes.astype(np.int32)
