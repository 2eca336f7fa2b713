// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-userfault: KVM demand paging without userfaultfd, for stock kernels.
 *
 * Load order matters: the hooks and the symbols must be in place before userspace can
 * open the device and attach a VM; unload undoes it in reverse.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>

#include "kvmuf.h"
#include "requires.h"

static int __init kvmuf_init(void)
{
	int ret;

	/* The hooks first: the first of them also checks that ftrace is on (hook.c). */
	ret = kvmuf_hook_init();
	if (ret)
		return ret;
	ret = kvmuf_symbols_init();
	if (!ret) {
		ret = kvmuf_dev_init();
		if (ret)
			pr_err("cannot register /dev/%s: %d\n", KVMUF_DEVICE_NAME, ret);
	}
	if (ret) {
		kvmuf_hook_exit();
		return ret;
	}
	kvmuf_introspect_init();
	pr_info("version %s (API %d) loaded\n", KVMUF_VERSION, KVMUF_API_VERSION);
	return 0;
}

static void __exit kvmuf_exit(void)
{
	kvmuf_dev_exit();
	kvmuf_introspect_exit();
	kvmuf_hook_exit();
	kvmuf_vms_exit();
	pr_info("unloaded\n");
}

module_init(kvmuf_init);
module_exit(kvmuf_exit);

MODULE_DESCRIPTION("KVM demand paging without userfaultfd");
MODULE_AUTHOR("kvm-userfault developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMUF_VERSION);
