#!/usr/bin/env bash
# make bench: boot a stock kernel under QEMU, run kvmuf-bench inside it (every mode, the
# kselftest demand_paging_test method), bring the JSON back, plot it, print the table;
# then kvmuf-restore-bench (a restore over NBD at 0, 1 and 5 ms per read, kvm-userfault
# against userfaultfd: restore-bench.{txt,dat,png}, restore-bench-*ms.json).
#   scripts/bench.sh [LINE [PROFILE...]]      default: 6.12, profiles "default dedicated"
# Profiles (each one boot, results in build/bench/<line>/<profile>/bench.{txt,json,dat,png}):
#   default    single-threaded TCG (the suite's setting), serving threads sleep when idle,
#              no pinning
#   dedicated  a serving CPU of its own: multi-threaded TCG (each guest CPU a host thread),
#              vCPUs pinned to guest CPU 0 and the serving threads to CPU 1, which
#              busy-poll (uffd: one reader for all memory; kvm-userfault: one server
#              thread), park_spin_ns 200 us (KVM's halt_poll_ns); -K keeps one idle VM
#              so that KVM's static keys are not re-patched between runs (QEMU's
#              multi-threaded TCG mishandles that code patching: see README)
# KVMUF_BENCH_ARGS replaces the workload part of the arguments (default below).
# Inside TCG only ratios mean anything; on real hardware run kvmuf-bench directly.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/lib-cache.sh
line=${1:-6.12}
shift || true
profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(default dedicated)
workload=${KVMUF_BENCH_ARGS:--v 1,2,4,8,16 -b 4M --reps 5 --backing shmem -K}

make -s tools guest
scripts/fetch-kernels.sh "$line"
make -s "build/$line/kvm_userfault.ko"
kver=$(cat "$KVMUF_CACHE/kernels/$line/kver")
status=0
for profile in "${profiles[@]}"; do
	spin='' tcg=single args=$workload
	case $profile in
	default) ;;
	dedicated) tcg=multi spin=200000 args="$workload -B -a --cpus 0/1" ;;
	*) echo "bench: unknown profile '$profile' (default, dedicated)" >&2; exit 2 ;;
	esac
	out=build/bench/$line/$profile
	rm -rf "$out" && mkdir -p "$out"
	echo "bench: $profile: kvmuf-bench $args, in a $line guest (TCG $tcg-threaded; only ratios are meaningful)" >&2
	KVMUF_TCG_THREAD=$tcg tests/vm/run-kernel.sh --suite tests/guest/bench.list \
		--test-timeout 2400 --timeout 2700 --env "KVMUF_BENCH_ARGS=$args" \
		--env "KVMUF_PARK_SPIN_NS=$spin" --log "$out/console.log" "$line" \
		>"$out/results.txt" || status=1
	cat "$out/results.txt"
	tests/vm/extract-files.sh "$out/console.log" "$out" || status=1
	# The human table, as kvmuf-bench printed it in the guest.
	sed -n '/^KVMUF-BEGIN bench-run$/,/^KVMUF-RESULT bench-run /p' "$out/console.log" |
		sed -n 's/^  | //p' | grep -v '^KVMUF-FILE' >"$out/bench.txt"
	cat "$out/bench.txt"
	if [ -s "$out/bench.dat" ]; then
		# From the column header ("# vcpus<TAB>mode...") on; the line above it describes the run.
		sed -n '/^# vcpus/,$p' "$out/bench.dat" >"$out/plot.dat"
		gnuplot -e "dat='$out/plot.dat'; png='$out/bench.png'; title='kvm-userfault vs userfaultfd ($profile): $kver guest, QEMU TCG, kvmuf-bench $args'" \
			scripts/bench-plot.gp && echo "plot: $out/bench.png"
	fi
	# The restore benchmark (tests/guest/restore-bench-run.sh): its tables, and one plot
	# of the rows kvmuf-restore-bench appended per source latency.
	sed -n '/^KVMUF-BEGIN restore-bench-run$/,/^KVMUF-RESULT restore-bench-run /p' "$out/console.log" |
		sed -n 's/^  | //p' | grep -v '^KVMUF-FILE' >"$out/restore-bench.txt"
	cat "$out/restore-bench.txt"
	if [ -s "$out/restore-bench.dat" ]; then
		gnuplot -e "dat='$out/restore-bench.dat'; png='$out/restore-bench.png'; title='restore over NBD, kvm-userfault vs userfaultfd ($profile): $kver guest, QEMU TCG'" \
			scripts/restore-bench-plot.gp && echo "plot: $out/restore-bench.png"
	fi
done
exit $status
