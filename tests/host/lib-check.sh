#!/usr/bin/env bash
# libkvmuf's own check (tools/lib: kvmuf-probe linked statically and dynamically, run
# against whatever device this machine has: none is not a failure), under ASan+UBSan.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$top/tools/lib" SANITIZE=1 check
