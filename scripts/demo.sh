#!/usr/bin/env bash
# The main job: an offline, end-to-end LTI 1.3 launch on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/credlti demo "$@"
