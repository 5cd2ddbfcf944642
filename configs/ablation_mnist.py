"""Ablation: the GAN objective for the DCGAN on MNIST, 3 seeds each.

  python launch/sweep.py --config=configs/ablation_mnist.py
  python -m gan_jax.report --sweep_dir=runs/sweeps/ablation_mnist --metrics=fid,kid,is

The TensorFlow-tutorial DCGAN of configs/mnist.py with the main objectives
(non-saturating, minimax, hinge, least squares, WGAN-GP, RSGAN) x seeds 0-2 =
18 runs. A short budget: batch 64, 1000 generator steps (about one epoch),
everything else as configs/mnist.py, so the ranking is of early training.
Scored by FID, KID and IS at steps 500 and 1000, on 10,000 samples each,
in the feature space of an MNIST classifier trained on the machine
(`eval.classifier='trained'`, the feature space of the documented table; not
the shipped evaluator's, not Inception's). The first evaluation trains that
classifier if it is not cached yet: before a --parallel sweep, train it once
with `python -m gan_jax.evaluation.classifier --dataset=mnist`.

Measured results and wall time on 2 CPU cores: docs/ablations.md, section
'MNIST DCGAN: `configs/ablation_mnist.py`'.
"""
from configs import mnist
from gan_jax.experiments import sweep_plan

OBJECTIVES = ('non_saturating', 'minimax', 'hinge', 'least_squares', 'wgan_gp',
              'rsgan')
SEEDS = (0, 1, 2)


def get_config():
  config = mnist.get_config()
  config.batch_size = 64
  config.num_train_steps = 1000
  config.log_every_steps = 50
  config.sample_every_steps = 500
  config.checkpoint_every_steps = 500
  config.eval_every_steps = 500
  config.eval.classifier = 'trained'
  return config


def sweep():
  return sweep_plan.product({'loss.name': OBJECTIVES}, seed=SEEDS)
