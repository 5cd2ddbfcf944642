"""BigGAN on CIFAR-10, class-conditional (Brock et al. 2019), with the recipe
of PyTorch-StudioGAN's `src/configs/CIFAR10/BigGAN.yaml` and its defaults
(`src/config.py`).

G and D of gan_jax/models/biggan.py (StudioGAN's `big_resnet.py` at 32x32:
z of 80 cut into 4 chunks, a shared class embedding of 128, conditional
batch norm, self-attention at 16x16 in both players, spectral
normalisation in both, a projection D; G 9,416,196 and D 2,415,170
trainable parameters), orthogonal initialisation. Hinge loss, n_critic 5,
Adam 2e-4 with beta=(0.5, 0.999) and eps 1e-6 for both players, no decay,
batch 64 for both, 100,000 G steps; an EMA of G with decay 0.9999 that
copies G for the first 1,000 steps (evaluations score it).

Where this recipe differs from StudioGAN's run:
  - StudioGAN flips the real images horizontally at random; here they are
    used as stored.
  - StudioGAN draws the fakes' classes uniformly; here each move's fakes
    are generated for a real batch's classes (a D move's own, the G move
    the last D move's).
  - StudioGAN's G updates its batch norms' running statistics in its G
    moves only and its EMA also averages them and the spectral-norm
    vectors; here the running statistics move in every move and the EMA
    averages the parameters. Training normalises by batch statistics
    either way.
  - StudioGAN samples for its scores with the running statistics (its
    README's CIFAR-10 command: "standing statistics", re-estimated from G's
    own batches); here with each chunk of 1,000 samples' batch statistics
    (config.eval.bn_stats='batch').

Evaluations as configs/cifar10_sngan.py (FID, KID and IS on the FID
Inception every 10,000 steps on 10,000 samples against the training
split), plus intra-FID, the class-conditional runs' mean per-class FID.
"""
from configs import cifar10_sngan
from gan_jax.config import defaults

NUM_STEPS = 100_000


def get_config():
  config = cifar10_sngan.get_config()
  config.model.generator = config.model.discriminator = 'biggan'
  config.model.num_classes = 10
  config.model.latent_dim = 80
  config.model.g_shared_dim = 128
  config.model.spectral_norm = config.model.g_spectral_norm = True
  config.model.attention_resolution = 16
  config.model.init = 'orthogonal'
  config.g_batch_size = 0   # G's batch is D's (64)
  config.num_train_steps = NUM_STEPS
  for name in ('optimizer_g', 'optimizer_d'):
    config[name] = defaults.optimizer(2e-4, b1=0.5, b2=0.999)
    config[name].eps = 1e-6
  config.ema_decay = 0.9999
  config.ema_start_step = 1_000
  return config
