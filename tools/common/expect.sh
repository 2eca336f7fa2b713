# Sourced by the tools' command-line checks (POSIX sh): a scratch directory, fail, expect.
# The sourcing script exits with $failed (0: every expectation held).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# expect STATUS PATTERN CMD...: CMD exits STATUS and its output matches PATTERN (grep -E).
expect() {
	want=$1 pat=$2
	shift 2
	"$@" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$* exited $rc, expected $want"; sed 's/^/  | /' "$tmp/out"; return
	fi
	if [ -n "$pat" ] && ! grep -Eq -e "$pat" "$tmp/out"; then
		fail "$*: output does not match '$pat'"; sed 's/^/  | /' "$tmp/out"; return
	fi
	echo "ok: $* -> $rc"
}
