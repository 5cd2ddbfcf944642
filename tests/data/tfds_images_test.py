"""The natural-image sets by TFDS name, read the real way (the builders'
own features and splits) from generated examples: cropped and shrunk once
as they are read, refused in one line when they will not fit."""
import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax.data import datasets, tfds_images
from gan_jax.errors import ConfigError


@pytest.fixture(scope='module')
def natural_dir(tfds_generator, tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('natural'))
  tfds_generator('celeb_a', data_dir, {'train': 12, 'validation': 2, 'test': 2})
  tfds_generator('stl10', data_dir, {'train': 2, 'test': 2, 'unlabelled': 10})
  return data_dir


def _data(name, data_dir, **overrides):
  data = ml_collections.ConfigDict(dict(dataset=name, data_dir=data_dir, download=False,
                                        split='train', image_size=0, crop=0))
  data.update(overrides)
  return data


def _raw(name, data_dir, split):
  builder = tfds.builder(name, data_dir=data_dir)
  return tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1,
                                          shuffle_files=False))['image']


def test_a_crop_keeps_the_central_square(natural_dir):
  raw = _raw('celeb_a', natural_dir, 'train')              # 218 x 178
  data = _data('celeb_a', natural_dir, crop=100)
  images = tfds_images.load_split(data)
  assert images.shape == (12, 100, 100, 3) and images.dtype == np.uint8
  np.testing.assert_array_equal(images, raw[:, 59:159, 39:139])
  assert datasets.example_shape(data, (218, 178, 3)) == (100, 100, 3)


def test_celeba_at_64_is_the_central_178_square_resized(natural_dir):
  raw = _raw('celeb_a', natural_dir, 'train')
  data = _data('celeb_a', natural_dir, crop=178, image_size=64)
  images = tfds_images.load_split(data)
  assert images.shape == (12, 64, 64, 3)
  # An antialiased bilinear resize: JAX's own implementation agrees to the
  # uint8 rounding.
  square = raw[:, 20:198].astype(np.float32)
  want = jax.image.resize(square, (12, 64, 64, 3), 'linear', antialias=True)
  assert np.abs(images.astype(np.float32) - np.asarray(want)).max() <= 1.0
  # No crop given: non-square images shrunk to a square keep the largest one.
  same = tfds_images.load_split(_data('celeb_a', natural_dir, image_size=64))
  np.testing.assert_array_equal(same, images)


def test_stl10_unlabelled_at_48_as_sngan(natural_dir):
  data = _data('stl10', natural_dir, split='unlabelled', image_size=48)
  images = tfds_images.load_split(data)
  assert images.shape == (10, 48, 48, 3)
  assert datasets.example_shape(data, datasets.stored_shape(data)) == (48, 48, 3)
  # A resize up stays on the device: the set is held at its stored size.
  up = _data('stl10', natural_dir, split='unlabelled', image_size=128)
  assert tfds_images.load_split(up).shape == (10, 96, 96, 3)


def test_a_set_that_does_not_fit_is_refused_before_it_is_read(natural_dir, monkeypatch):
  monkeypatch.setattr(tfds_images, '_available_bytes', lambda: 100_000)
  read = []
  monkeypatch.setattr(tfds, 'as_numpy', lambda *a: read.append(a) or iter(()))
  with pytest.raises(ConfigError, match=r"^celeb_a\[train\] at 64x64x3 needs 0\.1 MiB "
                                        r'of memory as uint8, 0\.1 MiB are available: '
                                        r'set a smaller config.data.image_size'):
    tfds_images.load_split(_data('celeb_a', natural_dir, image_size=64))
  assert not read


def test_a_crop_larger_than_the_images_is_named(natural_dir):
  with pytest.raises(ConfigError, match=r"config.data.crop=200 is larger than the "
                                        r"218x178 images of 'celeb_a'"):
    tfds_images.load_split(_data('celeb_a', natural_dir, crop=200))
