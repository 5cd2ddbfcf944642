"""A data set in host memory -> shuffled global batches -> per-device shards.

The data sets of `datasets` fit in host memory (uint8 images, float32 2-D
points), so batches are gathered by index from a per-epoch permutation (as
flax/examples/mnist does). The batch for step s is a pure function of
(seed, s): resuming at a step continues the exact data order without
replaying the stream. Conversion to float and resizing happen on device,
inside the update step (`preprocess`).
"""
import functools
from typing import Iterator, Optional

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
  """Yields this process's share of each step's batches: [num_devices,
  n_critic, batch_size // (process_count * num_devices), *example_shape] of
  the examples' dtype (uint8 images [.., H, W, C], float32 points [.., 2]);
  with `labels` (int32 [N], class-conditional runs) the pair (examples,
  their labels [num_devices, n_critic, local_batch]).

  `images` is the whole training set and `batch_size` the global batch. Step
  s holds batches s * n_critic ... (s + 1) * n_critic - 1 of the stream, one
  per discriminator move; process p holds rows [p * B / P, (p + 1) * B / P)
  of each, and its device d rows [d * b, (d + 1) * b) of those, so the
  global batch does not depend on the device or the process count.
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
