#!/usr/bin/env bash
# He et al. 2015, Figs. 2-3: 22- and 30-layer plain ReLU nets, He vs Xavier vs Keras built-ins.
# Default: the quick profile on offline Shapeset-location data (36 runs; runtime:
# reproductions/configs/he2015.py).
# Extra arguments go to the driver: --profile full|smoke|lr_search, --seeds 0 1 2, --workdir DIR, ...
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec python -m reproductions.he2015 "$@"
