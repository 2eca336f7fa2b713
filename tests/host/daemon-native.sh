#!/usr/bin/env bash
# The page engine and the daemon on the host: test_daemon (the engine against a fake
# device, the userfaultfd backstop against real anonymous and memfd memory, the fd
# handoff) and test_plan (the engine with a plan: readahead, prefetch, replay, record)
# with ASan+UBSan and the daemon's command lines; then the engine's tests again under
# ThreadSanitizer (workers and prefetch threads racing on rings, bitmaps and
# userfaultfd; any report fails).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$top/tools/daemon" SANITIZE=1 check
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s -C "$top/tools/lib" libkvmuf.a
lib=$top/tools/lib
engine=("$lib/server.c" "$lib/prefetch.c" "$lib/progress.c" "$lib/handoff.c" "$lib/snapshot.c"
	"$lib/backstop.c" "$lib/workingset.c" "$top/tools/daemon/fake_dev.c")
for t in test_daemon test_plan; do
	cc -std=c11 -O1 -g -Wall -Wextra -Werror -fsanitize=thread -I"$top/include/uapi" -I"$lib" \
		-I"$top/tools/common" -o "$tmp/$t.tsan" "$top/tools/daemon/$t.c" "${engine[@]}" \
		"$lib/libkvmuf.a" -pthread
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$tmp/$t.tsan"
done
