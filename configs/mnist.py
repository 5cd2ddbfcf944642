"""The DCGAN of the TensorFlow tutorial on 28x28 MNIST.

G: Dense 7*7*256 -> BN -> LeakyReLU -> ConvT 128 5x5 s1 -> BN -> LeakyReLU ->
ConvT 64 5x5 s2 -> BN -> LeakyReLU -> ConvT 1 5x5 s2 -> tanh (no biases).
D: Conv 64 5x5 s2 -> LeakyReLU -> Dropout 0.3 -> Conv 128 5x5 s2 ->
LeakyReLU -> Dropout 0.3 -> flatten -> Dense 1. z=100, Adam 1e-4, batch 256,
non-saturating loss.
"""
from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.data.dataset = 'mnist'
  return config
