#!/bin/sh
# The examples (examples/), built against an installed libkvmuf through pkg-config: the
# park-mode and the exit-mode VMM restore their guest's memory through kvm-userfault and
# check what the guest read; the minimal page server serves a kvmuf-vmm restore.
. /tests/lib-uf.sh
out=$(timeout -s KILL 60 park-vmm 2>&1) || { echo "$out"; fail "park-vmm failed"; }
echo "  $out"
out=$(timeout -s KILL 60 exit-vmm 2>&1) || { echo "$out"; fail "exit-vmm failed"; }
echo "  $out"
snapshot "$tmp/snap" 256
mini-daemon "$tmp/sock" "$tmp/snap" >"$tmp/mini.out" 2>&1 &
dpid=$!
i=0
while [ ! -S "$tmp/sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
vmm -q -v 1 -b 1M -u park -D "$tmp/sock" -S "$tmp/snap"
[ "$rc" -eq 0 ] || { show vmm "$tmp/vmm.out"; show mini-daemon "$tmp/mini.out"; fail "kvmuf-vmm with mini-daemon: exit $rc"; }
wait_exit $dpid 10 || { show mini-daemon "$tmp/mini.out"; fail "mini-daemon did not exit after the VM"; }
[ "$rc" -eq 0 ] && grep -q 'served 256 pages' "$tmp/mini.out" ||
	{ show mini-daemon "$tmp/mini.out"; fail "mini-daemon: exit $rc"; }
echo "  $(cat "$tmp/mini.out")"
echo "ok: park-vmm, exit-vmm and mini-daemon, built against the installed library, restore right"
