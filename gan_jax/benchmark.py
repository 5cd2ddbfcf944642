"""Times the real training step of a config on synthetic data.

  python -m gan_jax.benchmark --config=configs/mnist.py [--config.batch_size=128]
      [--steps=20] [--repeats=5] [--seeds=K] [--profile_dir=DIR]

Compiles exactly the pmapped `train.make_train_step` that training uses,
feeds it random uint8 images of the dataset's shape (no input pipeline), and
prints one JSON line: images_per_s and steps_per_s (median over repeats),
compile_s, devices, batch_size, the model names, and GFLOP/s from XLA's cost
analysis of the compiled step. With --seeds=K, the step of K seeds trained
together (`gan_jax.main --seeds`, vmapped); images_per_s then counts all K.
With --config.steps_per_dispatch=k, k steps per call (lax.scan), as training
runs them; --steps still counts steps.
"""
import json
import statistics
import time

from absl import app
from absl import flags
from flax import jax_utils
import jax
import numpy as np
from ml_collections import config_flags

from gan_jax import input_pipeline, train, xla_cpu
from gan_jax import state as state_lib

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Training config file.',
                                lock_config=True)
flags.DEFINE_integer('steps', 20, 'Steps per timed repeat.')
flags.DEFINE_integer('repeats', 5, 'Timed repeats; the median is reported.')
flags.DEFINE_integer('seeds', 1, 'Seeds trained together (vmapped) in the step.')
flags.DEFINE_string('profile_dir', None, 'Write a jax.profiler trace here.')
flags.mark_flags_as_required(['config'])

# Stored image shapes of the datasets the configs use.
_STORED_SHAPES = {'mnist': (28, 28, 1), 'fashion_mnist': (28, 28, 1),
                  'stacked_mnist': (28, 28, 3), 'mog_ring': (2,), 'mog_grid': (2,)}


def _step_flops(compiled) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get('flops', 0.0)) if cost else 0.0


def benchmark(config, steps: int, repeats: int, profile_dir=None,
              seeds: int = 1) -> dict:
  devices = train.local_devices(config)
  state_lib.validate(config, len(devices))
  stored = _STORED_SHAPES.get(config.data.dataset, (28, 28, 1))
  gan = state_lib.build_gan(config, input_pipeline.image_shape(config.data, stored))
  states = [state_lib.create_state(train.seed_config(config, config.seed + i), gan)
            for i in range(seeds)]
  state = states[0] if seeds == 1 else jax.tree.map(lambda *x: np.stack(x), *states)
  state = jax_utils.replicate(state, devices)
  local = config.batch_size // len(devices)
  rng = np.random.default_rng(0)
  k = config.steps_per_dispatch  # steps per call of the step function
  shape = ((len(devices),) + ((k,) if k > 1 else ()) +
           ((seeds,) if seeds > 1 else ()) + (config.n_critic, local))
  if len(stored) == 1:  # 2-D points: float data
    images = rng.standard_normal(shape + stored).astype(np.float32)
  else:
    images = rng.integers(0, 256, shape + stored, dtype=np.uint8)
  batch = next(jax_utils.prefetch_to_device(iter([images]), 1, devices))
  step = train.pmapped_train_step(config, gan, devices, vmapped=seeds > 1,
                                  steps=k)
  dispatches = max(1, steps // k)
  start = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  flops = _step_flops(compiled)
  if k > 1:  # cost analysis does not multiply a loop body by its trip count
    single = train.pmapped_train_step(config, gan, devices, vmapped=seeds > 1)
    flops = _step_flops(single.lower(
        state, jax.tree.map(lambda x: x[:, 0], batch)).compile())
  for _ in range(3):  # warm-up
    state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  if profile_dir:
    jax.profiler.start_trace(profile_dir)
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(dispatches):
      state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    rates.append(dispatches * k / (time.perf_counter() - start))
  if profile_dir:
    jax.profiler.stop_trace()
  steps_per_s = statistics.median(rates)
  # XLA's cost analysis counts one device's program.
  gflops = flops * len(devices) * steps_per_s / 1e9
  return dict(generator=config.model.generator,
              discriminator=config.model.discriminator,
              conv_impl=config.model.conv_impl, backend=jax.default_backend(),
              devices=len(devices), batch_size=config.batch_size, seeds=seeds,
              n_critic=config.n_critic, steps_per_dispatch=k,
              compute_dtype=config.model.compute_dtype,
              steps_per_s=round(steps_per_s, 3),
              images_per_s=round(steps_per_s * config.batch_size * seeds, 1),
              compile_s=round(compile_s, 2),
              gflop_per_step=round(flops * len(devices) / 1e9, 3),
              gflop_per_s=round(gflops, 1))


def main(argv):
  del argv
  xla_cpu.configure(FLAGS.config.xla_cpu_tuning)
  print(json.dumps(benchmark(FLAGS.config, FLAGS.steps, FLAGS.repeats,
                             FLAGS.profile_dir, FLAGS.seeds)), flush=True)


if __name__ == '__main__':
  app.run(main)
