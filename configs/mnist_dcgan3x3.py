"""The DCGAN of a TensorFlow 2 blog on 28x28 MNIST, 'VALID' convolutions only.

G: Dense 3*3*512 (no bias) -> LeakyReLU -> ConvT 256 3x3 s3 -> BN ->
LeakyReLU -> ConvT 128 5x5 s2 -> BN -> LeakyReLU -> ConvT 3 4x4 s3 ->
Conv 1 9x9 s2 -> tanh (3 -> 9 -> 21 -> 64 -> 28).
D: Conv 64 3x3 s2 -> BN -> Conv 128 3x3 s2 -> BN -> Conv 256 2x2 s2 -> BN ->
flatten -> Dense 1, no activations (as published). z=100, Adam with Keras'
defaults (1e-3, 0.9, 0.999, eps 1e-7), batch 256, BCE with G trained against
'real' labels (= non_saturating).
"""
from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.data.dataset = 'mnist'
  config.batch_size = 256
  config.model.generator = 'dcgan3x3'
  config.model.discriminator = 'dcgan3x3'
  config.model.latent_dim = 100
  config.loss.name = 'non_saturating'
  # tf.keras.optimizers.Adam() as the blog builds it: its epsilon default is
  # 1e-7, not optax's (and defaults.optimizer's) 1e-8. (Keras adds it to the
  # root of the uncorrected v, optax to the bias-corrected one: in optax's
  # terms Keras' is 1e-7 / sqrt(1 - b2^t), 3e-6 at step 1, 1e-7 after a few
  # thousand steps.)
  config.optimizer_g = defaults.optimizer(1e-3, b1=0.9, b2=0.999, eps=1e-7)
  config.optimizer_d = defaults.optimizer(1e-3, b1=0.9, b2=0.999, eps=1e-7)
  return config
