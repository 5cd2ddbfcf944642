"""The names of the data sets gan_jax builds itself (every other name is a
TFDS image set); no JAX or TensorFlow here, for the programs' command lines.
"""
MIXTURES = ('mog_grid', 'mog_ring')   # data/mixtures.py
STACKED_MNIST = 'stacked_mnist'       # data/stacked_mnist.py
SYNTHETIC = MIXTURES + (STACKED_MNIST,)
