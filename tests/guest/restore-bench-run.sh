#!/bin/sh
# The restore benchmark (make bench): a snapshot served by nbdkit at 0, 1 and 5 ms per
# read, restored by kvmuf-restore-bench through kvm-userfault and through userfaultfd
# alone (the same page engine, source and prefetch policy), replay off and on, with a
# prefetch sweep. Small geometry: TCG runs the nested guest ~100x slower. The tables go
# to the console, the JSON (one per latency) and the gnuplot rows to the host
# (scripts/bench.sh, scripts/restore-bench-plot.gp).
. /tests/lib.sh
module_loaded || fail "kvm_userfault is not loaded"
command -v nbdkit >/dev/null || skip "no nbdkit in the guest (install nbdkit on the host)"
args=${KVMUF_RESTORE_BENCH_ARGS:--v 2 -b 4M --working-set 50 --reps 3 --prefetch 1}
tmp=$(mktemp -d /tmp/rb.XXXXXX) || fail "mktemp"
npid=''
trap 'kill $npid 2>/dev/null; rm -rf "$tmp"' EXIT
# 2048 pages from the test memory's first GFN: enough for -v 2 -b 4M.
kvmuf-mksnap -o "$tmp/snap" -n 2048 >/dev/null || fail "kvmuf-mksnap"

for ms in 0 1 5; do
	sock=$tmp/nbd-$ms.sock
	start_nbdkit "$sock" "$tmp/snap" $ms
	echo "== $ms ms per read"
	kvmuf-restore-bench --source "nbd+unix:///?socket=$sock" --label "${ms}ms" $args \
		--systems kvmuf,uffd --json "$tmp/restore-bench-${ms}ms.json" \
		--dat "$tmp/restore-bench.dat" -q || fail "kvmuf-restore-bench at $ms ms: exit $?"
	kill $npid
	wait $npid 2>/dev/null
	npid=''
done
for ms in 0 1 5; do
	emit_file "restore-bench-${ms}ms.json" "$tmp/restore-bench-${ms}ms.json"
done
emit_file restore-bench.dat "$tmp/restore-bench.dat"
