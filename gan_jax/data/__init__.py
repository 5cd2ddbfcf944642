"""Data sets by name, one module per family (TFDS image sets, 2-D mixtures,
Stacked MNIST), and the batches of each step."""
