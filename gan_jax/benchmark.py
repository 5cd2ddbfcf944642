"""Times the real training step of a config on synthetic data.

  python -m gan_jax.benchmark --config=configs/mnist.py [--config.batch_size=128]
      [--steps=20] [--repeats=5] [--profile_dir=DIR]

Compiles exactly the pmapped `train.make_train_step` that training uses,
feeds it random uint8 images of the dataset's shape (no input pipeline), and
prints one JSON line: images_per_s and steps_per_s (median over repeats),
compile_s, devices, batch_size, the model names, and GFLOP/s from XLA's cost
analysis of the compiled step.
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

from gan_jax import input_pipeline, train
from gan_jax import state as state_lib

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Training config file.',
                                lock_config=True)
flags.DEFINE_integer('steps', 20, 'Steps per timed repeat.')
flags.DEFINE_integer('repeats', 5, 'Timed repeats; the median is reported.')
flags.DEFINE_string('profile_dir', None, 'Write a jax.profiler trace here.')
flags.mark_flags_as_required(['config'])

# Stored image shapes of the datasets the configs use.
_STORED_SHAPES = {'mnist': (28, 28, 1), 'fashion_mnist': (28, 28, 1)}


def _step_flops(compiled) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get('flops', 0.0)) if cost else 0.0


def benchmark(config, steps: int, repeats: int, profile_dir=None) -> dict:
  devices = train.local_devices(config)
  state_lib.validate(config, len(devices))
  stored = _STORED_SHAPES.get(config.data.dataset, (28, 28, 1))
  gan = state_lib.build_gan(config, input_pipeline.image_shape(config.data, stored))
  state = jax_utils.replicate(state_lib.create_state(config, gan), devices)
  local = config.batch_size // len(devices)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (len(devices), config.n_critic, local) + stored,
                        dtype=np.uint8)
  batch = next(jax_utils.prefetch_to_device(iter([images]), 1, devices))
  step = jax.pmap(train.make_train_step(config, gan), axis_name=state_lib.AXIS,
                  donate_argnums=(0,), devices=devices)
  start = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  flops = _step_flops(compiled)
  for _ in range(3):  # warm-up
    state, metrics = step(state, batch)
  jax.block_until_ready(metrics)
  if profile_dir:
    jax.profiler.start_trace(profile_dir)
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    rates.append(steps / (time.perf_counter() - start))
  if profile_dir:
    jax.profiler.stop_trace()
  steps_per_s = statistics.median(rates)
  # XLA's cost analysis counts one device's program.
  gflops = flops * len(devices) * steps_per_s / 1e9
  return dict(generator=config.model.generator,
              discriminator=config.model.discriminator,
              conv_impl=config.model.conv_impl, backend=jax.default_backend(),
              devices=len(devices), batch_size=config.batch_size,
              n_critic=config.n_critic, steps_per_s=round(steps_per_s, 3),
              images_per_s=round(steps_per_s * config.batch_size, 1),
              compile_s=round(compile_s, 2),
              gflop_per_step=round(flops * len(devices) / 1e9, 3),
              gflop_per_s=round(gflops, 1))


def main(argv):
  del argv
  print(json.dumps(benchmark(FLAGS.config, FLAGS.steps, FLAGS.repeats,
                             FLAGS.profile_dir)), flush=True)


if __name__ == '__main__':
  app.run(main)
