"""A data set in host memory -> shuffled global batches -> per-device shards.

The data sets of `datasets` fit in host memory (uint8 images, float32 2-D
points), so batches are gathered by index from a per-epoch permutation (as
flax/examples/mnist does). The batch for step s is a pure function of
(seed, s): resuming at a step continues the exact data order without
replaying the stream. Conversion to float and resizing happen on device,
inside the update step (`preprocess`).

The batch layout. One dispatch of the pmapped step (training/dispatch.py)
takes this process's examples as

    [devices, steps?, seeds?, n_critic, local_batch, *example_shape]

- devices: pmap's axis. Process p's device d holds rows
  [p * B / P + d * b, p * B / P + (d + 1) * b) of the global batch B, with
  b = local_batch = B // (P * devices), so the global batch does not depend
  on the device or process count.
- steps: present when a dispatch runs k > 1 consecutive steps (lax.scan);
  `group_steps`.
- seeds: present when several seeds train together (vmapped); each seed has
  its own data order; `stack_seeds`.
- n_critic: one batch per discriminator move, consecutive in the stream; the
  generator moves reuse the last.
Class-conditional runs carry the pair (examples, labels int32) with the
same axes up to local_batch. The update step (game/train_step.py) sees
[n_critic, local_batch, ...] once pmap, scan and vmap took their axes, and
its metrics come back as [devices, steps?, seeds?].
"""
import functools
from typing import Iterator, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def preprocess(images: jax.Array, image_size: int = 0) -> jax.Array:
  """uint8 [..., H, W, C] -> float32 in [-1, 1], resized to image_size.

  Float data (the 2-D mixtures' points) are already in model units and pass
  through unchanged; the dtype is static, so this is a trace-time branch.
  """
  if jnp.issubdtype(images.dtype, jnp.floating):
    return images
  x = images.astype(jnp.float32) / 127.5 - 1.0
  if image_size and x.shape[-3:-1] != (image_size, image_size):
    shape = x.shape[:-3] + (image_size, image_size, x.shape[-1])
    x = jax.image.resize(x, shape, method='bilinear')
  return x


@functools.lru_cache(maxsize=4)
def _permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def batch_indices(num_examples: int, batch_size: int, seed: int,
                  batch: int) -> np.ndarray:
  """Example indices of batch number `batch` of an endless shuffled stream.

  Example t of the stream is permutation_{t // N}[t % N], one permutation of
  the N examples per epoch; batches run across epoch boundaries, so every
  example is seen once per epoch and no example is dropped.
  """
  start = batch * batch_size
  epochs = range(start // num_examples, (start + batch_size - 1) // num_examples + 1)
  stream = np.concatenate([_permutation(num_examples, seed, e) for e in epochs])
  offset = start - epochs[0] * num_examples
  return stream[offset:offset + batch_size]


def split_batch(batch):
  """(examples, labels) of a batch from `train_batches`: labels None for an
  unconditional run's plain array."""
  return batch if isinstance(batch, tuple) else (batch, None)


def train_batches(images: np.ndarray, batch_size: int, n_critic: int,
                  num_devices: int, seed: int, start_step: int = 0,
                  process_index: int = 0, process_count: int = 1,
                  labels: Optional[np.ndarray] = None) -> Iterator:
  """Yields this process's share of each step's batches, [num_devices,
  n_critic, local_batch, *example_shape] of the examples' dtype (uint8
  images [.., H, W, C], float32 points [.., 2]) in the layout above; with
  `labels` (int32 [N], class-conditional runs) the pair (examples, their
  labels [num_devices, n_critic, local_batch]).

  `images` is the whole training set and `batch_size` the global batch B.
  Step s holds batches s * n_critic ... (s + 1) * n_critic - 1 of the stream.
  """
  per_process = batch_size // process_count
  local = per_process // num_devices
  rows = slice(process_index * per_process, (process_index + 1) * per_process)
  step = start_step
  while True:
    idx = np.concatenate([
        batch_indices(len(images), batch_size, seed, step * n_critic + k)[rows]
        for k in range(n_critic)])
    x = np.swapaxes(
        images[idx].reshape((n_critic, num_devices, local) + images.shape[1:]), 0, 1)
    if labels is None:
      yield x
    else:
      yield x, np.swapaxes(labels[idx].reshape(n_critic, num_devices, local), 0, 1)
    step += 1


def stack_seeds(batches: Sequence):
  """One step's batches of seeds trained together, stacked on the seed axis
  (axis 1, after the device axis); one seed's batch as it is."""
  return batches[0] if len(batches) == 1 else _stack(batches, axis=1)


def group_steps(batches: Iterator, sizes: Sequence[int]) -> Iterator:
  """The dispatches' batches: for each n of `sizes`, the next n steps'
  batches stacked on the steps axis (axis 1, after the device axis); a
  single step's batch as it is."""
  for n in sizes:
    first = next(batches)
    yield first if n == 1 else _stack(
        [first] + [next(batches) for _ in range(n - 1)], axis=1)


def dispatch_batches(data, batch_size: int, n_critic: int, num_devices: int,
                     start_step: int, sizes: Sequence[int],
                     process_index: int = 0, process_count: int = 1) -> Iterator:
  """Yields each dispatch's batch in the layout above, from step
  `start_step` on, `sizes[i]` steps in dispatch i.

  `data`: each seed's (whole training set, its labels int32 [N] or None,
  seed of its batch order); more than one entry adds the seeds axis.
  """
  streams = [train_batches(examples, batch_size, n_critic, num_devices, seed,
                           start_step, process_index, process_count, labels)
             for examples, labels, seed in data]
  per_step = (stack_seeds(b) for b in zip(*streams))
  return group_steps(per_step, sizes)


def _stack(batches: Sequence, axis: int):
  """np.stack of batches leaf by leaf (examples, or (examples, labels))."""
  return jax.tree.map(lambda *x: np.stack(x, axis=axis), *batches)
