#!/bin/sh
# Final unload: nothing holds the module at the end of the suite.
. /tests/lib.sh
unload_module || fail "rmmod failed: $(cat /sys/module/kvm_userfault/refcnt 2>/dev/null) users"
module_loaded && fail "module still present after rmmod"
echo "unloaded"
