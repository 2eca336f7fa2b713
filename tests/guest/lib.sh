# Sourced by the in-guest shell tests (busybox sh).
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

module_loaded() { [ -d /sys/module/kvm_userfault ]; }

# A misc device appears in devtmpfs asynchronously after misc_register().
wait_for_node() {
	local i=0
	while [ ! -c "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -c "$1" ]
}
