"""GANState and the one update step that plays the GAN game.

`train_step(state, batch) -> (state, metrics)` makes `n_critic` discriminator
moves, each on its own real batch, then one generator move. It
is pure and is `jax.pmap`ped over the local devices with axis 'batch':
gradients and metrics are averaged with `lax.pmean`, batch norm statistics are
synchronised across devices, and per-example noise and dropout are keyed by
the example's global index -- so N devices compute what one device computes
on the same global batch. `train_and_evaluate` is the loop around it.

Batch norm follows the reference models (PyTorch DCGAN / TF tutorial): D sees
the real and the fake batch in two separate training-mode calls, so each
batch is normalised by its own statistics and D's running averages are
updated by each call; G runs in training mode whenever it generates for a
move, and its running averages (used for sampling) follow those calls. The
generator move draws fresh noise.
"""
import json
import os
import time
from typing import Callable

from absl import logging
from flax import jax_utils
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import checkpointing, input_pipeline, regularizers, synthetic_data, writers
from gan_jax.evaluation import evaluator as evaluator_lib
from gan_jax import preemption as preemption_lib
from gan_jax import workdir as workdir_lib
from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.models import layers
from gan_jax.state import AXIS, GAN, GANState, build_gan, create_state, param_count, validate


# Steps dispatched beyond the last one known finished.
_MAX_STEPS_AHEAD = 2


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


def _fixed_latents(config: ml_collections.ConfigDict, n: int = 64) -> jax.Array:
  # The same 64 codes for the whole run, so successive grids are comparable.
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5A3B1E)
  return layers.sample_latent(key, n, config.model.latent_dim)


def _unreplicate(tree):
  """Host copy of device 0's replica.

  Reads device 0's buffer directly: indexing (`x[0]`) would launch a gather
  that can interleave with the pmapped step's all-reduce on the device
  threads and deadlock it (seen with 8 CPU devices).
  """
  shards = jax.device_get(jax.tree.map(lambda x: x.addressable_data(0), tree))
  return jax.tree.map(lambda x: x[0], shards)  # drops the device axis, on host


def _evaluate(evaluator, gan: GAN, config, pstate) -> dict:
  """Quality metrics of the current generator (EMA or raw params, inference
  mode), on the same latent draws at every evaluation."""
  start = time.perf_counter()
  g_params = pstate.ema_g_params if config.eval.params == 'ema' else pstate.g_params
  params, stats = _unreplicate((g_params, pstate.g_batch_stats))
  sample = evaluator_lib.generator_sampler(gan, params, stats, config.model.latent_dim)
  results = evaluator(sample, evaluator_lib.latent_key(config.seed))
  results['eval_seconds'] = time.perf_counter() - start
  return results


class DivergenceError(GanJaxError):
  """Training produced a non-finite loss, gradient or parameter."""


def _first_nonfinite(host_metrics, first_step: int):
  """(step, [names]) of the first step with a non-finite metric, or None.

  The metrics include the global norms of both networks' new parameters, so
  a NaN anywhere in the parameters is caught too.
  """
  for i, metrics in enumerate(host_metrics):
    bad = [k for k, v in metrics.items() if not np.all(np.isfinite(v))]
    if bad:
      return first_step + i, sorted(bad)
  return None


def _write_param_counts(workdir: str, g_count: int, d_count: int) -> None:
  with open(os.path.join(workdir, 'param_counts.json'), 'w') as f:
    json.dump({'generator': g_count, 'discriminator': d_count}, f)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> GANState:
  """Trains (or resumes) the GAN of `config` in `workdir`; returns the final
  host-side state. Outputs: checkpoints/, tensorboard/, samples/,
  metrics.jsonl, config.json, param_counts.json."""
  if config.distributed:
    jax.distributed.initialize()
  devices = local_devices(config)
  validate(config, len(devices) * jax.process_count())
  images = input_pipeline.load_images(config.data)
  gan = build_gan(config, input_pipeline.image_shape(config.data, images.shape[1:]))
  state = create_state(config, gan)
  g_count, d_count = param_count(state.g_params), param_count(state.d_params)
  logging.info('Trainable parameters: generator %s, discriminator %s',
               f'{g_count:,}', f'{d_count:,}')
  is_chief = jax.process_index() == 0
  if is_chief:
    workdir_lib.claim(workdir, config)
    _write_param_counts(workdir, g_count, d_count)

  if config.eval.params not in ('ema', 'raw'):
    raise ConfigError(f"config.eval.params must be 'ema' or 'raw', got "
                      f"'{config.eval.params}'")
  evaluator = None
  if config.eval_every_steps and evaluator_lib.resolve_metrics(
      config.data.dataset, config.eval.metrics):
    evaluator = evaluator_lib.Evaluator(config)
  best_metric, best_mode = evaluator_lib.best_metric(config)
  logging.info('The best checkpoint is the one with the %s %s',
               'lowest' if best_mode == 'min' else 'highest', best_metric)
  manager = checkpointing.create_manager(
      workdir, config.keep_checkpoints, best_metric, best_mode)
  restored, start_step = checkpointing.restore_latest(manager, state)
  if restored is None:
    start_step = 0
  else:
    state = restored
    logging.info('Resuming from the checkpoint at step %d', start_step)

  p_train_step = jax.pmap(make_train_step(config, gan), axis_name=AXIS,
                          donate_argnums=(0,), devices=mapped_devices(devices))
  sample = jax.jit(lambda params, stats, z: gan.generator.apply(
      {'params': params, 'batch_stats': stats}, z, train=False))
  # 2-D data is pictured as a scatter of 2,500 points (PacGAN's evaluation
  # size) over the mixture's mode centres; images as an 8x8 grid.
  points = len(gan.image_shape) == 1
  latents = _fixed_latents(config, 2500 if points else 64)
  centers = (synthetic_data.mixture(config.data)[0]
             if config.data.dataset in synthetic_data.MIXTURES else None)
  template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)

  def start_from(state, step):
    batches = input_pipeline.train_batches(
        images, config.batch_size, config.n_critic, len(devices), config.seed,
        step, jax.process_index(), jax.process_count())
    return (jax_utils.replicate(state, devices),
            jax_utils.prefetch_to_device(batches, 2, devices))

  pstate, batches = start_from(state, start_step)
  del state
  writer = writers.MetricWriter(workdir, start_step) if is_chief else None

  num_steps = config.num_train_steps
  pending, interval, scalars, eval_results = [], [], {}, {}
  rollbacks = 0
  interval_start, interval_step = time.perf_counter(), start_step
  preemption = preemption_lib.PreemptionRequest()
  step = start_step
  with preemption:
    while step < num_steps:
      step += 1
      pstate, metrics = p_train_step(pstate, next(batches))
      pending.append(metrics)  # stays on device until the next sync point
      if len(pending) > _MAX_STEPS_AHEAD:
        # Bound how far dispatch runs ahead of the devices: enough to keep
        # them busy, few enough that a SIGTERM is answered within a few step
        # times (schedulers grant ~30 s) rather than after a long queue.
        jax.block_until_ready(pending[-_MAX_STEPS_AHEAD - 1])
      is_last = step == num_steps
      is_log = step % config.log_every_steps == 0 or is_last
      is_sample = step % config.sample_every_steps == 0 or is_last
      is_eval = evaluator and (step % config.eval_every_steps == 0 or is_last)
      # Read once: a signal arriving later in this iteration is handled at
      # the next step, never by a break that skipped the save.
      stop = preemption.requested
      is_save = step % config.checkpoint_every_steps == 0 or is_last or stop
      if not (is_log or is_sample or is_eval or is_save):
        continue
      # Every read of the state is preceded by the divergence check of all
      # steps since the last one, so no non-finite state is ever sampled,
      # evaluated or saved.
      host = [jax.tree.map(lambda x: x[0], m) for m in jax.device_get(pending)]
      pending = []
      bad = _first_nonfinite(host, step - len(host) + 1)
      if bad:
        message = (f'non-finite {", ".join(bad[1])} at step {bad[0]}; '
                   f'checkpoints up to step {manager.latest_step() or 0} in '
                   f'{manager.directory} are intact')
        if config.nonfinite != 'rollback' or rollbacks >= config.max_rollbacks:
          raise DivergenceError(
              f'{message}. Lower the learning rates, add a penalty, or set '
              '--config.nonfinite=rollback')
        rollbacks += 1
        state, step = checkpointing.restore_latest(manager, template)
        if state is None:
          state, step = create_state(config, gan), 0
        # Fresh noise from the checkpoint on; the data order is unchanged.
        state = state.replace(rng=jax.random.fold_in(state.rng, 0xD1F + rollbacks))
        logging.warning('%s; rolled back to step %d with new noise (%d/%d)',
                        message, step, rollbacks, config.max_rollbacks)
        pstate, batches = start_from(state, step)
        del state
        if writer:
          writer.truncate(step)
        interval = []
        interval_start, interval_step = time.perf_counter(), step
        continue
      interval += host
      if is_log:
        scalars = {k: float(np.mean([m[k] for m in interval])) for k in interval[0]}
        interval = []
        now = time.perf_counter()
        steps_per_s = (step - interval_step) / (now - interval_start)
        interval_start, interval_step = now, step
        scalars['steps_per_s'] = steps_per_s
        eta = (num_steps - step) / steps_per_s
        logging.info('step %d/%d (%.1f%%) | %.2f steps/s | ETA %s | %s', step,
                     num_steps, 100 * step / num_steps, steps_per_s,
                     time.strftime('%H:%M:%S', time.gmtime(eta)),
                     writers.format_metrics(scalars))
        if writer:
          writer.write_scalars(step, scalars)
      if writer and is_sample:
        params, stats = _unreplicate((pstate.ema_g_params, pstate.g_batch_stats))
        path = writer.write_grid(step, writers.render_samples(
            np.asarray(sample(params, stats, latents)), centers))
        logging.info('Wrote samples to %s', path)
      if is_eval:
        eval_results = _evaluate(evaluator, gan, config, pstate)
        logging.info('eval at step %d: %s', step, ' '.join(
            f'{k} {v:.4g}' for k, v in eval_results.items()))
        if writer:
          writer.write_scalars(step, eval_results, prefix='eval/')
      if is_save:
        checkpointing.save(manager, step, _unreplicate(pstate),
                           {**scalars, **eval_results})
      if stop:
        logging.warning('Received %s at step %d: saved a checkpoint in %s; '
                        'run the same command to resume.', preemption.name,
                        step, manager.directory)
        break
  manager.wait_until_finished()
  if writer:
    writer.flush()
  return _unreplicate(pstate)
