"""`python -m gan_jax.benchmark`: the real step, timed; one JSON line."""
import json
import os
import subprocess
import sys

import pytest

from configs import mog_ring
from gan_jax import benchmark


def small_ring():
  config = mog_ring.get_config()
  config.batch_size = 64
  config.num_devices = 2
  return config


def test_vmapped_seeds_do_k_times_the_work_of_one():
  one = benchmark.benchmark(small_ring(), steps=2, repeats=1)
  three = benchmark.benchmark(small_ring(), steps=2, repeats=1, seeds=3)
  assert (one['seeds'], three['seeds'], three['devices']) == (1, 3, 2)
  # XLA's FLOP count of the compiled step: three seeds' worth of arithmetic.
  assert three['gflop_per_step'] == pytest.approx(3 * one['gflop_per_step'], rel=0.02)
  assert three['images_per_s'] == pytest.approx(
      3 * 64 * three['steps_per_s'], rel=1e-3)


def test_a_class_conditional_step_is_timed_with_labels():
  # The ring conditioned on its 8 modes: the projection's class term adds
  # one embedding row per example to D's work.
  config = small_ring()
  config.model.num_classes, config.model.g_conditioning = 8, 'concat'
  conditional = benchmark.benchmark(config, steps=2, repeats=1)
  config.steps_per_dispatch = 2
  config.log_every_steps = config.sample_every_steps = 0
  config.checkpoint_every_steps = config.eval_every_steps = 0
  scanned = benchmark.benchmark(config, steps=2, repeats=1)
  assert conditional['gflop_per_step'] > 0
  assert scanned['gflop_per_step'] == pytest.approx(conditional['gflop_per_step'], rel=1e-3)


@pytest.mark.slow  # two more compilations; the step's timing is tested above
def test_several_steps_per_dispatch_count_one_step_of_flops():
  one = benchmark.benchmark(small_ring(), steps=4, repeats=1)
  config = small_ring()
  config.steps_per_dispatch = 4
  four = benchmark.benchmark(config, steps=4, repeats=1)
  assert four['steps_per_dispatch'] == 4
  # XLA counts a loop body once; the benchmark reports one step's FLOPs.
  assert four['gflop_per_step'] == pytest.approx(one['gflop_per_step'], rel=1e-3)
  assert four['images_per_s'] == pytest.approx(64 * four['steps_per_s'], rel=1e-3)


# Run first in a child process: TensorFlow cannot be imported there, as on a
# GPU machine that has JAX and PyTorch but not TensorFlow (too large to carry).
WITHOUT_TENSORFLOW = """
import importlib.abc, sys
class NoTensorFlow(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path, target=None):
    if name.split('.')[0] == 'tensorflow':
      raise ModuleNotFoundError(f"No module named '{name}'", name=name)
sys.meta_path.insert(0, NoTensorFlow())
"""


def test_the_benchmark_path_never_imports_tensorflow(repo_dir):
  # What the benchmark does before its step compiles, on the CIFAR-10 SNGAN:
  # the config checks (TFDS names, Inception protocol), the shapes, the model.
  script = WITHOUT_TENSORFLOW + """
from configs import cifar10_sngan
from gan_jax import benchmark
from gan_jax.config import validation
from gan_jax.game import state
config = cifar10_sngan.get_config()
config.eval_every_steps = 0
validation.validate(config, 1)
shape = benchmark.stored_shape(config.data)
gan = state.build_gan(config, benchmark.datasets.example_shape(config.data, shape))
params = state.create_state(config, gan)
print(shape, state.param_count(params.g_params), state.param_count(params.d_params))
assert 'tensorflow' not in sys.modules
"""
  # Without the tests' compilation cache: JAX reads it through etils, which
  # tries TensorFlow's file system first and warns when it is missing.
  env = {k: v for k, v in os.environ.items() if k != 'JAX_COMPILATION_CACHE_DIR'}
  result = subprocess.run([sys.executable, '-c', script], cwd=repo_dir, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split('\n')[0] == (
      "(32, 32, 3) 4276739 1053825")


@pytest.mark.slow  # a fresh process; the other tests time the step in-process
def test_command_prints_one_json_line_without_tensorflow(repo_dir):
  env = {k: v for k, v in os.environ.items()
         if k not in ('XLA_FLAGS', 'JAX_COMPILATION_CACHE_DIR')}
  run_module = "import runpy; runpy.run_module('gan_jax.benchmark', run_name='__main__')"
  result = subprocess.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW + run_module,
       '--config=configs/mog_ring.py', '--config.batch_size=32', '--steps=2',
       '--repeats=1'],
      cwd=repo_dir, capture_output=True, text=True, env=env, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  line, = result.stdout.strip().splitlines()
  record = json.loads(line)
  assert record['generator'] == 'mlp2d' and record['batch_size'] == 32
  assert record['steps_per_s'] > 0 and record['compile_s'] > 0


@pytest.mark.slow  # ~30 s: the Inception compiled twice
def test_the_inception_pass_is_timed_at_its_known_cost():
  # Inception-v3 at 299x299 is ~5.7 G multiply-adds (Szegedy et al. 2016),
  # whatever the input side, since every image is resized first.
  from configs import mnist
  config = mnist.get_config()
  config.data.dataset = 'cifar10'
  result = benchmark.inception_benchmark(config, repeats=1, batch_per_device=1)
  assert result['image_shape'] == [32, 32, 3]
  assert result['batch'] == result['devices']
  assert 10.5 < result['gflop_per_image'] < 12.0
  assert result['images_per_s'] > 0
  assert result['minutes_per_50k'] == pytest.approx(
      50_000 / result['images_per_s'] / 60, rel=0.01, abs=0.1)
