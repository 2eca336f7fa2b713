#!/bin/sh
# kvmuf-faulttest access: see tests/guest/faulttest/access.c for what it asserts. Then its
# negative control: without the userfaultfd backstop the same checks must catch the loss.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
kvmuf-faulttest access || exit $?
kvmuf-faulttest access --without-backstop >/tmp/access-control.out 2>&1
rc=$?
sed 's/^/  control: /' /tmp/access-control.out
[ $rc -eq 0 ] || fail "the negative control did not catch the loss without the backstop"
