#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# test-cli.sh MKSNAP DAEMON: the kvmuf-mksnap and kvmuf-daemon command lines on real
# files, no /dev/kvm-userfault needed. kvmuf-mksnap -C must accept a fresh snapshot and
# catch a zero page, a page of another GFN and one flipped byte; both programs must
# refuse bad arguments (exit 2) and bad files (exit 1).
set -u
mksnap=$1 daemon=$2
. "$(dirname "$0")/../common/expect.sh"

snap=$tmp/snap
page() { echo $((4096 + ($1) * 4096)); }	# file offset of data page N

expect 0 "wrote .*: 1024 pages \(4.0 MiB\) from gfn 0x100000, seed 0x1234abcd" \
	"$mksnap" -o "$snap" -n 1024 -g 0x100000 -s 1234abcd
[ "$(stat -c %s "$snap")" -eq $((4096 + 1024 * 4096)) ] || fail "snapshot size"
expect 0 "1024 pages from gfn 0x100000, seed 0x1234abcd: OK" "$mksnap" -C "$snap"
# the first u64 of page 3 is gpa ^ seed = 0x100003000 ^ 0x1234abcd
first=$(od -An -tx8 -j "$(page 3)" -N8 "$snap" | tr -d ' ')
[ "$first" = "$(printf '%016x' $((0x100003000 ^ 0x1234abcd)))" ] || fail "page 3 starts with $first"

cp "$snap" "$tmp/zero"
dd if=/dev/zero of="$tmp/zero" bs=4096 seek=$((1 + 100)) count=1 conv=notrunc 2>/dev/null
expect 1 "1 of 1024 pages bad, first gfn 0x100064 at offset 0 \(zero page\)" "$mksnap" -C "$tmp/zero"

cp "$snap" "$tmp/moved"
dd if="$snap" of="$tmp/moved" bs=4096 skip=$((1 + 11)) seek=$((1 + 10)) count=1 conv=notrunc 2>/dev/null
expect 1 "first gfn 0x10000a at offset 0 \(the page of gfn 0x10000b\)" "$mksnap" -C "$tmp/moved"

cp "$snap" "$tmp/flip"
printf '\377' | dd of="$tmp/flip" bs=1 seek=$(($(page 1023) + 4095)) count=1 conv=notrunc 2>/dev/null
expect 1 "first gfn 0x1003ff at offset 4088 \(corrupt page" "$mksnap" -C "$tmp/flip"

head -c $((4096 + 10 * 4096)) "$snap" >"$tmp/short"
expect 1 "truncated" "$mksnap" -C "$tmp/short"
expect 1 "No such file" "$mksnap" -C "$tmp/none"
expect 1 "" "$mksnap" -o "$tmp/nodir/x" -n 1

expect 2 "required" "$mksnap" -o "$tmp/x"
expect 2 "-n" "$mksnap" -o "$tmp/x" -n 0
expect 2 "-n" "$mksnap" -o "$tmp/x" -n -5
expect 2 "-s" "$mksnap" -o "$tmp/x" -n 1 -s xyz
expect 2 "-g" "$mksnap" -o "$tmp/x" -n 1 -g 12q
expect 2 "" "$mksnap" -o "$tmp/x" -n 1 extra
expect 0 "usage" "$mksnap" -h

expect 2 "-l SOCKET is required" "$daemon" -f "$snap"
expect 2 "-f SOURCE is required" "$daemon" -l "$tmp/s"
expect 2 "-T" "$daemon" -l "$tmp/s" -f "$snap" -T 0
expect 2 "-p" "$daemon" -l "$tmp/s" -f "$snap" -p 5000
expect 0 "usage" "$daemon" -h
expect 1 "not a kvmuf snapshot|too small" "$daemon" -l "$tmp/s" -f "$daemon"
expect 1 "truncated" "$daemon" -l "$tmp/s" -f "$tmp/short"
: >"$tmp/file"
expect 2 "--readahead" "$daemon" -l "$tmp/s" -f "$snap" --readahead 257
expect 2 "--prefetch" "$daemon" -l "$tmp/s" -f "$snap" --prefetch 65
expect 2 "--prefetch-rate limits" "$daemon" -l "$tmp/s" -f "$snap" --prefetch-rate 100
expect 2 "--connections" "$daemon" -l "$tmp/s" -f "$snap" --connections 0
expect 1 "--replay: .*No such file" "$daemon" -l "$tmp/s" -f "$snap" --replay "$tmp/none"
expect 1 "--replay: .*not a working set" "$daemon" -l "$tmp/s" -f "$snap" --replay "$snap"
printf 'kvmuf-working-set 1\n0x100000 0\n0x100001 5\n0x100000 9\n' >"$tmp/twice"
expect 1 "--replay: .*gfn 0x100000 is listed twice" "$daemon" -l "$tmp/s" -f "$snap" --replay "$tmp/twice"
printf 'kvmuf-working-set 1\n0x100000 7\n0x100001 5\n' >"$tmp/back"
expect 1 "--replay: .*:3: the time goes back" "$daemon" -l "$tmp/s" -f "$snap" --replay "$tmp/back"
printf 'kvmuf-working-set 1\n# c\n\n100000 7\n' >"$tmp/nohex"
expect 1 "--replay: .*:4: want" "$daemon" -l "$tmp/s" -f "$snap" --replay "$tmp/nohex"
expect 1 "nbd_connect_uri|No such file" "$daemon" -l "$tmp/s" -f "nbd+unix:///?socket=$tmp/nosock"
expect 1 "exists and is not a socket" "$daemon" -l "$tmp/file" -f "$snap"
expect 1 "too long" "$daemon" -l "$tmp/$(printf '%0120d' 0)" -f "$snap"

[ $failed -eq 0 ] && echo "test-cli.sh $mksnap $daemon: PASS" || echo "test-cli.sh $mksnap $daemon: FAIL"
exit $failed
