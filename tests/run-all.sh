#!/usr/bin/env bash
# The whole test suite (make check): host tests, then one QEMU boot per stock kernel
# running the in-guest suite. Ends with one line "N passed, N failed, N skipped".
#
#   tests/run-all.sh [--host-only | --vm-only] [--lines "6.1 6.12 7.2 7.3"]
#
# Every result, host or guest, is one line "VERDICT WHERE TEST SECONDS REASON" in
# build/results.txt. A build failure is a FAIL of that build, not an aborted run, so the
# other kernels still report.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/lib-cache.sh

run_host=1 run_vm=1 lines=$KVMUF_KERNEL_LINES
while [ $# -gt 0 ]; do
	case "$1" in
	--host-only) run_vm=0; shift ;;
	--vm-only) run_host=0; shift ;;
	--lines) lines=$2; shift 2 ;;
	*) echo "usage: $0 [--host-only|--vm-only] [--lines LIST]" >&2; exit 2 ;;
	esac
done

mkdir -p build
results=$top/build/results.txt
: >"$results"
record() { printf '%s %s %s %s %s\n' "$@" | tee -a "$results"; }

# step WHERE NAME CMD...: run a build step; its failure is recorded with the output tail.
step() {
	local where=$1 name=$2 log=build/$1-$2.log
	shift 2
	if "$@" >"$log" 2>&1; then
		return 0
	fi
	tail -n 25 "$log" >&2
	record FAIL "$where" "$name" - "see $log"
	return 1
}

# host_test FILE: run one host test; exit 0 PASS, 77 SKIP, else FAIL.
host_test() {
	local t=$1 name start rc out
	name=$(basename "$t" .sh)
	start=$(date +%s.%N)
	out=$(timeout -k 5 900 "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed "s/^/  [$name] /"
	local secs
	secs=$(printf '%.2f' "$(echo "$(date +%s.%N) - $start" | bc)")
	case $rc in
	0) record PASS host "$name" "$secs" - ;;
	77) record SKIP host "$name" "$secs" "$(printf '%s\n' "$out" | tail -n 1)" ;;
	*) record FAIL host "$name" "$secs" "exit status $rc: $(printf '%s\n' "$out" | tail -n 1)" ;;
	esac
}

echo "== build"
step host build-tools make -j2 tools guest SANITIZE=1 || run_vm=0

if [ $run_host = 1 ]; then
	echo "== host tests"
	for t in tests/host/*.sh; do
		host_test "$t"
	done
fi

if [ $run_vm = 1 ]; then
	for line in $lines; do
		echo "== $line"
		step "$line" fetch scripts/fetch-kernels.sh "$line" || continue
		step "$line" module-build make "build/$line/kvm_userfault.ko" \
			"build/$line/test-modules/kvmuf_ipmodify_holder.ko" || continue
		record PASS "$line" module-build - "W=1 -Werror against $(cat "$KVMUF_CACHE/kernels/$line/kver")"
		tests/vm/run-kernel.sh --results "$results" "$line" >/dev/null
	done
fi

echo "== results"
column -t -l 5 "$results" 2>/dev/null || cat "$results"
pass=$(grep -c '^PASS ' "$results")
fail=$(grep -c '^FAIL ' "$results")
skip=$(grep -c '^SKIP ' "$results")
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
