/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a kernel must have for kvm-userfault, refused at build time with a message that
 * names it (dkms.conf's BUILD_EXCLUSIVE_CONFIG skips such kernels before this). Module
 * BTF (CONFIG_DEBUG_INFO_BTF_MODULES) is not required to build: without it the layout of
 * KVM comes from module parameters or the verified table (layout.c).
 */
#ifndef KVMUF_REQUIRES_H
#define KVMUF_REQUIRES_H

#include <linux/kconfig.h>

#ifndef CONFIG_X86_64
#error "kvm-userfault supports x86-64 kernels only"
#endif
#if !IS_ENABLED(CONFIG_KVM)
#error "kvm-userfault needs KVM (CONFIG_KVM)"
#endif
#ifndef CONFIG_KPROBES
#error "kvm-userfault needs CONFIG_KPROBES (it finds KVM's functions with transient kprobes)"
#endif
#ifndef CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS
#error "kvm-userfault needs ftrace direct calls (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, from DYNAMIC_FTRACE_WITH_REGS or _ARGS)"
#endif

#endif /* KVMUF_REQUIRES_H */
