#!/bin/sh
# kvmuf-faulttest fuzz: 100k random ioctls and mmaps on attached and unattached device
# fds while a vCPU faults, a page engine serves and ring headers are scribbled on; every
# call returns and the VM completes afterwards. See tests/guest/faulttest/fuzz.c.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
exec kvmuf-faulttest fuzz 100000
