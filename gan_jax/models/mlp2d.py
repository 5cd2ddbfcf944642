"""Small fully connected G and D for the 2-D mixtures (`mog_ring`, `mog_grid`).

After the 2-D networks of Metz et al. 2016 ("Unrolled GANs", App. A): ReLU
MLPs, a linear generator output (no tanh: the grid spans about [-4.2, 4.2]²)
and a linear logit, no batch norm -- so D's output for a point does not depend
on the rest of the batch, and per-sample gradient penalties are exact
(regularizers.py). VEEGAN/PacGAN's generator (4 x 400 ReLU with batch norm)
is `config.model.g_hidden=(400,)*4, g_batch_norm=True`; their maxout
discriminator is not provided. Flax default (LeCun normal) initialisation.

Parameter counts, z=2, G (128, 128), D (128, 128): G 17,154; D 17,025.
"""
import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import layers


class Generator(nn.Module):
  """z [B, latent_dim] -> points [B, *out_shape] (unbounded)."""
  out_shape: Sequence[int] = (2,)
  hidden: Sequence[int] = (128, 128)
  batch_norm: bool = False
  axis_name: Optional[str] = None
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    x = z
    for features in self.hidden:
      x = nn.Dense(features, use_bias=not self.batch_norm, dtype=self.dtype)(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         axis_name=self.axis_name, dtype=self.dtype)(x)
      x = nn.relu(x)
    x = nn.Dense(math.prod(self.out_shape), dtype=self.dtype)(x)
    return x.astype(jnp.float32).reshape(z.shape[0], *self.out_shape)


class Discriminator(nn.Module):
  """points [B, ...] -> logits [B] (no sigmoid)."""
  hidden: Sequence[int] = (128, 128)
  spectral_norm: bool = False  # of every kernel (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    # No batch norm or dropout: `train` only advances spectral norm's
    # power iteration.
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    x = x.reshape(x.shape[0], -1)
    for features in self.hidden:
      x = nn.relu(sn(nn.Dense(features, dtype=self.dtype))(x))
    return sn(nn.Dense(1, dtype=self.dtype))(x)[:, 0].astype(jnp.float32)
