#!/bin/sh
# Lifetimes around a parked vCPU. The daemon's image lacks the pages from GFN 0x10012c
# on, so vCPU 1 parks there for good:
#  1. rmmod while the VM is attached and a vCPU is parked in the module is refused, and
#     the VM is unharmed (the daemon still serves vCPU 0 to the end);
#  2. a fatal signal (SIGKILL of the VMM) wakes the parked vCPU: the VMM dies at once;
#  3. the daemon sees the VM go (EPOLLHUP) and exits on its own;
#  4. the module then has no users.
. /tests/lib-uf.sh
snapshot "$tmp/small" 300
start_daemon "$tmp/small"
timeout -s KILL 60 kvmuf-vmm -v 2 -b 1M -u park -D "$tmp/sock" -S "$tmp/small" >"$tmp/vmm.out" 2>&1 &
vpid=$!
sleep 3
kill -0 $vpid 2>/dev/null || { show vmm "$tmp/vmm.out"; fail "the VMM ended before its vCPU could park"; }

rmmod kvm_userfault 2>"$tmp/rmmod.err" && fail "rmmod succeeded with a VM attached"
module_loaded || fail "module gone although rmmod failed"
echo "ok: rmmod refused while attached: $(cat "$tmp/rmmod.err")"

kill -9 $vpid
wait_exit $vpid 5 || fail "the VMM did not die within 5 s of SIGKILL (parked vCPU not woken)"
echo "ok: SIGKILL of the VMM with a parked vCPU: gone at once"

wait_exit $dpid 10 || fail "the daemon did not notice the VM was gone"
grep -q '^kvmuf-daemon: served 300 pages' "$tmp/daemon.out" ||
	{ show daemon "$tmp/daemon.out"; fail "daemon summary"; }
echo "ok: daemon exited after the VM went: $(tail -n 1 "$tmp/daemon.out")"

i=0
while [ "$(cat /sys/module/kvm_userfault/refcnt)" != 0 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(cat /sys/module/kvm_userfault/refcnt)" = 0 ] || fail "module still in use after the VM went"
echo "ok: module has no users left"
