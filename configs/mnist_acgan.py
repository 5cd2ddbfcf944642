"""ACGAN (Odena et al. 2017) on MNIST: the tutorial DCGAN's G with the
one-hot label beside z, and its D with an auxiliary classifier head on the
last features; both players also minimise the class cross-entropy
(weight loss.acgan_weight = 1, the paper's L_C on real and fake for D, on
fake for G).

The paper's optimiser (Adam 2e-4, beta1 0.5, its Appendix) in place of the
tutorial's (1e-4, beta1 0.9), and an EMA of G (0.999, warmed up) that the
evaluations and samples use; 2,000 steps, evaluated every 500.

  python -m gan_jax.main --config=configs/mnist_acgan.py

Measured results: docs/conditional.md, section 'Results'.
"""
from gan_jax.config import defaults
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model.num_classes = 10
  config.model.g_conditioning = 'concat'
  config.model.d_conditioning = 'acgan'
  config.loss.acgan_weight = 1.0
  config.optimizer_g = defaults.optimizer(2e-4, b1=0.5)
  config.optimizer_d = defaults.optimizer(2e-4, b1=0.5)
  config.ema_decay = 0.999
  config.ema_warmup = True
  config.num_train_steps = 2000
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500
  return config
