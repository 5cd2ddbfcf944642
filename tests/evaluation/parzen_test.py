"""Tests for gan_jax.evaluation.parzen against Gaussian closed forms."""
import numpy as np
import pytest
import scipy.special
import scipy.stats

from gan_jax.evaluation import parzen


def _brute_force_log_likelihood(samples, x, sigma):
  sq_dist = np.sum((x[:, None, :] - samples[None, :, :]) ** 2, axis=2)
  dim = samples.shape[1]
  return (scipy.special.logsumexp(-sq_dist / (2 * sigma ** 2), axis=1) - np.log(len(samples))
          - 0.5 * dim * np.log(2 * np.pi * sigma ** 2))


def test_single_sample_is_the_gaussian_log_pdf():
  rng = np.random.default_rng(0)
  centre, x, sigma = rng.standard_normal(3), rng.standard_normal((50, 3)), 0.7
  got = parzen.parzen_log_likelihood(centre[None], x, sigma)
  expected = scipy.stats.multivariate_normal(centre, sigma ** 2 * np.eye(3)).logpdf(x)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert got.dtype == np.float64 and got.shape == (50,)


def test_kernel_density_of_gaussian_samples_is_the_widened_gaussian():
  # Samples of N(0, s² I) smoothed by N(0, sigma² I): the density tends to
  # N(0, (s² + sigma²) I) as the number of samples grows.
  rng = np.random.default_rng(1)
  s, sigma, dim = 1.0, 0.5, 2
  samples = s * rng.standard_normal((200_000, dim))
  x = rng.uniform(-1.5, 1.5, (40, dim))
  got = parzen.parzen_log_likelihood(samples, x, sigma, batch_size=4096)
  expected = scipy.stats.multivariate_normal(np.zeros(dim), (s ** 2 + sigma ** 2) * np.eye(dim)).logpdf(x)
  np.testing.assert_allclose(got, expected, atol=0.02)


def test_chunking_and_padding_do_not_change_the_result():
  rng = np.random.default_rng(2)
  samples, x = rng.uniform(0, 1, (103, 6)), rng.uniform(0, 1, (29, 6))
  expected = _brute_force_log_likelihood(samples, x, 0.2)
  for batch_size in (7, 29, 1000):  # Padded chunks, exact fit, one chunk.
    np.testing.assert_allclose(parzen.parzen_log_likelihood(samples, x, 0.2, batch_size),
                               expected, rtol=1e-5, atol=1e-5)


def test_far_points_stay_finite():
  # exp(-||x - s||² / 2 sigma²) underflows float32 for every sample; the
  # log-sum-exp keeps log p(x) exact.
  samples = np.zeros((10, 2))
  x = np.array([[30.0, 40.0]])
  got = parzen.parzen_log_likelihood(samples, x, 0.1)
  expected = _brute_force_log_likelihood(samples, x, 0.1)
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_image_shaped_inputs_are_flattened():
  rng = np.random.default_rng(3)
  samples, x = rng.uniform(0, 1, (20, 4, 4, 1)), rng.uniform(0, 1, (5, 4, 4, 1))
  np.testing.assert_allclose(parzen.parzen_log_likelihood(samples, x, 0.3),
                             parzen.parzen_log_likelihood(samples.reshape(20, 16),
                                                          x.reshape(5, 16), 0.3))


def test_select_sigma_recovers_the_missing_variance():
  # Validation ~ N(0, 2), samples ~ N(0, 1): the kernel density is ~N(0, 1 +
  # sigma²), whose expected validation log-likelihood -1/2 log(1 + sigma²) -
  # 1/(1 + sigma²) + const peaks at sigma = 1.
  rng = np.random.default_rng(4)
  samples = rng.standard_normal((5000, 1))
  validation = np.sqrt(2.0) * rng.standard_normal((5000, 1))
  sigma, validation_ll = parzen.select_sigma(samples, validation, sigmas=[0.25, 1.0, 2.0])
  assert sigma == 1.0
  assert validation_ll == pytest.approx(
      parzen.parzen_log_likelihood(samples, validation, 1.0).mean(), rel=1e-9)


def test_parzen_estimate_reports_the_selected_sigma():
  rng = np.random.default_rng(5)
  samples, validation, test = (rng.uniform(0, 1, (n, 8)) for n in (300, 100, 120))
  sigmas = np.logspace(-1, 0, 10)
  result = parzen.parzen_estimate(samples, validation, test, sigmas=sigmas)
  mean_validation = [parzen.parzen_log_likelihood(samples, validation, s).mean() for s in sigmas]
  assert result['sigma'] == pytest.approx(sigmas[int(np.argmax(mean_validation))])
  test_ll = parzen.parzen_log_likelihood(samples, test, result['sigma'])
  assert result['mean'] == pytest.approx(test_ll.mean(), rel=1e-6)
  assert result['stderr'] == pytest.approx(test_ll.std(ddof=1) / np.sqrt(120), rel=1e-6)
  assert result['validation'] == pytest.approx(max(mean_validation), rel=1e-9)


def test_rejects_bad_inputs():
  with pytest.raises(ValueError):
    parzen.parzen_log_likelihood(np.zeros((5, 3)), np.zeros((2, 4)), 0.1)
  with pytest.raises(ValueError):
    parzen.parzen_log_likelihood(np.zeros((5, 3)), np.zeros((2, 3)), 0.0)
