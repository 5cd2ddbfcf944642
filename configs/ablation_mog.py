"""Ablation: the GAN objective on the 2-D mixtures, 3 seeds each.

  python launch/sweep.py --config=configs/ablation_mog.py [--parallel=2]
  python -m gan_jax.report --sweep_dir=runs/sweeps/ablation_mog \
    --metrics=modes_covered,high_quality_fraction,kl_to_uniform,train_minutes \
    --split_by=data.dataset

Both targets (configs/mog_ring.py: 8 modes; configs/mog_grid.py: 25 modes) x
the classic and relativistic objectives x seeds 0-2 = 60 runs. Only the
objective changes within a data set -- models, Adam 3e-4 b1 0.5, batch 512,
10k steps (grid: 3-layer G, 20k steps), n_critic 1 -- each objective
bringing its own constraint (weight clipping for wasserstein, the gradient
penalty for wgan_gp). The seed also
draws the training set (data.seed follows it). Evaluation: modes covered,
high-quality share, KL to uniform, mode score every 1000 steps.

Measured results and wall time on 2 CPU cores: docs/ablations.md, section
'2-D mixtures: `configs/ablation_mog.py`' (and 'f-GAN divergences on the 2-D
mixtures: `configs/ablation_mog.py:fgan`' for the argument below).

`--config=configs/ablation_mog.py:fgan` runs the same table for the seven
f-GAN divergences of Nowozin et al. 2016 (Table 1: KL, reverse KL, Pearson
chi^2, Neyman chi^2, squared Hellinger, Jensen-Shannon, and the GAN one),
each with the non-saturating generator loss their Sec. 3.2 recommends; the
sweep directory is runs/sweeps/ablation_mog_fgan.
"""
from configs import mog_ring
from gan_jax.experiments import sweep_plan

# The grid gets the deeper G and longer budget of configs/mog_grid.py.
DATASETS = ({'data.dataset': 'mog_ring'},
            {'data.dataset': 'mog_grid', 'model.g_hidden': (128, 128, 128),
             'num_train_steps': 20_000,
             'sample_every_steps': 2000, 'checkpoint_every_steps': 5000})
OBJECTIVES = ('non_saturating', 'minimax', 'wasserstein', 'wgan_gp', 'hinge',
              'least_squares', 'rsgan', 'rasgan', 'ralsgan', 'rahinge')
FGAN_OBJECTIVES = ('fgan_kl', 'fgan_reverse_kl', 'fgan_pearson', 'fgan_neyman',
                   'fgan_hellinger', 'fgan_js', 'fgan_gan')
SEEDS = (0, 1, 2)
_FAMILIES = {'': OBJECTIVES, 'fgan': FGAN_OBJECTIVES}


def _objectives(argument):
  if argument not in _FAMILIES:
    raise ValueError(f"unknown argument '{argument}'; use configs/ablation_mog.py "
                     'or configs/ablation_mog.py:fgan')
  return _FAMILIES[argument]


def get_config(argument: str = ''):
  _objectives(argument)
  # mog_ring.py and mog_grid.py differ in data.dataset, data.mog, G's depth
  # and the budget; their data.mog values are the data sets' own geometry
  # (mixtures.DEFAULT_MIXTURES), which data.mog None gives, so the DATASETS
  # overrides alone pick the target.
  config = mog_ring.get_config()
  config.data.mog = None
  # 1,000 steps per dispatch: for small MLPs the host's dispatch would dominate
  # (measured for mog_grid.py: docs/reproductions.md, 'Are the long runs host-bound?').
  config.log_every_steps = 1000
  config.steps_per_dispatch = 1000
  return config


def sweep(argument: str = ''):
  return sweep_plan.product({'target': DATASETS, 'loss.name': _objectives(argument)},
                            seed=SEEDS)
