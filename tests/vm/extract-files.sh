#!/usr/bin/env bash
# Write out the files a guest sent through its console with emit_file (tests/guest/lib.sh).
#   tests/vm/extract-files.sh CONSOLE_LOG OUT_DIR
# Fails if a file is incomplete or its md5 differs (a kernel message interleaved with it).
set -euo pipefail
log=$1 out=$2
mkdir -p "$out"
status=0
while read -r name sum; do
	sed -n "/^  | KVMUF-FILE-BEGIN $name /,/^  | KVMUF-FILE-END $name\$/p" "$log" |
		sed -n 's/^  | KVMUF-FILE: //p' >"$out/$name"
	if [ "$(md5sum <"$out/$name" | cut -d' ' -f1)" = "$sum" ]; then
		echo "extracted $out/$name"
	else
		echo "extract-files: $name is damaged (md5 mismatch)" >&2
		status=1
	fi
done < <(sed -n 's/^  | KVMUF-FILE-BEGIN \([^ ]*\) \([0-9a-f]*\)$/\1 \2/p' "$log")
exit $status
