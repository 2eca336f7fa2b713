#!/bin/sh
# A randomized soak of lifetimes, 40 s: VMs restored through daemons, park or exit mode,
# anonymous or memfd, 1 or 2 vCPUs, some snapshots short (vCPUs wait for pages nobody
# has), with the daemon, the VMM, both or neither killed at a random moment, and rmmod
# tried now and then: while a VM is attached (it must be refused), and at random
# moments (reloaded if it was unused).
# Every VMM must end on its own (success, or a failure naming why) and never hang; the
# kernel must print no splat (the harness checks); afterwards the module must have no
# users left.
. /tests/lib-uf.sh
snapshot "$tmp/full" 512
snapshot "$tmp/short" 100	# less than one vCPU reads (256 pages): a VMM on it waits
end=$(($(date +%s) + 40))
rounds=0 ok=0 failed=0 killed=0 refused=0 unloaded=0
while [ "$(date +%s)" -lt $end ]; do
	r=$RANDOM gone=
	action=$((RANDOM % 7))
	[ $((rounds % 5)) -ne 2 ] || action=3	# at least one in-use rmmod in every 5 rounds
	mode=park; [ $((r % 2)) -eq 0 ] || mode=exit
	mem=anon; [ $((r / 2 % 2)) -eq 0 ] || mem=memfd
	snap=$tmp/full; [ $((r / 4 % 4)) -ne 0 ] || snap=$tmp/short
	# The in-use rmmod needs a VMM that stays attached: one waiting for a page nobody has.
	[ $action -ne 3 ] || snap=$tmp/short
	nv=$((1 + r / 16 % 2))
	sock=$tmp/sock.$rounds
	kvmuf-daemon -q -l "$sock" -f "$snap" >"$tmp/daemon.out" 2>&1 &
	dpid=$!
	timeout -s KILL 60 kvmuf-vmm -q -v $nv -b 1M -m $mem -u $mode -D "$sock" -S "$snap" \
		>"$tmp/vmm.out" 2>&1 &
	vpid=$!
	[ $action -eq 3 ] || usleep $((RANDOM % 1500 * 1000))
	case $action in
	0) kill -9 $dpid 2>/dev/null && killed=$((killed + 1)) ;;
	1) kill -9 $vpid 2>/dev/null && killed=$((killed + 1)) ;;
	2) kill -9 $dpid $vpid 2>/dev/null && killed=$((killed + 1)) ;;
	3) # Once this round's VM is attached the module is in use until the daemon goes.
	   # (Not "the refcount is not 0": the state of the last round's VM may still be
	   # there, and be reaped before this one attaches.)
	   i=0
	   until vm_attached $vpid || [ $i -ge 100 ]; do
		usleep 50000; i=$((i + 1))
	   done
	   [ $i -lt 100 ] || { show vmm "$tmp/vmm.out"; fail "round $rounds: the VM never attached"; }
	   usleep $((RANDOM % 500 * 1000))
	   rmmod kvm_userfault 2>/dev/null && fail "rmmod succeeded with a VM attached (round $rounds)"
	   refused=$((refused + 1)) ;;
	4) if rmmod kvm_userfault 2>/dev/null; then
		# Right only while nothing used the module: the VMM had not opened the device
		# yet, or was done. Had it been in use, its vCPUs would now oops the kernel.
		unloaded=$((unloaded + 1)) gone=1
		insmod "$KVMUF_MODULE" || fail "insmod after the rmmod of round $rounds failed"
		wait_for_node /dev/kvm-userfault || fail "/dev/kvm-userfault did not come back"
	   fi ;;
	esac
	# A short snapshot leaves a vCPU waiting for good: end that round from the daemon's side.
	[ "$snap" = "$tmp/short" ] && { sleep 1; kill -9 $dpid 2>/dev/null; }
	wait_exit $vpid 30 || { show vmm "$tmp/vmm.out"; fail "round $rounds ($mode, $mem, $nv vCPUs): the VMM hung"; }
	case $rc in
	0) ok=$((ok + 1)) ;;
	137) ;;
	*) grep -q "nobody will serve it\\|kvmuf-daemon${gone:+\\|kvm-userfault}" "$tmp/vmm.out" ||
		{ show vmm "$tmp/vmm.out"; fail "round $rounds: VMM exit $rc without saying why"; }
	   failed=$((failed + 1)) ;;
	esac
	kill -9 $dpid 2>/dev/null
	wait $dpid 2>/dev/null
	rounds=$((rounds + 1))
done
i=0
while [ "$(cat /sys/module/kvm_userfault/refcnt)" != 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(cat /sys/module/kvm_userfault/refcnt)" = 0 ] || fail "module still in use after the soak"
[ $rounds -ge 10 ] && [ $ok -ge 1 ] && [ $refused -ge 1 ] ||
	fail "only $rounds rounds, $ok complete restores, $refused in-use rmmods"
echo "ok: $rounds rounds: $ok restores completed, $failed ended with a reason, $killed kills, $refused rmmods refused while attached, $unloaded done while unused; the module unused after"
