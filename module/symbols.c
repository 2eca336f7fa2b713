// SPDX-License-Identifier: GPL-2.0
/*
 * KVM functions the module must find at load time, without kallsyms_lookup_name (not
 * exported, and sealed on IBT kernels): one transient kprobe per symbol gives its address.
 *
 * The module never calls these through a pointer. kvm_vm_ioctl is only compared with a
 * file's f_op->unlocked_ioctl, to tell a KVM VM file from anything else; the hook target
 * is handed to ftrace. So IBT's rule (an indirect call must land on ENDBR, and the
 * kernel seals the ENDBR of functions whose address is never taken) is never at stake.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>

#include "compat.h"
#include "kvmuf.h"

static unsigned long kvmuf_kvm_vm_ioctl;

/*
 * The address of a symbol, or 0. A kprobe on an IBT kernel lands past a leading ENDBR;
 * step back so the address is the symbol's own, as f_op pointers and ftrace expect.
 */
unsigned long kvmuf_lookup_symbol(const char *name)
{
	struct kprobe kp = { .symbol_name = name };
	unsigned long addr;

	if (register_kprobe(&kp) < 0)
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	if (kvmuf_is_endbr(addr - sizeof(u32)))
		addr -= sizeof(u32);
	return addr;
}

int kvmuf_symbols_init(void)
{
	kvmuf_kvm_vm_ioctl = kvmuf_lookup_symbol("kvm_vm_ioctl");
	if (!kvmuf_kvm_vm_ioctl) {
		pr_err("cannot find kvm_vm_ioctl: is kvm.ko loaded?\n");
		return -ENOENT;
	}
	return 0;
}

/* A KVM VM file is one whose ioctl handler is KVM's VM ioctl handler. */
bool kvmuf_file_is_kvm_vm(struct file *file)
{
	return file->f_op && (unsigned long)file->f_op->unlocked_ioctl == kvmuf_kvm_vm_ioctl;
}
