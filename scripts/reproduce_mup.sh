#!/usr/bin/env bash
# μP learning-rate transfer (Yang et al. 2022, Tensor Programs V): an MLP at several widths over a
# grid of learning rates, standard parametrization vs μP, and the coordinate check.
# Default: the quick profile, offline (runtime: reproductions/configs/yang2022.py).
# Extra arguments go to the driver: --profile full|smoke, --jobs N, --workdir DIR, --plot-only, ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.yang2022 "$@"
