"""Optax optimisers for G and D, built from `config.optimizer_g/_d`.

Each optimiser's learning rate follows `schedule`, counted in that player's
own updates (D makes n_critic per step):
  constant     learning_rate;
  exponential  learning_rate * decay_rate^t, floored at end_learning_rate (the
               ExponentialDecay of pylearn2 that Goodfellow et al. 2014 used,
               decay_rate = 1 / 1.000004);
  cosine       from learning_rate to end_learning_rate over `decay_steps`
               (Loshchilov & Hutter 2017, without restarts).
SGD's momentum (b1) may ramp linearly to b1_final over b1_ramp_steps updates
(pylearn2's MomentumAdjustor; 0 = constant).
"""
import math
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


def _sgd(c, lr):
  ramp = c.b1_ramp_steps
  if not ramp:
    return optax.sgd(lr, momentum=c.b1 or None)
  final = c.b1 if c.b1_final is None else c.b1_final
  momentum = optax.linear_schedule(c.b1, final, ramp)
  return optax.inject_hyperparams(optax.sgd)(learning_rate=lr, momentum=momentum)


_OPTIMIZERS = {
    'adam': lambda c, lr: optax.adam(lr, b1=c.b1, b2=c.b2, eps=c.eps),
    'rmsprop': lambda c, lr: optax.rmsprop(lr, decay=c.b2, eps=c.eps),
    'sgd': _sgd,
}
SCHEDULES = ('constant', 'exponential', 'cosine', 'linear')


def learning_rate(opt_config: ml_collections.ConfigDict):
  """The learning rate of `opt_config`: a float, or an optax schedule of the
  update count. Raises ConfigError for an unknown schedule."""
  name = opt_config.schedule
  lr = opt_config.learning_rate
  end = opt_config.end_learning_rate
  if name == 'constant':
    return lr
  if name == 'exponential':
    # exp(t log r) with log r taken in float64: optax's r ** t in float32
    # rounds r = 1 / 1.000004 by 3e-8, 0.1 % of the rate after 10^5 updates.
    log_rate = math.log(opt_config.decay_rate)
    return lambda count: jnp.maximum(lr * jnp.exp(count * log_rate), end)
  if name == 'cosine':
    return optax.cosine_decay_schedule(lr, opt_config.decay_steps,
                                       alpha=end / lr)
  if name == 'linear':
    # SNGAN's and Mimicry's decay to 0 over training (lr_decay='linear'),
    # in this optimiser's own update count: decay_steps = num_train_steps x
    # the player's moves per step.
    return optax.linear_schedule(lr, end, opt_config.decay_steps)
  raise ConfigError(f"unknown optimizer schedule '{name}'; valid: "
                    f"{', '.join(SCHEDULES)}")


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
  tx = _OPTIMIZERS[opt_config.name](opt_config, learning_rate(opt_config))
  if weight_clip:
    tx = optax.chain(tx, weight_clipping(weight_clip))
  return tx
