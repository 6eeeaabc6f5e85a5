#!/usr/bin/env bash
# Xiao et al. 2018: vanilla tanh CNNs of 1,000 layers, delta-orthogonal vs Gaussian at the critical
# point vs keras.HeNormal / GlorotUniform, the (sigma_w^2, depth) map with 6 xi_c, Jacobian spectra.
# Default: the quick profile on Fashion-MNIST, offline from Debian's dataset-fashion-mnist
# (runtime: results/xiao2018/README.md). Extra arguments go to the driver:
# --profile long|full|smoke, --dataset mnist|cifar10 (TFDS), --jobs N, --workdir DIR, --plot-only, ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.xiao2018 "$@"
