"""The 2-D ring/grid targets (gan_jax.datasets) and their mode metrics (gan_jax.evaluation.mog)."""
import itertools

import jax
import numpy as np
import pytest

from gan_jax.evaluation import mog
from gan_jax.data import mixtures


def test_ring_centers():
  centers = mixtures.ring_centers()
  assert centers.shape == (8, 2)
  np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0)
  np.testing.assert_allclose(centers[0], [2.0, 0.0])
  # Evenly spaced: neighbours are a chord 2 r sin(pi / 8) apart, and distinct.
  gaps = np.linalg.norm(centers - np.roll(centers, 1, axis=0), axis=1)
  np.testing.assert_allclose(gaps, 4.0 * np.sin(np.pi / 8))


def test_grid_centers():
  centers = mixtures.grid_centers()
  assert centers.shape == (25, 2)
  expected = set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))
  assert set(map(tuple, centers.tolist())) == expected


@pytest.mark.parametrize('use_jax', [True, False])
def test_sample_mixture_hits_every_mode_with_the_right_spread(use_jax):
  centers, std, n = mixtures.grid_centers(), mixtures.GRID_STD, 20_000
  if use_jax:
    sample = jax.jit(mixtures.sample_mixture, static_argnums=(2, 3))
    x = np.asarray(sample(jax.random.key(0), centers, std, n))
  else:
    x = mixtures.sample_mixture(np.random.default_rng(0), centers, std, n)
  assert x.shape == (n, 2)
  sq_dist = np.sum((x[:, None] - centers[None]) ** 2, axis=2)
  nearest = np.argmin(sq_dist, axis=1)
  counts = np.bincount(nearest, minlength=25)
  assert counts.min() > 0.7 * n / 25  # Equal weights: ~800 each.
  offsets = x - centers[nearest]
  np.testing.assert_allclose(offsets.std(axis=0), std, rtol=0.05)


def test_samples_from_k_modes_cover_exactly_k():
  rng = np.random.default_rng(1)
  centers, std = mixtures.ring_centers(), mixtures.RING_STD
  chosen = centers[[0, 3, 5]]
  x = mixtures.sample_mixture(rng, chosen, std, 3000)
  metrics = mog.mode_metrics(x, centers, std)
  assert metrics['modes_covered'] == 3
  # Within 3 std of the centre in 2-D: P(chi_2 <= 3) = 1 - exp(-9 / 2).
  assert metrics['high_quality_fraction'] == pytest.approx(1 - np.exp(-4.5), abs=0.01)
  # Three equally used modes out of 8: KL(q || u) = log(8 / 3).
  assert metrics['kl_to_uniform'] == pytest.approx(np.log(8 / 3), abs=0.01)

  grid = mixtures.grid_centers()
  x = mixtures.sample_mixture(rng, grid[:7], mixtures.GRID_STD, 700)
  assert mog.mode_metrics(x, grid, mixtures.GRID_STD)['modes_covered'] == 7


def test_on_mode_samples_are_all_high_quality_and_balanced():
  centers = mixtures.grid_centers()
  metrics = mog.mode_metrics(np.repeat(centers, 10, axis=0), centers, mixtures.GRID_STD)
  assert metrics == dict(modes_covered=25, high_quality_fraction=1.0, kl_to_uniform=0.0)


def test_far_samples_are_low_quality():
  centers, std = mixtures.grid_centers(), mixtures.GRID_STD
  # Midway between grid modes, and far outside the grid.
  far = np.concatenate([centers + 1.0, np.full((10, 2), 50.0)])
  metrics = mog.mode_metrics(far, centers, std)
  assert metrics['modes_covered'] == 0
  assert metrics['high_quality_fraction'] == 0.0
  assert metrics['kl_to_uniform'] == np.inf
  # Only the on-mode quarter of a mixed set is high quality.
  mixed = np.concatenate([centers[:5], np.full((15, 2), 50.0)])
  assert mog.mode_metrics(mixed, centers, std)['high_quality_fraction'] == 0.25


def test_kl_to_uniform_of_collapsed_samples():
  centers = mixtures.ring_centers()
  collapsed = mog.mode_metrics(np.repeat(centers[:1], 100, axis=0), centers, mixtures.RING_STD)
  assert collapsed['modes_covered'] == 1
  assert collapsed['kl_to_uniform'] == pytest.approx(np.log(8))
  # Unbalanced over all modes: q = (1/2, 1/14, ..., 1/14).
  x = np.concatenate([np.repeat(centers[:1], 7, axis=0), centers[1:]])
  q = np.array([0.5] + [1 / 14] * 7)
  expected = np.sum(q * np.log(8 * q))
  assert mog.mode_metrics(x, centers, mixtures.RING_STD)['kl_to_uniform'] == pytest.approx(expected)
