#!/bin/busybox sh
# /init of the test initramfs: runs the in-guest suite once and powers the guest off.
#
# Everything the host learns comes from lines on the serial console, parsed by
# tests/vm/run-kernel.sh:
#   KVMUF-BOOT <uname -r>
#   KVMUF-BEGIN <test>
#   KVMUF-RESULT <test> PASS|FAIL|SKIP <seconds> <reason...>
#   KVMUF-DONE
# A test is an executable in /tests, run in the order of /tests/suite.list, with a
# time limit; exit 0 is PASS, 77 is SKIP, anything else (or a kernel warning printed
# while it ran) is FAIL. A test's own output is echoed indented, so a failing run can
# be read from the host's log.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/tests
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1

# Static settings the tests read: per-test limit, kernel line, where the modules are.
. /tests/suite.env
export KVMUF_KMODS=/lib/kvmuf-kmods KVMUF_MODULE=/lib/kvm_userfault.ko

now_cs() { # uptime in centiseconds (busybox date has no sub-second format)
	read -r up _ </proc/uptime
	echo "${up%.*}${up#*.}"
}

# Kernel messages that mean a bug, whatever a test's exit code says.
kernel_trouble() {
	dmesg | tail -n +"$1" | grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace:|RIP: |kernel BUG|UBSAN|KASAN|refcount_t:|list_(add|del) corruption|hung_task' | head -n 5
}

run_test() {
	local t=$1 start end rc dmesg_from trouble secs verdict reason
	echo "KVMUF-BEGIN $t"
	dmesg_from=$(($(dmesg | wc -l) + 1))
	start=$(now_cs)
	timeout -s KILL "$KVMUF_TEST_TIMEOUT" "/tests/$t" >/tmp/out 2>&1
	rc=$?
	end=$(now_cs)
	sed 's/^/  | /' /tmp/out
	secs=$(((end - start) / 100)).$(printf '%02d' $(((end - start) % 100)))
	trouble=$(kernel_trouble "$dmesg_from")
	case "$rc" in
	0) verdict=PASS reason=- ;;
	77) verdict=SKIP reason=$(tail -n 1 /tmp/out) ;;
	137) verdict=FAIL reason="killed after ${KVMUF_TEST_TIMEOUT}s time limit" ;;
	*) verdict=FAIL reason="exit status $rc: $(tail -n 1 /tmp/out)" ;;
	esac
	if [ -n "$trouble" ]; then
		echo "$trouble" | sed 's/^/  ! /'
		verdict=FAIL reason="kernel warning: $(echo "$trouble" | head -n 1)"
	fi
	echo "KVMUF-RESULT $t $verdict $secs $reason"
}

echo "KVMUF-BOOT $(uname -r)"
while read -r t; do
	case "$t" in '' | '#'*) continue ;; esac
	run_test "$t"
done </tests/suite.list
echo "KVMUF-DONE"
sync
poweroff -f
