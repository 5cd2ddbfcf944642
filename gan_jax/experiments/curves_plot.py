"""A sweep's curves: the mean over seeds of a metric against the step, per
variant, the band spanning the seeds; one panel per section."""
from typing import Sequence

from absl import logging
import numpy as np

from gan_jax.experiments.variants import Section
from gan_jax.workdir import atomic

def plot(path: str, parts: Sequence[Section], metric: str) -> bool:
  """Mean over seeds of `metric` vs step per variant, the band spanning the
  seeds (at the steps every seed logged); one panel per section, the legend
  beside it. False if matplotlib is missing."""
  try:
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
  except ImportError:
    logging.warning('matplotlib is not installed (pip install matplotlib): no plot')
    return False
  fig, axes = plt.subplots(len(parts), 1, figsize=(11, 4.5 * len(parts)),
                           squeeze=False)
  for ax, (title, variants, labels) in zip(axes[:, 0], parts):
    for v in variants:
      curves = [dict(r.curves.get(metric, [])) for r in v.runs if r.diverged_at is None]
      steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
      if not steps:
        continue
      values = np.array([[c[s] for s in steps] for c in curves], np.float64)
      line, = ax.plot(steps, values.mean(0), marker='.' if len(steps) < 3 else None,
                      label=f'{labels[v.name]} (n={len(curves)})')
      if len(curves) > 1:
        ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2,
                        color=line.get_color())
    ax.set_xlabel('step')
    ax.set_ylabel(metric)
    ax.set_title(f'{title + ": " if title else ""}{metric}, mean over seeds; '
                 'band: min to max', fontsize='small')
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend(fontsize='x-small', loc='upper left', bbox_to_anchor=(1.01, 1.0))
  fig.tight_layout()
  with atomic.replace(path, 'wb') as f:
    fig.savefig(f, dpi=120, format='png')
  plt.close(fig)
  return True
