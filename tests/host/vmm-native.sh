#!/usr/bin/env bash
# The tiny VMM on the host's own /dev/kvm (ASan+UBSan build): its library test and the
# CLI in every mode and backing; SKIP where the host has no usable /dev/kvm.
set -euo pipefail
vmm=$(cd "$(dirname "$0")/../../tools/vmm" && pwd)
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no usable /dev/kvm on this host"; exit 77; }
make -s -C "$vmm" SANITIZE=1 check
