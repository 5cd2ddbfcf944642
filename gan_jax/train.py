"""The training loop: data, the pmapped step of `train_step`, logging,
samples, evaluation, checkpoints, resumption, the divergence guard.

`train_and_evaluate(config, workdir)` trains one run; `train_seeds` trains
several seeds of a config together, vmapped inside the pmap. The loop
dispatches steps ahead of the devices and syncs only where it logs, samples,
evaluates or saves.
"""
import collections
import time
from typing import Iterator, List, Mapping, Sequence

from absl import logging
from flax import jax_utils
import jax
import ml_collections
import numpy as np

from gan_jax import checkpointing, input_pipeline, seed_runs, synthetic_data, writers
from gan_jax import train_step as step_lib
from gan_jax.evaluation import evaluator as evaluator_lib
from gan_jax import preemption as preemption_lib
from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.state import GAN, GANState, create_state, validate


# Steps dispatched beyond the last one known finished.
_MAX_STEPS_AHEAD = 2


def _group(batches: Iterator, sizes: Sequence[int]) -> Iterator:
  """Stacks n consecutive batches along a new axis 1 (after the device axis)
  for each n > 1 of `sizes`."""
  for n in sizes:
    first = next(batches)
    yield first if n == 1 else np.stack(
        [first] + [next(batches) for _ in range(n - 1)], axis=1)


def _unreplicate(tree):
  """Host copy of device 0's replica.

  Reads device 0's buffer directly: indexing (`x[0]`) would launch a gather
  that can interleave with the pmapped step's all-reduce on the device
  threads and deadlock it (seen with 8 CPU devices).
  """
  shards = jax.device_get(jax.tree.map(lambda x: x.addressable_data(0), tree))
  return jax.tree.map(lambda x: x[0], shards)  # drops the device axis, on host


def _evaluate(evaluator, gan: GAN, config, g_params, g_batch_stats) -> dict:
  """Quality metrics of the generator with these host-side parameters
  (inference mode), on the same latent draws at every evaluation."""
  start = time.perf_counter()
  sample = evaluator_lib.generator_sampler(gan, g_params, g_batch_stats,
                                           config.model.latent_dim,
                                           config.eval.bn_stats)
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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> GANState:
  """Trains (or resumes) the GAN of `config` in `workdir`; returns the final
  host-side state. Outputs: checkpoints/, tensorboard/, samples/,
  metrics.jsonl, config.json, param_counts.json."""
  return train_seeds(config, {config.seed: workdir})[0]


def train_seeds(config: ml_collections.ConfigDict,
                workdirs: Mapping[int, str]) -> List[GANState]:
  """Trains one run of `config` per seed, `workdirs[seed]` each; returns
  their final host-side states.

  Several seeds train together: one program, `jax.vmap`ped over the seeds
  inside the pmap, steps all of them (on an accelerator, small models then
  fill the device; on CPU the group only shares the process start, see
  README). Each workdir is what a solo run of `--config.seed=<seed>` writes,
  to float tolerance, and either may resume the other.
  """
  if config.distributed:
    jax.distributed.initialize()
  devices = step_lib.local_devices(config)
  validate(config, len(devices) * jax.process_count())
  if config.eval.params not in ('ema', 'raw'):
    raise ConfigError(f"config.eval.params must be 'ema' or 'raw', got "
                      f"'{config.eval.params}'")
  if config.eval.bn_stats not in evaluator_lib.BN_STATS:
    raise ConfigError(f"config.eval.bn_stats must be 'batch' or 'running', got "
                      f"'{config.eval.bn_stats}'")
  seeds = list(workdirs)
  vmapped = len(seeds) > 1
  is_chief = jax.process_index() == 0
  gan, states, runs = seed_runs.build(config, workdirs, is_chief)
  template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), states[0])
  restored, start_step = seed_runs.restore(runs, template)
  if restored is not None:
    states = restored
    logging.info('Resuming from the checkpoint at step %d', start_step)

  # Several processes must stop at the same step: each one's stop request
  # travels through the step (a pmax) to all of them.
  multi_process = jax.process_count() > 1
  p_train_step = step_lib.pmapped_train_step(config, gan, devices, vmapped,
                                             stop_flag=multi_process)
  per_dispatch = config.steps_per_dispatch
  p_multi_step = (step_lib.pmapped_train_step(config, gan, devices, vmapped,
                                              per_dispatch, stop_flag=multi_process)
                  if per_dispatch > 1 else None)
  if per_dispatch > 1 and jax.default_backend() == 'cpu' and any(
      name.startswith('dcgan') for name in
      (config.model.generator, config.model.discriminator)):
    logging.warning('config.steps_per_dispatch=%d with a convolutional model on '
                    'CPU: XLA:CPU runs convolution gradients inside the loop '
                    'many times slower; 1 is faster here', per_dispatch)
  if vmapped:
    logging.info('Training seeds %s together (vmapped)', seeds)
  sample = jax.jit(evaluator_lib.generator_apply(gan, config.eval.bn_stats))
  centers = (synthetic_data.mixture(config.data)[0]
             if config.data.dataset in synthetic_data.MIXTURES else None)

  def seed_slice(tree, i):
    return jax.tree.map(lambda x: x[i], tree) if vmapped else tree

  def start_from(states, step):
    streams = [input_pipeline.train_batches(
        run.images, config.batch_size, config.n_critic, len(devices),
        run.config.seed, step, jax.process_index(), jax.process_count())
        for run in runs]
    # [devices, seeds, n_critic, batch, ...]: the seed axis right after pmap's.
    batches = (np.stack(b, axis=1) if vmapped else b[0] for b in zip(*streams))
    sizes = step_lib.dispatch_sizes(step, config.num_train_steps, per_dispatch)
    return (jax_utils.replicate(step_lib.stack_seeds(states), devices),
            jax_utils.prefetch_to_device(_group(batches, sizes), 2, devices),
            collections.deque(sizes))

  pstate, batches, sizes = start_from(states, start_step)
  del states, restored
  if is_chief:
    for run in runs:
      run.writer = writers.MetricWriter(run.workdir, start_step)

  def host_state():
    state = _unreplicate(pstate)
    return [seed_slice(state, i) for i in range(len(runs))]

  num_steps = config.num_train_steps
  pending = []
  stop_flags = collections.deque()  # multi-process: every process's request
  rollbacks = 0
  interval_start, interval_step = time.perf_counter(), start_step
  preemption = preemption_lib.PreemptionRequest()
  step = start_step
  with preemption:
    while step < num_steps:
      n = sizes.popleft()
      step += n
      step_fn = p_multi_step if n > 1 else p_train_step
      if multi_process:
        local = np.full(len(devices), preemption.requested, np.int32)
        pstate, metrics, any_stop = step_fn(pstate, next(batches), local)
        stop_flags.append(any_stop)
      else:
        pstate, metrics = step_fn(pstate, next(batches))
      pending.append((n, metrics))  # on device until the next sync point
      if len(pending) > _MAX_STEPS_AHEAD:
        # Bound how far dispatch runs ahead of the devices: enough to keep
        # them busy, few enough that a SIGTERM is answered within a few step
        # times (schedulers grant ~30 s) rather than after a long queue.
        jax.block_until_ready(pending[-_MAX_STEPS_AHEAD - 1][1])
      is_last = step == num_steps
      is_log = step % config.log_every_steps == 0 or is_last
      is_sample = step % config.sample_every_steps == 0 or is_last
      is_eval = (config.eval_every_steps and runs[0].evaluator is not None
                 and (step % config.eval_every_steps == 0 or is_last))
      # Read once: a signal arriving later in this iteration is handled at
      # the next step, never by a break that skipped the save.
      if multi_process:
        # All processes decide on the same dispatch's flag: the one
        # _MAX_STEPS_AHEAD dispatches back, finished (or nearly) by now.
        stop = len(stop_flags) > _MAX_STEPS_AHEAD and bool(
            np.asarray(stop_flags.popleft().addressable_data(0)))
      else:
        stop = preemption.requested
      is_save = step % config.checkpoint_every_steps == 0 or is_last or stop
      if not (is_log or is_sample or is_eval or is_save):
        continue
      # Every read of the state is preceded by the divergence check of all
      # steps since the last one, so no non-finite state is ever sampled,
      # evaluated or saved.
      host = []
      for n, m in jax.device_get(pending):
        m = jax.tree.map(lambda x: x[0], m)  # device 0's copy
        host += [m] if n == 1 else [jax.tree.map(lambda x, i=i: x[i], m)
                                    for i in range(n)]
      pending = []
      per_run = [[seed_slice(m, i) for m in host] for i in range(len(runs))]
      bad = {i: b for i, b in enumerate(
          _first_nonfinite(h, step - len(h) + 1) for h in per_run) if b}
      if bad:
        messages = [
            f'non-finite {", ".join(names)} at step {at}' + (
                f' of seed {runs[i].config.seed}' if vmapped else '') +
            f'; checkpoints up to step {runs[i].manager.latest_step() or 0} in '
            f'{runs[i].manager.directory} are intact'
            for i, (at, names) in bad.items()]
        if config.nonfinite != 'rollback' or rollbacks >= config.max_rollbacks:
          raise DivergenceError(
              f'{"; ".join(messages)}. Lower the learning rates, add a penalty, '
              'or set --config.nonfinite=rollback')
        rollbacks += 1
        states, step = seed_runs.restore(runs, template)
        if states is None:
          states = [create_state(run.config, gan) for run in runs]
        # Fresh noise from the checkpoint on for the seeds that diverged (the
        # others replay their steps exactly); the data order is unchanged.
        states = [s.replace(rng=jax.random.fold_in(s.rng, 0xD1F + rollbacks))
                  if i in bad else s for i, s in enumerate(states)]
        logging.warning('%s; rolled back to step %d with new noise (%d/%d)',
                        '; '.join(messages), step, rollbacks, config.max_rollbacks)
        pstate, batches, sizes = start_from(states, step)
        stop_flags.clear()  # a request is still pending locally: sent again
        del states
        for run in runs:
          run.interval = []
          if run.writer:
            run.writer.truncate(step)
        interval_start, interval_step = time.perf_counter(), step
        continue
      if is_log:
        now = time.perf_counter()
        interval_seconds = now - interval_start
        steps_per_s = (step - interval_step) / interval_seconds
        interval_start, interval_step = now, step
      states = host_state() if (is_sample or is_eval or is_save) else None
      for i, run in enumerate(runs):
        run.interval += per_run[i]
        label = f'seed {run.config.seed} ' if vmapped else ''
        if is_log:
          scalars = {k: float(np.mean([m[k] for m in run.interval]))
                     for k in run.interval[0]}
          run.interval = []
          scalars['steps_per_s'] = steps_per_s
          scalars['interval_seconds'] = interval_seconds
          run.scalars = scalars
          eta = (num_steps - step) / steps_per_s
          logging.info('%sstep %d/%d (%.1f%%) | %.2f steps/s | ETA %s | %s', label,
                       step, num_steps, 100 * step / num_steps, steps_per_s,
                       time.strftime('%H:%M:%S', time.gmtime(eta)),
                       writers.format_metrics(scalars))
          if run.writer:
            run.writer.write_scalars(step, scalars)
        if run.writer and is_sample:
          state = states[i]
          path = run.writer.write_grid(step, writers.render_samples(np.asarray(
              sample(state.ema_g_params, state.g_batch_stats, run.latents)), centers))
          logging.info('Wrote samples to %s', path)
        if is_eval:
          state = states[i]
          g_params = state.ema_g_params if config.eval.params == 'ema' else state.g_params
          run.eval_results = _evaluate(run.evaluator, gan, run.config, g_params,
                                       state.g_batch_stats)
          logging.info('%seval at step %d: %s', label, step, ' '.join(
              f'{k} {v:.4g}' for k, v in run.eval_results.items()))
          if run.writer:
            run.writer.write_scalars(step, run.eval_results, prefix='eval/')
        if is_save:
          checkpointing.save(run.manager, step, states[i],
                             {**run.scalars, **run.eval_results})
      if stop:
        logging.warning('Received %s at step %d: saved a checkpoint in %s; '
                        'run the same command to resume.',
                        preemption.name or 'a stop request of another process',
                        step, ', '.join(str(r.manager.directory) for r in runs))
        break
  for run in runs:
    run.manager.wait_until_finished()
    if run.writer:
      run.writer.flush()
  return host_state()
