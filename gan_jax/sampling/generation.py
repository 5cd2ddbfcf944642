"""Samples of a trained run's generator, as `python -m gan_jax.generate`
writes them: `check_out` refuses a bad output path before any work,
`generate(workdir, ...)` restores a checkpoint (the restore path of
`gan_jax.evaluate`) and returns `Generated` (samples and their codes z),
`write` saves them as a PNG picture or an .npz of arrays (samples, z, and
labels for a class-conditional run).

By default the codes are those of the run's own evaluations
(`sampler.latent_key(config.seed)`, drawn by `sampler.latent_chunks`):
the first N samples are exactly the ones `gan_jax.evaluate` scores.
"""
import dataclasses
import math
import os
from typing import Optional

import jax
import ml_collections
import numpy as np

from gan_jax.sampling import latent_space
from gan_jax.errors import GanJaxError
from gan_jax.sampling import sampler as sampler_lib
from gan_jax.data import datasets
from gan_jax.data import mixtures
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.sampling import pictures
from gan_jax.sampling import restore as restore_lib
from gan_jax.workdir import atomic

OUT_FORMATS = ('.png', '.npz')
# Folded into the latent key for the truncation trick's redraws.
_TRUNCATION = 0x7C0


@dataclasses.dataclass
class Generated:
  """What `generate` made. `samples` float32 [N, ...] in the model's units
  (images in [-1, 1], NHWC; 2-D points for the mixtures); `z` float32
  [N, latent_dim] their codes; with `interpolate` K, N = num_samples * K,
  row i's path from its first to its last code at [i K, (i + 1) K).
  `labels` int32 [N] for a class-conditional run's --class, else None."""
  samples: np.ndarray
  z: np.ndarray
  labels: Optional[np.ndarray]
  rows: int                     # rows of the PNG grid
  step: Optional[int]           # the checkpoint's training step
  config: ml_collections.ConfigDict


def check_out(out: str) -> str:
  """The format of output path `out`, '.png' or '.npz'. Raises GanJaxError
  for another extension or a folder that is missing or not writable (before
  anything is computed or written)."""
  ext = os.path.splitext(out)[1].lower()
  if ext not in OUT_FORMATS:
    raise GanJaxError(f"--out must end in .png (a picture) or .npz (the arrays "
                      f"samples and z), got '{out}'")
  folder = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(folder):
    raise GanJaxError(f'--out: the folder {folder} does not exist; create it first')
  if not os.access(folder, os.W_OK | os.X_OK):
    raise GanJaxError(f'--out: the folder {folder} is not writable')
  if os.path.isdir(out):
    raise GanJaxError(f'--out: {out} is a folder; name a .png or .npz file')
  return ext


def check_class(config: ml_collections.ConfigDict, workdir: str,
                label: Optional[int]) -> None:
  """Raises GanJaxError for a --class the run cannot take: any class for an
  unconditional run (config.model.num_classes missing or 0), or one out of
  [0, num_classes). (A class-conditional run without --class samples its
  classes in turn: `default_labels`.)"""
  num_classes = int(config.model.num_classes or 0)
  if label is None:
    return
  if num_classes <= 0:
    raise GanJaxError(f'--class={label}: the run in {workdir} is unconditional '
                      '(config.model.num_classes is 0); leave --class out')
  if not 0 <= label < num_classes:
    raise GanJaxError(f'--class must be in [0, {num_classes}) for this run, got {label}')


def sample_codes(key: jax.Array, num_samples: int, latent_dim: int,
                 distribution: str = 'normal',
                 truncation: Optional[float] = None) -> jax.Array:
  """The evaluation's codes of `key` (`sampler.latent_chunks`: whole
  chunks of 1,000, at least num_samples rows), truncated to [-psi, psi] by
  `latent_space.truncate` when `truncation` is psi."""
  z = sampler_lib.latent_chunks(key, num_samples, latent_dim, distribution)
  if truncation is not None:
    z = latent_space.truncate(jax.random.fold_in(key, _TRUNCATION), z, truncation,
                              distribution)
  return z


def interpolation_codes(key: jax.Array, rows: int, steps: int, latent_dim: int,
                        distribution: str = 'normal',
                        truncation: Optional[float] = None) -> jax.Array:
  """[rows * steps, latent_dim]: for each row a path of `steps` codes
  (`latent_space.interpolate`: slerp for Gaussian z, linear for uniform)
  from code i to code rows + i of `sample_codes(key, 2 rows, ...)`. With
  `truncation`, the end codes are truncated; slerp's weights sum to more than
  1 between them (sqrt(2) at right angles), so a path's inner codes may leave
  [-psi, psi] by that factor, as in BigGAN's interpolations."""
  ends = sample_codes(key, 2 * rows, latent_dim, distribution, truncation)
  paths = latent_space.interpolate(ends[:rows], ends[rows:2 * rows], steps, distribution)
  return paths.reshape(rows * steps, latent_dim)


def default_labels(num_classes: int, n: int, interpolate: int = 0) -> np.ndarray:
  """The classes of n samples of a class-conditional G asked for none in
  particular, int32 [n]: the evaluation's (`sampler.evaluation_labels`,
  sample i of class i mod num_classes), so the first n samples are the
  evaluated ones; with `interpolate` K, one class per row of K (row i of
  class i mod num_classes), so a path changes only its code."""
  if interpolate:
    return np.repeat(sampler_lib.evaluation_labels(num_classes, n // interpolate),
                     interpolate)
  return sampler_lib.evaluation_labels(num_classes, n)


def grid_rows(n: int) -> int:
  """Rows of a PNG grid of n samples: the largest divisor of n that is at
  most sqrt(n), so the grid is as square as n allows and holds every
  sample (8 for 64, 5 x 10 for 50, one row for a prime)."""
  return max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)


def _check_request(config: ml_collections.ConfigDict, workdir: str, num_samples: int,
                   params: str, bn_stats: Optional[str], label: Optional[int]) -> str:
  """Raises GanJaxError for a bad request; returns the batch-norm mode."""
  if num_samples < 1:
    raise GanJaxError(f'--num_samples must be >= 1, got {num_samples}')
  if params not in protocol_lib.GENERATOR_PARAMS:
    raise GanJaxError(f"--params must be ema or raw, got '{params}'")
  bn_stats = bn_stats or config.eval.bn_stats
  if bn_stats not in protocol_lib.BN_STATS:
    raise GanJaxError(f"--bn_stats must be batch or running, got '{bn_stats}'")
  check_class(config, workdir, label)
  return bn_stats


def _codes(config: ml_collections.ConfigDict, seed: Optional[int], num_samples: int,
           truncation: Optional[float], interpolate: int):
  """(z [>= n, latent_dim], n samples, PNG rows) of a request."""
  distribution = config.model.latent_distribution
  key = sampler_lib.latent_key(config.seed if seed is None else seed)
  latent_dim = config.model.latent_dim
  if interpolate:
    z = interpolation_codes(key, num_samples, interpolate, latent_dim, distribution,
                            truncation)
    return z, num_samples * interpolate, num_samples
  z = sample_codes(key, num_samples, latent_dim, distribution, truncation)
  return z, num_samples, grid_rows(num_samples)


# Floats `generate` may hold: 4 GB of samples.
_MAX_FLOATS = 2 ** 30


def _check_size(config: ml_collections.ConfigDict, n: int) -> None:
  """Refuses a request for more samples than fit in memory (GanJaxError)."""
  shape = datasets.example_shape(config.data, datasets.stored_shape(config.data))
  floats = n * (int(np.prod(shape)) + config.model.latent_dim)
  if floats > _MAX_FLOATS:
    raise GanJaxError(f'--num_samples: {n:,} samples of shape {tuple(shape)} would take '
                      f'{4 * floats / 2 ** 30:.0f} GB; ask for at most '
                      f'{n * _MAX_FLOATS // floats:,} (with --class and batch statistics '
                      'each sample is drawn among one of every class)')


def generate(workdir: str, num_samples: int, checkpoint: str = 'best',
             params: str = 'ema', bn_stats: Optional[str] = None,
             seed: Optional[int] = None, truncation: Optional[float] = None,
             interpolate: int = 0, label: Optional[int] = None) -> Generated:
  """Samples of G at `checkpoint` (best | latest | a step | init) of the run
  in `workdir`: its `params` (ema | raw), batch norm by `bn_stats` (batch |
  running; default the run's config.eval.bn_stats), codes of
  `sampler.latent_key(seed)` (default the run's seed: the codes its
  evaluations use), truncated to [-truncation, truncation] when given.

  `interpolate` K >= 2: num_samples rows of K codes, each row from one code
  to another (slerp for Gaussian z, linear for uniform). G sees the codes in
  chunks of 1,000: with batch norm by batch statistics each sample depends
  on the others of its chunk (an interpolation's too). `label`: every
  sample's class (G's `labels`) for a class-conditional run, each drawn,
  with batch statistics, among samples of the evaluation's class mix (the
  class-`label` samples of num_samples x num_classes drawn with the classes
  in turn); without it such a run samples its classes in turn
  (`default_labels`).

  Raises GanJaxError for a bad request (checked before the checkpoint is
  read) or a workdir without the checkpoint.
  """
  restore_lib.check_checkpoint_name(checkpoint)
  config = restore_lib.load_run_config(workdir)
  bn_stats = _check_request(config, workdir, num_samples, params, bn_stats, label)
  num_classes = int(config.model.num_classes)
  # With batch statistics, a sample of class K is drawn inside a batch with
  # the evaluation's class mix (classes in turn) and picked out of it: a
  # batch of class K alone would normalise G's features by other statistics
  # than those it trained and is evaluated with.
  mixed = label is not None and bn_stats == 'batch'
  drawn = num_samples * num_classes if mixed else num_samples
  _check_size(config, drawn * max(interpolate, 1))
  # The codes before the checkpoint: a bad --truncation or --interpolate stops here.
  z, n, rows = _codes(config, seed, drawn, truncation, interpolate)
  gan, state, step = restore_lib.restore_run(workdir, config, checkpoint)
  apply = jax.jit(sampler_lib.generator_apply(gan, bn_stats))
  labels = None
  if label is not None and not mixed:
    labels = np.full((n,), label, np.int32)
  elif gan.num_classes:
    labels = default_labels(gan.num_classes, n, interpolate)
  samples = sampler_lib.apply_in_chunks(
      apply, restore_lib.generator_params(state, params), state.g_batch_stats,
      z, None if labels is None else np.resize(labels, len(z)))
  keep = np.arange(n)
  if mixed:
    keep = np.flatnonzero(labels == label)
    labels = labels[keep]
    rows = num_samples if interpolate else grid_rows(num_samples)
  return Generated(samples=np.asarray(samples[keep], np.float32),
                   z=np.asarray(z[keep], np.float32), labels=labels, rows=rows,
                   step=step, config=config)


def render(generated: Generated) -> np.ndarray:
  """The PNG picture, uint8 [H, W, C]: images as a grid of `rows` rows (an
  interpolation's paths one per row); 2-D points as the training-time
  scatter plot over the mixture's mode centres (`pictures.scatter_plot`)."""
  samples, config = generated.samples, generated.config
  if samples.ndim == 4:
    return pictures.image_grid(*_rows_per_class(generated))
  centers = (mixtures.mixture(config.data)[0]
             if config.data.dataset in datasets.MIXTURES else None)
  return pictures.render_samples(samples, centers)


def _rows_per_class(generated: Generated):
  """(images, rows) of the PNG grid: a class-conditional G's samples of the
  classes in turn (sample i of class i mod K, a multiple of K of them) are
  regrouped so that row c holds class c, as the training-time grids;
  otherwise the samples and `rows` as they are."""
  samples, labels = generated.samples, generated.labels
  if labels is None:
    return samples, generated.rows
  k = int(generated.config.model.num_classes or 0)
  n = len(samples)
  if (k < 2 or n % k or not
      np.array_equal(labels, sampler_lib.evaluation_labels(k, n))):
    return samples, generated.rows
  return samples.reshape((n // k, k) + samples.shape[1:]).swapaxes(0, 1).reshape(
      samples.shape), k


def write(out: str, generated: Generated) -> None:
  """Writes `generated` to `out`: .png the picture (`render`), .npz the
  arrays samples, z (and labels for a class-conditional run)."""
  if check_out(out) == '.png':
    pictures.save_png(render(generated), out)
    return
  arrays = dict(samples=generated.samples, z=generated.z)
  if generated.labels is not None:
    arrays['labels'] = generated.labels
  with atomic.replace(out, 'wb') as f:  # np.savez would append .npz to other names
    np.savez(f, **arrays)
