"""Closed-form values of the GAN objectives."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.game import losses
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


# f-GAN divergences whose activation or conjugate is exponential in V (Table
# 2): their losses are finite, but not representable in float32 beyond |V| ~ 88.
EXPONENTIAL = ('kl', 'reverse_kl', 'neyman', 'hellinger')


@pytest.mark.parametrize('name', sorted(losses.OBJECTIVES))
def test_losses_finite_for_saturated_logits(name):
  exponential = any(name.startswith(f'fgan_{d}') for d in EXPONENTIAL)
  big = jnp.array([-50.0, 50.0]) if exponential else jnp.array([-200.0, 200.0])
  objective = losses.get_objective(name)
  for d_real, d_fake in ((big, -big), (-big, big)):
    values = objective(d_real, d_fake)
    grads = jax.grad(lambda r, f: sum(objective(r, f)), argnums=(0, 1))(
        d_real, d_fake)
    assert all(np.all(np.isfinite(v)) for v in values + grads)


# ------------------------------------------------------------------ f-GAN ----
# Per divergence (Nowozin et al. 2016, Tables 1-2): the generator function f,
# the optimal V* as a function of the density ratio r = p / q (so that
# g_f(V*) = T* = f'(r)), and the paper's g_f and f* as written there, to
# check the fused forms in losses.py against.
F_GAN = {
    'kl': (lambda u: u * np.log(u), lambda r: 1 + np.log(r),
           lambda v: v, lambda t: np.exp(t - 1)),
    'reverse_kl': (lambda u: -np.log(u), np.log,
                   lambda v: -np.exp(-v), lambda t: -1 - np.log(-t)),
    'pearson': (lambda u: (u - 1) ** 2, lambda r: 2 * (r - 1),
                lambda v: v, lambda t: t ** 2 / 4 + t),
    'neyman': (lambda u: (1 - u) ** 2 / u, lambda r: 2 * np.log(r),
               lambda v: 1 - np.exp(-v), lambda t: 2 - 2 * np.sqrt(1 - t)),
    'hellinger': (lambda u: (np.sqrt(u) - 1) ** 2, lambda r: 0.5 * np.log(r),
                  lambda v: 1 - np.exp(-v), lambda t: t / (1 - t)),
    'js': (lambda u: -(u + 1) * np.log((1 + u) / 2) + u * np.log(u), np.log,
           lambda v: np.log(2) - np.log1p(np.exp(-v)),
           lambda t: -np.log(2 - np.exp(t))),
    'gan': (lambda u: u * np.log(u) - (u + 1) * np.log(u + 1), np.log,
            lambda v: -np.log1p(np.exp(-v)), lambda t: -np.log(1 - np.exp(t))),
}


def test_every_f_divergence_is_registered():
  assert set(F_GAN) == set(losses.F_DIVERGENCES)
  for name in F_GAN:
    assert f'fgan_{name}' in losses.OBJECTIVES
    assert f'fgan_{name}_saturating' in losses.OBJECTIVES


@pytest.mark.parametrize('divergence', sorted(F_GAN))
def test_f_gan_bound_is_tight_at_the_optimal_critic(divergence):
  f, optimal_v, _, _ = F_GAN[divergence]
  # D_f(P || Q) = sum_x q(x) f(p(x) / q(x)), in closed form.
  d_f = np.sum(P_G * f(P_DATA / P_G))
  bound = lambda v: -loss_d_of_logits(f'fgan_{divergence}')(v)
  optimal = jnp.asarray(optimal_v(P_DATA / P_G), jnp.float32)
  np.testing.assert_allclose(bound(optimal), d_f, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jax.grad(bound)(optimal), 0.0, atol=1e-5)
  # Any other critic gives a lower bound (F is concave in T = g_f(V)).
  rng = np.random.default_rng(0)
  for _ in range(5):
    delta = jnp.asarray(0.1 * rng.standard_normal(3), jnp.float32)
    assert bound(optimal + delta) < d_f - 1e-6


def test_f_gan_js_and_gan_divergences_are_the_jsd():
  r = P_DATA / P_G
  np.testing.assert_allclose(np.sum(P_G * F_GAN['js'][0](r)),
                             2 * jsd(P_DATA, P_G))
  np.testing.assert_allclose(np.sum(P_G * F_GAN['gan'][0](r)),
                             2 * jsd(P_DATA, P_G) - math.log(4))


@pytest.mark.parametrize('divergence', sorted(F_GAN))
def test_f_gan_fused_forms_match_the_papers_g_f_and_conjugate(divergence):
  _, _, activation, conjugate = F_GAN[divergence]
  v = np.linspace(-3.0, 3.0, 13)
  div = losses.F_DIVERGENCES[divergence]
  np.testing.assert_allclose(div.activation(jnp.asarray(v, jnp.float32)),
                             activation(v), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(div.conjugate(jnp.asarray(v, jnp.float32)),
                             conjugate(activation(v)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('divergence', sorted(F_GAN))
def test_f_gan_generator_losses(divergence):
  _, _, activation, conjugate = F_GAN[divergence]
  d_real, d_fake = jnp.array([0.3, -1.0]), jnp.array([0.5, -0.2, 1.5])
  fake = np.asarray(d_fake, np.float64)
  # Default: the alternative -E_Q g_f(V) (Sec. 3.2); saturating: F's own term.
  _, loss_g = losses.get_objective(f'fgan_{divergence}')(d_real, d_fake)
  np.testing.assert_allclose(loss_g, -np.mean(activation(fake)), rtol=1e-5)
  saturating = losses.get_objective(f'fgan_{divergence}_saturating')
  _, loss_g = saturating(d_real, d_fake)
  np.testing.assert_allclose(loss_g, -np.mean(conjugate(activation(fake))),
                             rtol=1e-5)


def test_f_gan_gan_divergence_is_the_original_gan():
  real, fake = jnp.array([0.3, -1.0, 4.0]), jnp.array([0.5, -2.0, 1.5])
  for f_name, name in (('fgan_gan', 'non_saturating'),
                       ('fgan_gan_saturating', 'minimax')):
    np.testing.assert_allclose(losses.get_objective(f_name)(real, fake),
                               losses.get_objective(name)(real, fake),
                               rtol=1e-6)


# ----------------------------------------------------------- relativistic ----
SP = lambda x: math.log1p(math.exp(x))  # softplus
# C(x_r) = [1, -0.5], C(x_f) = [0, 2]: E C(x_r) = 0.25, E C(x_f) = 1, so
# r = C(x_r) - E C(x_f) = [0, -1.5] and f = C(x_f) - E C(x_r) = [-0.25, 1.75].
C_REAL, C_FAKE = jnp.array([1.0, -0.5]), jnp.array([0.0, 2.0])
RELATIVISTIC = {
    # -E log sigmoid(C_r - C_f) on pairs, -E log sigmoid(C_f - C_r).
    'rsgan': ((SP(-1.0) + SP(2.5)) / 2, (SP(1.0) + SP(-2.5)) / 2),
    # E sp(-r) + E sp(f), E sp(-f) + E sp(r).
    'rasgan': ((SP(0.0) + SP(1.5)) / 2 + (SP(-0.25) + SP(1.75)) / 2,
               (SP(0.25) + SP(-1.75)) / 2 + (SP(0.0) + SP(-1.5)) / 2),
    # E (r - 1)^2 + E (f + 1)^2 = (1 + 6.25) / 2 + (0.5625 + 7.5625) / 2;
    # E (f - 1)^2 + E (r + 1)^2 = (1.5625 + 0.5625) / 2 + (1 + 0.25) / 2.
    'ralsgan': (7.6875, 1.6875),
    # E relu(1 - r) + E relu(1 + f) = (1 + 2.5) / 2 + (0.75 + 2.75) / 2;
    # E relu(1 - f) + E relu(1 + r) = (1.25 + 0) / 2 + (1 + 0) / 2.
    'rahinge': (3.5, 1.125),
}


@pytest.mark.parametrize('name', sorted(RELATIVISTIC))
def test_relativistic_closed_forms(name):
  objective = losses.get_objective(name)
  assert objective.generator_uses_real
  np.testing.assert_allclose(objective(C_REAL, C_FAKE), RELATIVISTIC[name],
                             rtol=1e-6)


@pytest.mark.parametrize('name', ['rasgan', 'ralsgan', 'rahinge', 'rsgan',
                                  'fgan_kl'])
def test_batch_means_are_global_across_devices(name):
  # With `axis_name`, E C(x_f) and E C(x_r) run over every device's examples:
  # two devices compute the one-device losses and (pmean-ed) gradients.
  objective = losses.get_objective(name)
  rng = np.random.default_rng(0)
  real, fake = rng.standard_normal((2, 8, 3)).astype(np.float32)
  w = jnp.array([0.5, -1.0, 0.3])

  def losses_and_grads(w, real, fake, axis_name=None):
    def loss(w, which):
      return objective(real @ w, fake @ w, axis_name)[which]
    values = [loss(w, 0), loss(w, 1)]
    grads = [jax.grad(loss)(w, 0), jax.grad(loss)(w, 1)]
    if axis_name:
      values, grads = jax.lax.pmean((values, grads), axis_name)
    return values, grads

  expected = losses_and_grads(w, real, fake)
  sharded = jax.pmap(
      lambda r, f: losses_and_grads(w, r, f, 'batch'), axis_name='batch',
      devices=jax.devices()[:2])(real.reshape(2, 4, 3), fake.reshape(2, 4, 3))
  for got, want in zip(jax.tree.leaves(sharded), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)


def test_unknown_loss_name_lists_valid_names():
  with pytest.raises(ConfigError, match=r"unknown config.loss.name 'hing'; "
                     r"valid names: .*fgan_kl.*hinge.*rahinge.*wgan_gp$"):
    losses.get_objective('hing')


# ------------------------------------------ one-sided label smoothing ----
# Objectives whose D loss is the BCE (fgan_gan's bound is the GAN's V), and
# LSGAN: the ones with a soft real target (Salimans et al. 2016, Sec. 3.4).
BCE_OBJECTIVES = ('minimax', 'non_saturating', 'fgan_gan', 'fgan_gan_saturating')


def smoothed_loss_d_of_logits(name, alpha):
  objective = losses.get_objective(name, alpha)
  return lambda logits: objective(logits[REAL_POINTS], logits[FAKE_POINTS])[0]


@pytest.mark.parametrize('name', BCE_OBJECTIVES)
def test_smoothed_bce_closed_form(name):
  # -alpha log D(x) - (1 - alpha) log(1 - D(x)) on reals, -log(1 - D(G(z)))
  # on fakes; G's loss unchanged. Saturated logits stay finite.
  alpha = 0.9
  real = np.array([2.0, -1.0, 0.3, 60.0, -60.0])
  fake = np.array([0.5, -2.0, 1.0])
  neg_log_d = lambda t: np.logaddexp(0.0, -t)           # -log sigmoid(t)
  neg_log_1m_d = lambda t: np.logaddexp(0.0, t)         # -log(1 - sigmoid(t))
  expected = (np.mean(alpha * neg_log_d(real) + (1 - alpha) * neg_log_1m_d(real)) +
              np.mean(neg_log_1m_d(fake)))
  smoothed = losses.get_objective(name, alpha)
  loss_d, loss_g = smoothed(jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32))
  np.testing.assert_allclose(loss_d, expected, rtol=1e-6)
  _, loss_g_plain = losses.get_objective(name)(jnp.asarray(real, jnp.float32),
                                               jnp.asarray(fake, jnp.float32))
  assert float(loss_g) == float(loss_g_plain)


@pytest.mark.parametrize('alpha', [0.9, 0.7])
@pytest.mark.parametrize('name', BCE_OBJECTIVES + ('least_squares',))
def test_smoothed_optimal_discriminator(name, alpha):
  # Pointwise, p [alpha sp(-t) + (1 - alpha) sp(t)] + q sp(t) has derivative
  # -alpha p + sigmoid(t) (p + q): D*(x) = alpha p / (p + q) (Salimans et
  # al. 2016, Sec. 3.4), i.e. logit* = log(alpha p / ((1 - alpha) p + q)).
  # LSGAN with real target alpha: p (t - alpha)^2 + q t^2 gives the same D*.
  d_star = alpha * P_DATA / (P_DATA + P_G)
  optimal = jnp.asarray(d_star if name == 'least_squares'
                        else np.log(d_star / (1 - d_star)), jnp.float32)
  loss = smoothed_loss_d_of_logits(name, alpha)
  np.testing.assert_allclose(jax.grad(loss)(optimal), 0.0, atol=1e-6)
  # ... a minimum, unlike the unsmoothed optimum logit log(p / q).
  for delta in (0.1, -0.1):
    assert loss(optimal + delta * jnp.array([1.0, -1.0, 0.5])) > loss(optimal)
  unsmoothed = (P_DATA / (P_DATA + P_G) if name == 'least_squares'
                else np.log(P_DATA / P_G))
  assert np.max(np.abs(jax.grad(loss)(jnp.asarray(unsmoothed, jnp.float32)))) > 1e-3


@pytest.mark.parametrize('name', sorted(losses.OBJECTIVES))
def test_real_label_one_is_the_objective_itself(name):
  assert losses.get_objective(name, 1.0) is losses.OBJECTIVES[name]


WITHOUT_SOFT_LABEL = sorted(set(losses.OBJECTIVES) - set(losses.REAL_LABEL_OBJECTIVES))


@pytest.mark.parametrize('name', WITHOUT_SOFT_LABEL)
def test_real_label_refused_without_a_standard_soft_target(name):
  assert set(losses.REAL_LABEL_OBJECTIVES) == set(BCE_OBJECTIVES) | {'least_squares'}
  with pytest.raises(ConfigError) as error:
    losses.get_objective(name, 0.9)
  assert str(error.value) == (
      f"config.loss.real_label=0.9: one-sided label smoothing has no standard form "
      f"for config.loss.name '{name}'; set it to 1.0 or use one of fgan_gan, "
      'fgan_gan_saturating, least_squares, minimax, non_saturating')
