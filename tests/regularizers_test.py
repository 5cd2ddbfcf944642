"""Gradient penalties on a critic whose input gradient is known."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import optimizers, regularizers

W = jnp.array([0.6, -0.3, 1.2, 0.0])  # ||W|| = 1.3748
W_NORM = float(jnp.linalg.norm(W))


def linear_critic(x):
  return x.reshape(x.shape[0], -1) @ W


def quadratic_critic(x):  # grad at x_i is 2 x_i
  return jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1)


REAL = jax.random.normal(jax.random.PRNGKey(0), (6, 2, 2, 1))
FAKE = jax.random.normal(jax.random.PRNGKey(1), (6, 2, 2, 1))


def test_penalties_of_linear_critic():
  key = jax.random.PRNGKey(2)
  np.testing.assert_allclose(
      regularizers.wgan_gp(linear_critic, REAL, FAKE, key), (W_NORM - 1) ** 2, rtol=1e-5)
  np.testing.assert_allclose(
      regularizers.zero_centered(linear_critic, REAL, FAKE, key), W_NORM ** 2, rtol=1e-5)
  np.testing.assert_allclose(
      regularizers.r1(linear_critic, REAL, FAKE, key), 0.5 * W_NORM ** 2, rtol=1e-5)


def test_r1_r2_are_per_sample():
  expected_r1 = 0.5 * np.mean(np.sum((2 * np.asarray(REAL).reshape(6, -1)) ** 2, 1))
  expected_r2 = 0.5 * np.mean(np.sum((2 * np.asarray(FAKE).reshape(6, -1)) ** 2, 1))
  key = jax.random.PRNGKey(0)
  np.testing.assert_allclose(regularizers.r1(quadratic_critic, REAL, FAKE, key),
                             expected_r1, rtol=1e-5)
  np.testing.assert_allclose(regularizers.r2(quadratic_critic, REAL, FAKE, key),
                             expected_r2, rtol=1e-5)


def test_wgan_gp_gradient_matches_finite_differences():
  key = jax.random.PRNGKey(3)

  def penalty(w):
    return regularizers.wgan_gp(lambda x: x.reshape(x.shape[0], -1) @ w,
                                REAL, FAKE, key)

  w = np.asarray(W, np.float64)
  grad = np.asarray(jax.grad(penalty)(jnp.asarray(w, jnp.float32)))
  eps = 1e-3
  numeric = [(penalty(jnp.asarray(w + eps * e, jnp.float32)) -
              penalty(jnp.asarray(w - eps * e, jnp.float32))) / (2 * eps)
             for e in np.eye(4)]
  np.testing.assert_allclose(grad, numeric, rtol=1e-2, atol=1e-3)


def test_safe_norm_has_finite_gradient_at_zero():
  grad = jax.grad(lambda x: regularizers.safe_norm(x, axis=0))(jnp.zeros(3))
  assert np.all(np.isfinite(grad))


@pytest.mark.parametrize('clip', [0.01, 0.5])
def test_weight_clipping_keeps_params_in_range(clip):
  tx = optimizers.create(
      optimizers_config(), weight_clip=clip)
  params = {'w': jnp.array([0.3, -2.0, 0.001])}
  state = tx.init(params)
  updates, _ = tx.update({'w': jnp.array([-10.0, 10.0, 0.0])}, state, params)
  new = jax.tree.map(lambda p, u: p + u, params, updates)
  assert float(jnp.max(jnp.abs(new['w']))) <= clip + 1e-7
  np.testing.assert_allclose(new["w"][:2], [clip, -clip], rtol=1e-5)


def optimizers_config():
  import ml_collections
  return ml_collections.ConfigDict(dict(name='sgd', learning_rate=0.1, b1=0.0,
                                        b2=0.0, eps=1e-8))
