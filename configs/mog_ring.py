"""The 2-D ring: 8 Gaussians, std 0.02, on a circle of radius 2.

Target of Metz et al. 2016 ("Unrolled GANs", Sec. 3.1), also used by VEEGAN
(Srivastava et al. 2017) and PacGAN (Lin et al. 2018) -- they rescale it to
radius 1, std 0.01, which the metrics do not notice: mode_metrics measures in
units of the std. A fixed training set of 100,000 points (PacGAN's
num_sample); evaluation on 2,500 generator samples (PacGAN).

Models: ReLU MLPs without batch norm (models/mlp2d.py), G 2-128-128-2, D
2-128-128-1, z ~ N(0, I_2) as in PacGAN. Adam 3e-4, b1 0.5, batch 512,
non-saturating loss, 10k steps.

Measured results and wall time on 2 CPU cores: docs/ablations.md, section
'2-D mixtures: `configs/ablation_mog.py`' (the non_saturating ring row).
"""
import ml_collections

from gan_jax.config import defaults


def get_config():
  config = defaults.get_config()
  config.batch_size = 512
  config.num_train_steps = 10_000
  config.log_every_steps = 500
  config.sample_every_steps = 1000
  config.checkpoint_every_steps = 5000

  config.data.dataset = 'mog_ring'
  config.data.seed = config.get_ref('seed')   # the training set follows --config.seed
  config.data.num_examples = 100_000
  config.data.mog = ml_collections.ConfigDict(dict(
      num_modes=8, radius=2.0, std=0.02))     # gan_jax/data/mixtures.py: RING_STD

  config.model.generator = 'mlp2d'
  config.model.discriminator = 'mlp2d'
  config.model.latent_dim = 2
  config.model.g_hidden = (128, 128)
  config.model.d_hidden = (128, 128)

  config.optimizer_g = defaults.optimizer(3e-4, b1=0.5)
  config.optimizer_d = defaults.optimizer(3e-4, b1=0.5)
  return config
