"""Operations on a generator's latent codes z: the truncation trick and
interpolation paths between codes. Pure functions of keys and codes, float32
[..., latent_dim]; z's prior is `layers.sample_latent`'s, N(0, I) ('normal')
or uniform on [-1, 1) ('uniform').
"""
import jax
import jax.numpy as jnp

from gan_jax.errors import GanJaxError
from gan_jax.models import layers

# Below this sin(angle) two codes are taken as parallel: slerp's weights
# would divide by ~0, and the arc is the chord anyway.
_PARALLEL = 1e-6


def _check_distribution(distribution: str) -> None:
  if distribution not in layers.LATENT_DISTRIBUTIONS:
    raise GanJaxError(f"unknown config.model.latent_distribution '{distribution}'; "
                      f"valid: {', '.join(layers.LATENT_DISTRIBUTIONS)}")


def truncate(key: jax.Array, z: jax.Array, psi: float,
             distribution: str = 'normal') -> jax.Array:
  """The truncation trick: codes z [N, latent_dim] drawn from the prior
  restricted to the cube [-psi, psi]^latent_dim (psi > 0).

  'normal' (BigGAN, Brock et al. 2019, Sec. 3.1): each component with
  |z_i| > psi is resampled until it falls inside. Rather than a loop of
  redraws (unbounded, or clipped after a fixed number of rounds, which for
  small psi would pile mass on +-psi), the replacement is one exact draw
  from N(0, 1) truncated to (-psi, psi) (`jax.random.truncated_normal`, by
  the inverse CDF): the distribution that resampling converges to.
  Components already inside are kept, so a psi above every |z_i| is the
  identity. Each row's replacements come from `key` folded with the row's
  index, so a row does not depend on how many rows are drawn with it.

  'uniform': the uniform prior on [-1, 1) restricted to [-psi, psi) is
  uniform there, and psi * z is an exact draw of it: z is scaled toward 0
  (identity for psi >= 1; `key` unused). Rejection-style resampling would
  give the same distribution but move the codes to unrelated points;
  scaling keeps each sample's code on its ray, as in StyleGAN's truncation
  toward the mean.

  Raises GanJaxError for psi <= 0 or an unknown distribution.
  """
  _check_distribution(distribution)
  if not psi > 0:
    raise GanJaxError(f'--truncation must be > 0 (the bound psi on each |z_i|), got {psi}')
  if distribution == 'uniform':
    return z * min(float(psi), 1.0)
  keys = layers.per_example_keys(key, z.shape[0], None)
  inside = jax.vmap(lambda k: jax.random.truncated_normal(
      k, -psi, psi, z.shape[1:], z.dtype))(keys)
  return jnp.where(jnp.abs(z) > psi, inside, z)


def lerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
  """Linear interpolation: codes z0, z1 [N, D], fractions t [K] ->
  [N, K, D], (1 - t) z0 + t z1."""
  t = jnp.asarray(t, z0.dtype)[None, :, None]
  return (1.0 - t) * z0[:, None, :] + t * z1[:, None, :]


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical linear interpolation (Shoemake 1985; for GAN latents, White
  2016, "Sampling Generative Networks"): codes z0, z1 [N, D], fractions t
  [K] -> [N, K, D],

    slerp(z0, z1; t) = sin((1 - t) W) / sin W * z0 + sin(t W) / sin W * z1,

  W the angle between z0 and z1. The path turns at constant angular speed
  (the angle to z0 is t W) and, for |z0| = |z1| = r, stays on the sphere of
  radius r: a Gaussian code has norm about sqrt(D), and the straight line
  between two of them passes through the low-norm interior, where G saw no
  codes in training. Parallel codes (sin W < 1e-6) are joined linearly.
  """
  t = jnp.asarray(t, z0.dtype)[None, :, None]
  norm0 = jnp.linalg.norm(z0, axis=-1, keepdims=True)
  norm1 = jnp.linalg.norm(z1, axis=-1, keepdims=True)
  cos = jnp.sum(z0 * z1, axis=-1, keepdims=True) / jnp.maximum(norm0 * norm1, 1e-30)
  angle = jnp.arccos(jnp.clip(cos, -1.0, 1.0))[:, None, :]   # [N, 1, 1]
  sin = jnp.sin(angle)
  parallel = sin < _PARALLEL
  safe_sin = jnp.where(parallel, 1.0, sin)
  w0 = jnp.where(parallel, 1.0 - t, jnp.sin((1.0 - t) * angle) / safe_sin)
  w1 = jnp.where(parallel, t, jnp.sin(t * angle) / safe_sin)
  return w0 * z0[:, None, :] + w1 * z1[:, None, :]


def interpolate(z0: jax.Array, z1: jax.Array, steps: int,
                distribution: str = 'normal') -> jax.Array:
  """`steps` (>= 2) evenly spaced codes from z0 to z1, both ends included:
  [N, D] pairs -> [N, steps, D]. Spherical (`slerp`) for Gaussian z;
  linear (`lerp`) for uniform z, whose cube [-1, 1]^D is convex, so the
  line stays where G was trained and slerp's norm argument does not apply."""
  _check_distribution(distribution)
  if steps < 2:
    raise GanJaxError(f'--interpolate needs at least 2 steps (both ends), got {steps}')
  t = jnp.linspace(0.0, 1.0, steps)
  return (slerp if distribution == 'normal' else lerp)(z0, z1, t)
