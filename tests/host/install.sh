#!/usr/bin/env bash
# make install into a DESTDIR, as a distribution package would: the library with its
# headers under <kvmuf/...>, its pkg-config file and versioned symbols, the tools, man
# pages that render without warnings, the udev rule and modules-load.d entry, and the
# module's sources for DKMS; then the examples build against that installation (shared
# and static) and kvmuf-ctl's command line behaves (tools/ctl/test-ctl.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; make -s -C examples clean >/dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ver=$(cat VERSION)

make -s install DESTDIR="$tmp/root" PREFIX=/usr >"$tmp/install.log" 2>&1 ||
	{ tail -n 20 "$tmp/install.log"; fail "make install"; }
for f in usr/include/kvmuf/kvmuf.h usr/include/kvmuf/kvm_userfault.h \
	usr/include/kvmuf/kvmuf_server.h usr/include/kvmuf/kvmuf_source.h usr/lib/pkgconfig/kvmuf.pc usr/lib/libkvmuf.a \
	usr/lib/libkvmuf.so.1 usr/bin/kvmuf-ctl usr/bin/kvmuf-daemon usr/bin/kvmuf-vmm \
	usr/share/man/man8/kvmuf-ctl.8 usr/share/man/man3/kvmuf_attach.3 \
	usr/share/man/man4/kvm-userfault.4 etc/udev/rules.d/60-kvm-userfault.rules \
	etc/modules-load.d/kvm-userfault.conf usr/src/kvm-userfault-$ver/dkms.conf \
	usr/src/kvm-userfault-$ver/module/main.c usr/src/kvm-userfault-$ver/VERSION; do
	[ -e "$tmp/root/$f" ] || fail "make install did not install $f"
done
[ ! -e "$tmp/root/usr/include/linux" ] || fail "something was installed under include/linux"
echo "installed: $(find "$tmp/root" -type f | wc -l) files"

for page in "$tmp"/root/usr/share/man/man*/*; do
	warn=$(LC_ALL=C groff -man -Tutf8 -ww -z "$page" 2>&1)
	[ -z "$warn" ] || fail "$(basename "$page"): $warn"
	text=$(MANWIDTH=80 man -l "$page" 2>/dev/null || true)
	[ -n "$text" ] || fail "$(basename "$page") renders empty"
done
echo "man pages render without warnings: $(cd "$tmp/root/usr/share/man" && echo man*/*)"

syms=$(nm -D --defined-only "$tmp/root/usr/lib/libkvmuf.so.1" | awk '$2 == "T" {print $3}')
[ -n "$syms" ] || fail "no symbols"
echo "$syms" | grep -qv '@@KVMUF_1\.[0-9]*$' && fail "unversioned symbols: $(echo "$syms" | grep -v '@@KVMUF_1\.' | head -n 3)"
echo "$syms" | grep -q '^kvmuf_resolve_counted@@KVMUF_1.1$' || fail "kvmuf_resolve_counted is not KVMUF_1.1"
echo "$syms" | grep -q '^kvmuf_source_open@@KVMUF_1.2$' || fail "kvmuf_source_open is not KVMUF_1.2"
echo "libkvmuf.so.1: $(echo "$syms" | wc -l) symbols, all versioned (KVMUF_1.0, KVMUF_1.1, KVMUF_1.2)"

pc=(PKG_CONFIG_PATH="$tmp/root/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root")
make -s -C examples clean
make -s -C examples "${pc[@]}" || fail "the examples do not build against the installation"
libs=$(ldd examples/park-vmm || true)	# (no pipe into grep -q: pipefail and SIGPIPE)
[[ $libs == *libkvmuf.so.1* ]] || fail "park-vmm is not linked with libkvmuf.so.1"
make -s -C examples clean
make -s -C examples "${pc[@]}" LDFLAGS=-static || fail "static examples"
echo "examples build against the installed pkg-config file, shared and static"

tools/ctl/test-ctl.sh "$tmp/root/usr/bin/kvmuf-ctl" | tail -n 1
