#!/bin/sh
# Restore from an NBD server: the snapshot is served by nbdkit (file plugin, delay filter:
# 10 ms per read, a network) and kvmuf-daemon reads it through libnbd. Every run's VMM
# compares all its pages with the snapshot (-S).
#   - demand only, recording the working set;
#   - with a background prefetch sweep (rate-limited so that it runs while the guest
#     faults): the faults' p99 latency (fault to resolved) must stay within 2x of the
#     demand-only p99, and some pages must have come by prefetch, some by fault;
#   - replaying the recorded working set: fewer faults than without, and a
#     shorter run (the guest's time to touch its working set);
#   - the other install paths with readahead and prefetch: module-only anonymous memory
#     (KVMUF_RESOLVE_COPY), module-only memfd (RESOLVE_COPY, never a write of the memfd:
#     prefetch), exit mode, and the VMM reading missing pages itself (-P, the backstop).
. /tests/lib-uf.sh
command -v nbdkit >/dev/null || skip "no nbdkit in the guest (install nbdkit on the host)"
snapshot "$tmp/snap" 1024
npid=''
trap 'kill -9 $dpid $npid 2>/dev/null; rm -rf "$tmp"' EXIT
start_nbdkit "$tmp/nbd.sock" "$tmp/snap" 10
uri="nbd+unix:///?socket=$tmp/nbd.sock"

# restore NAME VMM-ARGS -- DAEMON-ARGS: one restore of 2 vCPUs x 2 MiB from NBD; the
# daemon's restore line in $tmp/NAME.d, the VMM's summary in $tmp/NAME.v.
restore() {
	local name=$1 vargs=
	shift
	while [ "$1" != -- ]; do vargs="$vargs $1"; shift; done
	shift
	start_daemon "$uri" -T 2 "$@"
	vmm -v 2 -b 2M -D "$tmp/sock" -S "$tmp/snap" $vargs
	cp "$tmp/vmm.out" "$tmp/$name.v"
	[ $rc -eq 0 ] || { show vmm "$tmp/vmm.out"; show daemon "$tmp/daemon.out"; fail "$name: VMM exit $rc"; }
	wait_exit $dpid 20 || fail "$name: the daemon did not end with the VMM"
	cp "$tmp/daemon.out" "$tmp/$name.d"
	[ $rc -eq 0 ] || { show daemon "$tmp/daemon.out"; fail "$name: daemon exit $rc"; }
	grep -q 'source nbd' "$tmp/$name.d" || { show daemon "$tmp/daemon.out"; fail "$name: the pages did not come over NBD"; }
	echo "ok: $name: $(grep 'restore:' "$tmp/$name.d" | sed 's/.*restore: //')"
}
# after NAME FIELD: the number after "FIELD " in the daemon's restore line.
after() { sed -n "s/.*restore:.* $2 \([0-9.]*\).*/\1/p" "$tmp/$1.d"; }
# The VMM's run time in microseconds (its summary: "N vcpus, N pages, S s, ...").
run_us() { sed -n 's/.* pages, \([0-9]*\)\.\([0-9]*\) s, .*/\1\2/p' "$tmp/$1.v" | tail -n 1 | sed 's/^0*//'; }
ms_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

restore demand -u park -- --record "$tmp/ws"
[ -s "$tmp/ws" ] && head -n 1 "$tmp/ws" | grep -q '^kvmuf-working-set 1$' || fail "no working set recorded"
ws=$(grep -c '^0x' "$tmp/ws")
[ "$ws" -ge 1000 ] || fail "the working set holds $ws pages; the guest touched 1024"
restore prefetch -u park -- --prefetch 1 --prefetch-rate 1000
restore replay -u park -- --replay "$tmp/ws"

p99_d=$(after demand p99) p99_p=$(after prefetch p99)
ms_le "$p99_p" "$(awk -v a="$p99_d" 'BEGIN { print 2 * a }')" ||
	fail "with the prefetch sweep the faults' p99 is $p99_p ms, over 2x the $p99_d ms without"
pf=$(after prefetch prefetched) dm=$(after prefetch demand)
[ "$pf" -gt 0 ] && [ "$dm" -gt 0 ] || fail "prefetch run: $pf pages prefetched, $dm by fault: the sweep did not run while the guest faulted"
# The vCPUs' faults (ring entries): pages they found missing, however they came then.
faults() { sed -n 's/.*restore:.* over \([0-9]*\) faults.*/\1/p' "$tmp/$1.d"; }
dm_d=$(faults demand) dm_r=$(faults replay)
[ "$dm_r" -lt "$dm_d" ] || fail "replaying the working set: $dm_r faults, not fewer than the $dm_d without"
t_d=$(run_us demand) t_r=$(run_us replay)
[ "$t_r" -lt "$t_d" ] || fail "replaying the working set: the guest took $t_r us, not less than the $t_d us without"
echo "ok: fault p99 $p99_d ms demand only, $p99_p ms with the sweep ($pf pages prefetched, $dm by fault)"
echo "ok: replay: the vCPUs faulted $dm_r times instead of $dm_d; the guest touched its working set in $t_r us instead of $t_d us"

restore module-anon -u park -M -- --readahead 8 --prefetch 1
restore module-memfd -u park -M -m memfd -- --readahead 4 --prefetch 1
restore exit -u exit -- --readahead 8
restore vmm-reads -u park -P 64 -- --prefetch 1 --prefetch-rate 2000
