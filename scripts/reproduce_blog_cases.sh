#!/usr/bin/env bash
# Blog post case 1 (SimpleMLP on Shapeset-3x2: He vs Glorot vs Keras default).
# Extra arguments go to the driver, e.g. --profile smoke, --seeds 0 1, --workdir DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m reproductions.blog_cases "$@"
