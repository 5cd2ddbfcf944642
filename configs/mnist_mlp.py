"""The fully connected GAN on MNIST: z=50, G 50-128-256-512-1024-784,
D 784-512-256-1, BatchNorm + LeakyReLU(0.2), Adam 3e-4, batch 128."""
from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.batch_size = 128
  config.num_train_steps = 10000
  config.model.generator = 'mlp'
  config.model.discriminator = 'mlp'
  config.model.latent_dim = 50
  config.optimizer_g = defaults.optimizer(3e-4)
  config.optimizer_d = defaults.optimizer(3e-4)
  return config
