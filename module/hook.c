// SPDX-License-Identifier: GPL-2.0
/*
 * Where the module attaches to KVM, found at load time (compat.h names the functions
 * per kernel line):
 *
 *   the stage-2 fault-in function   ftrace direct call to kvmuf_faultin_tramp (tramp.S),
 *                                   whose sleepable pre-handler (fault.c) lets KVM's body
 *                                   run, possibly after parking the vCPU, or replaces it
 *                                   with a verdict
 *   in-place huge-page recovery     ftrace direct call to kvmuf_recover_tramp: skipped
 *   (7.2)                           while a GFN of the memslot is missing
 *   memslot DELETE/MOVE             plain ftrace callback: wakes parked vCPUs so they see
 *                                   the memslot change
 *
 * Loading fails, with a message, if any of them cannot be hooked: without the fault-in
 * hook a missing GFN would reach the host mm (a zero page), and without the others a
 * huge mapping could cover a missing GFN or a vCPU could stay parked on a deleted slot.
 * A direct call or an IPMODIFY hook already on one of these functions (livepatch, a BPF
 * trampoline) makes registration fail with -EBUSY: we refuse rather than share.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ftrace.h>
#include <linux/kallsyms.h>
#include <linux/string.h>
#include <linux/utsname.h>

#include "compat.h"
#include "kvmuf.h"

static void notrace kvmuf_memslot_flush_handler(unsigned long ip, unsigned long parent_ip,
						struct ftrace_ops *op,
						struct ftrace_regs *fregs)
{
	kvmuf_memslot_flushed((struct kvm *)kvmuf_fregs_arg(fregs, 0));
}

struct kvmuf_hook {
	const char *symbol;
	void *tramp;			/* direct call target, or NULL for ops.func */
	bool by_name;			/* filter by name, no kprobe to find the address */
	struct ftrace_ops ops;
	bool registered;
};

static struct kvmuf_hook kvmuf_faultin_hook = { .tramp = kvmuf_faultin_tramp };
static struct kvmuf_hook kvmuf_recover_hook = { .tramp = kvmuf_recover_tramp };
/*
 * Permanent: registering it fails while ftrace is disabled (kernel.ftrace_enabled=0),
 * and that sysctl refuses to turn ftrace off while it is registered, since it would
 * silently remove every hook of ours, direct calls included, and fail open. (The
 * direct-call API sets the flags of its own ops.) It is registered first, by name: the
 * kprobes that find the other addresses misbehave on a kernel whose ftrace is off.
 */
static struct kvmuf_hook kvmuf_flush_hook = {
	.symbol = KVMUF_FLUSH_MEMSLOT_SYMBOL,
	.by_name = true,
	.ops.func = kvmuf_memslot_flush_handler,
	.ops.flags = FTRACE_OPS_FL_PERMANENT,
};

/* The function's ftrace site, by address (a kprobe finds it) or by name. */
static int kvmuf_hook_filter(struct kvmuf_hook *h)
{
	unsigned long target;
	char name[KSYM_NAME_LEN];

	if (h->by_name) {
		strscpy(name, h->symbol, sizeof(name));
		return ftrace_set_filter(&h->ops, name, strlen(name), 0);
	}
	target = kvmuf_lookup_symbol(h->symbol);
	if (!target) {
		pr_err("cannot find %s in kvm.ko (kernel line %s)\n", h->symbol,
		       kvmuf_kernel->line);
		return -ENOENT;
	}
	return ftrace_set_filter_ip(&h->ops, target, 0, 0);
}

static int kvmuf_hook_register(struct kvmuf_hook *h)
{
	int ret = kvmuf_hook_filter(h);

	if (ret == -ENOENT)
		return ret;
	if (ret) {
		pr_err("cannot trace %s: %d (is it ftrace-able on this build?)\n", h->symbol, ret);
		return ret;
	}
	ret = h->tramp ? kvmuf_register_direct(&h->ops, h->tramp) :
			 register_ftrace_function(&h->ops);
	if (ret == -EBUSY && !h->tramp)
		pr_err("cannot hook %s: ftrace is disabled (sysctl kernel.ftrace_enabled=0): refusing to load\n",
		       h->symbol);
	else if (ret == -EBUSY)
		pr_err("%s is already modified by another ftrace user (livepatch, a BPF trampoline, or a kprobe that changes the IP): refusing to load\n",
		       h->symbol);
	else if (ret)
		pr_err("cannot hook %s: %d\n", h->symbol, ret);
	if (ret) {
		ftrace_free_filter(&h->ops);
		return ret;
	}
	h->registered = true;
	return 0;
}

/*
 * Unregistering waits for every task to leave the trampoline and the handlers (RCU
 * tasks: ops in module memory are dynamic). A task can only sleep in a handler while
 * it holds a VM state, and every VM state holds a module reference: none is left here.
 */
static void kvmuf_hook_unregister(struct kvmuf_hook *h)
{
	if (!h->registered)
		return;
	if (h->tramp) {
		kvmuf_unregister_direct(&h->ops, h->tramp);
	} else {
		unregister_ftrace_function(&h->ops);
		ftrace_free_filter(&h->ops);
	}
	h->registered = false;
}

void kvmuf_hook_exit(void)
{
	kvmuf_hook_unregister(&kvmuf_faultin_hook);
	kvmuf_hook_unregister(&kvmuf_recover_hook);
	kvmuf_hook_unregister(&kvmuf_flush_hook);
}

int kvmuf_hook_init(void)
{
	int ret;

	ret = kvmuf_layout_init();
	if (ret)
		return ret;
	/* The wake-up and the huge-page guard first: faults may park once the last is in. */
	ret = kvmuf_hook_register(&kvmuf_flush_hook);
	/*
	 * Whatever the source of the layout said, a recovery function that exists and goes
	 * unhooked could map a huge page over a missing GFN: fail closed. (Looked up once
	 * the permanent hook shows ftrace on: see kvmuf_flush_hook.)
	 */
	if (!ret && !kvmuf_kernel->recover_symbol && kvmuf_lookup_symbol(KVMUF_RECOVER_SYMBOL)) {
		pr_err("this kvm.ko has %s but nothing named it for hooking: refusing to load\n",
		       KVMUF_RECOVER_SYMBOL);
		ret = -EINVAL;
	}
	if (!ret && kvmuf_kernel->recover_symbol) {
		kvmuf_recover_hook.symbol = kvmuf_kernel->recover_symbol;
		ret = kvmuf_hook_register(&kvmuf_recover_hook);
	}
	if (!ret) {
		kvmuf_faultin_hook.symbol = kvmuf_kernel->hook_symbol;
		ret = kvmuf_hook_register(&kvmuf_faultin_hook);
	}
	if (ret) {
		kvmuf_hook_exit();
		return ret;
	}
	pr_info("hooked %s%s%s (kernel %s, KVM_EXIT_MEMORY_FAULT %s)\n",
		kvmuf_kernel->hook_symbol, kvmuf_kernel->recover_symbol ? ", " : "",
		kvmuf_kernel->recover_symbol ?: "", kvmuf_kernel->line,
		kvmuf_native_memory_fault_exit() ? "from KVM" : "filled in by kvm_userfault");
	return 0;
}
