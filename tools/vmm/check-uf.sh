#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# check-uf.sh VMM MKSNAP: kvmuf-vmm's kvm-userfault and snapshot options on a host
# without /dev/kvm-userfault: -u exits 3 saying it cannot run here, bad combinations exit 2,
# and (with a usable /dev/kvm) -S catches guest memory that differs from the snapshot.
set -u
vmm=$1 mksnap=$2
. "$(dirname "$0")/../common/expect.sh"

snap=$tmp/snap
"$mksnap" -o "$snap" -n 512 -s 1234abcd >/dev/null || fail "kvmuf-mksnap"
kvm=0
[ -r /dev/kvm ] && [ -w /dev/kvm ] && kvm=1

# No /dev/kvm-userfault here: every -u run exits 3 (cannot run here), before any daemon contact.
if [ -e /dev/kvm-userfault ]; then
	echo "check-uf: /dev/kvm-userfault exists: the SKIP checks do not apply"
elif [ $kvm -eq 1 ]; then
	expect 3 "^kvmuf-vmm: cannot run here: /dev/kvm-userfault: " "$vmm" -v 2 -b 1M -u park -S "$snap"
	expect 3 "^kvmuf-vmm: cannot run here: /dev/kvm-userfault: " "$vmm" -v 2 -b 1M -u exit -S "$snap" -m memfd
	expect 3 "^kvmuf-vmm: cannot run here: /dev/kvm-userfault: " "$vmm" -u park -D "$tmp/nosock"
	expect 3 "^kvmuf-vmm: cannot run here: /dev/kvm-userfault: " "$vmm" -u exit -D "$tmp/nosock" -R 16 -W 100
else
	expect 3 "^kvmuf-vmm: cannot run here: /dev/kvm" "$vmm" -u park -S "$snap"
fi

# Bad combinations.
expect 2 "needs -S SNAPSHOT" "$vmm" -u park
expect 2 "-u: need park or exit" "$vmm" -u fast -S "$snap"
expect 2 "-R: need a power of two" "$vmm" -u park -S "$snap" -R 100
expect 2 "-R: need a power of two" "$vmm" -u park -S "$snap" -R 8
expect 2 "-R: need a power of two" "$vmm" -u park -S "$snap" -R 131072
expect 2 "need -u" "$vmm" -D "$tmp/sock"
expect 2 "need -u" "$vmm" -R 64
expect 2 "-T is for the in-process server" "$vmm" -u park -D "$tmp/sock" -T 4
expect 2 "-W is for exit mode" "$vmm" -u park -S "$snap" -W 100
expect 2 "made with seed 0x1234abcd" "$vmm" -S "$snap" -s 99
expect 2 "No such file" "$vmm" -S "$tmp/none"

[ $kvm -eq 1 ] || { echo "check-uf: no usable /dev/kvm: snapshot runs skipped"; exit $failed; }

# -S without -u: the host loads the snapshot, the guest verifies, every page compared.
expect 0 "mode verify, mem anon, uf off: OK" "$vmm" -v 2 -b 1M -S "$snap"
expect 0 "mode write, mem memfd, uf off: OK" "$vmm" -v 2 -b 1M -m memfd -w -S "$snap"
expect 0 "mode read, mem anon, uf off: OK" "$vmm" -v 4 -b 512K -r -S "$snap" -q
# A snapshot smaller than the memory.
"$mksnap" -o "$tmp/small" -n 100 -s 1234abcd >/dev/null
expect 1 "snapshot does not hold gfn 0x100064" "$vmm" -v 2 -b 1M -S "$tmp/small"
# Page 300's first word corrupted in the snapshot: the guest's write of gpa ^ seed makes
# memory differ from the snapshot there, and verify mode sees the bad word.
cp "$snap" "$tmp/bad"
printf '\377' | dd of="$tmp/bad" bs=1 seek=$((4096 + 300 * 4096 + 2)) count=1 conv=notrunc 2>/dev/null
expect 1 "gfn 0x10012c differs from the snapshot at byte 2" "$vmm" -v 2 -b 1M -w -S "$tmp/bad"
expect 1 "guest found 1 of 256 pages" "$vmm" -v 2 -b 1M -c -S "$tmp/bad"
expect 1 "mem anon, uf off: FAILED" "$vmm" -v 2 -b 1M -c -S "$tmp/bad"

[ $failed -eq 0 ] && echo "check-uf.sh $vmm: PASS" || echo "check-uf.sh $vmm: FAIL"
exit $failed
