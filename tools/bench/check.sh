#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# check.sh [BENCH]: a quick self-check of kvmuf-bench (default ./kvmuf-bench), tiny sizes.
#   - bad arguments exit 2;
#   - a run of every mode at 1 and 2 vCPUs (anon, then shmem with -r) exits 0, prints the
#     table and "result: OK", writes a JSON that looks complete (format, config,
#     availability, one result line per mode and vCPU count, "ok": true) and a .dat
#     with a '#' header and one row per vCPU count;
#   - without /dev/kvm-userfault: the NOTE that the kvm-userfault modes are skipped, at
#     the top and in the JSON; with it: their rows and the hook overhead line;
#   - --baseline reads a JSON written by --modes none, and a re-indented copy of it reads the same.
# Exit status: 0 pass, 1 fail, 77 /dev/kvm unusable (the tool exits 3: a SKIP here).
# Busybox sh compatible (the test VM's initramfs has no other shell).
set -u
bench=${1:-./kvmuf-bench}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
ok() { echo "ok: $*"; }
show() { sed 's/^/  | /' "$1"; }

# run NAME ARGS...: output in $tmp/NAME.out (stdout) and $tmp/NAME.err, status in $rc.
run() {
	name=$1
	shift
	"$bench" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
}

# Usable /dev/kvm? The tool itself decides: exit 3 and its "cannot run here" line, a
# SKIP of this check.
run probe --modes none -v 1 -b 64K --reps 1 -q
if [ $rc -eq 3 ]; then
	sed 's/^/SKIP: /' "$tmp/probe.out"
	exit 77
fi
[ $rc -eq 0 ] || { show "$tmp/probe.out"; show "$tmp/probe.err"; fail "probe run exited $rc"; exit 1; }

# (The selftest's letters that mean something else in the other tools are refused too.)
for bad in "--modes bogus" "-v 0" "-v 1,x" "-b 1000" "--reps 0" "--backing tmpfs" "-T 0" "-d -1" "extra" \
	"-m none" "-n 1" "-s anon" "-p" "-c 0" "-R" "-W" \
	"--json /nonexistent/dir/out.json" "--dat /nonexistent/dir/out.dat"; do
	# shellcheck disable=SC2086
	run bad $bad
	[ $rc -eq 2 ] && ok "bad arguments '$bad' -> 2" || fail "'$bad' exited $rc, expected 2"
done
run help -h
[ $rc -eq 0 ] && grep -q '^usage: kvmuf-bench' "$tmp/help.out" && ok "-h" || fail "-h"

kvmuf=0
[ -c /dev/kvm-userfault ] && kvmuf=1

# check_json FILE MODES...: the JSON has its skeleton and a result line per mode and count.
check_json() {
	f=$1
	shift
	[ -s "$f" ] || { fail "$f missing or empty"; return; }
	for key in '^[{]$' '^"format": "kvmuf-bench/2",$' '^"config": {.*"kernel": ' \
		'"cpu_model": ' '"host_cpus": [0-9]' '"hypervisor": (true|false)' \
		'"pinning": "none"' '^"availability": ' '^"results": \[$' '^"checks": ' \
		'^"ok": true$' '^[}]$'; do
		grep -Eq "$key" "$f" || fail "$f: no line matching '$key'"
	done
	for m in "$@"; do
		m=$(printf '%s' "$m" | sed 's/+/\\+/g')	# a mode name as a regex
		for v in 1 2; do
			grep -Eq "^\{ \"mode\": \"$m\", \"vcpus\": $v, \"status\": \"ok\", .*\"overall_rate\": [0-9]" "$f" ||
				fail "$f: no ok result for $m at $v vCPUs"
		done
	done
	# Valid JSON, valid against its schema (python3-jsonschema, a Debian package).
	out=$(python3 - "$f" "$here/kvmuf-bench.schema.json" 2>&1 <<'PY'
import json, sys
import jsonschema
doc = json.load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
PY
) || fail "$f: not valid against kvmuf-bench.schema.json: $(echo "$out" | tail -n 3)"
}

# check_common NAME: exit 0, table, checks and result lines, the kvm-userfault story.
check_common() {
	name=$1
	if [ $rc -ne 0 ]; then
		show "$tmp/$name.out"
		show "$tmp/$name.err"
		fail "$name: exit $rc"
		return
	fi
	grep -q '^mode  *vCPUs  *pages' "$tmp/$name.out" || fail "$name: no table header"
	grep -q '^result: OK' "$tmp/$name.out" || fail "$name: no 'result: OK'"
	grep -q '^  pages served:  OK' "$tmp/$name.out" || fail "$name: served check not OK"
	grep -q '^  verification:  OK' "$tmp/$name.out" || fail "$name: verification not OK"
	if [ $kvmuf -eq 0 ]; then
		grep -q '^NOTE: kvm-userfault unavailable (.*): skipping none-attached, kvmuf-park, kvmuf-park+uffd, kvmuf-minor, kvmuf-exit; running only the modes that do not need it: ' \
			"$tmp/$name.out" || fail "$name: no NOTE about the skipped kvm-userfault modes"
		grep -q '"kvm_userfault": { "available": false, "reason": "' "$tmp/$name.json" ||
			fail "$name: the JSON does not say kvm-userfault is unavailable"
		grep -q '"mode": "kvmuf-park", "reason": ' "$tmp/$name.json" ||
			fail "$name: the JSON does not list kvmuf-park as skipped"
	else
		grep -Eq '^hook overhead: [-+][0-9.]+% \(none-attached vs none, module loaded\) at 1 vCPU; noise \+-[0-9.]+% ' \
			"$tmp/$name.out" || fail "$name: no hook overhead line"
		grep -q "^Where a missing page's time goes" "$tmp/$name.out" &&
			grep -Eq '^kvmuf-park +1 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$' "$tmp/$name.out" ||
			fail "$name: no per-stage breakdown of kvmuf-park"
	fi
	[ $failed -eq 0 ] && ok "$name: exit 0, table, checks OK"
}

run anon -v 1,2 -b 256K --reps 2 --json "$tmp/anon.json" --dat "$tmp/anon.dat"
check_common anon
modes="none uffd-missing"
[ $kvmuf -eq 1 ] && modes="$modes none-attached kvmuf-park kvmuf-park+uffd kvmuf-exit"
check_json "$tmp/anon.json" $modes
grep -q '^NOTE: skipping uffd-minor: needs shmem memory' "$tmp/anon.out" ||
	fail "anon: no note that uffd-minor needs shmem"
head -n 1 "$tmp/anon.dat" | grep -q '^# ' || fail "anon.dat: no '#' header"
sed -n 2p "$tmp/anon.dat" | grep -q '^# vcpus	none	none-attached	uffd-missing	uffd-minor	kvmuf-park	kvmuf-park+uffd	kvmuf-minor	kvmuf-exit$' ||
	fail "anon.dat: column header"
[ "$(grep -cv '^#' "$tmp/anon.dat")" -eq 2 ] || fail "anon.dat: expected 2 data rows"
grep -Eq '^1	[0-9.]+	' "$tmp/anon.dat" || fail "anon.dat: no row for 1 vCPU"

run shmem -v 1,2 -b 256K --reps 1 --backing shmem -r -a -T 2 --json "$tmp/shmem.json"
check_common shmem
modes="none uffd-missing uffd-minor"
[ $kvmuf -eq 1 ] && modes="$modes none-attached kvmuf-park kvmuf-park+uffd kvmuf-minor kvmuf-exit"
check_json "$tmp/shmem.json" $modes

# Busy-polling serving threads, pinned: still every page served and verified.
run busy -v 1,2 -b 256K --reps 1 --backing shmem -B --cpus 0/1 --json "$tmp/busy.json"
check_common busy
grep -q 'pinning: vCPUs on 0; serving threads on 1$' "$tmp/busy.out" ||
	fail "busy: the header does not show the pinning"
grep -q 'serving threads busy-poll$' "$tmp/busy.out" || fail "busy: the header does not say busy-poll"
run badpin --modes none -v 1 -b 64K --reps 1 --cpus 0,x
[ $rc -eq 2 ] && grep -q -- '--cpus: need CPU numbers' "$tmp/badpin.err" ||
	fail "--cpus 0,x: exit $rc, expected 2 with a message"
run badrange --modes none -v 1 -b 64K --reps 1 --cpus 3-1
[ $rc -eq 2 ] && grep -q -- '--cpus: bad CPU range' "$tmp/badrange.err" ||
	fail "--cpus 3-1: exit $rc, expected 2 with a message"
run range --modes none -v 2 -b 64K --reps 1 --cpus 0-1/1
[ $rc -eq 0 ] && grep -q 'pinning: vCPUs on 0,1; serving threads on 1$' "$tmp/range.out" ||
	fail "--cpus 0-1/1: exit $rc, or the header does not show CPUs 0,1"

# --baseline: a JSON of --modes none, read back.
run base --modes none -v 1,2 -b 256K --reps 1 --json "$tmp/base.json"
[ $rc -eq 0 ] || fail "base: exit $rc"
run withbase -v 1,2 -b 256K --reps 1 --modes none,none-attached --baseline "$tmp/base.json"
if [ $kvmuf -eq 1 ]; then
	[ $rc -eq 0 ] && grep -q '^hook overhead vs module not loaded: -*[0-9.]*% ' "$tmp/withbase.out" ||
		fail "withbase: exit $rc or no 'hook overhead vs module not loaded' line"
else
	[ $rc -eq 0 ] && grep -q '^hook overhead vs module not loaded: not computed at 1 vCPU: none-attached did not run' \
		"$tmp/withbase.out" || fail "withbase: exit $rc or no 'not computed' line"
fi
grep -q '^baseline: ' "$tmp/withbase.out" || fail "withbase: no baseline line"
run badbase --modes none -v 1 -b 64K --reps 1 --baseline "$tmp/anon.dat"
[ $rc -eq 2 ] || fail "--baseline of a non-JSON file exited $rc, expected 2"
# Round trip: the same JSON re-indented (any JSON writer's layout) reads the same.
python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"), indent=3, sort_keys=True)' \
	"$tmp/base.json" "$tmp/base-reindented.json" || fail "re-indenting the JSON"
run rebase -v 1,2 -b 256K --reps 1 --modes none,none-attached --baseline "$tmp/base-reindented.json"
[ $rc -eq 0 ] || fail "--baseline of the re-indented JSON exited $rc"
a=$(grep 'vs module not loaded\|vs baseline none' "$tmp/withbase.out" | sed 's/: -\?[0-9.]*%/: X%/')
b=$(grep 'vs module not loaded\|vs baseline none' "$tmp/rebase.out" | sed 's/: -\?[0-9.]*%/: X%/')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "the re-indented baseline reads differently: '$a' vs '$b'"
grep -q "baseline: $tmp/base-reindented.json (" "$tmp/rebase.out" || fail "rebase: no baseline line"
[ $failed -eq 0 ] && ok "--baseline"

# Only kvm-userfault modes requested and no module: nothing can run, 77.
if [ $kvmuf -eq 0 ]; then
	run onlykv --modes kvmuf-park -v 1 -b 64K --reps 1
	[ $rc -eq 3 ] && grep -q 'cannot run here: none of the requested modes can run here' "$tmp/onlykv.out" &&
		ok "only kvm-userfault modes, no module -> 3" || fail "onlykv: exit $rc"
fi

if [ $failed -eq 0 ]; then
	echo "check.sh $bench: PASS"
else
	echo "check.sh $bench: FAIL"
fi
exit $failed
