#!/bin/sh
# The daemon dies while vCPUs are parked: it holds the only device fd, so its death
# detaches the VM; the parked vCPUs must return to the VMM with the GFN (an error exit,
# never a zero page and never a hang), and the module must unload once the VMM is gone.
# The daemon's image lacks the pages from GFN 0x10012c on, so vCPU 1 parks there.
. /tests/lib-uf.sh
snapshot "$tmp/small" 300
for mem in anon memfd; do
	start_daemon "$tmp/small"
	timeout -s KILL 60 kvmuf-vmm -v 2 -b 1M -m $mem -u park -D "$tmp/sock" -S "$tmp/small" >"$tmp/vmm.out" 2>&1 &
	vpid=$!
	sleep 3
	kill -0 $vpid 2>/dev/null || { show vmm "$tmp/vmm.out"; fail "$mem: the VMM ended before the daemon was killed"; }
	kill -9 $dpid
	wait_exit $vpid 20 || fail "$mem: the VMM hung after the daemon was killed"
	[ $rc -ne 0 ] && [ $rc -ne 137 ] || { show vmm "$tmp/vmm.out"; fail "$mem: VMM exit $rc, expected a failure"; }
	grep -q 'gfn 0x10012c still missing and nobody will serve it' "$tmp/vmm.out" ||
		{ show vmm "$tmp/vmm.out"; fail "$mem: no error exit naming gfn 0x10012c"; }
	echo "ok: $mem: $(grep -m 1 'nobody will serve' "$tmp/vmm.out")"
done
# The VMs are gone: their states (orphans with missing GFNs) must be freed, so the module
# has no user left (rmmod itself is the suite's module-unload test).
i=0
while [ "$(cat /sys/module/kvm_userfault/refcnt)" != 0 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(cat /sys/module/kvm_userfault/refcnt)" = 0 ] || fail "module still in use after the VMMs exited"
echo "ok: module has no users left"
