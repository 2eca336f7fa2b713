#!/usr/bin/env bash
# Fetch the stock Debian kernels the module is tested on, into a cache outside the repo.
#
#   scripts/fetch-kernels.sh [LINE...]      LINE: 6.1 6.12 7.2 7.3 (default: all)
#
# For each kernel line it picks the newest package on Debian's mirror and leaves, in
# $KVMUF_CACHE/kernels/<line>/:
#   kver        the kernel release string (uname -r of that kernel)
#   vmlinuz     the stock image; vmlinux too when it could be extracted (faster PVH boot)
#   modules/    kvm.ko, kvm-amd.ko and every module they depend on, uncompressed
#   kdir        the path of a tree to build out-of-tree modules against
#
# Apt runs with a private state directory holding every suite we need (bookworm,
# bookworm-security, bookworm-backports, trixie-backports, sid, experimental) and an empty dpkg status, so the host's apt
# configuration is never read nor modified, and nothing is installed: packages are
# downloaded and unpacked with dpkg-deb -x. Re-runs reuse what is cached.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib-cache.sh"

APT_DIR=$KVMUF_CACHE/apt
DEB_DIR=$KVMUF_CACHE/debs

log() { printf 'fetch-kernels: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

apt_private() {
	local cmd=$1; shift
	"$cmd" -o Dir::Etc::sourcelist=/dev/null \
		-o Dir::Etc::sourceparts="$APT_DIR/sources.list.d" \
		-o Dir::Etc::preferencesparts="$APT_DIR/preferences.d" \
		-o Dir::State::Lists="$APT_DIR/lists" \
		-o Dir::State::status="$APT_DIR/status" \
		-o Dir::Cache="$APT_DIR/cache" \
		-o APT::Architecture=amd64 \
		-o Acquire::Languages=none \
		-o Debug::NoLocking=1 \
		"$@"
}

apt_setup() {
	mkdir -p "$APT_DIR/sources.list.d" "$APT_DIR/preferences.d" \
		"$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$DEB_DIR"
	: >"$APT_DIR/status"
	local sources=$APT_DIR/sources.list.d/kvmuf.sources
	cat >"$sources.new" <<-EOF
	Types: deb
	URIs: http://deb.debian.org/debian
	Suites: bookworm bookworm-updates bookworm-backports trixie trixie-backports sid experimental
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb
	URIs: http://deb.debian.org/debian-security
	Suites: bookworm-security
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	# Rewritten only when it changes: its age tells whether the indexes match it.
	if cmp -s "$sources.new" "$sources"; then rm "$sources.new"; else mv "$sources.new" "$sources"; fi
	# Refresh the indexes at most once an hour, or when the suites changed; an offline
	# re-run still works from cache.
	local stamp=$APT_DIR/updated
	if [ -z "$(find "$stamp" -mmin -60 -newer "$sources" 2>/dev/null)" ]; then
		if apt_private apt-get -q update >"$APT_DIR/update.log" 2>&1; then
			touch "$stamp"
		elif [ -e "$stamp" ]; then
			log "apt update failed, using the indexes from $(date -r "$stamp")"
		else
			cat "$APT_DIR/update.log" >&2
			die "apt update failed (see above)"
		fi
	fi
}

# newest_pkg REGEX: the highest-versioned package name matching REGEX.
newest_pkg() {
	apt_private apt-cache pkgnames | grep -E "$1" | sort -V | tail -n 1
}

# download PKG...: fetch .debs into DEB_DIR (kept: re-runs do not download again).
download() {
	local p missing=()
	for p in "$@"; do
		ls "$DEB_DIR/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "downloading ${missing[*]}"
	(cd "$DEB_DIR" && apt_private apt-get -q download "${missing[@]}" 2>&1 |
		grep -v 'unsandboxed as root' >&2) || true
	for p in "${missing[@]}"; do
		ls "$DEB_DIR/${p}_"*.deb >/dev/null 2>&1 || die "could not download $p"
	done
}

unpack() { # unpack DEST PKG...
	local dest=$1 p; shift
	mkdir -p "$dest"
	for p in "$@"; do dpkg-deb -x "$(ls "$DEB_DIR/${p}_"*.deb | sort -V | tail -n 1)" "$dest"; done
}

# The header package dependencies that make up the build tree (common headers, kbuild).
header_deps() {
	apt_private apt-cache depends "$1" | sed -n 's/^ *Depends: //p' |
		grep -E '^linux-(headers|kbuild)-' | sort -u
}

# collect_modules ROOT KVER DEST: kvm, kvm-amd and their dependency closure, uncompressed,
# with DEST/load-order listing them dependencies first (the harness loads them with insmod,
# which does not resolve dependencies).
collect_modules() {
	local root=$1 kver=$2 dest=$3 moddir
	moddir=$(find "$root" -type d -path "*/modules/$kver" | head -n 1)
	[ -n "$moddir" ] || die "no modules directory for $kver"
	rm -rf "$dest" && mkdir -p "$dest"
	: >"$dest/load-order"
	collect_module "$moddir" "$dest" kvm
	collect_module "$moddir" "$dest" kvm-amd
}

# collect_module MODDIR DEST NAME: depth-first, so a module is listed after its deps.
collect_module() {
	local moddir=$1 dest=$2 m=$3 f dep
	grep -qx "$m" "$dest/load-order" && return 0
	f=$(find "$moddir" \( -name "$m.ko*" -o -name "${m//-/_}.ko*" -o -name "${m//_/-}.ko*" \) | head -n 1)
	[ -n "$f" ] || die "module $m not found under $moddir"
	case "$f" in
	*.ko.xz) xz -dc "$f" >"$dest/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$dest/$m.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$dest/$m.ko" ;;
	*) cp "$f" "$dest/$m.ko" ;;
	esac
	for dep in $(modinfo -F depends "$dest/$m.ko" | tr ',' ' '); do
		collect_module "$moddir" "$dest" "$dep"
	done
	echo "$m" >>"$dest/load-order"
}

# extract_vmlinux VMLINUZ OUT [any]: the uncompressed ELF from a bzImage, if it has a PVH
# entry (or, with "any", whatever ELF is inside).
extract_vmlinux() {
	local in=$1 out=$2 want=${3:-pvh} off magic tool
	for magic in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
		tool=${magic%%:*}
		for off in $(LC_ALL=C grep -obUaP "${magic#*:}" "$in" | cut -d: -f1); do
			if tail -c +$((off + 1)) "$in" | "$tool" -dc 2>/dev/null >"$out.tmp" ||
				[ -s "$out.tmp" ]; then
				if { [ "$want" = any ] && readelf -h "$out.tmp" >/dev/null 2>&1; } ||
					readelf -n "$out.tmp" 2>/dev/null | grep -q 'Xen'; then
					mv "$out.tmp" "$out"
					return 0
				fi
			fi
		done
	done
	rm -f "$out.tmp"
	return 1
}

# install_image DIR KVER ROOT: image + modules from an unpacked image package root.
install_image() {
	local dir=$1 kver=$2 root=$3 img
	img=$(find "$root" \( -name "vmlinuz-$kver" -o -path "*/modules/$kver/vmlinuz" \) | head -n 1)
	[ -n "$img" ] || die "no vmlinuz-$kver in the image package"
	cp "$img" "$dir/vmlinuz"
	rm -f "$dir/vmlinux"
	extract_vmlinux "$dir/vmlinuz" "$dir/vmlinux" || log "$kver: no PVH vmlinux, will boot bzImage"
	collect_modules "$root" "$kver" "$dir/modules"
}

# Headers packages reference their common half by absolute path; point it into the cache.
relocate_headers() {
	local root=$1 kver=$2 mk
	for mk in "$root/usr/src/linux-headers-$kver"/Makefile; do
		sed -i "s|include /usr/src/|include $root/usr/src/|" "$mk"
	done
}

fetch_headers_line() { # 6.1 and 6.12: stock headers packages build out-of-tree modules
	local line=$1 dir=$2 kver=$3 image_pkg=$4 work
	work=$dir/unpack
	rm -rf "$work"
	local hdr_pkgs
	hdr_pkgs=$(printf '%s\n' "linux-headers-$kver" $(header_deps "linux-headers-$kver"))
	download "$image_pkg" $hdr_pkgs
	unpack "$work/image" "$image_pkg"
	install_image "$dir" "$kver" "$work/image"
	rm -rf "$dir/headers"
	unpack "$dir/headers" $hdr_pkgs
	relocate_headers "$dir/headers" "$kver"
	rm -rf "$work"
	echo "$dir/headers/usr/src/linux-headers-$kver" >"$dir/kdir"
}

# 7.2 (sid) and 7.3 (trixie-backports): the headers package wants a newer gcc than
# bookworm's. Build a tree from
# linux-source with the image's config and Module.symvers, prepared with the host gcc.
fetch_source_line() {
	local line=$1 dir=$2 kver=$3 work src srcpkg
	work=$dir/unpack
	srcpkg=linux-source-$line
	rm -rf "$work"
	download "linux-binary-$kver" "linux-modules-$kver" "linux-headers-$kver" "$srcpkg"
	unpack "$work/image" "linux-binary-$kver" "linux-modules-$kver"
	install_image "$dir" "$kver" "$work/image"
	unpack "$work/headers" "linux-headers-$kver"
	src=$dir/src
	rm -rf "$src" && mkdir -p "$src"
	unpack "$work/source" "$srcpkg"
	log "unpacking $srcpkg (takes a minute)"
	tar -xaf "$work/source"/usr/src/linux-source-*.tar.* -C "$src" --strip-components=1
	cp "$work/headers/usr/src/linux-headers-$kver/.config" "$src/.config"
	cp "$work/headers/usr/src/linux-headers-$kver/Module.symvers" "$src/Module.symvers"
	rm -rf "$work"
	log "preparing $src for $kver with $(gcc -dumpfullversion)"
	# Rust is not needed for a C module and its toolchain would have to match the image's.
	"$src/scripts/config" --file "$src/.config" --disable RUST
	make -s -C "$src" KERNELRELEASE="$kver" olddefconfig >"$dir/prepare.log" 2>&1
	make -s -C "$src" KERNELRELEASE="$kver" -j"$(nproc)" modules_prepare >>"$dir/prepare.log" 2>&1 ||
		{ tail -n 30 "$dir/prepare.log" >&2; die "modules_prepare failed for $kver"; }
	[ "$(cat "$src/include/config/kernel.release")" = "$kver" ] ||
		die "prepared tree reports $(cat "$src/include/config/kernel.release"), wanted $kver"
	echo "$src" >"$dir/kdir"
}

fetch_line() {
	local line=$1 dir kver pkg
	dir=$KVMUF_CACHE/kernels/$line
	case "$line" in
	6.1) pkg=$(newest_pkg '^linux-image-6\.1\.0-[0-9]+-amd64$'); kver=${pkg#linux-image-} ;;
	6.12) pkg=$(newest_pkg '^linux-image-6\.12\.[0-9]+\+deb12-amd64$'); kver=${pkg#linux-image-} ;;
	7.2) pkg=$(newest_pkg '^linux-binary-7\.2\.[0-9]+\+deb[0-9]+-amd64$'); kver=${pkg#linux-binary-} ;;
	7.3) pkg=$(newest_pkg '^linux-binary-7\.3\.[0-9]+\+deb[0-9]+-amd64$'); kver=${pkg#linux-binary-} ;;
	*) die "unknown kernel line '$line' (known: $KVMUF_KERNEL_LINES)" ;;
	esac
	[ -n "$pkg" ] || die "no package found for kernel line $line"
	if [ -f "$dir/ready" ] && [ "$(cat "$dir/ready")" = "$kver" ]; then
		log "$line: $kver (cached)"
		return 0
	fi
	log "$line: fetching $kver"
	mkdir -p "$dir"
	rm -f "$dir/ready"
	case "$line" in
	7.2 | 7.3) fetch_source_line "$line" "$dir" "$kver" ;;
	*) fetch_headers_line "$line" "$dir" "$kver" "$pkg" ;;
	esac
	echo "$kver" >"$dir/kver"
	echo "$kver" >"$dir/ready"
	log "$line: $kver ready"
}

main() {
	local lines=("$@")
	[ ${#lines[@]} -gt 0 ] || read -r -a lines <<<"$KVMUF_KERNEL_LINES"
	apt_setup
	for line in "${lines[@]}"; do fetch_line "$line"; done
}

# Sourced (scripts/fetch-btf.sh uses the apt helpers): define only.
[ "${BASH_SOURCE[0]}" != "$0" ] || main "$@"
