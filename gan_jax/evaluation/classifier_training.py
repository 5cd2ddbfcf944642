"""Training of the evaluator classifier (the recipe is in classifier.py).

Adam at 2e-3 cosine-decayed to 0, random shifts of up to 2 px, batches of 128;
a pure function of the data, the number of steps and the seed.
"""
import functools
import time
from typing import Any, Dict, Optional, Tuple

from absl import logging
from flax import struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.data import batching
from gan_jax.evaluation.classifier_net import CNN, Variables, accuracy, template

EPOCHS = 4
BATCH_SIZE = 128
_LEARNING_RATE = 2e-3
_MAX_SHIFT = 2           # pixels of random translation in each direction


class TrainState(struct.PyTreeNode):
  step: jax.Array
  num_steps: jax.Array      # of the whole run: sets the learning-rate decay
  params: Any
  batch_stats: Any
  opt_state: Any


# Module-level, so that every `train` call (tests train many tiny ones) hits
# the same compiled step: the learning rate is a function of the state's
# arrays, not a schedule closed over by a fresh optimizer.
_ADAM = optax.scale_by_adam()


def _learning_rate(step: jax.Array, num_steps: jax.Array) -> jax.Array:
  """Cosine decay from _LEARNING_RATE to 0 over num_steps."""
  progress = jnp.minimum(step / jnp.maximum(num_steps, 1), 1.0)
  return _LEARNING_RATE * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))


def random_shift(rng: np.random.Generator, images: np.ndarray,
                 max_shift: int) -> np.ndarray:
  """Translates each uint8 image of [N, H, W, C] by its own random offset in
  [-max_shift, max_shift]^2, filling with background (0).

  On the host, as one numpy gather (well under a millisecond per batch): in
  the jitted step the per-example gather added seconds to its XLA:CPU compile.
  """
  n, h, w, _ = images.shape
  m = max_shift
  padded = np.pad(images, ((0, 0), (m, m), (m, m), (0, 0)))
  dy, dx = rng.integers(0, 2 * m + 1, size=(2, n, 1, 1))
  rows = dy + np.arange(h)[None, :, None]
  cols = dx + np.arange(w)[None, None, :]
  return padded[np.arange(n)[:, None, None], rows, cols]


def init_variables(seed: int) -> Variables:
  """Flax's default initialisation of the CNN, drawn by numpy on the host:
  LeCun-normal kernels (truncated at 2 std), zero biases and means, unit
  BatchNorm scales and variances.

  jax.random's initialisers compile once per parameter shape, which on a busy
  2-core CPU (measured: ~15 s) takes longer than a short test training.
  """
  rng = np.random.default_rng([seed, 0])

  def init(path, leaf):
    if path[-1].key != 'kernel':
      return np.full(leaf.shape, 1.0 if path[-1].key in ('scale', 'var') else 0.0,
                     leaf.dtype)
    x = rng.standard_normal(leaf.shape)
    while (outside := np.abs(x) > 2.0).any():
      x[outside] = rng.standard_normal(np.count_nonzero(outside))
    # 0.8796 is the std of a standard normal truncated to [-2, 2].
    std = np.sqrt(1.0 / np.prod(leaf.shape[:-1])) / 0.87962566103423978
    return (x * std).astype(leaf.dtype)

  return jax.tree_util.tree_map_with_path(init, template())


def _create_state(seed: int, num_steps: int) -> TrainState:
  variables = init_variables(seed)
  return TrainState(step=jnp.zeros((), jnp.int32),
                    num_steps=jnp.asarray(num_steps, jnp.int32),
                    params=variables['params'],
                    batch_stats=variables['batch_stats'],
                    opt_state=_ADAM.init(variables['params']))


@functools.partial(jax.jit, donate_argnums=(0,))
def _train_step(state: TrainState, images: jax.Array, labels: jax.Array
                ) -> Tuple[TrainState, Dict[str, jax.Array]]:
  """One Adam step on uint8 images [B, 28, 28, 1] and int labels [B]."""
  x = batching.preprocess(images)

  def loss_fn(params):
    (_, logits), updates = CNN().apply(
        {'params': params, 'batch_stats': state.batch_stats}, x, train=True,
        mutable=['batch_stats'])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, (logits, updates['batch_stats'])

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  updates, opt_state = _ADAM.update(grads, state.opt_state)
  lr = _learning_rate(state.step, state.num_steps)
  params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
  state = state.replace(step=state.step + 1, params=params,
                        batch_stats=batch_stats, opt_state=opt_state)
  correct = jnp.sum(jnp.argmax(logits, -1) == labels)
  return state, dict(loss=loss, correct=correct)


def train(images: np.ndarray, labels: np.ndarray, num_steps: int, seed: int,
          batch_size: int = BATCH_SIZE,
          test: Optional[Tuple[np.ndarray, np.ndarray]] = None,
          name: str = 'classifier') -> Variables:
  """Trains a `CNN` for `num_steps`; a pure function of its arguments.

  Args:
    images: uint8 [N, 28, 28, 1]; labels: int [N].
    num_steps: Adam steps; the learning rate decays to 0 over them.
    seed: initialisation, batch order (a permutation per epoch) and shifts.
    batch_size: examples per step (at most N).
    test: (images, labels) whose accuracy is logged after each epoch.
    name: what the progress lines call the classifier.
  Returns:
    The trained variables {'params', 'batch_stats'}.
  """
  batch_size = min(batch_size, len(images))
  steps_per_epoch = len(images) // batch_size
  num_epochs = -(-num_steps // steps_per_epoch)
  state = _create_state(seed, num_steps)
  step = 0
  for epoch in range(num_epochs):
    start = time.perf_counter()
    rng = np.random.default_rng([seed, 1, epoch])  # [seed, 0]: initialisation
    order = rng.permutation(len(images))
    metrics = []
    for b in range(min(steps_per_epoch, num_steps - step)):
      idx = order[b * batch_size:(b + 1) * batch_size]
      batch = random_shift(rng, images[idx], _MAX_SHIFT)
      state, m = _train_step(state, batch, labels[idx])
      metrics.append(m)
      step += 1
    # One transfer per epoch: the step never waits for the host.
    metrics = jax.device_get(metrics)
    loss = np.mean([m['loss'] for m in metrics])
    train_acc = sum(int(m['correct']) for m in metrics) / (len(metrics) * batch_size)
    line = (f'{name} epoch {epoch + 1}/{num_epochs}: train loss {loss:.4f}, '
            f'train accuracy {train_acc:.4f}')
    if test is not None:
      variables = dict(params=state.params, batch_stats=state.batch_stats)
      line += f', test accuracy {accuracy(variables, *test):.4f}'
    logging.info('%s (%.0f s)', line, time.perf_counter() - start)
  return jax.device_get(dict(params=state.params, batch_stats=state.batch_stats))
