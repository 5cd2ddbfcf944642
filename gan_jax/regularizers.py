"""Gradient penalties on the discriminator's input gradients.

Each penalty is a function `(d_fn, real, fake, key, axis_name) -> scalar`,
where `d_fn(images) -> outputs [B]` is the discriminator in training mode.
Per-sample input gradients come from one backward pass of `sum(d_fn(x))`:
this is exact when D has no layer that mixes examples (no batch norm in the
critic, as Gulrajani et al. 2017, Sec. 4 advise); with batch norm the
cross-example terms are included.
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


PENALTIES = {'wgan_gp': wgan_gp, 'zero_centered': zero_centered,
             'r1': r1, 'r2': r2}
