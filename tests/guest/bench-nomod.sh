#!/bin/sh
# Benchmark baseline before kvm_userfault is loaded: the `none` workload (first touch of
# fresh memory, no demand paging), for the hook-overhead figure of bench-run.
. /tests/lib.sh
module_loaded && fail "kvm_userfault is loaded; this is the module-not-loaded baseline"
# A first, discarded run warms TCG's translation cache: the first runs of a boot are
# much slower, which would bias the module-not-loaded baseline.
kvmuf-bench --modes none $KVMUF_BENCH_ARGS -q >/dev/null || fail "warm-up run exit $?"
kvmuf-bench --modes none $KVMUF_BENCH_ARGS -q --json /tmp/bench-nomod.json || fail "kvmuf-bench exit $?"
emit_file bench-nomod.json /tmp/bench-nomod.json
