// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-userfault: KVM demand paging without userfaultfd, for stock kernels.
 *
 * This file owns the module's life cycle and the /dev/kvm-userfault misc device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/kvm_userfault.h>

#define KVMUF_VERSION "0.1.0"

static long kvmuf_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case KVMUF_GET_API_VERSION:
		return arg ? -EINVAL : KVMUF_API_VERSION;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kvmuf_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvmuf_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kvmuf_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= KVMUF_DEVICE_NAME,
	.fops	= &kvmuf_dev_fops,
	.mode	= 0600,
};

static int __init kvmuf_init(void)
{
	int ret;

	ret = misc_register(&kvmuf_misc);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", KVMUF_DEVICE_NAME, ret);
		return ret;
	}
	pr_info("version %s (API %d) loaded\n", KVMUF_VERSION, KVMUF_API_VERSION);
	return 0;
}

static void __exit kvmuf_exit(void)
{
	misc_deregister(&kvmuf_misc);
	pr_info("unloaded\n");
}

module_init(kvmuf_init);
module_exit(kvmuf_exit);

MODULE_DESCRIPTION("KVM demand paging without userfaultfd");
MODULE_AUTHOR("kvm-userfault developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(KVMUF_VERSION);
