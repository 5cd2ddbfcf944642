"""Where a run's numbers and pictures go: TensorBoard, metrics.jsonl, PNGs."""
import json
import os
from typing import Dict, Mapping

import numpy as np
from PIL import Image
import tensorflow as tf


def image_grid(images: np.ndarray, rows: int = 8) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> uint8 grid [rows*H, (N/rows)*W, C]."""
  n, h, w, c = images.shape
  cols = n // rows
  x = np.clip((np.asarray(images[:rows * cols], np.float32) + 1.0) * 127.5, 0, 255)
  x = x.astype(np.uint8).reshape(rows, cols, h, w, c)
  return x.transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def save_png(grid: np.ndarray, path: str) -> None:
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


class MetricWriter:
  """Scalars to TensorBoard and to `metrics.jsonl` (one object per step);
  images to TensorBoard and as PNG files under `samples/`."""

  def __init__(self, workdir: str, resume_step: int = 0):
    self._jsonl_path = os.path.join(workdir, 'metrics.jsonl')
    self._samples_dir = os.path.join(workdir, 'samples')
    os.makedirs(self._samples_dir, exist_ok=True)
    self._drop_records_after(resume_step)
    self._tb = tf.summary.create_file_writer(os.path.join(workdir, 'tensorboard'))

  def _drop_records_after(self, step: int) -> None:
    # Records past the checkpoint a run resumes from are logged again by the
    # resumed run; keep one record per step.
    if not os.path.exists(self._jsonl_path):
      return
    with open(self._jsonl_path) as f:
      records = [line for line in f if line.strip()]
    kept = [r for r in records if json.loads(r)['step'] <= step]
    if len(kept) != len(records):
      tmp = self._jsonl_path + '.tmp'
      with open(tmp, 'w') as f:
        f.writelines(kept)
      os.replace(tmp, self._jsonl_path)

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    record = {'step': int(step), **{k: float(v) for k, v in scalars.items()}}
    with open(self._jsonl_path, 'a') as f:
      f.write(json.dumps(record) + '\n')
    with self._tb.as_default():
      for key, value in scalars.items():
        tf.summary.scalar(key, value, step=step)

  def write_grid(self, step: int, grid: np.ndarray) -> str:
    path = os.path.join(self._samples_dir, f'step_{step:07d}.png')
    save_png(grid, path)
    with self._tb.as_default():
      tf.summary.image('samples', grid[None], step=step)
    return path

  def flush(self) -> None:
    self._tb.flush()


def read_metrics(workdir: str) -> list:
  """The records of `workdir/metrics.jsonl`, in order."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


def format_metrics(scalars: Dict[str, float]) -> str:
  keys = ('loss_d', 'loss_g', 'd_real', 'd_fake')
  return ' '.join(f'{k} {scalars[k]:.4f}' for k in keys if k in scalars)
