"""What the discriminator sees: differentiable augmentation and instance noise.

Both transform every batch D judges -- real and fake, in the discriminator
move and in the generator move -- on device, inside the update step, before
the examples are packed (packing.py). They are differentiable in the
examples, so G's gradient flows through them to the fakes.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"), `config.diffaugment`, a comma list applied in
its order, as the authors' DiffAugment_tf.py / DiffAugment_pytorch.py
(github.com/mit-han-lab/data-efficient-gans):
  translation  shift by integers drawn from [-round(H/8), round(H/8)] and
               the same for W (4 pixels on 28 x 28), filling with zeros;
  cutout       zero a square of half the image's side (round(H/2) x
               round(W/2)) at a random centre (clipped at the border);
  color        brightness + U[-0.5, 0.5], saturation x U[0, 2] around each
               pixel's channel mean, contrast x U[0.5, 1.5] around the image's
               mean.
The magnitudes are the authors', for images in [-1, 1] (zero, the fill
value, is mid-grey). On one-channel images the saturation step is the
identity (the channel mean is the pixel itself), so there 'color' is
brightness and contrast -- what the reference code computes on grayscale.

Instance noise (Sønderby et al. 2017, arXiv:1610.04490; Arjovsky & Bottou
2017, "Towards Principled Methods for Training GANs"): Gaussian noise of std
sigma(step) added to every example, which makes the real and fake
distributions overlap so that D's optimum and G's gradient stay informative;
sigma anneals linearly to 0.

Randomness is drawn per example from a key folded with the example's global
index in the batch (layers.per_example_keys), so 1 device and N devices see
the same augmentation and noise of each example.
"""
from typing import Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models import layers

Array = jax.Array

# The authors' magnitudes (rand_translation(ratio=0.125), rand_cutout(ratio=
# 0.5)), as sides rounded to the nearest pixel: int(side * ratio + 0.5), i.e.
# shifts of up to 4 and a 14-pixel square on 28 x 28 images.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _pixels(side: int, ratio: float) -> int:
  """side * ratio rounded half up, as the reference code computes it."""
  return int(side * ratio + 0.5)


# ------------------------------------------------- the transformations ----
def translate(image: Array, dy: Array, dx: Array) -> Array:
  """`image` [H, W, C] shifted by (-dy, -dx): out[i, j] = image[i + dy, j + dx]
  where that pixel exists, 0 elsewhere. dy, dx int32 [], |dy| <= H, |dx| <= W.

  As the reference code: a gather from the image padded with one zero on each
  side, indices clipped onto the padding."""
  h, w, _ = image.shape
  padded = jnp.pad(image, ((1, 1), (1, 1), (0, 0)))
  rows = jnp.clip(jnp.arange(h) + dy + 1, 0, h + 1)
  cols = jnp.clip(jnp.arange(w) + dx + 1, 0, w + 1)
  return padded[rows[:, None], cols[None, :]]


def cutout(image: Array, top: Array, left: Array, height: int, width: int) -> Array:
  """`image` [H, W, C] with rows [top, top + height) x columns [left, left +
  width) set to 0 (the part inside the image; top, left int32 [] may be
  negative)."""
  h, w, _ = image.shape
  rows, cols = jnp.arange(h), jnp.arange(w)
  inside = (((rows >= top) & (rows < top + height))[:, None] &
            ((cols >= left) & (cols < left + width))[None, :])
  return image * jnp.where(inside, 0.0, 1.0).astype(image.dtype)[:, :, None]


def adjust_brightness(image: Array, delta: Array) -> Array:
  return image + delta


def adjust_saturation(image: Array, factor: Array) -> Array:
  """Scales each pixel's deviation from its channel mean (identity for C = 1)."""
  mean = jnp.mean(image, axis=-1, keepdims=True)
  return (image - mean) * factor + mean


def adjust_contrast(image: Array, factor: Array) -> Array:
  """Scales the deviation from the image's mean over all pixels and channels."""
  mean = jnp.mean(image)
  return (image - mean) * factor + mean


# ---------------------------------------------- DiffAugment's policies ----
def random_color(key: Array, image: Array) -> Array:
  """rand_brightness, rand_saturation, rand_contrast of the reference code."""
  brightness_key, saturation_key, contrast_key = jax.random.split(key, 3)
  image = adjust_brightness(image, jax.random.uniform(brightness_key, ()) - 0.5)
  image = adjust_saturation(image, jax.random.uniform(saturation_key, ()) * 2.0)
  return adjust_contrast(image, jax.random.uniform(contrast_key, ()) + 0.5)


def random_translation(key: Array, image: Array) -> Array:
  """`image` [H, W, C] shifted by (dy, dx), each uniform on the integers of
  [-round(H / 8), round(H / 8)] (W for dx), zero fill (rand_translation)."""
  h, w, _ = image.shape
  max_dy, max_dx = _pixels(h, TRANSLATION_RATIO), _pixels(w, TRANSLATION_RATIO)
  dy_key, dx_key = jax.random.split(key)
  dy = jax.random.randint(dy_key, (), -max_dy, max_dy + 1)
  dx = jax.random.randint(dx_key, (), -max_dx, max_dx + 1)
  return translate(image, dy, dx)


def random_cutout(key: Array, image: Array) -> Array:
  """`image` [H, W, C] with a round(H / 2) x round(W / 2) rectangle zeroed,
  clipped at the border (rand_cutout). The rectangle's centre is uniform on
  [0, H] (H - 1 for an odd side), its top row centre - side // 2, as the
  reference code."""
  h, w, _ = image.shape
  size_h, size_w = _pixels(h, CUTOUT_RATIO), _pixels(w, CUTOUT_RATIO)
  y_key, x_key = jax.random.split(key)
  cy = jax.random.randint(y_key, (), 0, h + 1 - size_h % 2)
  cx = jax.random.randint(x_key, (), 0, w + 1 - size_w % 2)
  return cutout(image, cy - size_h // 2, cx - size_w // 2, size_h, size_w)


# name -> (key, image [H, W, C]) -> image
AUGMENTATIONS: Dict[str, Callable[[Array, Array], Array]] = {
    'color': random_color,
    'translation': random_translation,
    'cutout': random_cutout,
}


def parse_policy(policy: str) -> Tuple[str, ...]:
  """'color,translation' -> ('color', 'translation'); '' -> (). Raises
  ConfigError for an unknown name."""
  names = tuple(p.strip() for p in policy.split(',') if p.strip())
  for name in names:
    if name not in AUGMENTATIONS:
      raise ConfigError(f"unknown augmentation '{name}' in config.diffaugment="
                        f"'{policy}'; use a comma list of "
                        f"{', '.join(AUGMENTATIONS)} (or '' for none)")
  return names


def diff_augment(key: Array, images: Array, policy: str,
                 axis_name: Optional[str] = None) -> Array:
  """DiffAugment of a batch: images [B, H, W, C] in [-1, 1] -> the same shape.

  Each example's transformations are drawn from `key` folded with its global
  index (over `axis_name`, the pmap axis, when given), then with the policy
  entry's position. An empty policy returns `images` itself.
  """
  names = parse_policy(policy)
  if not names:
    return images
  if images.ndim != 4:
    raise ValueError(f'DiffAugment needs images [B, H, W, C], got {images.shape}')

  def augment(example_key, image):
    for i, name in enumerate(names):
      image = AUGMENTATIONS[name](jax.random.fold_in(example_key, i), image)
    return image

  keys = layers.per_example_keys(key, images.shape[0], axis_name)
  return jax.vmap(augment)(keys, images)


# ------------------------------------------------------ instance noise ----
def instance_noise_std(step: Array, initial_std: float, anneal_steps: int) -> Array:
  """sigma at training step `step`: `initial_std` decaying linearly to 0 at
  step `anneal_steps` and 0 after it; constant when `anneal_steps` is 0.
  float32 []."""
  if not anneal_steps:
    return jnp.asarray(initial_std, jnp.float32)
  remaining = 1.0 - jnp.asarray(step, jnp.float32) / anneal_steps
  return initial_std * jnp.maximum(remaining, 0.0)


def add_instance_noise(key: Array, x: Array, std: Array,
                       axis_name: Optional[str] = None) -> Array:
  """x + std * N(0, I): examples x [B, ...] (images or points), each example's
  noise drawn from `key` folded with its global index."""
  keys = layers.per_example_keys(key, x.shape[0], axis_name)
  noise = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], jnp.float32))(keys)
  return x + (std * noise).astype(x.dtype)
