"""Host batches: epochs, exact resume, device split; data errors."""
import ml_collections
import numpy as np
import pytest

from gan_jax import input_pipeline
from gan_jax.errors import ConfigError, DataNotFoundError


def data_config(**overrides):
  config = dict(dataset='mnist', split='train', data_dir=None, download=False,
                image_size=0)
  config.update(overrides)
  return ml_collections.ConfigDict(config)


def test_every_example_once_per_epoch():
  n, batch = 10, 4  # batches run across epoch boundaries
  stream = np.concatenate([input_pipeline.batch_indices(n, batch, 0, b)
                           for b in range(5)])
  assert sorted(stream[:10]) == list(range(10))
  assert sorted(stream[10:20]) == list(range(10))
  assert not np.array_equal(stream[:10], stream[10:20])


def test_batches_resume_exactly_and_split_over_devices():
  images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
  full = input_pipeline.train_batches(images, 8, 2, 1, seed=3)
  steps = [next(full) for _ in range(5)]
  resumed = input_pipeline.train_batches(images, 8, 2, 1, seed=3, start_step=3)
  np.testing.assert_array_equal(next(resumed), steps[3])
  split = next(input_pipeline.train_batches(images, 8, 2, 4, seed=3))
  assert split.shape == (4, 2, 2, 1, 1, 1)  # devices, n_critic, local batch
  # Device d holds rows [2d, 2d + 2) of each global batch.
  np.testing.assert_array_equal(split.swapaxes(0, 1).reshape(2, 8),
                                steps[0].reshape(2, 8))


def test_processes_take_their_rows_of_the_global_batch():
  images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
  whole = next(input_pipeline.train_batches(images, 8, 2, 2, seed=3))
  shares = [next(input_pipeline.train_batches(images, 8, 2, 1, seed=3,
                                              process_index=p, process_count=2))
            for p in range(2)]
  # Process p, device 0 = device p of one process over 2 devices.
  np.testing.assert_array_equal(np.concatenate(shares), whole)


def test_preprocess_range_and_resize():
  x = np.array([0, 255], np.uint8).reshape(1, 1, 2, 1).repeat(2, axis=1)
  out = np.asarray(input_pipeline.preprocess(x))
  np.testing.assert_allclose(out[0, 0, :, 0], [-1.0, 1.0])
  assert input_pipeline.preprocess(np.zeros((3, 28, 28, 1), np.uint8), 64).shape == (3, 64, 64, 1)


def test_loads_real_mnist(tfds_data_dir):
  images = input_pipeline.load_images(data_config(data_dir=tfds_data_dir, split='test'))
  assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8


def test_missing_data_says_how_to_provide_it(tmp_path, monkeypatch):
  with pytest.raises(DataNotFoundError, match='TFDS_DATA_DIR'):
    input_pipeline.load_images(data_config(data_dir=str(tmp_path)))
  monkeypatch.setattr(input_pipeline, '_host_resolves', lambda host: False)
  with pytest.raises(DataNotFoundError, match='cannot be downloaded'):
    input_pipeline.load_images(data_config(data_dir=str(tmp_path), download=True))


def test_unknown_dataset_name():
  with pytest.raises(ConfigError, match="unknown config.data.dataset 'mnits'"):
    input_pipeline.load_images(data_config(dataset='mnits'))
