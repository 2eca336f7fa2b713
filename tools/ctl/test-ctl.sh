#!/usr/bin/env bash
# kvmuf-ctl's command line, on any machine: --help (stdout, 0), --version, bad usage (2),
# and doctor: one verdict line per check and a final verdict whose exit status matches it
# (on a kernel without module support it must say so).
set -uo pipefail
ctl=${1:-./kvmuf-ctl}
fail() { echo "FAIL: $*"; exit 1; }

out=$("$ctl" --help) && [[ $out == usage:* ]] || fail "--help: not usage on stdout with status 0"
"$ctl" -h >/dev/null || fail "-h"
out=$("$ctl" --version) && [[ $out == "kvmuf-ctl "* ]] || fail "--version: '$out'"
"$ctl" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no command: not status 2"
"$ctl" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command: not status 2"
"$ctl" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option: not status 2"
"$ctl" status extra >/dev/null 2>&1; [ $? -eq 2 ] || fail "status with an argument: not status 2"
"$ctl" load notaparam >/dev/null 2>&1; [ $? -eq 2 ] || fail "load with a non PARAM=VALUE: not status 2"

out=$("$ctl" doctor); rc=$?
echo "$out" | sed 's/^/  doctor: /'
bad=$(echo "$out" | grep -cvE '^(OK  |WARN|FAIL|INFO) [a-z ]{10} |^verdict: ')
[ "$bad" -eq 0 ] || fail "doctor printed $bad lines that are not checks"
verdict=$(echo "$out" | tail -n 1)
if echo "$out" | grep -q '^FAIL'; then
	[ $rc -eq 1 ] && [[ $verdict == "verdict: kvm-userfault cannot work here: "* ]] ||
		fail "a FAIL without a failing verdict (status $rc)"
else
	[ $rc -eq 0 ] && [[ $verdict == "verdict: nothing stops"* ]] || fail "verdict: '$verdict'"
fi
if [ ! -e /proc/modules ]; then
	[[ $verdict == *"no module support"* ]] || fail "no /proc/modules, but the verdict is '$verdict'"
fi
echo "ok: kvmuf-ctl CLI conventions; doctor: $verdict"
