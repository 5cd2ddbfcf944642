"""PyTorch's 64x64 DCGAN on CelebA faces (the PyTorch DCGAN tutorial's
recipe; Radford et al. 2016).

CelebA's 178x218 aligned faces, their central 178x178 square resized to
64x64 (the tutorial's Resize(64) + CenterCrop(64)), held at 64x64 in memory
(2.0 GB for the 162,770 training images). G and D as configs/mnist_dcgan64.py
(gan_jax/models/dcgan64.py, 3 channels), non-saturating loss, Adam 2e-4
beta1 0.5, batch 128, z=100; 8,000 steps (the tutorial's 5 epochs of all
202,599 images at batch 128 are 7,914). Evaluations: FID, KID and IS on the
FID Inception, 10,000 samples against the training split, every 2,000 steps.
"""
from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.data.dataset = 'celeb_a'
  config.data.crop = 178
  config.data.image_size = 64
  config.batch_size = 128
  config.num_train_steps = 8_000
  config.model.generator = config.model.discriminator = 'dcgan64'
  config.optimizer_g = defaults.optimizer(2e-4, b1=0.5)
  config.optimizer_d = defaults.optimizer(2e-4, b1=0.5)
  config.log_every_steps = 500
  config.sample_every_steps = 1_000
  config.checkpoint_every_steps = 1_000
  config.eval_every_steps = 2_000
  config.eval.num_samples = 10_000
  return config
