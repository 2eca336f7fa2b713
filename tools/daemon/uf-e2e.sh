#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# uf-e2e.sh: kvm-userfault end to end, for a machine (or test guest) with the module
# loaded: kvmuf-vmm demand-pages its guest memory through /dev/kvm-userfault and the
# pages come from a snapshot, served in-process or by kvmuf-daemon; the guest verifies
# every page and the VMM compares all of guest memory with the snapshot afterwards.
# Then the failure paths: pages the daemon cannot serve (out of range) and a daemon
# that dies or is stopped must make the VMM fail with a message naming the GFN, never
# hang and never report success.
#
# busybox sh compatible. Programs from $PATH, or KVMUF_VMM / KVMUF_DAEMON / KVMUF_MKSNAP.
# Exit status: 0 all passed, 1 a scenario failed, 77 no /dev/kvm-userfault.
set -u
VMM=${KVMUF_VMM:-kvmuf-vmm}
DAEMON=${KVMUF_DAEMON:-kvmuf-daemon}
MKSNAP=${KVMUF_MKSNAP:-kvmuf-mksnap}
VM="-v 2 -b 1M"			# 2 vCPUs x 256 pages = 512 pages from gfn 0x100000

[ -c /dev/kvm-userfault ] || { echo "SKIP: no /dev/kvm-userfault"; exit 77; }
tmp=$(mktemp -d /tmp/uf-e2e.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() {
	echo "FAIL: $*"
	fails=$((fails + 1))
	for f in "$tmp"/vmm.out "$tmp"/daemon.out; do
		[ -s "$f" ] && sed "s|^|  $(basename "$f"): |" "$f"
	done
}

snap=$tmp/snap
small=$tmp/small
"$MKSNAP" -o "$snap" -n 512 >/dev/null || exit 1
"$MKSNAP" -o "$small" -n 300 >/dev/null || exit 1	# gfn 0x10012c.. are not in it

# wait_pid PID SECONDS: 0 and $? of PID in $wait_rc if it exited in time, else kill it.
wait_pid() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 1
	fi
	wait "$1"
	wait_rc=$?
	return 0
}

start_daemon() { # SNAPSHOT [daemon options]
	sock=$tmp/sock
	s=$1
	shift
	"$DAEMON" -l "$sock" -f "$s" "$@" >"$tmp/daemon.out" 2>&1 &
	dpid=$!
}

# 1. In-process server: both modes, both memory kinds; guest verify + full compare.
for mode in park exit; do
	for mem in anon memfd; do
		name="in-process, $mode, $mem"
		: >"$tmp/daemon.out"
		if timeout -s KILL 120 "$VMM" $VM -m $mem -u $mode -S "$snap" >"$tmp/vmm.out" 2>&1 &&
		   grep -q ": OK$" "$tmp/vmm.out"; then
			ok "$name: $(tail -n 1 "$tmp/vmm.out")"
		else
			bad "$name"
		fi
	done
done

# 2. kvmuf-daemon: the VMM hands over its fd; the daemon serves everything, then sees
#    the VMM close the socket and reports exactly 512 pages, no duplicates.
for mode in park exit; do
	for mem in anon memfd; do
		name="daemon, $mode, $mem"
		start_daemon "$snap" -t 2
		timeout -s KILL 120 "$VMM" $VM -m $mem -u $mode -D "$tmp/sock" -S "$snap" \
			>"$tmp/vmm.out" 2>&1
		vrc=$?
		if ! wait_pid $dpid 10; then
			bad "$name: the daemon did not exit after the VMM closed the socket"
			continue
		fi
		if [ $vrc -ne 0 ] || ! grep -q ": OK$" "$tmp/vmm.out"; then
			bad "$name: VMM exit $vrc"
		elif [ $wait_rc -ne 0 ] ||
		     ! grep -q "^kvmuf-daemon: served 512 pages (2.0 MiB) in .* duplicates 0, out-of-range 0" \
			"$tmp/daemon.out"; then
			bad "$name: daemon exit $wait_rc"
		else
			ok "$name: $(tail -n 1 "$tmp/daemon.out")"
		fi
	done
done

# 3. Pages the daemon cannot serve, then the daemon goes away (SIGKILL in park mode:
#    the module must see the last device reference go and release the parked vCPUs;
#    SIGTERM in exit mode: the VMM sees the socket close). The VMM must fail naming a
#    GFN at or past 0x10012c, and must not hang.
for mode in park exit; do
	sig=KILL
	[ $mode = exit ] && sig=TERM
	name="out-of-range, $mode, daemon killed with SIG$sig"
	start_daemon "$small"
	timeout -s KILL 60 "$VMM" $VM -u $mode -D "$tmp/sock" -S "$small" >"$tmp/vmm.out" 2>&1 &
	vpid=$!
	sleep 3
	if ! kill -0 $vpid 2>/dev/null; then
		wait $vpid
		bad "$name: the VMM ended (exit $?) before the daemon was stopped"
		kill -9 $dpid 2>/dev/null
		continue
	fi
	kill -$sig $dpid
	if ! wait_pid $vpid 20; then
		bad "$name: the VMM hung after the daemon went away"
	elif [ $wait_rc -eq 0 ] || [ $wait_rc -eq 137 ]; then
		bad "$name: VMM exit $wait_rc, expected a failure"
	elif ! grep -q "nobody will serve it" "$tmp/vmm.out"; then
		bad "$name: no 'nobody will serve it' message"
	else
		ok "$name: $(grep -m 1 'nobody will serve' "$tmp/vmm.out")"
	fi
	wait_pid $dpid 5 || bad "$name: the daemon did not exit"
	if [ $sig = TERM ]; then
		if [ "${wait_rc:-0}" -ne 1 ] ||
		   ! grep -q "out-of-range [1-9]" "$tmp/daemon.out"; then
			bad "$name: daemon (exit ${wait_rc:-?}) did not report out-of-range faults"
		else
			ok "$name: daemon: $(tail -n 1 "$tmp/daemon.out")"
		fi
	fi
done

# 4. The in-process server refuses a snapshot that does not cover the memory (a vCPU
#    would wait forever), except in exit mode with a wait limit, which gives up.
name="in-process, partial snapshot"
if timeout -s KILL 60 "$VMM" $VM -u park -S "$small" >"$tmp/vmm.out" 2>&1; then
	bad "$name: park mode accepted it"
elif ! grep -q "does not cover the test memory" "$tmp/vmm.out"; then
	bad "$name: no 'does not cover' message"
else
	ok "$name: refused in park mode"
fi
: >"$tmp/daemon.out"
timeout -s KILL 60 "$VMM" $VM -u exit -W 2000 -S "$small" >"$tmp/vmm.out" 2>&1
vrc=$?
if [ $vrc -ne 1 ] || ! grep -q "still missing after 2000 ms" "$tmp/vmm.out"; then
	bad "$name, exit -W 2000: VMM exit $vrc"
else
	ok "$name, exit -W 2000: gave up"
fi

# 5. Exit mode with a wait limit and the daemon: the VMM gives up on its own.
name="out-of-range, exit, -W 2000"
start_daemon "$small" -q
timeout -s KILL 60 "$VMM" $VM -u exit -W 2000 -D "$tmp/sock" -S "$small" >"$tmp/vmm.out" 2>&1
vrc=$?
wait_pid $dpid 10 || bad "$name: the daemon did not exit"
if [ $vrc -ne 1 ] || ! grep -q "still missing after 2000 ms" "$tmp/vmm.out"; then
	bad "$name: VMM exit $vrc"
else
	ok "$name"
fi

[ $fails -eq 0 ] && echo "uf-e2e: all passed" || echo "uf-e2e: $fails failed"
[ $fails -eq 0 ]
