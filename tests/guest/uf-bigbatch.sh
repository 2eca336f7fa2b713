#!/bin/sh
# kvmuf-faulttest bigbatch: see tests/guest/faulttest/bigbatch.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest bigbatch
