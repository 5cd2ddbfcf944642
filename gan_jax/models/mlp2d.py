"""Small fully connected G and D for the 2-D mixtures (`mog_ring`, `mog_grid`).

After the 2-D networks of Metz et al. 2016 ("Unrolled GANs", App. A): ReLU
MLPs, a linear generator output (no tanh: the grid spans about [-4.2, 4.2]²)
and a linear logit, no batch norm -- so D's output for a point does not depend
on the rest of the batch, and per-sample gradient penalties are exact
(game/penalties.py). Flax default (LeCun normal) initialisation.

PacGAN's 2-D networks (Lin et al. 2018, App. D; fjxmlzn/PacGAN,
synthetic_data_experiments/*/pacgan_task.py), configs/repro_pacgan_2d.py:
  G: z [2] -> 4 x (Linear 400 without bias, batch norm (eps 1e-4, population
     averages 0.95 old + 0.05 new), ReLU) -> Linear 2 with bias;
  D: 3 x LinearMaxout (200 units of 5 pieces: Linear 1000 + max over groups
     of 5) -> Linear 1;
  weights N(0, 0.02^2), biases 0 (`init_std=0.02`).
As `g_hidden=(400,)*4, g_batch_norm=True, bn_momentum=0.95, bn_epsilon=1e-4,
d_hidden=(200,)*3, d_maxout_pieces=5, init_std=0.02`. Their parameter counts,
as the reference code prints them: G 484,802; D 405,201 (+2,000 per extra
packed sample).

Parameter counts, z=2, G (128, 128), D (128, 128): G 17,154; D 17,025.

Class-conditional (`num_classes` > 0, e.g. the mixture component): as
dcgan.py; G's 'cbn' needs its batch norm (`batch_norm=True`).
"""
import math
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from gan_jax.models import batch_norm, layers


def _kernel_init(init_std: float):
  """N(0, init_std^2) weights; 0 keeps flax's default (LeCun normal)."""
  if init_std:
    return nn.initializers.normal(init_std)
  return nn.linear.default_kernel_init


class Maxout(nn.Module):
  """LinearMaxout (Goodfellow et al. 2013): Dense(units * pieces), then the
  max over each unit's `pieces` consecutive outputs. [B, F] -> [B, units]."""
  units: int
  pieces: int
  kernel_init: Any = nn.linear.default_kernel_init
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.Dense(self.units * self.pieces, kernel_init=self.kernel_init,
                 dtype=self.dtype)(x)
    return jnp.max(x.reshape(x.shape[:-1] + (self.units, self.pieces)), axis=-1)


class Generator(nn.Module):
  """z [B, latent_dim] -> points [B, *out_shape] (unbounded)."""
  out_shape: Sequence[int] = (2,)
  hidden: Sequence[int] = (128, 128)
  batch_norm: bool = False
  bn_momentum: float = 0.9    # running average: momentum * old + (1 - momentum) * new
  bn_epsilon: float = 1e-5
  init_std: float = 0.0       # N(0, init_std^2) weights; 0: LeCun normal
  axis_name: Optional[str] = None
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32
  num_classes: int = 0        # 0: unconditional
  conditioning: str = 'cbn'   # layers.G_CONDITIONINGS

  @nn.compact
  def __call__(self, z: jax.Array, train: bool,
               labels: Optional[jax.Array] = None) -> jax.Array:
    init = _kernel_init(self.init_std)
    x = z
    if self.num_classes and self.conditioning == 'concat':
      x = layers.concat_labels(x, labels, self.num_classes)
    for features in self.hidden:
      x = nn.Dense(features, use_bias=not self.batch_norm, kernel_init=init,
                   dtype=self.dtype)(x)
      if self.batch_norm:
        kwargs = dict(use_running_average=not train, momentum=self.bn_momentum,
                      epsilon=self.bn_epsilon, axis_name=self.axis_name,
                      dtype=self.dtype)
        if self.num_classes and self.conditioning == 'cbn':
          x = layers.ConditionalBatchNorm(self.num_classes, **kwargs)(x, labels)
        else:
          x = batch_norm.BatchNorm(**kwargs)(x)
      x = nn.relu(x)
    x = nn.Dense(math.prod(self.out_shape), kernel_init=init, dtype=self.dtype)(x)
    return x.astype(jnp.float32).reshape(z.shape[0], *self.out_shape)


class Discriminator(nn.Module):
  """points [B, ...] -> logits [B] (no sigmoid)."""
  hidden: Sequence[int] = (128, 128)
  maxout_pieces: int = 0       # > 0: LinearMaxout hidden layers instead of ReLU
  init_std: float = 0.0        # N(0, init_std^2) weights; 0: LeCun normal
  spectral_norm: bool = False  # of every kernel (layers.spectral_norm)
  dtype: Any = jnp.float32  # of the arithmetic; parameters stay float32
  num_classes: int = 0             # 0: unconditional
  conditioning: str = 'projection'  # layers.D_CONDITIONINGS

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, labels: Optional[jax.Array] = None):
    # No batch norm or dropout: `train` only advances spectral norm's
    # power iteration.
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    init = _kernel_init(self.init_std)
    x = x.reshape(x.shape[0], -1)
    if self.num_classes and self.conditioning == 'concat':
      x = layers.concat_labels(x, labels, self.num_classes)
    for features in self.hidden:
      if self.maxout_pieces:
        x = sn(Maxout(features, self.maxout_pieces, init, self.dtype))(x)
      else:
        x = nn.relu(sn(nn.Dense(features, kernel_init=init, dtype=self.dtype))(x))
    logits = sn(nn.Dense(1, kernel_init=init, dtype=self.dtype))(x)[:, 0]
    return layers.conditional_head(self, x, logits.astype(jnp.float32), labels, sn)
