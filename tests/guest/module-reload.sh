#!/bin/sh
# The module unloads cleanly (device gone), loads again (device back) and works again.
. /tests/lib.sh
unload_module || fail "rmmod failed"
module_loaded && fail "module still present after rmmod"
[ -e /dev/kvm-userfault ] && sleep 1
[ -e /dev/kvm-userfault ] && fail "/dev/kvm-userfault still present after rmmod"
insmod "$KVMUF_MODULE" || fail "second insmod failed"
wait_for_node /dev/kvm-userfault || fail "/dev/kvm-userfault did not come back"
kvmuf-devtest || fail "device does not answer after reload"
kvmuf-vmm -v 1 -b 1M || fail "nested guest after reload"
