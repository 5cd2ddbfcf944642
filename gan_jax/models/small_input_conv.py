"""Convolutions whose input is narrower than their kernel, as matmuls.

XLA:CPU leaves its fast convolution path for such layers (e.g. the VEEGAN
DCGAN's 4x4 -> 2x2 k5 s2 conv ran at 0.5 GFLOP/s). `fast_conv`'s 'fast'
formulation runs them as im2col (`patch_conv`) and col2im
(`scatter_conv_transpose`) instead, forward and backward; `is_small_input`
says which layers. docs/benchmarks.md has the timings.
"""
import functools
from typing import Any, Tuple

import jax
import jax.numpy as jnp
from jax import lax

Pads = Tuple[Tuple[int, int], Tuple[int, int]]


def is_small_input(x_shape, kernel_shape) -> bool:
  """Whether a layer's input is narrower than its kernel, where XLA:CPU's
  convolution leaves its fast path: measured at batch 64, the VEEGAN D's
  4x4 256->512 k5 s2 conv took 3.1 s (0.5 GFLOP/s) and its G's 2x2 512->256
  k5 s2 transposed conv 1.5 s, against 43 ms and ~40 ms as `patch_conv` /
  `scatter_conv_transpose`. The 7x7 128->256 k5 s2 conv beside them ran at
  47 GFLOP/s. Small inputs have few output positions, so the patch or
  scatter forms cost a few slices or pads per kernel tap. x_shape [B, H, W,
  C], kernel_shape [kh, kw, C, O]."""
  return min(x_shape[1:3]) < max(kernel_shape[:2])


def patch_conv(x: jax.Array, kernel: jax.Array, strides: Tuple[int, int],
               pads: Pads, precision: Any = None) -> jax.Array:
  """fast_conv.strided_conv as im2col: one strided slice of the padded input per kernel
  tap, then one contraction over (taps, channels). x [B, H, W, C], kernel
  [kh, kw, C, O] -> [B, H', W', O]. Differentiated by JAX (slices and pads),
  so it has jvp and double backward."""
  x = lax.pad(x, jnp.zeros((), x.dtype),  # Negative pads crop.
              [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in pads] + [(0, 0, 0)])
  kh, kw, c, o = kernel.shape
  (sh, sw), (h, w) = strides, x.shape[1:3]
  oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
  taps = [x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
          for i in range(kh) for j in range(kw)]
  cols = jnp.stack(taps, axis=3).reshape(-1, kh * kw * c)
  y = jnp.dot(cols, kernel.reshape(kh * kw * c, o), precision=precision)
  return y.reshape(x.shape[0], oh, ow, o)


def _tap_placements(x_shape, kernel_shape, strides, pads):
  """lax.pad configs that put tap (i, j)'s products [B, h, w, O] on the
  output grid of scatter_conv_transpose."""
  sizes = [s * (n - 1) + 1 for s, n in zip(strides, x_shape[1:3])]
  out = [n + lo + hi - k + 1 for n, (lo, hi), k in zip(sizes, pads, kernel_shape)]
  configs = {}
  for i in range(kernel_shape[0]):
    for j in range(kernel_shape[1]):
      spatial = [(lo - tap, m - n - (lo - tap), s - 1) for tap, s, n, m, (lo, _)
                 in zip((i, j), strides, sizes, out, pads)]
      configs[i, j] = [(0, 0, 0)] + spatial + [(0, 0, 0)]
  return configs


def _tap_matrix(kernel):
  """[kh, kw, C, O] -> [C, kh kw O]."""
  kh, kw, c, o = kernel.shape
  return kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * o)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def scatter_conv_transpose(x: jax.Array, kernel: jax.Array,
                           strides: Tuple[int, int], pads: Pads,
                           precision: Any = None) -> jax.Array:
  """fast_conv.strided_conv_transpose as col2im: every input pixel times every kernel
  tap in one matmul, then each tap's products placed on the s-strided output
  grid by one (interior) pad and summed. Per axis y[o] = sum_j K[j]
  xd[o + j - lo] with xd[s i] = x[i], so tap j sends x[i] to o = s i + lo - j;
  the output has m = s (n - 1) + 1 + lo + hi - k + 1 rows. The VJP reads each
  tap's rows back with one strided slice of dy (JAX's own VJP, of the slices
  of the products, wrote kh kw zero-padded copies of them: ~5x slower)."""
  kh, kw, _, o = kernel.shape
  products = jnp.dot(x.reshape(-1, x.shape[-1]), _tap_matrix(kernel),
                     precision=precision).reshape(x.shape[:3] + (kh, kw, o))
  zero = jnp.zeros((), products.dtype)
  placed = [lax.pad(products[:, :, :, i, j], zero, cfg) for (i, j), cfg in
            _tap_placements(x.shape, kernel.shape[:2], strides, pads).items()]
  return functools.reduce(jnp.add, placed)


def _scatter_conv_transpose_bwd(strides, pads, precision, residuals, dy):
  x, kernel = residuals
  kh, kw, c, o = kernel.shape
  taps = []
  for cfg in _tap_placements(x.shape, (kh, kw), strides, pads).values():
    unpad = jax.linear_transpose(
        lambda p, cfg=cfg: lax.pad(p, jnp.zeros((), p.dtype), cfg),
        jax.ShapeDtypeStruct(x.shape[:3] + (o,), dy.dtype))
    taps.append(unpad(dy)[0])
  d_products = jnp.stack(taps, axis=3).reshape(-1, kh * kw * o)
  matrix = _tap_matrix(kernel)
  dx = jnp.dot(d_products, matrix.T, precision=precision).reshape(x.shape)
  d_matrix = jnp.dot(x.reshape(-1, c).T, d_products, precision=precision)
  return dx, d_matrix.reshape(c, kh, kw, o).transpose(1, 2, 0, 3)


scatter_conv_transpose.defvjp(
    lambda *a: (scatter_conv_transpose(*a), tuple(a[:2])),
    _scatter_conv_transpose_bwd)
