"""The PyTorch DCGAN on MNIST resized to 64x64: Adam 2e-4 beta1 0.5, batch
128, z=100, BCE with G trained against 'real' labels (= non_saturating)."""
from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.batch_size = 128
  config.data.image_size = 64
  config.model.generator = 'dcgan64'
  config.model.discriminator = 'dcgan64'
  config.optimizer_g = defaults.optimizer(2e-4, b1=0.5)
  config.optimizer_d = defaults.optimizer(2e-4, b1=0.5)
  return config
