"""Host batches: epochs, exact resume, device split; preprocessing."""
import numpy as np

from gan_jax.data import batching


def test_every_example_once_per_epoch():
  n, batch = 10, 4  # batches run across epoch boundaries
  stream = np.concatenate([batching.batch_indices(n, batch, 0, b)
                           for b in range(5)])
  assert sorted(stream[:10]) == list(range(10))
  assert sorted(stream[10:20]) == list(range(10))
  assert not np.array_equal(stream[:10], stream[10:20])


def test_batches_resume_exactly_and_split_over_devices():
  images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
  full = batching.train_batches(images, 8, 2, 1, seed=3)
  steps = [next(full) for _ in range(5)]
  resumed = batching.train_batches(images, 8, 2, 1, seed=3, start_step=3)
  np.testing.assert_array_equal(next(resumed), steps[3])
  split = next(batching.train_batches(images, 8, 2, 4, seed=3))
  assert split.shape == (4, 2, 2, 1, 1, 1)  # devices, n_critic, local batch
  # Device d holds rows [2d, 2d + 2) of each global batch.
  np.testing.assert_array_equal(split.swapaxes(0, 1).reshape(2, 8),
                                steps[0].reshape(2, 8))


def test_processes_take_their_rows_of_the_global_batch():
  images = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1)
  whole = next(batching.train_batches(images, 8, 2, 2, seed=3))
  shares = [next(batching.train_batches(images, 8, 2, 1, seed=3,
                                              process_index=p, process_count=2))
            for p in range(2)]
  # Process p, device 0 = device p of one process over 2 devices.
  np.testing.assert_array_equal(np.concatenate(shares), whole)


def test_preprocess_range_and_resize():
  x = np.array([0, 255], np.uint8).reshape(1, 1, 2, 1).repeat(2, axis=1)
  out = np.asarray(batching.preprocess(x))
  np.testing.assert_allclose(out[0, 0, :, 0], [-1.0, 1.0])
  assert batching.preprocess(np.zeros((3, 28, 28, 1), np.uint8), 64).shape == (3, 64, 64, 1)
