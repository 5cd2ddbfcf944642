"""Test-wide setup (8 fake CPU devices, set before jax is imported) and the
builders the test files share: data, small configs, a poisoned step, and
comparisons of whole runs."""
import os
import tempfile

from gan_jax.training import xla_cpu
from gan_jax.workdir import metrics_log

# Compiling dominates the tests' time, and their programs run a few steps:
# XLA:CPU's backend optimisation level 0 compiles them faster (the same
# computation; the code is slower to run).
os.environ['XLA_FLAGS'] = xla_cpu.tuned_flags(
    os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=8'
    ' --xla_backend_optimization_level=0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# XLA's persistent compilation cache, shared by the tests and the training
# processes they start: most tests compile programs an earlier one compiled
# already (the same tiny config, a resumed run), and a hit skips the
# compilation -- 72 s -> 34 s for the three runs of the exact-resume test.
# A cached executable is the one a fresh compilation would produce.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      os.path.join(tempfile.gettempdir(), 'gan_jax_tests_xla_cache'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '-1')

import pytest  # noqa: E402  (after the environment is set)

# JAX, TensorFlow and gan_jax are imported inside the fixtures: with xdist,
# this file is also loaded by the controller process, which runs no test
# and would spend ~7 s importing them before the workers start.

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_dir():
  return _REPO


@pytest.fixture(autouse=True)
def _one_memory_heavy_test_at_a_time(request, tmp_path_factory):
  """Tests marked `memory_heavy` (the full natural-image models with the
  Inception evaluator: ~11 GB each at their peak) hold a lock that the
  other xdist worker's heavy tests wait on: two at once would not fit a
  24 GB machine."""
  if request.node.get_closest_marker('memory_heavy') is None:
    yield
    return
  import fcntl
  # The workers' base temporaries share one parent: the session's.
  path = tmp_path_factory.getbasetemp().parent / 'memory_heavy.lock'
  with open(path, 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    yield
    # What the test compiled and freed goes back to the system before the
    # next heavy test starts: its programs from JAX's caches, then the
    # allocator's free pages (glibc keeps them otherwise).
    import ctypes
    import gc
    import jax
    jax.clear_caches()
    gc.collect()
    ctypes.CDLL('libc.so.6').malloc_trim(0)


@pytest.fixture(scope='session')
def tfds_data_dir():
  """A TFDS data_dir holding the real, prepared mnist: $TFDS_DATA_DIR or the
  offline copy beside the checkout (../shared/data/tfds). For the tests that
  need real digits (classifier accuracy, sample-quality metrics)."""
  for path in (os.environ.get('TFDS_DATA_DIR'),
               os.path.join(_REPO, '..', 'shared', 'data', 'tfds')):
    if path and os.path.isdir(os.path.join(path, 'mnist')):
      return os.path.abspath(path)
  pytest.skip('prepared TFDS mnist not found: set TFDS_DATA_DIR (see README)')


def _random_feature(feature, rng, index):
  """A random value of a TFDS feature (images, class labels, text, tensors
  and dicts of them, as cifar10, stl10, celeb_a ... declare them)."""
  import numpy as np
  import tensorflow_datasets as tfds
  if isinstance(feature, tfds.features.FeaturesDict):
    return {k: _random_feature(v, rng, index) for k, v in feature.items()}
  if isinstance(feature, tfds.features.Image):
    return rng.integers(0, 256, feature.shape, dtype=np.uint8)
  if isinstance(feature, tfds.features.ClassLabel):
    return index % feature.num_classes
  if isinstance(feature, tfds.features.Text):
    return f'example_{index}'
  if isinstance(feature, tfds.features.Tensor):
    dtype = np.dtype(feature.np_dtype)
    if dtype == np.bool_:
      return rng.random(feature.shape) < 0.5
    return rng.integers(0, 100, feature.shape).astype(dtype)
  raise TypeError(f'no random value for the TFDS feature {feature!r}')


def generated_tfds(name: str, data_dir: str, split_sizes):
  """Prepares in `data_dir` TFDS's builder `name` ('cifar10', 'stl10' ...)
  with generated examples: the real features, shapes, dtypes and split
  names, random content; `split_sizes` {split: number of examples}."""
  import numpy as np
  import tensorflow_datasets as tfds
  real = tfds.builder_cls(name)

  with tfds.core.registered.skip_registration():

    class Generated(real):

      def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {split: self._examples(n, seed)
                for seed, (split, n) in enumerate(split_sizes.items())}

      def _examples(self, n, seed):
        rng = np.random.default_rng(seed)
        for i in range(n):
          yield i, _random_feature(self.info.features, rng, i)

  Generated.name = real.name
  Generated(data_dir=data_dir).download_and_prepare()
  return data_dir


@pytest.fixture(scope='session')
def tfds_generator():
  """`generated_tfds(name, data_dir, split_sizes)`: any TFDS image set with
  generated examples."""
  return generated_tfds


def _recorded_reference(*path):
  """(a reference-output generator script as a module, its recorded outputs
  {name: array}): the script at `path` under the repository (it names its
  npz as REFERENCE and imports only numpy at the top)."""
  import importlib.util
  import numpy as np
  path = os.path.join(_REPO, *path)
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  with np.load(module.REFERENCE) as data:
    return module, dict(data)


@pytest.fixture(scope='session')
def recorded_reference():
  """`_recorded_reference`, for the test modules' own reference fixtures."""
  return _recorded_reference


@pytest.fixture(scope='session')
def inception_reference():
  """(the fixture generator module, its recorded pytorch-fid outputs):
  tests/evaluation/fixtures/make_inception_reference.py and its npz."""
  return _recorded_reference('tests', 'evaluation', 'fixtures',
                             'make_inception_reference.py')


@pytest.fixture(scope='session')
def random_inception_weights(inception_reference, tmp_path_factory):
  """A converted FID Inception file of the fixture's random weights (the
  weights pytorch-fid's recorded outputs were computed with)."""
  import json
  from gan_jax.evaluation.inception import weights
  module, data = inception_reference
  variables = weights.from_state_dict(
      module.random_state_dict(json.loads(str(data['names_shapes']))))
  path = str(tmp_path_factory.mktemp('inception') / weights.CONVERTED_FILE)
  weights.write_converted(path, variables, source_sha256='0123456789abcdef' * 4)
  return path


@pytest.fixture(scope='session')
def natural_like_dir(tmp_path_factory):
  """A TFDS data_dir holding generated cifar10 (32 train, 24 test), stl10
  (32 unlabelled) and celeb_a (32 train): the natural-image configs' sets."""
  data_dir = str(tmp_path_factory.mktemp('tfds_natural'))
  generated_tfds('cifar10', data_dir, {'train': 32, 'test': 24})
  generated_tfds('stl10', data_dir, {'train': 2, 'test': 2, 'unlabelled': 32})
  generated_tfds('celeb_a', data_dir, {'train': 32, 'validation': 2, 'test': 2})
  return data_dir


@pytest.fixture(scope='session')
def mnist_like_dir(tmp_path_factory):
  """A TFDS data_dir holding a generated stand-in for mnist (512 train, 256
  test examples), prepared once per session: the loop tests run on any
  machine, with or without the real data, and load it in milliseconds."""
  return generated_tfds('mnist', str(tmp_path_factory.mktemp('tfds')),
                        {'train': 512, 'test': 256})


@pytest.fixture
def tiny_config():
  """`make(num_train_steps)`: the loop tests' run. The 2-D ring's MLPs (64, 64)
  with batch norm in G, EMA and two D moves per step, logging and saving
  every 2 steps: what the loop does is the same for any model, and this one
  compiles in a third of the MNIST MLP GAN's time (2.6 s vs 5.5 s, and 6.6
  s vs 15.5 s for a whole 6-step run, measured)."""

  def make(num_train_steps):
    config = small_ring_config(num_train_steps)
    config.model.g_batch_norm = True
    config.model.g_hidden = config.model.d_hidden = (64, 64)
    config.batch_size = 32
    config.n_critic = 2
    config.ema_decay = 0.5
    config.num_train_steps = num_train_steps
    config.log_every_steps = 2
    config.checkpoint_every_steps = 2
    config.sample_every_steps = 4
    config.keep_checkpoints = 3
    config.eval_every_steps = 0  # sample quality is tested in evaluation/evaluator_test.py
    return config

  return make


def small_ring_config(num_train_steps):
  """The 2-D ring on 2,000 points, batch 64, evaluating every 2 steps."""
  from configs import mog_ring
  config = mog_ring.get_config()
  config.batch_size = 64
  config.num_train_steps = num_train_steps
  config.log_every_steps = 2
  config.checkpoint_every_steps = 2
  config.sample_every_steps = 100
  config.eval_every_steps = 2
  config.keep_checkpoints = 1
  config.data.num_examples = 2_000
  return config


@pytest.fixture(scope='session')
def ring_config():
  """`make(num_train_steps)`: `small_ring_config`."""
  return small_ring_config


@pytest.fixture(scope='session')
def ring_group_config():
  """`make(num_train_steps)`: the small ring on 2 devices with n_critic 2 and
  EMA, evaluating every 4 steps: the config of the seeds-together tests."""

  def make(num_train_steps):
    config = small_ring_config(num_train_steps)
    config.num_devices = 2
    config.n_critic = 2
    config.ema_decay = 0.9
    config.eval_every_steps = 4
    config.keep_checkpoints = 2
    return config

  return make


@pytest.fixture
def poison_at():
  """`poison_at(step, only_first_rng=False)`: a make_train_step (to
  monkeypatch over train_step's) whose step puts a NaN into D's parameters
  at one step -- with `only_first_rng`, only while the state's rng is the
  seed's initial one (a rollback's fresh noise then clears it)."""
  import jax
  import jax.numpy as jnp
  from gan_jax.game import train_step
  real_make = train_step.make_train_step

  def poison(step_to_poison, only_first_rng=False):

    def make(config, gan, *args, **kwargs):
      step_fn = real_make(config, gan, *args, **kwargs)
      first_rng = jax.random.PRNGKey(config.seed)
      first_rng = jax.random.split(first_rng, 3)[0]  # create_state's rng

      def poisoned(state, images):
        new_state, metrics = step_fn(state, images)
        hit = new_state.step == step_to_poison
        if only_first_rng:
          hit &= jnp.all(state.rng == first_rng)
        scale = jnp.where(hit, jnp.nan, 1.0)
        d_params = jax.tree.map(lambda p: p * scale, new_state.d_params)
        metrics['d_param_norm'] = metrics['d_param_norm'] * scale
        return new_state.replace(d_params=d_params), metrics

      return poisoned

    return make

  return poison


@pytest.fixture(scope='session')
def run_steps():
  """`run(config, num_devices, batches) -> (host state, [metrics per step])`:
  the pmapped train step of `config` from its initial state over global
  batches, each [n_critic, B, ...] or a tuple of such arrays (examples,
  labels), split evenly over the first `num_devices` devices. The metrics are
  device 0's."""
  import jax
  from flax import jax_utils
  from gan_jax.game import state as state_lib
  from gan_jax.game import train_step

  def run(config, num_devices, batches):
    gan = state_lib.build_gan(config, jax.tree.leaves(batches[0])[0].shape[2:])
    devices = jax.devices()[:num_devices]
    step = jax.pmap(train_step.make_train_step(config, gan), axis_name='batch',
                    donate_argnums=(0,), devices=devices)
    state = jax_utils.replicate(state_lib.create_state(config, gan), devices)
    history = []
    for batch in batches:  # [n_critic, global batch, ...] -> per device
      per_device = jax.tree.map(
          lambda x: x.reshape((x.shape[0], num_devices, -1) + x.shape[2:]).swapaxes(0, 1),
          batch)
      state, metrics = step(state, per_device)
      history.append(jax.device_get(jax.tree.map(lambda m: m[0], metrics)))
    return jax.device_get(jax.tree.map(lambda x: x[0], state)), history

  return run


@pytest.fixture(scope='session')
def assert_trees_close():
  """`check(a, b, rtol=2e-5, atol=2e-6)`: two PyTrees (states) are equal
  leaf by leaf to float tolerance."""
  import jax
  import numpy as np

  def check(a, b, rtol=2e-5, atol=2e-6):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)

  return check


@pytest.fixture(scope='session')
def assert_logs_close():
  """`check(workdir_a, workdir_b)`: two runs logged the same records (keys,
  and values to float tolerance), timing aside."""
  import numpy as np
  from gan_jax.experiments import run_results

  def check(workdir_a, workdir_b):
    a = run_results.without_timing(metrics_log.read_metrics(str(workdir_a)))
    b = run_results.without_timing(metrics_log.read_metrics(str(workdir_b)))
    assert [sorted(r) for r in a] == [sorted(r) for r in b]
    for x, y in zip(a, b):
      numbers = sorted(k for k in x if not isinstance(x[k], (dict, str)))
      np.testing.assert_allclose([x[k] for k in numbers], [y[k] for k in numbers],
                                 rtol=1e-4, atol=1e-5)
      assert {k: v for k, v in x.items() if k not in numbers} == \
          {k: v for k, v in y.items() if k not in numbers}

  return check


@pytest.fixture(scope='session')
def assert_devices_agree(run_steps, assert_trees_close):
  """`check(config, batches, rtol=1e-4, atol=1e-5) -> (state, history)`: the
  step of `config` over `batches` (as `run_steps` takes them) on 1 and on 4
  devices computes the same metrics at every step and the same final state,
  leaf by leaf (parameters, batch statistics, optimiser states, EMA); returns
  the 1-device run's. Use SGD in `config`: Adam's first steps are ~lr *
  sign(g), so float rounding in gradient components near zero (which
  differs with the reduction order across devices) would show up as
  lr-sized differences and hide what is under test, the step's arithmetic."""

  def check(config, batches, rtol=1e-4, atol=1e-5):
    state1, history1 = run_steps(config, 1, batches)
    state4, history4 = run_steps(config, 4, batches)
    assert len(history1) == len(history4) == len(batches)
    for m1, m4 in zip(history1, history4):
      assert sorted(m1) == sorted(m4)
      assert_trees_close(m1, m4, rtol=rtol, atol=atol)
    assert_trees_close(state1, state4, rtol=rtol, atol=atol)
    return state1, history1

  return check



@pytest.fixture(scope='session')
def fake_runs():
  """Builders of runs as their workdirs hold them, without training:
  `run(sweep_dir, name, config, records)` writes <sweep_dir>/<name>/config.json
  and metrics.jsonl (none for records None); `records(fid_curve, loss_d,
  steps=10)` gives training records every 5 steps and evaluations at the
  (step, fid) pairs of fid_curve; `sweep(sweep_dir)` writes a sweep of 3
  hinge seeds, 1 finished minimax seed, 1 unfinished and 1 never started."""
  import json
  import types

  def run(sweep_dir, name, config, records):
    workdir = os.path.join(sweep_dir, name)
    os.makedirs(workdir)
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config, f)
    if records is not None:
      with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in records)

  def records(fid_curve, loss_d, steps=10):
    train = [dict(step=s, loss_d=loss_d + s, loss_g=2.0, steps_per_s=9.0)
             for s in range(5, steps + 1, 5)]
    evals = [dict(step=s, fid=v, kid=v / 10, eval_seconds=1.0) for s, v in fid_curve]
    return sorted(train + evals, key=lambda r: r['step'])

  def sweep(sweep_dir):
    base = dict(num_train_steps=10, log_every_steps=5, data=dict(data_dir='/x'))
    runs = [  # name, loss, seed, fid curve, loss_d offset
        ('a0', 'hinge', 0, [(5, 50.0), (10, 10.0)], 0.0),
        ('a1', 'hinge', 1, [(5, 40.0), (10, 14.0)], 1.0),
        ('a2', 'hinge', 2, [(5, 30.0), (10, 12.0)], 2.0),
        ('b0', 'minimax', 0, [(5, 60.0), (10, 20.0)], 0.0),
    ]
    for name, loss, seed, curve, offset in runs:
      config = dict(base, seed=seed, loss=dict(name=loss),
                    data=dict(data_dir=f'/x/{name}', seed=seed))
      run(sweep_dir, name, config, records(curve, offset))
    # Unfinished (step 5 of 10), and never started.
    run(sweep_dir, 'b1', dict(base, seed=1, loss=dict(name='minimax'), data=dict(seed=1)),
        records([(5, 1.0)], 0.0, steps=5))
    run(sweep_dir, 'b2', dict(base, seed=2, loss=dict(name='minimax'), data=dict(seed=2)),
        None)

  return types.SimpleNamespace(run=run, records=records, sweep=sweep)


@pytest.fixture
def small_filesystem(tmp_path):
  """`make(size_kib) -> path`: a tmpfs of that size, for real full-disk
  faults; unmounted afterwards. `fill(path, leave_bytes)` (an attribute of
  `make`) fills it to leave about that much free. Skips where mounting is
  not permitted (not root, no CAP_SYS_ADMIN)."""
  import subprocess
  mounted = []

  def make(size_kib):
    path = tmp_path / f'fs{len(mounted)}'
    path.mkdir()
    result = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size_kib}k', 'tmpfs',
                             str(path)], capture_output=True, text=True)
    if result.returncode:
      pytest.skip(f'cannot mount a tmpfs here: {result.stderr.strip()}')
    mounted.append(path)
    return path

  def fill(path, leave_bytes):
    stats = os.statvfs(path)
    free = stats.f_bavail * stats.f_frsize
    with open(os.path.join(path, 'filler'), 'ab') as f:
      f.write(b'\0' * max(0, free - leave_bytes))

  make.fill = fill
  yield make
  for path in mounted:
    subprocess.run(['umount', '-l', str(path)], capture_output=True)
