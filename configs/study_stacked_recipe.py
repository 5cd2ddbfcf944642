"""A packed DCGAN on Stacked MNIST that a CPU can train: gan_jax's recipe,
held against PacGAN's Stacked-MNIST rows (Lin et al. 2018, Tables 2-3).

  python launch/sweep.py --config=configs/study_stacked_recipe.py --parallel=2
  python -m gan_jax.report --sweep_dir=runs/sweeps/study_stacked_recipe \
    --at_step=30000 --metrics=modes_covered,kl_to_uniform
  python -m gan_jax.report --sweep_dir=runs/sweeps/study_stacked_recipe \
    --at_step=30000 --eval_reports=params=raw --metrics=modes_covered,kl_to_uniform  # raw G
  python -m gan_jax.main --config=configs/study_stacked_recipe.py    # PacDCGAN2 alone
  python launch/sweep.py --config=configs/study_stacked_recipe.py:d1 --parallel=2

The paper's own setups are 100,000 steps of a DCGAN with 4.5 M parameters
per player (VEEGAN setup) and 500,000 steps of a 288 k-parameter G against
a D with 1/4 or 1/2 of its filters (Unrolled setup); why neither is run on
2 CPU cores: docs/reproductions.md, section '3. PacGAN Tables 2 and 3:
Stacked MNIST'. This is the Unrolled setup's DCGAN
(configs/repro_stacked_mnist.py:unrolled: 3x3 convolutions, z ~ N(0, I_256),
Adam b1 0.5 b2 0.99, D 2e-4, G 1e-4) with
  * G twice as wide (model.g_width_ratio=2: 4x4x128 -> 64 -> 32 -> 16 -> 3,
    624,131 parameters against the reference's 287,875);
  * D's widths 4x G's (d_width_ratio=4: 64 -> 128 -> 256, 377,537 parameters
    at pack 2), where the paper's Table 3 uses 1/4 and 1/2;
  * minibatches of 64 packs (DCGAN's 64), 30,000 steps;
  * an exponential moving average of G (decay 0.999, warmed up), which the
    loop scores, and raw G scored beside it (eval.also_params) on the same
    25,600 latent draws.
`batch_size` counts examples: 64 x m for packing m. The sweep runs the GAN
(m = 1) and PacGAN2, seeds 0-2. Measured results and wall time on 2 CPU
cores: docs/reproductions.md, section 'gan_jax's recipe: a packed DCGAN with
a wide D'.

The argument 'd1' is the recipe with D's widths equal to G's (25,265
parameters at pack 2) and 40,000 steps (sweep directory
study_stacked_recipe_d1). Measured results: docs/reproductions.md, section
'The first recipe, D as wide as G (`:d1`)'.
"""
from configs import repro_stacked_mnist
from gan_jax.experiments import sweep_plan

PACKS_PER_BATCH = 64
# argument -> (model.d_width_ratio, num_train_steps)
RECIPES = {'': (4.0, 30_000), 'd1': (1.0, 40_000)}


def _recipe(argument: str):
  if argument not in RECIPES:
    raise ValueError(f"study_stacked_recipe takes no argument or 'd1' (the first "
                     f"recipe, D as wide as G), not {argument!r}")
  return RECIPES[argument]


def get_config(argument: str = ''):
  d_width_ratio, steps = _recipe(argument)
  config = repro_stacked_mnist.get_config('unrolled,20000')   # evaluations every 2,000 steps
  config.num_train_steps = steps
  config.model.g_width_ratio = 2.0
  config.model.d_width_ratio = d_width_ratio
  config.model.pack = 2            # the single run is PacDCGAN2; the sweep sets every run's
  config.batch_size = PACKS_PER_BATCH * config.model.pack
  config.ema_decay = 0.999
  config.ema_warmup = True
  config.eval.params = 'ema'
  config.eval.also_params = 'raw'
  return config


def sweep(argument: str = ''):
  _recipe(argument)
  packs = [{'model.pack': m, 'batch_size': PACKS_PER_BATCH * m} for m in (1, 2)]
  return sweep_plan.product({'pack': packs}, seed=(0, 1, 2))
