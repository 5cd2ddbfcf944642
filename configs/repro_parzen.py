"""Reproduction of Goodfellow et al. 2014, Table 1: the MNIST Parzen-window
log-likelihood of adversarial nets, 225 +- 2 nats.

  python launch/sweep.py --config=configs/repro_parzen.py --parallel=2
  python -m gan_jax.report --sweep_dir=runs/sweeps/repro_parzen \
    --metrics=parzen,parzen_stderr,parzen_sigma

The argument, optional, is a budget in epochs of 500 updates:
`configs/repro_parzen.py:100` trains 100 epochs (sweep directory
runs/sweeps/repro_parzen_100). Samples, evaluations and checkpoints come
every 10 epochs (every epoch below 10); the momentum ramp stays 250 epochs
whatever the budget.

As in the paper's code (goodfeli/adversarial, mnist.yaml and parzen_ll.py;
models/maxout_mlp.py; docs/reproductions.md):
  * data: MNIST train[:50000] (the last 10,000 training images select the
    Parzen bandwidth, the 10,000 test images are scored);
  * G 100-1200-1200-784 ReLU/sigmoid, z ~ U(-sqrt 3, sqrt 3) (its output
    bias starts at 0, not at the data's marginals: see below); D two maxout
    layers of 240 units x 5 pieces with dropout (keep 0.8 on the pixels, 0.5
    after), a sigmoid unit, on pixels in [0, 1];
  * the non-saturating loss (D's objective half the BCE: D's learning rate
    is halved instead), one simultaneous move of each player per
    minibatch of 100 (pylearn2's SGD over the sum of the two costs);
  * SGD, learning rate 0.1 decayed by 1/1.000004 per update down to 1e-6,
    momentum 0.5 rising linearly to 0.7 over 250 epochs (125,000 updates);
  * Parzen: 10,000 samples, bandwidth from logspace(-1, 0, 10) by validation
    log-likelihood, mean test log-likelihood in nats +- its standard error.
The reference code has no stopping rule (it trains until killed) and no
best-model selection, and the paper does not say which epoch it scored. The
one length its code names is the momentum ramp's, 250 epochs, so that is the
default budget (125,000 updates); the best checkpoint is the one whose
samples give the validation images the highest Parzen log-likelihood
(`parzen_validation`), never the test score.

Not in the paper: an exponential moving average of G (decay 0.999) is kept
in every checkpoint. The paper's protocol scores raw G, and so does the
loop (its best checkpoint is raw G's); at each evaluation it also scores the
average on the same latents, into eval/<step>,params=ema.json
(`gan_jax.report --eval_reports=params=ema` tabulates those).

Measured results: docs/reproductions.md, section '4. Goodfellow et al. 2014,
Table 1: MNIST Parzen log-likelihood'.
"""
from gan_jax.config import defaults
from gan_jax.experiments import sweep_plan

STEPS_PER_EPOCH = 500   # 50,000 images / 100
EPOCHS = 250            # the momentum ramp's length, the one the code names


def _epochs(argument: str) -> int:
  epochs = sweep_plan.whole_number(argument)
  if epochs is None:
    raise ValueError(f"bad argument '{argument}'; use configs/repro_parzen.py:EPOCHS, "
                     'a whole number of epochs (500 updates each), e.g. :100')
  return epochs


def get_config(argument: str = str(EPOCHS)):
  epochs = _epochs(argument)
  config = defaults.get_config()
  config.data.dataset = 'mnist'
  config.data.split = 'train[:50000]'
  config.batch_size = 100
  config.num_train_steps = epochs * STEPS_PER_EPOCH
  config.update_order = 'simultaneous'
  config.log_every_steps = 1000
  every = 10 * STEPS_PER_EPOCH if epochs >= 10 else STEPS_PER_EPOCH
  config.sample_every_steps = config.checkpoint_every_steps = config.eval_every_steps = every

  config.model.generator = config.model.discriminator = 'maxout_mlp'
  config.model.latent_dim = 100
  config.model.latent_distribution = 'uniform'
  # The paper's code starts G's output bias at the data's marginals
  # ('data_marginals'); this config starts it at zero. Why, with runs of
  # both: docs/reproductions.md, section '4. Goodfellow et al. 2014, Table 1:
  # MNIST Parzen log-likelihood'.
  config.model.g_output_bias = 'zeros'
  config.loss.name = 'non_saturating'
  sgd = dict(name='sgd', b1=0.5, schedule='exponential', decay_rate=1 / 1.000004,
             end_learning_rate=1e-6, b1_final=0.7, b1_ramp_steps=250 * STEPS_PER_EPOCH)
  config.optimizer_g = defaults.optimizer(0.1, **sgd)
  # The paper's D objective is half of gan_jax's BCE (0.5 in AdversaryCost2):
  # halving the learning rate is the same SGD update.
  config.optimizer_d = defaults.optimizer(0.05, **sgd)

  config.eval.metrics = 'parzen'
  config.eval.num_samples = 10_000
  # An EMA of G's iterates (Yazici et al. 2019) rides along; it never touches
  # training. The loop scores raw G, as the paper did, and the average beside
  # it (also_params); both measured: docs/reproductions.md, 'An EMA of G on
  # the same run'.
  config.ema_decay = 0.999
  config.eval.params = 'raw'
  config.eval.also_params = 'ema'
  config.best_metric = 'parzen_validation'
  config.best_mode = 'max'
  return config


def sweep(argument: str = str(EPOCHS)):
  _epochs(argument)
  return sweep_plan.product(seed=(0, 1, 2))
