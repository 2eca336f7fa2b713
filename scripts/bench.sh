#!/usr/bin/env bash
# make bench: boot a stock kernel under QEMU, run kvmuf-bench inside it (every mode, the
# kselftest demand_paging_test method), bring the JSON back, plot it, print the table.
#   scripts/bench.sh [LINE]            default 6.12
#   KVMUF_BENCH_ARGS="-v 1,2,4,8,16 -b 1M -n 3 -s shmem"   what kvmuf-bench runs
# Results: build/bench/<line>/bench.{json,dat,png,txt}. Inside TCG only ratios mean
# anything; on real hardware run kvmuf-bench directly (see README).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/lib-cache.sh
line=${1:-6.12}
args=${KVMUF_BENCH_ARGS:--v 1,2,4,8,16 -b 1M -n 3 -s shmem}
out=build/bench/$line

make -s tools guest
scripts/fetch-kernels.sh "$line"
make -s "build/$line/kvm_userfault.ko"
rm -rf "$out" && mkdir -p "$out"
echo "bench: kvmuf-bench $args, in a $line guest (TCG; only ratios are meaningful)" >&2
status=0
tests/vm/run-kernel.sh --suite tests/guest/bench.list --test-timeout 1500 --timeout 1800 \
	--env "KVMUF_BENCH_ARGS=$args" --log "$out/console.log" "$line" >"$out/results.txt" || status=1
cat "$out/results.txt"
tests/vm/extract-files.sh "$out/console.log" "$out" || status=1
# The human table, as kvmuf-bench printed it in the guest.
sed -n '/^KVMUF-BEGIN bench-run$/,/^KVMUF-RESULT bench-run /p' "$out/console.log" |
	sed -n 's/^  | //p' | grep -v '^KVMUF-FILE' >"$out/bench.txt"
cat "$out/bench.txt"
if [ -s "$out/bench.dat" ]; then
	kver=$(cat "$KVMUF_CACHE/kernels/$line/kver")
	# From the column header ("# vcpus<TAB>mode...") on; the line above it describes the run.
	sed -n '/^# vcpus/,$p' "$out/bench.dat" >"$out/plot.dat"
	gnuplot -e "dat='$out/plot.dat'; png='$out/bench.png'; title='kvm-userfault vs userfaultfd: $kver guest under QEMU TCG, kvmuf-bench $args'" \
		scripts/bench-plot.gp && echo "plot: $out/bench.png"
fi
exit $status
