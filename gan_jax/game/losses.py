"""GAN objectives as pure functions of discriminator outputs.

Every objective maps raw discriminator outputs (logits, or critic values for
the Wasserstein family), `d_real = D(x)` and `d_fake = D(G(z))`, both float
[B], to `(loss_d, loss_g)`: the scalars the discriminator and the generator
each *minimise*. Probabilities are D = sigmoid(logit), and log-probabilities
are computed with softplus so that saturated logits stay finite:
  log D = -softplus(-logit),   log(1 - D) = -softplus(logit).

Registered names (`config.loss.name`):
  minimax, non_saturating   Goodfellow et al. 2014 (saturating / -log D(G(z)))
  wasserstein, wgan_gp      Arjovsky et al. 2017; Gulrajani et al. 2017
  hinge                     Lim & Ye 2017; Miyato et al. 2018
  least_squares             Mao et al. 2017
  fgan_<f>                  f-GAN (Nowozin et al. 2016) for the divergence f in
                            kl, reverse_kl, pearson, neyman, hellinger, js, gan;
                            G uses the paper's alternative loss -E_Q g_f(V)
  fgan_<f>_saturating       ... G minimises the bound itself, -E_Q f*(g_f(V))
  rsgan                     relativistic standard GAN (Jolicoeur-Martineau 2018)
  rasgan, ralsgan, rahinge  relativistic average standard / LS / hinge GAN

An ablation over objectives is a change of `config.loss.name`; the update
step never branches on it. One-sided label smoothing (Salimans et al. 2016,
Sec. 3.4; `config.loss.real_label`) is a parameter of the objectives where a
soft real target has a standard meaning: the cross-entropy ones (minimax,
non_saturating, fgan_gan[_saturating], whose D loss is the same BCE) and
least_squares (target b = alpha); the others refuse it. The relativistic
average objectives use batch means of D's outputs; called as
`objective(d_real, d_fake, axis_name)` inside pmap, the means run over every
device's examples.
"""
import dataclasses
import functools
import math
from typing import Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError

Array = jax.Array
LossFn = Callable[..., Tuple[Array, Array]]


def _bce_discriminator(d_real: Array, d_fake: Array,
                       real_label: float = 1.0) -> Array:
  # -E log D(x) - E log(1 - D(G(z))) = -V(D, G)   (Goodfellow et al. 2014, Eq. 1)
  real_term = jax.nn.softplus(-d_real)
  if real_label != 1.0:
    # One-sided label smoothing (Salimans et al. 2016, Sec. 3.4): the real
    # examples' target is alpha, -alpha log D(x) - (1 - alpha) log(1 - D(x));
    # the optimum is D*(x) = alpha p_data / (p_data + p_g).
    real_term = (real_label * real_term +
                 (1.0 - real_label) * jax.nn.softplus(d_real))
  return jnp.mean(real_term) + jnp.mean(jax.nn.softplus(d_fake))


def minimax(d_real: Array, d_fake: Array,
            real_label: float = 1.0) -> Tuple[Array, Array]:
  """The original saturating game: G minimises E log(1 - D(G(z))).
  `real_label`: D's target on real examples (1 = the game itself)."""
  return (_bce_discriminator(d_real, d_fake, real_label),
          -jnp.mean(jax.nn.softplus(d_fake)))


def non_saturating(d_real: Array, d_fake: Array,
                   real_label: float = 1.0) -> Tuple[Array, Array]:
  """G minimises -E log D(G(z)) (Goodfellow et al. 2014, Sec. 3): strong
  gradients early in training when D rejects the samples confidently.
  `real_label`: D's target on real examples."""
  return (_bce_discriminator(d_real, d_fake, real_label),
          jnp.mean(jax.nn.softplus(-d_fake)))


def wasserstein(d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
  """Kantorovich-Rubinstein dual (Arjovsky et al. 2017, Eq. 3): the critic
  maximises E D(x) - E D(G(z)); needs a Lipschitz constraint (weight clipping
  or a gradient penalty)."""
  return jnp.mean(d_fake) - jnp.mean(d_real), -jnp.mean(d_fake)


def hinge(d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
  """Hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""
  loss_d = (jnp.mean(jax.nn.relu(1.0 - d_real)) +
            jnp.mean(jax.nn.relu(1.0 + d_fake)))
  return loss_d, -jnp.mean(d_fake)


def least_squares(d_real: Array, d_fake: Array,
                  real_label: float = 1.0) -> Tuple[Array, Array]:
  """LSGAN with targets a=0, b=c=1 (Mao et al. 2017, Eq. 2); `real_label`
  sets D's real target b (one-sided label smoothing: D*(x) = b p_data /
  (p_data + p_g)), G's target c stays 1."""
  loss_d = (0.5 * jnp.mean((d_real - real_label) ** 2) +
            0.5 * jnp.mean(d_fake ** 2))
  return loss_d, 0.5 * jnp.mean((d_fake - 1.0) ** 2)


# ------------------------------------------------------------------ f-GAN ----
@dataclasses.dataclass(frozen=True)
class FDivergence:
  """The output activation T = g_f(V) of Nowozin et al. 2016, Table 2, and the
  Fenchel conjugate along it, f*(g_f(V)), both as functions of the raw output
  V in R. The composition is simplified by hand so that it is computed
  without cancellation (e.g. Hellinger: t / (1 - t) at t = 1 - e^-v is
  e^v - 1, i.e. expm1(v)); it still grows exponentially where f* does."""
  activation: Callable[[Array], Array]
  conjugate: Callable[[Array], Array]


_LOG2 = math.log(2.0)
F_DIVERGENCES: Dict[str, FDivergence] = {
    # f(u) = u log u;  g_f(v) = v;  f*(t) = exp(t - 1).
    'kl': FDivergence(lambda v: v, lambda v: jnp.exp(v - 1.0)),
    # f(u) = -log u;  g_f(v) = -exp(-v);  f*(t) = -1 - log(-t).
    'reverse_kl': FDivergence(lambda v: -jnp.exp(-v), lambda v: v - 1.0),
    # f(u) = (u - 1)^2;  g_f(v) = v;  f*(t) = t^2 / 4 + t.
    'pearson': FDivergence(lambda v: v, lambda v: 0.25 * v * v + v),
    # f(u) = (1 - u)^2 / u;  g_f(v) = 1 - exp(-v);  f*(t) = 2 - 2 sqrt(1 - t).
    'neyman': FDivergence(lambda v: -jnp.expm1(-v),
                          lambda v: -2.0 * jnp.expm1(-0.5 * v)),
    # f(u) = (sqrt(u) - 1)^2;  g_f(v) = 1 - exp(-v);  f*(t) = t / (1 - t).
    'hellinger': FDivergence(lambda v: -jnp.expm1(-v), jnp.expm1),
    # f(u) = -(u + 1) log((1 + u) / 2) + u log u, whose D_f is
    # KL(P || M) + KL(Q || M) = 2 JSD (M = (P + Q) / 2);
    # g_f(v) = log 2 - log(1 + exp(-v));  f*(t) = -log(2 - exp(t)).
    'js': FDivergence(lambda v: _LOG2 - jax.nn.softplus(-v),
                      lambda v: jax.nn.softplus(v) - _LOG2),
    # f(u) = u log u - (u + 1) log(u + 1);  g_f(v) = -log(1 + exp(-v));
    # f*(t) = -log(1 - exp(t)).  The bound is 2 JSD - log 4.
    'gan': FDivergence(lambda v: -jax.nn.softplus(-v), jax.nn.softplus),
}


def f_gan(d_real: Array, d_fake: Array, divergence: str,
          saturating: bool = False, real_label: float = 1.0) -> Tuple[Array, Array]:
  """Variational divergence minimisation (Nowozin et al. 2016).

  D (the variational function V) maximises Eq. 6,
    F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))]  <=  D_f(P || Q),
  with equality at the optimal T* = g_f(V*) = f'(p / q); loss_d = -F. G
  minimises F's second term, -E_Q[f*(g_f(V))], when `saturating`; otherwise
  the paper's alternative, -E_Q[g_f(V(G(z)))] (Sec. 3.2, used in its
  experiments; for 'gan' it is the non-saturating loss).

  `real_label` alpha != 1 replaces the real term by E_P[alpha g_f(V) - (1 -
  alpha) f*(g_f(V))]: for 'gan' (g_f = log D, f* o g_f = -log(1 - D)) that
  is one-sided label smoothing of the BCE; the registry allows it only there.
  """
  div = F_DIVERGENCES[divergence]
  conjugate_fake = div.conjugate(d_fake)
  real_term = div.activation(d_real)
  if real_label != 1.0:
    real_term = (real_label * real_term -
                 (1.0 - real_label) * div.conjugate(d_real))
  bound = jnp.mean(real_term) - jnp.mean(conjugate_fake)
  if saturating:
    loss_g = -jnp.mean(conjugate_fake)
  else:
    loss_g = -jnp.mean(div.activation(d_fake))
  return -bound, loss_g


# ----------------------------------------------------------- relativistic ----
def _global_mean(x: Array, axis_name: Optional[str]) -> Array:
  """Mean over the global batch: this device's examples and, inside pmap with
  `axis_name`, every other device's (equal local batches)."""
  m = jnp.mean(x)
  return m if axis_name is None else jax.lax.pmean(m, axis_name)


def rsgan(d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
  """Relativistic standard GAN (Jolicoeur-Martineau 2018, arXiv:1807.00734):
  D(x_r, x_f) = sigmoid(C(x_r) - C(x_f)) on pairs (example i of each batch);
    loss_d = -E log sigmoid(C(x_r) - C(x_f)),
    loss_g = -E log sigmoid(C(x_f) - C(x_r))."""
  return (jnp.mean(jax.nn.softplus(d_fake - d_real)),
          jnp.mean(jax.nn.softplus(d_real - d_fake)))


def _relative_to_average(d_real, d_fake, axis_name):
  # C(x_r) - E C(x_f) and C(x_f) - E C(x_r), the relativistic average
  # discriminator's logits (Jolicoeur-Martineau 2018, RaD).
  return (d_real - _global_mean(d_fake, axis_name),
          d_fake - _global_mean(d_real, axis_name))


def rasgan(d_real: Array, d_fake: Array,
           axis_name: Optional[str] = None) -> Tuple[Array, Array]:
  """Relativistic average standard GAN: with r = C(x_r) - E C(x_f) and
  f = C(x_f) - E C(x_r),
    loss_d = -E log sigmoid(r) - E log(1 - sigmoid(f)),
    loss_g = -E log sigmoid(f) - E log(1 - sigmoid(r))."""
  r, f = _relative_to_average(d_real, d_fake, axis_name)
  sp = jax.nn.softplus
  return (jnp.mean(sp(-r)) + jnp.mean(sp(f)),
          jnp.mean(sp(-f)) + jnp.mean(sp(r)))


def ralsgan(d_real: Array, d_fake: Array,
            axis_name: Optional[str] = None) -> Tuple[Array, Array]:
  """Relativistic average LSGAN: loss_d = E (r - 1)^2 + E (f + 1)^2,
  loss_g = E (f - 1)^2 + E (r + 1)^2 (r, f as in `rasgan`)."""
  r, f = _relative_to_average(d_real, d_fake, axis_name)
  return (jnp.mean((r - 1.0) ** 2) + jnp.mean((f + 1.0) ** 2),
          jnp.mean((f - 1.0) ** 2) + jnp.mean((r + 1.0) ** 2))


def rahinge(d_real: Array, d_fake: Array,
            axis_name: Optional[str] = None) -> Tuple[Array, Array]:
  """Relativistic average hinge GAN: loss_d = E max(0, 1 - r) +
  E max(0, 1 + f), loss_g = E max(0, 1 - f) + E max(0, 1 + r)."""
  r, f = _relative_to_average(d_real, d_fake, axis_name)
  relu = jax.nn.relu
  return (jnp.mean(relu(1.0 - r)) + jnp.mean(relu(1.0 + f)),
          jnp.mean(relu(1.0 - f)) + jnp.mean(relu(1.0 + r)))


# --------------------------------------------------------------- registry ----
@dataclasses.dataclass(frozen=True)
class Objective:
  """A registered objective and the constraints that define it.

  Attributes:
    fn: (d_real, d_fake) -> (loss_d, loss_g).
    penalty: gradient penalty the objective is defined with (a name in
      `penalties.PENALTIES`), or 'none'.
    weight_clip: clip D's parameters to [-c, c] after each update (WGAN);
      None for no clipping.
    generator_uses_real: whether loss_g depends on d_real (relativistic
      objectives); when False the generator move does not run D on real data.
    uses_batch_means: whether the losses use means of D's outputs over the
      batch (relativistic average); `fn` then takes `axis_name` so that the
      means run over all devices' examples. Call through `__call__`.
    supports_real_label: whether `fn` takes `real_label`, D's target on real
      examples (one-sided label smoothing has a standard form).
    real_label: that target, set by `with_real_label`; 1 calls `fn` without
      it, so the objective is the unsmoothed one bit for bit.
  """
  fn: LossFn
  penalty: str = 'none'
  weight_clip: Optional[float] = None
  generator_uses_real: bool = False
  uses_batch_means: bool = False
  supports_real_label: bool = False
  real_label: float = 1.0

  def __call__(self, d_real: Array, d_fake: Array,
               axis_name: Optional[str] = None) -> Tuple[Array, Array]:
    """(loss_d, loss_g) on this device's outputs d_real, d_fake [B]; batch
    means are global over `axis_name` (the pmap axis) where there are any."""
    kwargs = {} if self.real_label == 1.0 else {'real_label': self.real_label}
    if self.uses_batch_means:
      kwargs['axis_name'] = axis_name
    return self.fn(d_real, d_fake, **kwargs)

  def with_real_label(self, real_label: float) -> 'Objective':
    """This objective with D's real target `real_label` (one-sided label
    smoothing, Salimans et al. 2016, Sec. 3.4; G's loss is unchanged); itself
    for 1."""
    if real_label == 1.0:
      return self
    if not self.supports_real_label:  # get_objective refuses it first, for configs
      raise ValueError('this objective has no soft real label; use one of '
                       + ', '.join(sorted(REAL_LABEL_OBJECTIVES)))
    return dataclasses.replace(self, real_label=float(real_label))


def _f_gan_objectives() -> Dict[str, Objective]:
  objectives = {}
  for name in F_DIVERGENCES:
    for saturating, suffix in ((False, ''), (True, '_saturating')):
      # Label smoothing only where the bound is the GAN's BCE.
      objectives[f'fgan_{name}{suffix}'] = Objective(
          functools.partial(f_gan, divergence=name, saturating=saturating),
          supports_real_label=name == 'gan')
  return objectives


OBJECTIVES = {
    'minimax': Objective(minimax, supports_real_label=True),
    'non_saturating': Objective(non_saturating, supports_real_label=True),
    'wasserstein': Objective(wasserstein, weight_clip=0.01),
    'wgan_gp': Objective(wasserstein, penalty='wgan_gp'),
    'hinge': Objective(hinge),
    'least_squares': Objective(least_squares, supports_real_label=True),
    **_f_gan_objectives(),
    'rsgan': Objective(rsgan, generator_uses_real=True),
    'rasgan': Objective(rasgan, generator_uses_real=True,
                        uses_batch_means=True),
    'ralsgan': Objective(ralsgan, generator_uses_real=True,
                         uses_batch_means=True),
    'rahinge': Objective(rahinge, generator_uses_real=True,
                         uses_batch_means=True),
}
# The objectives with a standard soft real label; hinge, Wasserstein, the
# other f-divergences and the relativistic games have none.
REAL_LABEL_OBJECTIVES = tuple(sorted(
    name for name, objective in OBJECTIVES.items() if objective.supports_real_label))


def get_objective(name: str, real_label: float = 1.0) -> Objective:
  """The objective `config.loss.name`, with D's real target `real_label`
  (`config.loss.real_label`). Raises ConfigError for an unknown name, or a
  real_label != 1 for an objective without a soft real label."""
  if name not in OBJECTIVES:
    raise ConfigError(f"unknown config.loss.name '{name}'; valid names: "
                      f"{', '.join(sorted(OBJECTIVES))}")
  objective = OBJECTIVES[name]
  if real_label != 1.0 and not objective.supports_real_label:
    raise ConfigError(
        f"config.loss.real_label={real_label}: one-sided label smoothing has no "
        f"standard form for config.loss.name '{name}'; set it to 1.0 or use one "
        f"of {', '.join(REAL_LABEL_OBJECTIVES)}")
  return objective.with_real_label(real_label)
