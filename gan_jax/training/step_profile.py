r"""Where a training step's time goes: each layer timed alone, at the step's
shapes, against the whole step.

  python -m gan_jax.benchmark --config=configs/mnist_dcgan64.py \
      --config.batch_size=128 --breakdown [--breakdown_layers] [--steps=10] [--repeats=5]

G and D are run once in training mode on the config's batch, recording every
convolution, transposed convolution, dense layer and batch norm with its
input. Each is then compiled and timed alone (median of `--repeats` calls):
its forward pass, and its backward pass (the gradients of its input and of
its parameters from a cotangent; the forward's residuals are recomputed
inside it where a layer keeps only a few, e.g. batch norm's statistics).
The optimisers' updates are timed the same way. A step makes `n_critic` D
moves (G forward; D forward and backward on the real and on the fake batch)
and `n_generator` G moves (G forward and backward, D forward and backward,
at the G move's batch, `g_batch_size`), so each layer's times are counted
that many times, on one device's share of the batch. The whole step is
timed by `gan_jax.benchmark`, and what the layers and the updates leave
unexplained is the rest: activations, losses, random numbers, the input's
conversion, and what the step's fusions and scheduling gain or lose
against the layers run alone (XLA runs independent passes side by side on
the cores, so the rest can be negative). Steps with a gradient penalty, a
relativistic objective, a shared fake batch or simultaneous updates make
other passes and are refused (ValueError).

Prints a Markdown table (ms per step, share of the measured step) and one
JSON line. `--breakdown_layers` adds each layer's row with the rate of its
work: the FLOPs of flax's own layer (XLA's cost analysis, padded taps not
counted) over its time, and that rate as a fraction of the matmul peak
(`gan_jax.benchmark.matmul_peak`, measured after the step). The timed
backward computes both gradients where the step needs one (D's first
layer's input gradient, D's parameter gradients in the G move), so the
layer rows are upper bounds of their share.
"""
import collections
import statistics
import time
from typing import Callable, Dict, List

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.config import validation
from gan_jax.data import datasets
from gan_jax.game import state as state_lib
from gan_jax.game import train_step
from gan_jax.game.state import AXIS
from gan_jax.models import batch_norm, fast_conv
from gan_jax.training import dispatch
from gan_jax.training import runs as runs_lib

# The layer kinds the table has rows for, outermost first: a fast_conv layer
# is recorded, not flax's ops inside it.
_KINDS = (
    ((fast_conv.ConvTranspose, nn.ConvTranspose), 'transposed conv'),
    ((fast_conv.Conv, nn.Conv), 'conv'),
    ((nn.Dense,), 'dense'),
    ((batch_norm.BatchNorm, nn.BatchNorm), 'batch norm'),
)


def _kind(module: nn.Module):
  for classes, kind in _KINDS:
    if isinstance(module, classes):
      return kind
  return None


def record_layers(apply: Callable[..., object], *args) -> List[dict]:
  """The layers of `_KINDS` that `apply(*args)` (a module's apply) calls, in
  call order: {'kind', 'path', 'module' (unbound, without axis_name),
  'variables' and 'input' (shapes, jax.ShapeDtypeStruct)}. Traced abstractly
  (nothing computed), inside a one-device named axis for the models'
  cross-device batch norms."""
  recorded, depth = [], [0]
  shapes = lambda tree: jax.tree.map(lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype), tree)

  def interceptor(next_fun, args, kwargs, context):
    kind = _kind(context.module) if context.method_name == '__call__' else None
    if kind is None or depth[0]:
      return next_fun(*args, **kwargs)
    module, variables = context.module.unbind()
    if getattr(module, 'axis_name', None) is not None:
      module = module.clone(axis_name=None)
    recorded.append(dict(kind=kind, path='/'.join(context.module.path),
                         module=module, variables=shapes(variables),
                         input=shapes(args[0])))
    depth[0] += 1
    try:
      return next_fun(*args, **kwargs)
    finally:
      depth[0] -= 1

  def traced(*args):
    with nn.intercept_methods(interceptor):
      return apply(*args)

  one_device = jax.tree.map(lambda a: a[None], args)
  jax.eval_shape(jax.vmap(traced, axis_name=AXIS), *one_device)
  return recorded


def xla_flops(lowered) -> float:
  """FLOPs of a lowered computation (`jax.jit(f).lower(...)`) by XLA's cost
  analysis, which counts a convolution's taps that meet the input, not its
  padding; 0.0 on backends that do not count FLOPs."""
  cost = lowered.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get('flops', 0.0)) if cost else 0.0


def _reference_layer(module: nn.Module) -> nn.Module:
  """The layer with flax's own convolution ops: whose FLOPs count as work
  (a CPU formulation may compute padded taps too)."""
  if isinstance(module, (fast_conv.Conv, fast_conv.ConvTranspose)):
    return module.clone(impl='xla')
  return module


def _median_ms(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))   # compiles
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return 1e3 * statistics.median(times)


def time_layer(layer: dict, repeats: int) -> Dict[str, float]:
  """{'forward', 'backward'} ms of one recorded layer alone, on random
  values of its recorded shapes, and {'forward_gflop', 'backward_gflop'}:
  the work of each pass (`xla_flops` of flax's own layer)."""
  leaves, treedef = jax.tree.flatten((layer['variables'], layer['input']))
  keys = jax.random.split(jax.random.key(0), len(leaves))
  variables, x = jax.tree.unflatten(treedef, [
      jax.random.normal(k, v.shape, v.dtype) for k, v in zip(keys, leaves)])
  params = variables.get('params', {})

  def passes(module):
    def forward(params, x):
      return module.apply({**variables, 'params': params}, x, mutable=True)[0]

    def backward(params, x, cotangent):
      return jax.vjp(forward, params, x)[1](cotangent)
    return jax.jit(forward), jax.jit(backward)

  forward, backward = passes(layer['module'])
  cotangent = jnp.ones_like(forward(params, x))
  work = [xla_flops(p.lower(*a)) / 1e9 for p, a in
          zip(passes(_reference_layer(layer['module'])),
              ((params, x), (params, x, cotangent)))]
  return dict(forward=_median_ms(forward, params, x, repeats=repeats),
              backward=_median_ms(backward, params, x, cotangent, repeats=repeats),
              forward_gflop=work[0], backward_gflop=work[1])


def _optimizer_ms(tx, params, opt_state, repeats: int) -> float:
  grads = jax.tree.map(jnp.ones_like, params)

  def update(params, opt_state):
    updates, opt_state = tx.update(grads, opt_state, params)
    return jax.tree.map(jnp.add, params, updates), opt_state

  return _median_ms(jax.jit(update), params, opt_state, repeats=repeats)


def _networks(gan, state, config, batch: int):
  """(G's recorded layers, D's recorded layers) at `batch` examples, called
  as the update step calls them (train_step.generate, .discriminate)."""
  z = jnp.zeros((batch, config.model.latent_dim), jnp.float32)
  labels = (jnp.asarray(np.random.default_rng(0).integers(0, gan.num_classes, batch),
                        jnp.int32) if gan.num_classes else None)
  generator = record_layers(
      lambda z, labels: train_step.generate(gan, state.g_params, state.g_batch_stats,
                                            z, labels), z, labels)
  d_input = jnp.zeros((batch // gan.pack,) + tuple(gan.d_input_shape), jnp.float32)
  discriminator = record_layers(
      lambda x, labels: train_step.discriminate(gan, state.d_params, state.d_batch_stats,
                                                x, jax.random.key(0), labels),
      d_input, labels if gan.pack == 1 else None)
  return generator, discriminator


def profile(config, stored_shape, time_step: Callable[[], dict], repeats: int) -> dict:
  """The step's time by layer kind and pass (see the module docstring), the
  data stored as `stored_shape`, `time_step()` timing the whole step
  (gan_jax.benchmark's result: 'steps_per_s', 'images_per_s'):
  {'step_ms', 'rows': [{'row', 'ms', 'share'}], 'layers': [...]}."""
  checked = runs_lib.seed_config(config, config.seed)
  checked.eval_every_steps = 0
  devices = len(dispatch.local_devices(config))
  validation.validate(checked, devices)
  shape = datasets.example_shape(config.data, stored_shape)
  gan = state_lib.build_gan(config, shape)
  if (gan.penalty != 'none' or gan.objective.generator_uses_real or
      config.shared_fake_batch or config.update_order != 'alternating'):
    raise ValueError('--breakdown counts the passes of an alternating step without a '
                     'gradient penalty, relativistic objective or shared fake batch; '
                     'time this config with the plain benchmark')
  state = state_lib.create_state(runs_lib.seed_config(config, config.seed), gan)
  local = config.batch_size // devices
  n, n_g = config.n_critic, config.n_generator
  g_local = train_step.generator_batch(local, config)
  d_move, g_move = _networks(gan, state, config, local), _networks(gan, state, config, g_local)
  # (network, its layers, forward calls, backward calls) per step.
  passes = [('G', d_move[0], n, 0), ('D', d_move[1], 2 * n, 2 * n),
            ('G', g_move[0], n_g, n_g), ('D', g_move[1], n_g, n_g)]
  totals, per_layer, timed = collections.defaultdict(float), [], {}
  for net, recorded, forwards, backwards in passes:
    for layer in recorded:
      key = (net, layer['path'], tuple(layer['input'].shape))
      if key not in timed:
        timed[key] = time_layer(layer, repeats)
        per_layer.append(dict(net=net, path=layer['path'], kind=layer['kind'],
                              input=list(layer['input'].shape),
                              forward_ms=round(timed[key]['forward'], 3),
                              backward_ms=round(timed[key]['backward'], 3),
                              forward_gflop=round(timed[key]['forward_gflop'], 6),
                              backward_gflop=round(timed[key]['backward_gflop'], 6)))
      totals[f"{layer['kind']} forward"] += forwards * timed[key]['forward']
      totals[f"{layer['kind']} backward"] += backwards * timed[key]['backward']
  totals['optimiser updates'] = (
      n * _optimizer_ms(gan.d_tx, state.d_params, state.d_opt_state, repeats) +
      n_g * _optimizer_ms(gan.g_tx, state.g_params, state.g_opt_state, repeats))
  step = time_step()
  step_ms = 1e3 / step['steps_per_s']
  order = [f'{kind} {p}' for _, kind in _KINDS for p in ('forward', 'backward')]
  rows = [(name, totals[name]) for name in order + ['optimiser updates'] if totals[name]]
  rows.append(('the rest (activations, losses, RNG, input, fusion and scheduling)',
               step_ms - sum(ms for _, ms in rows)))
  return dict(config=dict(generator=config.model.generator,
                          discriminator=config.model.discriminator,
                          batch_size=config.batch_size, devices=devices,
                          n_critic=n, n_generator=n_g,
                          conv_impl=config.model.conv_impl),
              backend=jax.default_backend(), step_ms=round(step_ms, 1),
              images_per_s=step['images_per_s'],
              matmul_peak_gflop_per_s=step.get('matmul_peak_gflop_per_s'),
              rows=[dict(row=name, ms=round(ms, 1), share=round(ms / step_ms, 3))
                    for name, ms in rows],
              layers=per_layer)


def markdown(result: dict, with_layers: bool = False) -> str:
  lines = ['| where | ms / step | share of the step |', '|---|---:|---:|']
  lines += [f"| {r['row']} | {r['ms']:.1f} | {100 * r['share']:.0f} % |"
            for r in result['rows']]
  lines.append(f"| **the whole step (measured)** | **{result['step_ms']:.1f}** | 100 % |")
  if with_layers:
    peak = result.get('matmul_peak_gflop_per_s')
    rate = lambda l, what: l[f'{what}_gflop'] / max(l[f'{what}_ms'], 1e-3) * 1e3
    cell = lambda l, what: (f'{rate(l, what):.0f}' + (f' ({rate(l, what) / peak:.2f})'
                                                     if peak else ''))
    of_peak = ' (of the matmul peak)' if peak else ''
    lines += ['', f'| net | layer | kind | input | forward ms | backward ms | '
              f'forward GFLOP/s{of_peak} | backward GFLOP/s{of_peak} |',
              '|---|---|---|---|---:|---:|---:|---:|']
    lines += [f"| {l['net']} | {l['path']} | {l['kind']} | {l['input']} | "
              f"{l['forward_ms']:.2f} | {l['backward_ms']:.2f} | {cell(l, 'forward')} | "
              f"{cell(l, 'backward')} |" for l in result['layers']]
    if peak:
      lines.append(f'\nmatmul peak: {peak:.1f} GFLOP/s (a 4096x4096 float32 matmul '
                   'through XLA, measured after the step)')
  return '\n'.join(lines)

