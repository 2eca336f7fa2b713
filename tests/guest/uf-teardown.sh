#!/bin/sh
# kvmuf-faulttest teardown: see tests/guest/faulttest/teardown.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest teardown
