"""sampling/pictures.py: an image written by gan_jax decodes to the exact
grey levels it came from."""
import numpy as np
from PIL import Image

from gan_jax.data import batching
from gan_jax.sampling import pictures


def test_every_grey_level_survives_the_grid_and_the_png(tmp_path):
  # All 256 levels as real images, through the input pipeline's [-1, 1].
  levels = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)
  images = np.asarray(batching.preprocess(levels))
  grid = pictures.image_grid(images, rows=2)
  path = str(tmp_path / 'grid.png')
  pictures.save_png(grid, path)
  read = np.asarray(Image.open(path))
  expected = levels.reshape(2, 2, 8, 8).transpose(0, 2, 1, 3).reshape(16, 16)
  np.testing.assert_array_equal(read.reshape(16, 16), expected)


def test_values_beyond_the_range_are_clipped_and_halfway_rounds():
  x = np.array([-1.5, -1.0, 1.0, 2.0, 1 / 127.5 - 1 + 0.49 / 127.5])
  assert pictures.to_uint8(x).tolist() == [0, 0, 255, 255, 1]
