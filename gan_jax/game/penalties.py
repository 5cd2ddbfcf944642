"""Gradient penalties on the discriminator's input gradients.

Each penalty is a function `(d_fn, real, fake, key, axis_name) -> scalar`,
where `d_fn(images) -> outputs [B]` is the discriminator in training mode.
Per-sample input gradients come from one backward pass of `sum(d_fn(x))`:
this is exact when D has no layer that mixes examples (no batch norm in the
critic, as Gulrajani et al. 2017, Sec. 4 advise); with batch norm the
cross-example terms are included. Norms go through `safe_norm`, so the
penalties' parameter gradients stay finite where D's input gradient is 0.

Registered names (`config.loss.penalty`), all per-sample:
  wgan_gp        (||grad D|| - 1)^2 on real/fake interpolates (Gulrajani et al.)
  zero_centered  ||grad D||^2 on real/fake interpolates (Thanh-Tung et al.)
  r1, r2         ||grad D||^2 / 2 on real / on fake data (Mescheder et al.)
  dragan         (||grad D|| - 1)^2 on perturbed real data (Kodali et al.)
Spectral normalisation (Miyato et al. 2018) is a model option instead:
`config.model.spectral_norm` (models/layers.py).
"""
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from gan_jax.models import layers

Array = jax.Array
DFn = Callable[[Array], Array]


def safe_norm(x: Array, axis, eps: float = 1e-12) -> Array:
  """L2 norm whose gradient is finite at x = 0 (plain sqrt is not)."""
  return jnp.sqrt(jnp.sum(x * x, axis=axis) + eps)


def input_gradient_norms(d_fn: DFn, x: Array) -> Array:
  """||grad_x D(x_i)||_2 per example, [B]."""
  grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
  return safe_norm(grads.reshape(x.shape[0], -1), axis=1)


def _interpolates(real: Array, fake: Array, key: Array,
                  axis_name: Optional[str]) -> Array:
  keys = layers.per_example_keys(key, real.shape[0], axis_name)
  eps = jax.vmap(lambda k: jax.random.uniform(k, ()))(keys)
  eps = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  return eps * real + (1.0 - eps) * fake


def wgan_gp(d_fn: DFn, real: Array, fake: Array, key: Array,
            axis_name: Optional[str] = None) -> Array:
  """E (||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake
  (Gulrajani et al. 2017, Eq. 3)."""
  norms = input_gradient_norms(d_fn, _interpolates(real, fake, key, axis_name))
  return jnp.mean((norms - 1.0) ** 2)


def zero_centered(d_fn: DFn, real: Array, fake: Array, key: Array,
                  axis_name: Optional[str] = None) -> Array:
  """E ||grad D(x_hat)||^2 on interpolates (zero-centred GP, Thanh-Tung et
  al. 2019)."""
  norms = input_gradient_norms(d_fn, _interpolates(real, fake, key, axis_name))
  return jnp.mean(norms ** 2)


def r1(d_fn: DFn, real: Array, fake: Array, key: Array,
       axis_name: Optional[str] = None) -> Array:
  """(1/2) E_data ||grad D(x)||^2 (Mescheder et al. 2018, Eq. 9)."""
  del fake, key, axis_name
  return 0.5 * jnp.mean(input_gradient_norms(d_fn, real) ** 2)


def r2(d_fn: DFn, real: Array, fake: Array, key: Array,
       axis_name: Optional[str] = None) -> Array:
  """(1/2) E_G ||grad D(G(z))||^2 (Mescheder et al. 2018, Eq. 10)."""
  del real, key, axis_name
  return 0.5 * jnp.mean(input_gradient_norms(d_fn, fake) ** 2)


def _global_std(x: Array, axis_name: Optional[str]) -> Array:
  """Standard deviation of all entries of the global batch (numpy's
  `x.std()` over every device's examples; equal local batches)."""
  mean = jnp.mean(x)
  if axis_name is not None:
    mean = jax.lax.pmean(mean, axis_name)
  var = jnp.mean((x - mean) ** 2)
  if axis_name is not None:
    var = jax.lax.pmean(var, axis_name)
  return jnp.sqrt(var)


def _dragan_perturbations(real: Array, key: Array,
                          axis_name: Optional[str]) -> Array:
  # x_hat = x + alpha * delta, delta = 0.5 std(x) U[0, 1]^d per entry and
  # alpha ~ U[0, 1] per example: the perturbation of the authors' reference
  # code (github.com/kodalinaveen3/DRAGAN), which the paper describes as
  # noise around the data.
  keys = layers.per_example_keys(key, real.shape[0], axis_name)

  def draw(k):
    alpha_key, delta_key = jax.random.split(k)
    return (jax.random.uniform(alpha_key, ()),
            jax.random.uniform(delta_key, real.shape[1:]))

  alpha, unit = jax.vmap(draw)(keys)
  alpha = alpha.reshape((-1,) + (1,) * (real.ndim - 1))
  delta = 0.5 * jax.lax.stop_gradient(_global_std(real, axis_name)) * unit
  return real + alpha * delta


def dragan(d_fn: DFn, real: Array, fake: Array, key: Array,
           axis_name: Optional[str] = None) -> Array:
  """E (||grad D(x_hat)|| - k)^2 with k = 1 at perturbed data points x_hat
  (DRAGAN, Kodali et al. 2017, arXiv:1705.07215; their weight lambda = 10 is
  config.loss.penalty_weight); x_hat as in `_dragan_perturbations`."""
  del fake
  x_hat = _dragan_perturbations(real, key, axis_name)
  norms = input_gradient_norms(d_fn, x_hat)
  return jnp.mean((norms - 1.0) ** 2)


PENALTIES = {'wgan_gp': wgan_gp, 'zero_centered': zero_centered,
             'r1': r1, 'r2': r2, 'dragan': dragan}
