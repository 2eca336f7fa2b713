#!/usr/bin/env bash
# The BTF of stock Debian kernels, for the offline check of the module's BTF reader
# (tests/host/btf-offline.sh): for each kernel, $KVMUF_CACHE/btf/KVER.vmlinux.btf (the
# .BTF section of vmlinux) and KVER.kvm.btf (kvm.ko's split BTF), the two files the
# module reads from /sys/kernel/btf at load time.
#
#   scripts/fetch-btf.sh booted        the kernels the suite boots (already in the cache)
#   scripts/fetch-btf.sh offline       kernels we do not boot: the newest 6.16, 6.17 and
#                                      6.18 of trixie-backports (no headers: nothing can
#                                      be built for them) and 6.1.180 (its 6.1 layout has
#                                      no mmu_seq, unlike today's 6.1)
#
# Prints one "KVER" line per kernel ready. Image packages are downloaded once (~170 MB
# for 6.16+), their BTF kept and the package deleted.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/fetch-kernels.sh"

BTF_DIR=$KVMUF_CACHE/btf

# btf_from KVER VMLINUX_ELF_OR_BZIMAGE KVM_KO: the two blobs into BTF_DIR.
btf_from() {
	local kver=$1 image=$2 ko=$3 tmp
	tmp=$(mktemp -d)
	if readelf -h "$image" >/dev/null 2>&1; then
		cp "$image" "$tmp/vmlinux"
	else
		extract_vmlinux "$image" "$tmp/vmlinux" any || die "$kver: no ELF inside $image"
	fi
	case "$ko" in
	*.ko.xz) xz -dc "$ko" >"$tmp/kvm.ko" ;;
	*.ko.zst) zstd -qdc "$ko" >"$tmp/kvm.ko" ;;
	*) cp "$ko" "$tmp/kvm.ko" ;;
	esac
	mkdir -p "$BTF_DIR"
	objcopy --dump-section .BTF="$BTF_DIR/$kver.vmlinux.btf.tmp" "$tmp/vmlinux" "$tmp/out.o" ||
		die "$kver: vmlinux has no .BTF section"
	objcopy --dump-section .BTF="$BTF_DIR/$kver.kvm.btf.tmp" "$tmp/kvm.ko" "$tmp/out.o" ||
		die "$kver: kvm.ko has no .BTF section"
	mv "$BTF_DIR/$kver.vmlinux.btf.tmp" "$BTF_DIR/$kver.vmlinux.btf"
	mv "$BTF_DIR/$kver.kvm.btf.tmp" "$BTF_DIR/$kver.kvm.btf"
	rm -rf "$tmp"
}

have_btf() { [ -s "$BTF_DIR/$1.vmlinux.btf" ] && [ -s "$BTF_DIR/$1.kvm.btf" ]; }

booted() {
	local line dir kver
	for line in $KVMUF_KERNEL_LINES; do
		dir=$KVMUF_CACHE/kernels/$line
		[ -f "$dir/ready" ] || continue
		kver=$(cat "$dir/kver")
		have_btf "$kver" || btf_from "$kver" "$dir/vmlinux" "$dir/modules/kvm.ko"
		echo "$kver"
	done
}

# image_btf PKG: BTF of an image package that carries its modules (6.1 .. 6.18).
image_btf() {
	local pkg=$1 kver=${1#linux-image-} tmp img ko
	if ! have_btf "$kver"; then
		download "$pkg"
		tmp=$(mktemp -d)
		unpack "$tmp" "$pkg"
		img=$(find "$tmp" -name "vmlinuz-$kver" | head -n 1)
		ko=$(find "$tmp" -path "*/modules/$kver/*" -name 'kvm.ko*' | head -n 1)
		[ -n "$img" ] && [ -n "$ko" ] || die "$pkg: no vmlinuz or kvm.ko"
		btf_from "$kver" "$img" "$ko"
		rm -rf "$tmp" "$DEB_DIR/${pkg}_"*.deb
	fi
	echo "$kver"
}

offline() {
	local re pkg
	apt_setup
	for re in '6\.16\.[0-9]+\+deb13' '6\.17\.[0-9]+\+deb13' '6\.18\.[0-9]+\+deb13' '6\.1\.0-52'; do
		pkg=$(newest_pkg "^linux-image-$re-amd64\$")
		[ -n "$pkg" ] || die "no package for linux-image-$re-amd64"
		image_btf "$pkg"
	done
}

case "${1:-}" in
booted) booted ;;
offline) offline ;;
*) echo "usage: $0 booted|offline" >&2; exit 2 ;;
esac
