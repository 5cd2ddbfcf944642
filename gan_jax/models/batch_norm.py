"""Batch norm (Ioffe & Szegedy 2015) with its reductions as matrix products.

A drop-in for `flax.linen.BatchNorm` as the models use it (normalisation over
every axis but the last, statistics synchronised over `axis_name`, running
averages in 'batch_stats'), with the same parameter and statistic names,
initialisers and arithmetic: var = E[x^2] - E[x]^2 (flax's fast variance),
y = (x - mean) / sqrt(var + eps) * scale + bias.

Why: XLA:CPU lowers the per-channel sums over batch, height and width (a
column reduction of the [N, C] view) to tree reductions, several times slower
than the same sums as a product with a vector of ones, which runs on the
matmul kernel (`python -m gan_jax.benchmark ... --breakdown_layers` times
each batch norm of a step).
The gradient is written out (`jax.custom_vjp`) so that its sums are products
too: d bias = sum dy, d scale = sum dy * x_hat, and
dx = scale / sigma * (dy - d bias / N - x_hat * d scale / N).
It is differentiable again (gradient penalties through D's batch norm); it
has no forward-mode (jvp) rule.
Elsewhere than on the CPU the sums are XLA's reductions.
"""
import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
from jax import lax
import flax.linen as nn


def _column_sums(x: jax.Array) -> jax.Array:
  """x [N, C] -> [C]: the sums over N (float32)."""
  if jax.default_backend() == 'cpu':
    return jnp.ones((x.shape[0],), x.dtype) @ x
  return jnp.sum(x, axis=0)


def _global_sums(x: jax.Array, axis_name: Optional[str]) -> jax.Array:
  sums = _column_sums(x)
  return sums if axis_name is None else lax.psum(sums, axis_name)


def _count(local: int, axis_name: Optional[str]) -> jax.Array:
  return local if axis_name is None else lax.psum(local, axis_name)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _normalise(x, scale, bias, epsilon, axis_name):
  return _normalise_fwd(x, scale, bias, epsilon, axis_name)[0]


def _normalise_fwd(x, scale, bias, epsilon, axis_name):
  flat = x.reshape(-1, x.shape[-1])
  n = _count(flat.shape[0], axis_name)
  mean = _global_sums(flat, axis_name) / n
  var = jnp.maximum(_global_sums(flat * flat, axis_name) / n - mean * mean, 0.0)
  inv = lax.rsqrt(var + epsilon)
  y = x * (inv * scale) + (bias - mean * inv * scale)
  return (y, mean, var), (x, mean, inv, scale)


def _normalise_bwd(epsilon, axis_name, residuals, cotangents):
  del epsilon
  x, mean, inv, scale = residuals
  dy = cotangents[0]   # the statistics leave under stop_gradient (below)
  flat_dy = dy.reshape(-1, x.shape[-1])
  n = _count(flat_dy.shape[0], axis_name)
  # This device's share of d bias and d scale (the step averages the
  # devices' parameter gradients, as under flax's); x's gradient takes the
  # whole batch's, as each x moved every device's statistics.
  x_hat = (x - mean) * inv
  d_bias = _column_sums(flat_dy)
  d_scale = _column_sums(flat_dy * x_hat.reshape(flat_dy.shape))
  if axis_name is None:
    all_bias, all_scale = d_bias, d_scale
  else:
    all_bias, all_scale = lax.psum((d_bias, d_scale), axis_name)
  dx = (scale * inv) * (dy - all_bias / n - x_hat * (all_scale / n))
  return dx, d_scale, d_bias


_normalise.defvjp(_normalise_fwd, _normalise_bwd)


def normalise(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float,
              axis_name: Optional[str] = None):
  """x [..., C] float32, scale and bias [C] -> (y like x, batch mean [C],
  batch variance [C]), the statistics over every axis but the last (and over
  the devices of `axis_name`, inside pmap), without a gradient."""
  y, mean, var = _normalise(x, scale, bias, epsilon, axis_name)
  return y, lax.stop_gradient(mean), lax.stop_gradient(var)


class BatchNorm(nn.Module):
  """`flax.linen.BatchNorm`'s fields as the models set them; x [..., C] ->
  like x. In training mode (use_running_average False) it normalises with the
  batch statistics and updates 'batch_stats' (mean, var: momentum * old +
  (1 - momentum) * batch); otherwise it uses those running averages.
  Statistics are float32 whatever `dtype` (the arithmetic's, output's)."""
  use_running_average: bool = False
  momentum: float = 0.99
  epsilon: float = 1e-5
  use_scale: bool = True
  use_bias: bool = True
  axis_name: Optional[str] = None
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    features = x.shape[-1]
    ra_mean = self.variable('batch_stats', 'mean', jnp.zeros, (features,), jnp.float32)
    ra_var = self.variable('batch_stats', 'var', jnp.ones, (features,), jnp.float32)
    scale = (self.param('scale', nn.initializers.ones, (features,), jnp.float32)
             if self.use_scale else jnp.ones((features,), jnp.float32))
    bias = (self.param('bias', nn.initializers.zeros, (features,), jnp.float32)
            if self.use_bias else jnp.zeros((features,), jnp.float32))
    dtype = self.dtype or x.dtype
    x32 = x.astype(jnp.float32)
    if self.use_running_average:
      inv = lax.rsqrt(ra_var.value + self.epsilon) * scale
      return (x32 * inv + (bias - ra_mean.value * inv)).astype(dtype)
    # As flax's: no cross-device statistics while initialising (outside pmap).
    axis_name = None if self.is_initializing() else self.axis_name
    y, mean, var = normalise(x32, scale, bias, self.epsilon, axis_name)
    if not self.is_initializing():
      ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
    return y.astype(dtype)
