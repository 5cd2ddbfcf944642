"""Optax optimisers for G and D, built from `config.optimizer_g/_d`."""
from typing import Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax.errors import ConfigError


def weight_clipping(clip_value: float) -> optax.GradientTransformation:
  """Makes `params + updates` land in [-c, c] (WGAN, Arjovsky et al. 2017,
  Algorithm 1). Chain it last, after the optimiser's own update."""

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError('weight_clipping needs params; call update(g, s, params)')
    clipped = jax.tree.map(
        lambda p, u: jnp.clip(p + u, -clip_value, clip_value) - p, params, updates)
    return clipped, state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


_OPTIMIZERS = {
    'adam': lambda c: optax.adam(c.learning_rate, b1=c.b1, b2=c.b2, eps=c.eps),
    'rmsprop': lambda c: optax.rmsprop(c.learning_rate, decay=c.b2, eps=c.eps),
    'sgd': lambda c: optax.sgd(c.learning_rate, momentum=c.b1 or None),
}


def check_name(name: str, key: str = 'optimizer') -> None:
  """Raises ConfigError unless `name` is an optimiser (`key`: the config key
  it came from, for the message)."""
  if name not in _OPTIMIZERS:
    raise ConfigError(f"unknown config.{key}.name '{name}'; valid names: "
                      f"{', '.join(sorted(_OPTIMIZERS))}")


def create(opt_config: ml_collections.ConfigDict,
           weight_clip: Optional[float] = None) -> optax.GradientTransformation:
  """Optimiser named by `opt_config.name`; b1 is Adam's beta1 / SGD momentum,
  b2 is Adam's beta2 / RMSProp's decay."""
  check_name(opt_config.name)
  if not opt_config.learning_rate > 0:
    raise ConfigError(f'optimizer learning_rate must be > 0, got '
                      f'{opt_config.learning_rate}')
  tx = _OPTIMIZERS[opt_config.name](opt_config)
  if weight_clip:
    tx = optax.chain(tx, weight_clipping(weight_clip))
  return tx
