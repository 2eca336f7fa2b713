#!/bin/sh
# kvmuf-faulttest ringsig: see tests/guest/faulttest/ringsig.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest ringsig
