"""TFDS images -> shuffled host batches -> per-device shards.

The image datasets this codebase trains on (MNIST, Fashion-MNIST, ...) fit in
host memory as uint8, so the split is read once through TFDS and batches are
gathered by index from a per-epoch permutation (as flax/examples/mnist does).
The batch for step s is a pure function of (seed, s): resuming at a step
continues the exact data order without replaying the stream. Conversion to
float and resizing happen on device, inside the update step (`preprocess`).
"""
import functools
import os
import socket
from typing import Iterator, Optional, Tuple

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from gan_jax.errors import ConfigError, DataNotFoundError

_DOWNLOAD_HOST = 'storage.googleapis.com'
_HOW_TO_PROVIDE = (
    'set --config.data.data_dir (or $TFDS_DATA_DIR) to a directory holding the '
    'prepared TFDS dataset, e.g. `export TFDS_DATA_DIR=../shared/data/tfds` '
    'for the offline copy, or run once on a machine with internet: '
    "python -c \"import tensorflow_datasets as tfds; tfds.load('{name}')\"")


def _data_dir(data_config: ml_collections.ConfigDict) -> Optional[str]:
  return data_config.data_dir or os.environ.get('TFDS_DATA_DIR') or None


def _host_resolves(host: str) -> bool:
  # TFDS retries a failed download for minutes; an offline machine is told
  # at once instead.
  try:
    socket.getaddrinfo(host, 443)
    return True
  except OSError:
    return False


def _builder(data_config: ml_collections.ConfigDict):
  name, data_dir = data_config.dataset, _data_dir(data_config)
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise ConfigError(f"unknown config.data.dataset '{name}': not a TFDS "
                      'dataset (see tfds.list_builders())') from None
  if builder.is_prepared():
    return builder
  where = f"'{builder.data_dir}'"
  if not data_config.download:
    raise DataNotFoundError(f'{name} is not prepared in {where} and '
                            'config.data.download is False; '
                            + _HOW_TO_PROVIDE.format(name=name))
  if not _host_resolves(_DOWNLOAD_HOST):
    raise DataNotFoundError(f'{name} is not prepared in {where} and cannot be '
                            f'downloaded (no network); '
                            + _HOW_TO_PROVIDE.format(name=name))
  logging.info('Downloading and preparing %s into %s', name, builder.data_dir)
  builder.download_and_prepare()
  return builder


def load_images(data_config: ml_collections.ConfigDict) -> np.ndarray:
  """This process's share of the split, uint8 [N, H, W, C].

  With several processes each reads its own contiguous slice of the split
  (`tfds.split_for_jax_process`), so the global batch is the union of the
  processes' batches.
  """
  builder = _builder(data_config)
  if 'image' not in builder.info.features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'image' feature")
  split = tfds.split_for_jax_process(data_config.split)
  try:
    data = builder.as_dataset(split=split, batch_size=-1)
  except ValueError as e:
    raise ConfigError(f"config.data.split '{data_config.split}' is not valid "
                      f'for {data_config.dataset}: {e}') from None
  images = tfds.as_numpy(data)['image']
  logging.info('Loaded %s[%s]: %s %s from %s', data_config.dataset, split,
               images.shape, images.dtype, builder.data_dir)
  return images


def image_shape(data_config: ml_collections.ConfigDict,
                stored_shape: Tuple[int, ...]) -> Tuple[int, int, int]:
  """(H, W, C) of the images the models see, after the optional resize."""
  h, w, c = stored_shape
  size = data_config.image_size
  return (size, size, c) if size else (h, w, c)


def preprocess(images: jax.Array, image_size: int = 0) -> jax.Array:
  """uint8 [..., H, W, C] -> float32 in [-1, 1], resized to image_size."""
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


def train_batches(images: np.ndarray, batch_size: int, n_critic: int,
                  num_devices: int, seed: int,
                  start_step: int = 0) -> Iterator[np.ndarray]:
  """Yields uint8 [num_devices, n_critic, batch_size // num_devices, H, W, C].

  Step s holds batches s * n_critic ... (s + 1) * n_critic - 1 of the stream,
  one per discriminator move; device d holds rows [d * b, (d + 1) * b) of
  each, so the global batch does not depend on the device count.
  """
  local = batch_size // num_devices
  step = start_step
  while True:
    idx = np.concatenate([
        batch_indices(len(images), batch_size, seed, step * n_critic + k)
        for k in range(n_critic)])
    x = images[idx].reshape((n_critic, num_devices, local) + images.shape[1:])
    yield np.swapaxes(x, 0, 1)
    step += 1
