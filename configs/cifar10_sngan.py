"""SNGAN on CIFAR-10 (Miyato et al. 2018, Table 2 "SN-GANs" ResNet, hinge
loss; the recipe of the official Chainer code and of torch_mimicry's CIFAR-10
SNGAN).

G: ResNet, z=128 -> 4x4x256 -> 3 up-blocks -> 32x32x3; D: ResNet with
spectral normalisation, global sum pooling (gan_jax/models/resnet.py; G
4,276,739 and D 1,053,825 trainable parameters). Hinge loss, n_critic 5,
Adam 2e-4 with beta=(0, 0.9) for both players, each learning rate decayed
linearly to 0 over the run, D's batch 64 and G's 128 (the official code;
Mimicry trains G on 64), 100,000 G steps. `--config.ema_decay=0.9999` adds
an EMA of G (evaluations then score it).

Evaluations: FID, KID and IS on the FID Inception (pytorch-fid's weights)
every 10,000 steps on 10,000 samples against the training split; the papers'
50,000-sample numbers come from `gan_jax.evaluate --num_samples=50000`.
"""
from gan_jax.config import defaults

NUM_STEPS = 100_000
N_CRITIC = 5


def get_config():
  config = defaults.get_config()
  config.data.dataset = 'cifar10'
  config.model.generator = config.model.discriminator = 'resnet'
  config.model.latent_dim = 128
  config.model.spectral_norm = True
  config.model.g_width_ratio = config.model.d_width_ratio = 1.0
  config.loss.name = 'hinge'
  config.n_critic = N_CRITIC
  config.batch_size = 64
  config.g_batch_size = 128
  config.num_train_steps = NUM_STEPS
  for name, updates in (('optimizer_g', NUM_STEPS), ('optimizer_d', NUM_STEPS * N_CRITIC)):
    config[name] = defaults.optimizer(2e-4, b1=0.0, b2=0.9, schedule='linear',
                                      decay_steps=updates, end_learning_rate=0.0)
  config.log_every_steps = 500
  config.sample_every_steps = 5_000
  config.checkpoint_every_steps = 5_000
  config.eval_every_steps = 10_000
  config.eval.num_samples = 10_000
  return config
