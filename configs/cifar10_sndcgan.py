"""SN-DCGAN on CIFAR-10: the "standard CNN" of Miyato et al. 2018 (Table 3)
with spectral normalisation in D, by the recipe of its official code
(pfnet-research/chainer-gan-lib `example.sh`: `--algorithm stdgan
--architecture sndcgan --n_dis 1 --adam_beta1 0.5 --adam_beta2 0.999`;
the paper's Table 1 setting C).

G and D of gan_jax/models/standard_cnn.py (G 3,828,739 and D 5,860,865
trainable parameters; the module says where the code and Table 3
differ). The non-saturating loss (the paper's Eq. 15), one D move per step,
Adam 2e-4 with beta=(0.5, 0.999) for both players, no decay, batch 64,
100,000 G steps, z of 128 uniform on [-1, 1] (the code's; the paper says
N(0, I)). The code moves G before D in each iteration; gan_jax moves D
first (the same alternation, shifted by half a step).

Evaluations as configs/cifar10_sngan.py: FID, KID and IS on the FID
Inception every 10,000 steps on 10,000 samples against the training split.
"""
from configs import cifar10_sngan
from gan_jax.config import defaults


def get_config():
  config = cifar10_sngan.get_config()
  config.model.generator = config.model.discriminator = 'standard_cnn'
  config.model.latent_dim = 128
  config.model.latent_distribution = 'uniform'
  config.model.spectral_norm = True
  config.loss.name = 'non_saturating'
  config.n_critic = 1
  config.g_batch_size = 0   # G's batch is D's (64)
  for name in ('optimizer_g', 'optimizer_d'):
    config[name] = defaults.optimizer(2e-4, b1=0.5, b2=0.999)
  return config
