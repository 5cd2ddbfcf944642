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
# one Python (PYTHON, default python3; TORCH_PYTHON, default PYTHON, runs
# the PyTorch side). TensorFlow is not needed: the benchmark's path imports
# none. DEVICE=cpu, MODELS, ROUNDS, STEPS and REPEATS change what is timed
# (e.g. a quick check of the script on a CPU). A machine without internet gets the other
# packages gan_jax and the PyTorch side need as wheels: WHEELS=DIR installs
# every *.whl in DIR into a scratch site-packages first (build DIR with
# launch/gpu_wheels.sh where pip can download).
set -euo pipefail
out=${1:-benchmark_gpu}
python=${PYTHON:-python3}
torch_python=${TORCH_PYTHON:-$python}
device=${DEVICE:-cuda}
steps=${STEPS:-10}
repeats=${REPEATS:-3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

if [[ -n "${WHEELS:-}" ]]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target /tmp/gan_jax_site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/gan_jax_site${PYTHONPATH:+:$PYTHONPATH}
fi

# What the machine is, and whether everything imports, before any timing.
check='
import importlib.metadata, importlib.util, platform, sys
names, dists = sys.argv[1].split(","), sys.argv[2].split(",")
print(sys.executable, platform.python_version())
for dist in dists:
  try:
    print(" ", dist, importlib.metadata.version(dist))
  except importlib.metadata.PackageNotFoundError:
    print(" ", dist, "not installed")
missing = [n for n in names if importlib.util.find_spec(n) is None]
if missing:
  sys.exit("missing: " + ", ".join(missing) + "; install them, or give WHEELS=DIR "
           "(launch/gpu_wheels.sh builds DIR)")
'
{
  "$python" -c "$check" jax,flax,optax,orbax.checkpoint,ml_collections,tensorflow_datasets \
      jax,jaxlib,flax,optax,orbax-checkpoint,ml-collections,tensorflow-datasets
  "$torch_python" -c "$check" torch,torch_mimicry torch,torch-mimicry
  # The programs themselves, so that a missing dependency of a dependency
  # shows here rather than after the first timing.
  "$python" -c 'import gan_jax.benchmark, jax; print("jax devices", jax.devices())'
  "$torch_python" benchmarks/torch_side.py --help > /dev/null
  if [[ "$device" == cuda ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  fi
} 2>&1 | tee "$out/machine.txt"

"$python" benchmarks/compare.py --device="$device" --torch_python="$torch_python" \
    --jax_python="$python" --models="${MODELS:-sngan,dcgan28,dcgan64,mlp}" \
    --rounds="${ROUNDS:-2}" --steps="$steps" --repeats="$repeats" \
    --json_out="$out/compare.jsonl" | tee "$out/compare.md"

for config in ${GAN_JAX_ONLY-cifar10_biggan cifar10_sndcgan}; do
  JAX_PLATFORMS=$device "$python" -m gan_jax.benchmark --config=configs/$config.py \
      --steps="$steps" --repeats="$repeats" | tee -a "$out/gan_jax.jsonl"
done
