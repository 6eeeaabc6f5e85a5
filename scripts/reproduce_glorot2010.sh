#!/usr/bin/env bash
# Glorot & Bengio 2010: deep MLPs (sigmoid/tanh/softsign x standard/normalized init) on Shapeset-3x2,
# Figs. 2-4, 6-8, 11, Table 1 and the signal-propagation claims.
# Default: the quick profile, offline (runtime: reproductions/configs/glorot2010.py).
# Extra arguments go to the driver: --profile long|full|smoke|lr_search, --seeds 0 1 2, --workdir DIR, ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.glorot2010 "$@"
