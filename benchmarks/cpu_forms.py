"""The CPU formulations gan_jax chooses between, timed side by side.

  python benchmarks/cpu_forms.py [--rounds=7] [--calls=10] [--json_out=FILE]

Two tables (Markdown), each cell the median over --rounds of the mean of
--calls calls, the forms of one row interleaved round by round so that the
machine's drift hits them alike:

- Transposed convolutions (`fast_conv.transpose_formulation`): the DCGAN
  and SN-DCGAN layer shapes as lax.conv_transpose (lhs-dilated), as the
  sub-pixel conv (`subpixel_conv_transpose`) and as one conv per output
  phase (`phase_conv_transpose`), forward only, with the form the rule picks.
- Dropout masks drawn per example (`layers.ExampleDropout`): the DCGAN
  28x28 discriminator's two masks at batch 128 from JAX's threefry keys and
  from the same keys as `threefry.fused_keys` (equal bits).

Runs with gan_jax's XLA:CPU settings (`xla_cpu.configure(True)`).
"""
import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models import fast_conv, threefry
from gan_jax.training import xla_cpu

# (batch, input side, in, out, kernel, stride, torch padding or None for 'SAME')
TRANSPOSED = [
    (128, 4, 256, 128, 4, 2, 1),    # DCGAN 64x64, G's second layer
    (128, 8, 128, 64, 4, 2, 1),     # DCGAN 64x64, G's third layer
    (128, 16, 64, 1, 4, 4, 0),      # DCGAN 64x64, G's last layer
    (128, 7, 128, 64, 5, 2, None),  # DCGAN 28x28, G's second layer
    (128, 14, 64, 1, 5, 2, None),   # DCGAN 28x28, G's last layer
    (64, 4, 512, 256, 4, 2, 1),     # SN-DCGAN (standard CNN) 32x32, G
    (64, 8, 256, 128, 4, 2, 1),
    (64, 16, 128, 64, 4, 2, 1),
]
_DN = ('NHWC', 'HWIO', 'NHWC')


def _mean_ms(fn, args, calls):
  start = time.perf_counter()
  for _ in range(calls):
    jax.block_until_ready(fn(*args))
  return 1e3 * (time.perf_counter() - start) / calls


def interleaved(forms, args, rounds, calls):
  """{name: median ms} of the jitted `forms` ({name: fn}) on `args`."""
  for fn in forms.values():
    jax.block_until_ready(fn(*args))   # compiles
  times = {name: [] for name in forms}
  for _ in range(rounds):
    for name, fn in forms.items():
      times[name].append(_mean_ms(fn, args, calls))
  return {name: statistics.median(t) for name, t in times.items()}


def transposed_rows(rounds, calls):
  rows = []
  for batch, side, c_in, c_out, k, s, pad in TRANSPOSED:
    pads = (tuple([fast_conv.conv_transpose_pads(k, s, 'SAME')] * 2)
            if pad is None else ((k - 1 - pad,) * 2,) * 2)
    x = jax.random.normal(jax.random.key(0), (batch, side, side, c_in))
    kernel = 0.02 * jax.random.normal(jax.random.key(1), (k, k, c_in, c_out))
    forms = {
        'lax': jax.jit(lambda x, w: lax.conv_transpose(x, w, (s, s), pads,
                                                       dimension_numbers=_DN)),
        'subpixel': jax.jit(lambda x, w: fast_conv.subpixel_conv_transpose(
            x, w, (s, s), pads)),
        'phases': jax.jit(lambda x, w: fast_conv.phase_conv_transpose(x, w, (s, s), pads)),
    }
    ms = interleaved(forms, (x, kernel), rounds, calls)
    rows.append(dict(batch=batch, input=[side, side, c_in], out=c_out, kernel=k, stride=s,
                     ms={n: round(v, 2) for n, v in ms.items()},
                     chosen=fast_conv.transpose_formulation(x.shape, kernel.shape, (s, s))))
  return rows


def dropout_row(rounds, calls, batch=128):
  shapes = ((14, 14, 64), (7, 7, 128))   # DCGAN 28x28 D's two dropout layers

  def masks(keys):
    layer_keys = lambda i: jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, i)
    return [jax.vmap(lambda k: jax.random.bernoulli(k, 0.7, shape))(layer_keys(i))
            for i, shape in enumerate(shapes)]
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(0), jnp.arange(batch))
  forms = {'jax threefry': jax.jit(masks),
           'fused threefry': jax.jit(lambda keys: masks(threefry.fused_keys(keys)))}
  same = all(bool((a == b).all()) for a, b in
             zip(forms['jax threefry'](keys), forms['fused threefry'](keys)))
  ms = interleaved(forms, (keys,), rounds, calls)
  return dict(batch=batch, shapes=[list(s) for s in shapes], equal_masks=same,
              ms={n: round(v, 2) for n, v in ms.items()})


def markdown(transposed, dropout) -> str:
  lines = ['| batch | input | out | kernel, stride | lax.conv_transpose ms | sub-pixel ms '
           '| per phase ms | chosen |', '|---:|---|---:|---|---:|---:|---:|---|']
  for r in transposed:
    lines.append(f"| {r['batch']} | {'x'.join(map(str, r['input']))} | {r['out']} | "
                 f"k{r['kernel']} s{r['stride']} | {r['ms']['lax']:.2f} | "
                 f"{r['ms']['subpixel']:.2f} | {r['ms']['phases']:.2f} | {r['chosen']} |")
  lines += ['', '| dropout masks (batch, shapes) | jax threefry ms | fused threefry ms | '
            'equal masks |', '|---|---:|---:|---|',
            f"| {dropout['batch']}, {dropout['shapes']} | {dropout['ms']['jax threefry']:.2f} | "
            f"{dropout['ms']['fused threefry']:.2f} | {dropout['equal_masks']} |"]
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=7)
  parser.add_argument('--calls', type=int, default=10)
  parser.add_argument('--json_out', default=None)
  args = parser.parse_args()
  xla_cpu.configure(True)
  result = dict(backend=jax.default_backend(), transposed=transposed_rows(args.rounds, args.calls),
                dropout=dropout_row(args.rounds, args.calls))
  print(markdown(result['transposed'], result['dropout']))
  if args.json_out:
    with open(args.json_out, 'w') as f:
      f.write(json.dumps(result) + '\n')


if __name__ == '__main__':
  main()
