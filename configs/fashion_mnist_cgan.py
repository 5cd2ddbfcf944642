"""The class-conditional DCGAN of configs/mnist_cgan.py (conditional batch
norm in G, projection D) on Fashion-MNIST's ten classes; scored by the
shipped Fashion-MNIST classifier."""
from configs import fashion_mnist, mnist_cgan


def get_config():
  config = fashion_mnist.get_config()
  cgan = mnist_cgan.get_config()
  for key in ('num_classes', 'g_conditioning', 'd_conditioning'):
    config.model[key] = cgan.model[key]
  return config
