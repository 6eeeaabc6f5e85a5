#!/usr/bin/env bash
# He et al. 2015, Figs. 2-3: 22- and 30-layer plain ReLU nets, He vs Xavier vs Keras built-ins.
# Default: the faithful profile (the paper's picture) on offline Shapeset-location data (24 runs;
# measured runtimes: reproductions/configs/he2015.py, printed when it starts).
# Extra arguments go to the driver: --profile quick (a fast look, not faithful), --profile
# full|smoke|lr_search, --seeds 0 1 2, --workdir DIR, --verbose (TensorFlow's start-up log), ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.he2015 "$@"
