"""Closed-form values of the GAN objectives."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses
from gan_jax.errors import ConfigError

# Two discrete distributions on 3 points, as exact "batches": a batch of 10
# samples holds each point in proportion to its probability.
P_DATA = np.array([0.5, 0.3, 0.2])
P_G = np.array([0.2, 0.2, 0.6])
REAL_POINTS = np.repeat(np.arange(3), (P_DATA * 10).astype(int))
FAKE_POINTS = np.repeat(np.arange(3), (P_G * 10).astype(int))


def jsd(p, q):
  m = (p + q) / 2
  kl = lambda a, b: np.sum(a * np.log(a / b))
  return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def loss_d_of_logits(name):
  fn = losses.get_objective(name).fn
  return lambda logits: fn(logits[REAL_POINTS], logits[FAKE_POINTS])[0]


def test_minimax_value_at_half_is_minus_log4():
  zeros = jnp.zeros(8)  # logit 0 <=> D = 1/2
  loss_d, loss_g = losses.minimax(zeros, zeros)
  # loss_d = -V(D, G) and V = E log D(x) + E log(1 - D(G(z))) = -log 4.
  np.testing.assert_allclose(-loss_d, -math.log(4), rtol=1e-6)
  np.testing.assert_allclose(loss_g, -math.log(2), rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating(zeros, zeros)[1], math.log(2),
                             rtol=1e-6)


@pytest.mark.parametrize('name', ['minimax', 'non_saturating'])
def test_optimal_discriminator_and_jsd(name):
  # D*(x) = p_data / (p_data + p_g), i.e. logit* = log(p_data / p_g)
  # (Goodfellow et al. 2014, Prop. 1); there V = 2 JSD - log 4 (Thm. 1).
  optimal = jnp.log(P_DATA / P_G)
  loss = loss_d_of_logits(name)
  np.testing.assert_allclose(jax.grad(loss)(optimal), 0.0, atol=1e-6)
  np.testing.assert_allclose(-loss(optimal), 2 * jsd(P_DATA, P_G) - math.log(4),
                             rtol=1e-5)
  # ... and it is a minimum of the discriminator's loss.
  for delta in (0.1, -0.1):
    assert loss(optimal + delta * jnp.array([1.0, -1.0, 0.5])) > loss(optimal)


def test_least_squares_optimal_discriminator():
  # LSGAN with a=0, b=1: D*(x) = p_data / (p_data + p_g) (Mao et al. 2017, Eq. 4).
  optimal = jnp.asarray(P_DATA / (P_DATA + P_G))
  np.testing.assert_allclose(jax.grad(loss_d_of_logits('least_squares'))(optimal),
                             0.0, atol=1e-6)
  _, loss_g = losses.least_squares(jnp.ones(4), jnp.full(4, 0.25))
  np.testing.assert_allclose(loss_g, 0.5 * 0.75 ** 2, rtol=1e-6)


def test_wasserstein_and_hinge_values():
  real, fake = jnp.array([2.0, 0.0, 0.5]), jnp.array([-1.0, 0.5])
  loss_d, loss_g = losses.wasserstein(real, fake)
  np.testing.assert_allclose(loss_d, -0.25 - 2.5 / 3, rtol=1e-6)
  np.testing.assert_allclose(loss_g, 0.25, rtol=1e-6)
  loss_d, loss_g = losses.hinge(real, fake)
  # relu(1 - real) = [0, 1, 0.5]; relu(1 + fake) = [0, 1.5]
  np.testing.assert_allclose(loss_d, 0.5 + 0.75, rtol=1e-6)
  np.testing.assert_allclose(loss_g, 0.25, rtol=1e-6)


def test_non_saturating_fixes_vanishing_generator_gradient():
  # When D confidently rejects the samples (D(G(z)) -> 0), the minimax
  # generator gradient vanishes; the non-saturating one does not.
  fake = jnp.full(4, -15.0)
  g_minimax = jax.grad(lambda f: losses.minimax(jnp.zeros(4), f)[1])(fake)
  g_non_sat = jax.grad(lambda f: losses.non_saturating(jnp.zeros(4), f)[1])(fake)
  assert np.max(np.abs(g_minimax)) < 1e-6
  np.testing.assert_allclose(g_non_sat, -0.25, rtol=1e-5)


@pytest.mark.parametrize('name', sorted(losses.OBJECTIVES))
def test_losses_finite_for_saturated_logits(name):
  big = jnp.array([-200.0, 200.0])
  fn = losses.get_objective(name).fn
  values = fn(big, -big) + fn(-big, big)
  assert all(np.isfinite(v) for v in values)


def test_unknown_loss_name_lists_valid_names():
  with pytest.raises(ConfigError, match=r"unknown config.loss.name 'hing'.*hinge.*wgan_gp"):
    losses.get_objective('hing')
