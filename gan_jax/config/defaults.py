"""Every config key and its default, in one place: each file in configs/
edits a copy (`config = defaults.get_config()`), and a run's saved config is
completed from here when it is read back (`config.keys.complete`).

A key's default is also what a run saved before the key existed computed
with, so a default never changes: new behaviour is a new value a config
sets. Ranges and names are checked in gan_jax/config/validation.py.
"""
import ml_collections
from ml_collections import config_dict


def optimizer(learning_rate: float, b1: float = 0.9, b2: float = 0.999,
              name: str = 'adam', **schedule) -> ml_collections.ConfigDict:
  """An optimiser's config (gan_jax/game/optimizers.py). `schedule` overrides the
  constant learning rate and momentum: schedule ('constant', 'exponential',
  'cosine', 'linear'), decay_rate (exponential, per update), decay_steps
  (cosine and linear: the updates over which it decays),
  end_learning_rate (the floor / final value), b1_final and b1_ramp_steps
  (SGD momentum ramped linearly from b1 to b1_final, unset = b1; 0 steps =
  constant)."""
  config = ml_collections.ConfigDict(dict(
      name=name, learning_rate=learning_rate, b1=b1, b2=b2, eps=1e-8,
      schedule='constant', decay_rate=1.0, decay_steps=1, end_learning_rate=0.0,
      b1_final=config_dict.placeholder(float), b1_ramp_steps=0))
  config.update(schedule)
  return config


def get_config() -> ml_collections.ConfigDict:
  """Every key of a training config with its default: one list, long on
  purpose, so that a key's default is found in one place (family configs in
  configs/ edit it; config.keys.complete fills saved configs from it)."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.batch_size = 256            # global: over all devices and processes
  # Fakes per generator move (global); 0 = batch_size. SNGAN's official code
  # trains G on 128 fakes against D's batch of 64 (the ResNet recipes).
  config.g_batch_size = 0
  config.num_train_steps = 5000      # steps: n_critic D moves, n_generator G moves
  config.n_critic = 1                # discriminator moves per step
  config.n_generator = 1             # generator moves per step (PacGAN's VEEGAN setup: 2)
  # 'alternating': D's moves, then G's against the new D (Goodfellow et al.
  # 2014, Alg. 1); 'simultaneous': both from the same state (needs n_critic 1).
  config.update_order = 'alternating'
  # Simultaneous only: G's move scores D's fake batch (same z, same dropout
  # masks) instead of drawing its own, as the 2014 GAN's and PacGAN's code do.
  config.shared_fake_batch = False
  config.ema_decay = 0.0             # EMA of G's params; 0 = off
  # The EMA's decay at step t is min(ema_decay, (1 + t) / (10 + t)): TF's
  # num_updates warm-up, so a short run's EMA does not hold G's initial
  # weights (train_step.ema_decay_at).
  config.ema_warmup = False
  # Steps before the EMA starts: until then it equals G (StudioGAN's
  # ema_start, e.g. 1000 for BigGAN); 0 = from the first step.
  config.ema_start_step = 0

  # Intervals in steps. 0: log and checkpoint at the last step only
  # (a checkpoint also on SIGTERM); no samples, no evaluations.
  config.log_every_steps = 100
  config.checkpoint_every_steps = 1000
  config.sample_every_steps = 500
  config.keep_checkpoints = 3        # the last few; the best one is kept apart
  config.eval_every_steps = 1000     # sample-quality evaluation; 0 = off

  # Which quantity picks the "best" checkpoint: 'auto' is the data set's
  # quality metric (FID; modes for Stacked MNIST and the 2-D mixtures) when
  # training evaluates, else the reference code's proxy, the lowest D loss.
  # Any logged key works, with best_mode 'min' or 'max'.
  config.best_metric = 'auto'
  config.best_mode = 'min'           # used with an explicit best_metric

  config.eval = ml_collections.ConfigDict()
  # 'auto' (FID, KID, IS for images; modes for Stacked MNIST / mixtures),
  # 'all', 'none', or a list: fid,kid,is,pr,dc,parzen | modes.
  config.eval.metrics = 'auto'
  config.eval.num_samples = 0        # 0 = the protocol's (10k; 26k stacked; 2.5k MoG)
  config.eval.params = 'ema'         # 'ema' or 'raw' generator params
  # '' or the other of 'ema'/'raw': that G is scored too, on the same latents,
  # into eval/<step>,params=<it>.json (the report gan_jax.evaluate writes;
  # `gan_jax.report --eval_reports=params=<it>` tabulates it). Never picks
  # the best checkpoint.
  config.eval.also_params = ''
  # How G's batch norm runs for samples and evaluation: 'batch' normalises
  # each sampled batch by its own statistics (as PyTorch's DCGAN, which never
  # calls netG.eval()); 'running' uses the running averages (Keras's
  # training=False). The averages lag a generator whose pre-norm activations
  # drift: the MNIST DCGAN's were a whole std off at step 1000 (measured),
  # and its 'running' samples nearly blank.
  config.eval.bn_stats = 'batch'
  # The feature network of FID/KID/IS and the Stacked-MNIST modes: 'shipped'
  # (the weights shipped with gan_jax: the same evaluator id everywhere, no
  # training) or 'trained' (trained on this machine and cached in
  # classifier_dir; None: $GAN_JAX_CACHE or ~/.cache/gan_jax).
  config.eval.classifier = 'shipped'
  config.eval.classifier_dir = config_dict.placeholder(str)
  # The network whose features FID, KID, IS, precision/recall read: 'auto'
  # (the classifier for MNIST and Fashion-MNIST, the FID Inception for every
  # other image set), 'classifier' or 'inception' (docs/evaluation.md).
  config.eval.feature_network = 'auto'
  # The FID Inception's weights: pytorch-fid's .pth or its converted
  # .msgpack; None: the cache ($GAN_JAX_CACHE or ~/.cache/gan_jax/inception),
  # downloaded there on first use where the machine is online.
  config.eval.inception_weights = config_dict.placeholder(str)
  # The real split FID & co. compare with: 'auto' (the Inception protocol's
  # 'train', the classifiers' 'test') or a TFDS split name.
  config.eval.reference_split = 'auto'
  # A pytorch-fid/TTUR statistics file (.npz with mu, sigma) FID compares
  # with instead of the reference split's, e.g. the published
  # fid_stats_cifar10_train.npz; '' computes (and caches) them.
  config.eval.reference_statistics = ''

  # On a non-finite loss, gradient or parameter: 'stop' (one-line error; the
  # checkpoints stay as they were) or 'rollback' to the latest checkpoint with
  # fresh noise, at most max_rollbacks times.
  config.nonfinite = 'stop'
  config.max_rollbacks = 3
  # Refuse a workdir that holds a run of a different config unless True, in
  # which case that run is moved aside to <workdir>.replaced-<time>.
  config.overwrite = False

  config.num_devices = 0             # local devices to use; 0 = all
  # Generator moves per dispatch from the host, run by lax.scan on the
  # device. Pays for small models (MLP GAN: +10% on CPU); the intervals
  # above must be multiples of it. On CPU keep convolutional models at 1:
  # XLA:CPU runs convolution gradients inside a loop ~20x slower.
  config.steps_per_dispatch = 1
  # On CPU, leave only matrix multiplies to YNNPACK, convolutions to XLA's
  # own kernels (1.2-1.3x faster DCGAN steps, gan_jax/training/xla_cpu.py); no effect
  # on GPU/TPU. False: XLA's defaults.
  config.xla_cpu_tuning = True
  config.distributed = False         # call jax.distributed.initialize()

  config.data = ml_collections.ConfigDict()
  config.data.dataset = 'mnist'      # any TFDS image dataset with an 'image' feature
  config.data.split = 'train'
  # None: $TFDS_DATA_DIR, else TFDS's default (~/tensorflow_datasets).
  config.data.data_dir = config_dict.placeholder(str)
  config.data.download = True        # let TFDS download when not prepared
  config.data.image_size = 0         # resize to this square size; 0 = native
  # Side of the central square kept before the resize (0: none; non-square
  # images shrunk to a square keep their largest central square). CelebA's
  # 178x218 faces: 178, the PyTorch DCGAN tutorial's Resize + CenterCrop.
  config.data.crop = 0
  # The synthetic sets (mog_ring, mog_grid, stacked_mnist) are drawn once
  # from data.seed (configs/mog_ring.py ties it to seed); num_examples 0 is
  # the papers' size (100,000 points; 128,000 Stacked-MNIST images).
  config.data.seed = 0
  config.data.num_examples = 0
  # The mixtures' geometry (gan_jax/data/mixtures.py): None is the data
  # set's own (the ring's 8 modes at radius 2, std 0.02; the grid's 25 modes
  # at spacing 2, std 0.05); a ConfigDict of some of num_modes, radius
  # (mog_ring) or spacing (mog_grid), std edits it.
  config.data.mog = None

  config.model = ml_collections.ConfigDict()
  config.model.generator = 'dcgan28'
  config.model.discriminator = 'dcgan28'
  config.model.latent_dim = 100
  config.model.latent_distribution = 'normal'   # z ~ N(0, I); 'uniform': U[-1, 1)
  # PacGAN packing (Lin et al. 2018): D judges this many samples at once,
  # concatenated along channels/features; batch_size still counts examples,
  # so it must be a multiple of pack per device. 1 = no packing.
  config.model.pack = 1
  # Class-conditional GANs: G and D see the data's labels (TFDS 'label';
  # Stacked MNIST's 1000 digit triples; the mixtures' modes). 0 = off.
  config.model.num_classes = 0
  # How G takes y: 'cbn' (per-class batch-norm gain and bias, de Vries et al.
  # 2017, as SNGAN/BigGAN) or 'concat' (one-hot y beside z, Mirza & Osindero
  # 2014). How D takes y: 'projection' (Miyato & Koyama 2018), 'concat'
  # (one-hot label maps as input channels) or 'acgan' (an auxiliary
  # classifier, Odena et al. 2017, weighted by loss.acgan_weight).
  config.model.g_conditioning = 'cbn'
  config.model.d_conditioning = 'projection'
  config.model.dropout_rate = 0.3    # D dropout, where the family has one
  config.model.spectral_norm = False  # spectral normalisation of D's layers (Miyato et al. 2018)
  # ... and of G's (SAGAN's and BigGAN's G; biggan only).
  config.model.g_spectral_norm = False
  config.model.conv_impl = 'auto'    # 'auto' (fast on CPU) | 'xla' | 'fast' | 'subpixel'
  # G's output bias at initialisation: 'zeros', or 'data_marginals': the
  # logit of each training pixel's mean, so G starts at the mean image (the
  # 2014 GAN's sigmoid output, pylearn2's init_sigmoid_bias_from_marginals;
  # maxout_mlp only).
  config.model.g_output_bias = 'zeros'
  # dcgan_unrolled: D's widths as a fraction of G's (PacGAN Table 3's 1/4
  # and 1/2). resnet, biggan: D's channels as a fraction of the reference's
  # (their configs set 1.0). g_width_ratio (below): G's widths as a multiple
  # of the reference's (dcgan_unrolled, resnet, biggan).
  config.model.d_width_ratio = 0.25
  # resnet, biggan: the feature-map side after which G and D get SAGAN's
  # self-attention block (Zhang et al. 2019; models/layers.SelfAttention),
  # e.g. 16 at 32x32; 0 = none.
  config.model.attention_resolution = 0
  # resnet only: D's pooling of its last feature map, 'sum' (SNGAN) or
  # 'mean' (WGAN-GP's ResNet).
  config.model.d_pooling = 'sum'
  # biggan only: the size of G's shared class embedding, which each block's
  # conditional batch norm reads beside its chunk of z (Brock et al. 2019).
  config.model.g_shared_dim = 128
  # The players' initial kernels and embeddings: 'default' (each family's
  # reference code's) or 'orthogonal' (BigGAN's, any family).
  config.model.init = 'default'
  config.model.g_width_ratio = 1.0
  # mlp2d only (the 2-D mixtures' MLPs, gan_jax/models/mlp2d.py): hidden
  # widths, batch norm in G and its running-average momentum and epsilon,
  # LinearMaxout D layers of this many pieces (0 = ReLU layers, PacGAN's
  # nets: 5), and N(0, init_std^2) weights (0 = LeCun normal).
  config.model.g_hidden = (128, 128)
  config.model.d_hidden = (128, 128)
  config.model.g_batch_norm = False
  config.model.bn_momentum = 0.9
  config.model.bn_epsilon = 1e-5
  config.model.d_maxout_pieces = 0
  config.model.init_std = 0.0
  # Dtype of the layers' arithmetic: 'float32' or 'bfloat16' (mixed
  # precision: parameters, optimiser state, losses and batch-norm statistics
  # stay float32). bfloat16 is the norm on GPU/TPU; on CPU it does not pay
  # (docs/benchmarks.md).
  config.model.compute_dtype = 'float32'

  config.loss = ml_collections.ConfigDict()
  config.loss.name = 'non_saturating'
  config.loss.penalty = ''           # '' = the objective's own (wgan_gp), or
                                     # none | wgan_gp | zero_centered | r1 | r2 | dragan
  config.loss.penalty_weight = 10.0
  config.loss.acgan_weight = 1.0     # of ACGAN's class loss, in both players' losses
  config.loss.weight_clip = config_dict.placeholder(float)  # None = objective's
  # One-sided label smoothing (Salimans et al. 2016, Sec. 3.4): D's target on
  # real examples (e.g. 0.9); fakes keep 0, G's loss is unchanged. Only for
  # minimax, non_saturating, fgan_gan[_saturating], least_squares.
  config.loss.real_label = 1.0

  # What D sees (gan_jax/game/augment.py), on every real and fake batch of both
  # moves, per example before packing; penalties act on these inputs too.
  # DiffAugment (Zhao et al. 2020): a comma list of 'translation', 'cutout',
  # 'color', e.g. 'color,translation,cutout'; images only; '' = off.
  config.diffaugment = ''
  # Instance noise (Sønderby et al. 2017): N(0, std^2) added to D's inputs,
  # std decaying linearly to 0 over anneal_steps steps (0 = constant).
  config.instance_noise = ml_collections.ConfigDict()
  config.instance_noise.std = 0.0    # 0 = off
  config.instance_noise.anneal_steps = 0

  config.optimizer_g = optimizer(1e-4)
  config.optimizer_d = optimizer(1e-4)
  return config
