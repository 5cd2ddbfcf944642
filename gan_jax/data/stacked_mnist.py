"""Stacked MNIST: uint8 [N, 28, 28, 3], three MNIST training digits drawn
independently as the R, G and B channels (Metz et al. 2016, Sec. 3.3;
PacGAN: N = 128,000), 10^3 = 1000 modes; labels are the mode ids
100 d_R + 10 d_G + d_B.

Config keys read: data.seed, data.num_examples, and the MNIST source's
data.data_dir and data.download.
"""
import ml_collections
import numpy as np

from gan_jax.data import synthetic, tfds_images

def stacked_mode_ids(digits) -> np.ndarray:
  """Mode of each digit triple: int [...] = 100 d_R + 10 d_G + d_B in [0, 1000).

  Args:
    digits: int [..., 3], the digit classes of the R, G, B channels (labels,
      or a classifier's predictions on generated samples).
  """
  digits = np.asarray(digits)
  return 100 * digits[..., 0] + 10 * digits[..., 1] + digits[..., 2]


def stacked_digits(modes) -> np.ndarray:
  """The digit triples (int [..., 3]: R, G, B) of modes, int [...] in
  [0, 1000): the inverse of `stacked_mode_ids`."""
  modes = np.asarray(modes)
  return np.stack([modes // 100, modes // 10 % 10, modes % 10], axis=-1)


def stacked_mnist(data_config: ml_collections.ConfigDict):
  """The whole Stacked MNIST training set: uint8 [N, 28, 28, 3] and the mode
  ids int32 [N] (`stacked_mode_ids` of the channels' labels). Channel c of
  example i is MNIST training digit indices[i, c], each index drawn uniformly
  and independently."""
  mnist = tfds_images.as_stored('mnist', data_config.data_dir, data_config.download)
  digits, labels = tfds_images.load_split(mnist, 'train', with_labels=True)
  indices = synthetic.rng(data_config).integers(
      len(digits), size=(synthetic.num_examples(data_config), 3))
  images = np.stack([digits[indices[:, c], :, :, 0] for c in range(3)], axis=-1)
  return images, stacked_mode_ids(labels[indices]).astype(np.int32)
