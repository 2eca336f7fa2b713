#!/usr/bin/env bash
# Host unit tests of the ring and range logic the module shares with userspace, and of
# libkvmuf: each built with ThreadSanitizer, with ASan+UBSan, and optimised.
set -euo pipefail
make -s -C "$(cd "$(dirname "$0")/../unit" && pwd)" check
