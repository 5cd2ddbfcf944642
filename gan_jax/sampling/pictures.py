"""Pictures of generated samples, numpy only: image grids ([-1, 1] -> uint8)
and scatter plots of 2-D points over the mixture's mode centres; PNG files."""
from typing import Optional

import numpy as np
from PIL import Image

from gan_jax.workdir import atomic


def to_uint8(images) -> np.ndarray:
  """[-1, 1] -> uint8 [0, 255], rounded to the nearest level: the inverse of
  the input pipeline's x / 127.5 - 1 (data/batching.preprocess), so a real
  image comes back at the exact levels it was read at (truncation would
  darken some by one)."""
  x = (np.asarray(images, np.float32) + 1.0) * 127.5
  return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, rows: int = 8) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> uint8 grid [rows*H, (N/rows)*W, C]."""
  n, h, w, c = images.shape
  cols = n // rows
  x = to_uint8(images[:rows * cols]).reshape(rows, cols, h, w, c)
  return x.transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


# Colours of the 2-D scatter plots (RGB).
_BACKGROUND = (255, 255, 255)
_AXES = (215, 215, 215)
_CENTER = (255, 170, 170)
_POINT = (20, 20, 90)


def _pixels(points: np.ndarray, extent: float, size: int) -> np.ndarray:
  """Pixel (row, col) int [N, 2] of points in [-extent, extent]²: x grows to
  the right, y upwards; each pixel covers a square of side 2 extent / size."""
  scale = size / (2.0 * extent)
  cols = np.floor((points[:, 0] + extent) * scale)
  rows = np.floor((extent - points[:, 1]) * scale)
  return np.stack([rows, cols], axis=1).astype(np.int64)


def _stamp(canvas: np.ndarray, pixels: np.ndarray, radius: int, color) -> None:
  """Fills a (2 radius + 1)² square at each pixel, clipped to the canvas."""
  size = canvas.shape[0]
  for dr in range(-radius, radius + 1):
    for dc in range(-radius, radius + 1):
      r, c = pixels[:, 0] + dr, pixels[:, 1] + dc
      inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
      canvas[r[inside], c[inside]] = color


def scatter_plot(points: np.ndarray, centers: Optional[np.ndarray] = None,
                 extent: Optional[float] = None, size: int = 512) -> np.ndarray:
  """2-D points [N, 2] -> uint8 RGB image [size, size, 3], numpy only.

  The view is the square [-extent, extent]², fixed by the target rather than
  the samples so that successive pictures of a run are comparable: by
  default 1.25 x the largest centre coordinate (2.5 for the ring, 5 for the
  grid), or 5 without centres; points outside it are not drawn. Points are
  dark 3x3 dots; `centers` [K, 2], if given, are drawn underneath as light
  red 9x9 squares, so an uncovered mode shows as a bare square. Grey lines
  mark the axes.
  """
  if extent is None:
    extent = 5.0 if centers is None else 1.25 * float(np.max(np.abs(centers)))
  canvas = np.empty((size, size, 3), np.uint8)
  canvas[...] = _BACKGROUND
  origin = _pixels(np.zeros((1, 2)), extent, size)[0]
  if 0 <= origin[0] < size:
    canvas[origin[0], :] = _AXES
  if 0 <= origin[1] < size:
    canvas[:, origin[1]] = _AXES
  if centers is not None:
    _stamp(canvas, _pixels(np.asarray(centers, np.float64), extent, size), 4, _CENTER)
  points = np.asarray(points, np.float64)
  points = points[np.all(np.isfinite(points), axis=1)]
  _stamp(canvas, _pixels(points, extent, size), 1, _POINT)
  return canvas


def render_samples(samples: np.ndarray, centers: Optional[np.ndarray] = None,
                   extent: Optional[float] = None, size: int = 512) -> np.ndarray:
  """A picture of generated samples, uint8 [H, W, C].

  Images [N, H, W, C] in [-1, 1] -> `image_grid(samples)`; 2-D points
  [N, 2] -> `scatter_plot(samples, centers, extent, size)`.
  """
  samples = np.asarray(samples)
  if samples.ndim == 4:
    return image_grid(samples)
  if samples.ndim == 2 and samples.shape[1] == 2:
    return scatter_plot(samples, centers, extent, size)
  raise ValueError(f'Expected images [N, H, W, C] or points [N, 2], got '
                   f'{samples.shape}.')


def save_png(grid: np.ndarray, path: str) -> None:
  """Writes uint8 `grid` [H, W, C] as a PNG, whole or not at all
  (workdir/atomic.py). Raises atomic.OutputError when it cannot."""
  with atomic.replace(path, 'wb') as f:
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(f, format='PNG')
