// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-userfault: waiter fds (KVMUF_WAITER). A VMM that hands its device fd to a page
 * server keeps one of these instead: KVMUF_WAIT, KVMUF_GET_INFO, KVMUF_GET_STATS and
 * KVMUF_GET_MISSING work on it, but it does not keep the VM attached. When the server's
 * last reference to the device file goes, the VM detaches and a KVMUF_WAIT here returns
 * -ENODEV: the VMM learns that nobody will resolve any more. The fd keeps the state's
 * memory (vm->mem) alive, not its attachment.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include <linux/seq_file.h>

#include "kvmuf.h"

static long kvmuf_waiter_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kvmuf_vm *vm = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case KVMUF_GET_API_VERSION:
		return arg ? -EINVAL : KVMUF_API_VERSION;
	case KVMUF_WAIT:
		return kvmuf_ioctl_wait(vm, argp);
	case KVMUF_GET_MISSING:
		return kvmuf_ioctl_get_missing(vm, argp);
	case KVMUF_GET_INFO: {
		struct kvmuf_info info;

		kvmuf_vm_info(vm, &info);
		return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
	}
	case KVMUF_GET_STATS: {
		struct kvmuf_stats st;

		kvmuf_vm_stats(vm, &st);
		return copy_to_user(argp, &st, sizeof(st)) ? -EFAULT : 0;
	}
	default:
		return -ENOTTY;
	}
}

static int kvmuf_waiter_release(struct inode *inode, struct file *file)
{
	kvmuf_vm_unref(file->private_data);
	return 0;
}

static void kvmuf_waiter_show_fdinfo(struct seq_file *m, struct file *file)
{
	seq_puts(m, "kvmuf-fd:\twaiter\n");
	kvmuf_vm_show(m, file->private_data, true);
}

static const struct file_operations kvmuf_waiter_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kvmuf_waiter_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= kvmuf_waiter_release,
	.llseek		= noop_llseek,
	.show_fdinfo	= kvmuf_waiter_show_fdinfo,
};

int kvmuf_vm_waiter_fd(struct kvmuf_vm *vm)
{
	int fd;

	kref_get(&vm->mem);
	fd = anon_inode_getfd("[kvm-userfault-waiter]", &kvmuf_waiter_fops, vm,
			      O_RDWR | O_CLOEXEC);
	if (fd < 0)
		kvmuf_vm_unref(vm);
	return fd;
}
