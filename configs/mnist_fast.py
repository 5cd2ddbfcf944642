"""The MNIST DCGAN of configs/mnist.py with the recipe gan_jax recommends for
a short budget on a CPU: DCGAN's optimiser (Radford et al. 2016, Sec. 4:
Adam 2e-4, beta1 0.5), minibatches of 64 (a step costs ~1/4 of
configs/mnist.py's 256) and an exponential moving average of G's weights (decay 0.999, with the
warm-up that lets a short run's average forget G's initial weights), which
is what gets sampled and evaluated.

  python -m gan_jax.main --config=configs/mnist_fast.py

4,000 steps see 256,000 images, a fifth of configs/mnist.py's 5,000 x 256. Measured
results of both, with their wall times: docs/reproductions.md, section
'5. The MNIST quick-start command, a faster recipe, and the MLP GAN'.
"""
from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.data.dataset = 'mnist'
  config.batch_size = 64
  config.num_train_steps = 4000
  config.optimizer_g = defaults.optimizer(2e-4, b1=0.5)
  config.optimizer_d = defaults.optimizer(2e-4, b1=0.5)
  config.ema_decay = 0.999
  config.ema_warmup = True
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500
  return config
