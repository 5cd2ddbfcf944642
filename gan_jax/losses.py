"""GAN objectives as pure functions of discriminator outputs.

Every objective maps raw discriminator outputs (logits, or critic values for
the Wasserstein family), `d_real = D(x)` and `d_fake = D(G(z))`, both float
[B], to `(loss_d, loss_g)`: the scalars the discriminator and the generator
each *minimise*. Probabilities are D = sigmoid(logit), and log-probabilities
are computed with softplus so that saturated logits stay finite:
  log D = -softplus(-logit),   log(1 - D) = -softplus(logit).

An ablation over objectives is a change of `config.loss.name`; the update
step never branches on it.
"""
import dataclasses
from typing import Callable, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError

Array = jax.Array
LossFn = Callable[[Array, Array], Tuple[Array, Array]]


def _bce_discriminator(d_real: Array, d_fake: Array) -> Array:
  # -E log D(x) - E log(1 - D(G(z))) = -V(D, G)   (Goodfellow et al. 2014, Eq. 1)
  return jnp.mean(jax.nn.softplus(-d_real)) + jnp.mean(jax.nn.softplus(d_fake))


def minimax(d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
  """The original saturating game: G minimises E log(1 - D(G(z)))."""
  return _bce_discriminator(d_real, d_fake), -jnp.mean(jax.nn.softplus(d_fake))


def non_saturating(d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
  """G minimises -E log D(G(z)) (Goodfellow et al. 2014, Sec. 3): strong
  gradients early in training when D rejects the samples confidently."""
  return _bce_discriminator(d_real, d_fake), jnp.mean(jax.nn.softplus(-d_fake))


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


def least_squares(d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
  """LSGAN with targets a=0, b=c=1 (Mao et al. 2017, Eq. 2)."""
  loss_d = 0.5 * jnp.mean((d_real - 1.0) ** 2) + 0.5 * jnp.mean(d_fake ** 2)
  return loss_d, 0.5 * jnp.mean((d_fake - 1.0) ** 2)


@dataclasses.dataclass(frozen=True)
class Objective:
  """A registered objective and the constraints that define it.

  Attributes:
    fn: (d_real, d_fake) -> (loss_d, loss_g).
    penalty: gradient penalty the objective is defined with (a name in
      `regularizers.PENALTIES`), or 'none'.
    weight_clip: clip D's parameters to [-c, c] after each update (WGAN);
      None for no clipping.
    generator_uses_real: whether loss_g depends on d_real (relativistic
      objectives); when False the generator move does not run D on real data.
  """
  fn: LossFn
  penalty: str = 'none'
  weight_clip: Optional[float] = None
  generator_uses_real: bool = False


OBJECTIVES = {
    'minimax': Objective(minimax),
    'non_saturating': Objective(non_saturating),
    'wasserstein': Objective(wasserstein, weight_clip=0.01),
    'wgan_gp': Objective(wasserstein, penalty='wgan_gp'),
    'hinge': Objective(hinge),
    'least_squares': Objective(least_squares),
}


def get_objective(name: str) -> Objective:
  if name not in OBJECTIVES:
    raise ConfigError(f"unknown config.loss.name '{name}'; valid names: "
                      f"{', '.join(sorted(OBJECTIVES))}")
  return OBJECTIVES[name]
