"""The one update step that plays the GAN game, and how it is dispatched.

`train_step(state, batch) -> (state, metrics)` makes `n_critic` discriminator
moves, each on its own real batch, then one generator move. It
is pure and is `jax.pmap`ped over the local devices with axis 'batch':
gradients and metrics are averaged with `lax.pmean`, batch norm statistics are
synchronised across devices, and per-example noise and dropout are keyed by
the example's global index -- so N devices compute what one device computes
on the same global batch. `train.train_and_evaluate` is the loop around it.

Batch norm follows the reference models (PyTorch DCGAN / TF tutorial): D sees
the real and the fake batch in two separate training-mode calls, so each
batch is normalised by its own statistics and D's running averages are
updated by each call; G runs in training mode whenever it generates for a
move, and its running averages (used for sampling) follow those calls. The
generator move draws fresh noise.
"""
from typing import Any, Callable, List, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import input_pipeline, regularizers
from gan_jax.errors import ConfigError
from gan_jax.models import layers
from gan_jax.state import AXIS, GAN, GANState


def make_train_step(config: ml_collections.ConfigDict, gan: GAN,
                    axis_name: str = AXIS) -> Callable:
  """The pure update step `(state, images) -> (state, metrics)`.

  `images`: this device's uint8 [n_critic, local_batch, H, W, C]. Metrics are
  device-global means: loss_d, loss_g, penalty, d_real / d_fake (mean
  sigmoid of D's output, i.e. D(x) and D(G(z)) as probabilities),
  d_real_logit / d_fake_logit (raw critic values), g_grad_norm / d_grad_norm.
  """
  latent_dim = config.model.latent_dim
  ema_decay = config.ema_decay
  image_size = config.data.image_size
  penalty_fn = regularizers.PENALTIES.get(gan.penalty)
  penalty_weight = config.loss.penalty_weight if penalty_fn else 0.0

  def generate(g_params, g_batch_stats, z):
    images, updates = gan.generator.apply(
        {'params': g_params, 'batch_stats': g_batch_stats}, z, train=True,
        mutable=['batch_stats'])
    return images, updates['batch_stats']

  def discriminate(d_params, d_batch_stats, images, key):
    logits, updates = gan.discriminator.apply(
        {'params': d_params, 'batch_stats': d_batch_stats}, images, train=True,
        rngs={'dropout': key}, mutable=['batch_stats'])
    return logits, updates['batch_stats']

  def train_step(state: GANState, images: jax.Array):
    local_batch = images.shape[1]
    # Identical on every device; per-example draws use the global example id.
    step_key = jax.random.fold_in(state.rng, state.step)

    def d_move(carry, inputs):
      d_params, d_batch_stats, d_opt_state, g_batch_stats = carry
      real_u8, key = inputs
      z_key, real_key, fake_key, gp_key = jax.random.split(key, 4)
      real = input_pipeline.preprocess(real_u8, image_size)
      z = layers.sample_latent(z_key, local_batch, latent_dim, axis_name)
      fake, g_batch_stats = generate(state.g_params, g_batch_stats, z)
      fake = jax.lax.stop_gradient(fake)

      def loss_fn(params):
        d_real, stats = discriminate(params, d_batch_stats, real, real_key)
        d_fake, stats = discriminate(params, stats, fake, fake_key)
        loss_d, _ = gan.objective(d_real, d_fake, axis_name)
        penalty = 0.0
        if penalty_fn is not None:
          d_fn = lambda x: discriminate(params, stats, x, gp_key)[0]
          penalty = penalty_fn(d_fn, real, fake, gp_key, axis_name)
        return loss_d + penalty_weight * penalty, (stats, loss_d, penalty,
                                                   d_real, d_fake)

      grads, (d_batch_stats, loss_d, penalty, d_real, d_fake) = jax.grad(
          loss_fn, has_aux=True)(d_params)
      grads = jax.lax.pmean(grads, axis_name)
      updates, d_opt_state = gan.d_tx.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
      metrics = dict(loss_d=loss_d, penalty=penalty,
                     d_real=jnp.mean(jax.nn.sigmoid(d_real)),
                     d_fake=jnp.mean(jax.nn.sigmoid(d_fake)),
                     d_real_logit=jnp.mean(d_real),
                     d_fake_logit=jnp.mean(d_fake),
                     d_grad_norm=optax.global_norm(grads))
      return (d_params, d_batch_stats, d_opt_state, g_batch_stats), metrics

    d_keys = jax.random.split(jax.random.fold_in(step_key, 0), config.n_critic)
    carry = (state.d_params, state.d_batch_stats, state.d_opt_state,
             state.g_batch_stats)
    # The n_critic moves are unrolled at trace time rather than run by
    # lax.scan: inside a while-loop body XLA:CPU compiles the kernel
    # gradients of strided convolutions to a partitioned slow path (1.7 s vs
    # tens of ms for D's 64->128 conv at batch 128, measured).
    d_metrics = []
    for k in range(config.n_critic):
      carry, metrics = d_move(carry, (images[k], d_keys[k]))
      d_metrics.append(metrics)
    d_params, d_batch_stats, d_opt_state, g_batch_stats = carry
    d_metrics = jax.tree.map(lambda *m: jnp.stack(m), *d_metrics)

    z_key, fake_key, real_key = jax.random.split(jax.random.fold_in(step_key, 1), 3)
    z = layers.sample_latent(z_key, local_batch, latent_dim, axis_name)

    def g_loss_fn(g_params):
      fake, new_g_stats = generate(g_params, g_batch_stats, z)
      d_fake, new_d_stats = discriminate(d_params, d_batch_stats, fake, fake_key)
      if gan.objective.generator_uses_real:
        real = input_pipeline.preprocess(images[-1], image_size)
        d_real, new_d_stats = discriminate(d_params, new_d_stats, real, real_key)
      else:
        d_real = jnp.zeros_like(d_fake)  # unused by the objective
      _, loss_g = gan.objective(d_real, d_fake, axis_name)
      return loss_g, (new_g_stats, new_d_stats)

    (loss_g, (g_batch_stats, d_batch_stats)), g_grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(state.g_params)
    g_grads = jax.lax.pmean(g_grads, axis_name)
    updates, g_opt_state = gan.g_tx.update(g_grads, state.g_opt_state,
                                           state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    if ema_decay:
      ema = jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p,
                         state.ema_g_params, g_params)
    else:
      ema = g_params

    metrics = jax.tree.map(jnp.mean, d_metrics)  # over the n_critic moves
    metrics['loss_g'] = loss_g
    metrics['g_grad_norm'] = optax.global_norm(g_grads)
    # Parameter norms: worth plotting, and the divergence guard's probe (a
    # NaN or inf anywhere in the parameters makes the norm non-finite).
    metrics['g_param_norm'] = optax.global_norm(g_params)
    metrics['d_param_norm'] = optax.global_norm(d_params)
    metrics = jax.lax.pmean(metrics, axis_name)
    new_state = state.replace(
        step=state.step + 1, g_params=g_params, g_batch_stats=g_batch_stats,
        d_params=d_params, d_batch_stats=d_batch_stats, g_opt_state=g_opt_state,
        d_opt_state=d_opt_state, ema_g_params=ema)
    return new_state, metrics

  return train_step


def local_devices(config: ml_collections.ConfigDict):
  """The local devices a run uses: the first `config.num_devices`, or all."""
  devices = jax.local_devices()
  if config.num_devices:
    if config.num_devices > len(devices):
      raise ConfigError(f'config.num_devices={config.num_devices} but only '
                        f'{len(devices)} local devices exist')
    devices = devices[:config.num_devices]
  return devices


def mapped_devices(devices):
  """The devices the step is pmapped over: every process's share of them,
  grouped by process, the same list on every process (as pmap requires).

  Process p's local devices then hold axis indices p * n ... (p + 1) * n - 1
  and so rows [p * B / P, (p + 1) * B / P) of the global batch. Only the
  local devices would give each process its own pmean: P independent runs.
  """
  n = len(devices)
  return [d for p in range(jax.process_count())
          for d in jax.local_devices(process_index=p)[:n]]


def pmapped_train_step(config: ml_collections.ConfigDict, gan: GAN, devices,
                       vmapped: bool = False, steps: int = 1,
                       stop_flag: bool = False) -> Callable:
  """The step as training runs it: pmapped over `devices` (of every process),
  the state donated; with `vmapped`, over a leading seed axis of the state
  and the batch too (after the device axis). With `steps` > 1, that many
  consecutive steps in one dispatch (lax.scan): the batch has a steps axis
  right after the device axis, and so have the metrics.

  With `stop_flag`, the step takes a third argument, each device's int32
  flag, and returns a third output, the flags' maximum over every device of
  every process: a stop asked of one process, known to all of them.
  """
  step_fn = make_train_step(config, gan)
  if vmapped:
    step_fn = jax.vmap(step_fn)
  if steps > 1:
    one_step = step_fn
    step_fn = lambda state, batches: jax.lax.scan(one_step, state, batches)
  if stop_flag:
    plain_step = step_fn

    def step_fn(state, batch, flag):
      state, metrics = plain_step(state, batch)
      return state, metrics, jax.lax.pmax(flag, AXIS)
  return jax.pmap(step_fn, axis_name=AXIS, donate_argnums=(0,),
                  devices=mapped_devices(devices))


def stack_seeds(states: Sequence[Any]):
  """The state of seeds trained together: their trees stacked along a new
  leading seed axis; one seed's state as it is."""
  if len(states) == 1:
    return states[0]
  return jax.tree.map(lambda *x: np.stack(x), *states)


def dispatch_sizes(start: int, end: int, k: int) -> List[int]:
  """Steps per dispatch from step `start` to `end`: single steps up to a
  multiple of k, k at a time, single steps for what is left. Every k-step
  dispatch then ends on a multiple of k, where logging, sampling and saving
  happen (their intervals are multiples of k)."""
  aligned = min(end, -(-start // k) * k)
  full = (end - aligned) // k
  return [1] * (aligned - start) + [k] * full + [1] * (end - aligned - full * k)
