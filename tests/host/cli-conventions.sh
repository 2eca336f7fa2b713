#!/usr/bin/env bash
# Every user-facing tool follows the same conventions (tools/common/cli.h): --help and -h
# print the usage on stdout and exit 0, --version and -V print "NAME VERSION" with the
# project's one version (the file VERSION) and exit 0, an unknown option exits 2 with
# the usage on stderr, and every short option also has a long name.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$top/tools" >/dev/null || { echo "FAIL: build"; exit 1; }
ver=$(cat "$top/VERSION")
fail() { echo "FAIL: $*"; exit 1; }
for t in tools/ctl/kvmuf-ctl tools/vmm/kvmuf-vmm tools/daemon/kvmuf-daemon \
	tools/daemon/kvmuf-mksnap tools/bench/kvmuf-bench tools/bench/kvmuf-restore-bench; do
	name=$(basename "$t")
	bin=$top/$t
	for h in --help -h; do
		out=$("$bin" $h 2>/dev/null) || fail "$name $h: exit $?"
		[[ $out == usage:* ]] || fail "$name $h: no usage on stdout"
	done
	for v in --version -V; do
		out=$("$bin" $v 2>&1) || fail "$name $v: exit $?"
		[[ $out == "$name $ver"* ]] || fail "$name $v: '$out', want '$name $ver'"
	done
	"$bin" --no-such-option >/dev/null 2>"$top/build/cli.err"; rc=$?
	[ $rc -eq 2 ] && grep -q '^usage:' "$top/build/cli.err" ||
		fail "$name --no-such-option: exit $rc, or no usage on stderr"
	echo "ok   $name: --help, -h, --version ($ver), -V, bad option -> 2"
done
rm -f "$top/build/cli.err"

# One meaning per letter: in the tools' getopt_long tables, a short option letter is the
# same long option in every tool that has it.
map=$(grep -ho '{ *"[a-z-]*", *[a-z_]*, *NULL, *'"'"'[A-Za-z]'"'"' *}' \
	"$top"/tools/{vmm/kvmuf-vmm,daemon/kvmuf-daemon,daemon/kvmuf-mksnap,bench/kvmuf-bench,bench/kvmuf-restore-bench,ctl/kvmuf-ctl}.c |
	sed "s/{ *\"\([a-z-]*\)\".*'\(.\)'.*/\2 \1/" | sort -u)
clash=$(echo "$map" | awk '{n[$1]++; l[$1] = l[$1] " --" $2} END {for (k in n) if (n[k] > 1) print "-" k ":" l[k]}')
[ -z "$clash" ] || fail "a letter with two meanings across tools: $clash"
echo "ok   $(echo "$map" | wc -l) short options, each with one meaning across the tools"
echo "ok: six tools follow the conventions"
