#!/usr/bin/env bash
# The page server and daemon on the host (ASan+UBSan build): test_daemon (the serving
# engine against a fake device, the userfaultfd backstop against real anonymous and
# memfd memory, the fd handoff) and the command lines of kvmuf-daemon and kvmuf-mksnap.
set -euo pipefail
make -s -C "$(cd "$(dirname "$0")/../../tools/daemon" && pwd)" SANITIZE=1 check
