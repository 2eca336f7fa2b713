#!/bin/sh
# Daemon takeover (kvmuf-vmm --takeover-ms): the page server is SIGKILLed mid-restore,
# while it sleeps in a slow fetch (a fault read and not resolved) and the vCPUs wait for
# pages (parked, or in KVMUF_WAIT). A new kvmuf-daemon started on the same socket 0.3 s
# later must take over within a second, the VM must complete, and every page must be
# the snapshot's (the VMM compares all of them). Park and exit mode, anonymous and memfd
# memory, with the userfaultfd backstop and without (memfd -M: the new daemon must not
# write the memfd itself, see KVMUF_HANDOFF_ADOPTED). The new daemon asks the module
# what is still missing and brings in only that (one case with a prefetch sweep). Then
# nobody comes back: the VMM must wait out its takeover time, then fail naming the GFN,
# never read a wrong page.
. /tests/lib-uf.sh
snapshot "$tmp/snap" 512

# kill_mid_restore NAME TAKEOVER_MS VMM-ARGS...: a slow daemon (5 ms per page: 512 pages
# take over 2.5 s) serves a 2-vCPU restore with --takeover-ms; 1 s in, with the VMM still
# running, it is SIGKILLed. The VMM's pid in $vpid, its output in $tmp/vmm.out.
kill_mid_restore() {
	local name=$1 takeover=$2 d1
	shift 2
	start_daemon "$tmp/snap" -T 1 -d 5000
	d1=$dpid
	timeout -s KILL 120 kvmuf-vmm -v 2 -b 1M "$@" -D "$tmp/sock" -S "$tmp/snap" \
		--takeover-ms $takeover >"$tmp/vmm.out" 2>&1 &
	vpid=$!
	sleep 1
	kill -0 $vpid 2>/dev/null || { show vmm "$tmp/vmm.out"; fail "$name: the VMM ended before the daemon was killed"; }
	kill -9 $d1
	wait $d1 2>/dev/null
}

for case in "park anon" "exit anon --prefetch" "park memfd -M" "exit memfd"; do
	set -- $case
	mode=$1 mem=$2 extra='' prefetch=''
	case ${3:-} in -M) extra=-M ;; --prefetch) prefetch='--prefetch 1' ;; esac
	kill_mid_restore "$case" 5000 -m $mem $extra -u $mode
	sleep 0.3
	start_daemon "$tmp/snap" -T 1 $prefetch
	d2=$dpid
	wait_exit $vpid 60 || { show vmm "$tmp/vmm.out"; fail "$case: the VMM hung after the takeover"; }
	[ $rc -eq 0 ] || { show vmm "$tmp/vmm.out"; show daemon "$tmp/daemon.out"; fail "$case: VMM exit $rc"; }
	grep -q 'takeovers 1 ' "$tmp/vmm.out" || { show vmm "$tmp/vmm.out"; fail "$case: the VMM does not report one takeover"; }
	ms=$(sed -n 's/.*a new kvmuf-daemon took over after \([0-9]*\) ms.*/\1/p' "$tmp/vmm.out")
	[ -n "$ms" ] && [ "$ms" -lt 1300 ] ||
		{ show vmm "$tmp/vmm.out"; fail "$case: the takeover took ${ms:-?} ms, 300 of them before the new daemon started"; }
	wait_exit $d2 20 || fail "$case: the new daemon did not end with the VMM"
	[ $rc -eq 0 ] || { show daemon "$tmp/daemon.out"; fail "$case: the new daemon exit $rc"; }
	grep -q 'taking over gfn' "$tmp/daemon.out" || { show daemon "$tmp/daemon.out"; fail "$case: the new daemon was not told it adopted a state"; }
	# It asked the module what is missing (KVMUF_GET_MISSING): what the first one had
	# brought in is neither fetched again nor swept.
	at_start=$(sed -n 's/.*restore:.* present (\([0-9]*\) at start).*/\1/p' "$tmp/daemon.out")
	brought=$(sed -n 's/.*restore: demand \([0-9]*\) pages, readahead \([0-9]*\), prefetched \([0-9]*\).*/\1 \2 \3/p' "$tmp/daemon.out" |
		awk '{ print $1 + $2 + $3 }')
	# The first one brought some in, the new one the rest (on demand, or all by its
	# prefetch sweep before a vCPU faulted again), none twice.
	[ -n "$at_start" ] && [ "$at_start" -gt 0 ] && [ "$at_start" -lt 512 ] ||
		{ show daemon "$tmp/daemon.out"; fail "$case: ${at_start:-?} of 512 pages present at the takeover: the first daemon should have served some, not all"; }
	[ -n "$brought" ] && [ "$brought" -gt 0 ] && [ "$((at_start + brought))" -le 512 ] ||
		{ show daemon "$tmp/daemon.out"; fail "$case: ${at_start:-?} pages present at the takeover, ${brought:-?} brought in by the new daemon: none, or some twice"; }
	served=$(sed -n 's/.*served \([0-9]*\) pages.*/\1/p' "$tmp/daemon.out")
	echo "ok: $case: $(grep -m 1 'took over after' "$tmp/vmm.out" | sed 's/^kvmuf-vmm: //'); $at_start pages were present at the takeover, the new daemon brought in $brought ($served for faults); $(tail -n 1 "$tmp/vmm.out" | sed 's/.*: //')"
done

for mode in park exit; do
	kill_mid_restore "$mode, nobody" 1500 -u $mode
	# The vCPUs must wait out the 1.5 s, then the module detaches (its reaper looks every
	# second) and the run fails: at 1.2 s it must still be going, by 6 s it must be over.
	sleep 1.2
	kill -0 $vpid 2>/dev/null || { show vmm "$tmp/vmm.out"; fail "$mode, nobody: the VMM gave up before its takeover time"; }
	wait_exit $vpid 5 || { show vmm "$tmp/vmm.out"; fail "$mode, nobody: the VMM still runs 6 s after its daemon died"; }
	[ $rc -ne 0 ] || { show vmm "$tmp/vmm.out"; fail "$mode, nobody: the VMM succeeded with no page server"; }
	grep -q 'still missing and nobody will serve it' "$tmp/vmm.out" ||
		{ show vmm "$tmp/vmm.out"; fail "$mode, nobody: no error naming the missing GFN"; }
	! grep -q 'snapshot check' "$tmp/vmm.out" || { show vmm "$tmp/vmm.out"; fail "$mode, nobody: a page was read wrong"; }
	echo "ok: $mode, nobody takes over: $(grep -m 1 'nobody will serve' "$tmp/vmm.out" | sed 's/^kvmuf-vmm: //')"
done
