"""Tests for gan_jax.evaluation.metrics against closed forms and brute force."""
import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance

from gan_jax.evaluation import metrics


def _random_spd(rng, dim):
  a = rng.standard_normal((dim, dim))
  return a @ a.T + 0.1 * np.eye(dim)


# ---------------------------------------------------------------------------
# FID.


def test_gaussian_statistics_match_numpy():
  x = np.random.default_rng(0).standard_normal((50, 3))
  mu, sigma = metrics.gaussian_statistics(x)
  np.testing.assert_allclose(mu, x.mean(0))
  np.testing.assert_allclose(sigma, np.cov(x.T))
  assert mu.dtype == sigma.dtype == np.float64
  assert metrics.gaussian_statistics(x[:, :1])[1].shape == (1, 1)


def test_frechet_distance_diagonal_closed_form():
  # Commuting (diagonal) covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt a - sqrt b)².
  rng = np.random.default_rng(1)
  mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
  a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
  np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_frechet_distance_non_commuting_matches_sqrtm():
  rng = np.random.default_rng(2)
  s1, s2 = _random_spd(rng, 8), _random_spd(rng, 8)
  assert not np.allclose(s1 @ s2, s2 @ s1)
  mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
  trace_sqrt = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
  got = metrics.frechet_distance(mu1, s1, mu2, s2)
  np.testing.assert_allclose(got, expected, rtol=1e-10)
  # Symmetric in its two Gaussians.
  np.testing.assert_allclose(metrics.frechet_distance(mu2, s2, mu1, s1), got, rtol=1e-10)


def test_fid_same_gaussian_is_near_zero():
  rng = np.random.default_rng(3)
  dim = 4
  scale = rng.standard_normal((dim, dim))
  a = rng.standard_normal((100_000, dim)) @ scale + 3.0
  b = rng.standard_normal((100_000, dim)) @ scale + 3.0
  # Against the FID between two Gaussians an identity covariance apart.
  assert abs(metrics.fid(a, b)) < 1e-3
  assert metrics.fid(a, b + 0.5) == pytest.approx(dim * 0.25, rel=0.02)


def test_fid_rank_deficient_covariances_stay_real_and_symmetric():
  # N < D: singular covariances, where sqrtm(S1 S2) turns complex.
  rng = np.random.default_rng(4)
  a, b = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 0.1
  fab, fba = metrics.fid(a, b), metrics.fid(b, a)
  assert np.isfinite(fab) and fab > 0
  np.testing.assert_allclose(fab, fba, rtol=1e-8)
  # The 44 zero eigenvalues come out as ~1e-16 round-off, whose square roots
  # add up to ~1e-6.
  assert abs(metrics.fid(a, a)) < 1e-6 * np.trace(np.cov(a.T))


# ---------------------------------------------------------------------------
# KID.


def _mmd2_closed_form_1d(shift):
  # In 1-D, (xy + 1)^3 = phi(x).phi(y) with phi(x) = (x³, √3 x², √3 x, 1), so
  # MMD² = ||E phi(x) - E phi(y)||². For N(0, 1) vs N(m, 1) the moments are
  # (0, 1, 0) vs (m³ + 3m, 1 + m², m).
  return (shift ** 3 + 3 * shift) ** 2 + 3 * shift ** 4 + 3 * shift ** 2


def test_kid_matches_closed_form_mmd():
  rng = np.random.default_rng(5)
  shift = 0.5
  a = rng.standard_normal((20_000, 1))
  b = rng.standard_normal((20_000, 1)) + shift
  mean, _ = metrics.kid(a, b, num_subsets=100, subset_size=1000)
  assert mean == pytest.approx(_mmd2_closed_form_1d(shift), rel=0.15)


def test_kid_kernel_divides_by_dimension():
  # d identical columns: x.y / d equals the 1-D product, so KID is unchanged.
  rng = np.random.default_rng(6)
  a, b = rng.standard_normal((300, 1)), rng.standard_normal((300, 1)) + 0.3
  one_d = metrics.kid(a, b, num_subsets=5, subset_size=100)
  tiled = metrics.kid(np.tile(a, 7), np.tile(b, 7), num_subsets=5, subset_size=100)
  np.testing.assert_allclose(tiled, one_d, rtol=1e-9)


def test_kid_is_unbiased_on_small_subsets():
  # Given the pools, a subset estimate's expectation is the unbiased estimate
  # on the full pools (every pair of distinct rows is equally likely), which
  # KID with subset_size >= N computes exactly. The biased V-statistic would
  # sit far off at subset size 5.
  rng = np.random.default_rng(7)
  a, b = rng.standard_normal((400, 3)), rng.standard_normal((400, 3))
  pool_estimate, pool_std = metrics.kid(a, b, num_subsets=1, subset_size=10_000)
  assert pool_std == 0.0
  num_subsets, size = 20_000, 5
  mean, std = metrics.kid(a, b, num_subsets=num_subsets, subset_size=size)
  standard_error = std / np.sqrt(num_subsets)
  assert abs(mean - pool_estimate) < 4 * standard_error
  kernel = lambda x, y: (x @ y.T / 3 + 1) ** 3
  v_statistic_bias = (np.mean(np.diag(kernel(a, a))) - np.mean(kernel(a, a))
                      + np.mean(np.diag(kernel(b, b))) - np.mean(kernel(b, b))) / size
  assert v_statistic_bias > 20 * standard_error


def test_kid_identical_near_zero_and_shifted_positive():
  rng = np.random.default_rng(8)
  a, b = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16))
  mean, std = metrics.kid(a, b, num_subsets=50, subset_size=300)
  assert abs(mean) < 3 * std
  shifted_mean, shifted_std = metrics.kid(a, b + 1.0, num_subsets=50, subset_size=300)
  assert shifted_mean > 10 * max(shifted_std, std)


def test_kid_clips_subset_size():
  rng = np.random.default_rng(9)
  mean, _ = metrics.kid(rng.standard_normal((30, 2)), rng.standard_normal((40, 2)) + 2.0,
                        num_subsets=3, subset_size=1000)
  assert np.isfinite(mean) and mean > 0


# ---------------------------------------------------------------------------
# Inception score.


def test_inception_score_confident_and_uniform_is_num_classes():
  num_classes = 10
  labels = np.arange(1000) % num_classes  # Every split of 100 holds each class 10 times.
  logits = 50.0 * np.eye(num_classes)[labels]
  mean, std = metrics.inception_score(logits, num_splits=10)
  assert mean == pytest.approx(num_classes, rel=1e-9)
  assert std < 1e-9


def test_inception_score_constant_logits_is_one():
  logits = np.tile(np.random.default_rng(10).standard_normal(7), (200, 1))
  mean, std = metrics.inception_score(logits, num_splits=4)
  assert mean == pytest.approx(1.0, abs=1e-12)
  assert std < 1e-12


def test_inception_score_confident_on_few_classes_and_huge_logits():
  # Confident predictions spread over 4 of 10 classes: IS = 4; logits of 1e4
  # would overflow a plain softmax.
  labels = np.arange(400) % 4
  logits = 1e4 * np.eye(10)[labels] - 5e3
  assert metrics.inception_score(logits, num_splits=2)[0] == pytest.approx(4.0, rel=1e-9)


# ---------------------------------------------------------------------------
# Precision/recall, density/coverage.


def _brute_force_manifold(real, fake, k):
  """(sq radii of real [N], [M, N] bool: fake_j inside ball of real_i)."""
  radii = np.sort(scipy.spatial.distance.cdist(real, real, 'sqeuclidean'), axis=1)[:, k]
  return radii, scipy.spatial.distance.cdist(fake, real, 'sqeuclidean') <= radii[None, :]


def test_manifold_metrics_match_brute_force_across_chunks(monkeypatch):
  # Tiny blocks: many chunks, with a padded last one.
  monkeypatch.setattr(metrics, '_BLOCK_ELEMENTS', 700 * 37)
  rng = np.random.default_rng(11)
  real = rng.standard_normal((700, 5))
  fake = 1.3 * rng.standard_normal((650, 5)) + 0.2
  k = 4
  real_radii, fake_in_real = _brute_force_manifold(real, fake, k)
  fake_radii, real_in_fake = _brute_force_manifold(fake, real, k)
  precision, recall = metrics.precision_recall(real, fake, k=k)
  assert precision == pytest.approx(fake_in_real.any(axis=1).mean(), abs=2e-3)
  assert recall == pytest.approx(real_in_fake.any(axis=1).mean(), abs=2e-3)
  density, coverage = metrics.density_coverage(real, fake, k=k)
  assert density == pytest.approx(fake_in_real.sum() / (k * len(fake)), abs=2e-3)
  assert coverage == pytest.approx(fake_in_real.any(axis=0).mean(), abs=2e-3)
  # The radii themselves.
  centred = np.asarray(real - real.mean(0), np.float32)
  np.testing.assert_allclose(metrics._manifold_sq_radii(centred, k), real_radii, rtol=1e-4)


def test_precision_recall_self_is_one_and_far_is_zero():
  rng = np.random.default_rng(12)
  real = rng.standard_normal((500, 8))
  assert metrics.precision_recall(real, real) == (1.0, 1.0)
  assert metrics.precision_recall(real, real + 100.0) == (0.0, 0.0)
  # Half the fakes are real points, half are far away: precision exactly 1/2.
  fake = np.concatenate([real[:250], rng.standard_normal((250, 8)) + 100.0])
  assert metrics.precision_recall(real, fake)[0] == 0.5


def test_density_coverage_self_far_and_same_distribution():
  rng = np.random.default_rng(13)
  real = rng.standard_normal((1000, 4))
  k = 5
  # Each ball around real_i holds real_i and its k nearest neighbours.
  density, coverage = metrics.density_coverage(real, real, k=k)
  assert density == pytest.approx((k + 1) / k, rel=1e-6)
  assert coverage == 1.0
  assert metrics.density_coverage(real, real + 100.0, k=k) == (0.0, 0.0)
  # Same distribution: E density = 1, E coverage = 1 - prod (N - i) / (2N - i).
  fake = rng.standard_normal((1000, 4))
  density, coverage = metrics.density_coverage(real, fake, k=k)
  n = len(real)
  expected_coverage = 1 - np.prod([(n - i) / (2 * n - i) for i in range(1, k + 1)])
  assert density == pytest.approx(1.0, abs=0.1)
  assert coverage == pytest.approx(expected_coverage, abs=0.03)


def test_manifold_metrics_reject_too_few_points():
  with pytest.raises(ValueError):
    metrics.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
