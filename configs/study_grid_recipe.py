"""gan_jax's recipe on the 2-D grid, held against PacGAN4's row.

  python launch/sweep.py --config=configs/study_grid_recipe.py --parallel=2
  python -m gan_jax.report --sweep_dir=runs/sweeps/study_grid_recipe \
    --metrics=modes_covered,high_quality_fraction,kl_to_uniform

The target, PacGAN's Table 1 row for PacGAN4 on the grid: 24.8 ± 0.2 of 25
modes, 93.6 % high-quality samples and a reverse KL of 0.04 after 400,000
steps of its large nets (docs/reproductions.md, section 1). This asks
whether gan_jax's cheap ingredients reach that row in 15 % of the steps
(60,000): study_grid_quality.py's small MLPs with an exponential moving
average of G (Yazici et al. 2019), combined with packing (Lin et al. 2018),
which the paper finds raises the mode count. The sweep runs packing
m = 1, 2, 4, seeds 0-2. `batch_size` counts examples, so every packing sees
512 real and 512 fake points per step (512 / m packs). The single run is
PacGAN2:

  python -m gan_jax.main --config=configs/study_grid_recipe.py

Measured results and wall time on 2 CPU cores: docs/reproductions.md,
section 'The best gan_jax recipe against PacGAN4's row: PacGAN2 with small
nets'.
"""
from configs import study_grid_quality
from gan_jax.experiments import sweep_plan


def get_config():
  config = study_grid_quality.get_config()   # 60k steps, eval every 2k on the EMA
  config.ema_decay = 0.999
  config.model.pack = 2     # the single run; the sweep sets every run's pack
  return config


def sweep():
  return sweep_plan.product({'model.pack': (1, 2, 4)}, seed=(0, 1, 2))
