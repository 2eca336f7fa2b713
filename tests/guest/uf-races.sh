#!/bin/sh
# kvmuf-faulttest races: see tests/guest/faulttest/races.c for what it asserts.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest races
