"""PacGAN packing (Lin et al. 2018): the discriminator judges m samples jointly.

With packing degree m, D's input is m examples from the same source -- all
real or all generated -- concatenated along the channel axis (images
[H, W, C] -> [H, W, m*C]) or the feature axis (points [2] -> [2m]); D outputs
one logit per pack. A collapsed generator's m samples look alike, which a
real pack does not: PacGAN, Sec. 3 shows that packing penalises mode
collapse in the total-variation picture, at no change to G.

`config.batch_size` always counts examples: a D move on B real and B fake
examples judges B/m real and B/m fake packs, formed from consecutive
examples of each device's batch, so the batch per device must be a multiple
of m (config/validation.py checks it). m = 1 is the unpacked GAN, bit for bit.
"""
from typing import Sequence, Tuple

import jax
import jax.numpy as jnp


def packed_shape(example_shape: Sequence[int], pack: int) -> Tuple[int, ...]:
  """The shape of one packed D input: the last (channel/feature) axis times m."""
  return tuple(example_shape[:-1]) + (example_shape[-1] * pack,)


def pack(x: jax.Array, m: int) -> jax.Array:
  """Packs consecutive groups of m examples into one D input.

  Args:
    x: examples [B, ..., C], B a multiple of m.
    m: the packing degree; 1 returns `x` itself.
  Returns:
    [B // m, ..., m * C]: pack i holds examples i*m .. i*m + m - 1, each
    example's channels contiguous in order ([..., j*C:(j+1)*C] is example
    i*m + j).
  """
  if m == 1:
    return x
  b = x.shape[0]
  if b % m:
    raise ValueError(f'a batch of {b} examples does not split into packs of {m}')
  grouped = x.reshape((b // m, m) + x.shape[1:])           # [B/m, m, ..., C]
  grouped = jnp.moveaxis(grouped, 1, -2)             # [B/m, ..., m, C]
  return grouped.reshape((b // m,) + x.shape[1:-1] + (m * x.shape[-1],))
