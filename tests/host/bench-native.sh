#!/usr/bin/env bash
# kvmuf-bench on the host's own KVM: the uffd modes run (and verify every page), the
# kvm-userfault modes are skipped with a clear reason, JSON and .dat are written.
set -euo pipefail
dir=$(cd "$(dirname "$0")/../../tools/bench" && pwd)
exec "$dir/check.sh" "$dir/kvmuf-bench"
