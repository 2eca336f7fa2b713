#!/usr/bin/env bash
# `dkms build` of this tree against an installed Debian 6.1 headers package (installed by
# scripts/install-deps.sh). Uses a private dkms and source tree, so the host's
# /var/lib/dkms is not touched, and checks the module's vermagic and version.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v dkms >/dev/null || { echo "SKIP: dkms is not installed (scripts/install-deps.sh)"; exit 77; }
kver=$(ls -d /usr/src/linux-headers-6.1.0-*-amd64 2>/dev/null | sed 's|.*/linux-headers-||' | sort -V | tail -n 1)
[ -n "$kver" ] || { echo "SKIP: no linux-headers-6.1.0-*-amd64 package installed (scripts/install-deps.sh)"; exit 77; }
[ -e "/lib/modules/$kver/build" ] || { echo "SKIP: /lib/modules/$kver/build missing"; exit 77; }

name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$top/dkms.conf")
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src/$name-$ver
mkdir -p "$src" "$tmp/tree"
(cd "$top" && cp -r --parents dkms.conf Kbuild module include "$src/")

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
