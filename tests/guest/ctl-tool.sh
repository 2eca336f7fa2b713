#!/bin/sh
# (Not named kvmuf-ctl: the harness installs tests and programs side by side.)
# kvmuf-ctl on a kernel that can run the module: doctor finds nothing stopping it; load
# (libkmod) prints the module's layout line; status shows the module, then a VM being
# restored with its counters and park-latency histogram (debugfs); the daemon's device
# fd shows its state in /proc/PID/fdinfo; the tracepoints fire; unload removes it.
# A non-root user in group kvm then runs a restore (VMM and daemon) through the device
# node as the udev rule sets it up. Runs with the module unloaded; leaves it unloaded.
. /tests/lib.sh
module_loaded && fail "kvm_userfault is already loaded"
tmp=$(mktemp -d /tmp/ctl.XXXXXX) || fail "mktemp"
trap 'kill -9 $dpid $vpid 2>/dev/null; rm -rf "$tmp"' EXIT
dpid='' vpid=''
grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug
grep -q ' /sys/kernel/tracing ' /proc/mounts || mount -t tracefs none /sys/kernel/tracing

timeout 60 kvmuf-ctl doctor >"$tmp/doctor" 2>&1 || { cat "$tmp/doctor"; fail "doctor found a FAIL here"; }
grep -q '^OK   btf  ' "$tmp/doctor" || { cat "$tmp/doctor"; fail "doctor: no BTF line"; }
echo "doctor: $(grep -c '' "$tmp/doctor") lines; $(tail -n 1 "$tmp/doctor")"

kvmuf-ctl load --module "$KVMUF_MODULE" >"$tmp/load" 2>&1 || { cat "$tmp/load"; fail "load failed"; }
grep -q 'KVM layout from BTF' "$tmp/load" || { cat "$tmp/load"; fail "load did not print the layout"; }
wait_for_node /dev/kvm-userfault || fail "/dev/kvm-userfault did not appear"
sed 's/^/  load: /' "$tmp/load"
kvmuf-ctl status >"$tmp/st" 2>&1 || { cat "$tmp/st"; fail "status failed"; }
grep -q 'loaded, API 1' "$tmp/st" && grep -q 'none attached' "$tmp/st" ||
	{ cat "$tmp/st"; fail "status without a VM"; }

# A restore that stays attached: the snapshot has 100 of the 256 pages the vCPU reads.
echo 1 >/sys/kernel/tracing/events/kvm_userfault/enable || fail "no kvm_userfault tracepoints"
kvmuf-mksnap -o "$tmp/snap" -n 100 >/dev/null || fail "kvmuf-mksnap"
kvmuf-daemon -q -l "$tmp/sock" -f "$tmp/snap" >"$tmp/daemon.out" 2>&1 &
dpid=$!
timeout -s KILL 60 kvmuf-vmm -q -v 1 -b 1M -u park -D "$tmp/sock" -S "$tmp/snap" \
	>"$tmp/vmm.out" 2>&1 &
vpid=$!
i=0
until kvmuf-ctl status >"$tmp/st" 2>&1 && grep -q 'park latency' "$tmp/st" &&
	grep -q ' 156 GFNs missing' "$tmp/st"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$tmp/st" "$tmp/vmm.out"; fail "status never showed the parked VM"; }
	sleep 0.1
done
sed 's/^/  status: /' "$tmp/st"
grep -q 'attached, park mode, 2 rings' "$tmp/st" || fail "status: VM state"
fd=$(ls -l /proc/$dpid/fd | sed -n 's/.* \([0-9][0-9]*\) -> \/dev\/kvm-userfault$/\1/p' | head -n 1)
[ -n "$fd" ] || fail "the daemon holds no /dev/kvm-userfault fd"
grep -q '^kvmuf-state:	attached' /proc/$dpid/fdinfo/$fd &&
	grep -q '^kvmuf-missing:	156' /proc/$dpid/fdinfo/$fd &&
	grep -q '^kvmuf-park_hist:	' /proc/$dpid/fdinfo/$fd ||
	{ cat /proc/$dpid/fdinfo/$fd; fail "fdinfo of the daemon's device fd"; }
echo "  fdinfo: $(grep -c '^kvmuf-' /proc/$dpid/fdinfo/$fd) kvmuf- lines, $(grep '^kvmuf-faults' /proc/$dpid/fdinfo/$fd | tr '\t' ' ')"
kill -9 $dpid
wait $dpid 2>/dev/null
wait_ok=0
for i in $(seq 100); do kill -0 $vpid 2>/dev/null || { wait_ok=1; break; }; sleep 0.1; done
[ $wait_ok = 1 ] || fail "the VMM did not end after its daemon died"
echo 0 >/sys/kernel/tracing/events/kvm_userfault/enable
for ev in kvmuf_fault kvmuf_park kvmuf_resolve kvmuf_exit; do
	n=$(grep -c " $ev: " /sys/kernel/tracing/trace)
	[ "$n" -gt 0 ] || { tail -n 20 /sys/kernel/tracing/trace; fail "no $ev event traced"; }
	echo "  trace: $n $ev, e.g. $(grep " $ev: " /sys/kernel/tracing/trace | head -n 1 | sed 's/.*: kvmuf_/kvmuf_/')"
done
echo >/sys/kernel/tracing/trace

# A non-root user of group kvm: the device as the udev rule sets it (group kvm, 0660),
# /dev/kvm as Debian's rule does, /dev/userfaultfd for the backstop likewise.
mkdir -p /etc
grep -q '^kvm:' /etc/group 2>/dev/null || echo 'kvm:x:36:vmuser' >>/etc/group
grep -q '^vmuser:' /etc/passwd 2>/dev/null || echo 'vmuser:x:1000:1000::/tmp:/bin/sh' >>/etc/passwd
for dev in /dev/kvm-userfault /dev/kvm /dev/userfaultfd; do
	[ -c $dev ] || continue
	chgrp 36 $dev && chmod 0660 $dev || fail "cannot set up $dev"
done
u=$tmp/user
mkdir -p "$u" && chmod 0755 "$tmp" && chown 1000:1000 "$u" || fail "user directory"
kvmuf-mksnap -o "$u/full" -n 256 >/dev/null && chmod 0644 "$u/full" || fail "kvmuf-mksnap"
cat >"$u/run.sh" <<EOS
id
kvmuf-daemon -q -l $u/sock -f $u/full &
i=0; while [ ! -S $u/sock ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done
timeout -s KILL 60 kvmuf-vmm -q -v 1 -b 1M -u park -D $u/sock -S $u/full
EOS
su -s /bin/sh vmuser "$u/run.sh" >"$tmp/user.out" 2>&1 ||
	{ cat "$tmp/user.out"; fail "the restore as a kvm-group user failed"; }
grep -q 'uid=1000' "$tmp/user.out" || { cat "$tmp/user.out"; fail "did not run as uid 1000"; }
echo "  as $(head -n 1 "$tmp/user.out" | cut -d' ' -f1-3): restore done"

i=0
until kvmuf-ctl unload >"$tmp/unload" 2>&1; do
	i=$((i + 1))
	[ $i -lt 30 ] || { cat "$tmp/unload"; fail "unload failed"; }
	sleep 0.2
done
module_loaded && fail "module still loaded after kvmuf-ctl unload"
kvmuf-ctl status >/dev/null 2>&1 && fail "status succeeded with the module unloaded"
echo "ok: doctor, load, status with a VM's counters and histogram, fdinfo, 4 tracepoints, a kvm-group user's restore, unload"
