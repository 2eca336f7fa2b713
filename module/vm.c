// SPDX-License-Identifier: GPL-2.0
/*
 * Per-VM state: attach, lookup from the fault hook, managed ranges, detach.
 *
 * Lifetime. The table kvmuf_vms holds one reference on each state; the fault hook looks
 * states up under RCU and a vCPU that takes the missing path takes a temporary one. A
 * state outlives its device fd when GFNs are still missing at detach ("orphan"): those
 * GFNs must keep giving vCPUs an error exit, never a zero-filled page. Orphans are freed
 * by the reaper once their VM has no user but us (the VMM closed it). Each state holds a
 * module reference, so the module cannot go away while a vCPU could be parked in it.
 *
 * Ownership. The final close (kvmuf_vm_release) and the reaper may both decide to free
 * the same state (a dead VM with nothing missing). Exactly one of them takes it out of
 * the table, under kvmuf_vms_lock (vm->unhashed); that one alone drains it and drops the
 * table's reference to its memory (vm->mem). Waiter fds (KVMUF_WAITER) hold references
 * of their own: the memory, the VM reference and the module reference go with the last.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jump_label.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "compat.h"
#include "kvmuf.h"
#include "gfnruns.h"

static unsigned int reap_interval_ms = 1000;
module_param(reap_interval_ms, uint, 0644);
MODULE_PARM_DESC(reap_interval_ms,
		 "How often orphaned states of dead VMs are looked for and freed (ms, 1..60000)");

static unsigned long kvmuf_reap_interval(void)
{
	return msecs_to_jiffies(clamp(READ_ONCE(reap_interval_ms), 1U, 60000U));
}

static DEFINE_HASHTABLE(kvmuf_vms, 6);
static DEFINE_MUTEX(kvmuf_vms_lock);	/* writers of kvmuf_vms */
static unsigned int kvmuf_nr_vms;
DEFINE_STATIC_KEY_FALSE(kvmuf_vms_present);

static void kvmuf_reap(struct work_struct *work);
static DECLARE_DELAYED_WORK(kvmuf_reaper, kvmuf_reap);

/* The state of kvm, or NULL; under rcu_read_lock(). */
struct kvmuf_vm *kvmuf_vm_find_rcu(const struct kvm *kvm)
{
	struct kvmuf_vm *vm;

	hash_for_each_possible_rcu(kvmuf_vms, vm, hnode, (unsigned long)kvm)
		if (vm->kvm == kvm)
			return vm;
	return NULL;
}

/* A reference for a vCPU about to sleep in the module; NULL if the VM is not attached. */
struct kvmuf_vm *kvmuf_vm_get(const struct kvm *kvm)
{
	struct kvmuf_vm *vm;

	rcu_read_lock();
	vm = kvmuf_vm_find_rcu(kvm);
	if (vm && !refcount_inc_not_zero(&vm->refs))
		vm = NULL;
	rcu_read_unlock();
	return vm;
}

/*
 * Drop a vCPU's temporary reference; the table's is only dropped by kvmuf_vm_drain_free().
 * Once our decrement lands, the releaser may see refs == 1 and go on to free vm: the
 * RCU read section keeps vm alive for the wake-up (kvmuf_vm_drain_free() waits a grace
 * period after draining).
 */
void kvmuf_vm_put(struct kvmuf_vm *vm)
{
	rcu_read_lock();
	WARN_ON_ONCE(refcount_dec_and_test(&vm->refs));
	if (READ_ONCE(vm->detached))
		wake_up_all(&vm->drain_wq);
	rcu_read_unlock();
}

static void kvmuf_krange_free(struct kvmuf_krange *r)
{
	unsigned int level;

	kvfree(r->missing);
	kvfree(r->notified);
	kvfree(r->installing);
	for (level = 0; level < KVMUF_NR_FRAME_LEVELS; level++)
		kvfree(r->frame_missing[level]);
	kfree(r);
}

/* The last reference to vm's memory went: the table's, and every waiter fd's. */
static void kvmuf_vm_free(struct kref *mem)
{
	struct kvmuf_vm *vm = container_of(mem, struct kvmuf_vm, mem);
	struct kvmuf_range_table *t = rcu_dereference_protected(vm->ranges, true);
	u32 i;

	for (i = 0; i < t->nr; i++)
		kvmuf_krange_free(t->range[i]);
	kfree(t);
	kvmuf_ring_mem_free(&vm->rings);
	kvfree(vm->slots);
	bitmap_free(vm->parked);
	kvm_put_kvm(vm->kvm);
	kfree(vm);
	static_branch_dec(&kvmuf_vms_present);
	module_put(THIS_MODULE);
}

/* Take vm out of the table unless someone did: true if we did (we then free it). */
static bool kvmuf_vm_unhash(struct kvmuf_vm *vm)
{
	lockdep_assert_held(&kvmuf_vms_lock);
	if (vm->unhashed)
		return false;
	vm->unhashed = true;
	hash_del_rcu(&vm->hnode);
	kvmuf_nr_vms--;
	return true;
}

/*
 * Free vm, already out of the table, once no vCPU is inside the module any more. After
 * synchronize_rcu() the hook cannot find it; vCPUs that already hold a reference were
 * woken by detach and leave at once.
 */
static void kvmuf_vm_drain_free(struct kvmuf_vm *vm)
{
	synchronize_rcu();
	wait_event(vm->drain_wq, refcount_read(&vm->refs) == 1);
	synchronize_rcu();	/* the last kvmuf_vm_put() has finished its wake-up */
	kvmuf_vm_unref(vm);
}

/* Drop a reference to vm's memory (a waiter fd's, or the table's once drained). */
void kvmuf_vm_unref(struct kvmuf_vm *vm)
{
	kref_put(&vm->mem, kvmuf_vm_free);
}

static int kvmuf_vm_alloc_rings(struct kvmuf_vm *vm, const struct kvmuf_attach *a)
{
	u32 i;
	int ret;

	vm->ring_entries = a->ring_entries;
	vm->nr_vcpu_rings = a->nr_vcpu_rings;
	vm->ring_stride = KVMUF_RING_STRIDE(a->ring_entries);
	vm->ring_bytes = vm->ring_stride * (a->nr_vcpu_rings + 1);
	ret = kvmuf_ring_mem_alloc(&vm->rings, vm->ring_bytes);
	if (ret)
		return ret;
	if (a->nr_vcpu_rings) {
		vm->slots = kvcalloc(a->nr_vcpu_rings, sizeof(*vm->slots), KVMUF_GFP_USER);
		vm->parked = bitmap_zalloc(a->nr_vcpu_rings, KVMUF_GFP_USER);
		if (!vm->slots || !vm->parked)
			return -ENOMEM;
	}
	kvmuf_kring_init(&vm->vm_ring, vm->rings.addr, a->ring_entries, KVMUF_VM_RING);
	for (i = 0; i < a->nr_vcpu_rings; i++) {
		struct kvmuf_vcpu_slot *s = &vm->slots[i];

		kvmuf_kring_init(&s->ring, vm->rings.addr + (i + 1) * vm->ring_stride,
				 a->ring_entries, i);
		rcuwait_init(&s->wait);
		s->parked_gfn = KVMUF_NO_GFN;
	}
	return 0;
}

static struct kvmuf_vm *kvmuf_vm_create(struct kvm *kvm, const struct kvmuf_attach *a)
{
	struct kvmuf_vm *vm;
	int ret;

	vm = kzalloc(sizeof(*vm), KVMUF_GFP_USER);
	if (!vm)
		return ERR_PTR(-ENOMEM);
	vm->ranges = kzalloc(sizeof(struct kvmuf_range_table), KVMUF_GFP_USER);
	ret = vm->ranges ? kvmuf_vm_alloc_rings(vm, a) : -ENOMEM;
	if (ret) {
		kvmuf_ring_mem_free(&vm->rings);
		kvfree(vm->slots);
		bitmap_free(vm->parked);
		kfree(rcu_access_pointer(vm->ranges));
		kfree(vm);
		return ERR_PTR(ret);
	}
	vm->kvm = kvm;
	vm->flags = a->flags;
	vm->takeover_ms = a->takeover_ms;
	refcount_set(&vm->refs, 1);
	kref_init(&vm->mem);
	mutex_init(&vm->lock);
	spin_lock_init(&vm->vm_ring_lock);
	init_waitqueue_head(&vm->poll_wq);
	init_waitqueue_head(&vm->space_wq);
	init_waitqueue_head(&vm->park_wq);
	init_waitqueue_head(&vm->wait_wq);
	init_waitqueue_head(&vm->drain_wq);
	INIT_LIST_HEAD(&vm->reap_node);
	return vm;
}

static int kvmuf_check_attach(const struct kvmuf_attach *a)
{
	unsigned int i;

	if (a->flags & ~(KVMUF_ATTACH_EXIT | KVMUF_ATTACH_ADOPT | KVMUF_ATTACH_TAKEOVER))
		return -EINVAL;
	if (a->reserved0)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			return -EINVAL;
	if ((a->flags & KVMUF_ATTACH_TAKEOVER) ?
	    !a->takeover_ms || a->takeover_ms > KVMUF_MAX_TAKEOVER_MS : a->takeover_ms)
		return -EINVAL;
	if (a->nr_vcpu_rings > KVMUF_MAX_VCPU_RINGS)
		return -EINVAL;
	if (a->ring_entries < KVMUF_MIN_RING_ENTRIES ||
	    a->ring_entries > KVMUF_MAX_RING_ENTRIES || !is_power_of_2(a->ring_entries))
		return -EINVAL;
	if (KVMUF_RING_STRIDE(a->ring_entries) * (a->nr_vcpu_rings + 1) > KVMUF_MAX_RING_BYTES)
		return -EINVAL;
	return 0;
}

/* The VM behind a VM fd, with a reference taken; or an error. */
static struct kvm *kvmuf_get_kvm_from_fd(int vm_fd)
{
	struct file *f = fget(vm_fd);
	struct kvm *kvm;

	if (!f)
		return ERR_PTR(-EBADF);
	if (!kvmuf_file_is_kvm_vm(f)) {
		fput(f);
		return ERR_PTR(-ENOTTY);
	}
	kvm = f->private_data;
	/*
	 * Only the VM's owner attaches it, as KVM itself refuses VM ioctls from another mm:
	 * a VM fd leaked to another process must not let it page (and, through
	 * RESOLVE_COPY, write) the owner's memory. The attached device fd is then the
	 * capability a page server receives.
	 */
	if (kvm->mm != current->mm) {
		fput(f);
		return ERR_PTR(-EPERM);
	}
	kvm_get_kvm(kvm);
	fput(f);
	return kvm;
}

/*
 * Withdraw every notification of vm, a bitmap chunk at a time with a chance to
 * reschedule: a range may have 2^28 GFNs. -EINTR on a fatal signal (the state then
 * stays detached: a later adoption withdraws the rest).
 */
static int kvmuf_vm_withdraw_notified(struct kvmuf_vm *vm)
{
	struct kvmuf_range_table *t = rcu_dereference_protected(vm->ranges, true);
	const u64 chunk = 1ULL << 18;	/* GFNs: 32 KiB of bitmap */
	u32 i;

	for (i = 0; i < t->nr; i++) {
		struct kvmuf_krange *r = t->range[i];
		u64 bit;

		for (bit = 0; bit < r->npages; bit += chunk) {
			kvmuf_run_withdraw(r, bit, min(chunk, r->npages - bit));
			if (fatal_signal_pending(current))
				return -EINTR;
			cond_resched();
		}
	}
	return 0;
}

/*
 * The old consumer may have died leaving a head that claims more entries than a ring
 * holds (a half-written store, a bug): restart such a ring empty, or its producers would
 * wait for room for ever. Its entries are not lost: every notification is withdrawn.
 */
static void kvmuf_vm_check_heads(struct kvmuf_vm *vm)
{
	u32 i;

	for (i = 0; i <= vm->nr_vcpu_rings; i++) {
		struct kvmuf_kring *ring = i ? &vm->slots[i - 1].ring : &vm->vm_ring;

		if (ring->tail - READ_ONCE(ring->hdr->head) > ring->mask + 1)
			WRITE_ONCE(ring->hdr->head, ring->tail);
	}
}

/*
 * ATTACH(ADOPT): file takes over vm, a state whose device file went while GFNs were
 * still missing. Under kvmuf_vms_lock, so neither the reaper nor another adoption runs
 * meanwhile (the caller's VM reference keeps the VM alive anyway).
 *
 * The missing bits and the rings stay as they are: entries the old consumer never read
 * are still there for the new one, from the ring heads it left. Those it read and never
 * resolved are lost with it, so every notification is withdrawn: the next fault on
 * each missing GFN pushes a new entry (a GFN may so be reported twice; resolving a
 * present GFN changes nothing). The ranges cannot change meanwhile (ADD_RANGE needs an
 * attached fd), and no vCPU notifies while the state is detached.
 */
static int kvmuf_vm_adopt(struct file *file, struct kvmuf_vm *vm, const struct kvmuf_attach *a)
{
	int ret;

	lockdep_assert_held(&kvmuf_vms_lock);
	if (!READ_ONCE(vm->detached) && !vm->takeover_pending)
		return -EBUSY;
	if ((a->flags & ~KVMUF_ATTACH_ADOPT) != vm->flags ||
	    a->ring_entries != vm->ring_entries || a->nr_vcpu_rings != vm->nr_vcpu_rings)
		return -EINVAL;
	/*
	 * In a takeover wait vCPUs still run, park and notify: the word-level withdraw
	 * races with them harmlessly (an entry pushed meanwhile is a duplicate at worst),
	 * and the wake-up below sends every vCPU parked on a withdrawn notification to
	 * notify the new consumer.
	 */
	ret = kvmuf_vm_withdraw_notified(vm);
	if (ret)
		return ret;
	kvmuf_vm_check_heads(vm);
	vm->takeover_pending = false;
	vm->takeover_ms = a->takeover_ms;
	vm->hup_sent = false;
	/* Pairs with kvmuf_vm_detached(): a vCPU that sees it attached sees the bits. */
	smp_store_release(&vm->detached, false);
	/* Pairs with kvmuf_file_vm(), as in a plain attach. */
	smp_store_release(&file->private_data, vm);
	kvmuf_wake_parked(vm);
	pr_info("VM adopted by a new attachment with %lld GFNs missing\n",
		(long long)atomic64_read(&vm->nr_missing));
	return 0;
}

int kvmuf_vm_attach(struct file *file, const struct kvmuf_attach *a)
{
	struct kvmuf_vm *vm;
	struct kvm *kvm;
	int ret;

	ret = kvmuf_check_attach(a);
	if (ret)
		return ret;
	kvm = kvmuf_get_kvm_from_fd(a->vm_fd);
	if (IS_ERR(kvm))
		return PTR_ERR(kvm);

	mutex_lock(&kvmuf_vms_lock);
	ret = -EBUSY;
	if (file->private_data)
		goto out_unlock;
	vm = kvmuf_vm_find_rcu(kvm);
	if (a->flags & KVMUF_ATTACH_ADOPT) {
		ret = vm ? kvmuf_vm_adopt(file, vm, a) : -ENOENT;
		goto out_unlock;	/* the state holds a VM reference of its own */
	}
	if (vm)
		goto out_unlock;
	vm = kvmuf_vm_create(kvm, a);
	ret = PTR_ERR(vm);
	if (IS_ERR(vm))
		goto out_unlock;
	__module_get(THIS_MODULE);
	static_branch_inc(&kvmuf_vms_present);
	hash_add_rcu(kvmuf_vms, &vm->hnode, (unsigned long)kvm);
	if (!kvmuf_nr_vms++)
		schedule_delayed_work(&kvmuf_reaper, kvmuf_reap_interval());
	/* Publish last: the other ioctls, mmap and poll only look at an attached fd. */
	smp_store_release(&file->private_data, vm);
	mutex_unlock(&kvmuf_vms_lock);
	return 0;

out_unlock:
	mutex_unlock(&kvmuf_vms_lock);
	kvm_put_kvm(kvm);
	return ret;
}

/* Wake every sleeper, so it re-reads the state (resolved, detached, dead). */
void kvmuf_vm_wake_all(struct kvmuf_vm *vm)
{
	u32 i;

	for (i = 0; i < vm->nr_vcpu_rings; i++)
		rcuwait_wake_up(&vm->slots[i].wait);
	wake_up_all(&vm->park_wq);
	wake_up_all(&vm->wait_wq);
	wake_up_all(&vm->space_wq);
	wake_up_all(&vm->poll_wq);
}

/* Nobody resolves any more: wake every sleeper to see it (then error exits). */
static void kvmuf_vm_detach_now(struct kvmuf_vm *vm)
{
	WRITE_ONCE(vm->detached, true);
	smp_mb();	/* detached is seen by every sleeper we wake below */
	kvmuf_vm_wake_all(vm);
}

/*
 * Detach at once: parked vCPUs wake and, for GFNs still missing, return to their VMM
 * with an error exit naming the GFN. If nothing is missing the state goes now;
 * otherwise it stays as an orphan so later touches fail the same way.
 */
static void kvmuf_vm_detach(struct kvmuf_vm *vm)
{
	u64 missing;

	kvmuf_vm_detach_now(vm);
	missing = atomic64_read(&vm->nr_missing);
	if (!missing) {
		bool ours;

		mutex_lock(&kvmuf_vms_lock);
		ours = kvmuf_vm_unhash(vm);
		mutex_unlock(&kvmuf_vms_lock);
		if (ours)
			kvmuf_vm_drain_free(vm);
		return;
	}
	pr_info("VM detached with %llu GFNs missing: vCPUs touching them get an error exit\n",
		missing);
}

/*
 * The device fd's last reference is gone. With KVMUF_ATTACH_TAKEOVER and GFNs missing,
 * nothing changes for the vCPUs yet: they stay parked until an adoption or the
 * deadline (the reaper detaches then). Otherwise detach now.
 */
void kvmuf_vm_release(struct kvmuf_vm *vm)
{
	if ((vm->flags & KVMUF_ATTACH_TAKEOVER) && atomic64_read(&vm->nr_missing)) {
		mutex_lock(&kvmuf_vms_lock);
		/* +1: jiffies may tick right now; the wait is never shorter than asked. */
		vm->takeover_deadline = jiffies + msecs_to_jiffies(vm->takeover_ms) + 1;
		vm->takeover_pending = true;
		mutex_unlock(&kvmuf_vms_lock);
		pr_info("page server gone with %lld GFNs missing: waiting %u ms for a new one\n",
			(long long)atomic64_read(&vm->nr_missing), vm->takeover_ms);
		return;
	}
	kvmuf_vm_detach(vm);
}

/* Only our own reference keeps the VM: its VMM has closed every fd. */
bool kvmuf_vm_dead(struct kvmuf_vm *vm)
{
	return refcount_read(&vm->kvm->users_count) == 1;
}

/*
 * Every second while VMs are attached: free orphans whose VM is dead, and tell the
 * consumers of attached ones that their VM is gone (EPOLLHUP).
 */
static void kvmuf_reap(struct work_struct *work)
{
	struct kvmuf_vm *vm, *next;
	struct hlist_node *tmp;
	LIST_HEAD(dead);
	int bkt;

	mutex_lock(&kvmuf_vms_lock);
	hash_for_each_safe(kvmuf_vms, bkt, tmp, vm, hnode) {
		if (vm->takeover_pending &&
		    (time_after_eq(jiffies, vm->takeover_deadline) || kvmuf_vm_dead(vm))) {
			vm->takeover_pending = false;
			pr_info("no page server took over in %u ms: VM detached\n",
				vm->takeover_ms);
			kvmuf_vm_detach_now(vm);
		}
		if (!kvmuf_vm_dead(vm))
			continue;
		if (READ_ONCE(vm->detached)) {
			if (kvmuf_vm_unhash(vm))
				list_add(&vm->reap_node, &dead);
		} else if (!vm->hup_sent) {
			vm->hup_sent = true;
			wake_up_all(&vm->poll_wq);
		}
	}
	mutex_unlock(&kvmuf_vms_lock);

	list_for_each_entry_safe(vm, next, &dead, reap_node)
		kvmuf_vm_drain_free(vm);

	mutex_lock(&kvmuf_vms_lock);
	if (kvmuf_nr_vms)
		schedule_delayed_work(&kvmuf_reaper, kvmuf_reap_interval());
	mutex_unlock(&kvmuf_vms_lock);
}

static struct kvmuf_krange *kvmuf_krange_alloc(u64 gfn, u64 npages, bool missing)
{
	size_t longs = BITS_TO_LONGS(npages);
	struct kvmuf_krange *r;
	unsigned int level;

	r = kzalloc(sizeof(*r), KVMUF_GFP_USER);
	if (!r)
		return NULL;
	r->gfn = gfn;
	r->npages = npages;
	r->missing = kvcalloc(longs, sizeof(long), KVMUF_GFP_USER);
	r->notified = kvcalloc(longs, sizeof(long), KVMUF_GFP_USER);
	r->installing = kvcalloc(longs, sizeof(long), KVMUF_GFP_USER);
	for (level = 0; level < KVMUF_NR_FRAME_LEVELS; level++)
		r->frame_missing[level] = kvcalloc(kvmuf_nr_frames(gfn, npages, level),
						   sizeof(atomic_t), KVMUF_GFP_USER);
	if (!r->missing || !r->notified || !r->installing ||
	    !r->frame_missing[KVMUF_FRAME_2M] || !r->frame_missing[KVMUF_FRAME_1G]) {
		kvmuf_krange_free(r);
		return NULL;
	}
	if (missing) {
		kvmuf_frames_add(r, gfn, npages, 1);
		bitmap_set(r->missing, 0, npages);
	}
	return r;
}

int kvmuf_vm_add_range(struct kvmuf_vm *vm, const struct kvmuf_range *ar)
{
	struct kvmuf_range_table *old, *new;
	struct kvmuf_krange *r;
	int pos, ret = 0;

	if ((ar->flags & ~(KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY)) || ar->reserved0 ||
	    ar->reserved[0] || ar->reserved[1])
		return -EINVAL;
	if (!ar->npages || ar->npages > KVMUF_MAX_RANGE_PAGES ||
	    ar->gfn > U64_MAX - ar->npages)
		return -EINVAL;
	if ((ar->flags & KVMUF_RANGE_MISSING) && !(ar->flags & KVMUF_RANGE_MODULE_ONLY)) {
		ret = kvmuf_check_backstop(vm->kvm, ar->gfn, ar->npages);
		if (ret)
			return ret;
	}

	mutex_lock(&vm->lock);
	old = rcu_dereference_protected(vm->ranges, lockdep_is_held(&vm->lock));
	pos = kvmuf_ranges_insert_pos(old, ar->gfn, ar->npages);
	if (old->nr == KVMUF_MAX_RANGES)
		pos = -ENOSPC;
	if (pos < 0) {
		ret = pos;
		goto out;
	}
	new = kmalloc(sizeof(*new), KVMUF_GFP_USER);
	r = new ? kvmuf_krange_alloc(ar->gfn, ar->npages, ar->flags & KVMUF_RANGE_MISSING) : NULL;
	if (!r) {
		kfree(new);
		ret = -ENOMEM;
		goto out;
	}
	r->module_only = ar->flags & KVMUF_RANGE_MODULE_ONLY;
	new->nr = old->nr + 1;
	memcpy(new->range, old->range, pos * sizeof(new->range[0]));
	new->range[pos] = r;
	memcpy(&new->range[pos + 1], &old->range[pos], (old->nr - pos) * sizeof(new->range[0]));
	if (ar->flags & KVMUF_RANGE_MISSING)
		atomic64_add(ar->npages, &vm->nr_missing);
	rcu_assign_pointer(vm->ranges, new);
	mutex_unlock(&vm->lock);
	/* The ranges themselves live on in the new table; only the index is freed. */
	synchronize_rcu();
	kfree(old);
	return 0;
out:
	mutex_unlock(&vm->lock);
	return ret;
}

/* The range holding gfn; stable for the life of vm (ranges are never removed). */
struct kvmuf_krange *kvmuf_vm_range(struct kvmuf_vm *vm, u64 gfn)
{
	struct kvmuf_krange *r;

	rcu_read_lock();
	r = kvmuf_ranges_find(rcu_dereference(vm->ranges), gfn);
	rcu_read_unlock();
	return r;
}

bool kvmuf_vm_gfn_missing(struct kvmuf_vm *vm, u64 gfn)
{
	struct kvmuf_krange *r = kvmuf_vm_range(vm, gfn);

	return r && kvmuf_range_missing(r, gfn);
}

struct kvmuf_ring_header *kvmuf_vm_ring_header(struct kvmuf_vm *vm, u32 ring)
{
	return vm->rings.addr + ring * vm->ring_stride;
}

/* A fault-path counter, summed over the vCPU slots and the VM's shared atomics. */
static u64 kvmuf_vm_stat(struct kvmuf_vm *vm, enum kvmuf_vcpu_stat i)
{
	u64 sum = atomic64_read(&vm->vcpu_stats[i]);
	u32 v;

	for (v = 0; v < vm->nr_vcpu_rings; v++)
		sum += READ_ONCE(vm->slots[v].stats[i]);
	return sum;
}

void kvmuf_vm_stats(struct kvmuf_vm *vm, struct kvmuf_stats *st)
{
	unsigned int i;

	memset(st, 0, sizeof(*st));
	st->faults = kvmuf_vm_stat(vm, KVMUF_STAT_FAULTS);
	st->deduped = kvmuf_vm_stat(vm, KVMUF_STAT_DEDUPED);
	st->parks = kvmuf_vm_stat(vm, KVMUF_STAT_PARKS);
	st->exits = kvmuf_vm_stat(vm, KVMUF_STAT_EXITS);
	st->resolved = atomic64_read(&vm->resolved);
	st->ring_waits = kvmuf_vm_stat(vm, KVMUF_STAT_RING_WAITS);
	st->park_ns = kvmuf_vm_stat(vm, KVMUF_STAT_PARK_NS);
	st->wake_ns = kvmuf_vm_stat(vm, KVMUF_STAT_WAKE_NS);
	st->spin_hits = kvmuf_vm_stat(vm, KVMUF_STAT_SPIN_HITS);
	st->continued = kvmuf_vm_stat(vm, KVMUF_STAT_CONTINUED);
	st->clamped = kvmuf_vm_stat(vm, KVMUF_STAT_CLAMPED);
	st->recoveries_skipped = atomic64_read(&vm->recoveries_skipped);
	for (i = 0; i < KVMUF_PARK_HIST_BUCKETS; i++)
		st->park_hist[i] = kvmuf_vm_stat(vm, KVMUF_STAT_PARK_HIST + i);
}

void kvmuf_vm_info(struct kvmuf_vm *vm, struct kvmuf_info *info)
{
	struct kvmuf_stats st;

	kvmuf_vm_stats(vm, &st);
	memset(info, 0, sizeof(*info));
	info->api_version = KVMUF_API_VERSION;
	info->flags = vm->flags;
	info->nr_rings = vm->nr_vcpu_rings + 1;
	info->ring_entries = vm->ring_entries;
	info->ring_stride = vm->ring_stride;
	info->mmap_size = vm->ring_bytes;
	info->nr_missing = atomic64_read(&vm->nr_missing);
	info->faults = st.faults;
	info->deduped = st.deduped;
	info->parks = st.parks;
	info->exits = st.exits;
	info->resolved = st.resolved;
	info->ring_waits = st.ring_waits;
}

/* Every state, attached or orphaned, one line each (debugfs; introspect.c). */
void kvmuf_vms_show(struct seq_file *m)
{
	struct kvmuf_vm *vm;
	int bkt;

	mutex_lock(&kvmuf_vms_lock);
	hash_for_each(kvmuf_vms, bkt, vm, hnode) {
		seq_puts(m, "kvm-userfault");
		kvmuf_vm_show(m, vm, false);
	}
	mutex_unlock(&kvmuf_vms_lock);
}

/* Module exit: every state holds a module reference, so none is left. */
void kvmuf_vms_exit(void)
{
	cancel_delayed_work_sync(&kvmuf_reaper);
	WARN_ON(kvmuf_nr_vms);
}
