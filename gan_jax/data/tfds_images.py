"""Any TFDS image set with an `image` feature (mnist, fashion_mnist, cifar10
...): uint8 images [N, H, W, C] of a whole split, labels its `label`
feature. Prepared sets are read from data.data_dir ($TFDS_DATA_DIR when
None); an unprepared one is downloaded when data.download allows and the
machine is online, and refused in one line otherwise.
"""
import os
import socket
from typing import Optional, Tuple

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

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


def load_split(data_config: ml_collections.ConfigDict, split: Optional[str] = None,
               with_labels: bool = False):
  """uint8 images [N, H, W, C] of a whole TFDS split (default
  `data_config.split`), and int32 labels [N] if `with_labels`.

  Raises ConfigError (no such set, split or feature) or DataNotFoundError.
  """
  split = split or data_config.split
  builder = prepared_builder(data_config)
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
