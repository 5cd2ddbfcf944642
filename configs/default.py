"""Defaults shared by every experiment; each config file edits a copy."""
import ml_collections
from ml_collections import config_dict


def optimizer(learning_rate: float, b1: float = 0.9, b2: float = 0.999,
              name: str = 'adam') -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      name=name, learning_rate=learning_rate, b1=b1, b2=b2, eps=1e-8))


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.batch_size = 256            # global: over all devices and processes
  config.num_train_steps = 5000      # generator moves
  config.n_critic = 1                # discriminator moves per generator move
  config.ema_decay = 0.0             # EMA of G's params; 0 = off

  config.log_every_steps = 100
  config.checkpoint_every_steps = 1000
  config.sample_every_steps = 500
  config.keep_checkpoints = 3        # the last few; the best one is kept apart
  # Which logged quantity picks the "best" checkpoint. Until a sample-quality
  # metric exists this is the reference code's proxy, the lowest D loss
  # (averaged over the logging interval).
  config.best_metric = 'loss_d'
  config.best_mode = 'min'

  config.num_devices = 0             # local devices to use; 0 = all
  config.distributed = False         # call jax.distributed.initialize()

  config.data = ml_collections.ConfigDict()
  config.data.dataset = 'mnist'      # any TFDS image dataset with an 'image' feature
  config.data.split = 'train'
  # None: $TFDS_DATA_DIR, else TFDS's default (~/tensorflow_datasets).
  config.data.data_dir = config_dict.placeholder(str)
  config.data.download = True        # let TFDS download when not prepared
  config.data.image_size = 0         # resize to this square size; 0 = native

  config.model = ml_collections.ConfigDict()
  config.model.generator = 'dcgan28'
  config.model.discriminator = 'dcgan28'
  config.model.latent_dim = 100
  config.model.dropout_rate = 0.3    # D dropout, where the family has one
  config.model.conv_impl = 'auto'    # 'auto' (fast on CPU) | 'xla' | 'fast' | 'subpixel'

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'non_saturating'
  config.loss.penalty = ''           # '' = the objective's own (wgan_gp), or
                                     # none | wgan_gp | zero_centered | r1 | r2
  config.loss.penalty_weight = 10.0
  config.loss.weight_clip = config_dict.placeholder(float)  # None = objective's

  config.optimizer_g = optimizer(1e-4)
  config.optimizer_d = optimizer(1e-4)
  return config
