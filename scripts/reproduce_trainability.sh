#!/usr/bin/env bash
# Depth x initialization trainability maps: ReLU plain nets x 7 initializers (He's question) and
# deep tanh MLPs over sigma_w^2 x depth with mean-field theory (Schoenholz et al. 2017).
# Default: the quick profile, offline (runtime: reproductions/configs/trainability.py).
# Extra arguments go to the driver: --profile full|smoke|lr_search, --jobs N, --workdir DIR, ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.trainability "$@"
