"""The TensorFlow-tutorial DCGAN (configs/mnist.py) on Fashion-MNIST."""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.data.dataset = 'fashion_mnist'
  return config
