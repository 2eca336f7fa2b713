#!/bin/sh
# The same restore with the VMM serving its own faults (in-process server threads on the
# device fd): park and exit, anon and memfd; the module's counters must show exactly one
# notification per page.
. /tests/lib-uf.sh
snapshot "$tmp/snap" 512
for mode in park exit; do
	for mem in anon memfd; do
		vmm -v 2 -b 1M -m $mem -u $mode -S "$tmp/snap"
		[ $rc -eq 0 ] && grep -q ': OK$' "$tmp/vmm.out" || { show vmm "$tmp/vmm.out"; fail "$mode, $mem: exit $rc"; }
		[ "$(field faults "$tmp/vmm.out")" = 512 ] || { show vmm "$tmp/vmm.out"; fail "$mode, $mem: faults != 512"; }
		if [ $mode = exit ]; then
			[ "$(field exits "$tmp/vmm.out")" -ge 512 ] || fail "exit mode: fewer exits than pages"
		fi
		echo "ok: $mode, $mem: $(tail -n 1 "$tmp/vmm.out" | sed 's/.*pages, //')"
	done
done
