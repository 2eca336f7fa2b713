#!/bin/sh
# kvmuf-bench, every mode, small, with the module loaded: every page served and verified
# in every mode, and the fault path's figures that the design promises: a missing page
# costs kvm-userfault park modes one stage-2 fault (KVM maps the page in the same exit
# as the park: pf_taken per page about 1, as userfaultfd; exit mode pays two), and the
# per-stage breakdown is reported. (Speed itself is for make bench, never asserted.)
. /tests/lib.sh
module_loaded || fail "kvm_userfault is not loaded"
out=/tmp/bench-quick.out
kvmuf-bench -v 1,2 -b 256K --reps 1 --backing shmem >"$out" 2>&1 || { sed 's/^/    /' "$out"; fail "kvmuf-bench exit $?"; }
grep -q '^result: OK' "$out" || { sed 's/^/    /' "$out"; fail "no 'result: OK'"; }
# pf_taken/pg of a mode at a vCPU count, from KVM's counters table.
pf() { awk -v m="$1" -v v="$2" '/^KVM.s counters per page/ {t = 1; next} t && $1 == m && $2 == v {print $5; exit}' "$out"; }
for v in 1 2; do
	for m in kvmuf-park kvmuf-park+uffd kvmuf-minor uffd-missing; do
		p=$(pf $m $v)
		[ -n "$p" ] || { sed 's/^/    /' "$out"; fail "no KVM counters for $m at $v vCPUs"; }
		awk -v p="$p" 'BEGIN { exit !(p >= 0.9 && p < 1.2) }' ||
			{ sed 's/^/    /' "$out"; fail "$m at $v vCPUs: $p stage-2 faults per page, expected about 1"; }
	done
	p=$(pf kvmuf-exit $v)
	awk -v p="$p" 'BEGIN { exit !(p >= 1.8) }' ||
		{ sed 's/^/    /' "$out"; fail "kvmuf-exit at $v vCPUs: $p stage-2 faults per page, expected about 2"; }
	echo "ok: $v vCPUs: stage-2 faults per page: kvmuf-park $(pf kvmuf-park $v), kvmuf-park+uffd $(pf kvmuf-park+uffd $v), kvmuf-minor $(pf kvmuf-minor $v), uffd-missing $(pf uffd-missing $v), kvmuf-exit $(pf kvmuf-exit $v)"
done
grep -Eq '^kvmuf-park +1 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +100\.0$' "$out" ||
	{ sed 's/^/    /' "$out"; fail "no per-stage breakdown of kvmuf-park with every park continued in the same exit"; }
sed -n "/^Where a missing page's time goes/,/^queue:/p" "$out" | sed '$d'
