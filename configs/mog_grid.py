"""The 2-D grid: 25 Gaussians, std 0.05, at {-4, -2, 0, 2, 4}².

Target of VEEGAN (Srivastava et al. 2017, Sec. 5.1) and PacGAN (Lin et al.
2018, Sec. 5.1): spacing 2, variance 0.0025. A fixed training set of 100,000
points (PacGAN's num_sample); evaluation on 2,500 generator samples.

Models: ReLU MLPs without batch norm (models/mlp2d.py), z ~ N(0, I_2) as in
PacGAN; G one layer deeper than for the ring (2-128-128-128-2), D
2-128-128-1. Adam 3e-4, b1 0.5, batch 512, non-saturating loss, 20k steps: a
short budget next to PacGAN's (larger networks, 400 epochs of batch 100).

Measured results and wall time on 2 CPU cores: docs/ablations.md, section
'2-D mixtures: `configs/ablation_mog.py`' (the non_saturating grid row), and
docs/reproductions.md, section 2, 'Why `configs/mog_grid.py` reaches only ...'
(this config to 60k steps, configs/study_grid_quality.py).
"""
import ml_collections

from configs import mog_ring


def get_config():
  config = mog_ring.get_config()  # same training set size, models, optimiser
  config.num_train_steps = 20_000
  config.sample_every_steps = 2000
  config.data.dataset = 'mog_grid'
  config.data.mog = ml_collections.ConfigDict(dict(
      num_modes=25, spacing=2.0, std=0.05))   # gan_jax/data/mixtures.py: GRID_STD
  config.model.g_hidden = (128, 128, 128)
  return config
