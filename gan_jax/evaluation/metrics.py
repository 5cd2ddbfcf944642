"""Feature-space sample-quality metrics: FID, KID, IS, precision/recall, density/coverage;
and the KL of a mode histogram to uniform, which the mode-collapse benchmarks
(`mog.py`, `stacked_modes.py`) share.

Every metric takes features as arrays (numpy or jax) of shape [N, D], one row
per example, computed by some fixed embedding network (an Inception or a
dataset-specific classifier); the inception score takes that network's class
logits [N, C] instead. Results are Python floats.

The moment-based metrics (FID, KID, IS) run in float64 numpy: they are a few
large BLAS products or eigendecompositions, where jit buys nothing and float32
would lose the small differences of large numbers they are made of. The
nearest-neighbour metrics (precision/recall, density/coverage) need all
pairwise distances; those run jitted in float32, in blocks of `_BLOCK_ELEMENTS`
distances, so that 10,000 x 10,000 pairs never materialise at once.
"""
import functools
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

ArrayLike = np.ndarray | jax.Array

# Elements of one [rows, M] block of the pairwise-distance matrix: 2^24
# float32 are 64 MB, e.g. 1677 rows against M = 10,000 points.
_BLOCK_ELEMENTS = 2 ** 24


def kl_to_uniform(counts: ArrayLike) -> float:
  """KL(q || uniform) in nats of the histogram `counts` [K] (q = counts /
  sum, which must be > 0), uniform over its K bins: 0 for a uniform
  histogram, log K for one occupied bin (VEEGAN's and PacGAN's mode KL)."""
  counts = np.asarray(counts)
  q = counts / counts.sum()
  q = q[q > 0]
  return float(np.sum(q * np.log(len(counts) * q)))


def _as_features(features: ArrayLike, name: str) -> np.ndarray:
  features = np.asarray(features, dtype=np.float64)
  if features.ndim != 2:
    raise ValueError(f'{name} must be [N, D] features, got shape {features.shape}.')
  return features


# ----------------------------------------------------------------------------
# Fréchet inception distance (Heusel et al. 2017).
# ----------------------------------------------------------------------------


def gaussian_statistics(features: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
  """Mean [D] and unbiased covariance [D, D], float64, of features [N, D], N >= 2."""
  features = _as_features(features, 'features')
  if features.shape[0] < 2:
    raise ValueError('A covariance needs at least 2 feature vectors.')
  mu = features.mean(axis=0)
  sigma = np.atleast_2d(np.cov(features, rowvar=False))
  return mu, sigma


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric PSD matrix; round-off negatives -> 0."""
  eigenvalues, eigenvectors = np.linalg.eigh(matrix)
  return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike,
                     sigma2: ArrayLike) -> float:
  """Squared 2-Wasserstein distance between N(mu1, sigma1) and N(mu2, sigma2).

    d² = ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^{1/2})      (Heusel et al. 2017)

  S1 S2 is not symmetric, and the usual scipy.linalg.sqrtm of it returns
  complex round-off for near-singular covariances (N < D). Its square root has
  the same trace as that of the symmetric PSD matrix sqrt(S1) S2 sqrt(S1)
  (similar matrices: S1 S2 = sqrt(S1) [sqrt(S1) S2 sqrt(S1)] sqrt(S1)^{-1}),
  so Tr (S1 S2)^{1/2} = sum_i sqrt(lambda_i), with lambda_i the eigenvalues of
  the latter, found by eigh in float64 with tiny negatives clipped to 0.

  Args:
    mu1, mu2: means [D].
    sigma1, sigma2: symmetric PSD covariances [D, D].
  Returns:
    The distance, >= 0 up to round-off.
  """
  mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
  sigma1 = np.atleast_2d(sigma1).astype(np.float64)
  sigma2 = np.atleast_2d(sigma2).astype(np.float64)
  dim = mu1.shape[0]
  if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
    raise ValueError(f'Mismatched statistics: mu {mu1.shape} vs {mu2.shape}, '
                     f'sigma {sigma1.shape} vs {sigma2.shape}.')
  sqrt_sigma1 = _psd_sqrt(sigma1)
  inner = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
  inner = 0.5 * (inner + inner.T)  # Symmetric in exact arithmetic.
  trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0.0, None)))
  mean_term = np.sum((mu1 - mu2) ** 2)
  return float(mean_term + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid(features_a: ArrayLike, features_b: ArrayLike) -> float:
  """Fréchet distance between Gaussians fitted to features [N_a, D] and [N_b, D]."""
  return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


def fid_infinity(features: ArrayLike, reference_mu: ArrayLike,
                 reference_sigma: ArrayLike, sample_sizes, seed: int = 0):
  """FID extrapolated to infinitely many samples (Chong & Forsyth 2020, FID∞).

  FID is biased upwards by about c / N for N generated samples. FID_N is
  computed on a random subset of N of the feature vectors for each N in
  `sample_sizes`, a line FID_N = FID∞ + c / N is fitted by least squares,
  and its intercept is FID∞.

  Args:
    features: generated features [M, D], M >= max(sample_sizes).
    reference_mu, reference_sigma: the reference's Gaussian statistics.
    sample_sizes: the N, at least two distinct values, each >= 2.
    seed: of the subsets.
  Returns:
    (FID∞, [(N, FID_N), ...]) in the order of sample_sizes.
  """
  features = _as_features(features, 'features')
  sizes = [int(n) for n in sample_sizes]
  if len(set(sizes)) < 2 or min(sizes) < 2 or max(sizes) > features.shape[0]:
    raise ValueError(f'FID∞ needs two or more distinct sample sizes in [2, '
                     f'{features.shape[0]}], got {sizes}')
  rng = np.random.default_rng(seed)
  curve = []
  for n in sizes:
    subset = features[rng.choice(features.shape[0], n, replace=False)]
    curve.append((n, frechet_distance(*gaussian_statistics(subset),
                                      reference_mu, reference_sigma)))
  inverse = np.array([1.0 / n for n, _ in curve])
  values = np.array([v for _, v in curve])
  slope, intercept = np.polyfit(inverse, values, 1)
  del slope
  return float(intercept), curve


# ----------------------------------------------------------------------------
# Kernel inception distance (Bińkowski et al. 2018).
# ----------------------------------------------------------------------------


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  # k(x, y) = (x.y / d + 1)^3, the kernel of Bińkowski et al. 2018.
  base = x @ y.T / x.shape[1] + 1.0
  return base * base * base  # Not `** 3`: numpy's float pow is several times slower.


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD² estimate (Gretton et al. 2012, Lemma 6) from x [m, D], y [n, D]."""
  m, n = x.shape[0], y.shape[0]
  k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
  # The diagonals k(x_i, x_i) are left out: including them is the biased
  # V-statistic, whose expectation exceeds MMD² by O(1/m).
  within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(within_x + within_y - 2.0 * k_xy.mean())


def kid(features_a: ArrayLike, features_b: ArrayLike, num_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> Tuple[float, float]:
  """Kernel inception distance: unbiased MMD² averaged over random subsets.

  Each of `num_subsets` rounds draws min(subset_size, N_a, N_b) rows without
  replacement from each set and computes the unbiased MMD² with the cubic
  polynomial kernel. Unlike FID the estimate is unbiased, so it can be
  negative when the two distributions are equal.

  Args:
    features_a, features_b: [N_a, D] and [N_b, D], N_a, N_b >= 2.
    num_subsets: number of subset pairs averaged.
    subset_size: rows per subset, clipped to the available rows.
    seed: seed of the subset draws.
  Returns:
    (mean, std) of the per-subset MMD² estimates.
  """
  features_a = _as_features(features_a, 'features_a')
  features_b = _as_features(features_b, 'features_b')
  if features_a.shape[1] != features_b.shape[1]:
    raise ValueError(f'Feature sizes differ: {features_a.shape} vs {features_b.shape}.')
  size = min(subset_size, features_a.shape[0], features_b.shape[0])
  if size < 2:
    raise ValueError('KID needs at least 2 feature vectors in each set.')
  rng = np.random.default_rng(seed)
  estimates = np.array([
      _unbiased_mmd2(features_a[rng.choice(features_a.shape[0], size, replace=False)],
                     features_b[rng.choice(features_b.shape[0], size, replace=False)])
      for _ in range(num_subsets)
  ])
  return float(estimates.mean()), float(estimates.std())


# ----------------------------------------------------------------------------
# Inception score (Salimans et al. 2016).
# ----------------------------------------------------------------------------


def inception_score(logits: ArrayLike, num_splits: int = 10) -> Tuple[float, float]:
  """IS = exp(E_x KL(p(y|x) || p(y))), per split of the examples.

  p(y) is the split's average of p(y|x). Everything is computed from
  log p(y|x) = log_softmax(logits), so confident (large) logits stay finite.
  The score ranges from 1 (every p(y|x) equal) to C (confident predictions
  spread evenly over the C classes).

  Args:
    logits: classifier logits [N, C], N >= num_splits.
    num_splits: number of near-equal, contiguous splits (10 in Salimans et al.).
  Returns:
    (mean, std) of the per-split scores.
  """
  log_p_yx = scipy.special.log_softmax(_as_features(logits, 'logits'), axis=1)
  if log_p_yx.shape[0] < num_splits:
    raise ValueError(f'{log_p_yx.shape[0]} examples cannot form {num_splits} splits.')
  scores = []
  for part in np.array_split(log_p_yx, num_splits):
    log_p_y = scipy.special.logsumexp(part, axis=0) - np.log(part.shape[0])
    kl = np.sum(np.exp(part) * (part - log_p_y), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------
# k-NN manifold metrics: precision/recall (Kynkäänniemi et al. 2019),
# density/coverage (Naeem et al. 2020).
# ----------------------------------------------------------------------------


def _rows_per_chunk(num_points: int, num_rows: int) -> int:
  return max(1, min(num_rows, _BLOCK_ELEMENTS // num_points))


def _row_chunks(rows: jax.Array, chunk: int) -> Tuple[jax.Array, jax.Array]:
  """rows [N, D] zero-padded to [ceil(N / chunk), chunk, D], with a validity mask."""
  num_rows, dim = rows.shape
  num_chunks = -(-num_rows // chunk)
  padded = jnp.pad(rows, ((0, num_chunks * chunk - num_rows), (0, 0)))
  valid = jnp.arange(num_chunks * chunk) < num_rows
  return padded.reshape(num_chunks, chunk, dim), valid.reshape(num_chunks, chunk)


def _squared_distances(rows: jax.Array, points: jax.Array) -> jax.Array:
  """||r - p||² [R, M] for rows [R, D], points [M, D], clipped at 0.

  Every block is computed with the ball centres as `rows`, both for the radii
  and for the membership tests, so that a point tested against the ball whose
  boundary it defines (k-th neighbour, or the same point in an identical set)
  sees bit-identical distances.
  """
  sq = jnp.sum(rows ** 2, axis=1)[:, None] + jnp.sum(points ** 2, axis=1)[None, :]
  return jnp.maximum(sq - 2.0 * rows @ points.T, 0.0)


@functools.partial(jax.jit, static_argnames=('k', 'chunk'))
def _nearest_sq_distances(points: jax.Array, k: int, chunk: int) -> jax.Array:
  """[ceil(N / chunk) * chunk, k] smallest squared distances from each of points
  [N, D] to points, descending, negated; rows past N are padding."""
  chunks, _ = _row_chunks(points, chunk)
  nearest = lambda rows: jax.lax.top_k(-_squared_distances(rows, points), k)[0]
  return jax.lax.map(nearest, chunks).reshape(-1, k)


@functools.partial(jax.jit, static_argnames='chunk')
def _ball_membership(centres: jax.Array, sq_radii: jax.Array, queries: jax.Array,
                     chunk: int) -> Tuple[jax.Array, jax.Array]:
  """Which queries [M, D] fall in which balls B(centres_i, radius_i).

  Returns:
    per_ball: [N] int, number of queries inside each ball (distance <= radius);
    per_query: [M] bool, whether each query is inside any ball.
  """
  chunks, valid = _row_chunks(centres, chunk)
  radius_chunks = _row_chunks(sq_radii[:, None], chunk)[0][..., 0]

  def scan_chunk(any_ball, chunk_args):
    rows, rows_sq_radii, rows_valid = chunk_args
    inside = (_squared_distances(rows, queries) <= rows_sq_radii[:, None]) & rows_valid[:, None]
    return any_ball | jnp.any(inside, axis=0), jnp.sum(inside, axis=1)

  per_query, per_ball = jax.lax.scan(
      scan_chunk, jnp.zeros(queries.shape[0], bool), (chunks, radius_chunks, valid))
  return per_ball.reshape(-1)[:centres.shape[0]], per_query


def _manifold_sq_radii(points: jax.Array, k: int) -> jax.Array:
  """Squared radii [N] of the k-NN balls that make up the manifold of points [N, D]:
  the squared distance from each point to its k-th nearest other point."""
  chunk = _rows_per_chunk(points.shape[0], points.shape[0])
  # Each point is itself among `points` at distance ~0: take the (k+1)-th
  # smallest. The column is taken outside the jitted function: slicing
  # top_k's output inside it makes XLA:CPU lower top_k to a full sort (~50x
  # slower).
  nearest = _nearest_sq_distances(points, k + 1, chunk)
  return -nearest[:points.shape[0], k]


def _inside_manifold(centres: jax.Array, sq_radii: jax.Array,
                     queries: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """_ball_membership, in blocks of at most _BLOCK_ELEMENTS distances."""
  return _ball_membership(centres, sq_radii, queries,
                          _rows_per_chunk(queries.shape[0], centres.shape[0]))


def _as_point_sets(real: ArrayLike, fake: ArrayLike, k: int) -> Tuple[jax.Array, jax.Array]:
  real, fake = _as_features(real, 'real'), _as_features(fake, 'fake')
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f'Feature sizes differ: {real.shape} vs {fake.shape}.')
  if not 1 <= k < min(real.shape[0], fake.shape[0]):
    raise ValueError(f'k = {k} needs more than k points in each set.')
  # Distances are translation invariant; centring first (in float64) keeps
  # the float32 expansion ||a||² + ||b||² - 2 a.b from cancelling large norms.
  offset = real.mean(axis=0)
  return jnp.asarray(real - offset, jnp.float32), jnp.asarray(fake - offset, jnp.float32)


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3) -> Tuple[float, float]:
  """Improved precision and recall (Kynkäänniemi et al. 2019).

  A set's manifold is the union of balls around its points, each with radius
  the distance to the point's k-th nearest neighbour within the set.
  Precision is the fraction of fake points inside the real manifold (sample
  quality); recall the fraction of real points inside the fake manifold
  (coverage of the real distribution).

  Args:
    real, fake: features [N, D] and [M, D], both with more than k rows.
    k: neighbourhood size (3 in the paper).
  Returns:
    (precision, recall), each in [0, 1].
  """
  real, fake = _as_point_sets(real, fake, k)
  _, fake_in_real = _inside_manifold(real, _manifold_sq_radii(real, k), fake)
  _, real_in_fake = _inside_manifold(fake, _manifold_sq_radii(fake, k), real)
  return float(jnp.mean(fake_in_real)), float(jnp.mean(real_in_fake))


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5) -> Tuple[float, float]:
  """Density and coverage (Naeem et al. 2020), on real k-NN balls only.

    density  = 1 / (k M) sum_j sum_i 1[fake_j in B(real_i, NND_k(real_i))]
    coverage = 1 / N     sum_i 1[exists j: fake_j in B(real_i, NND_k(real_i))]

  Density counts how many real neighbourhoods each fake point falls into: its
  expectation is 1 when fake and real follow one distribution, and it exceeds
  1 when fakes crowd dense regions. Coverage is the fraction of real
  neighbourhoods hit by any fake; for M = N samples of the real distribution
  its expectation is 1 - prod_{i=1..k} (N - i) / (2N - i) ~ 1 - 2^-k
  (Naeem et al. 2020).

  Args:
    real, fake: features [N, D] and [M, D], both with more than k rows.
    k: neighbourhood size (5 in the paper).
  Returns:
    (density, coverage); density in [0, N / k], coverage in [0, 1].
  """
  real, fake = _as_point_sets(real, fake, k)
  per_ball, _ = _inside_manifold(real, _manifold_sq_radii(real, k), fake)
  density = jnp.sum(per_ball) / (k * fake.shape[0])
  return float(density), float(jnp.mean(per_ball > 0))
