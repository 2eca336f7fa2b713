#!/bin/sh
# With the module loaded, nested guests still run correctly: anonymous and memfd memory,
# one and two vCPUs, and the guest reads back what it wrote.
. /tests/lib.sh
module_loaded || fail "kvm_userfault is not loaded"
kvmuf-vmm -v 1 -b 2M -w || fail "1 vCPU, anonymous memory"
kvmuf-vmm -v 2 -b 1M -m memfd -w || fail "2 vCPUs, memfd memory"
kvmuf-vmm -v 2 -b 1M -c || fail "2 vCPUs, guest verifies host-written pages"
