#!/bin/sh
# The benchmark: every mode (none, none-attached, uffd-missing, uffd-minor, kvmuf-park,
# kvmuf-minor, kvmuf-exit) side by side in one run, with the module loaded; the table goes to the
# console, the JSON and the gnuplot data to the host (scripts/bench.sh).
. /tests/lib.sh
module_loaded || fail "kvm_userfault is not loaded"
if [ -n "${KVMUF_PARK_SPIN_NS:-}" ]; then
	echo "$KVMUF_PARK_SPIN_NS" >/sys/module/kvm_userfault/parameters/park_spin_ns ||
		fail "cannot set park_spin_ns"
fi
echo "park_spin_ns: $(cat /sys/module/kvm_userfault/parameters/park_spin_ns)"
kvmuf-bench $KVMUF_BENCH_ARGS --baseline /tmp/bench-nomod.json --json /tmp/bench.json \
	--dat /tmp/bench.dat || fail "kvmuf-bench exit $?"
emit_file bench.json /tmp/bench.json
emit_file bench.dat /tmp/bench.dat
