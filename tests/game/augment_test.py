"""D's view of the data: DiffAugment's transformations against closed forms
and the reference code's semantics, instance noise's schedule and
statistics, gradients through both, and device-count invariance."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.game import augment
from gan_jax.errors import ConfigError


def images(b=4, h=16, w=16, c=3, seed=0):
  """Images in [-1, 1], float32 [b, h, w, c]."""
  rng = np.random.default_rng(seed)
  return rng.uniform(-1.0, 1.0, (b, h, w, c)).astype(np.float32)


def shifted(image, dy, dx):
  """out[i, j] = image[i + dy, j + dx], 0 outside: np.roll and a mask."""
  h, w, _ = image.shape
  out = np.roll(image, (-dy, -dx), axis=(0, 1))
  rows, cols = np.arange(h) + dy, np.arange(w) + dx
  valid = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
  return out * valid[:, :, None]


@pytest.mark.parametrize('dy,dx', [(0, 0), (2, -1), (-2, 2), (-1, -2), (5, 0)])
def test_translation_is_a_shift_with_zero_fill(dy, dx):
  image = images(1, 12, 10, 2)[0]
  got = augment.translate(jnp.asarray(image), jnp.int32(dy), jnp.int32(dx))
  np.testing.assert_array_equal(got, shifted(image, dy, dx))


@pytest.mark.parametrize('side,max_shift', [(16, 2), (28, 4)])
def test_random_translation_shifts_by_at_most_an_eighth(side, max_shift):
  # round(side / 8) pixels, as the reference's int(side * 0.125 + 0.5) (28
  # -> 4, where flooring would give 3): each output is one of the shifts of
  # its input, and over many examples the extreme shifts occur.
  batch = images(256, side, side, 1)
  out = np.asarray(augment.diff_augment(jax.random.PRNGKey(0), batch, 'translation'))
  shifts = range(-max_shift, max_shift + 1)
  found = set()
  for image, augmented in zip(batch, out):
    matches = [(dy, dx) for dy, dx in itertools.product(shifts, repeat=2)
               if np.array_equal(augmented, shifted(image, dy, dx))]
    assert len(matches) == 1
    found.add(matches[0])
  dys = {dy for dy, _ in found}
  assert {-max_shift, max_shift} <= dys
  assert len(found) >= 0.8 * len(shifts) ** 2


@pytest.mark.parametrize('top,left', [(3, 5), (0, 0), (-4, 10), (12, -3)])
def test_cutout_zeroes_exactly_the_square(top, left):
  image = images(1, 16, 16, 3)[0] + 2.0  # no pixel is 0 before the cutout
  got = np.asarray(augment.cutout(jnp.asarray(image), jnp.int32(top),
                                  jnp.int32(left), 8, 8))
  expected = image.copy()
  expected[max(top, 0):max(top + 8, 0), max(left, 0):max(left + 8, 0)] = 0.0
  np.testing.assert_array_equal(got, expected)


def test_random_cutout_zeroes_a_square_of_half_the_side():
  # 16 x 16 images: an 8 x 8 square centred on a row and a column uniform on
  # [0, 16], so clipped by the border to 4..8 rows (8 for 9 of the 17 centres).
  batch = images(64, 16, 16, 3) + 2.0  # no pixel is 0 before the cutout
  out = np.asarray(augment.diff_augment(jax.random.PRNGKey(1), batch, 'cutout'))
  heights = []
  for image, augmented in zip(batch, out):
    zero = np.all(augmented == 0.0, axis=-1)
    rows, cols = np.nonzero(zero)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    # One axis-aligned rectangle of zeros, the rest untouched.
    assert zero.sum() == height * width
    np.testing.assert_array_equal(augmented[~zero], image[~zero])
    assert 4 <= height <= 8 and 4 <= width <= 8
    # Clipped only at the border it touches.
    assert height == 8 or rows.min() == 0 or rows.max() == 15
    assert width == 8 or cols.min() == 0 or cols.max() == 15
    heights.append(height)
  assert 0.3 < np.mean(np.array(heights) == 8) < 0.8  # 9 / 17 = 0.53


def test_color_transformations_closed_forms():
  image = jnp.asarray(images(1, 4, 4, 3)[0])
  np.testing.assert_allclose(augment.adjust_brightness(image, 0.25), image + 0.25)
  channel_mean = image.mean(-1, keepdims=True)
  np.testing.assert_allclose(augment.adjust_saturation(image, 1.5),
                             channel_mean + 1.5 * (image - channel_mean), rtol=1e-6)
  np.testing.assert_allclose(augment.adjust_saturation(image, 0.0),
                             jnp.broadcast_to(channel_mean, image.shape), rtol=1e-6)
  np.testing.assert_allclose(augment.adjust_contrast(image, 0.5),
                             image.mean() + 0.5 * (image - image.mean()), rtol=1e-6)
  # On one channel the saturation step is the identity (documented).
  gray = image[..., :1]
  np.testing.assert_allclose(augment.adjust_saturation(gray, 1.7), gray, atol=1e-7)


def test_random_color_is_an_affine_map_of_each_image_in_the_stated_ranges():
  # On grayscale, color = brightness b ~ U[-0.5, 0.5] then contrast
  # c ~ U[0.5, 1.5]: y = c (x - mean x) + mean x + b, so the pixels' slope is c
  # and the mean moves by b.
  batch = images(256, 8, 8, 1)
  out = np.asarray(augment.diff_augment(jax.random.PRNGKey(2), batch, 'color'))
  x = batch.reshape(256, -1)
  y = out.reshape(256, -1)
  slope = ((y - y.mean(1, keepdims=True)) * (x - x.mean(1, keepdims=True))).sum(1) / (
      ((x - x.mean(1, keepdims=True)) ** 2).sum(1))
  shift = y.mean(1) - x.mean(1)
  assert 0.5 <= slope.min() and slope.max() <= 1.5
  assert -0.5 <= shift.min() and shift.max() <= 0.5
  np.testing.assert_allclose(y - y.mean(1, keepdims=True),
                             slope[:, None] * (x - x.mean(1, keepdims=True)),
                             atol=1e-5)
  assert slope.std() > 0.2 and shift.std() > 0.2  # ~ 1/sqrt(12) = 0.29 each


def test_empty_policy_is_the_identity():
  batch = jnp.asarray(images())
  assert augment.diff_augment(jax.random.PRNGKey(0), batch, '') is batch
  assert augment.parse_policy(' color, translation ') == ('color', 'translation')
  with pytest.raises(ConfigError, match="unknown augmentation 'flip' in config.diffaugment"):
    augment.parse_policy('color,flip')


def test_gradients_flow_through_every_augmentation():
  batch = jnp.asarray(images(4, 16, 16, 3))
  weights = jnp.asarray(images(1, 16, 16, 3, seed=5)[0])
  for policy in ('color', 'translation', 'cutout', 'color,translation,cutout'):
    f = lambda x: jnp.sum(augment.diff_augment(jax.random.PRNGKey(3), x, policy) * weights)
    grad = jax.grad(f)(batch)
    assert np.all(np.isfinite(grad)) and float(jnp.abs(grad).sum()) > 0, policy


def test_color_gradient_matches_finite_differences():
  # f(x) = sum(w * color(x)) is affine in x: its central difference is
  # exact up to float32 rounding (hence the tolerance).
  batch = jnp.asarray(images(2, 6, 6, 3))
  weights = jnp.asarray(images(2, 6, 6, 3, seed=7))
  f = lambda x: jnp.sum(augment.diff_augment(jax.random.PRNGKey(4), x, 'color') * weights)
  grad = np.asarray(jax.grad(f)(batch))
  eps = 1e-2
  for index in [(0, 1, 2, 0), (1, 5, 0, 2), (0, 3, 3, 1)]:
    e = np.zeros(batch.shape, np.float32)
    e[index] = eps
    numeric = (float(f(batch + e)) - float(f(batch - e))) / (2 * eps)
    np.testing.assert_allclose(grad[index], numeric, rtol=2e-3, atol=2e-3)
  # Brightness alone: d/dx sum(w * (x + b)) = w, and d/db = sum(w), which
  # the central difference in b matches.
  f_b = lambda x, b: jnp.sum(augment.adjust_brightness(x, b) * weights)
  np.testing.assert_allclose(jax.grad(f_b)(batch, 0.3), weights)
  numeric = (float(f_b(batch, 0.3 + eps)) - float(f_b(batch, 0.3 - eps))) / (2 * eps)
  np.testing.assert_allclose(jax.grad(f_b, argnums=1)(batch, 0.3), numeric, rtol=1e-3)
  np.testing.assert_allclose(numeric, float(jnp.sum(weights)), rtol=1e-3)


def test_instance_noise_schedule():
  std = lambda s, anneal: float(augment.instance_noise_std(jnp.int32(s), 0.5, anneal))
  # Linear decay to 0 at anneal_steps, 0 after; constant for anneal_steps 0.
  for s, expected in ((0, 0.5), (25, 0.375), (50, 0.25), (99, 0.005), (100, 0.0), (500, 0.0)):
    np.testing.assert_allclose(std(s, 100), expected, rtol=1e-6, atol=1e-8)
  for s in (0, 100, 10 ** 6):
    assert std(s, 0) == 0.5


def test_instance_noise_statistics():
  x = jnp.zeros((512, 2))
  noisy = np.asarray(augment.add_instance_noise(jax.random.PRNGKey(0), x, 0.3))
  assert abs(noisy.mean()) < 0.02
  np.testing.assert_allclose(noisy.std(axis=0), [0.3, 0.3], rtol=0.08)
  assert abs(np.corrcoef(noisy.T)[0, 1]) < 0.1
  # Each example its own draw; a std of 0 adds exactly nothing.
  assert len(np.unique(noisy[:, 0])) == 512
  zero = augment.add_instance_noise(jax.random.PRNGKey(0), jnp.ones((4, 3)), 0.0)
  np.testing.assert_array_equal(zero, np.ones((4, 3)))
  # Differentiable in x: the noise is additive.
  noisy_sum_sq = lambda v: jnp.sum(
      augment.add_instance_noise(jax.random.PRNGKey(1), v, 0.3) ** 2)
  g = jax.grad(noisy_sum_sq)(x)
  np.testing.assert_allclose(
      g, 2 * np.asarray(augment.add_instance_noise(jax.random.PRNGKey(1), x, 0.3)),
      rtol=1e-6)


def test_draws_do_not_depend_on_the_device_count():
  batch = images(8, 16, 16, 3)

  def view(x, axis_name=None):
    x = augment.diff_augment(jax.random.PRNGKey(5), x, 'color,translation,cutout',
                             axis_name)
    return augment.add_instance_noise(jax.random.PRNGKey(6), x, 0.1, axis_name)

  expected = view(batch)
  sharded = jax.pmap(lambda x: view(x, 'batch'), axis_name='batch',
                     devices=jax.devices()[:4])(batch.reshape(4, 2, 16, 16, 3))
  np.testing.assert_allclose(np.asarray(sharded).reshape(batch.shape), expected,
                             rtol=1e-6, atol=1e-6)
