"""JAX's Threefry-2x32 random bits, bit for bit, in a form XLA:CPU fuses.

On the CPU, JAX lowers the Threefry-2x32 hash (Salmon et al. 2011, "Parallel
random numbers: as easy as 1, 2, 3", Threefry-2x32 with 20 rounds) as a loop
of five iterations over whole arrays, which keeps compilation small but
writes and reads every intermediate array to memory. Written out as
straight-line element-wise code, XLA fuses the 20 rounds into one pass
(`python benchmarks/cpu_forms.py` times the DCGAN 28x28 discriminator's
dropout masks both ways; `tests/models/threefry_test.py` checks the bits).

`fused_keys(keys)` re-labels threefry keys with the PRNG implementation
`FUSED_THREEFRY`: the same key data, seeding, `split` and `fold_in` as JAX's
`threefry2x32`, and 32-bit `random_bits` computed here. `jax.random.uniform`,
`normal`, `bernoulli` ... on the re-labelled keys then return exactly what
they return on the original keys (their float transforms are JAX's own; only
the bits come from here). This holds under `jax_threefry_partitionable`
(JAX's default), whose bits this module writes out; with that flag off, and
for 8-, 16- and 64-bit draws, the bits are JAX's own function (so under
`jax_enable_x64` the default float64 draws gain nothing).
"""
import jax
import jax.extend.random as jax_random
import jax.numpy as jnp
import numpy as np
from jax import lax

# Threefry-2x32's rotation distances (Salmon et al. 2011, Table 4) and key
# schedule parity constant, as in JAX's `threefry2x32` primitive.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotate_left(x: jax.Array, d: int) -> jax.Array:
  return lax.shift_left(x, np.uint32(d)) | lax.shift_right_logical(x, np.uint32(32 - d))


def threefry_2x32(k1: jax.Array, k2: jax.Array, x0: jax.Array,
                  x1: jax.Array) -> tuple:
  """The Threefry-2x32 hash (20 rounds) of the counter pairs (x0, x1) under
  the key (k1, k2); uint32 arrays that broadcast together; a pair of uint32
  arrays of the broadcast shape, equal to JAX's `threefry2x32` primitive."""
  keys = (k1, k2, k1 ^ k2 ^ _PARITY)
  x0 = x0 + keys[0]
  x1 = x1 + keys[1]
  for i in range(5):
    for distance in _ROTATIONS[i % 2]:
      x0 = x0 + x1
      x1 = x0 ^ _rotate_left(x1, distance)
    x0 = x0 + keys[(i + 1) % 3]
    x1 = x1 + keys[(i + 2) % 3] + np.uint32(i + 1)
  return x0, x1


_threefry = jax_random.threefry_prng_impl


def _random_bits(key_data: jax.Array, bit_width: int, shape) -> jax.Array:
  """uint32 `shape` of random bits from one key's data (uint32 [2]), as
  JAX's partitionable Threefry draws them: element i (row-major) hashes the
  64-bit counter i and XORs the two words."""
  size = int(np.prod(shape))
  if (bit_width != 32 or not jax.config.jax_threefry_partitionable
      or size >= 2**32):
    return _threefry.random_bits(key_data, bit_width, shape)
  counter = lax.iota(np.uint32, size).reshape(shape)
  high, low = threefry_2x32(key_data[0], key_data[1], jnp.zeros_like(counter), counter)
  return high ^ low


FUSED_THREEFRY = jax_random.define_prng_impl(
    key_shape=_threefry.key_shape, seed=_threefry.seed, split=_threefry.split,
    random_bits=_random_bits, fold_in=_threefry.fold_in,
    name='fused_threefry2x32', tag='ftf')


def fused_keys(keys: jax.Array) -> jax.Array:
  """`keys` (typed threefry keys, or raw uint32 [..., 2] key data of JAX's
  default threefry implementation), any batch shape, as typed keys of
  `FUSED_THREEFRY`: every `jax.random` draw from them equals the draw from
  `keys`. Keys of another implementation are returned as they are."""
  if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
    if jax.random.key_impl(keys) != 'threefry2x32':
      return keys
    data = jax.random.key_data(keys)
  elif jax.config.jax_default_prng_impl == 'threefry2x32':
    data = keys
  else:
    return keys
  return jax.random.wrap_key_data(data, impl=FUSED_THREEFRY)
