"""ACGAN (Odena et al. 2017) on MNIST: the tutorial DCGAN's G with the
one-hot label beside z, and its D with an auxiliary classifier head on the
last features; both players also minimise the class cross-entropy
(weight loss.acgan_weight = 1, the paper's L_C on real and fake for D, on
fake for G).
"""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model.num_classes = 10
  config.model.g_conditioning = 'concat'
  config.model.d_conditioning = 'acgan'
  config.loss.acgan_weight = 1.0
  return config
