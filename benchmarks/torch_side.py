"""The PyTorch side of `gan_jax.benchmark`'s comparisons: the reference
code doing the same work on the same machine, printed as one JSON line.

  inception   pytorch-fid's InceptionV3 feature pass (pool3, resize to
              299x299 included) on a batch of random images of a side
  sngan       torch_mimicry's SNGAN (32x32) training step as its trainer
              makes it: n_critic hinge-loss D moves on real batches, then one
              G move on the last one's size, Adam(2e-4, betas (0, 0.9))
  mlp         gan_jax's seed models' training steps, written in torch from
  dcgan28     gan_jax's own definitions (gan_jax/models/mlp.py, dcgan.py,
  dcgan64     dcgan64.py; configs/mnist_mlp.py, mnist.py, mnist_dcgan64.py):
              the same layers, the non-saturating loss on logits, Adam with
              the config's rate and betas, and the step of
              gan_jax/game/train_step.py (n_critic D moves on real batches
              and fresh fakes, then one G move on fresh z of the real
              batch's size)

Runs in its own environment (torch is not a gan_jax dependency):
  python -m venv /tmp/torchenv
  /tmp/torchenv/bin/pip install torch torchvision pytorch-fid torch-mimicry
  /tmp/torchenv/bin/python benchmarks/torch_side.py inception --image_size=32
  /tmp/torchenv/bin/python benchmarks/torch_side.py sngan --batch=64 --n_critic=5
  /tmp/torchenv/bin/python benchmarks/torch_side.py dcgan28 --batch=128 [--device=cuda]

benchmarks/compare.py runs these beside `gan_jax.benchmark` and tabulates both.
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


# gan_jax's seed models: (latent_dim, image shape [C, H, W], Adam's learning
# rate and betas) from configs/mnist_mlp.py, mnist.py and mnist_dcgan64.py
# over gan_jax/config/defaults.py (Adam eps 1e-8, n_critic 1, G's batch = D's).
# The real batches are drawn at the model's size: gan_jax's dcgan64 step also
# resizes its 28x28 uint8 batch to 64x64 (batching.preprocess; the PyTorch
# reference resizes in its data loader), a small part of its step.
SEED_MODELS = {
    'mlp': (50, (1, 28, 28), 3e-4, (0.9, 0.999)),
    'dcgan28': (100, (1, 28, 28), 1e-4, (0.9, 0.999)),
    'dcgan64': (100, (1, 64, 64), 2e-4, (0.5, 0.999)),
}


def _seed_networks(name: str, image_shape, latent_dim: int):
  """(G, D) of a seed model as torch modules, layer for layer gan_jax's:
  G maps z [B, latent_dim] to images [B, C, H, W] in [-1, 1], D images to
  logits [B] (no sigmoid). Weights at torch's default initialisation (the
  step's speed does not depend on them)."""
  from torch import nn
  channels = image_shape[0]
  if name == 'mlp':
    # gan_jax/models/mlp.py: biases everywhere, BatchNorm (torch defaults,
    # = flax momentum 0.9, eps 1e-5) on every hidden layer of G but the first
    # and on both of D's, LeakyReLU(0.2).
    g_layers, width = [], latent_dim
    for i, features in enumerate((128, 256, 512, 1024)):
      g_layers.append(nn.Linear(width, features))
      if i > 0:
        g_layers.append(nn.BatchNorm1d(features))
      g_layers.append(nn.LeakyReLU(0.2))
      width = features
    size = channels * image_shape[1] * image_shape[2]
    generator = nn.Sequential(*g_layers, nn.Linear(width, size), nn.Tanh(),
                              nn.Unflatten(1, tuple(image_shape)))
    discriminator = nn.Sequential(
        nn.Flatten(),
        nn.Linear(size, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
        nn.Linear(512, 256), nn.BatchNorm1d(256), nn.LeakyReLU(0.2),
        nn.Linear(256, 1), nn.Flatten(0))
  elif name == 'dcgan28':
    # gan_jax/models/dcgan.py (the TF tutorial's DCGAN): Keras's
    # BatchNormalization (momentum 0.99 = torch's 0.01, eps 1e-3) and
    # LeakyReLU slope 0.3; no biases in G, biases in D. 'SAME' padding as
    # torch's symmetric paddings of the same output sizes and FLOPs: 5x5
    # stride 1 -> padding 2; stride 2 -> padding 2 (conv; 28 -> 14 -> 7) and
    # padding 2 plus output_padding 1 (transposed conv; 7 -> 14 -> 28). The
    # stride-2 windows sit one pixel off 'SAME''s (which pads (1, 2), not
    # (2, 1)); matching that would take an F.pad or an output crop, work
    # gan_jax does not do. D's dropout 0.3 after each LeakyReLU: torch's
    # Dropout, the distribution of gan_jax's per-example masks
    # (layers.ExampleDropout).
    bn = lambda features, dims: getattr(nn, f'BatchNorm{dims}d')(
        features, eps=1e-3, momentum=0.01)
    act = lambda: nn.LeakyReLU(0.3)
    generator = nn.Sequential(
        nn.Linear(latent_dim, 7 * 7 * 256, bias=False), bn(7 * 7 * 256, 1), act(),
        # flax reshapes to [B, 7, 7, 256], channels last: the same network up
        # to an order of the Dense's features (so no transpose here).
        nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False), bn(128, 2), act(),
        nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False),
        bn(64, 2), act(),
        nn.ConvTranspose2d(64, channels, 5, 2, 2, output_padding=1, bias=False),
        nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(channels, 64, 5, 2, 2), act(), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, 2, 2), act(), nn.Dropout(0.3),
        # flax flattens [B, 7, 7, 128]: the same Dense up to the order of its
        # inputs.
        nn.Flatten(), nn.Linear(7 * 7 * 128, 1), nn.Flatten(0))
  elif name == 'dcgan64':
    # gan_jax/models/dcgan64.py (the PyTorch DCGAN layout): biases on every
    # convolution, BatchNorm at torch's defaults, ReLU in G, LeakyReLU(0.2)
    # in D (no batch norm on D's first layer).
    generator = nn.Sequential(
        nn.Unflatten(1, (latent_dim, 1, 1)),
        nn.ConvTranspose2d(latent_dim, 256, 4, 1, 0), nn.BatchNorm2d(256), nn.ReLU(),
        nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, channels, 4, 4, 0), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(channels, 64, 4, 4, 0), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),
        nn.Conv2d(256, 1, 4, 1, 0), nn.Flatten(0))
  else:
    raise ValueError(f'unknown seed model {name!r}')
  return generator, discriminator


def _timed(step, synchronise, steps: int, repeats: int, warmup: int):
  """(median steps/s over `repeats` runs of `steps` steps, seconds of the
  first step): the first step, then `warmup` untimed ones (gan_jax.benchmark
  runs 3 after compiling), then the timed repeats."""
  start = time.perf_counter()
  step()
  synchronise()
  first_s = time.perf_counter() - start
  for _ in range(warmup):
    step()
  synchronise()
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      step()
    synchronise()
    rates.append(steps / (time.perf_counter() - start))
  return statistics.median(rates), first_s


def seed_model(args) -> dict:
  """The training step of gan_jax's seed model `args.command`, as
  gan_jax/game/train_step.py makes it with the model's config:

    n_critic D moves, each on its own real batch and fresh fakes
      (G in training mode, no gradient to G), D called in training mode on
      the real and on the fake batch separately, loss
      mean softplus(-D(x)) + mean softplus(D(G(z))) (BCE with logits);
    one G move on fresh z of the real batch's size (g_batch_size 0), loss
      mean softplus(-D(G(z))) (non_saturating), D in training mode, G's
      gradient only (D's parameters frozen for the move, as jax.grad over
      G's parameters computes no D weight gradient);
    Adam(lr, betas, eps 1e-8) for both players.
  """
  import torch
  import torch.nn.functional as F
  device = torch.device(args.device)
  if device.type == 'cuda':
    # XLA autotunes its GPU convolutions; cudnn's counterpart.
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
  torch.manual_seed(0)
  latent_dim, image_shape, lr, betas = SEED_MODELS[args.command]
  generator, discriminator = _seed_networks(args.command, image_shape, latent_dim)
  generator, discriminator = generator.to(device).train(), discriminator.to(device).train()
  opt_g = torch.optim.Adam(generator.parameters(), lr, betas=betas, eps=1e-8)
  opt_d = torch.optim.Adam(discriminator.parameters(), lr, betas=betas, eps=1e-8)
  real = torch.rand(args.n_critic, args.batch, *image_shape, device=device) * 2 - 1

  def step():
    for k in range(args.n_critic):
      with torch.no_grad():
        fake = generator(torch.randn(args.batch, latent_dim, device=device))
      opt_d.zero_grad()
      loss_d = (F.softplus(-discriminator(real[k])).mean()
                + F.softplus(discriminator(fake)).mean())
      loss_d.backward()
      opt_d.step()
    discriminator.requires_grad_(False)
    opt_g.zero_grad()
    fake = generator(torch.randn(args.batch, latent_dim, device=device))
    loss_g = F.softplus(-discriminator(fake)).mean()
    loss_g.backward()
    opt_g.step()
    discriminator.requires_grad_(True)

  def synchronise():
    if device.type == 'cuda':
      torch.cuda.synchronize()

  steps_per_s, first_s = _timed(step, synchronise, args.steps, args.repeats,
                                args.warmup)
  count = lambda module: sum(p.numel() for p in module.parameters())
  return dict(model=args.command, step=f'gan_jax {args.command} in torch',
              torch=torch.__version__, device=str(device),
              threads=torch.get_num_threads(), batch_size=args.batch,
              n_critic=args.n_critic, g_params=count(generator),
              d_params=count(discriminator), steps_per_s=round(steps_per_s, 4),
              images_per_s=round(steps_per_s * args.batch, 2),
              first_step_s=round(first_s, 3))


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
  for name in SEED_MODELS:
    timed = commands.add_parser(name, help=f"gan_jax's {name} training step")
    timed.add_argument('--batch', type=int, default=128)
    timed.add_argument('--n_critic', type=int, default=1)
    timed.add_argument('--steps', type=int, default=10)
    timed.add_argument('--repeats', type=int, default=3)
    timed.add_argument('--warmup', type=int, default=2,
                       help='untimed steps after the first')
    timed.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    timed.add_argument('--cudnn_benchmark', default=True,
                       action=argparse.BooleanOptionalAction,
                       help='torch.backends.cudnn.benchmark on cuda')
  args = parser.parse_args()
  run = dict(inception=inception, sngan=sngan,
             **{name: seed_model for name in SEED_MODELS})[args.command]
  print(json.dumps(run(args)), flush=True)


if __name__ == '__main__':
  main()
