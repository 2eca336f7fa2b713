#!/bin/sh
# kvmuf-faulttest ringmem: ring memory is charged to the attaching process's memory
# cgroup (here one limited to 32 MiB) and refused cleanly past it; see
# tests/guest/faulttest/ringmem.c.
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"
cg=/sys/fs/cgroup
[ -f $cg/cgroup.controllers ] || mount -t cgroup2 none $cg || skip "no cgroup v2 here"
grep -qw memory $cg/cgroup.controllers || skip "no memory controller in cgroup v2"
echo +memory >$cg/cgroup.subtree_control || fail "cannot enable the memory controller"
mkdir -p $cg/kvmuf-ringmem || fail "mkdir $cg/kvmuf-ringmem"
echo 32M >$cg/kvmuf-ringmem/memory.max || fail "cannot set memory.max"
kvmuf-faulttest ringmem $cg/kvmuf-ringmem
rc=$?
grep -q '^oom_kill 0$' $cg/kvmuf-ringmem/memory.events ||
	{ cat $cg/kvmuf-ringmem/memory.events; fail "the memory cgroup OOM-killed"; }
rmdir $cg/kvmuf-ringmem 2>/dev/null
exit $rc
