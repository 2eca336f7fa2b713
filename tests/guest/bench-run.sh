#!/bin/sh
# The benchmark: every mode (none, none-attached, uffd-missing, uffd-minor, kvmuf-park,
# kvmuf-minor, kvmuf-exit) side by side in one run, with the module loaded; the table goes to the
# console, the JSON and the gnuplot data to the host (scripts/bench.sh).
. /tests/lib.sh
module_loaded || fail "kvm_userfault is not loaded"
kvmuf-bench $KVMUF_BENCH_ARGS --baseline /tmp/bench-nomod.json --json /tmp/bench.json \
	--dat /tmp/bench.dat || fail "kvmuf-bench exit $?"
emit_file bench.json /tmp/bench.json
emit_file bench.dat /tmp/bench.dat
