"""gan_jax's recipe for the MNIST Parzen table (Goodfellow et al. 2014,
Table 1: adversarial nets 225 +- 2 nats): the paper's setup, trained longer,
scored through a long moving average of G.

  python launch/sweep.py --config=configs/study_parzen_recipe.py   # seeds 0-2
  python -m gan_jax.main --config=configs/study_parzen_recipe.py --config.seed=1 \
    --workdir=runs/sweeps/study_parzen_recipe/seed=1                # one seed
  python -m gan_jax.report --sweep_dir=runs/sweeps/study_parzen_recipe \
    --metrics=parzen,parzen_stderr,parzen_sigma,parzen_validation
  python -m gan_jax.report --sweep_dir=runs/sweeps/study_parzen_recipe \
    --eval_reports=params=raw --metrics=parzen,parzen_validation   # raw G

This is configs/repro_parzen.py (the paper's nets, data, SGD schedule and
Parzen protocol, G's output bias starting at 0) with:
  * an exponential moving average of G's parameters with decay 0.9999, a
    horizon of about 10,000 updates (20 epochs), where repro_parzen.py keeps
    0.999. The loop scores the average, ranks checkpoints by its validation
    log-likelihood, and scores raw G beside it (eval.also_params). The
    average never touches training: raw G's trajectory is repro_parzen.py's;
  * 1,000 epochs (500,000 updates) by default; the momentum ramp stays 250
    epochs and the learning rate keeps decaying past it, as in the paper's
    code.
Scoring an average of the iterates departs from the paper's protocol (raw G
at a checkpoint), so the loop records both.

The argument, optional, is 'marginals', a budget in epochs, or both
(':marginals,600'):
  * 'marginals' starts G's output bias at the logit of each pixel's training
    mean (model.g_output_bias='data_marginals'), as the paper's code does
    (sweep directory study_parzen_recipe_marginals); the default starts it
    at zero. Both measured, and why the default is zero:
    docs/reproductions.md, 'A longer average of G: gan_jax's Parzen recipe'
    and 'The recipe from a zero bias';
  * a whole number of epochs of 500 updates scales the budget as in
    repro_parzen.py.

Measured results over seeds 0-2: docs/reproductions.md, 'The recipe over
three seeds'.
"""
from configs import repro_parzen
from gan_jax.experiments import sweep_plan

EPOCHS = 1000


def _recipe(argument: str):
  """argument -> (g_output_bias, epochs as a string)."""
  parts = [p for p in argument.split(',') if p]
  budgets = [p for p in parts if sweep_plan.whole_number(p) is not None]
  variants = [p for p in parts if p == 'marginals']
  # Each at most once: ':100,200' names two budgets, and neither is the one.
  if len(budgets) + len(variants) != len(parts) or len(budgets) > 1 or len(variants) > 1:
    raise ValueError(f"study_parzen_recipe takes 'marginals', a whole number of "
                     f"epochs, or both (':marginals,600'), not {argument!r}")
  return ('data_marginals' if variants else 'zeros'), (budgets[0] if budgets else str(EPOCHS))


def get_config(argument: str = ''):
  bias, epochs = _recipe(argument)
  config = repro_parzen.get_config(epochs)
  config.model.g_output_bias = bias
  config.ema_decay = 0.9999
  config.eval.params = 'ema'
  config.eval.also_params = 'raw'
  return config


def sweep(argument: str = ''):
  get_config(argument)  # a bad argument fails before any run starts
  return sweep_plan.product(seed=(0, 1, 2))
