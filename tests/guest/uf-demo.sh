#!/bin/sh
# The main job's demonstration: restore a VM from a memory snapshot through kvm-userfault,
# pages served by kvmuf-daemon in a separate process, after a baseline run of the same
# guest without demand paging. 2 vCPUs x 4 MiB (2048 pages). Then the same restore with
# the snapshot on an NBD server (nbdkit, 2 ms per read: a network), pages on demand only
# while recording the working set, then replaying it with a background prefetch: the
# counts show where the pages came from. Inside TCG only ratios mean anything.
. /tests/lib-uf.sh
pages=2048
snapshot "$tmp/snap" $pages
summary() { tail -n 1 "$tmp/vmm.out" | sed 's/^kvmuf-vmm: //'; }

vmm -v 2 -b 4M -c -q
[ $rc -eq 0 ] || { show vmm "$tmp/vmm.out"; fail "baseline run"; }
echo "baseline, memory present:   $(summary)"
for mode in park exit; do
	# -P 64: the VMM reads 64 pages itself first (device emulation): userfaultfd serves
	# those, the rings the rest.
	serve_restore "$tmp/snap" "-T 2" -v 2 -b 4M -q -u $mode -S "$tmp/snap" -P 64 ||
		fail "daemon did not exit"
	[ $vrc -eq 0 ] && [ $rc -eq 0 ] || { show vmm "$tmp/vmm.out"; show daemon "$tmp/daemon.out"; fail "$mode restore"; }
	echo "snapshot restore, $mode:  $(summary)"
	echo "  $(tail -n 1 "$tmp/daemon.out")"
done

command -v nbdkit >/dev/null || { echo "NBD restore: skipped, no nbdkit in the guest"; exit 0; }
npid=''
trap 'kill -9 $dpid $npid 2>/dev/null; rm -rf "$tmp"' EXIT
start_nbdkit "$tmp/nbd.sock" "$tmp/snap" 2
for run in "on demand, recording:--record $tmp/ws" "replay + prefetch:--replay $tmp/ws --prefetch 1"; do
	name=${run%%:*}
	serve_restore "nbd+unix:///?socket=$tmp/nbd.sock" "-T 2 ${run#*:}" \
		-v 2 -b 4M -q -u park -S "$tmp/snap" || fail "daemon did not exit"
	[ $vrc -eq 0 ] && [ $rc -eq 0 ] || { show vmm "$tmp/vmm.out"; show daemon "$tmp/daemon.out"; fail "NBD restore, $name"; }
	echo "NBD restore, $name:  $(summary)"
	echo "  $(grep 'restore:' "$tmp/daemon.out" | sed 's/^kvmuf-daemon: //')"
done
