#!/usr/bin/env bash
# Runs one config on this machine's accelerators (all local devices, pmapped).
#   launch/local.sh configs/mnist.py [WORKDIR] [--config.key=value ...]
# CUDA_VISIBLE_DEVICES picks the GPUs; on a CPU-only machine
#   XLA_FLAGS=--xla_force_host_platform_device_count=N
# splits the CPU into N devices (for testing multi-device code).
set -euo pipefail
config=${1:?usage: launch/local.sh CONFIG [WORKDIR] [overrides...]}
shift
workdir=runs/$(basename "${config%.py}")
if [[ $# -gt 0 && $1 != --* ]]; then workdir=$1; shift; fi
exec python -m gan_jax.main --config="$config" --workdir="$workdir" "$@"
