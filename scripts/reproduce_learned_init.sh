#!/usr/bin/env bash
# Learned initialization: GradInit (Zhu et al. 2021) and MetaInit (Dauphin & Schoenholz 2019)
# from Xavier's init, against He, LSUV (and Fixup), on He et al.'s 30-layer plain ReLU net and a
# 100-layer residual net without normalization; and the scales they learn, layer by layer.
# Default: the quick profile, offline (Shapeset-location generated here; Fashion-MNIST from
# Debian's dataset-fashion-mnist). Runtime: results/learned_init/README.md. Extra arguments go
# to the driver: --profile full|smoke, --jobs N, --workdir DIR, --plot-only, ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.learned_init "$@"
