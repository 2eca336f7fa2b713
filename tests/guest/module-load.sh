#!/bin/sh
# kvm_userfault loads on the stock kernel and creates /dev/kvm-userfault.
. /tests/lib.sh
insmod "$KVMUF_MODULE" || { dmesg | tail -n 5; fail "insmod kvm_userfault.ko failed"; }
wait_for_node /dev/kvm-userfault || fail "/dev/kvm-userfault did not appear"
v=$(cat /sys/module/kvm_userfault/version) || fail "no module version in sysfs"
echo "kvm_userfault $v loaded; $(dmesg | grep 'kvm_userfault:' | tail -n 1)"
