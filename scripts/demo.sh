#!/usr/bin/env bash
# The main job: build, fetch the stock kernels, and on each one boot under QEMU, load
# kvm/kvm_amd and kvm_userfault, and restore a VM from a snapshot through kvmuf-daemon
# (tests/guest/demo.list); then the comparison with userfaultfd (scripts/bench.sh) on
# the first line that has it (6.12 by default).
#   scripts/demo.sh [LINE...]     default: every line in KVMUF_KERNEL_LINES
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. scripts/lib-cache.sh
lines=("$@")
[ ${#lines[@]} -gt 0 ] || read -r -a lines <<<"$KVMUF_KERNEL_LINES"

make -s tools guest
status=0
for line in "${lines[@]}"; do
	scripts/fetch-kernels.sh "$line"
	make -s "build/$line/kvm_userfault.ko"
	tests/vm/run-kernel.sh --suite tests/guest/demo.list "$line" >/dev/null || status=1
	echo "== $line: guest console, demo output"
	grep -E '^  \| |^KVMUF-RESULT' "build/$line/console.log" | sed 's/^KVMUF-RESULT /result: /'
done
bench_line=6.12
case " ${lines[*]} " in *" $bench_line "*) ;; *) bench_line=${lines[0]} ;; esac
echo "== kvm-userfault vs userfaultfd ($bench_line guest)"
scripts/bench.sh "$bench_line" default || status=1
exit $status
