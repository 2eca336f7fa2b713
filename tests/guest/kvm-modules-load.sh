#!/bin/sh
# The stock kvm and kvm_amd modules load (nested SVM from QEMU's -cpu max) and /dev/kvm works.
. /tests/lib.sh
grep -qw svm /proc/cpuinfo || fail "the guest CPU has no SVM flag (QEMU must run with -cpu max)"
while read -r m; do
	insmod "$KVMUF_KMODS/$m.ko" || fail "insmod $m failed"
done <"$KVMUF_KMODS/load-order"
wait_for_node /dev/kvm || fail "/dev/kvm did not appear"
echo "loaded: $(tr '\n' ' ' <"$KVMUF_KMODS/load-order")"
