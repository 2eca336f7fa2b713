#!/usr/bin/env bash
# First command of the README: install the dependencies (root), then run the main job.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
exec make -C "$top" demo
