#!/bin/sh
# The hooks are ftrace call sites: turning ftrace off (sysctl kernel.ftrace_enabled=0)
# would remove them all and let missing pages through to the host mm. With the module
# loaded that sysctl is refused; with ftrace off the module refuses to load, saying why;
# it loads again once ftrace is back on. Runs while the module is loaded.
. /tests/lib.sh
f=/proc/sys/kernel/ftrace_enabled
[ -w $f ] || skip "$f not writable (kernel without dynamic ftrace?)"
module_loaded || fail "kvm_userfault is not loaded"
echo 0 2>/dev/null >$f && { echo 1 >$f; fail "ftrace could be turned off under the module"; }
[ "$(cat $f)" = 1 ] || fail "ftrace_enabled reads $(cat $f) after the refused write"
echo "ftrace_enabled=0 refused while loaded"
unload_module || fail "rmmod failed"
if ! echo 0 2>/dev/null >$f; then
	# Another permanent ftrace user of this kernel refuses it too (7.3 does): the module
	# can then never be loaded with ftrace off.
	insmod "$KVMUF_MODULE" || fail "does not load again"
	wait_for_node /dev/kvm-userfault || fail "/dev/kvm-userfault did not come back"
	echo "ok: this kernel refuses ftrace_enabled=0 even without the module: loading with ftrace off cannot happen"
	exit 0
fi
if insmod "$KVMUF_MODULE" 2>/dev/null; then
	rmmod kvm_userfault
	echo 1 >$f
	fail "kvm_userfault loaded with ftrace off"
fi
msg=$(dmesg | grep 'kvm_userfault:' | tail -n 1)
echo 1 >$f
echo "$msg" | grep -q "ftrace is disabled" || fail "no clear message: $msg"
echo "refused with ftrace off: ${msg#*kvm_userfault: }"
insmod "$KVMUF_MODULE" || fail "does not load once ftrace is back"
wait_for_node /dev/kvm-userfault || fail "/dev/kvm-userfault did not come back"
echo "loads again with ftrace on"
