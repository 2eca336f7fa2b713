#!/usr/bin/env bash
# Build the test initramfs for one stock kernel.
#
#   tests/vm/mkinitramfs.sh OUT.cpio KERNEL_DIR MODULE_KO SUITE_LIST TEST_TIMEOUT BIN_DIR...
#
# KERNEL_DIR is a cache directory made by scripts/fetch-kernels.sh (its modules/ holds kvm,
# kvm-amd and their dependencies); MODULE_KO is the kvm_userfault.ko to test; SUITE_LIST
# names the tests in order; each BIN_DIR holds test executables (static binaries or busybox
# shell scripts) and the static tools they call. Everything is static: the initramfs has
# no libc.
set -euo pipefail

out=$1 kdir=$2 module=$3 suite=$4 test_timeout=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)

busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" | grep -q 'statically linked' ||
	{ echo "mkinitramfs: need a static busybox (apt-get install busybox-static)" >&2; exit 1; }

root=$(mktemp -d)
chmod 0755 "$root"	# the guest's /: non-root tests must get through it
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,lib/kvmuf-kmods,tests}
cp "$busybox" "$root/bin/busybox"
cp "$here/guest-init.sh" "$root/init"
cp "$kdir"/modules/*.ko "$kdir/modules/load-order" "$root/lib/kvmuf-kmods/"
[ -f "$module" ] && cp "$module" "$root/lib/kvm_userfault.ko"
# Test-only modules built next to it (e.g. the IPMODIFY holder).
mkdir -p "$root/lib/test-modules"
for ko in "$(dirname "$module")"/test-modules/*.ko; do
	[ -f "$ko" ] && cp "$ko" "$root/lib/test-modules/"
done

for dir in "$@"; do
	for f in "$dir"/*; do
		[ -f "$f" ] || continue
		case "$f" in
		*/lib*.sh) cp "$f" "$root/tests/" ;; # sourced by the shell tests
		*.c | *.h | *.list | *.mk | */Makefile) ;;
		*) [ -x "$f" ] || continue ;;&
		*.sh) cp "$f" "$root/tests/$(basename "$f" .sh)" ;;
		*) cp "$f" "$root/tests/" ;;
		esac
	done
done
# From the host, for the restore-from-NBD tests: nbdkit with the plugins and filters they
# use, at the host's paths (nbdkit finds them by name there). Absent: those tests SKIP.
borrowed=()
if nbdkit=$(command -v nbdkit); then
	plugindir=$(nbdkit --dump-config | sed -n 's/^plugindir=//p')
	filterdir=$(nbdkit --dump-config | sed -n 's/^filterdir=//p')
	borrowed=("$nbdkit" "$plugindir"/nbdkit-{file,memory}-plugin.so
		  "$filterdir"/nbdkit-{delay,rate}-filter.so)
	for f in "${borrowed[@]}"; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
	ln -s "$nbdkit" "$root/bin/nbdkit"
fi
# Dynamically linked programs (kvmuf-ctl, kvmuf-daemon: libkmod and libnbd are shared
# only; nbdkit) get their libraries.
for f in "$root"/tests/* "${borrowed[@]/#/$root}"; do
	file -L "$f" | grep -q 'dynamically linked' || continue
	ldd "$f" | awk '/=> \//{print $3} /^[[:space:]]*\/.*ld-linux/{print $1}' |
		while read -r lib; do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
done
grep -v '^#' "$suite" | while read -r t; do
	[ -z "$t" ] || [ -x "$root/tests/$t" ] ||
		{ echo "mkinitramfs: test '$t' listed in $suite has no executable" >&2; exit 1; }
done
cp "$suite" "$root/tests/suite.list"
cat >"$root/tests/suite.env" <<EOF
KVMUF_TEST_TIMEOUT=$test_timeout
KVMUF_KERNEL_LINE=$(basename "$kdir")
export KVMUF_TEST_TIMEOUT KVMUF_KERNEL_LINE
EOF
# NAME=VALUE lines from run-kernel.sh --env, quoted for the guest's sh.
printf '%s\n' "${KVMUF_GUEST_ENV:-}" | while IFS= read -r kv; do
	[ -n "$kv" ] || continue
	printf "export %s='%s'\n" "${kv%%=*}" "${kv#*=}" >>"$root/tests/suite.env"
done
chmod +x "$root/init" "$root/tests"/*
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$out"
