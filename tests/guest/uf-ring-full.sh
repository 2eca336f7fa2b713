#!/bin/sh
# A full ring makes the vCPU wait, it never drops a fault: 24 vCPUs share the one VM ring
# of 16 entries (-G), and the server takes 5 ms per page, so the ring fills while vCPUs
# keep faulting. Every page must still arrive (the guest and the host check all of them),
# with exactly one notification per page, and the module must have counted waits.
. /tests/lib-uf.sh
snapshot "$tmp/snap" 96
vmm -v 24 -b 16K -u park -G -R 16 -T 1 -d 5000 -S "$tmp/snap"
[ $rc -eq 0 ] && grep -q ': OK$' "$tmp/vmm.out" || { show vmm "$tmp/vmm.out"; fail "exit $rc"; }
faults=$(field faults "$tmp/vmm.out") waits=$(field waits "$tmp/vmm.out")
[ "$faults" = 96 ] || { show vmm "$tmp/vmm.out"; fail "$faults notifications for 96 pages"; }
[ "$waits" -gt 0 ] || { show vmm "$tmp/vmm.out"; fail "the ring never filled (no waits): the test proved nothing"; }
echo "ok: 24 vCPUs on a 16-entry ring: 96 pages served and verified, $faults notifications, $waits waits for room"
