#!/usr/bin/env bash
# What the device of this machine does for the reproductions: runs the He 2015 and Glorot 2010
# smoke profiles end to end, then a throughput probe of each full profile's largest net, and
# prints the devices, steps/s and the projected wall time of each full profile.
# Works on a CPU-only machine too (and says so). KERAS_BACKEND=jax selects JAX.
set -euo pipefail
cd "$(dirname "$0")/.."
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
python -m reproductions.he2015 --profile smoke --workdir "$workdir/he2015" --quiet
echo "he2015 smoke profile: ok"
python -m reproductions.glorot2010 --profile smoke --workdir "$workdir/glorot2010" --quiet
echo "glorot2010 smoke profile: ok"
exec python -m benchmarks.accelerator_check "$@"
