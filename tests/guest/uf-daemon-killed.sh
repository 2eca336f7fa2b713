#!/bin/sh
# The daemon dies while vCPUs wait for a page: it holds the only device fd, so its death
# detaches the VM. Park mode: the parked vCPUs must return to the VMM with the GFN (an
# error exit, never a zero page and never a hang). Exit mode: the VMM waits with a
# waiter fd (KVMUF_WAITER), which does not keep the VM attached: its KVMUF_WAIT must say
# the VM detached. The module must unload once the VMMs are gone. The daemon's image
# lacks the pages from GFN 0x10012c on, so vCPU 1 waits there.
. /tests/lib-uf.sh
snapshot "$tmp/small" 300
for case in "park anon" "park memfd" "exit anon" "exit memfd"; do
	set -- $case
	mode=$1 mem=$2
	start_daemon "$tmp/small"
	timeout -s KILL 60 kvmuf-vmm -v 2 -b 1M -m $mem -u $mode -D "$tmp/sock" -S "$tmp/small" >"$tmp/vmm.out" 2>&1 &
	vpid=$!
	sleep 3
	kill -0 $vpid 2>/dev/null || { show vmm "$tmp/vmm.out"; fail "$case: the VMM ended before the daemon was killed"; }
	kill -9 $dpid
	wait_exit $vpid 20 || fail "$case: the VMM hung after the daemon was killed"
	[ $rc -ne 0 ] && [ $rc -ne 137 ] || { show vmm "$tmp/vmm.out"; fail "$case: VMM exit $rc, expected a failure"; }
	grep -q 'gfn 0x10012c still missing and nobody will serve it' "$tmp/vmm.out" ||
		{ show vmm "$tmp/vmm.out"; fail "$case: no error exit naming gfn 0x10012c"; }
	[ $mode = park ] || grep -q 'gfn 0x10012c still missing and nobody will serve it (kvm-userfault detached the VM)' "$tmp/vmm.out" ||
		{ show vmm "$tmp/vmm.out"; fail "$case: the waiter's KVMUF_WAIT did not say the VM detached"; }
	echo "ok: $case: $(grep -m 1 'nobody will serve' "$tmp/vmm.out")"
done
# The VMs are gone: their states (orphans with missing GFNs) must be freed, so the module
# has no user left (rmmod itself is the suite's module-unload test).
i=0
while [ "$(cat /sys/module/kvm_userfault/refcnt)" != 0 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(cat /sys/module/kvm_userfault/refcnt)" = 0 ] || fail "module still in use after the VMMs exited"
echo "ok: module has no users left"
