#!/bin/sh
# kvmuf-faulttest adopt: see tests/guest/faulttest/adopt.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest adopt
