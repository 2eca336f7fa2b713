#!/usr/bin/env bash
# `dkms build` of this tree against an installed Debian 6.1 headers package (installed by
# scripts/install-deps.sh). Uses a private dkms and source tree, so the host's
# /var/lib/dkms is not touched, and checks the module's vermagic and version; then that a
# kernel lacking a required feature is skipped by dkms (BUILD_EXCLUSIVE_CONFIG), and refused
# with a message naming it when built by hand (module/requires.h).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v dkms >/dev/null || { echo "SKIP: dkms is not installed (scripts/install-deps.sh)"; exit 77; }
kver=$(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sed 's|.*/linux-headers-||' | sort -V | tail -n 1)
[ -n "$kver" ] || { echo "SKIP: no linux-headers-6.1.0-*-amd64 package installed (scripts/install-deps.sh)"; exit 77; }
[ -e "/lib/modules/$kver/build" ] || { echo "SKIP: /lib/modules/$kver/build missing"; exit 77; }

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$top/dkms.conf")
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf")
[ "$ver" = "$(cat "$top/VERSION")" ] ||
	{ echo "FAIL: dkms.conf says $ver, VERSION says $(cat "$top/VERSION")"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src/$name-$ver
mkdir -p "$src" "$tmp/tree"
(cd "$top" && cp -r --parents dkms.conf VERSION Kbuild module include dist "$src/")

dk() { dkms "$@" --dkmstree "$tmp/tree" --sourcetree "$tmp/src" -m "$name" -v "$ver"; }
dk add >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
dk build -k "$kver" >>"$tmp/log" 2>&1 || { cat "$tmp/log"; find "$tmp/tree" -name make.log -exec cat {} +; exit 1; }
ko=$(find "$tmp/tree/$name/$ver/$kver" -name 'kvm_userfault.ko*' | head -n 1)
[ -n "$ko" ] || { echo "FAIL: dkms build produced no module"; exit 1; }
magic=$(modinfo -F vermagic "$ko")
modver=$(modinfo -F version "$ko")
echo "dkms built $(basename "$ko") for $kver: vermagic '$magic', version $modver"
case "$magic" in "$kver "*) ;; *) echo "FAIL: vermagic does not name $kver"; exit 1 ;; esac
[ "$modver" = "$ver" ] || { echo "FAIL: module version $modver != dkms.conf $ver"; exit 1; }

# A kernel without one of BUILD_EXCLUSIVE_CONFIG is skipped by dkms (status 77), not
# built: the same headers with CONFIG_KPROBES taken out of their .config.
fake=$tmp/no-kprobes
mkdir -p "$fake"
grep -v '^CONFIG_KPROBES=' "/lib/modules/$kver/build/.config" >"$fake/.config"
set +e
dk build -k "$kver" --kernelsourcedir "$fake" --force >"$tmp/excl.log" 2>&1
rc=$?
set -e
[ $rc -eq 77 ] && grep -q 'BUILD_EXCLUSIVE' "$tmp/excl.log" ||
	{ cat "$tmp/excl.log"; echo "FAIL: a kernel without CONFIG_KPROBES was not skipped (dkms exit $rc)"; exit 1; }
echo "a kernel without CONFIG_KPROBES: skipped by dkms ($(grep -o '[^.]*BUILD_EXCLUSIVE[^.]*' "$tmp/excl.log" | head -n 1 | sed 's/^ *//'))"

# Built without DKMS on such a kernel, the module refuses at compile time, naming it.
# (Its configuration: a generated/autoconf.h with KVM and kprobes but no direct calls.)
kconfig=$(ls /usr/src/linux-headers-"${kver%-amd64}"*/include/linux/kconfig.h | head -n 1)
mkdir -p "$tmp/inc/generated"
printf '#define CONFIG_X86_64 1\n#define CONFIG_KVM_MODULE 1\n#define CONFIG_KPROBES 1\n' \
	>"$tmp/inc/generated/autoconf.h"
out=$(printf '#include "requires.h"\n' | gcc -fsyntax-only -x c -I"$top/module" \
	-I"$tmp/inc" -I"${kconfig%/linux/kconfig.h}" - 2>&1) &&
	{ echo "FAIL: requires.h accepted a kernel without ftrace direct calls"; exit 1; }
echo "$out" | grep -q 'needs ftrace direct calls' || { echo "$out"; echo "FAIL: no clear compile-time message"; exit 1; }
echo "built by hand without ftrace direct calls: $(echo "$out" | grep -o 'kvm-userfault needs [^"]*' | head -n 1)"
