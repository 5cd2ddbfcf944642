#!/usr/bin/env bash
# Times the training steps on one GPU, gan_jax beside PyTorch on the same
# card, and writes what it measured to OUT_DIR (default: benchmark_gpu/):
#   - benchmarks/compare.py, alternating model by model, two rounds: the
#     CIFAR-10 SNGAN step (n_critic 5, batch 64) against torch_mimicry's and
#     the seed DCGANs and MLP GAN (batch 128) against their PyTorch steps
#     (benchmarks/torch_side.py), as compare.md (the table) and compare.jsonl;
#   - gan_jax alone: the CIFAR-10 BigGAN and SN-DCGAN steps (no installable
#     PyTorch reference), as gan_jax.jsonl.
#
#   bash launch/gpu_benchmark.sh [OUT_DIR]
#
# Run from the repository root on a machine with JAX for CUDA and PyTorch in
# one Python (PYTHON, default python3). TensorFlow is not needed: the
# benchmark's path imports none. A machine without internet gets the other
# packages gan_jax and the PyTorch side need as wheels: WHEELS=DIR installs
# every *.whl in DIR into a scratch site-packages first (build DIR with
# launch/gpu_wheels.sh where pip can download).
set -euo pipefail
out=${1:-benchmark_gpu}
python=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

if [[ -n "${WHEELS:-}" ]]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target /tmp/gan_jax_site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/gan_jax_site${PYTHONPATH:+:$PYTHONPATH}
fi

# What the machine is, and whether everything imports, before any timing.
"$python" - <<'PY' 2>&1 | tee "$out/machine.txt"
import importlib.metadata, importlib.util, platform, subprocess, sys
print('python', platform.python_version())
missing = [name for name in ('jax', 'flax', 'optax', 'orbax.checkpoint', 'ml_collections',
                             'tensorflow_datasets', 'torch', 'torch_mimicry')
           if importlib.util.find_spec(name) is None]
for dist in ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'ml-collections',
             'tensorflow-datasets', 'torch', 'torch-mimicry'):
  try:
    print(dist, importlib.metadata.version(dist))
  except importlib.metadata.PackageNotFoundError:
    print(dist, 'not installed')
if missing:
  sys.exit(f'missing: {", ".join(missing)}; install them, or give WHEELS=DIR '
           '(launch/gpu_wheels.sh builds DIR)')
import jax, torch
print('jax devices', jax.devices())
print('torch cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))
print(subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total,driver_version',
                      '--format=csv,noheader'], capture_output=True, text=True).stdout)
PY

"$python" benchmarks/compare.py --device=cuda --torch_python="$python" \
    --models=sngan,dcgan28,dcgan64,mlp --rounds=2 \
    --json_out="$out/compare.jsonl" | tee "$out/compare.md"

for config in cifar10_biggan cifar10_sndcgan; do
  "$python" -m gan_jax.benchmark --config=configs/$config.py --steps=10 --repeats=3 \
      | tee -a "$out/gan_jax.jsonl"
done
