"""The evaluator classifier's network and its inference (see classifier.py).

A conv32-pool-conv64-pool-conv128-dense128-dense10 network with BatchNorm:
the penultimate activations are the features [N, 128], the logits [N, 10]
give the IS-style score and the digit read from each Stacked-MNIST channel.
"""
from typing import Any, Dict, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import batching

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
FEATURE_DIM = 128

# Rows per jitted forward call; shorter inputs are padded (to a power of two
# below this), so a whole evaluation compiles once.
_CHUNK = 1000

Variables = Dict[str, Any]


class CNN(nn.Module):
  """images [N, 28, 28, 1] in [-1, 1] -> (features [N, 128], logits [N, 10])."""
  feature_dim: int = FEATURE_DIM
  num_classes: int = NUM_CLASSES

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> Tuple[jax.Array, jax.Array]:
    for width, pool in ((32, True), (64, True), (128, False)):  # 28 -> 14 -> 7
      x = nn.Conv(width, (3, 3), use_bias=False)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
      x = nn.relu(x)
      if pool:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)
    features = nn.relu(nn.Dense(self.feature_dim)(x))
    return features, nn.Dense(self.num_classes)(features)


def apply_fn(variables: Variables, images: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """Pure inference forward, usable inside other jitted code.

  Args:
    variables: {'params', 'batch_stats'} of a trained `CNN`.
    images: [N, H, W, 1], float in [-1, 1] or uint8 in [0, 255]; other sizes
      than 28x28 (e.g. the 64x64 DCGAN's samples) are resized bilinearly.
  Returns:
    (features float32 [N, 128], logits float32 [N, 10]).
  """
  x = batching.preprocess(images)
  if x.shape[1:3] != IMAGE_SHAPE[:2]:
    x = jax.image.resize(x, x.shape[:1] + IMAGE_SHAPE[:2] + x.shape[3:], 'linear')
  return CNN().apply(variables, x, train=False)


_forward = jax.jit(apply_fn)


def batched_forward(variables: Variables,
                    images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """`apply_fn` over images [N, ...] in chunks of one padded shape."""
  n = len(images)
  size = min(_CHUNK, max(8, 1 << max(n - 1, 0).bit_length()))
  outputs = []
  for start in range(0, n, size):
    chunk = images[start:start + size]
    if len(chunk) < size:
      chunk = np.pad(chunk, [(0, size - len(chunk))] + [(0, 0)] * (chunk.ndim - 1))
    outputs.append(_forward(variables, chunk))
  if not outputs:
    return (np.zeros((0, FEATURE_DIM), np.float32),
            np.zeros((0, NUM_CLASSES), np.float32))
  features, logits = zip(*jax.device_get(outputs))
  return np.concatenate(features)[:n], np.concatenate(logits)[:n]


def template() -> Variables:
  """The CNN's variables as jax.ShapeDtypeStructs (traced, not computed)."""
  return jax.eval_shape(lambda: CNN().init(
      jax.random.PRNGKey(0), jnp.zeros((1,) + IMAGE_SHAPE, jnp.float32),
      train=False))


def accuracy(variables: Variables, images, labels) -> float:
  """Share of images [N, 28, 28, 1] (uint8 or [-1, 1]) classified as labels [N]."""
  _, logits = batched_forward(variables, images)
  return float(np.mean(np.argmax(logits, -1) == np.asarray(labels)))
