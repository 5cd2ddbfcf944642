"""A trained run's generator back from its workdir: the saved config, the
state at a checkpoint (best, latest, a step, or init), and which of G's
parameters to sample (EMA or raw). `gan_jax.evaluate`, `gan_jax.generate`
and the training loop's evaluations all restore through here."""
import json
import os
from typing import Optional, Tuple

import ml_collections

from gan_jax import models
from gan_jax.config import keys as config_keys
from gan_jax.workdir import checkpoints
from gan_jax.errors import GanJaxError
from gan_jax.game.state import GAN, GANState, build_gan, create_state
from gan_jax.data import datasets
from gan_jax.evaluation import protocol as protocol_lib


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise GanJaxError(f'{workdir} is not a gan_jax run directory (no '
                      'config.json); pass the --workdir of a training run')
  try:
    with open(path) as f:
      return ml_collections.ConfigDict(config_keys.complete(json.load(f)))
  except ValueError as e:
    raise GanJaxError(f'{path} is unreadable ({e}); it is the run\'s config, '
                      'written by gan_jax.main: restore it') from None


def restore_run(workdir: str, config: ml_collections.ConfigDict,
                checkpoint: str) -> Tuple[GAN, GANState, Optional[int]]:
  """(gan, state, step) of the run in `workdir` of config `config`, at
  `checkpoint`: best (by the run's best metric), latest, a step, or init
  (the untrained state, step None). The modules are unbound from the pmap
  axis (batch norm by batch statistics normalises the batch it is given).
  Raises GanJaxError for a missing or unreadable checkpoint or a bad name."""
  # The example shape from the prepared set's metadata, not its examples.
  shape = datasets.example_shape(config.data, datasets.stored_shape(config.data))
  gan = build_gan(config, shape, axis_name=None)
  if checkpoint == 'init':
    # The untrained G as training starts it, data-dependent init included.
    images = datasets.load(config.data) if models.g_init_reads_data(config.model) else None
    return gan, create_state(config, gan, images), None
  state = create_state(config, gan)  # a template: shapes and dtypes
  manager = checkpoints.open_for_reading(workdir, *protocol_lib.best_metric(config))
  state, step = checkpoints.restore(
      manager, checkpoint, state, *protocol_lib.best_metric(config))
  return gan, state, step


def check_checkpoint_name(checkpoint: str, names=('best', 'latest', 'init')) -> None:
  """Raises GanJaxError unless `checkpoint` is one of `names` or a step,
  naming them all (before anything is read)."""
  if checkpoint not in names and not checkpoint.isdecimal():
    raise GanJaxError(f"--checkpoint must be {', '.join(names[:-1])} or {names[-1]}, or a "
                      f"step, got '{checkpoint}'")


def generator_params(state: GANState, params: str):
  """G's parameters of `state`: 'ema' (their moving average) or 'raw'."""
  if params not in protocol_lib.GENERATOR_PARAMS:
    raise GanJaxError(f"--params must be ema or raw, got '{params}'")
  return state.ema_g_params if params == 'ema' else state.g_params
