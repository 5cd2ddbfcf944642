"""TFDS images -> shuffled host batches -> per-device shards.

The image datasets this codebase trains on (MNIST, Fashion-MNIST, ...) fit in
host memory as uint8, so the split is read once through TFDS and batches are
gathered by index from a per-epoch permutation (as flax/examples/mnist does).
The batch for step s is a pure function of (seed, s): resuming at a step
continues the exact data order without replaying the stream. Conversion to
float and resizing happen on device, inside the update step (`preprocess`).

The synthetic sets of `synthetic_data` (2-D mixtures as float32 points
[N, 2], Stacked MNIST) are selected by the same `config.data.dataset` and go
through the same batching.
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
import tensorflow as tf
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
    from gan_jax import synthetic_data  # here: it imports this module
    raise ConfigError(f"unknown config.data.dataset '{name}': neither a TFDS "
                      'dataset (see tfds.list_builders()) nor one of '
                      f"{', '.join(synthetic_data.DATASETS)}") from None
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


def load_split(data_config: ml_collections.ConfigDict, split: Optional[str] = None,
               with_labels: bool = False):
  """uint8 images [N, H, W, C] of a whole TFDS split (default
  `data_config.split`), and int labels [N] if `with_labels`.

  Every process reads the whole split (MNIST-sized sets fit in memory) and
  takes its rows of each global batch, so the data order does not depend on
  the process count.
  """
  split = split or data_config.split
  builder = _builder(data_config)
  if 'image' not in builder.info.features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'image' feature")
  if with_labels and 'label' not in builder.info.features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'label' feature")
  try:
    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  except ValueError as e:
    raise ConfigError(f"split '{split}' is not valid for "
                      f'{data_config.dataset}: {e}') from None
  except tf.errors.OpError as e:  # DataLossError: a truncated/garbled file
    detail = ' '.join(str(e).split('}}')[-1].split())[:160]
    raise DataNotFoundError(
        f'the prepared {data_config.dataset} in {builder.data_dir} is '
        f'unreadable ({type(e).__name__}: {detail}); delete that directory and '
        + _HOW_TO_PROVIDE.format(name=data_config.dataset)) from None
  logging.info('Loaded %s[%s]: %s %s from %s', data_config.dataset, split,
               data['image'].shape, data['image'].dtype, builder.data_dir)
  if with_labels:
    return data['image'], data['label'].astype(np.int32)
  return data['image']


def load_images(data_config: ml_collections.ConfigDict) -> np.ndarray:
  """The whole training set: uint8 images [N, H, W, C], or float32 points
  [N, 2] for the 2-D mixtures.

  Every process holds all of it and takes its rows of each global batch
  (`train_batches`), so the global batches, and hence the run, do not depend
  on the process count; the sets trained on here fit in host memory.
  """
  # Imported here: synthetic_data builds Stacked MNIST on load_split.
  from gan_jax import synthetic_data
  if data_config.dataset in synthetic_data.DATASETS:
    return synthetic_data.load(data_config)
  return load_split(data_config)


def image_shape(data_config: ml_collections.ConfigDict,
                stored_shape: Tuple[int, ...]) -> Tuple[int, ...]:
  """Shape of one example as the models see it: (H, W, C) after the optional
  resize, or the stored shape of non-image data, e.g. (2,) for 2-D points."""
  size = data_config.image_size
  if len(stored_shape) != 3:
    if size:
      raise ConfigError(f'config.data.image_size={size} needs images, but '
                        f"'{data_config.dataset}' examples have shape "
                        f'{tuple(stored_shape)}; set it to 0')
    return tuple(stored_shape)
  h, w, c = stored_shape
  return (size, size, c) if size else (h, w, c)


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


def train_batches(images: np.ndarray, batch_size: int, n_critic: int,
                  num_devices: int, seed: int, start_step: int = 0,
                  process_index: int = 0,
                  process_count: int = 1) -> Iterator[np.ndarray]:
  """Yields this process's share of each step's batches: [num_devices,
  n_critic, batch_size // (process_count * num_devices), *example_shape] of
  the examples' dtype (uint8 images [.., H, W, C], float32 points [.., 2]).

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
    x = images[idx].reshape((n_critic, num_devices, local) + images.shape[1:])
    yield np.swapaxes(x, 0, 1)
    step += 1
