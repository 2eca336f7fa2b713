#!/usr/bin/env bash
# Boot one stock Debian kernel under QEMU TCG and run the in-guest suite in that one boot.
#
#   tests/vm/run-kernel.sh [options] LINE            LINE: 6.1, 6.12, 7.2 or 7.3
#     --module KO        module to test (default: build/LINE/kvm_userfault.ko)
#     --suite FILE       test list (default: tests/guest/suite.list)
#     --bin DIR          directory of test executables (repeatable; default: build/guest
#                        and tests/guest)
#     --test-timeout S   per-test limit inside the guest (default 90)
#     --timeout S        limit for the whole QEMU run (default 300: a suite takes ~60 s)
#     --results FILE     append one line per test: VERDICT LINE TEST SECONDS REASON
#     --log FILE         where the guest console goes (default build/LINE/console.log)
#     --env NAME=VALUE   exported to the in-guest tests (repeatable)
#
# Every test named in the suite gets a verdict: a test that never reported (guest hung,
# oopsed or was killed by the time limit) is a FAIL, and the tail of the console log is
# shown. A guest that dies before reaching /init (a rare TCG early-boot crash, see
# DESIGN.md) is retried once, and the retry is reported; nothing is retried after /init.
# Exit status: 0 when no test failed.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/lib-cache.sh"

module='' suite=$top/tests/guest/suite.list bins=() test_timeout=90 timeout='' results='' log=''
envs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--module) module=$2; shift 2 ;;
	--suite) suite=$2; shift 2 ;;
	--bin) bins+=("$2"); shift 2 ;;
	--test-timeout) test_timeout=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--results) results=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	-*) echo "run-kernel: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || { echo "usage: $0 [options] LINE" >&2; exit 2; }
line=$1
kdir=$KVMUF_CACHE/kernels/$line
[ -f "$kdir/ready" ] || { echo "run-kernel: kernel $line not fetched (scripts/fetch-kernels.sh $line)" >&2; exit 2; }
out=$top/build/$line
mkdir -p "$out"
: "${module:=$out/kvm_userfault.ko}"
: "${log:=$out/console.log}"
[ ${#bins[@]} -gt 0 ] || bins=("$top/build/guest" "$top/tests/guest")
mapfile -t tests < <(grep -v '^#' "$suite" | sed '/^$/d')
: "${timeout:=300}"
kver=$(cat "$kdir/kver")

KVMUF_GUEST_ENV="$(printf '%s\n' "${envs[@]}")" \
	"$top/tests/vm/mkinitramfs.sh" "$out/initramfs.cpio" "$kdir" "$module" "$suite" \
	"$test_timeout" "${bins[@]}"

# PVH boot of the uncompressed ELF is seconds faster under TCG than the bzImage.
image=$kdir/vmlinuz
[ -f "$kdir/vmlinux" ] && image=$kdir/vmlinux
# Single-threaded TCG by default: with multi-threaded TCG, 6.1 guests running the
# demand-paging tests wedged (both vCPUs spinning, no console output) in 3 of ~9 runs,
# once with a corrupted kernel stack; single-threaded, 0 of 16, at the same speed for
# this suite. The same wedge came back under multi-threaded TCG with kvm_userfault never
# loaded (userfaultfd-only demand paging, 1 of 2 runs): a TCG / nested-SVM problem, not
# the module's. KVMUF_TCG_THREAD=multi brings it back (e.g. to chase that).
tcg_thread=${KVMUF_TCG_THREAD:-single}
# 7.2 guests with two vCPUs sometimes oops in __schedule under TCG with no module loaded;
# 7.3 is run the same way (7.x: one vCPU).
smp=2
case "$line" in 7.*) smp=1 ;; esac

boot() {
	echo "run-kernel: $line: booting $kver (smp $smp, tcg $tcg_thread, limit ${timeout}s)" >&2
	local rc=0
	timeout -k 10 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config \
		-accel tcg,thread="$tcg_thread" -cpu max -smp "$smp" -m 2048 -display none -no-reboot \
		-serial stdio -monitor none \
		-kernel "$image" -initrd "$out/initramfs.cpio" \
		-append "console=ttyS0,115200 loglevel=5 panic=-1 oops=panic" \
		</dev/null 2>&1 |
		# Strip CRs and SeaBIOS/terminal escapes; show progress as results arrive.
		sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' | tee "$log" |
		grep --line-buffered -E '^KVMUF-RESULT' | sed -u "s/^KVMUF-RESULT /  $line: /" >&2 ||
		rc=$?
	# pipefail: the status is the last failing stage; 124 from timeout means killed.
	return "$rc"
}

retried=''
boot_rc=0
boot || boot_rc=$?
if ! grep -q '^KVMUF-BOOT' "$log"; then
	echo "run-kernel: $line: guest died before /init; retrying once (see DESIGN.md)" >&2
	cp "$log" "$log.first"
	retried=" (retried once: guest died before /init)"
	boot_rc=0
	boot || boot_rc=$?
fi

# Verdicts.
failed=0
record() { # record VERDICT TEST SECONDS REASON
	printf '%s %s %s %s %s\n' "$1" "$line" "$2" "$3" "$4"
	[ -z "$results" ] || printf '%s %s %s %s %s\n' "$1" "$line" "$2" "$3" "$4" >>"$results"
	[ "$1" != FAIL ] || failed=1
}

guest_state=ok
if ! grep -q '^KVMUF-BOOT' "$log"; then
	guest_state="never reached /init"
elif ! grep -q '^KVMUF-DONE' "$log"; then
	if [ "$boot_rc" -eq 124 ] || [ "$boot_rc" -eq 137 ]; then
		guest_state="killed after the ${timeout}s limit"
	else
		guest_state="stopped before the suite finished"
	fi
fi
panic=$(grep -m1 'Kernel panic' "$log" || true)

for t in "${tests[@]}"; do
	r=$(grep -m1 "^KVMUF-RESULT $t " "$log" || true)
	if [ -n "$r" ]; then
		set -- $r
		record "$3" "$t" "$4" "${*:5}"
	elif grep -q "^KVMUF-BEGIN $t\$" "$log"; then
		record FAIL "$t" - "never reported: guest $guest_state during this test"
	else
		record FAIL "$t" - "did not run: guest $guest_state"
	fi
done
if [ "$guest_state" = ok ] && [ -z "$panic" ]; then
	record PASS guest-boot - "booted $kver, suite completed$retried"
else
	record FAIL guest-boot - "guest $guest_state${panic:+; console: $panic}$retried"
fi

if [ "$failed" -ne 0 ]; then
	echo "---- last 40 lines of the $line guest console ($log) ----" >&2
	grep -v '^KVMUF-' "$log" | tail -n 40 >&2
	echo "----" >&2
fi
exit "$failed"
