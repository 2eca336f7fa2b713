#!/bin/sh
# kvm_userfault loads on the stock kernel, learns KVM's layout from the kernel's BTF, and
# creates /dev/kvm-userfault.
. /tests/lib.sh
dmesg -c >/dev/null
insmod "$KVMUF_MODULE" || { dmesg | tail -n 5; fail "insmod kvm_userfault.ko failed"; }
wait_for_node /dev/kvm-userfault || fail "/dev/kvm-userfault did not appear"
v=$(cat /sys/module/kvm_userfault/version) || fail "no module version in sysfs"
layout=$(dmesg | grep 'kvm_userfault: KVM layout' | sed 's/^\[[^]]*\] //')
case "$layout" in *"from BTF"*) ;; *) fail "the layout did not come from BTF: '$layout'" ;; esac
echo "kvm_userfault $v loaded; $layout; $(dmesg | grep 'kvm_userfault:' | tail -n 1)"
