// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kvm-userfault: one VM per open file. The file may be passed to another process
 * (SCM_RIGHTS); whoever holds it can consume the rings and resolve. Detach happens when
 * its last reference goes (close and munmap in every process). A VMM that hands the file
 * over keeps a waiter fd (KVMUF_WAITER, waiter.c), which does not keep it attached.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "kvmuf.h"

/* The attached VM of a file, or NULL. Pairs with the release in kvmuf_vm_attach(). */
static struct kvmuf_vm *kvmuf_file_vm(struct file *file)
{
	/* Pairs with smp_store_release() in kvmuf_vm_attach(): the state is complete. */
	return smp_load_acquire(&file->private_data);
}

static long kvmuf_ioctl_attach(struct file *file, void __user *argp)
{
	struct kvmuf_attach a;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	return kvmuf_vm_attach(file, &a);
}

static long kvmuf_ioctl_info(struct kvmuf_vm *vm, void __user *argp)
{
	struct kvmuf_info info;

	kvmuf_vm_info(vm, &info);
	return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
}

static long kvmuf_ioctl_stats(struct kvmuf_vm *vm, void __user *argp)
{
	struct kvmuf_stats st;

	kvmuf_vm_stats(vm, &st);
	return copy_to_user(argp, &st, sizeof(st)) ? -EFAULT : 0;
}

static long kvmuf_ioctl_add_range(struct kvmuf_vm *vm, void __user *argp)
{
	struct kvmuf_range r;

	if (copy_from_user(&r, argp, sizeof(r)))
		return -EFAULT;
	return kvmuf_vm_add_range(vm, &r);
}

static long kvmuf_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *argp = (void __user *)arg;
	struct kvmuf_vm *vm;

	switch (cmd) {
	case KVMUF_GET_API_VERSION:
		return arg ? -EINVAL : KVMUF_API_VERSION;
	case KVMUF_ATTACH:
		return kvmuf_ioctl_attach(file, argp);
	case KVMUF_GET_INFO:
	case KVMUF_GET_STATS:
	case KVMUF_ADD_RANGE:
	case KVMUF_SET_MISSING:
	case KVMUF_RESOLVE:
	case KVMUF_RESOLVE_COPY:
	case KVMUF_WAIT:
	case KVMUF_WAITER:
	case KVMUF_GET_MISSING:
		break;
	default:
		return -ENOTTY;
	}

	vm = kvmuf_file_vm(file);
	if (!vm)
		return -ENODEV;
	switch (cmd) {
	case KVMUF_GET_INFO:
		return kvmuf_ioctl_info(vm, argp);
	case KVMUF_GET_STATS:
		return kvmuf_ioctl_stats(vm, argp);
	case KVMUF_ADD_RANGE:
		return kvmuf_ioctl_add_range(vm, argp);
	case KVMUF_SET_MISSING:
		return kvmuf_ioctl_set_missing(vm, argp);
	case KVMUF_RESOLVE:
		return kvmuf_ioctl_resolve(vm, argp);
	case KVMUF_RESOLVE_COPY:
		return kvmuf_ioctl_resolve_copy(vm, argp);
	case KVMUF_WAITER:
		return arg ? -EINVAL : kvmuf_vm_waiter_fd(vm);
	case KVMUF_GET_MISSING:
		return kvmuf_ioctl_get_missing(vm, argp);
	default:
		return kvmuf_ioctl_wait(vm, argp);
	}
}

/* The rings, read/write, at offset 0 (or any page offset inside them). */
static int kvmuf_dev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kvmuf_vm *vm = kvmuf_file_vm(file);
	unsigned long size = vma->vm_end - vma->vm_start;
	unsigned long off = vma->vm_pgoff << PAGE_SHIFT;

	if (!vm)
		return -ENODEV;
	if (off >= vm->ring_bytes || size > vm->ring_bytes - off)
		return -EINVAL;
	return kvmuf_ring_mem_mmap(&vm->rings, vma);
}

static bool kvmuf_rings_pending(struct kvmuf_vm *vm)
{
	u32 i;

	for (i = 0; i <= vm->nr_vcpu_rings; i++) {
		struct kvmuf_ring_header *hdr = kvmuf_vm_ring_header(vm, i);

		/* Pairs with the producer's store-release of tail. */
		if (READ_ONCE(hdr->head) != smp_load_acquire(&hdr->tail))
			return true;
	}
	return false;
}

/*
 * Setting need_wakeup, then (full barrier) looking at the rings, pairs with a producer
 * that publishes an entry, then (full barrier) reads need_wakeup: one of the two sees
 * the other, so a consumer never sleeps on a pending entry.
 */
static __poll_t kvmuf_dev_poll(struct file *file, poll_table *wait)
{
	struct kvmuf_vm *vm = kvmuf_file_vm(file);
	__poll_t mask = 0;

	if (!vm)
		return EPOLLERR;
	poll_wait(file, &vm->poll_wq, wait);
	WRITE_ONCE(vm->need_wakeup, 1);
	WRITE_ONCE(kvmuf_vm_ring_header(vm, 0)->need_wakeup, 1);
	smp_mb();	/* need_wakeup before the ring check; see above */
	if (kvmuf_rings_pending(vm))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (kvmuf_vm_dead(vm))
		mask |= EPOLLHUP;
	/* The consumer may have given slots back: let waiting producers look. */
	if (wq_has_sleeper(&vm->space_wq))
		wake_up_all(&vm->space_wq);
	return mask;
}

/* misc_open() left the miscdevice in private_data: a new file is not attached. */
static int kvmuf_dev_open(struct inode *inode, struct file *file)
{
	file->private_data = NULL;
	return nonseekable_open(inode, file);
}

static int kvmuf_dev_release(struct inode *inode, struct file *file)
{
	struct kvmuf_vm *vm = kvmuf_file_vm(file);

	if (vm)
		kvmuf_vm_release(vm);
	return 0;
}

/* /proc/PID/fdinfo: what this fd is attached to (introspect.c). */
static void kvmuf_dev_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct kvmuf_vm *vm = kvmuf_file_vm(file);

	if (vm)
		kvmuf_vm_show(m, vm, true);
	else
		seq_puts(m, "kvmuf-state:\tunattached\n");
}

static const struct file_operations kvmuf_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= kvmuf_dev_open,
	.unlocked_ioctl	= kvmuf_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= kvmuf_dev_mmap,
	.poll		= kvmuf_dev_poll,
	.release	= kvmuf_dev_release,
	.llseek		= noop_llseek,
	.show_fdinfo	= kvmuf_dev_show_fdinfo,
};

static struct miscdevice kvmuf_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= KVMUF_DEVICE_NAME,
	.fops	= &kvmuf_dev_fops,
	.mode	= 0600,
};

int kvmuf_dev_init(void)
{
	return misc_register(&kvmuf_misc);
}

void kvmuf_dev_exit(void)
{
	misc_deregister(&kvmuf_misc);
}
