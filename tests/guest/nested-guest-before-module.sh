#!/bin/sh
# Baseline: a nested 64-bit guest touching its pages runs on stock KVM, before our module.
. /tests/lib.sh
module_loaded && fail "kvm_userfault is already loaded; this is the no-module baseline"
kvmuf-vmm -v 2 -b 1M
