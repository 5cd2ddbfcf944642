"""threefry.py: the same bits and draws as JAX's threefry2x32, for typed and
raw keys, batched keys, split / fold_in, and the fallbacks."""
import jax
import jax.extend.random as jax_random
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import layers, threefry


@pytest.mark.parametrize('shape', [(), (1,), (7,), (3, 5), (14, 14, 64), (2, 3, 4, 5)])
def test_bits_equal_jax(shape):
  for seed in (0, 1, 2**31 + 5):
    key = jax.random.key(seed)
    np.testing.assert_array_equal(jax.random.bits(threefry.fused_keys(key), shape),
                                  jax.random.bits(key, shape))


def test_hash_equals_the_primitive():
  k = np.array([0x13198A2E, 0x03707344], np.uint32)
  x0 = np.arange(100, dtype=np.uint32) * np.uint32(2654435761)
  x1 = np.arange(100, dtype=np.uint32)[::-1].copy()
  ours = threefry.threefry_2x32(jnp.uint32(k[0]), jnp.uint32(k[1]), x0, x1)
  theirs = jax_random.threefry2x32_p.bind(jnp.uint32(k[0]), jnp.uint32(k[1]),
                                          jnp.asarray(x0), jnp.asarray(x1))
  for a, b in zip(ours, theirs):
    np.testing.assert_array_equal(a, b)


def test_the_fused_draw_is_straight_line_code():
  """The relabelled keys' 32-bit draws lower without JAX's loop or its
  threefry2x32 call: the fast path runs (the tests of equal bits would pass
  on a fallback too)."""
  def hlo(key):
    return jax.jit(lambda k: jax.random.bits(k, (64, 64))).lower(key).as_text()
  plain, fused = hlo(jax.random.key(0)), hlo(threefry.fused_keys(jax.random.key(0)))
  assert 'while' in plain and 'threefry2x32' in plain
  assert 'while' not in fused and 'threefry2x32' not in fused


def test_known_answer():
  # Random123's known-answer vector for Threefry-2x32-20 with key and counter
  # all ones (kat_vectors: threefry2x32_20 ffffffff ...): 1cb996fc bb002be7.
  ones = jnp.uint32(0xFFFFFFFF)
  x0, x1 = threefry.threefry_2x32(ones, ones, ones, ones)
  assert (int(x0), int(x1)) == (0x1CB996FC, 0xBB002BE7)


def test_draws_equal_jax_under_jit_and_vmap():
  keys = jax.random.split(jax.random.key(3), 16)
  fused = threefry.fused_keys(keys)
  draws = {
      'bernoulli': lambda k: jax.random.bernoulli(k, 0.7, (9, 9, 4)),
      'uniform': lambda k: jax.random.uniform(k, (33,), minval=-1.0, maxval=1.0),
      'normal': lambda k: jax.random.normal(k, (100,)),
      'truncated_normal': lambda k: jax.random.truncated_normal(k, -0.5, 0.5, (10,)),
      'split_then_normal': lambda k: jax.random.normal(jax.random.split(k)[1], (5,)),
      'fold_in_then_uniform': lambda k: jax.random.uniform(jax.random.fold_in(k, 7), (6,)),
  }
  for name, draw in draws.items():
    # Both jitted: XLA may round the float transforms otherwise than eager.
    draw = jax.jit(jax.vmap(draw))
    np.testing.assert_array_equal(draw(fused), draw(keys), err_msg=name)


def test_raw_keys_and_other_implementations():
  raw = jax.random.PRNGKey(11)
  fused = threefry.fused_keys(raw)
  assert jax.random.key_impl(fused) == threefry.FUSED_THREEFRY
  np.testing.assert_array_equal(jax.random.normal(fused, (50,)),
                                jax.random.normal(raw, (50,)))
  rbg = jax.random.key(0, impl='rbg')
  assert threefry.fused_keys(rbg) is rbg


def test_non_partitionable_and_other_widths_are_jax_own():
  key = jax.random.key(5)
  for dtype in (jnp.uint8, jnp.uint16, jnp.uint64):
    if jnp.dtype(dtype).itemsize == 8 and not jax.config.jax_enable_x64:
      continue
    np.testing.assert_array_equal(jax.random.bits(threefry.fused_keys(key), (13,), dtype),
                                  jax.random.bits(key, (13,), dtype))
  before = jax.config.jax_threefry_partitionable
  try:
    jax.config.update('jax_threefry_partitionable', not before)
    np.testing.assert_array_equal(jax.random.bits(threefry.fused_keys(key), (4, 6)),
                                  jax.random.bits(key, (4, 6)))
  finally:
    jax.config.update('jax_threefry_partitionable', before)


def test_example_dropout_masks_unchanged(monkeypatch):
  """ExampleDropout's masks on the fused per-example keys equal those JAX
  draws from the plain ones."""
  x = jnp.ones((8, 5, 5, 3))
  drop = jax.jit(lambda key: layers.ExampleDropout(0.3).apply(
      {}, x, deterministic=False, rngs={'dropout': key}))
  fused = drop(jax.random.key(0))
  monkeypatch.setattr(threefry, 'fused_keys', lambda keys: keys)
  plain = jax.jit(lambda key: layers.ExampleDropout(0.3).apply(
      {}, x, deterministic=False, rngs={'dropout': key}))(jax.random.key(0))
  np.testing.assert_array_equal(fused, plain)
  assert 0.5 < float((plain > 0).mean()) < 0.9
