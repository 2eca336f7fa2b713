#!/usr/bin/env bash
# The module's BTF reader (module/btfparse.h, run on the host through tests/unit's
# test_btf) on the BTF of stock Debian kernels: those the suite boots and those it cannot
# (6.16, 6.17, 6.18: no headers to build against; 6.1.180: the 6.1 layout before
# mmu_seq). Each must give the layout measured for its line (../shared/DESIGN.md), and
# the real blobs are fuzzed under ASan/UBSan. Downloads on first run (cached).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. scripts/lib-cache.sh

# What each line's BTF says (copies aside: some builds carry two identical definitions).
expected() {
	case "$1" in
	6.1.*) echo "error_code 8/4 prefetch 12 max_level 21 gfn 24 slot 32 hook kvm_faultin_pfn/2 recover none retry 1" ;;
	6.12.*) echo "error_code 8/8 prefetch 16 max_level 26 gfn 32 slot 40 hook kvm_faultin_pfn/3 recover none retry 1" ;;
	6.1[6-9].* | 7.*) echo "error_code 8/8 prefetch 16 max_level 26 gfn 32 slot 40 hook kvm_mmu_faultin_pfn/3 recover kvm_mmu_recover_huge_pages retry 1" ;;
	*) echo "unknown line" ;;
	esac
}

scripts/fetch-kernels.sh >/dev/null
kvers=$(scripts/fetch-btf.sh booted; scripts/fetch-btf.sh offline)
make -s -C tests/unit build/asan/test_btf
bin=tests/unit/build/asan/test_btf
dir=$KVMUF_CACHE/btf
bad=0 n=0
for k in $kvers; do
	got=$("$bin" "$dir/$k.vmlinux.btf" "$dir/$k.kvm.btf") || true
	want=$(expected "$k")
	if [ "$(echo "$got" | sed 's/ copies [0-9]*//')" = "$want" ]; then
		echo "ok   $k: $got"
	else
		echo "FAIL $k: $got (want $want)"
		bad=$((bad + 1))
	fi
	n=$((n + 1))
done
for line in $KVMUF_KERNEL_LINES; do
	echo "$kvers" | grep -q "^$line\." || { echo "FAIL: no BTF for the booted line $line"; bad=$((bad + 1)); }
done
for want in 6.16 6.17 6.18 6.1.0-52; do
	echo "$kvers" | grep -q "^$want" || { echo "FAIL: no BTF for $want"; bad=$((bad + 1)); }
done
KVMUF_BTF_DIR=$dir "$bin" | sed 's/^ */fuzz: /'
[ $bad -eq 0 ] || exit 1
echo "ok: $n kernels' BTF give the layout of their line"
