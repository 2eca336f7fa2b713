#!/bin/sh
# Snapshot restore end to end through a separate daemon process: the VMM starts with all
# guest memory missing, registered with userfaultfd (the backstop), and hands its device
# fd, memfd and userfaultfd to kvmuf-daemon, which serves the pages from a memory image. Park and exit modes, anonymous (resolve-with-copy) and
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
			serve_restore "$tmp/snap" "-T 2" -v $nv -b $((per_vcpu * 4))K -m $mem -u $mode \
				-S "$tmp/snap" ||
				{ show vmm "$tmp/vmm.out"; fail "$case: daemon did not exit after the VMM"; }
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

# The VMM's own reads of missing pages (device emulation, before the guest runs) wait in
# the userfaultfd it handed over until the daemon serves them: 32 pages come that way, and
# are resolved in the module at once (the guest never faults on them), the rest through
# the rings, each once.
for mode in park exit; do
	for mem in anon memfd; do
		case="VMM reads, $mode, $mem"
		serve_restore "$tmp/snap" "-T 2" -v 1 -b $((per_vcpu * 4))K -m $mem -u $mode \
			-S "$tmp/snap" -P 32 || fail "$case: daemon did not exit after the VMM"
		d=$tmp/daemon.out
		# A vCPU may touch one of the VMM's 32 pages after its UFFDIO_COPY but before the
		# engine's batched RESOLVE: one more ring entry, answered "unchanged", no copy.
		[ $vrc -eq 0 ] && [ $rc -eq 0 ] && [ "$(field userfaultfd "$d")" = 32 ] &&
			[ "$(field rings "$d")" = $((per_vcpu - 32)) ] &&
			[ "$(field served "$d")" = $per_vcpu ] &&
			[ "$(field faults "$d")" = $((per_vcpu - 32 + $(field unchanged "$d"))) ] &&
			[ "$(field duplicates "$d")" = 0 ] && [ "$(field errors "$d")" = 0 ] ||
			{ show vmm "$tmp/vmm.out"; show daemon "$d"; fail "$case: expected 32 pages through userfaultfd, $((per_vcpu - 32)) through the rings"; }
		echo "ok: $case: $(tail -n 1 "$d" | sed 's/.*threads, //')"
	done
done
# Negative control: module only (-M), the same reads find zero pages, and the VMM says so.
serve_restore "$tmp/snap" "-T 2" -v 1 -b $((per_vcpu * 4))K -u park -M -S "$tmp/snap" -P 32 ||
	fail "module only: daemon did not exit after the VMM"
[ $vrc -ne 0 ] && grep -q 'the VMM read 32 of the 32 pages it read wrong' "$tmp/vmm.out" ||
	{ show vmm "$tmp/vmm.out"; fail "module only: the VMM's reads of missing pages did not come out wrong"; }
echo "ok: module only (-M): $(grep -m 1 'the VMM read' "$tmp/vmm.out" | sed 's/^kvmuf-vmm: //')"
