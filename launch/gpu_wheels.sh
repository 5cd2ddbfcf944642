#!/usr/bin/env bash
# Builds, as wheels into DIR, the Python packages that launch/gpu_benchmark.sh
# needs beyond a GPU image's JAX, PyTorch, flax, optax, orbax-checkpoint, absl,
# etils, tensorstore, protobuf, numpy, pillow, tqdm, six and wrapt:
# ml-collections, tensorflow-datasets and what importing it needs, and
# torch-mimicry, at the versions gan_jax was tested with. For a GPU machine without
# internet: carry DIR there and run `WHEELS=DIR bash launch/gpu_benchmark.sh`.
# All of them are pure Python (promise and torch-mimicry ship no wheel and are
# built here), so the wheels install on any Python 3.
#
#   bash launch/gpu_wheels.sh DIR
set -euo pipefail
dir=${1:?usage: launch/gpu_wheels.sh DIR}
python3 -m pip wheel -q --no-deps -w "$dir" \
    ml-collections==1.1.0 tensorflow-datasets==4.9.10 promise==2.3 \
    tensorflow-metadata==1.21.0 googleapis-common-protos==1.76.0 \
    immutabledict==4.3.1 toml==0.10.2 torch-mimicry==0.1.16
if ls "$dir"/*.whl | grep -v -- '-none-any.whl'; then
  echo 'the wheels above are not pure Python: build them for the GPU machine' >&2
  exit 1
fi
du -sh "$dir"
