"""The update step that plays the GAN game, as its two named moves.

`train_step(state, images) -> (state, metrics)` makes `n_critic`
discriminator moves, each on its own real batch, then `n_generator` (usually
one) generator moves:
the alternating gradient play of Goodfellow et al. 2014, Algorithm 1
(`config.update_order='simultaneous'`: one D move and one G move from the same
state, as ALI's and PacGAN's code do). Each
move is a pure function of the state (`discriminator_move`,
`generator_move`); `make_train_step` composes them, and `dispatch` pmaps the
result over the devices with axis 'batch': gradients and metrics are
averaged with `lax.pmean`, batch norm statistics are synchronised across
devices, and per-example noise and dropout are keyed by the example's global
index -- so N devices compute what one device computes on the same global
batch.

Batch norm follows the reference models (PyTorch DCGAN / TF tutorial): D sees
the real and the fake batch in two separate training-mode calls, so each
batch is normalised by its own statistics and D's running averages are
updated by each call; G runs in training mode whenever it generates for a
move, and its running averages (used for sampling) follow those calls. The
generator move draws fresh noise, except in a simultaneous step with
`config.shared_fake_batch`, where it scores D's fake batch itself: the same
z, D's same views and dropout masks, as the 2014 GAN's code does (one
sample S feeds both objectives in goodfeli/adversarial's AdversaryCost2).

D judges every batch, real and fake, in both moves, through `d_view`
(DiffAugment and instance noise, augment.py), example by example before
packing; one-sided label smoothing is a parameter of the objective
(losses.py). With these off the step is the plain one, bit for bit.
"""
from typing import Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax.game import augment
from gan_jax.data import batching
from gan_jax.game import packing
from gan_jax.game import penalties
from gan_jax.models import layers
from gan_jax.game.state import AXIS, GAN, GANState, PyTree

Metrics = Dict[str, jax.Array]


def generate(gan: GAN, g_params: PyTree, g_batch_stats: PyTree,
             z: jax.Array, labels: Optional[jax.Array] = None
             ) -> Tuple[jax.Array, PyTree]:
  """G(z[, labels]) in training mode: (samples [B, *example_shape], new batch
  stats). `labels` int32 [B] for class-conditional runs, else None."""
  samples, updates = gan.generator.apply(
      {'params': g_params, 'batch_stats': g_batch_stats}, z, train=True,
      mutable=['batch_stats'], **gan.label_kwargs(labels))
  return samples, updates['batch_stats']


def discriminate(gan: GAN, d_params: PyTree, d_batch_stats: PyTree,
                 x: jax.Array, key: jax.Array, labels: Optional[jax.Array] = None
                 ) -> Tuple[jax.Array, Optional[jax.Array], PyTree]:
  """D(x[, labels]) in training mode on D inputs x [P, *gan.d_input_shape]
  (packs of `gan.pack` examples, packing.pack): (logits float32 [P], ACGAN's
  class logits float32 [P, num_classes] or None, new batch stats); `key`
  drives dropout."""
  out, updates = gan.discriminator.apply(
      {'params': d_params, 'batch_stats': d_batch_stats}, x, train=True,
      rngs={'dropout': key}, mutable=['batch_stats'], **gan.label_kwargs(labels))
  logits, class_logits = out if isinstance(out, tuple) else (out, None)
  return logits, class_logits, updates['batch_stats']


def auxiliary_classifier_loss(class_logits: Optional[jax.Array],
                              labels: Optional[jax.Array]) -> jax.Array:
  """ACGAN's class loss -E log P(C = y | x) (Odena et al. 2017, Eq. 3's L_C,
  negated), float32 []; 0 without an auxiliary classifier."""
  if class_logits is None:
    return jnp.zeros((), jnp.float32)
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


# Streams of a move's key for D's views of its real and of its fake examples;
# folded in, not split off, so that the move's other keys stay as they were.
REAL_VIEW, FAKE_VIEW = 0x71E0, 0x71E1


def d_view(x: jax.Array, key: jax.Array, stream: int, step: jax.Array,
           config: ml_collections.ConfigDict, axis_name: str = AXIS) -> jax.Array:
  """What D sees of examples x [local_batch, *example_shape] (before packing):
  DiffAugment (`config.diffaugment`), then instance noise of std sigma(step)
  (`config.instance_noise`), each example's draws keyed by its global index
  (augment.py). Differentiable in x. With both off, x itself."""
  key = jax.random.fold_in(key, stream)
  policy = config.diffaugment
  if policy:
    x = augment.diff_augment(jax.random.fold_in(key, 0), x, policy, axis_name)
  noise = config.instance_noise
  if noise.std:
    std = augment.instance_noise_std(step, noise.std, noise.anneal_steps)
    x = augment.add_instance_noise(jax.random.fold_in(key, 1), x, std, axis_name)
  return x


def ema_decay_at(step: jax.Array, config: ml_collections.ConfigDict):
  """The decay of the EMA of G's parameters in step `step` (0-based):
  `config.ema_decay`, or with `config.ema_warmup` min(ema_decay, (1 + t) /
  (10 + t)), the num_updates rule of TensorFlow's ExponentialMovingAverage.
  The warm-up matters for short runs: a plain EMA of decay 0.999 still
  holds 0.999^t of G's initial weights (37 % at t = 1,000), the warmed-up
  one under 1e-5 from t = 11 on (the product of (1 + s) / (10 + s) over
  s < t is 9! t! / (t + 9)!). t counts steps: with n_generator > 1 the
  step's EMA updates share one decay. Without the warm-up: the Python float
  ema_decay itself, so that 1 - decay is exact."""
  if not config.ema_warmup:
    return config.ema_decay
  t = jnp.asarray(step, jnp.float32)
  return jnp.minimum(jnp.float32(config.ema_decay), (1.0 + t) / (10.0 + t))


def generator_batch(local_batch: int, config: ml_collections.ConfigDict) -> int:
  """Fakes per device in a generator move: the real batch's size, scaled by
  config.g_batch_size / batch_size when g_batch_size is set."""
  if not config.g_batch_size:
    return local_batch
  return local_batch * config.g_batch_size // config.batch_size


def _d_move_keys(key: jax.Array) -> jax.Array:
  """A discriminator move's four keys, stacked [4, *key_shape], in the order
  z, real dropout, fake dropout, penalty."""
  return jax.random.split(key, 4)


def _g_move_keys(key: jax.Array, d_move_key: Optional[jax.Array]):
  """A generator move's keys (z, real dropout, fake dropout, D's views): its
  own split of `key`, or the D move's draws of `d_move_key`."""
  if d_move_key is None:
    z_key, fake_key, real_key = jax.random.split(key, 3)
    return z_key, real_key, fake_key, key
  z_key, real_key, fake_key, _ = _d_move_keys(d_move_key)
  return z_key, real_key, fake_key, d_move_key


def discriminator_move(state: GANState, real_u8: jax.Array, key: jax.Array,
                       gan: GAN, config: ml_collections.ConfigDict,
                       axis_name: str = AXIS, labels: Optional[jax.Array] = None
                       ) -> Tuple[GANState, Metrics]:
  """One gradient move of D on a real batch and a fresh fake one.

  Minimises the objective's discriminator loss (plus `loss.penalty_weight`
  times the penalty, if any) over D's parameters; G's parameters are fixed
  and the fakes carry no gradient. G generates in training mode, so its
  batch statistics move too.

  Args:
    state: the current state; its step and rng are not used.
    real_u8: this device's real examples [local_batch, *stored_shape]
      (uint8 images or float32 points).
    key: this move's key (noise, dropout, penalty interpolation).
    labels: the real examples' classes, int32 [local_batch], for
      class-conditional runs (else None). The fakes are generated for the
      same labels, so both batches carry one label multiset and a penalty
      interpolates pairs of one class.
  Returns:
    (state with new d_params, d_batch_stats, d_opt_state and g_batch_stats,
     metrics: loss_d, penalty, d_real / d_fake (mean sigmoid of D's output),
     d_real_logit / d_fake_logit, d_grad_norm (and ACGAN's loss_class) --
     this device's values).
  """
  z_key, real_key, fake_key, gp_key = _d_move_keys(key)
  real = batching.preprocess(real_u8, config.data.image_size)
  z = layers.sample_latent(z_key, real.shape[0], config.model.latent_dim, axis_name,
                           config.model.latent_distribution)
  fake, g_batch_stats = generate(gan, state.g_params, state.g_batch_stats, z, labels)
  # D's inputs are packs of `gan.pack` examples (PacGAN) of D's views of the
  # examples (augmented, noisy: d_view); penalties act on D's input space, so
  # they interpolate and differentiate these packs.
  real = packing.pack(d_view(real, key, REAL_VIEW, state.step, config, axis_name),
                      gan.pack)
  fake = packing.pack(d_view(jax.lax.stop_gradient(fake), key, FAKE_VIEW,
                             state.step, config, axis_name), gan.pack)
  penalty_fn = penalties.PENALTIES.get(gan.penalty)

  def loss_fn(d_params):
    d_real, c_real, stats = discriminate(gan, d_params, state.d_batch_stats,
                                         real, real_key, labels)
    d_fake, c_fake, stats = discriminate(gan, d_params, stats, fake, fake_key, labels)
    loss_d, _ = gan.objective(d_real, d_fake, axis_name)
    loss = loss_d
    # ACGAN: D also maximises the log-likelihood of the right class on real
    # and fake examples (Odena et al. 2017, L_S + L_C).
    loss_class = (auxiliary_classifier_loss(c_real, labels) +
                  auxiliary_classifier_loss(c_fake, labels))
    if c_real is not None:
      loss = loss + config.loss.acgan_weight * loss_class
    penalty = 0.0
    if penalty_fn is not None:
      d_fn = lambda x: discriminate(gan, d_params, stats, x, gp_key, labels)[0]
      penalty = penalty_fn(d_fn, real, fake, gp_key, axis_name)
      loss = loss + config.loss.penalty_weight * penalty
    return loss, (stats, loss_d, penalty, d_real, d_fake, loss_class)

  grads, (d_batch_stats, loss_d, penalty, d_real, d_fake, loss_class) = jax.grad(
      loss_fn, has_aux=True)(state.d_params)
  grads = jax.lax.pmean(grads, axis_name)
  updates, d_opt_state = gan.d_tx.update(grads, state.d_opt_state, state.d_params)
  d_params = optax.apply_updates(state.d_params, updates)
  metrics = dict(loss_d=loss_d, penalty=penalty,
                 d_real=jnp.mean(jax.nn.sigmoid(d_real)),
                 d_fake=jnp.mean(jax.nn.sigmoid(d_fake)),
                 d_real_logit=jnp.mean(d_real), d_fake_logit=jnp.mean(d_fake),
                 d_grad_norm=optax.tree.norm(grads))
  if gan.auxiliary_classifier:
    metrics['loss_class'] = loss_class
  return state.replace(d_params=d_params, d_batch_stats=d_batch_stats,
                       d_opt_state=d_opt_state, g_batch_stats=g_batch_stats), metrics


def generator_move(state: GANState, real_u8: jax.Array, key: jax.Array,
                   gan: GAN, config: ml_collections.ConfigDict,
                   axis_name: str = AXIS, labels: Optional[jax.Array] = None,
                   d_move_key: Optional[jax.Array] = None
                   ) -> Tuple[GANState, Metrics]:
  """One gradient move of G against the current D, on fresh noise (or on
  the fake batch of D's move with key `d_move_key`).

  Minimises the objective's generator loss over G's parameters; D's
  parameters are fixed (its batch statistics follow its training-mode calls).
  The real batch is read only by objectives whose generator loss uses real
  data (the relativistic ones). Updates the EMA of G's parameters
  (`ema_decay_at`; `config.ema_decay` 0 keeps it equal to G's).

  Args:
    state: the state after the discriminator moves.
    real_u8: this device's real examples [local_batch, *stored_shape]; the
      fake batch has generator_batch(local_batch, config) examples.
    key: this move's key.
    labels: the real batch's classes, int32 [local_batch], for
      class-conditional runs (else None): G generates for these labels.
    d_move_key: the key of a `discriminator_move` from the same state, on
      the same `real_u8` and `labels`, or None. Given, G takes that move's
      draws instead of its own from `key` -- its z, so the same fakes, and
      D's views and dropout masks of them and of the real batch -- and
      replays its D calls in their order (real, then fake). Goodfellow et
      al.'s code computes d_obj and g_obj from one sample S, through one
      dropout mask (AdversaryCost2). With the minimax objective and no
      penalty or auxiliary classifier, G's gradient is then exactly minus
      the gradient over G of D's loss.
  Returns:
    (state with new g_params, g_batch_stats, d_batch_stats, g_opt_state and
     ema_g_params, metrics: loss_g, g_grad_norm, g_param_norm).
  """
  z_key, real_key, fake_key, view_key = _g_move_keys(key, d_move_key)
  z = layers.sample_latent(z_key, generator_batch(real_u8.shape[0], config),
                           config.model.latent_dim, axis_name,
                           config.model.latent_distribution)

  def loss_fn(g_params):
    fake, g_stats = generate(gan, g_params, state.g_batch_stats, z, labels)
    # G's gradient flows through D's view of its samples (d_view).
    fake = packing.pack(d_view(fake, view_key, FAKE_VIEW, state.step, config,
                               axis_name), gan.pack)

    def score_real(d_stats):
      real = batching.preprocess(real_u8, config.data.image_size)
      real = packing.pack(
          d_view(real, view_key, REAL_VIEW, state.step, config, axis_name),
          gan.pack)
      return discriminate(gan, state.d_params, d_stats, real, real_key, labels)

    if d_move_key is not None:
      # D's move's calls in D's move's order, real then fake: a D whose calls
      # advance its state (spectral norm's power iteration) then scores the
      # fakes with the very normalisation D's move used.
      d_real, _, d_stats = score_real(state.d_batch_stats)
      d_fake, c_fake, d_stats = discriminate(gan, state.d_params, d_stats,
                                             fake, fake_key, labels)
    else:
      d_fake, c_fake, d_stats = discriminate(gan, state.d_params, state.d_batch_stats,
                                             fake, fake_key, labels)
      if gan.objective.generator_uses_real:
        d_real, _, d_stats = score_real(d_stats)
      else:
        d_real = jnp.zeros_like(d_fake)  # unused by the objective
    _, loss_g = gan.objective(d_real, d_fake, axis_name)
    if c_fake is not None:  # ACGAN: G too maximises L_C on its samples
      loss_g = loss_g + config.loss.acgan_weight * (
          auxiliary_classifier_loss(c_fake, labels))
    return loss_g, (g_stats, d_stats)

  (loss_g, (g_batch_stats, d_batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.g_params)
  grads = jax.lax.pmean(grads, axis_name)
  updates, g_opt_state = gan.g_tx.update(grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  decay = ema_decay_at(state.step, config)
  if config.ema_start_step:
    # Until the start the EMA copies G (decay 0).
    decay = jnp.where(state.step < config.ema_start_step, 0.0, decay)
  ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                     state.ema_g_params, g_params) if config.ema_decay else g_params
  # The parameter norm is worth plotting and is the divergence guard's probe:
  # a NaN or inf anywhere in the parameters makes it non-finite.
  metrics = dict(loss_g=loss_g, g_grad_norm=optax.tree.norm(grads),
                 g_param_norm=optax.tree.norm(g_params))
  return state.replace(g_params=g_params, g_batch_stats=g_batch_stats,
                       d_batch_stats=d_batch_stats, g_opt_state=g_opt_state,
                       ema_g_params=ema), metrics


def make_train_step(config: ml_collections.ConfigDict, gan: GAN,
                    axis_name: str = AXIS) -> Callable:
  """The pure update step `(state, images) -> (state, metrics)`.

  `batch`: this device's real examples [n_critic, local_batch,
  *stored_shape] for one step (the layout of data/batching.py, less the
  axes pmap, scan and vmap take off); for class-conditional runs the pair
  (examples, labels int32 [n_critic, local_batch]). Metrics are device-global means (over the n_critic moves for D's,
  the n_generator moves for G's): those of the two moves, and d_param_norm.
  """

  def train_step(state: GANState, batch):
    images, labels = batching.split_batch(batch)
    label = lambda k: None if labels is None else labels[k]
    # Identical on every device; per-example draws use the global example id.
    step_key = jax.random.fold_in(state.rng, state.step)
    d_keys = jax.random.split(jax.random.fold_in(step_key, 0), config.n_critic)
    # The n_critic moves are unrolled at trace time rather than run by
    # lax.scan: inside a while-loop body XLA:CPU compiles the kernel
    # gradients of strided convolutions to a partitioned slow path (1.7 s vs
    # tens of ms for D's 64->128 conv at batch 128, measured).
    if config.update_order == 'simultaneous':
      # Both players move from the same state: G's gradient is taken against
      # D before D's move (simultaneous gradient descent, as ALI's and
      # PacGAN's code do; config/validation.py holds n_critic at 1). Those codes
      # also feed one fake batch to both objectives (shared_fake_batch).
      d_state, d_metrics = discriminator_move(state, images[0], d_keys[0], gan,
                                              config, axis_name, label(0))
      shared = d_keys[0] if config.shared_fake_batch else None
      g_state, g_metrics = generator_move(state, images[0],
                                          jax.random.fold_in(step_key, 1), gan,
                                          config, axis_name, label(0), shared)
      state = d_state.replace(
          g_params=g_state.g_params, g_batch_stats=g_state.g_batch_stats,
          g_opt_state=g_state.g_opt_state, ema_g_params=g_state.ema_g_params)
      d_metrics = [d_metrics]
    else:
      d_metrics = []
      for k in range(config.n_critic):
        state, metrics = discriminator_move(state, images[k], d_keys[k], gan,
                                            config, axis_name, label(k))
        d_metrics.append(metrics)
      g_metrics = []
      for j in range(config.n_generator):
        # Extra G moves (PacGAN's VEEGAN setup makes two) get their own keys;
        # the first keeps the key of the one-move step.
        g_key = jax.random.fold_in(step_key, 1 if j == 0 else 1 + 0x100 * j)
        state, metrics = generator_move(state, images[-1], g_key, gan, config,
                                        axis_name, label(-1))
        g_metrics.append(metrics)
      g_metrics = jax.tree.map(lambda *m: jnp.mean(jnp.stack(m)), *g_metrics)
    metrics = jax.tree.map(lambda *m: jnp.mean(jnp.stack(m)), *d_metrics)
    metrics.update(g_metrics, d_param_norm=optax.tree.norm(state.d_params))
    return (state.replace(step=state.step + 1),
            jax.lax.pmean(metrics, axis_name))

  return train_step
