"""Any TFDS image set with an `image` feature (mnist, fashion_mnist, cifar10,
cifar100, svhn_cropped, stl10, celeb_a ...): uint8 images [N, H, W, C] of a
whole split, labels its `label` feature. Prepared sets are read from
data.data_dir ($TFDS_DATA_DIR when None); an unprepared one is downloaded
when data.download allows and the machine is online, and refused in one
line otherwise.

What shrinks a set happens once, as the split is read, batch by batch: the
central data.crop x data.crop square (CelebA's faces: 178 of its 178x218),
then an antialiased bilinear resize down to data.image_size (STL-10's 96 to
SNGAN's 48), rounded back to uint8. Memory then holds the training
resolution only (CelebA at 64x64: 2.0 GB instead of 19 GB), and a split that
would not fit in the memory available is refused before it is read. A resize
up (MNIST's 28 to the 64x64 DCGAN's 64) stays on the device, per batch
(batching.preprocess): the data are held at their stored size.
"""
import os
import socket
from typing import Optional, Tuple

from absl import logging
import ml_collections
import numpy as np
import tensorflow_datasets as tfds
# TFDS's lazy TensorFlow: imported when a split is read, so that what only
# names or measures a set (the config checks, gan_jax.benchmark) runs where
# TensorFlow is not installed.
from tensorflow_datasets.core.utils.lazy_imports_utils import tensorflow as tf

from gan_jax.data import names
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


def check_tfds_name(name: str) -> None:
  """Raises ConfigError unless `name` ('name[/config][:version]') is a TFDS
  builder or a community namespace's ('huggingface:...'); the data need not
  be prepared."""
  if ':' in name.split('/')[0]:
    return  # TFDS resolves a namespace when the set is built
  try:
    tfds.builder_cls(name.split(':')[0].split('/')[0])
  except tfds.core.registered.DatasetNotFoundError:
    raise ConfigError(f"unknown config.data.dataset '{name}': neither a TFDS "
                      'dataset (see tfds.list_builders()) nor one of '
                      f"{', '.join(names.SYNTHETIC)}") from None


def prepared_builder(data_config: ml_collections.ConfigDict):
  """The TFDS builder of data.dataset, prepared (downloaded where allowed).
  Raises ConfigError for an unknown name, DataNotFoundError where the set
  is neither prepared nor downloadable."""
  name, data_dir = data_config.dataset, _data_dir(data_config)
  check_tfds_name(name)
  builder = tfds.builder(name, data_dir=data_dir)
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


def stored_shape(data_config: ml_collections.ConfigDict) -> Tuple[int, ...]:
  """(H, W, C) of the set's image feature, read from the prepared set's
  metadata (a feature that leaves a side open, None, is loaded to see it).
  Raises ConfigError / DataNotFoundError as `load_split` does."""
  prepared = prepared_builder(data_config)
  if 'image' not in prepared.info.features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'image' feature")
  shape = tuple(prepared.info.features['image'].shape)
  if None in shape:
    return tuple(load_split(data_config).shape[1:])
  return shape


def _crop_side(data_config: ml_collections.ConfigDict,
               stored: Tuple[int, ...]) -> Optional[int]:
  """The side of the central square kept: data.crop, or the largest square
  of non-square images resized to a square (no squashing); None: no crop."""
  height, width = stored[:2]
  if data_config.crop:
    if data_config.crop > min(height, width):
      raise ConfigError(f'config.data.crop={data_config.crop} is larger than the '
                        f"{height}x{width} images of '{data_config.dataset}'")
    return data_config.crop
  if height != width and data_config.image_size:
    return min(height, width)
  return None


def training_shape(data_config: ml_collections.ConfigDict,
                   stored: Tuple[int, ...]) -> Tuple[int, ...]:
  """(H, W, C) of the images `load_split` returns for images stored at
  `stored`: after the crop, and after the resize when it shrinks them.
  Raises ConfigError for a crop larger than the images."""
  height, width, channels = stored
  crop = _crop_side(data_config, stored)
  if crop:
    height = width = crop
  size = data_config.image_size
  if size and size < min(height, width):
    height = width = size
  return height, width, channels


def _shrink(images: 'tf.Tensor', crop: Optional[int],
            target: Tuple[int, ...]) -> 'tf.Tensor':
  """The central crop and the down-resize of a uint8 batch [B, H, W, C]."""
  if crop:
    height, width = images.shape[1:3]
    top, left = (height - crop) // 2, (width - crop) // 2
    images = images[:, top:top + crop, left:left + crop, :]
  if tuple(images.shape[1:3]) != tuple(target[:2]):
    images = tf.image.resize(tf.cast(images, tf.float32), target[:2],
                             method='bilinear', antialias=True)
    images = tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)
  return images


def _available_bytes() -> Optional[int]:
  try:
    with open('/proc/meminfo') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def _check_fits(data_config: ml_collections.ConfigDict, split: str, count: int,
                shape: Tuple[int, ...]) -> None:
  needed = count * int(np.prod(shape))
  available = _available_bytes()
  if available is not None and needed > available:
    raise ConfigError(
        f"{data_config.dataset}[{split}] at {shape[0]}x{shape[1]}x{shape[2]} needs "
        f'{_size(needed)} of memory as uint8, {_size(available)} are available: set '
        'a smaller config.data.image_size (or data.crop), or use a machine with '
        'more memory')


def _size(num_bytes: int) -> str:
  if num_bytes >= 2 ** 30:
    return f'{num_bytes / 2 ** 30:.1f} GiB'
  return f'{num_bytes / 2 ** 20:.1f} MiB'


def as_stored(dataset: str, data_dir: Optional[str], download: bool = True,
              split: str = 'train') -> ml_collections.ConfigDict:
  """The data config that reads TFDS set `dataset` as it is stored (no crop,
  no resize): for the readers that are not a run's input pipeline."""
  return ml_collections.ConfigDict(dict(dataset=dataset, split=split, data_dir=data_dir,
                                        download=download, image_size=0, crop=0))


def load_split(data_config: ml_collections.ConfigDict, split: Optional[str] = None,
               with_labels: bool = False):
  """uint8 images [N, H, W, C] of a whole TFDS split (default
  `data_config.split`), cropped and shrunk as the module docstring says
  (`training_shape`), and int32 labels [N] if `with_labels`.

  Raises ConfigError (no such set, split or feature; a split that does not
  fit in memory) or DataNotFoundError.
  """
  split = split or data_config.split
  builder = prepared_builder(data_config)
  features = builder.info.features
  if 'image' not in features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'image' feature")
  if with_labels and 'label' not in features:
    raise ConfigError(f"config.data.dataset '{data_config.dataset}' has no "
                      "'label' feature")
  try:
    count = builder.info.splits[split].num_examples
  except (KeyError, ValueError) as e:
    raise ConfigError(f"split '{split}' is not valid for "
                      f'{data_config.dataset}: {e}') from None
  stored = tuple(features['image'].shape)
  if None in stored:   # sides that vary: read whole, as stored
    return _read_whole(builder, data_config, split, with_labels)
  shape, crop = training_shape(data_config, stored), _crop_side(data_config, stored)
  _check_fits(data_config, split, count, shape)
  images = np.empty((count,) + shape, np.uint8)
  labels = np.empty((count,), np.int32) if with_labels else None
  dataset = builder.as_dataset(split=split, batch_size=1024, shuffle_files=False)
  dataset = dataset.map(lambda ex: dict(ex, image=_shrink(ex['image'], crop, shape)),
                        num_parallel_calls=tf.data.AUTOTUNE)
  start = 0
  try:
    for batch in tfds.as_numpy(dataset):
      end = start + len(batch['image'])
      images[start:end] = batch['image']
      if with_labels:
        labels[start:end] = batch['label']
      start = end
  except tf.errors.OpError as e:  # DataLossError: a truncated/garbled file
    raise _unreadable(builder, data_config, e) from None
  logging.info('Loaded %s[%s]: %s %s from %s (stored %s)', data_config.dataset, split,
               images.shape, images.dtype, builder.data_dir, stored)
  return (images[:start], labels[:start]) if with_labels else images[:start]


def _unreadable(builder, data_config, error) -> DataNotFoundError:
  detail = ' '.join(str(error).split('}}')[-1].split())[:160]
  return DataNotFoundError(
      f'the prepared {data_config.dataset} in {builder.data_dir} is '
      f'unreadable ({type(error).__name__}: {detail}); delete that directory and '
      + _HOW_TO_PROVIDE.format(name=data_config.dataset))


def _read_whole(builder, data_config, split, with_labels):
  try:
    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
  except tf.errors.OpError as e:
    raise _unreadable(builder, data_config, e) from None
  if with_labels:
    return data['image'], data['label'].astype(np.int32)
  return data['image']
