#!/bin/sh
# kvmuf-faulttest prefault: see tests/guest/faulttest/prefault.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest prefault
