"""A data set by name: its examples, their shape and their labels (as
big_vision's datasets/core.py); one module per family holds the rest.

`config.data.dataset` names one of
  any TFDS image set with an `image` feature (mnist, fashion_mnist, ...):
      uint8 images [N, H, W, C], labels the TFDS `label` feature
      (data/tfds_images.py);
  mog_ring, mog_grid: float32 points [N, 2] of a 2-D Gaussian mixture,
      labels the mode each point came from (data/mixtures.py);
  stacked_mnist: uint8 [N, 28, 28, 3], labels the 1000 digit-triple modes
      (data/stacked_mnist.py).

Every set fits in host memory and is a pure function of `config.data` (its
`seed` included): every process builds all of it and takes its rows of each
global batch (`batching.train_batches`), so the data and the run do not
depend on the process count. The keys are described in
gan_jax/config/defaults.py.
"""
from typing import Tuple

from absl import logging
import ml_collections

from gan_jax.data import mixtures, names, stacked_mnist, tfds_images
from gan_jax.errors import ConfigError

MIXTURES, STACKED_MNIST, SYNTHETIC = names.MIXTURES, names.STACKED_MNIST, names.SYNTHETIC


def load(data_config: ml_collections.ConfigDict, with_labels: bool = False):
  """The whole training set of `data_config.dataset`: examples [N, ...]
  (uint8 images [N, H, W, C], float32 points [N, 2]), and int32 labels [N]
  if `with_labels` (classes, mixture components or Stacked-MNIST modes).

  Raises:
    ConfigError: an unknown name, split or mixture geometry.
    DataNotFoundError: a TFDS set neither prepared nor downloadable, or
      unreadable.
  """
  name = data_config.dataset
  if name in MIXTURES:
    examples, labels = mixtures.mixture_points(data_config)
  elif name == STACKED_MNIST:
    examples, labels = stacked_mnist.stacked_mnist(data_config)
  else:
    return tfds_images.load_split(data_config, with_labels=with_labels)
  logging.info('Built %s (seed %d): %s %s', name, data_config.seed,
               examples.shape, examples.dtype)
  return (examples, labels) if with_labels else examples


def stored_shape(data_config: ml_collections.ConfigDict) -> Tuple[int, ...]:
  """Shape of one stored example of `data_config.dataset`, without loading
  the set: (2,) for the mixtures, (28, 28, 3) for Stacked MNIST, the TFDS
  image feature's (H, W, C) otherwise, read from the prepared set's
  metadata (a feature that leaves a side open, None, is loaded to see it).
  Raises ConfigError / DataNotFoundError as `load` does for TFDS sets
  (unknown, not prepared, no image feature)."""
  name = data_config.dataset
  if name in MIXTURES:
    return tuple(mixtures.mixture(data_config)[0].shape[1:])
  if name == STACKED_MNIST:
    return (28, 28, 3)
  return tfds_images.stored_shape(data_config)


def example_shape(data_config: ml_collections.ConfigDict,
                  stored_shape: Tuple[int, ...]) -> Tuple[int, ...]:
  """Shape of one example as the models see it: (H, W, C) after the optional
  resize to `data.image_size`, or the stored shape of non-image data, e.g.
  (2,) for 2-D points. Raises ConfigError for a resize of non-images."""
  size = data_config.image_size
  if len(stored_shape) != 3:
    for key, value in (('image_size', size), ('crop', data_config.crop)):
      if value:
        raise ConfigError(f'config.data.{key}={value} needs images, but '
                          f"'{data_config.dataset}' examples have shape "
                          f'{tuple(stored_shape)}; set it to 0')
    return tuple(stored_shape)
  h, w, c = tfds_images.training_shape(data_config, tuple(stored_shape))
  return (size, size, c) if size else (h, w, c)


def check_name(name: str) -> None:
  """Raises ConfigError unless `name` is a synthetic set or a TFDS builder
  (the data need not be prepared)."""
  if name not in SYNTHETIC:
    tfds_images.check_tfds_name(name)
