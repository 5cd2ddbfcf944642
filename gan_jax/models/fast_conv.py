"""2-D Conv / ConvTranspose with CPU-friendly gradients; drop-in for flax's.

On XLA:CPU (jax 0.10) the slow op of a DCGAN step is the kernel gradient of a
transposed (lhs-dilated) convolution: measured at batch 128, it is ~85% of the
forward+backward time of the TF-tutorial generator's 7->14 ConvTranspose
128->64 k5, and 20x slower than the kernel gradient of a strided conv with the
same FLOPs. The same op appears in the discriminator's second-order graph
under gradient penalties (a strided conv's input gradient is a transposed
conv). Strided convolutions themselves are not slow there.

`Conv` and `ConvTranspose` keep flax's parameter names, shapes, dtypes,
initialisers and RNG order, and its outputs and gradients. `impl` picks how:
  'xla':      flax's ops, JAX's autodiff.
  'fast':     the VJPs use the adjoint pair: the input gradient of a strided
              conv is a transposed conv and vice versa, and a transposed
              conv's kernel gradient is a (flipped) strided conv kernel
              gradient, since <dy, conv_transpose(x, K)> =
              <conv(dy, flip(K)^T), x>. PyTorch's backward works the same way.
              Transposed convs (forward, and strided convs' input gradients)
              run as one stride-1 conv per output phase or as sub-pixel
              convs where measured faster (`transpose_formulation`); the
              rest are flax's forward ops. Layers
              whose input is narrower than the kernel (`is_small_input`,
              e.g. the VEEGAN DCGAN's 4x4 -> 2x2 k5, where XLA:CPU ran at
              0.5 GFLOP/s) run as im2col / col2im matmuls
              (small_input_conv.py), forward and backward. No
              forward-mode AD (jvp).
  'subpixel': every conv rewritten to stride 1: space-to-depth for Conv and
              the sub-pixel conv (Shi et al. 2016, arXiv:1609.05158) for
              ConvTranspose. Supports jvp, but is slower than 'fast' here and
              very slow under double backward for Conv.
  'auto':     'fast' on CPU, 'xla' elsewhere.
Stride-1 layers use the plain ops, but under 'fast' those narrower than
their kernel take the small-input forms too. Not covered (use flax's modules):
dilation, feature groups, masks, 'CIRCULAR'/'REFLECT'/'CAUSAL' padding,
`transpose_kernel=True`.
"""
import functools
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
from jax import lax
import flax.linen as nn
from flax.linen.dtypes import promote_dtype
from flax.linen.linear import canonicalize_padding, default_kernel_init

from gan_jax.models.small_input_conv import (Pads, is_small_input, patch_conv,
                                             scatter_conv_transpose)

IMPLS = ('auto', 'xla', 'fast', 'subpixel')
_DN = ('NHWC', 'HWIO', 'NHWC')


def _pair(v: Union[None, int, Sequence[int]]) -> Tuple[int, int]:
  """flax's broadcasting of `strides`: None -> 1, int -> (v, v)."""
  v = 1 if v is None else v
  return (v, v) if isinstance(v, int) else tuple(v)


def formulation(impl: str, strides: Tuple[int, int]) -> str:
  """'xla' | 'fast' | 'subpixel': what `impl` runs for a layer with strides."""
  if impl not in IMPLS:
    raise ValueError(f"impl must be one of {IMPLS}, got '{impl}'")
  if strides == (1, 1):
    return 'xla'
  if impl == 'auto':  # GPU/TPU have good kernels for all of these ops.
    return 'fast' if jax.default_backend() == 'cpu' else 'xla'
  return impl


def conv_transpose_pads(k: int, s: int, padding: str) -> Tuple[int, int]:
  """Pads of the s-dilated input that lax.conv_transpose uses for 'SAME' /
  'VALID' (mirrors jax._src.lax.convolution._conv_transpose_padding)."""
  if padding == 'SAME':
    total, lo = k + s - 2, (k - 1 if s > k - 1 else -(-(k + s - 2) // 2))
  else:  # 'VALID'
    total, lo = k + s - 2 + max(k - s, 0), k - 1
  return lo, total - lo


def _adjoint_kernel(kernel: jax.Array) -> jax.Array:
  """[kh, kw, a, b] -> [kh, kw, b, a], spatially flipped."""
  return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def _lax_conv(x, kernel, strides, pads, precision):
  # XLA:CPU's Eigen convolution (<= 16 channels) reads past its input for a
  # negative low pad with a positive high pad of at most its size
  # (openxla/xla#48713): wrong outputs, and wrong kernel gradients, whose
  # convolution has dy as its kernel. A slice crops those rows instead.
  if not isinstance(pads, str) and any(lo < 0 for lo, _ in pads):
    x = x[:, max(-pads[0][0], 0):, max(-pads[1][0], 0):]
    pads = tuple((max(lo, 0), hi) for lo, hi in pads)
  return lax.conv_general_dilated(x, kernel, strides, pads,
                                  dimension_numbers=_DN, precision=precision)


# ---------------------------------------------------------------- 'fast' ----
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def strided_conv(x: jax.Array, kernel: jax.Array, strides: Tuple[int, int],
                 pads: Pads, precision: Any = None) -> jax.Array:
  """lax.conv_general_dilated, x [B, H, W, C], kernel [kh, kw, C, O], explicit
  (lo, hi) pads -> [B, H', W', O]; VJP through strided_conv_transpose.
  Computed as `patch_conv` where the input is narrower than the kernel."""
  if is_small_input(x.shape, kernel.shape):
    return patch_conv(x, kernel, strides, pads, precision)
  return _lax_conv(x, kernel, strides, pads, precision)


def transpose_formulation(x_shape, kernel_shape, strides) -> str:
  """How XLA:CPU computes this transposed convolution fastest: 'phases'
  (`phase_conv_transpose`), 'subpixel' (`subpixel_conv_transpose`) or 'lax'
  (the lhs-dilated lax.conv_transpose), as `python benchmarks/cpu_forms.py`
  times the DCGAN and SN-DCGAN layers (its table is in docs/benchmarks.md):
  one conv per phase is fastest on inputs of up to 8x8 with 64 or more
  output channels; on larger inputs it is no faster than one conv over all
  phases beyond this machine's spread between runs, and a single output
  channel pays for depth_to_space."""
  h, w = x_shape[1:3]
  if h * w <= 64 and kernel_shape[-1] >= 64:
    return 'phases'
  if min(strides) >= 4 or (h * w >= 49 and kernel_shape[-1] >= 64):
    return 'subpixel'
  return 'lax'


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def strided_conv_transpose(x: jax.Array, kernel: jax.Array,
                           strides: Tuple[int, int], pads: Pads,
                           precision: Any = None) -> jax.Array:
  """lax.conv_transpose (transpose_kernel=False), x [B, H, W, C], kernel
  [kh, kw, C, O], `pads` of the s-dilated input; VJP through strided_conv.
  Computed as `scatter_conv_transpose` where the input is narrower than the
  kernel (a strided conv's input gradient, e.g. 4x4 -> 7x7 k5, took 1.1 s
  at batch 64 as lax.conv_transpose), else as the sub-pixel conv where that
  is faster, or as one stride-1 conv per output phase
  (`transpose_formulation`)."""
  if is_small_input(x.shape, kernel.shape):
    return scatter_conv_transpose(x, kernel, strides, pads, precision)
  how = transpose_formulation(x.shape, kernel.shape, strides)
  if how == 'phases':
    return phase_conv_transpose(x, kernel, strides, pads, precision)
  if how == 'subpixel':
    return subpixel_conv_transpose(x, kernel, strides, pads, precision)
  return lax.conv_transpose(x, kernel, strides, pads, dimension_numbers=_DN,
                            precision=precision)


def _strided_conv_bwd(strides, pads, precision, residuals, dy):
  x, kernel = residuals
  # dx[i] = sum_j K[j] dy[(i + lo - j) / s]: a transposed conv of dy with the
  # adjoint kernel, padded so that it starts at row lo and has n rows.
  ct_pads = tuple((k - 1 - lo, n + lo - 1 - s * (q - 1)) for n, q, k, s, (lo, _)
                  in zip(x.shape[1:3], dy.shape[1:3], kernel.shape[:2],
                         strides, pads))
  dx = strided_conv_transpose(dy, _adjoint_kernel(kernel), strides, ct_pads,
                              precision)
  kernel_vjp = jax.linear_transpose(
      lambda k: _lax_conv(x, k, strides, pads, precision), kernel)
  return dx, kernel_vjp(dy)[0]


def _strided_conv_transpose_bwd(strides, pads, precision, residuals, dy):
  x, kernel = residuals
  # <dy, conv_transpose(x, K)> = <conv(dy, K~, pads (k-1-a, k-1-b)), x> with
  # K~ the adjoint kernel: dx is that conv, dK the adjoint of its kernel VJP.
  conv_pads = tuple((k - 1 - a, k - 1 - b)
                    for k, (a, b) in zip(kernel.shape[:2], pads))
  adjoint = _adjoint_kernel(kernel)
  dx = strided_conv(dy, adjoint, strides, conv_pads, precision)
  kernel_vjp = jax.linear_transpose(
      lambda k: _lax_conv(dy, k, strides, conv_pads, precision), adjoint)
  return dx, _adjoint_kernel(kernel_vjp(x)[0])


strided_conv.defvjp(lambda *a: (strided_conv(*a), tuple(a[:2])),
                    _strided_conv_bwd)
strided_conv_transpose.defvjp(
    lambda *a: (strided_conv_transpose(*a), tuple(a[:2])),
    _strided_conv_transpose_bwd)


# ------------------------------------------------------------ 'subpixel' ----
def space_to_depth(x: jax.Array, s: Union[int, Sequence[int]]) -> jax.Array:
  """[B, H, W, C] -> [B, H/sh, W/sw, sh*sw*C], channels ordered (ry, rx, c)."""
  (sh, sw), (b, h, w, c) = _pair(s), x.shape
  if h % sh or w % sw:
    raise ValueError(f'space_to_depth: {(h, w)} not divisible by {(sh, sw)}')
  x = x.reshape(b, h // sh, sh, w // sw, sw, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h // sh, w // sw, sh * sw * c)


def depth_to_space(x: jax.Array, s: Union[int, Sequence[int]]) -> jax.Array:
  """[B, H, W, sh*sw*C] -> [B, H*sh, W*sw, C]; the inverse of space_to_depth."""
  (sh, sw), (b, h, w, c) = _pair(s), x.shape
  if c % (sh * sw):
    raise ValueError(f'depth_to_space: {c} channels not divisible by {sh * sw}')
  x = x.reshape(b, h, w, sh, sw, c // (sh * sw)).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * sh, w * sw, c // (sh * sw))


def _stride1_conv(x, kernel, pads, precision):
  """XLA:CPU (YNNPACK fusions) ran a 3x3 conv with all-zero padding ~2.5x
  slower than with any non-zero padding; such a conv gets a zero row that
  its own padding (0, -1) crops again."""
  if all(p == (0, 0) for p in pads) and kernel.shape[:2] != (1, 1):
    x, pads = jnp.pad(x, ((0, 0), (0, 1), (0, 0), (0, 0))), ((0, -1), pads[1])
  return _lax_conv(x, kernel, (1, 1), pads, precision)


def space_to_depth_conv(x, kernel, strides, pads, precision=None):
  """strided_conv as space_to_depth + stride-1 conv. Per axis, y[q] =
  sum_j K[j] xp[s q + j] (xp: x padded); with j = s d + r, 0 <= r < s,
  0 <= d < D = ceil(k / s): y[q] = sum_{d,r} K[s d + r] xp[s (q + d) + r],
  a stride-1 conv of space_to_depth(xp) with W[d, r] = K[s d + r]."""
  x_cfg, k_cfg, block_pads = [(0, 0)], [], []
  for axis, (s, (lo, hi)) in enumerate(zip(strides, pads)):
    n, k = x.shape[1 + axis], kernel.shape[axis]
    out, d = (n + lo + hi - k) // s + 1, -(-k // s)
    # xp needs s (out + D - 1) rows (extra ones meet zero taps). Whole blocks
    # of s rows are left to the conv's padding, negative ones crop unread rows.
    lo_rows, hi_rows = lo % s, -(n + lo % s) % s
    x_cfg.append((lo_rows, hi_rows))
    block_pads.append((lo // s, (s * (out + d - 1) - lo - n - hi_rows) // s))
    k_cfg.append((0, s * d - k))
  x = space_to_depth(jnp.pad(x, x_cfg + [(0, 0)]), strides)
  kernel = jnp.pad(kernel, k_cfg + [(0, 0), (0, 0)])
  (sh, sw), (kh, kw, c, o) = strides, kernel.shape
  kernel = kernel.reshape(kh // sh, sh, kw // sw, sw, c, o)
  kernel = kernel.transpose(0, 2, 1, 3, 4, 5).reshape(kh // sh, kw // sw,
                                                      sh * sw * c, o)
  return _stride1_conv(x, kernel, block_pads, precision)


def _phase_taps(n: int, k: int, s: int, a: int, b: int):
  """One axis of a transposed conv (input n, kernel k, stride s, pads (a, b)
  of the s-dilated input) split into its s output phases; see
  `subpixel_conv_transpose`: (m output rows, off, d0, D, Q rows per phase,
  [lo_r], [hi_r]): phase r's non-zero taps are W[d0 + e, r] for e in
  [lo_r, hi_r]."""
  m, off, d0 = s * (n - 1) + a + b - k + 2, s - 1 - a % s, -(a // s)
  d, q = -(-(off + k) // s), -(-m // s)
  # W[e, r] = K'[s e + s - 1 - r] is one of K's taps for these e.
  lows = [max(0, -(-(off - (s - 1 - r)) // s)) for r in range(s)]
  highs = [min(d - 1, (k - 1 + off - (s - 1 - r)) // s) for r in range(s)]
  return m, off, d0, d, q, lows, highs


def _phase_kernel(kernel, strides, axes):
  """K [kh, kw, C, O] as W [D_h, s_h, D_w, s_w, C, O]: W[e, r] the tap of
  phase r at offset d0 + e (`axes`: each axis's `_phase_taps`)."""
  k_cfg = [(off, s * d - off - k) for s, k, (_, off, _, d, *_)
           in zip(strides, kernel.shape[:2], axes)]
  kernel = jnp.pad(kernel, k_cfg + [(0, 0), (0, 0)])
  (sh, sw), (kh, kw, c, o) = strides, kernel.shape
  return kernel.reshape(kh // sh, sh, kw // sw, sw, c, o)[:, ::-1, :, ::-1]


def _interleave(phases, axes):
  """phases[rh][rw] [B, Q_h, Q_w, O] (y[s q + r] = phase r's row q) -> y
  [B, m_h, m_w, O]."""
  (m_h, *_, q_h, _, _), (m_w, *_, q_w, _, _) = axes
  y = jnp.stack([jnp.stack(row, axis=3) for row in phases], axis=2)
  y = y.reshape(y.shape[0], q_h * len(phases), q_w * len(phases[0]), y.shape[-1])
  return y[:, :m_h, :m_w]


def subpixel_conv_transpose(x, kernel, strides, pads, precision=None):
  """strided_conv_transpose as stride-1 conv + depth_to_space. Per axis,
  y[o] = sum_j K[j] x[(o + j - a) / s] (integer indices only), o < m =
  s (n - 1) + a + b - k + 2. For o = s q + r and i = q + d the tap is
  j = s d + a - r: y[s q + r] = sum_d W[d, r] x[q + d], W[d, r] =
  K[s d + a - r].
  With d0 = -floor(a / s), off = s - 1 - (a mod s): W[d0 + e, s - 1 - t] =
  K'[s e + t], K' = K behind `off` zeros, padded to D s taps.
  Phase r's taps are non-zero for e in [lo_r, lo_r + count_r); the conv's
  window is the longest such run, D' taps, each phase's own run at the
  start, and phase r reads its output lo_r rows on: Z[p] = sum_u
  W[d0 + lo_r + u, r] x[p + d0 + u], y[s q + r] = Z[q + lo_r]. That computes
  (Q + max lo_r) rows of D' taps instead of Q rows of D (k4 s2 p1: 2 taps, not
  3 per axis)."""
  axes = [_phase_taps(x.shape[1 + i], kernel.shape[i], s, a, b)
          for i, (s, (a, b)) in enumerate(zip(strides, pads))]
  x_pads, runs = [], []
  for i, (n, (_, _, d0, _, q, lows, highs)) in enumerate(zip(x.shape[1:3], axes)):
    window = max(1, max(hi - lo + 1 for lo, hi in zip(lows, highs)))
    rows = q + max(lows)
    x_pads.append((-d0, rows + window - 2 + d0 - (n - 1)))  # Z[p] reads x[p + d0 + u].
    runs.append((lows, window, q))
  kernel = _phase_kernel(kernel, strides, axes)
  (sh, sw), (c, o) = strides, kernel.shape[-2:]
  # Each phase's run of taps, moved to the window's start (zeros beyond D).
  (lows_h, win_h, q_h), (lows_w, win_w, q_w) = runs
  kernel = jnp.pad(kernel, ((0, win_h), (0, 0), (0, win_w), (0, 0), (0, 0), (0, 0)))
  kernel = jnp.stack([jnp.stack([kernel[lh:lh + win_h, rh, lw:lw + win_w, rw]
                                 for rw, lw in enumerate(lows_w)], axis=-2)
                      for rh, lh in enumerate(lows_h)], axis=-3)
  kernel = kernel.reshape(win_h, win_w, c, sh * sw * o)
  z = _stride1_conv(x, kernel, x_pads, precision)
  z = z.reshape(z.shape[:3] + (sh, sw, o))
  # Phase (rh, rw) starts lows rows and columns on.
  return _interleave([[z[:, lh:lh + q_h, lw:lw + q_w, rh, rw]
                       for rw, lw in enumerate(lows_w)]
                      for rh, lh in enumerate(lows_h)], axes)


def phase_conv_transpose(x, kernel, strides, pads, precision=None):
  """strided_conv_transpose as one stride-1 conv per output phase (s_h s_w
  convs), each over its own taps only: Z_r[q] = sum_{e = lo_r .. hi_r}
  W[d0 + e, r] x[q + d0 + e], y[s q + r] = Z_r[q] (the notation of
  `subpixel_conv_transpose`). No padded taps and no extra rows: k4 s2 p1
  computes 2x2 taps per phase on Q x Q rows, k5 s2 'SAME' 3 or 2 taps per
  axis, as the phase needs."""
  axes = [_phase_taps(x.shape[1 + i], kernel.shape[i], s, a, b)
          for i, (s, (a, b)) in enumerate(zip(strides, pads))]
  kernel = _phase_kernel(kernel, strides, axes)

  def reads(n, axis, r):
    """Phase r's taps along one axis, and the pads that start its input at
    x[d0 + lo_r] and end it where its last output row's last tap reads;
    None where the phase meets no tap (k < s)."""
    _, _, d0, _, q, lows, highs = axis
    lo, hi = lows[r], highs[r]
    if hi < lo:
      return None
    return slice(lo, hi + 1), (-(d0 + lo), q - 1 + d0 + hi - (n - 1))

  (n_h, n_w), (axis_h, axis_w) = x.shape[1:3], axes
  empty = jnp.zeros((x.shape[0], axis_h[4], axis_w[4], kernel.shape[-1]),
                    jnp.result_type(x, kernel))
  phases = []
  for rh in range(strides[0]):
    row = []
    for rw in range(strides[1]):
      along_h, along_w = reads(n_h, axis_h, rh), reads(n_w, axis_w, rw)
      if along_h is None or along_w is None:
        row.append(empty)
        continue
      (taps_h, pads_h), (taps_w, pads_w) = along_h, along_w
      row.append(_lax_conv(x, kernel[taps_h, rh, taps_w, rw], (1, 1), (pads_h, pads_w),
                           precision))
    phases.append(row)
  return _interleave(phases, axes)


# ------------------------------------------------------------ 'blocks' ----
def is_block_layer(x_shape, kernel_shape, strides, pads, transpose: bool) -> bool:
  """Whether each output of the layer reads its own block of the input: kernel
  = stride on both axes, no padding (for a transposed conv, pads k - 1 of the
  dilated input: PyTorch's padding 0), and the input divisible into blocks.
  Such a layer is a matrix product on space_to_depth blocks (`block_conv`,
  `block_conv_transpose`), e.g. DCGAN-64's first D conv and last G layer
  (k4 s4 on MNIST at 64x64)."""
  kh, kw = kernel_shape[:2]
  if (kh, kw) != tuple(strides) or min(strides) < 2:
    return False
  if transpose:
    return tuple(pads) == ((kh - 1, kh - 1), (kw - 1, kw - 1))
  return (tuple(pads) == ((0, 0), (0, 0)) and x_shape[1] % kh == 0
          and x_shape[2] % kw == 0)


def block_conv(x, kernel, strides, pads, precision=None):
  """strided_conv where kernel = stride and pads are 0 (`is_block_layer`):
  y[q] = sum_j K[j] x[s q + j] is the product of space_to_depth(x) [B, H/s,
  W/s, s s C] with K as an (s s C) x O matrix, on XLA:CPU's matmul (DCGAN-64's
  64x64x1 -> 16x16x64 k4 s4 layer: about half the time of the strided conv
  forward and backward). Its gradients are JAX's of the product."""
  del pads   # zero: `is_block_layer`
  (kh, kw, c, o), blocks = kernel.shape, space_to_depth(x, strides)
  y = jnp.matmul(blocks.reshape(-1, kh * kw * c), kernel.reshape(kh * kw * c, o),
                 precision=precision)
  return y.reshape(blocks.shape[:3] + (o,))


def block_conv_transpose(x, kernel, strides, pads, precision=None):
  """strided_conv_transpose where kernel = stride and pads are k - 1
  (`is_block_layer`): each input pixel writes its own s x s block, y[s q +
  r] = K[k - 1 - r] x[q] (lax.conv_transpose without transpose_kernel runs
  the kernel flipped), depth_to_space of x times K flipped as a C x (s s O)
  matrix."""
  del pads   # k - 1: `is_block_layer`
  (kh, kw, c, o), (b, h, w, _) = kernel.shape, x.shape
  matrix = kernel[::-1, ::-1].transpose(2, 0, 1, 3).reshape(c, kh * kw * o)
  y = jnp.matmul(x.reshape(-1, c), matrix, precision=precision)
  return depth_to_space(y.reshape(b, h, w, kh * kw * o), strides)


# -------------------------------------------------------------- modules ----
class _ConvBase(nn.Module):
  """Attributes shared with flax.linen.Conv / ConvTranspose (2-D subset)."""
  features: int
  kernel_size: Sequence[int]
  strides: Union[None, int, Sequence[int]] = 1
  padding: Union[str, int, Sequence[Union[int, Tuple[int, int]]]] = 'SAME'
  use_bias: bool = True
  dtype: Optional[Any] = None
  param_dtype: Any = jnp.float32
  precision: Any = None
  kernel_init: Callable = default_kernel_init
  bias_init: Callable = nn.initializers.zeros_init()
  impl: str = 'auto'  # See the module docstring.

  def _apply(self, inputs: jax.Array, transpose: bool) -> jax.Array:
    """Creates params as flax does; inputs [*batch, H, W, C] are run with one
    flattened batch axis, as flax does."""
    batch_shape, strides = inputs.shape[:-3], _pair(self.strides)
    x = inputs.reshape((-1,) + inputs.shape[-3:])
    kh, kw = self.kernel_size
    # Kernel before bias: flax folds a per-module counter into the 'params'
    # RNG, so the creation order decides which key each initialiser sees.
    kernel = self.param('kernel', self.kernel_init,
                        (kh, kw, x.shape[-1], self.features), self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,),
                       self.param_dtype) if self.use_bias else None)
    x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
    padding = canonicalize_padding(self.padding, 2)
    if isinstance(padding, str) and padding not in ('SAME', 'VALID'):
      raise ValueError(f"padding '{padding}' is not supported; use nn.Conv*")
    how = formulation(self.impl, strides)
    if (how == 'xla' and formulation(self.impl, (2, 2)) == 'fast' and
        is_small_input(x.shape, kernel.shape)):
      # A stride-1 layer narrower than its kernel leaves XLA:CPU's fast path
      # too: DCGAN-64's first transposed conv (1x1 -> 4x4, 100->256) took 10.7
      # ms forward at batch 128, for 0.1 GFLOP.
      how = 'fast'
    if how == 'xla' and transpose:
      y = lax.conv_transpose(x, kernel, strides, padding, dimension_numbers=_DN,
                             precision=self.precision)
    elif how == 'xla':
      y = _lax_conv(x, kernel, strides, padding, self.precision)
    else:
      if isinstance(padding, str) and transpose:
        padding = [conv_transpose_pads(k, s, padding)
                   for k, s in zip((kh, kw), strides)]
      elif isinstance(padding, str):
        padding = lax.padtype_to_pads(x.shape[1:3], (kh, kw), strides, padding)
      pads = tuple(tuple(p) for p in padding)  # Hashable, for custom_vjp.
      if how == 'fast' and is_small_input(x.shape, kernel.shape):
        how = 'small'
      elif how == 'fast' and is_block_layer(x.shape, kernel.shape, strides, pads, transpose):
        how = 'blocks'
      op = {(True, 'small'): scatter_conv_transpose,
            (False, 'small'): patch_conv,
            (True, 'blocks'): block_conv_transpose,
            (False, 'blocks'): block_conv,
            (True, 'fast'): strided_conv_transpose,
            (False, 'fast'): strided_conv,
            (True, 'subpixel'): subpixel_conv_transpose,
            (False, 'subpixel'): space_to_depth_conv}[transpose, how]
      y = op(x, kernel, strides, pads, self.precision)
    if bias is not None:
      y = y + bias.reshape(1, 1, 1, -1)
    return y.reshape(batch_shape + y.shape[1:])


class Conv(_ConvBase):
  """flax.linen.Conv for 2-D NHWC: [*B, H, W, C] -> [*B, H', W', features]."""

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    return self._apply(inputs, transpose=False)


class ConvTranspose(_ConvBase):
  """flax.linen.ConvTranspose (transpose_kernel=False) for 2-D NHWC:
  [*B, H, W, C] -> [*B, H', W', features]. 'SAME' / 'VALID' give H' = s H /
  s H + max(k - s, 0); explicit pads pad the s-dilated input (lax semantics)."""
  strides: Union[None, int, Sequence[int]] = None

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    return self._apply(inputs, transpose=True)
