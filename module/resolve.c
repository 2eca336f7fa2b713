// SPDX-License-Identifier: GPL-2.0
/*
 * Batched state changes of GFNs: set missing, resolve, resolve with copy, and waiting
 * for a GFN. A batch is checked whole before anything changes, so a bad element leaves
 * the VM as it was.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "kvmuf.h"
#include "gfnruns.h"
#include "trace.h"

/* Pages one get_user_pages_remote() call of RESOLVE_COPY brings in. */
#define KVMUF_COPY_CHUNK	16

/* Copy a batch array in; nr must be 1..KVMUF_MAX_BATCH. */
static void *kvmuf_copy_array(u64 uptr, u32 nr, size_t size)
{
	void *p;

	if (!nr || nr > KVMUF_MAX_BATCH)
		return ERR_PTR(-EINVAL);
	p = kvmalloc_array(nr, size, KVMUF_GFP_USER);
	if (!p)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(p, u64_to_user_ptr(uptr), nr * size)) {
		kvfree(p);
		return ERR_PTR(-EFAULT);
	}
	return p;
}

static int kvmuf_check_batch_header(u32 flags, u32 allowed, const u64 *reserved,
				    unsigned int n)
{
	unsigned int i;

	if (flags & ~allowed)
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

static void kvmuf_populate(struct kvmuf_vm *vm, const struct kvmuf_gfn_range *g, u32 nr);

/* GFNs in a 2 MiB frame: the unit of the batch loops (one frame count per step). */
#define KVMUF_FRAME_GFNS	BIT_ULL(9)

/*
 * Apply op to one checked element, a 2 MiB frame at a time. The counts (vm->nr_missing,
 * the frame counts) are raised before bits are set and lowered after they are cleared,
 * so a fault that reads 0 knows no bit is set. Between frames we let others run, and stop
 * on a signal (-EINTR, with what was done counted): an element may span 2^28 GFNs.
 */
static int kvmuf_apply_range(struct kvmuf_vm *vm, const struct kvmuf_gfn_range *g,
			     enum kvmuf_batch_op op, u64 *changed, u64 *unchanged, u64 *busy)
{
	struct kvmuf_krange *r = kvmuf_vm_range(vm, g->gfn);
	u64 gfn = g->gfn, end = g->gfn + g->npages;

	while (gfn < end) {
		u64 n = min(end - gfn, KVMUF_FRAME_GFNS - (gfn & (KVMUF_FRAME_GFNS - 1)));
		u64 done, held = 0;

		if (op == KVMUF_OP_SET_MISSING) {
			kvmuf_frames_add(r, gfn, n, 1);
			atomic64_add(n, &vm->nr_missing);
			done = kvmuf_run_set_missing(r, gfn - r->gfn, n);
			kvmuf_frames_add(r, gfn, n - done, -1);
			atomic64_sub(n - done, &vm->nr_missing);
		} else {
			done = kvmuf_run_resolve(r, gfn - r->gfn, n, &held);
			kvmuf_frames_add(r, gfn, done, -1);
			atomic64_sub(done, &vm->nr_missing);
		}
		*changed += done;
		*unchanged += n - done - held;
		*busy += held;
		gfn += n;
		if (gfn < end) {
			if (op == KVMUF_OP_RESOLVE && done)
				kvmuf_wake_resolved_early(vm);
			if (signal_pending(current))
				return -EINTR;
			cond_resched();
		}
	}
	return 0;
}

static long kvmuf_ioctl_batch(struct kvmuf_vm *vm, struct kvmuf_batch __user *ubatch,
			      enum kvmuf_batch_op op)
{
	struct kvmuf_gfn_range *g;
	struct kvmuf_batch b;
	u64 changed = 0, unchanged = 0, busy = 0;
	long ret;
	u32 i;

	if (copy_from_user(&b, ubatch, sizeof(b)))
		return -EFAULT;
	ret = kvmuf_check_batch_header(b.flags, op == KVMUF_OP_RESOLVE ? KVMUF_RESOLVE_POPULATE : 0,
				       b.reserved, ARRAY_SIZE(b.reserved));
	if (ret)
		return ret;
	g = kvmuf_copy_array(b.ranges, b.nr, sizeof(*g));
	if (IS_ERR(g))
		return PTR_ERR(g);
	ret = kvmuf_check_spans(vm, g, b.nr);
	for (i = 0; i < b.nr && !ret && op == KVMUF_OP_SET_MISSING; i++)
		if (!kvmuf_vm_range(vm, g[i].gfn)->module_only)
			ret = kvmuf_check_backstop(vm->kvm, g[i].gfn, g[i].npages);
	if (ret)
		goto out;

	if (b.flags & KVMUF_RESOLVE_POPULATE)
		kvmuf_populate(vm, g, b.nr);
	for (i = 0; i < b.nr && !ret; i++)
		ret = kvmuf_apply_range(vm, &g[i], op, &changed, &unchanged, &busy);
	if (op == KVMUF_OP_SET_MISSING) {
		/* Parked vCPUs whose notification was re-armed re-fault and notify. */
		kvmuf_wake_parked(vm);
	} else {
		atomic64_add(changed, &vm->resolved);
		kvmuf_wake_resolved(vm);
	}
	trace_kvmuf_resolve(vm->kvm, op == KVMUF_OP_SET_MISSING ? KVMUF_TRACE_SET_MISSING :
			    KVMUF_TRACE_RESOLVE, changed, unchanged, busy, ret);
	if (put_user(changed, &ubatch->changed) || put_user(unchanged, &ubatch->unchanged) ||
	    put_user(busy, &ubatch->busy))
		ret = ret ? ret : -EFAULT;
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

/*
 * The VMM's address of gfn, from KVM's memslots, and how many GFNs from gfn on that
 * memslot holds (they are contiguous in the VMM's memory); -EFAULT if no usable memslot
 * holds gfn.
 */
static int kvmuf_gfn_to_hva(struct kvm *kvm, u64 gfn, unsigned long *hva, u64 *left)
{
	struct kvm_memory_slot *slot;
	int idx, ret = -EFAULT;

	idx = srcu_read_lock(&kvm->srcu);
	slot = __gfn_to_memslot(kvm_memslots(kvm), gfn);
	if (slot && !(slot->flags & KVM_MEMSLOT_INVALID)) {
		*hva = __gfn_to_hva_memslot(slot, gfn);
		*left = slot->base_gfn + slot->npages - gfn;
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

/*
 * Map n pages at hva in the VMM's page tables, writable where the mapping is shared and
 * writable (a private mapping is never written: that would copy-on-write its pages).
 * Best effort: whatever cannot be mapped now, the vCPU's own fault-in maps.
 */
static void kvmuf_populate_run(struct mm_struct *mm, unsigned long hva, u64 n)
{
	struct page *pages[KVMUF_COPY_CHUNK];

	while (n) {
		unsigned int chunk = min_t(u64, n, KVMUF_COPY_CHUNK), gup_flags = 0;
		struct vm_area_struct *vma;
		long got, i;

		mmap_read_lock(mm);
		vma = vma_lookup(mm, hva);
		if (vma && (vma->vm_flags & (VM_SHARED | VM_WRITE)) == (VM_SHARED | VM_WRITE))
			gup_flags = FOLL_WRITE;
		got = vma ? kvmuf_gup_remote(mm, hva, chunk, gup_flags, pages) : -EFAULT;
		mmap_read_unlock(mm);
		for (i = 0; i < got; i++)
			put_page(pages[i]);
		if (got <= 0)
			return;
		hva += got * PAGE_SIZE;
		n -= got;
		cond_resched();
	}
}

/* KVMUF_RESOLVE_POPULATE: map each element's pages in the VMM, memslot by memslot. */
static void kvmuf_populate(struct kvmuf_vm *vm, const struct kvmuf_gfn_range *g, u32 nr)
{
	struct mm_struct *mm = vm->kvm->mm;
	u32 i;

	if (!mmget_not_zero(mm))
		return;
	for (i = 0; i < nr; i++) {
		u64 gfn = g[i].gfn, end = g[i].gfn + g[i].npages, left;
		unsigned long hva;

		while (gfn < end && !kvmuf_gfn_to_hva(vm->kvm, gfn, &hva, &left)) {
			left = min(left, end - gfn);
			kvmuf_populate_run(mm, hva, left);
			gfn += left;
			if (fatal_signal_pending(current))
				goto out;
		}
	}
out:
	mmput(mm);
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
 * Install one run of GFNs, all missing and held (installing bit) by us, at hva: copy,
 * then clear missing (the full barrier orders the data first) and lower the counts. If
 * the copy fails, the GFNs stay missing with their notification withdrawn, and vCPUs
 * parked on them are woken to fault, and notify, again.
 */
static int kvmuf_install(struct kvmuf_vm *vm, struct mm_struct *mm, struct kvmuf_krange *r,
			 u64 gfn, u32 n, unsigned long hva, const char __user *src)
{
	u64 bit = gfn - r->gfn;
	int ret;
	u32 i;

	ret = kvmuf_copy_to_vmm(mm, hva, src, n);
	for (i = 0; i < n; i++) {
		if (!ret && test_and_clear_bit(bit + i, r->missing)) {
			kvmuf_frames_add(r, gfn + i, 1, -1);
			atomic64_dec(&vm->nr_missing);
		}
		clear_bit(bit + i, r->notified);
		clear_bit_unlock(bit + i, r->installing);
	}
	if (ret)
		kvmuf_wake_parked(vm);
	return ret;
}

/*
 * Resolve one element, in runs of up to KVMUF_COPY_CHUNK GFNs inside one memslot that we
 * could claim (the installing bit) and that are still missing. A GFN someone else is
 * installing, or that is present, is left alone: its data may already have been changed
 * by the guest.
 */
static int kvmuf_copy_element(struct kvmuf_vm *vm, struct mm_struct *mm,
			      const struct kvmuf_copy *c, u64 *changed, u64 *unchanged, u64 *busy)
{
	struct kvmuf_krange *r = kvmuf_vm_range(vm, c->gfn);
	const char __user *src = u64_to_user_ptr(c->src);
	u64 i = 0;
	int ret;

	while (i < c->npages) {
		u64 gfn = c->gfn + i, bit = gfn - r->gfn, max;
		unsigned long hva;
		bool held = false;
		u32 n = 0;

		ret = kvmuf_gfn_to_hva(vm->kvm, gfn, &hva, &max);
		if (ret)
			return ret;
		max = min3(max, c->npages - i, (u64)KVMUF_COPY_CHUNK);
		while (n < max) {
			if (test_and_set_bit_lock(bit + n, r->installing)) {
				held = true;
				break;
			}
			if (!test_bit(bit + n, r->missing)) {
				clear_bit_unlock(bit + n, r->installing);
				break;
			}
			n++;
		}
		if (!n) {
			if (held)
				(*busy)++;
			else
				(*unchanged)++;
			i++;
			continue;
		}
		ret = kvmuf_install(vm, mm, r, gfn, n, hva, src + i * PAGE_SIZE);
		if (ret)
			return ret;
		*changed += n;
		i += n;
		if (i < c->npages)
			kvmuf_wake_resolved_early(vm);
		cond_resched();
	}
	return 0;
}

long kvmuf_ioctl_resolve_copy(struct kvmuf_vm *vm, struct kvmuf_copy_batch __user *ubatch)
{
	struct kvmuf_copy_batch b;
	struct kvmuf_copy *c;
	struct mm_struct *mm = vm->kvm->mm;
	u64 changed = 0, unchanged = 0, busy = 0;
	long ret;
	u32 i;

	if (copy_from_user(&b, ubatch, sizeof(b)))
		return -EFAULT;
	ret = kvmuf_check_batch_header(b.flags, 0, b.reserved, ARRAY_SIZE(b.reserved));
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
		ret = kvmuf_copy_element(vm, mm, &c[i], &changed, &unchanged, &busy);
	mmput(mm);

	atomic64_add(changed, &vm->resolved);
	/* Also when nothing changed: the consumer may have made room in a ring. */
	kvmuf_wake_resolved(vm);
	trace_kvmuf_resolve(vm->kvm, KVMUF_TRACE_RESOLVE_COPY, changed, unchanged, busy, ret);
	if (put_user(changed, &ubatch->changed) || put_user(unchanged, &ubatch->unchanged) ||
	    put_user(busy, &ubatch->busy))
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
