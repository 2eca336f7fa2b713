#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Kernel features the module's compat layer (module/compat.h, module/tramp.S) cannot see
# from a macro: print one -DKVMUF_HAVE_<NAME> per feature the tree at $1 has. Kbuild
# passes the result to the compiler and the assembler, so every difference is detected
# from the headers being built against, never guessed from the version number.
#
#   module/conftest.sh SRCTREE
src=${1:?usage: conftest.sh SRCTREE}

# has NAME FILE PATTERN: -DKVMUF_HAVE_NAME if FILE (under SRCTREE) matches PATTERN.
has() {
	grep -qsE "$3" "$src/$2" && printf ' -DKVMUF_HAVE_%s' "$1"
}

# 5.16-6.5: the ops-based direct-call API is register_ftrace_direct_multi(); 6.6 renamed
# it register_ftrace_direct() (dropping the old ip-based function of that name).
has FTRACE_DIRECT_MULTI include/linux/ftrace.h 'int register_ftrace_direct_multi\(struct ftrace_ops'
# 6.2+: call-depth tracking wants every trampoline to account for the call it takes.
has CALL_DEPTH_ACCOUNT arch/x86/include/asm/nospec-branch.h '^\.macro CALL_DEPTH_ACCOUNT'
# 6.3+: vma->vm_flags is read-only; vm_flags_set() changes it (with the right locking).
has VM_FLAGS_SET include/linux/mm.h 'static inline void vm_flags_set\('
echo
