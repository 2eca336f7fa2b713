#!/bin/sh
# DKMS POST_INSTALL: the udev rule and the modules-load.d entry that make install also
# puts in place, for a DKMS-only installation. Run from the DKMS source tree.
set -e
here=$(cd "$(dirname "$0")" && pwd)
install -D -m 644 "$here/60-kvm-userfault.rules" /etc/udev/rules.d/60-kvm-userfault.rules
install -D -m 644 "$here/kvm-userfault.conf" /etc/modules-load.d/kvm-userfault.conf
command -v udevadm >/dev/null && udevadm control --reload-rules 2>/dev/null || true
