// SPDX-License-Identifier: GPL-2.0
/*
 * Test module: takes an IPMODIFY ftrace hook on a function (as livepatch would), so the
 * in-guest suite can check that kvm_userfault then refuses to load, with a message.
 * Its handler changes nothing.
 */
#include <linux/ftrace.h>
#include <linux/module.h>

static char *symbol = "kvm_faultin_pfn";
module_param(symbol, charp, 0444);
MODULE_PARM_DESC(symbol, "function to hold an IPMODIFY hook on");

static void notrace holder_handler(unsigned long ip, unsigned long parent_ip,
				   struct ftrace_ops *op, struct ftrace_regs *fregs)
{
}

static struct ftrace_ops holder_ops = {
	.func = holder_handler,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY,
};

static int __init holder_init(void)
{
	int ret = ftrace_set_filter(&holder_ops, symbol, strlen(symbol), 0);

	return ret ? ret : register_ftrace_function(&holder_ops);
}

static void __exit holder_exit(void)
{
	unregister_ftrace_function(&holder_ops);
	ftrace_free_filter(&holder_ops);
}

module_init(holder_init);
module_exit(holder_exit);
MODULE_DESCRIPTION("kvm-userfault test: hold an IPMODIFY ftrace hook");
MODULE_LICENSE("GPL");
