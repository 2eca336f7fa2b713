// SPDX-License-Identifier: GPL-2.0
/*
 * Batched state changes of GFNs: set missing, resolve, resolve with copy, and waiting
 * for a GFN. A batch is checked whole before anything changes, so a bad element leaves
 * the VM as it was.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "kvmuf.h"

/* Pages one get_user_pages_remote() call of RESOLVE_COPY brings in. */
#define KVMUF_COPY_CHUNK	16

/*
 * Wake exactly the vCPUs parked on GFNs that are no longer missing. Called after the
 * bits were cleared; the full barrier orders those clears before our reads of
 * parked_gfn (see kvmuf_park()).
 */
void kvmuf_wake_resolved(struct kvmuf_vm *vm)
{
	u32 i;

	smp_mb();	/* cleared bits before parked_gfn reads; pairs with kvmuf_park() */
	for (i = 0; i < vm->nr_vcpu_rings; i++) {
		u64 gfn = READ_ONCE(vm->slots[i].parked_gfn);

		if (gfn != KVMUF_NO_GFN && !kvmuf_vm_gfn_missing(vm, gfn))
			rcuwait_wake_up(&vm->slots[i].wait);
	}
	if (wq_has_sleeper(&vm->park_wq))
		wake_up_all(&vm->park_wq);
	if (wq_has_sleeper(&vm->wait_wq))
		wake_up_all(&vm->wait_wq);
	/* A consumer that resolves has usually consumed too: producers may have room. */
	if (wq_has_sleeper(&vm->space_wq))
		wake_up_all(&vm->space_wq);
}

/* Copy a batch array in; nr must be 1..KVMUF_MAX_BATCH. */
static void *kvmuf_copy_array(u64 uptr, u32 nr, size_t size)
{
	void *p;

	if (!nr || nr > KVMUF_MAX_BATCH)
		return ERR_PTR(-EINVAL);
	p = kvmalloc_array(nr, size, GFP_KERNEL);
	if (!p)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(p, u64_to_user_ptr(uptr), nr * size)) {
		kvfree(p);
		return ERR_PTR(-EFAULT);
	}
	return p;
}

static int kvmuf_check_batch_header(u32 flags, const u64 *reserved, unsigned int n)
{
	unsigned int i;

	if (flags)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (reserved[i])
			return -EINVAL;
	return 0;
}

/* Every element must lie inside one managed range. */
static int kvmuf_check_spans(struct kvmuf_vm *vm, const struct kvmuf_gfn_range *g, u32 nr)
{
	struct kvmuf_range_table *t;
	int ret = 0;
	u64 first;
	u32 i;

	rcu_read_lock();
	t = rcu_dereference(vm->ranges);
	for (i = 0; i < nr && !ret; i++)
		if (!kvmuf_ranges_span(t, g[i].gfn, g[i].npages, &first))
			ret = -EINVAL;
	rcu_read_unlock();
	return ret;
}

enum kvmuf_batch_op { KVMUF_OP_SET_MISSING, KVMUF_OP_RESOLVE };

static void kvmuf_apply_range(struct kvmuf_vm *vm, const struct kvmuf_gfn_range *g,
			      enum kvmuf_batch_op op, u64 *changed, u64 *unchanged)
{
	struct kvmuf_krange *r = kvmuf_vm_range(vm, g->gfn);
	u64 bit, end = g->gfn - r->gfn + g->npages;

	for (bit = g->gfn - r->gfn; bit < end; bit++) {
		bool was_missing;

		if (op == KVMUF_OP_SET_MISSING) {
			/* A new notification is due for the new miss. */
			clear_bit(bit, r->notified);
			was_missing = test_and_set_bit(bit, r->missing);
		} else {
			/* A full barrier: data installed before is seen with the clear bit. */
			was_missing = test_and_clear_bit(bit, r->missing);
			if (was_missing)
				clear_bit(bit, r->notified);
		}
		if (was_missing == (op == KVMUF_OP_RESOLVE))
			(*changed)++;
		else
			(*unchanged)++;
	}
}

static long kvmuf_ioctl_batch(struct kvmuf_vm *vm, struct kvmuf_batch __user *ubatch,
			      enum kvmuf_batch_op op)
{
	struct kvmuf_gfn_range *g;
	struct kvmuf_batch b;
	u64 changed = 0, unchanged = 0;
	long ret;
	u32 i;

	if (copy_from_user(&b, ubatch, sizeof(b)))
		return -EFAULT;
	ret = kvmuf_check_batch_header(b.flags, b.reserved, ARRAY_SIZE(b.reserved));
	if (ret)
		return ret;
	g = kvmuf_copy_array(b.ranges, b.nr, sizeof(*g));
	if (IS_ERR(g))
		return PTR_ERR(g);
	ret = kvmuf_check_spans(vm, g, b.nr);
	if (ret)
		goto out;

	for (i = 0; i < b.nr; i++)
		kvmuf_apply_range(vm, &g[i], op, &changed, &unchanged);
	if (op == KVMUF_OP_SET_MISSING) {
		atomic64_add(changed, &vm->nr_missing);
	} else {
		atomic64_sub(changed, &vm->nr_missing);
		atomic64_add(changed, &vm->stats.resolved);
		kvmuf_wake_resolved(vm);
	}
	if (put_user(changed, &ubatch->changed) || put_user(unchanged, &ubatch->unchanged))
		ret = -EFAULT;
out:
	kvfree(g);
	return ret;
}

long kvmuf_ioctl_set_missing(struct kvmuf_vm *vm, struct kvmuf_batch __user *ubatch)
{
	return kvmuf_ioctl_batch(vm, ubatch, KVMUF_OP_SET_MISSING);
}

long kvmuf_ioctl_resolve(struct kvmuf_vm *vm, struct kvmuf_batch __user *ubatch)
{
	return kvmuf_ioctl_batch(vm, ubatch, KVMUF_OP_RESOLVE);
}

/* The VMM's address of gfn, from KVM's memslots; -EFAULT if no memslot holds it. */
static int kvmuf_gfn_to_hva(struct kvm *kvm, u64 gfn, unsigned long *hva)
{
	struct kvm_memory_slot *slot;
	int idx, ret = -EFAULT;

	idx = srcu_read_lock(&kvm->srcu);
	slot = __gfn_to_memslot(kvm_memslots(kvm), gfn);
	if (slot && !(slot->flags & KVM_MEMSLOT_INVALID)) {
		*hva = __gfn_to_hva_memslot(slot, gfn);
		ret = 0;
	}
	srcu_read_unlock(&kvm->srcu, idx);
	return ret;
}

/*
 * Copy n pages from the caller's src into the VMM's memory at hva, faulting the pages
 * in the VMM's address space (that allocates them, for anonymous memory).
 */
static int kvmuf_copy_to_vmm(struct mm_struct *mm, unsigned long hva,
			     const char __user *src, unsigned int n)
{
	struct page *pages[KVMUF_COPY_CHUNK];
	long got, i;
	int ret = 0;

	mmap_read_lock(mm);
	got = kvmuf_gup_remote(mm, hva, n, FOLL_WRITE, pages);
	mmap_read_unlock(mm);
	if (got <= 0)
		return got ? got : -EFAULT;
	for (i = 0; i < got; i++) {
		void *dst = kmap_local_page(pages[i]);

		if (!ret && copy_from_user(dst, src + i * PAGE_SIZE, PAGE_SIZE))
			ret = -EFAULT;
		kunmap_local(dst);
		set_page_dirty_lock(pages[i]);
		put_page(pages[i]);
	}
	return ret ? ret : (got == n ? 0 : -EFAULT);
}

static int kvmuf_check_copies(struct kvmuf_vm *vm, const struct kvmuf_copy *c, u32 nr)
{
	struct kvmuf_range_table *t;
	int ret = 0;
	u64 first;
	u32 i;

	rcu_read_lock();
	t = rcu_dereference(vm->ranges);
	for (i = 0; i < nr && !ret; i++) {
		if (!kvmuf_ranges_span(t, c[i].gfn, c[i].npages, &first) ||
		    !PAGE_ALIGNED(c[i].src) || c[i].npages > U64_MAX / PAGE_SIZE ||
		    !access_ok(u64_to_user_ptr(c[i].src), c[i].npages * PAGE_SIZE))
			ret = -EINVAL;
	}
	rcu_read_unlock();
	return ret;
}

/*
 * Install one run of GFNs that are all still missing and held (installing bit) by us:
 * copy, then clear missing with release order so the data is visible first.
 */
static int kvmuf_install(struct kvmuf_vm *vm, struct mm_struct *mm, struct kvmuf_krange *r,
			 u64 gfn, u32 n, const char __user *src)
{
	unsigned long hva;
	u64 bit = gfn - r->gfn;
	u32 i;
	int ret;

	ret = kvmuf_gfn_to_hva(vm->kvm, gfn, &hva);
	if (!ret) {
		unsigned long last;

		/* One memslot must hold the whole run for the addresses to be contiguous. */
		ret = kvmuf_gfn_to_hva(vm->kvm, gfn + n - 1, &last);
		if (!ret && last - hva != (unsigned long)(n - 1) * PAGE_SIZE)
			ret = -EFAULT;
	}
	if (!ret)
		ret = kvmuf_copy_to_vmm(mm, hva, src, n);
	for (i = 0; i < n; i++) {
		if (!ret) {
			clear_bit_unlock(bit + i, r->missing);
			clear_bit(bit + i, r->notified);
		}
		clear_bit_unlock(bit + i, r->installing);
	}
	return ret;
}

/*
 * Resolve one element, in runs of up to KVMUF_COPY_CHUNK GFNs that we could claim (the
 * installing bit) and that are still missing. A GFN someone else is installing, or that
 * is present, is left alone: its data may already have been changed by the guest.
 */
static int kvmuf_copy_element(struct kvmuf_vm *vm, struct mm_struct *mm,
			      const struct kvmuf_copy *c, u64 *changed, u64 *unchanged)
{
	struct kvmuf_krange *r = kvmuf_vm_range(vm, c->gfn);
	const char __user *src = u64_to_user_ptr(c->src);
	u64 i = 0;
	int ret;

	while (i < c->npages) {
		u64 gfn = c->gfn + i, bit = gfn - r->gfn;
		u32 n = 0;

		while (i + n < c->npages && n < KVMUF_COPY_CHUNK) {
			if (test_and_set_bit_lock(bit + n, r->installing))
				break;
			if (!test_bit(bit + n, r->missing)) {
				clear_bit_unlock(bit + n, r->installing);
				break;
			}
			n++;
		}
		if (!n) {
			(*unchanged)++;
			i++;
			continue;
		}
		ret = kvmuf_install(vm, mm, r, gfn, n, src + i * PAGE_SIZE);
		if (ret)
			return ret;
		*changed += n;
		i += n;
		cond_resched();
	}
	return 0;
}

long kvmuf_ioctl_resolve_copy(struct kvmuf_vm *vm, struct kvmuf_copy_batch __user *ubatch)
{
	struct kvmuf_copy_batch b;
	struct kvmuf_copy *c;
	struct mm_struct *mm = vm->kvm->mm;
	u64 changed = 0, unchanged = 0;
	long ret;
	u32 i;

	if (copy_from_user(&b, ubatch, sizeof(b)))
		return -EFAULT;
	ret = kvmuf_check_batch_header(b.flags, b.reserved, ARRAY_SIZE(b.reserved));
	if (ret)
		return ret;
	c = kvmuf_copy_array(b.copies, b.nr, sizeof(*c));
	if (IS_ERR(c))
		return PTR_ERR(c);
	ret = kvmuf_check_copies(vm, c, b.nr);
	if (ret)
		goto out;
	/* The VMM may be exiting: then there is nothing to install into. */
	if (!mmget_not_zero(mm)) {
		ret = -ESRCH;
		goto out;
	}
	for (i = 0; i < b.nr && !ret; i++)
		ret = kvmuf_copy_element(vm, mm, &c[i], &changed, &unchanged);
	mmput(mm);

	atomic64_sub(changed, &vm->nr_missing);
	atomic64_add(changed, &vm->stats.resolved);
	if (changed)
		kvmuf_wake_resolved(vm);
	if (put_user(changed, &ubatch->changed) || put_user(unchanged, &ubatch->unchanged))
		ret = ret ? ret : -EFAULT;
out:
	kvfree(c);
	return ret;
}

long kvmuf_ioctl_wait(struct kvmuf_vm *vm, const struct kvmuf_wait __user *uwait)
{
	struct kvmuf_krange *r;
	struct kvmuf_wait w;
	long left;

	if (copy_from_user(&w, uwait, sizeof(w)))
		return -EFAULT;
	if (w.flags || w.reserved[0] || w.reserved[1])
		return -EINVAL;
	r = kvmuf_vm_range(vm, w.gfn);
	if (!r)
		return -EINVAL;
	left = wait_event_interruptible_timeout(vm->wait_wq,
			!kvmuf_range_missing(r, w.gfn) || READ_ONCE(vm->detached),
			w.timeout_ms ? msecs_to_jiffies(w.timeout_ms) : MAX_SCHEDULE_TIMEOUT);
	if (left < 0)
		return -EINTR;
	if (!kvmuf_range_missing(r, w.gfn))
		return 0;
	return READ_ONCE(vm->detached) ? -ENODEV : -ETIMEDOUT;
}
