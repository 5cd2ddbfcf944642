"""A class-conditional DCGAN on MNIST: the TensorFlow tutorial's networks
(configs/mnist.py) with G's batch norms made per class (conditional batch
norm, de Vries et al. 2017) and the projection discriminator (Miyato &
Koyama 2018, Eq. 3), conditioned on the ten digit labels.

Evaluation adds conditional accuracy (the shipped classifier's argmax on
G(z, y) against y) and intra-class FID to FID, KID and IS; the sample grids
hold one row per digit.
"""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model.num_classes = 10
  config.model.g_conditioning = 'cbn'
  config.model.d_conditioning = 'projection'
  return config
