"""The plan of a sweep: a config file's `sweep()` lists the runs as data, this
expands them into named runs, commands and jobs, and tracks their status
(`launch/sweep.py` is the program that runs them).

A config file may define, beside `get_config()`,

  def sweep():
    return sweep_plan.product({'loss.name': ['hinge', 'least_squares']},
                              seed=range(3))

a list of override dicts (dotted config keys -> values), one per run. Each run
is an ordinary gan_jax run of `get_config()` with those overrides
(`--config.loss.name=hinge --config.seed=1`), in the workdir
`<sweep_dir>/<run name>`, the name being the overrides themselves
(`loss.name=hinge,seed=1`): readable, deterministic, so re-running a sweep
finds its runs again and resumes or skips them. `launch/sweep.py` runs them;
`gan_jax/report.py` tabulates them.

A config taking an argument (`--config=configs/x.py:arg`, ml_collections'
`get_config(arg)`) gets it in `sweep(arg)` too, and its sweep's default
directory is runs/sweeps/x_arg: one file can hold several related sweeps
(configs/repro_stacked_mnist.py's two setups).

A run is finished when its workdir holds the checkpoint of step
`num_train_steps` (orbax commits a checkpoint by renaming its directory, so a
step directory is complete). Exit codes would not do: a preempted run saves
and exits 0 unfinished, and raising `num_train_steps` must make finished runs
resume.
"""
import copy
import dataclasses
import hashlib
import importlib.util
import itertools
import json
import os
import re
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import ml_collections

from gan_jax.errors import GanJaxError
from gan_jax.workdir import divergence
from gan_jax.workdir import atomic
from gan_jax.workdir import checkpoints

SWEEP_FILE = 'sweep.json'
# Characters kept in run names; anything else becomes '_'.
_UNSAFE = re.compile(r'[^A-Za-z0-9._=,+-]')
# Room for the name under the usual 255-byte limit of a path component.
_MAX_NAME = 200

Overrides = Dict[str, Any]


class SweepError(GanJaxError):
  """A sweep that cannot be expanded (bad config file, key, or names)."""


def product(*axes_maps: Mapping[str, Sequence[Any]],
            **axes: Sequence[Any]) -> List[Overrides]:
  """Every combination of the axes' values, the first axis varying slowest.

  Axes are dotted config keys, given as mappings (dotted names are not Python
  keywords) or keywords: `product({'loss.name': ['hinge', 'minimax']},
  seed=range(3))` is 6 override dicts. A value that is itself a dict sets
  several keys together, e.g. an objective with the learning rate it needs:
  `product(loss=[{'loss.name': 'wgan_gp', 'n_critic': 5},
  {'loss.name': 'hinge'}], seed=[0, 1])` (the axis name is then unused).
  """
  merged = {}
  for axes_map in axes_maps + (axes,):
    merged.update(axes_map)
  keys, values = list(merged), []
  for key in keys:
    if isinstance(merged[key], (str, bytes, Mapping)):
      raise SweepError(f"sweep axis '{key}' must be a sequence of values, got "
                       f'{merged[key]!r}')
    values.append(list(merged[key]))
  runs = []
  for combination in itertools.product(*values):
    overrides = {}
    for key, value in zip(keys, combination):
      overrides.update(value if isinstance(value, Mapping) else {key: value})
    runs.append(overrides)
  return runs


def whole_number(text: str, minimum: int = 1) -> Optional[int]:
  """`text` as an int if it is a whole number of ASCII digits >= `minimum`,
  else None: a budget in a config's argument (':grid,40000'). Not
  str.isdigit, whose digits ('²') int() refuses, and not other scripts'
  digits, which would name sweep directories; signs, exponents and blanks are
  refused too, so each config can answer a bad budget with its own one-line
  hint."""
  if not (text.isascii() and text.isdecimal()) or int(text) < minimum:
    return None
  return int(text)


def format_value(value: Any) -> str:
  """A value as ml_collections parses it back from `--config.key=VALUE`."""
  if isinstance(value, str):
    return value
  if isinstance(value, (tuple, list)):
    return '(' + ','.join(format_value(v) for v in value) + (',)' if len(value) == 1 else ')')
  return repr(value)


def run_name(overrides: Mapping[str, Any]) -> str:
  """`key=value,...` over the sorted keys, made safe as a directory name
  ('base' for no overrides; a long name is cut and given a hash suffix)."""
  if not overrides:
    return 'base'
  name = ','.join(f'{k}={format_value(overrides[k])}' for k in sorted(overrides))
  name = _UNSAFE.sub('_', name)
  if name.startswith('.'):
    name = '_' + name[1:]
  if len(name) > _MAX_NAME:
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    name = f'{name[:_MAX_NAME - 11]}-{digest}'
  return name


def config_flags(overrides: Mapping[str, Any]) -> List[str]:
  """`--config.key=value` flags of gan_jax.main, in the overrides' order."""
  return [f'--config.{k}={format_value(v)}' for k, v in overrides.items()]


def config_root(config_path: str) -> str:
  """The directory config files import from (`from configs import default`):
  the parent of the config's directory."""
  return os.path.dirname(os.path.dirname(os.path.abspath(config_path.split(':')[0])))


def load_config_module(config_path: str):
  """The module of a config file (`path` or `path:arg` as ml_collections takes
  it) and the argument for its get_config, or None."""
  path, _, argument = config_path.partition(':')
  if not os.path.isfile(path):
    raise SweepError(f'config file {path} does not exist')
  # Where `from configs import ...` resolves: beside the config's directory,
  # and the working directory, as for `python -m gan_jax.main`.
  for root in (os.getcwd(), config_root(path)):
    if root not in sys.path:
      sys.path.insert(0, root)
  name = 'sweep_config_' + re.sub(r'\W', '_', os.path.splitext(os.path.basename(path))[0])
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module, argument or None


@dataclasses.dataclass
class Run:
  """One run of a sweep: its overrides, name, workdir and training budget."""
  name: str
  overrides: Overrides
  workdir: str
  num_train_steps: int


def default_sweep_dir(config_path: str) -> str:
  """runs/sweeps/<config name>, or <config name>_<argument> for `path:arg`."""
  path, _, argument = config_path.partition(':')
  base = os.path.splitext(os.path.basename(path))[0]
  if argument:
    base += '_' + _UNSAFE.sub('_', argument)
  return os.path.join('runs', 'sweeps', base)


def _apply(config: ml_collections.ConfigDict, overrides: Overrides,
           name: str) -> ml_collections.ConfigDict:
  # On a locked copy, so that a misspelt key fails here, at expansion, rather
  # than in the middle of a sweep.
  config = copy.deepcopy(config)
  config.lock()
  try:
    config.update_from_flattened_dict(dict(overrides))
  except (KeyError, AttributeError, TypeError, ValueError) as e:
    detail = ' '.join(str(e).strip('\'"').split())[:300]
    raise SweepError(f'run {name}: cannot apply its overrides ({detail})') from None
  return config


def expand(config_path: str, sweep_dir: str) -> List[Run]:
  """The runs of the sweep in `config_path`, each checked against the config."""
  module, argument = load_config_module(config_path)
  if not hasattr(module, 'sweep'):
    raise SweepError(f'{config_path} defines no sweep(); add one returning a '
                     'list of override dicts (see gan_jax/experiments/sweep_plan.py)')
  try:
    base = module.get_config(argument) if argument else module.get_config()
    entries = module.sweep(argument) if argument else module.sweep()
  except (ValueError, TypeError) as e:  # e.g. an argument the config does not take
    raise SweepError(f'{config_path}: {e}') from None
  if not entries or not all(isinstance(e, Mapping) for e in entries):
    raise SweepError(f'sweep() of {config_path} must return a non-empty list '
                     'of dicts')
  runs, seen, computed = [], {}, {}
  for overrides in entries:
    overrides = dict(overrides)
    name = run_name(overrides)
    if name in seen:
      raise SweepError(f'sweep() of {config_path} has two runs named {name} '
                       f'({seen[name]} and {overrides})')
    seen[name] = overrides
    config = _apply(base, overrides, name)
    # Overrides that spell out the config's own values (its seed, its batch
    # size) would train one computation twice under two names.
    resolved = config.to_json_best_effort(sort_keys=True)
    if resolved in computed:
      raise SweepError(f'sweep() of {config_path}: runs {computed[resolved]} and {name} '
                       'resolve to the same config (an override repeats the config\'s own '
                       'value); drop one')
    computed[resolved] = name
    runs.append(Run(name, overrides, os.path.join(sweep_dir, name),
                    int(config.num_train_steps)))
  return runs


@dataclasses.dataclass
class Job:
  """One process's work: one run, or several seeds of one variant trained
  together (`gan_jax.main --seeds`, vmapped on each device)."""
  name: str
  runs: List[Run]
  workdir: str          # the run's workdir, or a template with '{seed}'
  overrides: Overrides  # without 'seed' for a group of seeds
  seeds: List[int]      # empty: a single run


# Stands in for the seed while a group's workdir template is made; it must
# survive run_name unchanged.
_SEED_SLOT = 918273645


def jobs(runs: Sequence[Run], sweep_dir: str, vmap_seeds: int = 0) -> List[Job]:
  """`runs` as processes: one per run, or with `vmap_seeds` >= 2, the runs
  that differ only in `seed` and resume from the same checkpoint step in
  groups of up to `vmap_seeds` (in sweep order; a run whose name cannot be
  templated on its seed runs alone). A group resumes from one common step,
  so seeds at different steps (left behind by a seed that diverged) are not
  grouped: that would recompute the further one's steps."""
  groups: Dict[Tuple[str, int], List[Run]] = {}
  singles = []
  for run in runs:
    template = os.path.join(sweep_dir, run_name({**run.overrides, 'seed': _SEED_SLOT}))
    template = template.replace(str(_SEED_SLOT), '{seed}')
    # Only runs that set an integer seed can train beside other seeds.
    if (vmap_seeds < 2 or not isinstance(run.overrides.get('seed'), int) or
        template.replace('{seed}', str(run.overrides['seed'])) != run.workdir):
      singles.append(Job(run.name, [run], run.workdir, run.overrides, []))
      continue
    groups.setdefault((template, (checkpoints.committed_steps(run.workdir) or [0])[-1]), []).append(run)
  result = list(singles)
  for (template, _), members in groups.items():
    for i in range(0, len(members), vmap_seeds):
      chunk = members[i:i + vmap_seeds]
      seeds = [r.overrides['seed'] for r in chunk]
      rest = {k: v for k, v in chunk[0].overrides.items() if k != 'seed'}
      if len(chunk) == 1:
        result.append(Job(chunk[0].name, chunk, chunk[0].workdir,
                          chunk[0].overrides, []))
        continue
      name = run_name({**rest, 'seed': '+'.join(map(str, seeds))})
      result.append(Job(name, chunk, template, rest, seeds))
  order = {run.name: i for i, run in enumerate(runs)}
  return sorted(result, key=lambda job: order[job.runs[0].name])


def job_flags(job: Job) -> List[str]:
  """gan_jax.main's flags of `job` after --config."""
  flags = [f'--workdir={job.workdir}'] + config_flags(job.overrides)
  return flags + ([f'--seeds={",".join(map(str, job.seeds))}'] if job.seeds else [])


def command(config_path: str, job: Job, python: str = sys.executable) -> List[str]:
  """The gan_jax.main command line of `job`."""
  return [python, '-m', 'gan_jax.main', f'--config={config_path}'] + job_flags(job)


def disk_status(run: Run) -> str:
  """'finished' (the step-num_train_steps checkpoint exists), 'diverged' (the
  run stopped on a non-finite value: divergence.record_divergence; a rerun would
  diverge the same way), 'partial' (earlier checkpoints: it resumes) or
  'new'."""
  steps = checkpoints.committed_steps(run.workdir)
  if run.num_train_steps in steps or (steps and steps[-1] > run.num_train_steps):
    return 'finished'
  if divergence.read_divergence(run.workdir) is not None:
    return 'diverged'
  return 'partial' if steps else 'new'


def read_sweep_file(sweep_dir: str) -> Optional[dict]:
  """`<sweep_dir>/sweep.json`, or None where there is none. Raises SweepError
  for a file that is not a sweep's (damaged, or not written by gan_jax)."""
  path = os.path.join(sweep_dir, SWEEP_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      sweep = json.load(f)
    if not isinstance(sweep, dict) or not isinstance(sweep.get('runs', []), list):
      raise ValueError('no list of runs')
    return sweep
  except ValueError as e:
    raise SweepError(f'{path} is unreadable ({_first_line(e)}); it is rewritten from the '
                     'runs\' workdirs: move it aside and run again') from None


def _first_line(error: Exception) -> str:
  return str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__


def write_sweep_file(sweep_dir: str, config_path: str, runs: Sequence[Run],
                     results: Mapping[str, dict]) -> str:
  """Writes `<sweep_dir>/sweep.json`: the config and, per run, its name,
  overrides, workdir, budget, last checkpoint and status, plus what
  `results[name]` adds (exit_code, error, seconds, log, job_id ...). Atomic.

  A run without results this time (skipped as finished, say) keeps what the
  file recorded for it before, so a resumed sweep does not forget the
  earlier invocations' exit codes and times.
  """
  # sweep.json from an interrupted or older invocation: read what it holds.
  earlier = {e['name']: e for e in (read_sweep_file(sweep_dir) or {}).get('runs', [])}
  entries = []
  for run in runs:
    steps = checkpoints.committed_steps(run.workdir)
    entry = dict(name=run.name, overrides=run.overrides, workdir=run.workdir,
                 num_train_steps=run.num_train_steps,
                 last_checkpoint=steps[-1] if steps else None,
                 status=disk_status(run))
    if run.name in results:
      entry.update(results[run.name])
    elif earlier.get(run.name, {}).get('overrides') == run.overrides:
      entry.update({k: v for k, v in earlier[run.name].items() if k not in entry})
    entries.append(entry)
  os.makedirs(sweep_dir, exist_ok=True)
  path = os.path.join(sweep_dir, SWEEP_FILE)
  atomic.write_json(path, dict(config=config_path,
                               updated=time.strftime('%Y-%m-%d %H:%M:%S'), runs=entries),
                    indent=2, default=str)
  return path
