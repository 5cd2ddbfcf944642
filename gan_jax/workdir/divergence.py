"""`<workdir>/diverged.json`: the record of a run that stopped on a
non-finite value. In an ablation, divergence is the run's result (a rerun
of the same config diverges the same way), so sweeps and reports read it."""
import json
import os
from typing import Optional

from gan_jax.workdir import atomic


DIVERGED_FILE = 'diverged.json'


def record_divergence(workdir: str, step: int, message: str) -> None:
  """Writes `<workdir>/diverged.json`: {"step": the first step with a
  non-finite value, "message": what was non-finite}. Atomic."""
  atomic.write_json(os.path.join(workdir, DIVERGED_FILE),
                    {'step': int(step), 'message': message})


def read_divergence(workdir: str) -> Optional[dict]:
  """The record `record_divergence` wrote in `workdir`, or None."""
  try:
    with open(os.path.join(workdir, DIVERGED_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def clear_divergence(workdir: str) -> None:
  """Removes the record (a run trains again: its outcome is open)."""
  try:
    os.remove(os.path.join(workdir, DIVERGED_FILE))
  except FileNotFoundError:
    pass
