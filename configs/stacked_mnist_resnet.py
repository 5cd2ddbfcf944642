"""A reduced-width SNGAN ResNet on Stacked MNIST at 32x32: the ResNet GANs'
code path (gan_jax/models/resnet.py, hinge loss, spectral normalisation,
linear decay) on a 3-channel set that exists offline, at a size a 2-core
CPU trains.

The 32x32 layout with G's blocks at a quarter of their channels (64) and
D's at half (64): G 368,771 and D 264,769 trainable parameters.
Stacked MNIST's 28x28 images resized to 32x32 on the device; one D move
per step at batch 64, Adam 2e-4 with beta=(0.5, 0.999) (Miyato et al.'s
Table 1 setting C, one of their two settings with one D move per step)
decayed linearly to 0 over 3,000 steps; an EMA of G. Evaluation: modes covered of 1,000 and KL
to uniform on 26,000 samples (the PacGAN protocol, configs/stacked_mnist.py)
every 1,000 steps.
"""
from configs import stacked_mnist
from gan_jax.config import defaults

NUM_STEPS = 3_000


def get_config():
  config = stacked_mnist.get_config()
  config.data.image_size = 32
  config.model.generator = config.model.discriminator = 'resnet'
  config.model.latent_dim = 128
  config.model.spectral_norm = True
  config.model.g_width_ratio = 0.25
  config.model.d_width_ratio = 0.5
  config.loss.name = 'hinge'
  config.batch_size = 64
  config.num_train_steps = NUM_STEPS
  for name in ('optimizer_g', 'optimizer_d'):
    config[name] = defaults.optimizer(2e-4, b1=0.5, b2=0.999, schedule='linear',
                                      decay_steps=NUM_STEPS, end_learning_rate=0.0)
  config.ema_decay = 0.999
  config.ema_warmup = True
  config.log_every_steps = 200
  config.sample_every_steps = 1_000
  config.checkpoint_every_steps = 1_000
  config.eval_every_steps = 1_000
  return config
