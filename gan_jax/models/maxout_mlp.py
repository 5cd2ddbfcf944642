"""The MNIST networks of the original GAN paper (Goodfellow et al. 2014).

As in its code (goodfeli/adversarial, mnist.yaml; pylearn2 layers):
  G: z [100] -> Dense 1200 -> ReLU -> Dense 1200 -> ReLU -> Dense 784 ->
     sigmoid, weights U(-0.05, 0.05), biases 0. z ~ U(-sqrt 3, sqrt 3)^100
     (unit variance): this module takes z ~ U[-1, 1) (latent_distribution
     'uniform') and scales it by sqrt 3 itself. The sigmoid's [0, 1] output
     is mapped to gan_jax's pixel range [-1, 1] as 2 sigmoid(a) - 1 =
     tanh(a / 2), the same function of the same parameters.
  D: pixels mapped back to the paper's [0, 1] -> dropout (keep 0.8) ->
     Maxout 240 units x 5 pieces -> dropout (keep 0.5) -> Maxout 240 x 5 ->
     dropout (keep 0.5) -> Dense 1 (a logit; the paper's sigmoid is in the
     loss), weights U(-0.005, 0.005), biases 0. Dropout is
     on whenever D trains, including in G's loss (no_drop_in_d_for_g False).
     The [0, 1] input matters: with SGD at learning rate 0.1, D's first-layer
     gradient is proportional to its input, and gan_jax's [-1, 1] pixels put
     the background at -1 instead of 0; trained on them, D's weights blew up
     within 400 steps.
  The paper's D objective is half of gan_jax's BCE (AdversaryCost2: d_obj =
  0.5 (-log D(x) - log(1 - D(G(z))))); configs/repro_parzen.py halves D's
  learning rate instead, which is the same SGD update.
G's output bias starts at 0, or, with config.model.g_output_bias
'data_marginals' (as the paper's code), at the logit of each training pixel's
mean (`output_bias_from_marginals`): G starts at the mean image, and the
border pixels that are 0 in every digit start at logit(1e-7) = -16, where the
sigmoid is saturated, so they stay black.

Parameters: G 2,503,984 (121,200 + 1,441,200 + 941,584); D 1,231,441
(942,000 + 289,200 + 241).
"""
import math
from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models import layers
from gan_jax.models.mlp2d import Maxout


def output_bias_from_marginals(images: np.ndarray) -> np.ndarray:
  """logit(clip(mean pixel, 1e-7, 1 - 1e-7)) of uint8 images [N, H, W, C]
  -> float32 [H*W*C]: the bias b with sigmoid(b) the data's marginals
  (pylearn2's init_sigmoid_bias_from_marginals, the paper's G output)."""
  mean = images.reshape(images.shape[0], -1).mean(axis=0, dtype=np.float64) / 255.0
  mean = np.clip(mean, 1e-7, 1 - 1e-7)
  return np.log(mean / (1 - mean)).astype(np.float32)


def with_output_bias(g_params, bias: np.ndarray):
  """G's parameters with the output layer's bias replaced by `bias`."""
  last = max((k for k in g_params if k.startswith('Dense_')),
             key=lambda k: int(k.split('_')[1]))
  if g_params[last]['bias'].shape != bias.shape:
    raise ValueError(f'output bias of shape {bias.shape} for a G whose output '
                     f'layer has {g_params[last]["bias"].shape}')
  return {**g_params, last: {**g_params[last], 'bias': jnp.asarray(bias)}}


def _uniform(scale: float):
  """U(-scale, scale), pylearn2's `irange` initialisation."""
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init


class Generator(nn.Module):
  """z [B, latent_dim] in [-1, 1) -> images [B, *image_shape] in [-1, 1]."""
  image_shape: Sequence[int] = (28, 28, 1)
  hidden: Sequence[int] = (1200, 1200)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool) -> jax.Array:
    del train  # no batch norm, no dropout
    init = _uniform(0.05)
    x = z * math.sqrt(3.0)
    for features in self.hidden:
      x = nn.relu(nn.Dense(features, kernel_init=init, dtype=self.dtype)(x))
    x = nn.Dense(math.prod(self.image_shape), kernel_init=init, dtype=self.dtype)(x)
    return jnp.tanh(0.5 * x).astype(jnp.float32).reshape(z.shape[0], *self.image_shape)


class Discriminator(nn.Module):
  """images [B, H, W, C] in [-1, 1] -> logits [B]."""
  units: int = 240
  pieces: int = 5
  num_layers: int = 2
  input_dropout: float = 0.2    # drop rates: keep 0.8 of the pixels
  hidden_dropout: float = 0.5
  axis_name: Optional[str] = None
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    sn = lambda layer: layers.spectral_norm(layer, self.spectral_norm, train)
    init = _uniform(0.005)
    x = 0.5 * (x.reshape(x.shape[0], -1) + 1.0)
    for i in range(self.num_layers):
      rate = self.input_dropout if i == 0 else self.hidden_dropout
      x = layers.ExampleDropout(rate, self.axis_name)(x, deterministic=not train)
      x = sn(Maxout(self.units, self.pieces, init, self.dtype))(x)
    x = layers.ExampleDropout(self.hidden_dropout, self.axis_name)(
        x, deterministic=not train)
    return sn(nn.Dense(1, kernel_init=init, dtype=self.dtype))(x)[:, 0].astype(jnp.float32)
