#!/bin/sh
# kvmuf-faulttest thp: see tests/guest/faulttest/thp.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest thp
