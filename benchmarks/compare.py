"""gan_jax's training steps against their PyTorch references, side by side.

Runs `python -m gan_jax.benchmark` (gan_jax's real step on synthetic data)
and `benchmarks/torch_side.py` (the same step in PyTorch) as subprocesses,
model by model, alternating the two sides for --rounds rounds (the side that
goes first alternates too), and prints a Markdown table: each round's images/s
of both sides, their ratio gan_jax / PyTorch, and gan_jax's peak_fraction
(its GFLOP/s over a large float32 matmul's on the same backend).

  python benchmarks/compare.py --torch_python=/path/to/torchenv/bin/python \\
      [--models=mlp,dcgan28,dcgan64,sngan] [--rounds=2] [--batch=128] \\
      [--steps=10] [--repeats=3] [--device=cpu|cuda] [--json_out=FILE]

Models (gan_jax config; torch_side.py command):
  mlp      configs/mnist_mlp.py        torch_side.py mlp --batch=B
  dcgan28  configs/mnist.py            torch_side.py dcgan28 --batch=B
  dcgan64  configs/mnist_dcgan64.py    torch_side.py dcgan64 --batch=B
  sngan    configs/cifar10_sngan.py --config.g_batch_size=0 (batch
           --sngan_batch, 64)         torch_side.py sngan --n_critic=5

--torch_python (default: $TORCH_PYTHON) is the interpreter of an environment
with torch (and torch_mimicry for sngan): see torch_side.py. gan_jax runs
with --jax_python (default: this interpreter) in JAX_PLATFORMS=cpu for
--device=cpu and JAX_PLATFORMS=cuda for --device=cuda (JAX's CUDA backend
installed). Standard library only: both sides are subprocesses.
"""
import argparse
import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_SIDE = os.path.join(REPO, 'benchmarks', 'torch_side.py')


@dataclasses.dataclass(frozen=True)
class Model:
  config: str                        # gan_jax's config file, from the repo root
  torch_command: str                 # torch_side.py's subcommand
  jax_flags: Tuple[str, ...] = ()
  torch_flags: Tuple[str, ...] = ()


MODELS: Dict[str, Model] = {
    'mlp': Model('configs/mnist_mlp.py', 'mlp'),
    'dcgan28': Model('configs/mnist.py', 'dcgan28'),
    'dcgan64': Model('configs/mnist_dcgan64.py', 'dcgan64'),
    # G trained on D's batch, as torch_mimicry's trainer does (the config's
    # official-code recipe trains G on 128).
    'sngan': Model('configs/cifar10_sngan.py', 'sngan',
                   jax_flags=('--config.g_batch_size=0',),
                   torch_flags=('--n_critic=5',)),
}
SIDES = ('torch', 'gan_jax')
_JAX_PLATFORMS = {'cpu': 'cpu', 'cuda': 'cuda'}


def model_batch(name: str, batch: int, sngan_batch: int) -> int:
  """The batch a model runs at: --sngan_batch for sngan, --batch else."""
  return sngan_batch if name == 'sngan' else batch


def jax_command(python: str, name: str, batch: int, steps: int, repeats: int,
                extra: Sequence[str] = ()) -> List[str]:
  model = MODELS[name]
  return [python, '-m', 'gan_jax.benchmark', f'--config={model.config}',
          f'--config.batch_size={batch}', *model.jax_flags,
          f'--steps={steps}', f'--repeats={repeats}', *extra]


def torch_command(python: str, name: str, batch: int, steps: int, repeats: int,
                  device: str, extra: Sequence[str] = ()) -> List[str]:
  model = MODELS[name]
  return [python, TORCH_SIDE, model.torch_command, f'--batch={batch}',
          *model.torch_flags, f'--steps={steps}', f'--repeats={repeats}',
          f'--device={device}', *extra]


def parse_result(stdout: str) -> dict:
  """The JSON object a benchmark printed: its last stdout line that is one."""
  for line in reversed(stdout.strip().splitlines()):
    line = line.strip()
    if line.startswith('{'):
      try:
        return json.loads(line)
      except json.JSONDecodeError:
        continue
  raise ValueError('no JSON line in the output')


def run_side(command: List[str], env: Optional[dict] = None) -> dict:
  """Runs one benchmark from the repo root; its JSON result, or SystemExit
  with the command and the tail of its output."""
  print('$ ' + shlex.join(command), file=sys.stderr, flush=True)
  proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
  try:
    if proc.returncode:
      raise ValueError(f'exit status {proc.returncode}')
    return parse_result(proc.stdout)
  except ValueError as e:
    tail = '\n'.join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
    raise SystemExit(f'{shlex.join(command)} failed ({e}):\n{tail}')


def ratios(torch_rates: Sequence[float], jax_rates: Sequence[float]) -> List[Optional[float]]:
  """gan_jax / PyTorch per round (None where PyTorch's rate is 0 or missing)."""
  return [j / t if t and j is not None else None
          for t, j in zip(torch_rates, jax_rates)]


def _fmt(value, digits: int) -> str:
  return '–' if value is None else f'{value:.{digits}f}'


def _joined(values, digits: int) -> str:
  return ' / '.join(_fmt(v, digits) for v in values) or '–'


def table_rows(records: Sequence[dict]) -> List[dict]:
  """Per model (in first-seen order): batch, each side's images/s by round,
  the per-round ratios and their median, gan_jax's peak_fraction by round.
  `records`: dicts with side ('torch' | 'gan_jax'), model, round, result (the
  side's JSON)."""
  models: Dict[str, dict] = {}
  for record in records:
    row = models.setdefault(record['model'], dict(
        model=record['model'], batch=None, torch={}, gan_jax={}, peak={}))
    result, r = record['result'], record['round']
    row['batch'] = row['batch'] or result.get('batch_size')
    row[record['side']][r] = result.get('images_per_s')
    if record['side'] == 'gan_jax':
      row['peak'][r] = result.get('peak_fraction')
  rows = []
  for row in models.values():
    rounds = sorted(set(row['torch']) & set(row['gan_jax']))
    torch_rates = [row['torch'][r] for r in rounds]
    jax_rates = [row['gan_jax'][r] for r in rounds]
    ratio = ratios(torch_rates, jax_rates)
    known = [x for x in ratio if x is not None]
    rows.append(dict(model=row['model'], batch=row['batch'], torch=torch_rates,
                     gan_jax=jax_rates, ratio=ratio,
                     median_ratio=statistics.median(known) if known else None,
                     peak=[row['peak'].get(r) for r in rounds]))
  return rows


def markdown_table(records: Sequence[dict]) -> str:
  """The comparison as a Markdown table, one row per model, per-round values
  joined by ' / '."""
  lines = ['| model | batch | PyTorch images/s | gan_jax images/s | '
           'gan_jax / PyTorch | median ratio | gan_jax peak_fraction |',
           '|---|---:|---|---|---|---:|---|']
  for row in table_rows(records):
    lines.append(
        f"| {row['model']} | {row['batch'] or '–'} | {_joined(row['torch'], 1)} | "
        f"{_joined(row['gan_jax'], 1)} | {_joined(row['ratio'], 2)} | "
        f"{_fmt(row['median_ratio'], 2)} | {_joined(row['peak'], 3)} |")
  return '\n'.join(lines)


def setup_line(records: Sequence[dict]) -> str:
  """One line on what ran: torch's version, device and threads, gan_jax's
  backend and device count (from the first record of each side)."""
  parts = []
  torch_result = next((r['result'] for r in records if r['side'] == 'torch'), None)
  if torch_result:
    parts.append(f"PyTorch {torch_result.get('torch')} on "
                 f"{torch_result.get('device', 'cpu')}, "
                 f"{torch_result.get('threads')} threads")
  jax_result = next((r['result'] for r in records if r['side'] == 'gan_jax'), None)
  if jax_result:
    parts.append(f"gan_jax on {jax_result.get('backend')} x "
                 f"{jax_result.get('devices')}, conv_impl "
                 f"{jax_result.get('conv_impl')}, {jax_result.get('compute_dtype')}")
  return '; '.join(parts)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog=__doc__.split('\n', 2)[2])
  parser.add_argument('--torch_python', default=os.environ.get('TORCH_PYTHON'),
                      help='python of the torch environment (default: $TORCH_PYTHON)')
  parser.add_argument('--jax_python', default=sys.executable,
                      help='python with gan_jax (default: this one)')
  parser.add_argument('--models', default=','.join(MODELS),
                      help=f'comma list of {", ".join(MODELS)}')
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--batch', type=int, default=128,
                      help='batch of the seed models (mlp, dcgan28, dcgan64)')
  parser.add_argument('--sngan_batch', type=int, default=64)
  parser.add_argument('--steps', type=int, default=10,
                      help='steps per timed repeat, both sides')
  parser.add_argument('--repeats', type=int, default=3,
                      help='timed repeats (median reported), both sides')
  parser.add_argument('--device', default='cpu', choices=sorted(_JAX_PLATFORMS))
  parser.add_argument('--json_out', help='also append every raw JSON result here')
  parser.add_argument('--jax_args', default='',
                      help="more flags for gan_jax.benchmark, e.g. '--nopeak'")
  parser.add_argument('--torch_args', default='',
                      help='more flags for torch_side.py')
  args = parser.parse_args(argv)
  if not args.torch_python:
    parser.error('--torch_python (or $TORCH_PYTHON) is required')
  names = [n for n in args.models.split(',') if n]
  unknown = [n for n in names if n not in MODELS]
  if unknown:
    parser.error(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(MODELS)}")
  jax_env = dict(os.environ, JAX_PLATFORMS=_JAX_PLATFORMS[args.device])
  out = open(args.json_out, 'a') if args.json_out else None
  records = []
  try:
    for name in names:
      batch = model_batch(name, args.batch, args.sngan_batch)
      commands = dict(
          torch=(torch_command(args.torch_python, name, batch, args.steps,
                               args.repeats, args.device, shlex.split(args.torch_args)),
                 None),
          gan_jax=(jax_command(args.jax_python, name, batch, args.steps,
                               args.repeats, shlex.split(args.jax_args)),
                   jax_env))
      for r in range(args.rounds):
        for side in SIDES if r % 2 == 0 else SIDES[::-1]:
          command, env = commands[side]
          result = run_side(command, env)
          record = dict(side=side, model=name, round=r + 1, batch=batch,
                        device=args.device, time=time.strftime('%Y-%m-%dT%H:%M:%S'),
                        result=result)
          records.append(record)
          print(f"[{name} round {r + 1}/{args.rounds}] {side}: "
                f"{result.get('images_per_s')} images/s", file=sys.stderr, flush=True)
          if out:
            out.write(json.dumps(record) + '\n')
            out.flush()
          if side == 'gan_jax' and args.device == 'cuda' and result.get('backend') != 'gpu':
            print(f"warning: gan_jax ran on {result.get('backend')}, not the GPU",
                  file=sys.stderr, flush=True)
  finally:
    if out:
      out.close()
  print(setup_line(records))
  print()
  print(markdown_table(records), flush=True)


if __name__ == '__main__':
  main()
