#!/usr/bin/env bash
# kvmuf-restore-bench on the host's own KVM (no module here): a kvmuf-mksnap snapshot
# served by nbdkit with 1 ms per read, restored through userfaultfd alone (--systems
# uffd) with and without a prefetch sweep. Every run must verify its pages, the JSON
# must validate against kvmuf-restore-bench.schema.json (python3-jsonschema), the .dat
# must get a row per run; without the module the kvmuf system and replay are skipped
# with a line saying why. Bad arguments exit 2. SKIP without nbdkit or a usable /dev/kvm.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v nbdkit >/dev/null || { echo "SKIP: nbdkit is not installed (scripts/install-deps.sh)"; exit 77; }
tmp=$(mktemp -d)
npid=
trap '[ -n "$npid" ] && kill $npid 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
show() { sed 's/^/  | /' "$1"; }

make -s -C "$top/tools/daemon" kvmuf-mksnap
make -s -C "$top/tools/bench" kvmuf-restore-bench
bench=$top/tools/bench/kvmuf-restore-bench
schema=$top/tools/bench/kvmuf-restore-bench.schema.json
# 2 vCPUs x 1 MiB: 512 pages.
"$top/tools/daemon/kvmuf-mksnap" -o "$tmp/snap.img" -n 512 -s 0x5eed >/dev/null

for bad in "" "--source" "--source $tmp/snap.img --working-set 0" "--source $tmp/snap.img --systems x" \
	"--source $tmp/snap.img --reps 0" "--source $tmp/snap.img -b 1000" "--source $tmp/snap.img extra"; do
	# shellcheck disable=SC2086
	rc=0; "$bench" $bad >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || fail "'$bad' exited $rc, expected 2"
done
echo "ok: bad arguments exit 2"

# A usable /dev/kvm? The tool decides (exit 3: a SKIP).
rc=0; "$bench" --source "$tmp/snap.img" -v 2 -b 1M --reps 1 --systems uffd -q >"$tmp/probe.out" 2>&1 || rc=$?
[ $rc -ne 3 ] || { sed 's/^/SKIP: /' "$tmp/probe.out"; exit 77; }
[ $rc -eq 0 ] || { show "$tmp/probe.out"; fail "a run from the snapshot file exited $rc"; }
rc=0; "$bench" --source "$tmp/snap.img" -v 4 -b 1M --reps 1 --systems uffd -q >"$tmp/small.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'does not cover the guest memory' "$tmp/small.out" ||
	{ show "$tmp/small.out"; fail "a snapshot too small for the guest: exit $rc, not 1 with a reason"; }
echo "ok: file source; a snapshot that does not cover the guest memory is refused"

nbdkit -f -U "$tmp/nbd.sock" --filter=delay file "$tmp/snap.img" rdelay=1ms >"$tmp/nbdkit.out" 2>&1 &
npid=$!
for _ in $(seq 50); do [ -S "$tmp/nbd.sock" ] && break; sleep 0.1; done
[ -S "$tmp/nbd.sock" ] || { show "$tmp/nbdkit.out"; fail "nbdkit did not start"; }
uri="nbd+unix:///?socket=$tmp/nbd.sock"

# run NAME ARGS...: one restore over NBD; its JSON, table and progress in $tmp/NAME.*.
run() {
	local name=$1 rc=0
	shift
	timeout -k 5 300 "$bench" --source "$uri" --label "$name" -v 2 -b 1M --reps 2 --systems uffd \
		--json "$tmp/$name.json" --dat "$tmp/restore.dat" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
	[ $rc -eq 0 ] || { show "$tmp/$name.out"; show "$tmp/$name.err"; fail "$name: exit $rc"; }
	grep -q '^result: OK' "$tmp/$name.out" || fail "$name: no 'result: OK'"
	grep -q '^NOTE: skipping replay: ' "$tmp/$name.out" || [ -c /dev/kvm-userfault ] ||
		fail "$name: no NOTE about replay being skipped without the module"
	python3 - "$tmp/$name.json" "$schema" <<'PY' || fail "$name: the JSON is not valid"
import json, sys
import jsonschema
doc = json.load(open(sys.argv[1]))
jsonschema.validate(doc, json.load(open(sys.argv[2])))
ok = [r for r in doc["results"] if r["status"] == "ok"]
assert [r["system"] for r in ok] == ["uffd"], ok
assert doc["config"]["source_kind"] == "nbd"
for rep in ok[0]["reps"]:
    # Every page the guest touched was checked against the snapshot.
    assert rep["pages_checked"] >= doc["config"]["working_set_pages"], rep
PY
	sed -n '/^uffd  *off /p' "$tmp/$name.out"
}

run demand
python3 - "$tmp/demand.json" <<'PY' || fail "demand: wrong figures"
import json, sys
r = [r for r in json.load(open(sys.argv[1]))["results"] if r["status"] == "ok"][0]
for rep in r["reps"]:
    assert rep["all_present_seconds"] is None, rep      # no sweep: never all present
    assert rep["prefetched"] == 0 and rep["demand"] == 256, rep
    assert rep["pages_checked"] == 256, rep
    assert rep["uffd_faults"] >= 256 and rep["ring_faults"] == 0, rep
PY
echo "ok: demand only: 256 pages by fault, all through userfaultfd, all memory never present"

run prefetch --prefetch 1 --readahead 4
python3 - "$tmp/prefetch.json" <<'PY' || fail "prefetch: wrong figures"
import json, sys
r = [r for r in json.load(open(sys.argv[1]))["results"] if r["status"] == "ok"][0]
for rep in r["reps"]:
    assert rep["all_present_seconds"] is not None, rep
    assert rep["all_present_seconds"] >= 0 and rep["prefetched"] > 0, rep
    assert rep["demand"] + rep["readahead"] + rep["prefetched"] == 512, rep  # each page once
    assert rep["pages_checked"] == 512, rep                 # all memory, once present
PY
echo "ok: with a prefetch sweep: all 512 pages present and equal to the snapshot"

[ "$(grep -vc '^#' "$tmp/restore.dat")" -eq 2 ] && head -n 1 "$tmp/restore.dat" | grep -q '^# ' ||
	{ show "$tmp/restore.dat"; fail "restore.dat: not a '#' header and one row per run"; }
grep -q '^"prefetch"	NaN	[0-9.]*	NaN	NaN	NaN	[0-9.]*	NaN	NaN$' "$tmp/restore.dat" ||
	{ show "$tmp/restore.dat"; fail "restore.dat: no prefetch row with the uffd figures"; }
echo "ok: restore.dat has a header and a row per label"
