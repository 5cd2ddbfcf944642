"""Reproduction of PacGAN's Table 1: the 2-D ring and grid, GAN vs PacGAN2-4.

  python launch/sweep.py --config=configs/repro_pacgan_2d.py:grid --parallel=2
  python launch/sweep.py --config=configs/repro_pacgan_2d.py:ring --parallel=2
  python -m gan_jax.report --sweep_dir=runs/sweeps/repro_pacgan_2d_grid \
    --metrics=modes_covered,high_quality_fraction,kl_to_uniform

The argument is the target, `ring` or `grid`, optionally with a scaled
budget in steps: `:grid,40000` trains 40,000 steps (sweep directory
runs/sweeps/repro_pacgan_2d_grid,40000).

As in the reference code but for two details (fjxmlzn/PacGAN,
synthetic_data_experiments/2D{Ring,Grid}_GAN&PacGAN; docs/reproductions.md):
  * targets: ring of 8 Gaussians of radius 1, std 0.01; grid of 25 at
    {-4,-2,0,2,4}^2, std 0.05; a fixed training set of 100,000 points;
  * G 2-400-400-400-400-2 with batch norm, D three LinearMaxout layers of
    200 units x 5 pieces, N(0, 0.02^2) weights (models/mlp2d.py);
  * z ~ N(0, I_2); Adam 1e-4, b1 0.8; the non-saturating loss; one
    simultaneous move of each player per step (ALI's algorithm);
  * a batch of 100 packs: batch_size = 100 x pack examples;
  * evaluation on 2,500 samples with G's batch norm on its population
    averages (Blocks' inference graph), 3-std high quality.
The two details: with packing the reference calls G once per pack slot
(each batch-norm call normalises 100 samples), gan_jax once on all 100 x m;
the reference draws each pack's members with replacement, gan_jax takes
consecutive examples of a shuffled batch.
The paper trains 400 epochs of 1,000 steps: 400,000 steps, the default
here. Measured results, each with its budget: docs/reproductions.md, section
'1. PacGAN Table 1: the 2-D grid and ring'; wall time on 2 CPU cores: its
'Protocol' subsection (the paragraph 'Speed').
"""
import ml_collections

from configs import mog_ring
from gan_jax.config import defaults
from gan_jax.experiments import sweep_plan

# In the order the sweep runs them: the table's ends (GAN, PacGAN4) first.
PACKS = (1, 4, 2, 3)
SEEDS = (0, 1, 2)
PACKS_PER_BATCH = 100   # PacGAN's batch_size counts packs
TARGETS = {
    'ring': dict(dataset='mog_ring', num_modes=8, radius=1.0, std=0.01),
    'grid': dict(dataset='mog_grid', num_modes=25, spacing=2.0, std=0.05),
}


PAPER_STEPS = 400_000


def _parse(argument: str):
  target, comma, steps = argument.partition(',')
  budget = sweep_plan.whole_number(steps) if comma else PAPER_STEPS
  if target not in TARGETS or budget is None:
    raise ValueError(f"bad argument '{argument}'; use configs/repro_pacgan_2d.py:ring "
                     'or :grid, optionally with a step budget, e.g. :grid,40000')
  return target, budget


def get_config(argument: str = 'grid'):
  target, steps = _parse(argument)
  config = mog_ring.get_config()
  config.num_train_steps = steps
  config.log_every_steps = 1000
  config.sample_every_steps = 10_000
  # Long runs resume mid-way (a checkpoint is ~15 MB).
  config.checkpoint_every_steps = 5000
  config.eval_every_steps = 2000
  config.steps_per_dispatch = 1000
  config.update_order = 'simultaneous'

  config.batch_size = PACKS_PER_BATCH
  geometry = dict(TARGETS[target])
  config.data.dataset = geometry.pop('dataset')
  config.data.mog = ml_collections.ConfigDict(geometry)

  config.model.latent_dim = 2
  config.model.g_hidden = (400,) * 4
  config.model.g_batch_norm = True
  config.model.bn_momentum = 0.95
  config.model.bn_epsilon = 1e-4
  config.model.d_hidden = (200,) * 3
  config.model.d_maxout_pieces = 5
  config.model.init_std = 0.02
  config.model.pack = 1

  config.loss.name = 'non_saturating'
  config.optimizer_g = defaults.optimizer(1e-4, b1=0.8)
  config.optimizer_d = defaults.optimizer(1e-4, b1=0.8)
  config.eval.bn_stats = 'running'
  config.eval.params = 'raw'
  return config


def sweep(argument: str = 'grid'):
  _parse(argument)  # the same sweep on either target and budget
  packs = [{'model.pack': m, 'batch_size': PACKS_PER_BATCH * m} for m in PACKS]
  return sweep_plan.product({'pack': packs}, seed=SEEDS)
