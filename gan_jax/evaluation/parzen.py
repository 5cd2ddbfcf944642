"""Parzen-window log-likelihood of held-out data under a generator's samples.

The protocol of Goodfellow et al. 2014 (Sec. 5, Table 1), after Breuleux et
al. 2011: fit an isotropic Gaussian kernel density to M generator samples,

  p(x) = 1/M sum_i N(x; s_i, sigma² I),
  log p(x) = logsumexp_i(-||x - s_i||² / (2 sigma²)) - log M - D/2 log(2 pi sigma²),

choose the bandwidth sigma by the mean log-likelihood of a validation set, and
report the mean log-likelihood of the test set with its standard error.

The estimate is known to be poor in high dimensions (Theis et al. 2016); it is
here to reproduce the numbers of the original GAN paper.

Pairwise distances run jitted in float32, `batch_size` test rows against
`batch_size` samples at a time; each block is reduced by a log-sum-exp and the
blocks' results by another, so no exp underflows. Every bandwidth of a sweep
is evaluated from the same distances.
"""
import functools
from typing import Dict, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

ArrayLike = np.ndarray | jax.Array


@functools.partial(jax.jit, static_argnames=('sample_chunk', 'x_chunk'))
def _log_kernel_sums(samples: jax.Array, x: jax.Array, inv_two_var: jax.Array,
                     sample_chunk: int, x_chunk: int) -> jax.Array:
  """logsumexp_i(-||x_n - s_i||² inv_two_var_s) as [N, S].

  Args:
    samples: [M, D]; x: [N, D]; inv_two_var: 1 / (2 sigma²) per bandwidth [S].
    sample_chunk, x_chunk: rows of samples and of x per [x_chunk, sample_chunk]
      distance block.
  """
  num_samples, dim = samples.shape
  num_chunks = -(-num_samples // sample_chunk)
  padding = num_chunks * sample_chunk - num_samples
  # Padded samples get a -inf log-weight, so they add exp(-inf) = 0 to the sum.
  chunks = jnp.pad(samples, ((0, padding), (0, 0))).reshape(num_chunks, sample_chunk, dim)
  valid = (jnp.arange(num_chunks * sample_chunk) < num_samples).reshape(num_chunks, sample_chunk)
  chunks_sq = jnp.sum(chunks ** 2, axis=2)

  def log_sum_over_samples(row):  # row [D] -> [S]
    def chunk_logsumexp(chunk):
      chunk_samples, chunk_sq, chunk_valid = chunk
      sq_dist = jnp.maximum(chunk_sq + jnp.dot(row, row) - 2.0 * chunk_samples @ row, 0.0)
      log_weights = jnp.where(chunk_valid, -sq_dist[None, :] * inv_two_var[:, None], -jnp.inf)
      return jax.nn.logsumexp(log_weights, axis=1)

    per_chunk = jax.lax.map(chunk_logsumexp, (chunks, chunks_sq, valid))  # [chunks, S]
    return jax.nn.logsumexp(per_chunk, axis=0)

  return jax.lax.map(log_sum_over_samples, x, batch_size=x_chunk)


def _log_likelihoods(samples: ArrayLike, x: ArrayLike, sigmas: Sequence[float],
                     batch_size: int) -> np.ndarray:
  """Per-example Parzen log-likelihoods [S, N] for each bandwidth in sigmas [S]."""
  samples = np.asarray(samples, np.float32).reshape(np.shape(samples)[0], -1)
  x = np.asarray(x, np.float32).reshape(np.shape(x)[0], -1)
  if samples.shape[1] != x.shape[1]:
    raise ValueError(f'samples {samples.shape} and x {x.shape} differ in dimension.')
  sigmas = np.asarray(sigmas, np.float64).reshape(-1)
  if np.any(sigmas <= 0):
    raise ValueError(f'Bandwidths must be positive, got {sigmas}.')
  log_sums = _log_kernel_sums(jnp.asarray(samples), jnp.asarray(x),
                              jnp.asarray(0.5 / sigmas ** 2, jnp.float32),
                              sample_chunk=min(batch_size, samples.shape[0]),
                              x_chunk=min(batch_size, x.shape[0]))
  num_samples, dim = samples.shape
  # The normaliser is added in float64: for D = 784 it is in the hundreds.
  log_normaliser = np.log(num_samples) + 0.5 * dim * np.log(2.0 * np.pi * sigmas ** 2)
  return np.asarray(log_sums, np.float64).T - log_normaliser[:, None]


def parzen_log_likelihood(samples: ArrayLike, x: ArrayLike, sigma: float,
                          batch_size: int = 1000) -> np.ndarray:
  """log p(x) [N] under the Gaussian kernel density of samples, bandwidth sigma.

  Args:
    samples: generator samples [M, ...]; trailing axes are flattened to D.
    x: evaluation points [N, ...], same trailing shape as samples.
    sigma: kernel standard deviation, > 0, in the units of the data.
    batch_size: rows of x and of samples per distance block.
  Returns:
    float64 [N], in nats.
  """
  return _log_likelihoods(samples, x, [sigma], batch_size)[0]


def select_sigma(samples: ArrayLike, validation: ArrayLike,
                 sigmas: Sequence[float] = np.logspace(-1, 0, 10),
                 batch_size: int = 1000) -> Tuple[float, float]:
  """The bandwidth in sigmas with the highest mean validation log-likelihood,
  and that log-likelihood (nats).

  A grid search, as Goodfellow et al. 2014 cross-validate sigma; the default
  grid is 10 log-spaced values in [0.1, 1] for data in [0, 1].
  """
  mean_ll = _log_likelihoods(samples, validation, sigmas, batch_size).mean(axis=1)
  best = int(np.argmax(mean_ll))
  return float(np.asarray(sigmas, np.float64).reshape(-1)[best]), float(mean_ll[best])


def parzen_estimate(samples: ArrayLike, validation: ArrayLike, test: ArrayLike,
                    sigmas: Sequence[float] = np.logspace(-1, 0, 10),
                    batch_size: int = 1000) -> Dict[str, float]:
  """The Parzen test log-likelihood of Goodfellow et al. 2014, Table 1.

  Args:
    samples: generator samples [M, ...].
    validation: held-out data [N_val, ...] that selects sigma.
    test: held-out data [N_test, ...], N_test >= 2.
    sigmas: candidate bandwidths.
    batch_size: rows per distance block.
  Returns:
    dict(sigma=selected bandwidth, mean=mean test log-likelihood (nats),
    stderr=its standard error, sample std / sqrt(N_test), validation=the mean
    validation log-likelihood at sigma: a score to select models by without
    looking at the test set).
  """
  sigma, validation_ll = select_sigma(samples, validation, sigmas, batch_size)
  log_likelihood = parzen_log_likelihood(samples, test, sigma, batch_size)
  stderr = log_likelihood.std(ddof=1) / np.sqrt(log_likelihood.shape[0])
  return dict(sigma=sigma, mean=float(log_likelihood.mean()), stderr=float(stderr),
              validation=validation_ll)
