"""SIGTERM/SIGINT turn into a checkpoint at the next step boundary.

Schedulers (Slurm, Kubernetes, preemptible VMs) send SIGTERM before killing a
job. The handler only records the signal; the training loop checks it after
each step, saves, and returns normally, so the process exits 0 and the same
command resumes. A second signal of the same kind gets its usual effect at
once (Ctrl-C twice interrupts a long compilation).
"""
import signal
from typing import Optional


class PreemptionRequest:
  """Context manager that records SIGTERM/SIGINT instead of dying on them."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.signal: Optional[int] = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.signal == signum:
      signal.signal(signum, self._previous[signum])
      signal.raise_signal(signum)
      return
    self.signal = signum

  @property
  def requested(self) -> bool:
    return self.signal is not None

  @property
  def name(self) -> str:
    return signal.Signals(self.signal).name if self.signal else ''

  def __enter__(self):
    for sig in self.SIGNALS:
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False
