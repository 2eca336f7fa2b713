#!/usr/bin/env bash
# libkvmuf's page sources (kvmuf_source.h) with no kernel module: a kvmuf-mksnap snapshot
# read as a file and served by nbdkit on unix sockets (plain, delayed, with injected
# errors, with a 64 KiB request limit, killed mid-read); tools/lib/test_source (ASan +
# UBSan) checks every page each way, that reads in flight together beat serial ones
# under a 20 ms delay, and that every bad source, bad range and dead server is an error.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v nbdkit >/dev/null || { echo "SKIP: nbdkit is not installed (scripts/install-deps.sh)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make -s -C "$top/tools/lib" libkvmuf.a test_source
make -s -C "$top/tools/daemon" kvmuf-mksnap
mksnap=$top/tools/daemon/kvmuf-mksnap
# 384 pages from an unusual GFN and seed, so nothing matches by accident.
"$mksnap" -o "$tmp/snap.img" -n 384 -g 0x23400 -s 0x5eed5eed
"$mksnap" -C "$tmp/snap.img"
timeout -k 5 60 "$top/tools/lib/test_source" "$tmp/snap.img"
