#!/usr/bin/env bash
# The main job: build, fetch the stock kernels, and on each one boot under QEMU, load
# kvm/kvm_amd and kvm_userfault, and run the demo suite (tests/guest/demo.list).
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
exit $status
