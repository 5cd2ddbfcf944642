"""Stacked MNIST: three MNIST digits as the R, G, B channels, 1000 modes.

The mode-collapse benchmark of Metz et al. 2016 (Unrolled GANs, Sec. 3.3),
VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): each channel
an independent uniform draw from the MNIST training split, so a mode is a
digit triple (100 d_R + 10 d_G + d_B). A fixed training set of 128,000
images (PacGAN's num_training_sample); modes are counted on 26,000 samples
by an MNIST classifier applied to each channel.

Model and optimiser as configs/mnist.py (the TensorFlow-tutorial DCGAN,
3 output channels; Adam 1e-4, batch 256), not PacGAN's DCGAN (Adam 2e-4
b1 0.5, batch 64, 50 epochs).
"""
from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.data.dataset = 'stacked_mnist'
  config.data.seed = config.get_ref('seed')   # the training set follows --config.seed
  config.data.num_examples = 128_000          # uint8: 128,000 x 2352 B = 301 MB
  return config
