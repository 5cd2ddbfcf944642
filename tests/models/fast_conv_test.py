"""fast_conv.Conv / ConvTranspose are drop-in equal to flax's modules.

Each case initialises flax's module and ours ('fast' and 'subpixel') from the
same key and checks identical parameter trees, equal outputs, and equal
gradients of a random linear functional <r, f(params, x)> w.r.t. the input and
every parameter; a few cases also check gradient-penalty second derivatives.
"""
import functools

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import fast_conv, small_input_conv

_pair = fast_conv._pair  # pylint: disable=protected-access

_T, _C = 'transpose', 'conv'
_P1 = ((1, 1), (1, 1))  # PyTorch Conv2d(k4, s2, p1)
_TP1 = ((2, 2), (2, 2))  # PyTorch ConvTranspose2d(k4, s2, p1)
_TP0 = ((3, 3), (3, 3))  # PyTorch ConvTranspose2d(k4, s4, p0)

# (kind, in, out, kernel, strides, padding, input HxW, use_bias)
CASES = {
    # TF-tutorial DCGAN, 28x28 (gan_jax/models/dcgan.py).
    'tf28_g1': (_T, 256, 128, (5, 5), 1, 'SAME', (7, 7), False),
    'tf28_g2': (_T, 128, 64, (5, 5), 2, 'SAME', (7, 7), False),
    'tf28_g3': (_T, 64, 1, (5, 5), 2, 'SAME', (14, 14), False),
    'tf28_d1': (_C, 1, 64, (5, 5), 2, 'SAME', (28, 28), True),
    'tf28_d2': (_C, 64, 128, (5, 5), 2, 'SAME', (14, 14), True),
    # PyTorch-style DCGAN, 64x64 (gan_jax/models/dcgan64.py).
    'dc64_g1': (_T, 100, 256, (4, 4), 1, 'VALID', (1, 1), True),
    'dc64_g2': (_T, 256, 128, (4, 4), 2, _TP1, (4, 4), True),
    'dc64_g3': (_T, 128, 64, (4, 4), 2, _TP1, (8, 8), True),
    'dc64_g4': (_T, 64, 1, (4, 4), 4, _TP0, (16, 16), True),
    'dc64_d1': (_C, 1, 64, (4, 4), 4, 'VALID', (64, 64), True),
    'dc64_d2': (_C, 64, 128, (4, 4), 2, _P1, (16, 16), True),
    'dc64_d3': (_C, 128, 256, (4, 4), 2, _P1, (8, 8), True),
    'dc64_d4': (_C, 256, 1, (4, 4), 1, 'VALID', (4, 4), True),
    # The TF2 blog's 'VALID' DCGAN, 28x28 (gan_jax/models/dcgan3x3.py): k = s
    # and k > s transposes at stride 3, and a 9x9 conv. Fewer input channels
    # than the model's 512 and 256 (the same formulations, 1/10 of the time).
    'v3_g1': (_T, 64, 256, (3, 3), 3, 'VALID', (3, 3), True),
    'v3_g2': (_T, 16, 128, (5, 5), 2, 'VALID', (9, 9), True),
    'v3_g3': (_T, 128, 3, (4, 4), 3, 'VALID', (21, 21), True),
    'v3_g4': (_C, 3, 1, (9, 9), 2, 'VALID', (64, 64), True),
    'v3_d3': (_C, 128, 256, (2, 2), 2, 'VALID', (6, 6), True),
    # Odd sizes, k < s, unequal strides/kernels, asymmetric and negative pads.
    'c_k3s2_same_odd': (_C, 3, 5, (3, 3), 2, 'SAME', (7, 9), True),
    'c_k3s2_valid_odd': (_C, 3, 5, (3, 3), 2, 'VALID', (9, 7), True),
    'c_k1s2': (_C, 3, 5, (1, 1), 2, 'VALID', (7, 8), True),
    'c_mixed': (_C, 3, 5, (3, 2), (2, 3), ((0, 1), (2, 0)), (9, 10), True),
    'c_neg_pad': (_C, 3, 5, (3, 3), 2, ((-1, 2), (3, -2)), (9, 8), True),
    't_k3s2_same_odd': (_T, 3, 5, (3, 3), 2, 'SAME', (7, 9), True),
    't_k3s2_valid_odd': (_T, 3, 5, (3, 3), 2, 'VALID', (5, 6), True),
    't_k2s3_same': (_T, 3, 5, (2, 2), 3, 'SAME', (5, 4), True),
    't_mixed_neg': (_T, 3, 5, (2, 3), (3, 2), ((-1, 0), (2, -1)), (7, 9), True),
    # Inputs narrower than the kernel (`is_small_input`): the VEEGAN DCGAN's
    # (models/stacked_dcgan.py) with fewer channels, then odd ones.
    'veegan_g1': (_T, 64, 32, (5, 5), 2, ((3, 2), (3, 2)), (2, 2), True),
    'veegan_g2': (_T, 32, 16, (5, 5), 2, ((2, 2), (2, 2)), (4, 4), True),
    'veegan_d4': (_C, 32, 64, (5, 5), 2, 'SAME', (4, 4), True),
    'c_small_mixed': (_C, 3, 5, (5, 3), (2, 3), ((1, 2), (2, 0)), (4, 6), True),
    't_small_mixed': (_T, 3, 5, (3, 5), (2, 3), ((1, 0), (-1, 2)), (2, 3), True),
    # Kernel = stride on unequal axes, 'VALID' (pads k - 1 of the dilated input).
    't_blocks_mixed': (_T, 3, 5, (2, 3), (2, 3), 'VALID', (4, 5), True),
    # 'subpixel' gives its stride-1 conv the pads (-1, 1): openxla/xla#48713.
    'c_small_neg': (_C, 3, 5, (5, 3), (2, 3), ((-1, 2), (2, 0)), (4, 6), True),
}
_SMALL = ('dc64_g1', 'veegan_g1', 'veegan_g2', 'veegan_d4', 'c_small_mixed', 't_small_mixed',
          'c_small_neg')
# Kernel = stride without padding (`fast_conv.is_block_layer`): matmuls on
# space_to_depth blocks, no convolution.
_BLOCKS = ('dc64_g4', 'dc64_d1', 'v3_g1', 'v3_d3', 't_blocks_mixed')
_BATCH = 8


def _modules(kind, features, kernel, strides, padding, use_bias, impls):
  """flax's module and ours for each impl, built from the same attributes."""
  kw = dict(features=features, kernel_size=kernel, strides=strides,
            padding=padding, use_bias=use_bias,
            bias_init=nn.initializers.normal(0.1))  # Non-zero bias is tested.
  ref, ours = ((nn.Conv, fast_conv.Conv) if kind == _C
               else (nn.ConvTranspose, fast_conv.ConvTranspose))
  return ref(**kw), *(ours(impl=impl, **kw) for impl in impls)


def _case(name, impls, batch=_BATCH):
  """Modules and a float32 numpy input for CASES[name]."""
  kind, c_in, c_out, kernel, strides, padding, hw, use_bias = CASES[name]
  modules = _modules(kind, c_out, kernel, strides, padding, use_bias, impls)
  x = np.random.default_rng(0).standard_normal((batch,) + hw + (c_in,),
                                               dtype=np.float32)
  return modules, x


def _assert_close(actual, desired, tol=1e-5):
  """|actual - desired| <= tol * max|desired| elementwise (float32 sums)."""
  actual, desired = np.asarray(actual), np.asarray(desired)
  assert actual.shape == desired.shape and actual.dtype == desired.dtype
  np.testing.assert_allclose(actual, desired, rtol=0,
                             atol=tol * max(np.abs(desired).max(), 1e-30))


def _assert_same_params(params, ours_params):
  assert jax.tree.structure(params) == jax.tree.structure(ours_params)
  for p, q in zip(jax.tree.leaves(params), jax.tree.leaves(ours_params)):
    assert p.shape == q.shape and p.dtype == q.dtype
    np.testing.assert_array_equal(p, q)


def _value_and_grads(module, params, x, r):
  """f(params, x) and the gradients of <r, f> w.r.t. (params, x)."""
  loss = lambda p, x: jnp.vdot(r, module.apply(p, x))
  return module.apply(params, x), jax.grad(loss, argnums=(0, 1))(params, x)


@pytest.mark.parametrize('name', list(CASES))
def test_matches_flax(name):
  (ref, fast, subpixel), x = _case(name, ('fast', 'subpixel'))
  # lazy_init (params only, jitted) and numpy data: eager jax.random and init
  # ops would compile once per shape and dominate the test time.
  x_spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
  params = ref.lazy_init(jax.random.key(0), x_spec)
  _assert_same_params(params, fast.lazy_init(jax.random.key(0), x_spec))

  y_shape = jax.eval_shape(ref.apply, params, x_spec).shape
  r = np.random.default_rng(1).standard_normal(y_shape, dtype=np.float32)
  y_ref, g_ref = jax.jit(functools.partial(_value_and_grads, ref))(params, x, r)
  for ours in (fast, subpixel):
    y, g = jax.jit(functools.partial(_value_and_grads, ours))(params, x, r)
    _assert_close(y, y_ref)
    jax.tree.map(_assert_close, g, g_ref)
    if ours is fast and name not in _SMALL + _BLOCKS and not (
        CASES[name][0] == _T and fast_conv.transpose_formulation(
            x.shape, (1, 1, 1, CASES[name][2]), _pair(CASES[name][4])) != 'lax'):
      np.testing.assert_array_equal(y, y_ref)  # flax's forward op


def _penalty_grads(module, params, x, r):
  """d/dparams of ||d/dx <r, tanh(f(params, x))>||^2, the second-order
  structure of a gradient penalty (WGAN-GP, R1) on a discriminator layer."""
  def penalty(p):
    g = jax.grad(lambda x: jnp.vdot(r, jnp.tanh(module.apply(p, x))))(x)
    return jnp.sum(g * g)
  return jax.grad(penalty)(params)


@pytest.mark.parametrize('name', ['tf28_d2', 'dc64_d2', 'c_mixed', 'tf28_g2',
                                  't_mixed_neg', 'veegan_d4', 't_small_mixed', 'dc64_d1'])
def test_second_order_matches_flax(name):
  (ref, ours), x = _case(name, ('fast',), batch=2)
  params = ref.lazy_init(jax.random.key(0), x)
  r = np.random.default_rng(1).standard_normal(
      jax.eval_shape(ref.apply, params, x).shape, dtype=np.float32)
  jax.tree.map(_assert_close,
               jax.jit(functools.partial(_penalty_grads, ours))(params, x, r),
               jax.jit(functools.partial(_penalty_grads, ref))(params, x, r))


def _convs(name, impl):
  """conv_general_dilated equations of d/d(params, x) of sum(f(params, x))."""
  (_, ours), x = _case(name, (impl,), batch=2)
  x = jax.ShapeDtypeStruct(x.shape, x.dtype)
  params = jax.eval_shape(ours.init, jax.random.key(0), x)  # Tracing only.
  loss = lambda p, x: jnp.sum(ours.apply(p, x))
  eqns, todo = [], [jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(params, x)]
  while todo:
    jaxpr = todo.pop()
    jaxpr = getattr(jaxpr, 'jaxpr', jaxpr)
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == 'conv_general_dilated':
        eqns.append(eqn)
      todo.extend(jax.extend.core.jaxprs_in_params(eqn.params))
  return eqns, params['params']['kernel'].shape


def _fast_conv_count(name, batch=2):
  """How many convolutions 'fast' runs for CASES[name], forward and both
  gradients: one each, but a transposed conv (the layer's forward, or a
  strided conv's input gradient) that `transpose_formulation` sends to
  'phases' runs one per output phase that meets a tap."""
  kind, c_in, c_out, kernel, strides, padding, hw, _ = CASES[name]
  strides = _pair(strides)
  if name in _BLOCKS:
    return 0
  if strides == (1, 1):
    return 3
  x_shape = (batch,) + hw + (c_in,)
  if kind == _T:
    transposed_in, features = x_shape, c_out
  else:  # The input gradient: a transposed conv of dy back to c_in channels.
    pads = (padding if not isinstance(padding, str) else
            jax.lax.padtype_to_pads(hw, kernel, strides, padding))
    out = [(n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in zip(hw, kernel, strides, pads)]
    transposed_in, features = (batch, *out, c_out), c_in
  if fast_conv.transpose_formulation(transposed_in, (1, 1, 1, features),
                                     strides) != 'phases':
    return 3
  pads = (padding if kind == _T and not isinstance(padding, str) else None)
  met = []
  for axis in range(2):
    n, k, s = transposed_in[1 + axis], kernel[axis], strides[axis]
    if kind == _T:
      a, b = (pads[axis] if pads else fast_conv.conv_transpose_pads(k, s, padding))
    else:  # strided_conv's VJP pads of its transposed conv (`_strided_conv_bwd`).
      conv_pads = (padding if not isinstance(padding, str) else
                   jax.lax.padtype_to_pads(hw, kernel, strides, padding))
      lo = conv_pads[axis][0]
      a, b = k - 1 - lo, hw[axis] + lo - 1 - s * (n - 1)
    *_, lows, highs = fast_conv._phase_taps(n, k, s, a, b)  # pylint: disable=protected-access
    met.append(sum(hi >= lo for lo, hi in zip(lows, highs)))
  return 2 + met[0] * met[1]


@pytest.mark.parametrize('name', ['tf28_g2', 'dc64_g4', 'tf28_d1', 'c_mixed'])
def test_fast_has_no_lhs_dilated_kernel_gradient(name):
  """The slow XLA:CPU op is a kernel gradient computed with lhs dilation."""
  convs, kernel_shape = _convs(name, 'fast')
  assert len(convs) == _fast_conv_count(name)
  for eqn in convs:
    if tuple(eqn.params['lhs_dilation']) != (1, 1):
      assert eqn.outvars[0].aval.shape != kernel_shape


@pytest.mark.parametrize('name', list(CASES))
def test_fast_uses_the_block_forms_exactly_there(name):
  _, c_in, _, kernel, strides, padding, hw, _ = CASES[name]
  kind, strides = CASES[name][0], _pair(strides)
  if isinstance(padding, str):
    padding = (tuple(fast_conv.conv_transpose_pads(k, s, padding)
                     for k, s in zip(kernel, strides)) if kind == _T else
               jax.lax.padtype_to_pads(hw, kernel, strides, padding))
  assert fast_conv.is_block_layer((1,) + hw + (c_in,), kernel + (c_in, 1), strides,
                                  tuple(map(tuple, padding)), kind == _T) == (name in _BLOCKS)


@pytest.mark.parametrize('name', list(CASES))
def test_fast_uses_the_small_input_forms_exactly_there(name):
  """Layers narrower than their kernel run as slices, pads and one
  contraction (no convolution, forward or backward); the others keep theirs."""
  _, _, _, kernel, strides, _, hw, _ = CASES[name]
  small = small_input_conv.is_small_input((1,) + hw + (1,), kernel + (1, 1))
  assert small == (name in _SMALL)
  convs, _ = _convs(name, 'fast')
  assert len(convs) == (0 if small else _fast_conv_count(name))


@pytest.mark.parametrize('name', ['tf28_g2', 'dc64_g4', 'tf28_d1', 'c_mixed'])
def test_subpixel_has_only_stride_1_convolutions(name):
  convs, _ = _convs(name, 'subpixel')
  assert len(convs) == 3  # Forward, input gradient, kernel gradient.
  for eqn in convs:
    for key in ('window_strides', 'lhs_dilation', 'rhs_dilation'):
      assert tuple(eqn.params[key]) == (1, 1), (key, eqn.params[key])


@pytest.mark.parametrize('name', [n for n, case in CASES.items()
                                  if case[0] == _T and n not in _SMALL])
@pytest.mark.parametrize('op', ['phase_conv_transpose', 'subpixel_conv_transpose'])
def test_phase_forms_equal_lax_conv_transpose(name, op):
  """Every transposed case through each phase form directly (the 'fast'
  path picks one by shape), and through its gradients."""
  _, c_in, c_out, kernel, strides, padding, hw, _ = CASES[name]
  strides, rng = _pair(strides), np.random.default_rng(0)
  if isinstance(padding, str):
    padding = tuple(fast_conv.conv_transpose_pads(k, s, padding)
                    for k, s in zip(kernel, strides))
  x = rng.standard_normal((2,) + hw + (c_in,), dtype=np.float32)
  k = rng.standard_normal(tuple(kernel) + (c_in, c_out), dtype=np.float32)
  ref = lambda x, k: jax.lax.conv_transpose(x, k, strides, padding,
                                            dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  ours = lambda x, k: getattr(fast_conv, op)(x, k, strides, padding)
  y = jax.jit(ref)(x, k)
  _assert_close(jax.jit(ours)(x, k), y)
  r = rng.standard_normal(y.shape, dtype=np.float32)
  grads = lambda f: jax.jit(jax.grad(lambda x, k: jnp.vdot(r, f(x, k)), (0, 1)))(x, k)
  jax.tree.map(_assert_close, grads(ours), grads(ref))


def test_phase_conv_transpose_leaves_out_the_taps_no_phase_meets():
  # k5 s2 'SAME' at 7x7 (pads (3, 2) of the dilated input): per axis the
  # even output rows meet taps 1 and 3, the odd rows taps 0, 2 and 4, so the
  # four convs' windows are 2x2, 2x3, 3x2 and 3x3, each over 7x7 rows.
  x = jax.ShapeDtypeStruct((1, 7, 7, 4), jnp.float32)
  k = jax.ShapeDtypeStruct((5, 5, 4, 6), jnp.float32)
  pads = tuple(fast_conv.conv_transpose_pads(5, 2, 'SAME') for _ in range(2))
  jaxpr = jax.make_jaxpr(lambda x, k: fast_conv.phase_conv_transpose(x, k, (2, 2), pads))(x, k)
  convs = [e for e in jaxpr.eqns if e.primitive.name == 'conv_general_dilated']
  assert sorted(e.invars[1].aval.shape[:2] for e in convs) == [(2, 2), (2, 3), (3, 2), (3, 3)]
  assert {e.outvars[0].aval.shape for e in convs} == {(1, 7, 7, 6)}


def test_a_phase_no_tap_meets_is_zeros_of_the_compute_dtype():
  # k2 s3: one phase of three per axis meets no tap; in bfloat16 its zeros
  # are bfloat16 as the other phases' outputs.
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((2, 5, 4, 3)), jnp.bfloat16)
  k = jnp.asarray(rng.standard_normal((2, 2, 3, 5)), jnp.bfloat16)
  pads = tuple(fast_conv.conv_transpose_pads(2, 3, 'SAME') for _ in range(2))
  y = fast_conv.phase_conv_transpose(x, k, (3, 3), pads)
  ref = jax.lax.conv_transpose(x, k, (3, 3), pads, dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  assert y.dtype == jnp.bfloat16 and y.shape == ref.shape
  np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(ref, np.float32),
                             atol=0.1, rtol=0.02)
  empty = [r for r in range(3) if not np.asarray(ref, np.float32)[:, r::3].any()]
  assert empty and all(not np.asarray(y, np.float32)[:, r::3].any() for r in empty)


@pytest.mark.parametrize('name', ['tf28_g2', 'dc64_d2'])
def test_xla_impl_is_flax(name):
  (ref, ours), x = _case(name, ('xla',), batch=2)
  params = ref.init(jax.random.key(0), x)  # Plain init, not lazy_init.
  _assert_same_params(params, ours.init(jax.random.key(0), x))
  np.testing.assert_array_equal(jax.jit(ours.apply)(params, x),
                                jax.jit(ref.apply)(params, x))


@pytest.mark.parametrize('pads', [((-1, 1), (0, 0)), ((-2, 2), (1, -2)),
                                  ((-2, 1), (-1, 3))])
def test_negative_low_pads_are_exact(pads):
  # XLA:CPU's Eigen convolution reads past its input for a negative low pad
  # with a positive high pad <= its size (openxla/xla#48713); flax's module
  # gives garbage there, gan_jax's must match the definition: crop, then pad.
  rng = np.random.default_rng(0)
  x = rng.standard_normal((8, 6, 7, 3), dtype=np.float32)
  kernel = rng.standard_normal((3, 2, 3, 4), dtype=np.float32)
  xp = x[:, max(-pads[0][0], 0):, max(-pads[1][0], 0):]
  xp = np.pad(xp, [(0, 0)] + [(max(lo, 0), 0) for lo, _ in pads] + [(0, 0)])
  xp = xp[:, :xp.shape[1] + pads[0][1]] if pads[0][1] < 0 else np.pad(
      xp, ((0, 0), (0, pads[0][1]), (0, 0), (0, 0)))
  xp = xp[:, :, :xp.shape[2] + pads[1][1]] if pads[1][1] < 0 else np.pad(
      xp, ((0, 0), (0, 0), (0, pads[1][1]), (0, 0)))
  # patches[b, i, j, u, v, c] = xp[b, i + u, j + v, c]
  patches = np.lib.stride_tricks.sliding_window_view(xp, (3, 2), axis=(1, 2))
  expected = np.einsum('bijcuv,uvco->bijo', patches, kernel)
  r = rng.standard_normal(expected.shape, dtype=np.float32)
  expected_grad = np.einsum('bijcuv,bijo->uvco', patches, r)
  conv = fast_conv.Conv(4, (3, 2), padding=pads, use_bias=False, impl='xla')
  apply = lambda k: conv.apply({'params': {'kernel': k}}, x)
  y = jax.jit(apply)(kernel)
  grad = jax.jit(jax.grad(lambda k: jnp.vdot(r, apply(k))))(kernel)
  _assert_close(y, expected)
  _assert_close(grad, expected_grad)


def test_extra_batch_dims_are_flattened_like_flax():
  ref, ours = _modules(_T, 4, (3, 3), 2, 'SAME', True, ('fast',))
  x = np.random.default_rng(1).standard_normal((2, 3, 5, 5, 2),
                                               dtype=np.float32)
  params = ref.lazy_init(jax.random.key(0), x)
  both = jax.jit(lambda x: (ours.apply(params, x), ref.apply(params, x)))
  _assert_close(*both(x))  # Two batch dims.
  _assert_close(*both(x[0, 0]))  # No batch dim.


def test_space_to_depth_layout_and_inverse():
  x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float32).reshape(2, 4, 6, 3)
  y = fast_conv.space_to_depth(x, (2, 3))
  assert y.shape == (2, 2, 2, 18)
  # Channel (ry * sw + rx) * C + c holds x[b, sh * i + ry, sw * j + rx, c].
  np.testing.assert_array_equal(y[1, 1, 0, (1 * 3 + 2) * 3 + 1], x[1, 3, 2, 1])
  np.testing.assert_array_equal(fast_conv.depth_to_space(y, (2, 3)), x)
  with pytest.raises(ValueError):
    fast_conv.space_to_depth(x, 4)


def test_impl_selection():
  on_cpu = jax.default_backend() == 'cpu'
  assert fast_conv.formulation('auto', (2, 2)) == ('fast' if on_cpu else 'xla')
  assert fast_conv.formulation('subpixel', (2, 1)) == 'subpixel'
  assert fast_conv.formulation('fast', (1, 1)) == 'xla'
  assert fast_conv.formulation('xla', (2, 2)) == 'xla'
  with pytest.raises(ValueError):
    fast_conv.formulation('cudnn', (2, 2))
