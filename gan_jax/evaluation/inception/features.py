"""The FID Inception as the image evaluator uses it: images in the models'
[-1, 1] -> pool3 features and logits, one jitted program pmapped over the
local devices, in chunks, so that 50,000 images pass on any device.

Generated images are first quantised to 8 bits, as they would be when
saved as PNGs for pytorch-fid: a generated and a real image (uint8 already)
then go through the same path.
"""
import dataclasses
import functools
from typing import Any, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import jax_utils

from gan_jax.evaluation.inception import network, weights as weights_lib

# Images per device per pmapped call: ~10 MB of activations each at 299x299
# (float32), so 64 fit any accelerator and keep the CPU's cores busy.
BATCH_PER_DEVICE = 64


def _quantised_unit(images: jax.Array) -> jax.Array:
  # [-1, 1] -> the 8-bit levels in [0, 1]: the inverse of the input
  # pipeline's u8 / 127.5 - 1 (sampling.pictures.to_uint8 rounds the same).
  return jnp.clip(jnp.round((images + 1.0) * 127.5), 0.0, 255.0) / 255.0


def forward(variables, images: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """Pure: images [N, H, W, C] in [-1, 1] (C = 1 or 3) -> (pool3 features
  float32 [N, 2048], Inception-score logits float32 [N, 1008]), quantised to
  8 bits and resized to 299x299 as `network.preprocess` says.

  The logits are pool3 times the softmax layer's weights, without its bias:
  the Inception score's code (Salimans et al. 2016, openai/improved-gan
  inception_score/model.py: `tf.matmul(pool3, w)` of softmax/logits/MatMul)
  and torch-fidelity's 'logits_unbiased' compute them so.
  """
  unit = _quantised_unit(images.astype(jnp.float32))
  features, _ = network.FIDInceptionV3().apply(variables, network.preprocess(unit))
  return features, features @ variables['params']['fc']['kernel']


@functools.lru_cache(maxsize=None)
def _pmapped_forward():
  return jax.pmap(forward, in_axes=(0, 0))


@dataclasses.dataclass(frozen=True)
class FIDInception:
  """The FID Inception network with its weights (see `load`).

  evaluator_id names the network and its weights' hash
  ('fid-inception-v3-6726825d' for pytorch-fid's published weights).
  """
  variables: Any = dataclasses.field(repr=False, compare=False)
  evaluator_id: str = ''
  source_sha256: str = ''
  batch_per_device: int = BATCH_PER_DEVICE
  # The fields the image evaluator reads of any feature network.
  shipped: bool = False
  test_accuracy: Optional[float] = None
  info: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False,
                                           compare=False)

  @property
  def feature_dim(self) -> int:
    return network.FEATURE_DIM

  @functools.cached_property
  def _replicated(self):
    return jax_utils.replicate(jax.device_get(self.variables), jax.local_devices())

  def features_and_logits(self, images) -> Tuple[np.ndarray, np.ndarray]:
    """images [N, H, W, C] (C = 1 or 3), float in [-1, 1] or uint8 ->
    (features float32 [N, 2048], Inception-score logits float32 [N, 1008],
    see `forward`) as numpy. Raises ValueError for another shape."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise ValueError('the Inception network takes images [N, H, W, 1 or 3], '
                       f'got shape {tuple(images.shape)}')
    devices, count = jax.local_device_count(), images.shape[0]
    # A few images need not fill the whole batch: the per-device batch is a
    # power of two up to batch_per_device, so a handful of programs compile.
    per_device = min(self.batch_per_device,
                     1 << max(0, int(np.ceil(np.log2(max(1, -(-count // devices)))))))
    chunk = devices * per_device
    features, logits = [], []
    for start in range(0, count, chunk):
      part = images[start:start + chunk]
      # The last chunk is padded to the full size: one compiled program.
      if part.dtype == np.uint8:   # converted per chunk: 50k images stay small
        part = part.astype(np.float32) / 127.5 - 1.0
      padded = np.zeros((chunk,) + images.shape[1:], np.float32)
      padded[:len(part)] = part
      f, l = _pmapped_forward()(self._replicated,
                                padded.reshape((devices, -1) + images.shape[1:]))
      features.append(np.asarray(f).reshape(chunk, -1)[:len(part)])
      logits.append(np.asarray(l).reshape(chunk, -1)[:len(part)])
    if not features:
      return (np.zeros((0, network.FEATURE_DIM), np.float32),
              np.zeros((0, network.NUM_CLASSES), np.float32))
    return np.concatenate(features), np.concatenate(logits)


def load(path: Optional[str] = None, cache_root: Optional[str] = None,
         batch_per_device: int = BATCH_PER_DEVICE) -> FIDInception:
  """The FID Inception with the weights `weights.load(path, cache_root)`
  finds (raises weights.InceptionWeightsError without them)."""
  variables, source_sha256 = weights_lib.load(path, cache_root)
  return FIDInception(variables=jax.device_put(variables),
                      evaluator_id=weights_lib.evaluator_id(source_sha256),
                      source_sha256=source_sha256, batch_per_device=batch_per_device,
                      info=dict(source_sha256=source_sha256))
