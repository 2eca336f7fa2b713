#!/bin/sh
# Dedup: 4 vCPUs touch the same 32 pages at the same time while the server takes 20 ms to
# fetch each page, so several vCPUs fault on each page before it arrives. Each page must
# give exactly one ring entry (faults == 32), the extra faults must be counted as deduped,
# and all the vCPUs must wake on the one resolve (the run completes and verifies).
. /tests/lib-uf.sh
snapshot "$tmp/snap" 32
for mode in park exit; do
	vmm -v 4 -b 128K -O -u $mode -T 1 -d 20000 -S "$tmp/snap"
	[ $rc -eq 0 ] && grep -q ': OK$' "$tmp/vmm.out" || { show vmm "$tmp/vmm.out"; fail "$mode: exit $rc"; }
	faults=$(field faults "$tmp/vmm.out") deduped=$(field deduped "$tmp/vmm.out")
	[ "$faults" = 32 ] || { show vmm "$tmp/vmm.out"; fail "$mode: $faults ring entries for 32 pages"; }
	[ "$deduped" -gt 0 ] || { show vmm "$tmp/vmm.out"; fail "$mode: no fault was deduplicated"; }
	echo "ok: $mode: 4 vCPUs x 32 shared pages: $faults ring entries, $deduped deduped faults"
done
