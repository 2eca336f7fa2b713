#!/usr/bin/env bash
# The harness reports what goes wrong as FAIL, never as a pass:
#  1. a module whose init fails -> module-load FAIL;
#  2. a test that hangs -> killed by the in-guest limit, FAIL, and the suite goes on;
#  3. a guest that never finishes -> QEMU killed by the host limit, FAIL for the test
#     that was running and for guest-boot.
# Runs on the first kernel line (one short boot each).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/lib-cache.sh"
line=${KVMUF_KERNEL_LINES%% *}
kcache=$KVMUF_CACHE/kernels/$line
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 not installed"; exit 77; }
[ -f "$kcache/ready" ] || "$top/scripts/fetch-kernels.sh" "$line" || { echo "FAIL: cannot fetch kernel $line"; exit 1; }

out=$top/build/selftest
rm -rf "$out" && mkdir -p "$out"
cp -r "$top/tests/vm/selftest/broken-module" "$out/"
make -s -C "$(cat "$kcache/kdir")" M="$out/broken-module" modules >"$out/build.log" 2>&1 ||
	{ cat "$out/build.log"; echo "FAIL: cannot build the broken module"; exit 1; }

bad=0
expect() { # expect RESULTS VERDICT TEST REASON-REGEX
	if grep -qE "^$2 $line $3 [^ ]+ .*$4" "$1"; then
		echo "ok: $3 is $2 ($4)"
	else
		echo "NOT OK: expected $3 to be $2 matching '$4'; got: $(grep " $3 " "$1")"
		bad=1
	fi
}
run() { # run NAME SUITE-TESTS... -- RUN-KERNEL-OPTIONS...
	local name=$1; shift
	: >"$out/$name.list"
	while [ "$1" != -- ]; do echo "$1" >>"$out/$name.list"; shift; done
	shift
	"$top/tests/vm/run-kernel.sh" --suite "$out/$name.list" --results "$out/$name.results" \
		--log "$out/$name.console" --bin "$top/build/guest" --bin "$top/tests/guest" \
		--bin "$top/tests/vm/selftest" "$@" "$line" >/dev/null 2>"$out/$name.stderr"
}

if run broken kvm-modules-load module-load selftest-hang selftest-after-hang -- \
	--module "$out/broken-module/kvm_userfault_broken.ko" --test-timeout 5; then
	echo "NOT OK: run-kernel exited 0 with a broken module"; bad=1
fi
expect "$out/broken.results" FAIL module-load 'insmod kvm_userfault.ko failed'
expect "$out/broken.results" FAIL selftest-hang 'killed after 5s'
expect "$out/broken.results" PASS selftest-after-hang '-'
expect "$out/broken.results" PASS guest-boot 'suite completed'

if run hung kvm-modules-load selftest-hang -- --test-timeout 600 --timeout 20; then
	echo "NOT OK: run-kernel exited 0 for a hung guest"; bad=1
fi
expect "$out/hung.results" PASS kvm-modules-load '-'
expect "$out/hung.results" FAIL selftest-hang 'never reported: guest killed after the 20s limit'
expect "$out/hung.results" FAIL guest-boot 'killed after the 20s limit'
grep -q 'last 40 lines of the' "$out/hung.stderr" || { echo "NOT OK: no console tail shown"; bad=1; }
exit $bad
