#!/usr/bin/env bash
# Zhang et al. 2019 (Fixup), with SkipInit and ReZero: residual CNNs of 10 to 1,000 layers (10,000
# on a GPU) without normalization vs BatchNorm, He and Keras's built-ins, at one learning rate; and
# the signal at initialization against depth.
# Default: the quick profile on Fashion-MNIST, offline from Debian's dataset-fashion-mnist
# (runtime: results/zhang2019/README.md). Extra arguments go to the driver:
# --profile full|smoke, --dataset mnist|cifar10 (TFDS), --jobs N, --workdir DIR, --plot-only, ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.zhang2019 "$@"
