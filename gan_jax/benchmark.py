"""Times the real training step of a config on synthetic data.

  python -m gan_jax.benchmark --config=configs/mnist.py [--config.batch_size=128]
      [--steps=20] [--repeats=5] [--seeds=K] [--profile_dir=DIR]

Compiles exactly the pmapped `train_step.make_train_step` that training uses,
feeds it random uint8 images of the dataset's shape (no input pipeline), and
prints one JSON line: images_per_s and steps_per_s (median over repeats),
compile_s, devices, batch_size, the model names, the model's GFLOP per step
(XLA's cost analysis of the step with flax's own layers) and GFLOP/s, and
that as a fraction of a large float32 matmul's GFLOP/s on the same backend.
With --seeds=K, the step of K seeds trained together (`gan_jax.main
--seeds`, vmapped); images_per_s then counts all K.
With --config.steps_per_dispatch=k, k steps per call (lax.scan), as training
runs them; --steps still counts steps.

  python -m gan_jax.benchmark --config=configs/mnist.py \
      --config.data.dataset=cifar10 --feature_pass=inception

times the FID Inception's feature pass instead (evaluation/inception/: 8-bit
quantisation, the resize to 299x299 and the network, pmapped over the
devices, on images of the config's data shape, random weights), and prints
images_per_s, the GFLOP per image (XLA's cost analysis), compile_s and what
50,000 images (the protocol's sample count) take at that rate.

  python -m gan_jax.benchmark --config=configs/mnist_dcgan64.py \
      --config.batch_size=128 --breakdown [--breakdown_layers]

prints where the step's time goes (training/step_profile.py): every
convolution, transposed convolution, dense layer and batch norm timed alone
forward and backward at the step's shapes, the optimisers' updates, and the
rest, as a Markdown table in ms per step, then the JSON line.
"""
import json
import statistics
import time
from typing import Tuple

from absl import app
from absl import flags
from flax import jax_utils
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags

from gan_jax.config import validation
from gan_jax.training import dispatch
from gan_jax.training import runs as runs_lib
from gan_jax.training import step_profile
from gan_jax.training import xla_cpu
from gan_jax.game import state as state_lib
from gan_jax.data import datasets
from gan_jax.evaluation.inception import features as inception_features
from gan_jax.evaluation.inception import network as inception_network

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Training config file.',
                                lock_config=True)
flags.DEFINE_integer('steps', 20, 'Steps per timed repeat.')
flags.DEFINE_integer('repeats', 5, 'Timed repeats; the median is reported.')
flags.DEFINE_integer('seeds', 1, 'Seeds trained together (vmapped) in the step.')
flags.DEFINE_string('profile_dir', None, 'Write a jax.profiler trace here.')
flags.DEFINE_bool('peak', True, 'Also time a 4096x4096 float32 matmul: the '
                  "peak that peak_fraction is of (on a single device's "
                  'backend).')
flags.DEFINE_bool('breakdown', False, "Print where the step's time goes "
                  '(training/step_profile.py), then its JSON line.')
flags.DEFINE_bool('breakdown_layers', False, "With --breakdown, every layer's row too.")
flags.DEFINE_enum('feature_pass', '', ['', 'inception'],
                  "'inception': time the FID Inception's feature pass, not the "
                  'training step.')
flags.mark_flags_as_required(['config'])

# Stored image shapes of the datasets the configs use (TFDS's features).
_STORED_SHAPES = {'mnist': (28, 28, 1), 'fashion_mnist': (28, 28, 1),
                  'stacked_mnist': (28, 28, 3), 'mog_ring': (2,), 'mog_grid': (2,),
                  'cifar10': (32, 32, 3), 'cifar100': (32, 32, 3),
                  'svhn_cropped': (32, 32, 3), 'stl10': (96, 96, 3),
                  'celeb_a': (218, 178, 3)}


def stored_shape(data_config) -> Tuple[int, ...]:
  """One stored example's shape: from the table above for the sets the
  configs use (no data set read, no TensorFlow imported), else from the
  prepared set's metadata (`datasets.stored_shape`)."""
  return _STORED_SHAPES.get(data_config.dataset) or datasets.stored_shape(data_config)


def _model_flops(config, image_shape, state, batch, devices, vmapped) -> float:
  """One device's FLOPs for one step of the model's arithmetic: XLA's cost
  analysis of the step lowered with flax's own convolutions (conv_impl
  'xla'). The CPU formulations compute the same function, some with padded
  taps (more FLOPs, faster kernels), which must not count as work done; and
  a lax.scan body is counted once, not per step."""
  if config.steps_per_dispatch > 1:
    batch = jax.tree.map(lambda x: x[:, 0], batch)
  config = runs_lib.seed_config(config, config.seed)  # a copy
  config.model.conv_impl = 'xla'
  config.steps_per_dispatch = 1
  gan = state_lib.build_gan(config, image_shape)
  step = dispatch.pmapped_train_step(config, gan, devices, vmapped=vmapped)
  return step_profile.xla_flops(step.lower(state, batch))


def matmul_peak(n: int = 4096, repeats: int = 5) -> float:
  """GFLOP/s of a large float32 matrix multiply through XLA, the
  reference for '% of peak' (best of `repeats`)."""
  a = jnp.ones((n, n), jnp.float32)
  matmul = jax.jit(lambda a: a @ a)
  matmul(a).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * n ** 3 / best / 1e9


def benchmark(config, steps: int, repeats: int, profile_dir=None,
              seeds: int = 1, measure_peak: bool = False) -> dict:
  devices = dispatch.local_devices(config)
  # The step is timed without the evaluations, whose checks need their
  # feature networks' weights at hand.
  checked = runs_lib.seed_config(config, config.seed)   # a copy
  checked.eval_every_steps = 0
  validation.validate(checked, len(devices))
  stored = stored_shape(config.data)
  gan = state_lib.build_gan(config, datasets.example_shape(config.data, stored))
  states = [state_lib.create_state(runs_lib.seed_config(config, config.seed + i), gan)
            for i in range(seeds)]
  state = dispatch.replicate(dispatch.stack_seeds(states), devices)
  local = config.batch_size // len(devices)
  rng = np.random.default_rng(0)
  k = config.steps_per_dispatch  # steps per call of the step function
  shape = ((len(devices),) + ((k,) if k > 1 else ()) +
           ((seeds,) if seeds > 1 else ()) + (config.n_critic, local))
  if len(stored) == 1:  # 2-D points: float data
    images = rng.standard_normal(shape + stored).astype(np.float32)
  else:
    images = rng.integers(0, 256, shape + stored, dtype=np.uint8)
  if gan.num_classes:  # a class-conditional GAN's batch carries labels
    images = (images, rng.integers(0, gan.num_classes, shape, dtype=np.int32))
  batch = next(jax_utils.prefetch_to_device(iter([images]), 1, devices))
  step = dispatch.pmapped_train_step(config, gan, devices, vmapped=seeds > 1,
                                  steps=k)
  dispatches = max(1, steps // k)
  start = time.perf_counter()
  step.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  flops = _model_flops(config, gan.image_shape, state, batch, devices, seeds > 1)
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
  peak = matmul_peak() if measure_peak else None
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
              gflop_per_s=round(gflops, 1),
              matmul_peak_gflop_per_s=peak and round(peak, 1),
              peak_fraction=peak and round(gflops / peak, 3))


def inception_benchmark(config, repeats: int,
                        batch_per_device: int = inception_features.BATCH_PER_DEVICE) -> dict:
  """images/s of the FID Inception's feature pass on the config's images
  (`inception.features.FIDInception.features_and_logits`, one full chunk of
  `batch_per_device` images per device per repeat)."""
  shape = datasets.example_shape(config.data, stored_shape(config.data))
  variables = jax.jit(inception_network.FIDInceptionV3().init)(
      jax.random.PRNGKey(0), jnp.zeros((1, 299, 299, 3)))
  network = inception_features.FIDInception(variables=variables,
                                            batch_per_device=batch_per_device)
  count = jax.local_device_count() * network.batch_per_device
  images = np.random.default_rng(0).integers(0, 256, (count,) + shape, dtype=np.uint8)
  flops = step_profile.xla_flops(jax.jit(inception_features.forward).lower(
      variables, jnp.zeros((1,) + shape, jnp.float32)))
  start = time.perf_counter()
  network.features_and_logits(images)   # compiles, then runs once
  first_s = time.perf_counter() - start
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    network.features_and_logits(images)
    rates.append(count / (time.perf_counter() - start))
  images_per_s = statistics.median(rates)
  return dict(feature_pass='fid_inception_v3', backend=jax.default_backend(),
              devices=jax.local_device_count(), image_shape=list(shape),
              batch=count, images_per_s=round(images_per_s, 2),
              compile_s=round(first_s - count / images_per_s, 2),
              gflop_per_image=round(flops / 1e9, 3),
              gflop_per_s=round(flops * images_per_s / 1e9, 1),
              minutes_per_50k=round(50_000 / images_per_s / 60, 1))


def main(argv):
  del argv
  xla_cpu.configure(FLAGS.config.xla_cpu_tuning)
  if FLAGS.feature_pass == 'inception':
    result = inception_benchmark(FLAGS.config, FLAGS.repeats)
  elif FLAGS.breakdown:
    result = step_profile.profile(
        FLAGS.config, stored_shape(FLAGS.config.data),
        lambda: benchmark(FLAGS.config, FLAGS.steps, FLAGS.repeats, measure_peak=True),
        FLAGS.repeats)
    print(step_profile.markdown(result, FLAGS.breakdown_layers))
  else:
    result = benchmark(FLAGS.config, FLAGS.steps, FLAGS.repeats, FLAGS.profile_dir,
                       FLAGS.seeds, FLAGS.peak)
  print(json.dumps(result), flush=True)


if __name__ == '__main__':
  app.run(main)
