#!/usr/bin/env bash
# The init doctor's calibration panel: its verdicts on known-good nets (He's MLP and plain net, a
# Pre-LN transformer, KerasHub GPT-2/BERT/RoBERTa, Keras applications) and known-bad ones
# (Xavier's 1/n, deep sigmoid, over-scaled He, He in a deep residual net without normalization,
# a Post-LN transformer without warmup), checked against short training runs from the current
# init and from the doctor's recommendation.
# Default: the quick profile, offline (runtime: reproductions/configs/doctor_panel.py).
# Extra arguments go to the driver: --profile full|smoke, --jobs N, --workdir DIR, ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.doctor_panel "$@"
