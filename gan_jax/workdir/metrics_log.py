"""A run's numbers as it trains: scalars to TensorBoard and `metrics.jsonl`
(one JSON object per logged step), sample pictures under `samples/`; and
reading `metrics.jsonl` back."""
import json
import os
from typing import Dict, List, Mapping, Optional, Tuple

from absl import logging
import numpy as np
# TFDS's lazy TensorFlow (tf.summary, TensorBoard's event files): imported by
# the first MetricWriter, so that modules which only import this one (e.g.
# gan_jax.benchmark's) run where TensorFlow is not installed.
from tensorflow_datasets.core.utils.lazy_imports_utils import tensorflow as tf

from gan_jax.errors import GanJaxError
from gan_jax.sampling import pictures
from gan_jax.workdir import atomic


class MetricWriter:
  """Scalars to TensorBoard and to `metrics.jsonl` (one object per step);
  images to TensorBoard and as PNG files under `samples/`."""

  def __init__(self, workdir: str, resume_step: int = 0):
    self._jsonl_path = os.path.join(workdir, 'metrics.jsonl')
    self._samples_dir = os.path.join(workdir, 'samples')
    os.makedirs(self._samples_dir, exist_ok=True)
    self.truncate(resume_step)
    self._tb = tf.summary.create_file_writer(os.path.join(workdir, 'tensorboard'))

  def truncate(self, step: int) -> None:
    """Drops the metrics.jsonl records after `step` (`drop_records_after`)."""
    drop_records_after(os.path.dirname(self._jsonl_path), step)

  def write_scalars(self, step: int, scalars: Mapping[str, float],
                    prefix: str = '', extra: Optional[Mapping[str, object]] = None) -> None:
    """One metrics.jsonl record {step, **scalars, **extra}; TensorBoard tags
    get `prefix` (e.g. 'eval/' groups the quality metrics in their own
    panel). `extra`: JSON values for the record only (an evaluation's
    protocol)."""
    record = {'step': int(step), **{k: float(v) for k, v in scalars.items()},
              **(extra or {})}
    try:
      with open(self._jsonl_path, 'a') as f:
        f.write(json.dumps(record) + '\n')
    except OSError as e:   # a record cut short is dropped on resume
      raise atomic.OutputError(
          f'could not append to {self._jsonl_path} ({e.strerror or e}); the run\'s '
          'checkpoints are intact: free space and run the same command to resume') from None
    with self._tb.as_default():
      for key, value in scalars.items():
        tf.summary.scalar(prefix + key, value, step=step)

  def write_grid(self, step: int, grid: np.ndarray) -> str:
    path = os.path.join(self._samples_dir, f'step_{step:07d}.png')
    pictures.save_png(grid, path)
    with self._tb.as_default():
      tf.summary.image('samples', grid[None], step=step)
    return path

  def flush(self) -> None:
    self._tb.flush()


def drop_records_after(workdir: str, step: int) -> None:
  """Drops the records of `<workdir>/metrics.jsonl` after `step`: a run that
  resumes (or rolls back) to `step` logs those steps again; keep one record
  per step. A torn last record (a crash mid-write) is dropped too."""
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return
  with open(path) as f:
    text = f.read()
  lines = [line + '\n' for line in text.splitlines() if line.strip()]
  records, torn = parse_records(lines, path)
  if torn:
    logging.warning('Dropped the torn last record of %s (a write cut short by a '
                    'crash): %.80s', path, torn)
  kept = [line for line, record in zip(lines, records) if record['step'] <= step]
  # Rewritten also when a crash cut the last record before its newline:
  # the next record would be appended to the same line.
  if len(kept) != len(lines) or not text.endswith('\n'):
    with atomic.replace(path) as f:
      f.writelines(kept)


def parse_records(lines: List[str], path: str) -> Tuple[List[dict], Optional[str]]:
  """(records, torn last line or None) of metrics.jsonl's non-blank lines.

  Records are appended one line at a time, so a crash can leave only the
  last one half written: it is returned apart. Raises GanJaxError for an
  unreadable line before the last (the file was edited).
  """
  records = []
  for i, line in enumerate(lines):
    try:
      records.append(json.loads(line))
    except ValueError:
      if i == len(lines) - 1:
        return records, line.strip()
      raise GanJaxError(f'{path} line {i + 1} is not a JSON record ({line.strip()[:60]!r}); '
                        'fix or delete that line, then rerun') from None
  return records, None


def read_metrics(workdir: str) -> list:
  """The records of `workdir/metrics.jsonl`, in order (a torn last record,
  e.g. of a run being written, left out)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  with open(path) as f:
    return parse_records([line for line in f if line.strip()], path)[0]


def format_metrics(scalars: Dict[str, float]) -> str:
  keys = ('loss_d', 'loss_g', 'd_real', 'd_fake')
  return ' '.join(f'{k} {scalars[k]:.4f}' for k in keys if k in scalars)
