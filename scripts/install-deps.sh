#!/usr/bin/env bash
# Install what building and testing kvm-userfault needs on Debian 12 (bookworm), from the
# host's own apt sources; every other kernel comes from scripts/fetch-kernels.sh into a
# cache, never installed. Idempotent. Needs root.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "install-deps: run as root (sudo $0)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get -q update
pkgs=(
	build-essential make gcc bc flex bison libelf-dev libssl-dev dwarves kmod # module builds
	qemu-system-x86 busybox-static cpio xz-utils zstd file                    # the harness
	dkms                                                                       # dkms-build test
	bsdextrautils gnuplot-nox                                                  # column(1), bench plot
	libkmod-dev zlib1g-dev pkg-config                                          # kvmuf-ctl
	libjson-c-dev python3-jsonschema                                           # bench JSON, schema
	man-db groff-base                                                          # man page checks
	libnbd-dev nbdkit                                                          # NBD page source, its test
)
# The newest 6.1 headers package: the DKMS test builds against it, installed as a user would.
hdr=$(apt-cache pkgnames linux-headers-6.1.0- | grep -E '^linux-headers-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n 1)
[ -n "$hdr" ] && pkgs+=("$hdr")
apt-get -q install -y --no-install-recommends "${pkgs[@]}"
