"""Tests of gan_jax/sampling/latent_space.py: truncation and interpolation of latent codes.

Closed forms: the truncated normal's variance, slerp's norm and angle, the
line between codes of one direction. gan_jax.generate's use of them is in
tests/sampling/generation_test.py.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.sampling import latent_space
from gan_jax.errors import GanJaxError


def _truncated_normal_variance(psi):
  """Var of N(0, 1) conditioned on |z| < psi: 1 - 2 psi phi(psi) / (2 Phi(psi) - 1)."""
  phi = math.exp(-psi ** 2 / 2) / math.sqrt(2 * math.pi)
  return 1 - 2 * psi * phi / math.erf(psi / math.sqrt(2))


def test_truncation_resamples_gaussian_components_outside_psi():
  key = jax.random.PRNGKey(0)
  z = jax.random.normal(jax.random.PRNGKey(1), (8000, 8))
  for psi in (0.1, 0.5, 2.0):
    t = np.asarray(latent_space.truncate(key, z, psi))
    assert np.abs(t).max() <= psi
    inside = np.abs(np.asarray(z)) <= psi
    np.testing.assert_array_equal(t[inside], np.asarray(z)[inside])  # kept as drawn
    # The result is the truncated normal (resampling until inside): its
    # variance against the closed form, 64,000 draws (std error < 1 %).
    assert np.var(t) == pytest.approx(_truncated_normal_variance(psi), rel=0.03)
  np.testing.assert_array_equal(latent_space.truncate(key, z, 1e6), z)
  # Deterministic, and each row independent of the rows drawn with it.
  np.testing.assert_array_equal(latent_space.truncate(key, z, 0.5),
                                latent_space.truncate(key, z, 0.5))
  np.testing.assert_array_equal(latent_space.truncate(key, z[:10], 0.5),
                                latent_space.truncate(key, z, 0.5)[:10])


def test_truncation_of_uniform_codes_scales_them_toward_zero():
  z = jax.random.uniform(jax.random.PRNGKey(1), (100, 4), minval=-1.0, maxval=1.0)
  key = jax.random.PRNGKey(0)
  np.testing.assert_allclose(latent_space.truncate(key, z, 0.25, 'uniform'), 0.25 * z)
  np.testing.assert_array_equal(latent_space.truncate(key, z, 3.0, 'uniform'), z)


def test_truncation_refuses_psi_not_above_zero():
  z = jnp.zeros((2, 3))
  for psi in (0.0, -1.0, float('nan')):
    with pytest.raises(GanJaxError, match='--truncation must be > 0'):
      latent_space.truncate(jax.random.PRNGKey(0), z, psi)


def test_slerp_against_closed_forms():
  rng = np.random.default_rng(0)
  z0, z1 = (jnp.asarray(rng.normal(size=(5, 16)), jnp.float32) for _ in range(2))
  t = jnp.linspace(0.0, 1.0, 7)
  path = np.asarray(latent_space.slerp(z0, z1, t))
  assert path.shape == (5, 7, 16)
  np.testing.assert_allclose(path[:, 0], z0, atol=1e-5)
  np.testing.assert_allclose(path[:, -1], z1, atol=1e-5)
  a, b = np.linalg.norm(z0, axis=1), np.linalg.norm(z1, axis=1)
  omega = np.arccos(np.sum(np.asarray(z0) * np.asarray(z1), axis=1) / (a * b))
  tt = np.asarray(t)[None, :]
  s0, s1 = np.sin((1 - tt) * omega[:, None]), np.sin(tt * omega[:, None])
  # |slerp|^2 = (a^2 s0^2 + b^2 s1^2 + 2 a b cos(W) s0 s1) / sin(W)^2.
  norm2 = (a[:, None] ** 2 * s0 ** 2 + b[:, None] ** 2 * s1 ** 2 +
           2 * (a * b * np.cos(omega))[:, None] * s0 * s1) / np.sin(omega)[:, None] ** 2
  np.testing.assert_allclose(np.sum(path ** 2, axis=-1), norm2, rtol=1e-4)
  # Codes of equal norm r: the path stays on the sphere of radius r, at
  # angle t W from z0; its midpoint is (z0 + z1) / (2 cos(W / 2)).
  u1 = z1 * (a / b)[:, None]
  sphere = np.asarray(latent_space.slerp(z0, u1, t))
  np.testing.assert_allclose(np.linalg.norm(sphere, axis=-1),
                             np.repeat(a[:, None], 7, axis=1), rtol=1e-5)
  cos_to_start = np.sum(sphere * np.asarray(z0)[:, None], axis=-1) / a[:, None] ** 2
  np.testing.assert_allclose(np.arccos(np.clip(cos_to_start, -1, 1)), tt * omega[:, None],
                             atol=2e-3)
  np.testing.assert_allclose(sphere[:, 3],
                             (z0 + u1) / (2 * np.cos(omega / 2))[:, None], rtol=1e-4,
                             atol=1e-5)


def test_slerp_of_parallel_codes_is_the_line_and_lerp_stays_in_the_cube():
  z0 = jnp.asarray([[1.0, 2.0, 2.0]])
  t = jnp.linspace(0.0, 1.0, 5)
  np.testing.assert_allclose(latent_space.slerp(z0, 3 * z0, t),
                             latent_space.lerp(z0, 3 * z0, t), rtol=1e-6)
  assert np.all(np.isfinite(latent_space.slerp(z0, z0, t)))
  u0, u1 = jnp.asarray([[-1.0, 0.9]]), jnp.asarray([[1.0, -0.9]])
  line = np.asarray(latent_space.lerp(u0, u1, t))
  np.testing.assert_allclose(line[0, 2], [0.0, 0.0], atol=1e-7)
  assert np.abs(line).max() <= 1.0
  np.testing.assert_array_equal(latent_space.interpolate(u0, u1, 5, 'uniform'), line)
  np.testing.assert_array_equal(latent_space.interpolate(u0, u1, 5, 'normal'),
                                latent_space.slerp(u0, u1, t))
  with pytest.raises(GanJaxError, match='--interpolate needs at least 2 steps'):
    latent_space.interpolate(u0, u1, 1)
