"""gan_jax's batch norm against flax's: the same variables, outputs, running
statistics, gradients, second derivatives, and cross-device statistics."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import batch_norm

_SHAPES = [(16, 5, 5, 12), (32, 20)]


def _pair(shape, **kwargs):
  x = jnp.asarray(np.random.default_rng(0).normal(1.5, 2.0, shape), jnp.float32)
  ours = batch_norm.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5, **kwargs)
  flax_bn = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5,
                         **kwargs)
  variables = flax_bn.init(jax.random.key(0), x)
  # Trained-looking parameters, so that scale and bias matter.
  rng = np.random.default_rng(1)
  variables = jax.tree.map(lambda v: jnp.asarray(rng.normal(1.0, 0.5, v.shape), v.dtype),
                           variables)
  return x, ours, flax_bn, variables


@pytest.mark.parametrize('shape', _SHAPES)
def test_variables_outputs_and_running_statistics_are_flax_s(shape):
  x, ours, flax_bn, variables = _pair(shape)
  assert (jax.tree.map(jnp.shape, ours.init(jax.random.key(0), x)) ==
          jax.tree.map(jnp.shape, flax_bn.init(jax.random.key(0), x)))
  y, stats = ours.apply(variables, x, mutable=['batch_stats'])
  y_ref, stats_ref = flax_bn.apply(variables, x, mutable=['batch_stats'])
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6),
               stats, stats_ref)
  # Inference mode: the running averages.
  frozen = lambda module: module.clone(use_running_average=True).apply(variables, x)
  np.testing.assert_allclose(frozen(ours), frozen(flax_bn), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('shape', _SHAPES)
def test_gradients_and_second_derivatives_are_flax_s(shape):
  x, ours, flax_bn, variables = _pair(shape)
  w = jnp.asarray(np.random.default_rng(2).normal(size=shape), jnp.float32)

  def loss(module, params, x):
    y, _ = module.apply({'params': params, 'batch_stats': variables['batch_stats']},
                        x, mutable=['batch_stats'])
    return jnp.sum(w * jnp.tanh(y))

  for argnums in (0, 1):
    grads = jax.grad(functools.partial(loss, ours), argnums)(variables['params'], x)
    ref = jax.grad(functools.partial(loss, flax_bn), argnums)(variables['params'], x)
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-5),
                 grads, ref)

  # A gradient penalty's path: the gradient of |d loss / dx|^2 by the parameters.
  def penalty(module, params):
    return jnp.sum(jax.grad(functools.partial(loss, module), 1)(params, x) ** 2)

  second = jax.grad(functools.partial(penalty, ours))(variables['params'])
  second_ref = jax.grad(functools.partial(penalty, flax_bn))(variables['params'])
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-3, atol=1e-5),
               second, second_ref)


def test_statistics_and_gradients_span_the_devices_of_axis_name():
  # 4 devices of 8 examples each normalise as one batch of 32 does.
  shape = (32, 3, 3, 6)
  x, ours, _, variables = _pair(shape)
  synced = batch_norm.BatchNorm(momentum=0.9, epsilon=1e-5, axis_name='batch')
  w = jnp.asarray(np.random.default_rng(3).normal(size=shape), jnp.float32)

  def loss(module, params, x, w):
    y, stats = module.apply({'params': params, 'batch_stats': variables['batch_stats']},
                            x, mutable=['batch_stats'])
    return jnp.sum(w * jnp.tanh(y)), (y, stats)

  (_, (y, stats)), grads = jax.value_and_grad(
      functools.partial(loss, ours), (0, 1), has_aux=True)(variables['params'], x, w)

  def per_device(x, w):
    (_, aux), g = jax.value_and_grad(functools.partial(loss, synced), (0, 1),
                                     has_aux=True)(variables['params'], x, w)
    return aux, (jax.lax.psum(g[0], 'batch'), g[1])

  split = lambda a: a.reshape((4, 8) + a.shape[1:])
  (y4, stats4), (dparams4, dx4) = jax.pmap(per_device, 'batch', devices=jax.devices()[:4])(
      split(x), split(w))
  np.testing.assert_allclose(y4.reshape(y.shape), y, rtol=1e-5, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a[0], b, rtol=1e-5, atol=1e-6),
               stats4, stats)
  np.testing.assert_allclose(dx4.reshape(x.shape), grads[1], rtol=1e-4, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a[0], b, rtol=1e-4, atol=1e-4),
               dparams4, grads[0])


def test_bfloat16_arithmetic_keeps_float32_statistics():
  x, _, _, variables = _pair((16, 4, 4, 8))
  module = batch_norm.BatchNorm(momentum=0.9, epsilon=1e-5, dtype=jnp.bfloat16)
  y, stats = module.apply(variables, x.astype(jnp.bfloat16), mutable=['batch_stats'])
  y32, stats32 = module.clone(dtype=None).apply(variables, x, mutable=['batch_stats'])
  assert y.dtype == jnp.bfloat16
  assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(stats))
  np.testing.assert_allclose(y.astype(jnp.float32), y32, atol=0.05)


def test_without_scale_and_bias_only_statistics_are_kept():
  x = jnp.ones((4, 3))
  variables = batch_norm.BatchNorm(use_scale=False, use_bias=False).init(
      jax.random.key(0), x)
  assert 'params' not in variables
  assert set(variables['batch_stats']) == {'mean', 'var'}


def test_a_penalty_s_second_derivative_spans_the_devices_too():
  # d/dparams |d loss / dx|^2 of 4 devices x 8 examples, synchronised, is
  # flax's on the same 4 devices.
  shape = (32, 3, 3, 6)
  x, _, _, variables = _pair(shape)
  w = jnp.asarray(np.random.default_rng(4).normal(size=shape), jnp.float32)

  def per_device(module):
    def penalty(params, x, w):
      def loss(x):
        y, _ = module.apply({'params': params, 'batch_stats': variables['batch_stats']},
                            x, mutable=['batch_stats'])
        return jax.lax.psum(jnp.sum(w * jnp.tanh(y)), 'batch')
      return jnp.sum(jax.grad(loss)(x) ** 2)
    return lambda x, w: jax.lax.psum(jax.grad(penalty)(variables['params'], x, w), 'batch')

  split = lambda a: a.reshape((4, 8) + a.shape[1:])
  run = lambda module: jax.pmap(per_device(module), 'batch', devices=jax.devices()[:4])(
      split(x), split(w))
  ours = run(batch_norm.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5,
                                  axis_name='batch'))
  ref = run(nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5,
                         axis_name='batch'))
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-3, atol=1e-5),
               ours, ref)
