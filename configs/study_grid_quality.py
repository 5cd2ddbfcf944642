"""configs/mog_grid.py to 60k steps, G scored raw or as an average of its iterates.

  python launch/sweep.py --config=configs/study_grid_quality.py --parallel=2
  python -m gan_jax.report --sweep_dir=runs/sweeps/study_grid_quality \
    --metrics=modes_covered,high_quality_fraction,kl_to_uniform --at_step=20000
  python -m gan_jax.report --sweep_dir=runs/sweeps/study_grid_quality \
    --metrics=modes_covered,high_quality_fraction,kl_to_uniform

configs/mog_grid.py (small ReLU MLPs, Adam 3e-4 b1 0.5, batch 512, 20k
steps) three times as long, with G's parameters evaluated raw or as an
exponential moving average (Yazici et al. 2019). A sample is high quality
within 3 std = 0.15 of a mode, 2 % of the grid's span: a generator that
keeps taking Adam steps of a constant size jitters around such a target,
and an average of its iterates need not. The 20k-step table (--at_step)
is mog_grid.py's own budget; the final table shows what more steps, and
the average, change. Measured results: docs/reproductions.md, section 2
('Why `configs/mog_grid.py` reaches only ...').
"""
from configs import mog_grid
from gan_jax.experiments import sweep_plan


def get_config():
  config = mog_grid.get_config()
  config.num_train_steps = 60_000
  config.eval_every_steps = 2000
  config.checkpoint_every_steps = 20_000
  config.sample_every_steps = 20_000
  config.eval.params = 'ema'
  config.log_every_steps = 1000
  config.steps_per_dispatch = 1000   # small MLPs: the host's dispatch would dominate
  return config


def sweep():
  return sweep_plan.product({'ema_decay': (0.0, 0.999)}, seed=(0, 1, 2))
