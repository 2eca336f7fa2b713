# Sourced by the in-guest kvm-userfault tests (busybox sh): snapshot, daemon and VMM
# helpers. The guest memory of kvmuf-vmm starts at GFN 0x100000 (GPA 4 GiB).
. /tests/lib.sh
[ -c /dev/kvm-userfault ] || fail "/dev/kvm-userfault missing: is kvm_userfault loaded?"

tmp=$(mktemp -d /tmp/uf.XXXXXX) || fail "mktemp"
trap 'kill -9 $dpid 2>/dev/null; rm -rf "$tmp"' EXIT
dpid=''

# snapshot FILE PAGES: a memory image with a distinct pattern in every page.
snapshot() { kvmuf-mksnap -o "$1" -n "$2" >/dev/null || fail "kvmuf-mksnap $*"; }

# start_daemon SNAPSHOT [options]: kvmuf-daemon in the background, output in $tmp/daemon.out.
start_daemon() {
	local snap=$1
	shift
	kvmuf-daemon -l "$tmp/sock" -f "$snap" "$@" >"$tmp/daemon.out" 2>&1 &
	dpid=$!
}

# serve_restore SOURCE "DAEMON-OPTIONS" VMM-ARGS...: kvmuf-daemon serving SOURCE on
# $tmp/sock, and kvmuf-vmm restoring through it (-D added). The VMM's status in $vrc, the
# daemon's in $rc; returns 1 (the daemon killed) if it did not end within 10 s of the VMM.
serve_restore() {
	local src=$1 dopts=$2
	shift 2
	start_daemon "$src" $dopts
	vmm "$@" -D "$tmp/sock"
	vrc=$rc
	wait_exit $dpid 10
}

# wait_exit PID SECONDS: wait for PID; its status in $rc. Fails (and kills it) past the limit.
wait_exit() {
	local i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1"
		wait "$1" 2>/dev/null
		return 1
	fi
	wait "$1"
	rc=$?
}

# vmm ARGS...: kvmuf-vmm bounded in time; output in $tmp/vmm.out, status in $rc.
vmm() {
	timeout -s KILL 120 kvmuf-vmm "$@" >"$tmp/vmm.out" 2>&1
	rc=$?
}

# field NAME FILE: the number after "NAME " on the last matching line ("faults 512").
field() { sed -n "s/.*[ (]$1 \([0-9][0-9]*\).*/\1/p" "$2" | tail -n 1; }

show() { sed "s|^|    $1: |" "$2"; }

# vm_attached PID: true while the VM that process PID created (busybox timeout execs its
# command in its own pid: "timeout ... kvmuf-vmm &" and $! will do) is attached to a page
# server, by the module's own list (debugfs kvm-userfault/vms names a VM by its creator's
# pid, as KVM does). Unlike the module's refcount, a state an earlier VM left for the
# reaper does not count.
vm_attached() {
	grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug
	grep -q "^kvm-userfault vm $1 state attached " /sys/kernel/debug/kvm-userfault/vms
}

