"""The conditional adversarial net of Mirza & Osindero 2014 (Sec. 4.1) in
the MLP GAN of configs/mnist_mlp.py: the one-hot digit
label y is concatenated to z at G's input and to the flattened image at D's
input ('concat' for both players), conditioned on MNIST's ten classes.

Evaluation adds conditional accuracy (the shipped classifier's argmax on
G(z, y) against y) and intra-class FID; sample grids hold a row per digit.
"""
from configs import mnist_mlp


def get_config():
  config = mnist_mlp.get_config()
  config.model.num_classes = 10
  config.model.g_conditioning = 'concat'
  config.model.d_conditioning = 'concat'
  config.eval_every_steps = 2000
  config.checkpoint_every_steps = 2000
  return config
