#!/bin/sh
# kvm_userfault refuses to load, with a clear message, when another IPMODIFY ftrace user
# (livepatch, a kprobe that changes the IP) already owns KVM's fault-in function; it
# loads once that user is gone. Runs before module-load.
. /tests/lib.sh
module_loaded && fail "kvm_userfault is already loaded"
case "$KVMUF_KERNEL_LINE" in
7.*) sym=kvm_mmu_faultin_pfn ;;
*) sym=kvm_faultin_pfn ;;
esac
insmod /lib/test-modules/kvmuf_ipmodify_holder.ko symbol=$sym || fail "cannot load the IPMODIFY holder on $sym"
if insmod "$KVMUF_MODULE" 2>/dev/null; then
	rmmod kvm_userfault
	rmmod kvmuf_ipmodify_holder
	fail "kvm_userfault loaded although $sym was already IPMODIFY-hooked"
fi
msg=$(dmesg | grep 'kvm_userfault:' | tail -n 1)
echo "$msg" | grep -q "already modified by another ftrace user" || fail "no clear message: $msg"
echo "refused: ${msg#*kvm_userfault: }"
rmmod kvmuf_ipmodify_holder || fail "rmmod holder"
insmod "$KVMUF_MODULE" || fail "kvm_userfault does not load once the holder is gone"
rmmod kvm_userfault || fail "rmmod kvm_userfault"
echo "loads once the other user is gone"
