"""SNGAN on STL-10 at 48x48 (Miyato et al. 2018, Table 2; the unlabelled
split's 100,000 images resized from 96x96 as the paper does, and the recipe
of torch_mimicry's STL-10 SNGAN).

The 48x48 ResNets of gan_jax/models/resnet.py: G z=128 -> 6x6x512 ->
up-blocks 256, 128, 64; D blocks 64 to 1024 with spectral normalisation (G
4,878,083 and D 10,141,441 trainable parameters). Recipe as
configs/cifar10_sngan.py: hinge loss, n_critic 5, Adam 2e-4 beta=(0, 0.9),
linear decay to 0, D's batch 64 and G's 128, 100,000 G steps. The split is
shrunk to 48x48 once, as it is read (antialiased bilinear; 691 MB in memory).
"""
from configs import cifar10_sngan


def get_config():
  config = cifar10_sngan.get_config()
  config.data.dataset = 'stl10'
  config.data.split = 'unlabelled'
  config.data.image_size = 48
  # FID's reference is the split trained on, as CIFAR-10's is its training split.
  config.eval.reference_split = 'unlabelled'
  return config
