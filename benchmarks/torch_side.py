"""The PyTorch side of `gan_jax.benchmark`'s comparisons: the reference
code doing the same work on the same machine, printed as one JSON line.

  inception   pytorch-fid's InceptionV3 feature pass (pool3, resize to
              299x299 included) on a batch of random images of a side
  sngan       torch_mimicry's SNGAN (32x32) training step as its trainer
              makes it: n_critic hinge-loss D moves on real batches, then one
              G move on the last one's size, Adam(2e-4, betas (0, 0.9))

Runs in its own environment (torch is not a gan_jax dependency):
  python -m venv /tmp/torchenv
  /tmp/torchenv/bin/pip install torch torchvision pytorch-fid torch-mimicry
  /tmp/torchenv/bin/python benchmarks/torch_side.py inception --image_size=32
  /tmp/torchenv/bin/python benchmarks/torch_side.py sngan --batch=64 --n_critic=5
"""
import argparse
import json
import statistics
import time


def inception(args) -> dict:
  import torch
  from pytorch_fid import inception as pytorch_fid_inception
  # The network with random weights (speed does not depend on them): the
  # weight download is replaced by torchvision's freshly built state dict.
  pytorch_fid_inception.load_state_dict_from_url = (
      lambda *a, **k: pytorch_fid_inception._inception_v3(
          num_classes=1008, aux_logits=False, weights=None).state_dict())
  model = pytorch_fid_inception.InceptionV3([3]).eval()
  images = torch.rand(args.batch, 3, args.image_size, args.image_size)
  with torch.no_grad():
    start = time.perf_counter()
    model(images)
    first_s = time.perf_counter() - start
    rates = []
    for _ in range(args.repeats):
      start = time.perf_counter()
      model(images)
      rates.append(args.batch / (time.perf_counter() - start))
  images_per_s = statistics.median(rates)
  return dict(feature_pass='pytorch_fid.InceptionV3', torch=torch.__version__,
              threads=torch.get_num_threads(), image_shape=[args.image_size] * 2 + [3],
              batch=args.batch, images_per_s=round(images_per_s, 2),
              first_call_s=round(first_s, 2),
              minutes_per_50k=round(50_000 / images_per_s / 60, 1))


def _mimicry_sngan():
  # torch_mimicry's package __init__ imports its TensorFlow metrics, and
  # TensorFlow beside torch crashes: its nets are imported on their own.
  import importlib.util
  import sys
  import types
  package = types.ModuleType('torch_mimicry')
  package.__path__ = importlib.util.find_spec('torch_mimicry').submodule_search_locations
  sys.modules.setdefault('torch_mimicry', package)
  from torch_mimicry.nets import sngan
  return sngan


def sngan(args) -> dict:
  import torch
  nets = _mimicry_sngan()
  device = torch.device(args.device)
  generator = nets.SNGANGenerator32().to(device).train()
  discriminator = nets.SNGANDiscriminator32().to(device).train()
  opt_g = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.0, 0.9))
  opt_d = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.0, 0.9))
  real = torch.rand(args.n_critic, args.batch, 3, 32, 32, device=device) * 2 - 1

  def step():
    # Mimicry's Trainer: n_dis D train_steps, the G train_step after the last.
    for k in range(args.n_critic):
      opt_d.zero_grad()
      with torch.no_grad():
        fake = generator(torch.randn(args.batch, 128, device=device))
      loss_d = (torch.relu(1.0 - discriminator(real[k])).mean()
                + torch.relu(1.0 + discriminator(fake)).mean())
      loss_d.backward()
      opt_d.step()
    opt_g.zero_grad()
    loss_g = -discriminator(generator(torch.randn(args.batch, 128, device=device))).mean()
    loss_g.backward()
    opt_g.step()

  def synchronise():
    if device.type == 'cuda':
      torch.cuda.synchronize()

  start = time.perf_counter()
  step()
  synchronise()
  first_s = time.perf_counter() - start
  rates = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    for _ in range(args.steps):
      step()
    synchronise()
    rates.append(args.steps / (time.perf_counter() - start))
  steps_per_s = statistics.median(rates)
  return dict(step='torch_mimicry.SNGAN32', torch=torch.__version__, device=str(device),
              threads=torch.get_num_threads(), batch_size=args.batch,
              n_critic=args.n_critic, steps_per_s=round(steps_per_s, 4),
              images_per_s=round(steps_per_s * args.batch, 2),
              first_step_s=round(first_s, 2))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  commands = parser.add_subparsers(dest='command', required=True)
  timed = commands.add_parser('inception', help='pytorch-fid feature pass')
  timed.add_argument('--image_size', type=int, default=32)
  timed.add_argument('--batch', type=int, default=64)
  timed.add_argument('--repeats', type=int, default=3)
  timed = commands.add_parser('sngan', help="torch_mimicry's SNGAN training step")
  timed.add_argument('--batch', type=int, default=64)
  timed.add_argument('--n_critic', type=int, default=5)
  timed.add_argument('--steps', type=int, default=2)
  timed.add_argument('--repeats', type=int, default=3)
  timed.add_argument('--device', default='cpu')
  args = parser.parse_args()
  run = {'inception': inception, 'sngan': sngan}[args.command]
  print(json.dumps(run(args)), flush=True)


if __name__ == '__main__':
  main()
