"""What the synthetic sets (the 2-D mixtures, Stacked MNIST) share: their
size and the random stream they are drawn from.

Each set is a pure function of `config.data`: `data.seed` seeds the draw
(configs/mog_ring.py ties it to `seed`), and `data.num_examples` sizes it
(0: the paper's size).
"""

import ml_collections
import numpy as np

from gan_jax.errors import ConfigError


# Training-set sizes of PacGAN's code (fjxmlzn/PacGAN configs: num_sample,
# num_training_sample), which follows VEEGAN.
DEFAULT_NUM_EXAMPLES = {'mog_ring': 100_000, 'mog_grid': 100_000,
                        'stacked_mnist': 128_000}


# Folded into the seed so that a synthetic set and the batch order
# (batching's permutations, seeded [seed, epoch]) are independent.
_DATA_STREAM = 0xDA7A


def rng(data_config: ml_collections.ConfigDict) -> np.random.Generator:
  return np.random.default_rng([_DATA_STREAM, data_config.seed])


def num_examples(data_config: ml_collections.ConfigDict) -> int:
  """N of a synthetic set: data.num_examples, or the paper's when 0."""
  n = data_config.num_examples or DEFAULT_NUM_EXAMPLES[data_config.dataset]
  if n < 1:
    raise ConfigError(f'config.data.num_examples must be >= 1, got {n}')
  return n
