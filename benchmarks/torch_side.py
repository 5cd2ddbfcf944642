"""The PyTorch side of `gan_jax.benchmark`'s comparisons: the reference
code doing the same work on the same machine, printed as one JSON line.

  inception   pytorch-fid's InceptionV3 feature pass (pool3, resize to
              299x299 included) on a batch of random images of a side

Runs in its own environment (torch is not a gan_jax dependency):
  python -m venv /tmp/torchenv
  /tmp/torchenv/bin/pip install torch torchvision pytorch-fid
  /tmp/torchenv/bin/python benchmarks/torch_side.py inception --image_size=32
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  commands = parser.add_subparsers(dest='command', required=True)
  timed = commands.add_parser('inception', help='pytorch-fid feature pass')
  timed.add_argument('--image_size', type=int, default=32)
  timed.add_argument('--batch', type=int, default=64)
  timed.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args()
  print(json.dumps({'inception': inception}[args.command](args)), flush=True)


if __name__ == '__main__':
  main()
