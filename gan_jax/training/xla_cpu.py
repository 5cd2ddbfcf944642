"""XLA:CPU settings that pay for these models; set before the backend starts.

jaxlib 0.10-0.11 hands dots, convolutions and element-wise fusions to the
YNNPACK library by default. Measured on the reference models (batch 128,
2-core AMD EPYC, docs/benchmarks.md), its convolutions are the slow part: the
TF-tutorial generator's 5x5 256->128 layer ran at 62 GFLOP/s through YNNPACK
and at 95 through XLA's own kernels, and with only the dots left to YNNPACK
('individual_dot') the whole DCGAN step is 1.2-1.3x faster, the MLP step
1.05x. The flag only concerns the CPU backend, so GPU and TPU runs are
unaffected. XLA aborts on flags it does not know, so it is only set on the
jaxlib versions it was measured with.
"""
import os

from absl import logging
import jaxlib

FLAG = '--xla_cpu_experimental_ynn_fusion_type'
TUNED = 'individual_dot'
_MEASURED_ON = ('0.10.', '0.11.')  # jaxlib versions that have the flag


def tuned_flags(xla_flags: str, jaxlib_version: str = jaxlib.__version__) -> str:
  """`xla_flags` with the tuned library-fusion setting added, unless the user
  set that flag already (theirs wins) or this jaxlib is not one it was
  measured with."""
  if FLAG in xla_flags or not jaxlib_version.startswith(_MEASURED_ON):
    return xla_flags
  return f'{xla_flags} {FLAG}={TUNED}'.strip()


def configure(enabled: bool) -> None:
  """Adds the tuned flag to $XLA_FLAGS (config.xla_cpu_tuning). Must run
  before the first JAX computation: the backend reads $XLA_FLAGS once."""
  if not enabled:
    return
  current = os.environ.get('XLA_FLAGS', '')
  tuned = tuned_flags(current)
  if tuned == current:
    return
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  if xla_bridge.backends_are_initialized():
    logging.warning('config.xla_cpu_tuning: the JAX backend is already '
                    'running; set XLA_FLAGS="%s=%s" before starting Python',
                    FLAG, TUNED)
    return
  os.environ['XLA_FLAGS'] = tuned
