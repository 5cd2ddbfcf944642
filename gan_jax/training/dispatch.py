"""How the host drives the update step on the devices.

`pmapped_train_step` is the step as training runs it: pmapped over the
devices of every process, optionally vmapped over seeds trained together and
scanned over several steps per dispatch. `Dispatcher` keeps the devices busy
from the training loop: it feeds each dispatch its prefetched batches, keeps
the metrics on the device until the loop asks for them (`drain`), and, with
several processes, carries each process's stop request through the step so
that all of them stop at one step.
"""
import collections
from typing import Any, Callable, List, Optional, Sequence, Tuple

from absl import logging
from flax import jax_utils
import jax
import ml_collections
import numpy as np

from gan_jax.data import batching
from gan_jax.game import train_step as step_lib
from gan_jax.errors import ConfigError
from gan_jax.game.state import AXIS, GAN, GANState

# Steps dispatched beyond the last one known finished: enough to keep the
# devices busy, few enough that a SIGTERM is answered within a few step times
# (schedulers grant ~30 s) rather than after a long queue.
MAX_STEPS_AHEAD = 2
# Dispatches whose metrics stay on the devices before they are copied to the
# host anyway: a run that logs and saves only at its end (intervals of 0)
# would otherwise hold a buffer per metric and step for the whole run.
_MAX_PENDING = 1000


def local_devices(config: ml_collections.ConfigDict):
  """The local devices a run uses: the first `config.num_devices`, or all.

  Raises ConfigError when more are asked for than exist."""
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
  and the batch's seeds axis. With `steps` > 1, that many consecutive steps
  in one dispatch (lax.scan over the batch's steps axis). The batch and
  metric layout is written down in data/batching.py.

  With `stop_flag`, the step takes a third argument, each device's int32
  flag, and returns a third output, the flags' maximum over every device of
  every process: a stop asked of one process, known to all of them.
  """
  step_fn = step_lib.make_train_step(config, gan)
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


def replicate(tree, devices):
  """A copy of `tree` on each of `devices`, stacked on a leading device axis,
  as the pmapped step takes its state.

  From host copies (replicating device arrays stacks each leaf with a
  compiled op per leaf shape), and on a mesh axis of the step's own name:
  the state then has the sharding the step returns it with, so the step
  compiles once, not twice (6 s each for the MLP GAN on CPU, measured).
  """
  return jax_utils.replicate(jax.device_get(tree), devices, axis_name=AXIS)


def dispatch_sizes(start: int, end: int, k: int) -> List[int]:
  """Steps per dispatch from step `start` to `end`: single steps up to a
  multiple of k, k at a time, single steps for what is left. Every k-step
  dispatch then ends on a multiple of k, where logging, sampling and saving
  happen (their intervals are multiples of k)."""
  aligned = min(end, -(-start // k) * k)
  full = (end - aligned) // k
  return [1] * (aligned - start) + [k] * full + [1] * (end - aligned - full * k)


def _unreplicate(tree):
  """Host copy of device 0's replica.

  Reads device 0's buffer directly: indexing (`x[0]`) would launch a gather
  that can interleave with the pmapped step's all-reduce on the device
  threads and deadlock it (seen with 8 CPU devices).
  """
  shards = jax.device_get(jax.tree.map(lambda x: x.addressable_data(0), tree))
  return jax.tree.map(lambda x: x[0], shards)  # drops the device axis, on host


def _index(tree, i: int):
  """Entry i of every leaf's leading axis (a seed's or a step's)."""
  return jax.tree.map(lambda x: x[i], tree)


class Dispatcher:
  """Runs the steps of one or several seeds (vmapped) on the devices.

  Usage: `start(states, step)`, then `dispatch(...)` until the loop needs
  the metrics (`drain`) or the states (`host_states`). Dispatch runs at most
  MAX_STEPS_AHEAD dispatches ahead of the devices.
  """

  def __init__(self, config: ml_collections.ConfigDict, gan: GAN, devices,
               data: Sequence[Tuple[np.ndarray, Optional[np.ndarray], int]]):
    """`data`: each seed's (whole training set, its labels int32 [N] for a
    class-conditional run or None, seed of its batch order)."""
    self._config, self._devices, self._data = config, devices, data
    self._vmapped = len(data) > 1
    self._multi_process = jax.process_count() > 1
    k = config.steps_per_dispatch
    self._step_fns = {n: pmapped_train_step(config, gan, devices, self._vmapped, n,
                                            stop_flag=self._multi_process)
                      for n in sorted({1, k})}
    if k > 1 and jax.default_backend() == 'cpu' and any(
        name.startswith('dcgan') for name in
        (config.model.generator, config.model.discriminator)):
      logging.warning('config.steps_per_dispatch=%d with a convolutional model on '
                      'CPU: XLA:CPU runs convolution gradients inside the loop '
                      'many times slower; 1 is faster here', k)

  def start(self, states: Sequence[GANState], step: int) -> None:
    """Puts the seeds' host-side `states` on the devices, to go on from `step`."""
    config, devices = self._config, self._devices
    sizes = dispatch_sizes(step, config.num_train_steps, config.steps_per_dispatch)
    batches = batching.dispatch_batches(
        self._data, config.batch_size, config.n_critic, len(devices), step, sizes,
        jax.process_index(), jax.process_count())
    self._state = replicate(stack_seeds(states), devices)
    self._batches = jax_utils.prefetch_to_device(batches, 2, devices)
    self._sizes = collections.deque(sizes)
    self._pending = []            # (steps, metrics on device) per dispatch
    self._fetched = []            # metrics per step already on the host
    self._stop_flags = collections.deque()
    self.step = step

  def dispatch(self, stop_requested: bool) -> Tuple[int, bool]:
    """Dispatches the next step(s); returns (the step reached, whether to stop
    there). `stop_requested`: this process was asked to stop (read once per
    dispatch, so a later signal is acted on at the next one, never skipped).

    With several processes the answer is the same on all of them: the
    maximum of their requests, taken MAX_STEPS_AHEAD dispatches back.
    """
    n = self._sizes.popleft()
    self.step += n
    step_fn = self._step_fns[n]
    batch = next(self._batches)
    if self._multi_process:
      local = np.full(len(self._devices), stop_requested, np.int32)
      self._state, metrics, any_stop = step_fn(self._state, batch, local)
      self._stop_flags.append(any_stop)
      stop = len(self._stop_flags) > MAX_STEPS_AHEAD and bool(
          np.asarray(self._stop_flags.popleft().addressable_data(0)))
    else:
      self._state, metrics = step_fn(self._state, batch)
      stop = stop_requested
    self._pending.append((n, metrics))
    if len(self._pending) > MAX_STEPS_AHEAD:
      jax.block_until_ready(self._pending[-MAX_STEPS_AHEAD - 1][1])
    if len(self._pending) >= _MAX_PENDING:
      self._fetch()
    return self.step, stop

  def _fetch(self) -> None:
    """Copies the pending dispatches' metrics to the host, one dict per step."""
    for n, metrics in jax.device_get(self._pending):
      metrics = jax.tree.map(lambda x: x[0], metrics)  # device 0's copy
      self._fetched += [metrics] if n == 1 else [_index(metrics, i) for i in range(n)]
    self._pending = []

  def wait(self) -> None:
    """Blocks until the dispatched steps have run (nothing is copied)."""
    jax.block_until_ready(self._state)

  def drain(self) -> List[List[dict]]:
    """The metrics of every step since the last drain, on the host: one list
    per seed, one dict of numpy scalars per step."""
    self._fetch()
    host, self._fetched = self._fetched, []
    if not self._vmapped:
      return [host]
    return [[_index(m, i) for m in host] for i in range(len(self._data))]

  def host_states(self) -> List[GANState]:
    """Each seed's current state, on the host (device 0's replica)."""
    state = _unreplicate(self._state)
    if not self._vmapped:
      return [state]
    return [_index(state, i) for i in range(len(self._data))]
