#!/bin/sh
# kvmuf-faulttest memslot: see tests/guest/faulttest/memslot.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest memslot
