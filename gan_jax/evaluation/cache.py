"""Where the evaluators keep what they compute or fetch once (trained
classifiers, the FID Inception's weights, reference statistics)."""
import os
from typing import Optional


def root(explicit: Optional[str] = None) -> str:
  """The absolute cache root: `explicit` (config.eval.classifier_dir), else
  $GAN_JAX_CACHE, else ~/.cache/gan_jax."""
  chosen = (explicit or os.environ.get('GAN_JAX_CACHE')
            or os.path.join(os.path.expanduser('~'), '.cache', 'gan_jax'))
  return os.path.abspath(chosen)
