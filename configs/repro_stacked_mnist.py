"""Reproduction of PacGAN's Tables 2 and 3: Stacked MNIST, GAN vs PacGAN2-4.

  python launch/sweep.py --config=configs/repro_stacked_mnist.py:veegan --parallel=2
  python launch/sweep.py --config=configs/repro_stacked_mnist.py:unrolled --parallel=2
  python -m gan_jax.report --sweep_dir=runs/sweeps/repro_stacked_mnist_veegan \
    --metrics=modes_covered,kl_to_uniform

The argument is the setup, `veegan` or `unrolled`, optionally with a scaled
budget in steps: `:unrolled,10000` trains 10,000 steps (sweep directory
runs/sweeps/repro_stacked_mnist_unrolled,10000); evaluation and checkpoints
then come every tenth of the budget.

Two setups, as in the reference code (fjxmlzn/PacGAN,
stacked_MNIST_experiments/; models/stacked_dcgan.py; docs/reproductions.md):

veegan (Table 2): the DCGAN of DCGAN-tensorflow (5x5 convolutions, 64 base
  filters), z ~ U[-1, 1)^100, Adam 2e-4 b1 0.5, batches of 64 packs, two G
  moves per D move, 128,000 training images, 50 epochs (100,000 steps);
  26,000 samples scored with G's batch norm on its population averages.
unrolled (Table 3): a small DCGAN (3x3 convolutions) whose D has 1/4 or 1/2
  of G's filters (the sweep runs both), z ~ N(0, I_256), Adam b1 0.5 b2 0.99
  (D 2e-4, G 1e-4), batches of 128 packs, 500,000 steps; 25,600 samples
  scored with batch statistics (the reference sampler runs batch norm in
  training mode).

Known differences from the reference code, kept on purpose: the digits are
drawn from the MNIST training split (the veegan-setup code pools train and
test); real images are scaled to [-1, 1] like G's output (that code feeds
[0, 1]); the unrolled setup trains on a fixed set of 128,000 images (the
reference draws fresh triples every batch); the two G moves draw their own
noise (the reference reuses the D move's); with packing the reference calls
G once per pack slot, so each G batch-norm call normalises 64 (128) samples,
gan_jax once on all of a batch's 64 (128) x m.

Measured results, each with its budget: docs/reproductions.md, section
'3. PacGAN Tables 2 and 3: Stacked MNIST'.
"""
from configs import stacked_mnist
from gan_jax.config import defaults
from gan_jax.experiments import sweep_plan

PACKS = (1, 2, 3, 4)
SEEDS = (0, 1, 2)
PACKS_PER_BATCH = {'veegan': 64, 'unrolled': 128}   # the reference batches count packs


def _parse(argument: str):
  setup, comma, steps = argument.partition(',')
  budget = sweep_plan.whole_number(steps, minimum=10) if comma else None
  if setup not in PACKS_PER_BATCH or (comma and budget is None):
    raise ValueError(f"bad argument '{argument}'; use configs/repro_stacked_mnist.py:"
                     f"{' or :'.join(PACKS_PER_BATCH)}, optionally with a step budget of at "
                     'least 10, e.g. :unrolled,10000')
  return setup, budget


def get_config(argument: str = 'veegan'):
  setup, steps = _parse(argument)
  config = stacked_mnist.get_config()
  config.batch_size = PACKS_PER_BATCH[setup]
  config.model.pack = 1
  config.loss.name = 'non_saturating'
  config.eval.params = 'raw'
  config.log_every_steps = 1000
  config.sample_every_steps = 10_000
  config.checkpoint_every_steps = 10_000
  config.eval_every_steps = 10_000
  config.best_metric = 'modes_covered'
  config.best_mode = 'max'
  config.model.d_width_ratio = 0.25
  if setup == 'veegan':
    config.model.generator = config.model.discriminator = 'dcgan_veegan'
    config.model.latent_dim = 100
    config.model.latent_distribution = 'uniform'
    config.optimizer_g = defaults.optimizer(2e-4, b1=0.5)
    config.optimizer_d = defaults.optimizer(2e-4, b1=0.5)
    config.n_generator = 2
    config.num_train_steps = 100_000
    config.eval.num_samples = 26_000
    config.eval.bn_stats = 'running'
  else:
    config.model.generator = config.model.discriminator = 'dcgan_unrolled'
    config.model.latent_dim = 256
    config.optimizer_g = defaults.optimizer(1e-4, b1=0.5, b2=0.99)
    config.optimizer_d = defaults.optimizer(2e-4, b1=0.5, b2=0.99)
    config.num_train_steps = 500_000
    config.eval.num_samples = 25_600
    config.eval.bn_stats = 'batch'
    config.eval_every_steps = 20_000
    config.checkpoint_every_steps = 20_000
  if steps is not None:
    config.num_train_steps = steps
    config.eval_every_steps = config.checkpoint_every_steps = steps // 10
    config.sample_every_steps = steps // 2
  return config


def sweep(argument: str = 'veegan'):
  setup, _ = _parse(argument)
  packs = [{'model.pack': m, 'batch_size': PACKS_PER_BATCH[setup] * m} for m in PACKS]
  axes = {'pack': packs}
  if setup == 'unrolled':
    axes = {'model.d_width_ratio': (0.25, 0.5), 'pack': packs}
  return sweep_plan.product(axes, seed=SEEDS)
