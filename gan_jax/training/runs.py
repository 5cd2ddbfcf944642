"""The host side of each seed a training process runs (`Run`): its config,
data, workdir, checkpoint manager, evaluator and fixed latents, and the
per-step work the loop asks of it (log, samples, evaluation, checkpoint);
`build` makes them, `restore` resumes a group of seeds at one common step.
"""
import copy
import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax.workdir import checkpoints
from gan_jax.evaluation import checkpoint_eval
from gan_jax.evaluation import evaluator as evaluator_lib
from gan_jax.evaluation import evaluators
from gan_jax.sampling import sampler as sampler_lib
from gan_jax.evaluation import protocol as protocol_lib
from gan_jax.errors import ConfigError
from gan_jax.models import layers
from gan_jax.game.state import GAN, GANState, build_gan, create_state, param_count
from gan_jax.data import datasets
from gan_jax.data import mixtures
from gan_jax.sampling import pictures
from gan_jax.sampling import restore as restore_lib
from gan_jax.workdir import metrics_log
from gan_jax.workdir import atomic
from gan_jax.workdir import lock
from gan_jax.workdir import ownership


def _format(results: Mapping[str, float]) -> str:
  return ' '.join(f'{k} {v:.4g}' for k, v in results.items())


def seed_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  # A deep copy keeps the config's references (configs/mog_ring.py's
  # data.seed follows seed), so each seed's config is the one a solo run of
  # `--config.seed=<seed>` would have.
  config = copy.deepcopy(config)
  config.seed = seed
  return config


def fixed_latents(config: ml_collections.ConfigDict, n: int = 64) -> jax.Array:
  # The same codes for the whole run, so successive sample grids compare.
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5A3B1E)
  return layers.sample_latent(key, n, config.model.latent_dim,
                              distribution=config.model.latent_distribution)


# A class-conditional sample grid: one row for each of the first ten classes.
GRID_CLASSES = 10


def grid_labels(num_classes: int, n: int, images: bool = True
                ) -> Tuple[Optional[jax.Array], int]:
  """(labels int32 [n] of the picture's n samples, rows of an image grid).
  Images: row r holds class r, for min(num_classes, GRID_CLASSES) rows of
  n // rows; 2-D points: every class in turn. (None, 8) for an
  unconditional G."""
  if not num_classes:
    return None, 8
  ids = jax.numpy.arange(n, dtype=jax.numpy.int32)
  if not images:
    return ids % num_classes, 1
  rows = min(num_classes, GRID_CLASSES)
  return ids * rows // n, rows


@dataclasses.dataclass
class Run:
  """The host side of one seed: its config, data, outputs and log state, and
  what the loop does for it at a step: log, write samples, evaluate, save."""
  config: ml_collections.ConfigDict
  workdir: str
  label: str                     # 'seed 3 ' in a group's log lines, else ''
  images: np.ndarray             # the whole training set
  manager: Any                   # orbax CheckpointManager
  evaluator: Optional[evaluator_lib.Evaluator]
  latents: jax.Array             # the sample grid's fixed codes
  sample: Callable               # jitted (params, batch_stats, z) -> samples
  centers: Optional[np.ndarray]  # 2-D mixtures: drawn under the samples
  gan: GAN
  labels: Optional[np.ndarray] = None  # class-conditional runs: int32 [N]
  writer: Optional[metrics_log.MetricWriter] = None  # the chief's, once opened
  interval: List[dict] = dataclasses.field(default_factory=list)
  scalars: Dict[str, float] = dataclasses.field(default_factory=dict)
  eval_results: Dict[str, float] = dataclasses.field(default_factory=dict)

  def open_writer(self, step: int) -> None:
    """Starts writing outputs, after the records of steps beyond `step`
    (left by an interrupted run) are dropped."""
    self.writer = metrics_log.MetricWriter(self.workdir, step)

  def restart_at(self, step: int) -> None:
    """Forgets the metrics since the last log, and (the chief) the workdir's
    records and reports after `step`: a rollback redoes those steps."""
    self.interval = []
    if self.writer:
      checkpoints.rewind(self.workdir, step)

  def log(self, step: int, timing: Dict[str, float]) -> None:
    """Logs the means of the metrics of the steps since the last log (in
    `interval`), with the interval's `timing` (steps_per_s, interval_seconds)."""
    scalars = {k: float(np.mean([m[k] for m in self.interval]))
               for k in self.interval[0]}
    self.interval = []
    self.scalars = {**scalars, **timing}
    num_steps = self.config.num_train_steps
    eta = (num_steps - step) / timing['steps_per_s']
    logging.info('%sstep %d/%d (%.1f%%) | %.2f steps/s | ETA %s | %s', self.label,
                 step, num_steps, 100 * step / num_steps, timing['steps_per_s'],
                 time.strftime('%H:%M:%S', time.gmtime(eta)),
                 metrics_log.format_metrics(self.scalars))
    if self.writer:
      self.writer.write_scalars(step, self.scalars)

  def write_samples(self, step: int, state: GANState) -> None:
    """The fixed latents' samples of G's EMA parameters, as a PNG grid (a
    scatter over the mode centres for 2-D data)."""
    if not self.writer:
      return
    labels, rows = grid_labels(self.gan.num_classes, len(self.latents),
                               images=len(self.gan.image_shape) == 3)
    samples = np.asarray(self.sample(state.ema_g_params, state.g_batch_stats,
                                     self.latents, labels))
    # A class-conditional grid has one row per class (the first ten).
    picture = (pictures.image_grid(samples, rows) if labels is not None and
               samples.ndim == 4 else pictures.render_samples(samples, self.centers))
    path = self.writer.write_grid(step, picture)
    logging.info('Wrote samples to %s', path)

  def evaluate(self, step: int, state: GANState) -> None:
    """Scores G (config.eval.params: EMA or raw) with the run's evaluator, on
    the same latent draws at every evaluation; with config.eval.also_params,
    the other G too, on the same draws, into its own report (never used to
    pick the best checkpoint)."""
    config = self.config
    results, seconds = self._score(state, config.eval.params)
    results['eval_seconds'] = seconds
    self.eval_results = results
    logging.info('%seval at step %d: %s', self.label, step, _format(results))
    if self.writer:
      # Seeds trained together share one evaluator: the latent seed is this run's.
      protocol = dict(self.evaluator.protocol, latent_seed=config.seed)
      self.writer.write_scalars(step, results, prefix='eval/', extra={'protocol': protocol})
    also = config.eval.also_params
    if also:
      results, seconds = self._score(state, also)
      logging.info('%seval at step %d (%s G): %s', self.label, step, also,
                   _format(results))
      if self.writer:
        checkpoint_eval.write_loop_report(self.workdir, config, self.evaluator, step,
                                          also, results, seconds)

  def _score(self, state: GANState, params: str) -> Tuple[Dict[str, float], float]:
    """(the evaluator's metrics of G's `params`, 'ema' or 'raw'; seconds)."""
    config = self.config
    start = time.perf_counter()
    g_params = restore_lib.generator_params(state, params)
    sample = sampler_lib.generator_sampler(self.gan, g_params, state.g_batch_stats,
                                             config.model.latent_dim,
                                             config.eval.bn_stats,
                                             config.model.latent_distribution)
    results = self.evaluator(sample, sampler_lib.latent_key(config.seed))
    return results, time.perf_counter() - start

  def save(self, step: int, state: GANState) -> None:
    """A checkpoint of `state`, ranked by the last logged and evaluated values."""
    checkpoints.save(self.manager, step, state, {**self.scalars, **self.eval_results})

  def abandon(self) -> None:
    """Stops the run's writers after an error, quietly: orbax's threads are
    shut down now rather than at the interpreter's exit (where they print
    tracebacks after gan_jax's one-line error), and the workdir is given up."""
    try:
      self.manager.close()
    except Exception:  # the error being raised is the one to report
      pass
    lock.release(self.workdir)   # a no-op where this process holds none

  def close(self) -> None:
    """Finishes the run's writes and gives up its workdir (the chief's lock)."""
    self.manager.wait_until_finished()
    if self.writer:
      self.writer.flush()
    lock.release(self.workdir)


def check_batch_norm_batch(config: ml_collections.ConfigDict, state: GANState) -> None:
  """Refuses a batch in which a batch norm would normalise over one example.

  Each network call normalises one batch: the global batch_size examples
  (the statistics are synchronised across devices and processes), real and
  fake apart. At 1, a batch norm after a dense layer maps every feature to 0
  and G ignores z (PyTorch refuses this case too). Raises ConfigError.
  """
  pack = config.model.pack
  # D normalises packs: batch_size / pack of them per call.
  too_small = [name for name, stats, n in (
      ('generator', state.g_batch_stats, config.batch_size),
      ('discriminator', state.d_batch_stats, config.batch_size // pack)) if stats and n < 2]
  if too_small:
    packed = f' (model.pack={pack})' if pack > 1 else ''
    raise ConfigError(
        f'config.batch_size={config.batch_size}{packed}: batch norm in the '
        f'{" and ".join(too_small)} would normalise each feature over a single '
        f'example (to 0, so G ignores z); use --config.batch_size={2 * pack} or more '
        '(the global batch: the statistics are synchronised across devices)')


def _keep_feature_space(config: ml_collections.ConfigDict,
                        workdirs: Mapping[int, str]) -> ml_collections.ConfigDict:
  """A run begun before the evaluators shipped measured with a classifier
  trained on this machine: it resumes with that one, so that its FIDs, and
  the best checkpoint chosen by them, stay in one feature space."""
  if config.eval.classifier != 'shipped':
    return config
  old = [w for w in workdirs.values()
         if (saved := ownership.saved_config(w)) is not None
         and 'eval.classifier' not in saved]
  if not old:
    return config
  logging.warning('%s began before gan_jax shipped its evaluators: resuming with '
                  'the classifier trained on this machine (eval.classifier=trained)',
                  ', '.join(old))
  config = copy.deepcopy(config)
  config.eval.classifier = 'trained'
  return config


def load_data(config: ml_collections.ConfigDict) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """The training set and, for a class-conditional run, its labels int32 [N]
  (None otherwise). Raises ConfigError unless the labels are exactly the
  classes 0 .. config.model.num_classes - 1, each present (a class G never
  trained on would be asked for in evaluation)."""
  num_classes = config.model.num_classes
  if not num_classes:
    return datasets.load(config.data), None
  images, labels = datasets.load(config.data, with_labels=True)
  present = np.unique(labels)
  if not np.array_equal(present, np.arange(num_classes)):
    found = (f'labels 0 .. {present[-1]}' if np.array_equal(present, np.arange(len(present)))
             else f'{len(present)} distinct labels in [{present[0]}, {present[-1]}]')
    hint = (f'set --config.model.num_classes={len(present)}'
            if present[0] == 0 and present[-1] == len(present) - 1
            else 'its labels must be 0 .. K-1')
    raise ConfigError(f"config.model.num_classes={num_classes} but "
                      f"'{config.data.dataset}' has {found}; {hint}")
  return images, labels


def _write_param_counts(workdir: str, g_count: int, d_count: int) -> None:
  atomic.write_json(os.path.join(workdir, 'param_counts.json'),
                    {'generator': g_count, 'discriminator': d_count})


def build(config: ml_collections.ConfigDict, workdirs: Mapping[int, str],
          is_chief: bool) -> Tuple[GAN, List[GANState], List[Run]]:
  """(gan, fresh states, runs), one state and run per seed of `workdirs`.

  The chief claims each workdir (refusing one of another config) and writes
  its parameter counts.
  """
  # Seeds share what does not depend on the seed: data (unless a config ties
  # it to the seed), the evaluator's reference statistics.
  images_by_data, evaluator_by_data = {}, {}
  gan, states, runs = None, [], []
  config = _keep_feature_space(config, workdirs)
  best_metric, best_mode = protocol_lib.best_metric(config)
  evaluates = bool(config.eval_every_steps and protocol_lib.resolve_metrics(
      config.data.dataset, config.eval.metrics, protocol_lib.is_conditional(config),
      config.eval.feature_network))
  centers = (mixtures.mixture(config.data)[0]
             if config.data.dataset in datasets.MIXTURES else None)
  for seed in workdirs:
    run_config = seed_config(config, seed)
    data_key = run_config.data.to_json()
    if data_key not in images_by_data:
      images_by_data[data_key] = load_data(run_config)
    images, labels = images_by_data[data_key]
    if gan is None:
      # The loaded images are cropped and shrunk already; the model's shape
      # is derived from the stored one, as restoring a run derives it.
      gan = build_gan(config, datasets.example_shape(config.data,
                                                     datasets.stored_shape(config.data)))
      sample = jax.jit(sampler_lib.generator_apply(gan, config.eval.bn_stats))
    states.append(create_state(run_config, gan, images))
    if len(states) == 1:
      check_batch_norm_batch(config, states[0])
    workdir = workdirs[seed]
    if is_chief:
      ownership.claim(workdir, run_config)
      _write_param_counts(workdir, param_count(states[-1].g_params),
                          param_count(states[-1].d_params))
    if evaluates and data_key not in evaluator_by_data:
      evaluator_by_data[data_key] = evaluators.create(run_config)
    manager = checkpoints.create_manager(
        workdir, config.keep_checkpoints, best_metric, best_mode)
    # 2-D data is pictured as a scatter of 2,500 points (PacGAN's evaluation
    # size) over the mixture's mode centres; images as an 8x8 grid.
    # A class-conditional grid: ten samples for each of ten classes.
    latents = fixed_latents(run_config, 2500 if len(gan.image_shape) == 1 else
                            GRID_CLASSES ** 2 if gan.num_classes else 64)
    label = f'seed {seed} ' if len(workdirs) > 1 else ''
    runs.append(Run(run_config, workdir, label, images, manager,
                    evaluator_by_data.get(data_key), latents, sample, centers, gan, labels))
  logging.info('Trainable parameters: generator %s, discriminator %s',
               f'{param_count(states[0].g_params):,}',
               f'{param_count(states[0].d_params):,}')
  logging.info('The best checkpoint is the one with the %s %s',
               'lowest' if best_mode == 'min' else 'highest', best_metric)
  return gan, states, runs


def restore(runs: Sequence[Run], template) -> Tuple[Optional[List[GANState]], int]:
  """(states, step): every seed's latest checkpoint, at one common step;
  (None, 0) where there is nothing to resume.

  The seeds of a group save together, so their latest steps differ only
  after an interruption between two seeds' saves; the seeds ahead then go
  back to the common step (their newer checkpoints are moved aside to
  superseded_checkpoints/, never deleted) and recompute the same steps.
  """
  restored = [checkpoints.restore_latest(run.manager, template) for run in runs]
  steps = [step for _, step in restored]
  if all(step is None for step in steps):
    return None, 0
  common = 0 if None in steps else min(steps)
  states = []
  for run, (state, step) in zip(runs, restored):
    if step is None or step == common:
      states.append(state)
      continue
    for newer in [s for s in run.manager.all_steps() if s > common]:
      path = checkpoints.set_aside(run.manager, newer, 'superseded_checkpoints')
      logging.warning('%s: checkpoint %d is ahead of the group (step %d); moved '
                      'it to %s', run.workdir, newer, common, path)
    states.append(checkpoints.restore(run.manager, str(common), template)[0]
                  if common else None)
  return (states, common) if common else (None, 0)
