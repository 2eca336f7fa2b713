#!/bin/sh
# Snapshot restore end to end through a separate daemon process: the VMM starts with all
# guest memory missing and hands its device fd (and memfd) to kvmuf-daemon, which serves
# the pages from a memory image. Park and exit modes, anonymous (resolve-with-copy) and
# memfd (write-through) memory, 1 and 2 vCPUs. Checks: the guest finds every page's
# pattern, the VMM finds every page equal to the image, every page faulted exactly once,
# and the daemon served exactly the pages that faulted (nothing unasked, no duplicates).
. /tests/lib-uf.sh
per_vcpu=256
snapshot "$tmp/snap" $((2 * per_vcpu))
for nv in 1 2; do
	pages=$((nv * per_vcpu))
	for mode in park exit; do
		for mem in anon memfd; do
			case="$nv vCPU, $mode, $mem"
			start_daemon "$tmp/snap" -t 2
			vmm -v $nv -b $((per_vcpu * 4))K -m $mem -u $mode -D "$tmp/sock" -S "$tmp/snap"
			vrc=$rc
			wait_exit $dpid 10 || { show vmm "$tmp/vmm.out"; fail "$case: daemon did not exit after the VMM"; }
			if [ $vrc -ne 0 ] || ! grep -q ': OK$' "$tmp/vmm.out"; then
				show vmm "$tmp/vmm.out"; show daemon "$tmp/daemon.out"
				fail "$case: VMM exit $vrc"
			fi
			d=$tmp/daemon.out
			served=$(field served "$d") faults=$(field faults "$d")
			[ $rc -eq 0 ] && [ "$served" = $pages ] && [ "$faults" = $pages ] &&
				[ "$(field duplicates "$d")" = 0 ] && [ "$(field out-of-range "$d")" = 0 ] &&
				[ "$(field unchanged "$d")" = 0 ] ||
				{ show daemon "$d"; fail "$case: expected $pages pages faulted and served once each"; }
			echo "ok: $case: $(tail -n 1 "$tmp/vmm.out" | sed 's/.*pages, //')"
			echo "    $(tail -n 1 "$d")"
		done
	done
done
