"""WGAN-GP's ResNet on CIFAR-10 (Gulrajani et al. 2017, Sec. 5 and App. F;
the recipe of torch_mimicry's CIFAR-10 WGAN-GP).

The SNGAN ResNets of gan_jax/models/resnet.py, D without spectral
normalisation and pooling its last feature map by the mean, as Mimicry's
wgan_gp_32.py (G 4,276,739 and D 1,053,825 trainable parameters; the
paper's code has 128 channels in G where Mimicry's has 256). Wasserstein loss with
the gradient penalty, lambda 10, n_critic 5, Adam 2e-4 with beta=(0, 0.9),
learning rates decayed linearly to 0, batch 64, 100,000 G steps.
Evaluations as configs/cifar10_sngan.py.
"""
from configs import cifar10_sngan


def get_config():
  config = cifar10_sngan.get_config()
  config.model.spectral_norm = False
  config.model.d_pooling = 'mean'
  config.loss.name = 'wgan_gp'
  config.loss.penalty_weight = 10.0
  config.g_batch_size = 0   # G's batch is D's (64)
  return config
