"""`<workdir>/eval/`: a run's evaluation reports, one JSON object per file.

`<step>.json` scores the checkpoint of a step under the run's own
evaluation settings; `<step>,<setting>=<value>[,...].json` under other ones
(raw parameters, another batch-norm mode, sample count or latent seed); the
references `data.json` (held-out real data, the floor) and `init.json` (the
untrained generator, the ceiling) belong to no step. evaluation/
checkpoint_eval.py fills them; this module owns the files.
"""
import json
import os
import re
from typing import List, Optional

from gan_jax.workdir import atomic

REPORTS_DIR = 'eval'
_STEP_REPORT = re.compile(r'^(\d+)(,[^/]*)?\.json$')


def reports_dir(workdir: str) -> str:
  return os.path.join(workdir, REPORTS_DIR)


def read_report(path: str) -> Optional[dict]:
  """The report at `path`; None when there is none or it is unreadable."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def write_report(path: str, report: dict) -> None:
  """Writes `report` to `path` atomically: a reader never sees half of it.
  Raises atomic.OutputError when it cannot be written."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  atomic.write_json(path, report, indent=2)


def drop_reports_after(workdir: str, step: int) -> List[str]:
  """Deletes the reports of steps after `step`, under any settings; returns
  their paths. The references (data.json, init.json) are kept."""
  out_dir = reports_dir(workdir)
  names = os.listdir(out_dir) if os.path.isdir(out_dir) else []
  dropped = [os.path.join(out_dir, n) for n in sorted(names)
             if (m := _STEP_REPORT.match(n)) and int(m.group(1)) > step]
  for path in dropped:
    os.remove(path)
  return dropped
