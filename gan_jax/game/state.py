"""GANState (everything that changes in training) and GAN (what is static).

The state is one PyTree: it checkpoints and replicates as a whole. The modules,
optimisers and objective that interpret it are rebuilt from the config.
"""
from typing import Any, Optional, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import models
from gan_jax.game import losses
from gan_jax.game import optimizers
from gan_jax.game import packing
from gan_jax.game import penalties
from gan_jax.errors import ConfigError
from gan_jax.models import layers, maxout_mlp

PyTree = Any
AXIS = 'batch'  # the pmap axis over devices


class GANState(flax.struct.PyTreeNode):
  """Everything that changes during training, as one PyTree.

  It checkpoints and replicates as one tree; the modules and optimisers that
  interpret it are static and rebuilt from the config (`GAN`).
  """
  step: jax.Array               # int32 [], training steps made
  g_params: PyTree
  g_batch_stats: PyTree
  d_params: PyTree
  d_batch_stats: PyTree
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  ema_g_params: PyTree          # == g_params when config.ema_decay == 0
  rng: jax.Array                # base key; folded with the step in each step


@flax.struct.dataclass
class GAN:
  """The static half of training: modules, optimisers, objective."""
  generator: nn.Module = flax.struct.field(pytree_node=False)
  discriminator: nn.Module = flax.struct.field(pytree_node=False)
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  objective: losses.Objective = flax.struct.field(pytree_node=False)
  penalty: str = flax.struct.field(pytree_node=False)
  image_shape: Tuple[int, int, int] = flax.struct.field(pytree_node=False)
  # PacGAN packing degree (packing.py): D's input is `pack` examples.
  pack: int = flax.struct.field(pytree_node=False, default=1)
  # Classes G and D are conditioned on (config.model.num_classes); 0 = none.
  num_classes: int = flax.struct.field(pytree_node=False, default=0)
  # D has ACGAN's auxiliary classifier (config.model.d_conditioning 'acgan').
  auxiliary_classifier: bool = flax.struct.field(pytree_node=False, default=False)

  def label_kwargs(self, labels) -> dict:
    """The keyword arguments that pass `labels` to G's or D's apply: none for
    an unconditional GAN, whose modules take no labels."""
    if not self.num_classes:
      return {}
    if labels is None:
      raise ValueError('a class-conditional GAN needs labels')
    return {'labels': labels}

  @property
  def d_input_shape(self) -> Tuple[int, ...]:
    """One D input: an example, with `pack` times its channels/features."""
    return packing.packed_shape(self.image_shape, self.pack)


def penalty_name(loss_config: ml_collections.ConfigDict) -> str:
  """The penalty a run uses: loss.penalty, or its objective's own when ''.

  Raises ConfigError for an unknown objective or penalty name."""
  penalty = loss_config.penalty or losses.get_objective(loss_config.name).penalty
  if penalty != 'none' and penalty not in penalties.PENALTIES:
    raise ConfigError(f"unknown config.loss.penalty '{penalty}'; valid names: "
                      f"none, {', '.join(sorted(penalties.PENALTIES))}")
  return penalty


def build_gan(config: ml_collections.ConfigDict, image_shape,
              axis_name=AXIS) -> GAN:
  """Modules, optimisers and objective named by the config."""
  # One-sided label smoothing is a parameter of the objective (losses.py).
  objective = losses.get_objective(config.loss.name,
                                   config.loss.real_label)
  penalty = penalty_name(config.loss)
  weight_clip = config.loss.weight_clip
  if weight_clip is None:
    weight_clip = objective.weight_clip
  generator, discriminator = models.build(config.model, image_shape, axis_name)
  return GAN(generator=generator, discriminator=discriminator,
             g_tx=optimizers.create(config.optimizer_g),
             d_tx=optimizers.create(config.optimizer_d, weight_clip),
             objective=objective, penalty=penalty,
             image_shape=tuple(image_shape),
             pack=int(config.model.pack),
             num_classes=models.num_classes(config.model),
             auxiliary_classifier=bool(models.num_classes(config.model)) and
             config.model.d_conditioning == 'acgan')


def create_state(config: ml_collections.ConfigDict, gan: GAN,
                 images: Optional[np.ndarray] = None) -> GANState:
  """Initial (unreplicated) state from config.seed. With
  config.model.g_output_bias 'data_marginals', G's output bias is set from
  `images` (uint8 [N, H, W, C], the training set); without them it stays 0,
  which only a template for restoring or a speed benchmark may use.

  Raises ConfigError when G's samples do not have the data's shape.
  """
  z = jnp.zeros((1, config.model.latent_dim), jnp.float32)
  x = jnp.zeros((1,) + gan.d_input_shape, jnp.float32)
  y = gan.label_kwargs(jnp.zeros((1,), jnp.int32)) if gan.num_classes else {}

  def init(rng):
    rng, g_key, d_key = jax.random.split(rng, 3)
    # Initialised in inference mode: training-mode batch norm would need the
    # pmap axis.
    g_vars = gan.generator.init(g_key, z, train=False, **y)
    d_vars = gan.discriminator.init(d_key, x, train=False, **y)
    if config.model.init == 'orthogonal':
      g_vars = dict(g_vars, params=layers.orthogonal_init(
          g_vars['params'], jax.random.fold_in(g_key, 1)))
      d_vars = dict(d_vars, params=layers.orthogonal_init(
          d_vars['params'], jax.random.fold_in(d_key, 1)))
    return GANState(
        step=jnp.zeros((), jnp.int32),
        # Networks without batch norm have no 'batch_stats' collection.
        g_params=g_vars['params'], g_batch_stats=g_vars.get('batch_stats', {}),
        d_params=d_vars['params'], d_batch_stats=d_vars.get('batch_stats', {}),
        g_opt_state=gan.g_tx.init(g_vars['params']),
        d_opt_state=gan.d_tx.init(d_vars['params']),
        ema_g_params=g_vars['params'], rng=rng)

  def generated_shape(rng):
    g_vars = gan.generator.init(rng, z, train=False, **y)
    return gan.generator.apply(g_vars, z, train=False, **y)

  rng = jax.random.PRNGKey(config.seed)
  # G's output shape before D is built for the data's: a D fed another
  # shape would fail inside flax with a reshape error instead.
  generated = jax.eval_shape(generated_shape, rng)
  if generated.shape[1:] != gan.image_shape:
    raise ConfigError(
        f"config.model.generator '{config.model.generator}' makes images of "
        f'shape {generated.shape[1:]} but the data are {gan.image_shape}; set '
        f'--config.data.image_size{_size_hint(generated.shape[1:])} or pick a matching '
        'model')
  # One compiled program: initialised op by op, the networks' hundreds of
  # small ops each compile on first use (~10 s of a run's start, measured).
  state = jax.jit(init)(rng)
  if models.g_init_reads_data(config.model) and images is not None:
    g_params = maxout_mlp.with_output_bias(
        state.g_params, maxout_mlp.output_bias_from_marginals(images))
    state = state.replace(g_params=g_params, ema_g_params=g_params,
                          g_opt_state=gan.g_tx.init(g_params))
  return state


def _size_hint(shape) -> str:
  # Square images: the size the data would be resized to.
  return f'={shape[0]}' if len(shape) == 3 and shape[0] == shape[1] else ''


def param_count(params: PyTree) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
