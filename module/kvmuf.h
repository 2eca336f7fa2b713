/* SPDX-License-Identifier: GPL-2.0 */
/* kvm-userfault: state shared by the module's files. */
#ifndef KVMUF_H
#define KVMUF_H

#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/jump_label.h>
#include <linux/kvm_host.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/rcuwait.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <kvmuf/kvm_userfault.h>

#include "ring.h"
#include "ranges.h"


/* On while any VM is attached: the hooks' first test (vm.c). */
DECLARE_STATIC_KEY_FALSE(kvmuf_vms_present);
#define KVMUF_NO_GFN	U64_MAX

/*
 * Memory a user's request makes us allocate (rings, bitmaps, states): charged to the
 * caller's memory cgroup; past its limit the request fails with -ENOMEM, without an OOM
 * kill in the cgroup and without an allocation-failure splat.
 */
#define KVMUF_GFP_USER	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

/* Largest range one ADD_RANGE accepts: 2^28 pages (1 TiB, 96 MiB of bitmaps). */
#define KVMUF_MAX_RANGE_PAGES	(1ULL << 28)

/*
 * Life of a missing GFN (bits of struct kvmuf_krange, ranges.h; "vCPU" includes a
 * prefetch):
 *
 *   present --SET_MISSING / ADD_RANGE(MISSING)--> missing
 *   missing --first fault: push a ring entry--> missing+notified     (later faults: dedup)
 *   missing+notified --push failed (signal)--> missing               (parked vCPUs re-fault)
 *   missing[+notified] --RESOLVE_COPY claims it--> +installing --copy ok--> present
 *                                                              --copy failed--> as before
 *   missing[+notified] --RESOLVE (data put in place by the caller)--> present
 *   missing+notified --detach or takeover wait, then ATTACH(ADOPT) (vm.c)--> missing
 *
 * A vCPU on a missing GFN parks (park.c) until it is present, or the notification is
 * withdrawn, the memslots change, the device detaches or a signal comes.
 *
 * Lock order: kvmuf_vms_lock (vm.c) > vm->lock (ranges) > vm->vm_ring_lock. A vCPU takes
 * none of them but vm_ring_lock; it holds rcu_read_lock only while it looks the VM and
 * its ranges up, and a reference (vm->refs) while it notifies or parks, with kvm->srcu
 * dropped.
 */

/*
 * Counters of a vCPU's fault path (see struct kvmuf_stats). A vCPU with a ring of its
 * own keeps them in its slot, written by that vCPU alone (KVM serialises a vCPU's
 * KVM_RUN and KVM_PRE_FAULT_MEMORY with vcpu->mutex), so that faults on many vCPUs do
 * not bounce a shared cache line; the others share the VM's atomics.
 */
enum kvmuf_vcpu_stat {
	KVMUF_STAT_FAULTS, KVMUF_STAT_DEDUPED, KVMUF_STAT_PARKS, KVMUF_STAT_EXITS,
	KVMUF_STAT_RING_WAITS, KVMUF_STAT_PARK_NS, KVMUF_STAT_WAKE_NS, KVMUF_STAT_SPIN_HITS,
	KVMUF_STAT_CONTINUED, KVMUF_STAT_CLAMPED,
	KVMUF_STAT_PARK_HIST,	/* KVMUF_PARK_HIST_BUCKETS counters of parks by duration */
	KVMUF_NR_VCPU_STATS = KVMUF_STAT_PARK_HIST + KVMUF_PARK_HIST_BUCKETS
};

/* The histogram bucket of a park of ns (struct kvmuf_stats.park_hist). */
static inline unsigned int kvmuf_park_bucket(u64 ns)
{
	return min_t(unsigned int, fls64(div_u64(ns, NSEC_PER_USEC)), KVMUF_PARK_HIST_BUCKETS - 1);
}

/* Memory of the rings: kernel mapping and pages (ringmem.c). */
struct kvmuf_ring_mem {
	void *addr;			/* vmap of pages */
	struct page **pages;
	unsigned long nr_pages;
};

int kvmuf_ring_mem_alloc(struct kvmuf_ring_mem *m, size_t bytes);
void kvmuf_ring_mem_free(struct kvmuf_ring_mem *m);
int kvmuf_ring_mem_mmap(struct kvmuf_ring_mem *m, struct vm_area_struct *vma);

/* One per vCPU ring: the ring, and where that vCPU sleeps while parked. */
struct kvmuf_vcpu_slot {
	struct kvmuf_kring ring;	/* single producer: the vCPU thread */
	struct rcuwait wait;
	u64 parked_gfn;			/* KVMUF_NO_GFN unless the vCPU is parked */
	u64 resolved_ns;		/* when a resolver woke it (0: not yet) */
	u64 spin_ns;			/* adaptive spin budget; the vCPU's own */
	u64 stats[KVMUF_NR_VCPU_STATS];	/* the vCPU's own */
} ____cacheline_aligned_in_smp;

struct kvmuf_vm {
	struct kvm *kvm;		/* a reference is held for our whole life */
	struct hlist_node hnode;	/* in kvmuf_vms, keyed by kvm */
	/* Out of kvmuf_vms: whoever did it frees vm (under kvmuf_vms_lock). */
	bool unhashed;
	struct list_head reap_node;	/* on the reaper's private list while freed */
	refcount_t refs;		/* 1 for the table, +1 per vCPU in the missing path */
	/* The memory: 1 for the table (dropped once vm is unhashed and drained), +1 per waiter. */
	struct kref mem;
	u32 flags;			/* KVMUF_ATTACH_* */
	bool detached;			/* the device closed, until an ATTACH(ADOPT) */
	/*
	 * KVMUF_ATTACH_TAKEOVER: the device closed with GFNs missing; until the deadline
	 * an adoption may take over while vCPUs stay parked. Under kvmuf_vms_lock.
	 */
	bool takeover_pending;
	unsigned long takeover_deadline;	/* jiffies */
	u32 takeover_ms;
	bool hup_sent;

	struct mutex lock;		/* serialises ADD_RANGE */
	struct kvmuf_range_table __rcu *ranges;
	atomic64_t nr_missing;

	struct kvmuf_ring_mem rings;	/* mmapped by userspace (ringmem.c) */
	size_t ring_bytes;
	u64 ring_stride;
	u32 ring_entries;
	u32 nr_vcpu_rings;
	struct kvmuf_kring vm_ring;	/* ring 0: many producers, under vm_ring_lock */
	spinlock_t vm_ring_lock;
	struct kvmuf_vcpu_slot *slots;	/* nr_vcpu_rings */
	unsigned long *parked;		/* bit i: slots[i]'s vCPU is parked */

	int need_wakeup;		/* a consumer sleeps in poll() */
	wait_queue_head_t poll_wq;	/* consumers in poll() */
	wait_queue_head_t space_wq;	/* producers waiting for ring space */
	wait_queue_head_t park_wq;	/* parked vCPUs that have no ring of their own */
	wait_queue_head_t wait_wq;	/* KVMUF_WAIT callers */
	wait_queue_head_t drain_wq;	/* detach waits here for vCPUs to leave */

	atomic64_t vcpu_stats[KVMUF_NR_VCPU_STATS];	/* vCPUs without a slot */
	atomic64_t resolved;		/* GFNs made present by RESOLVE* */
	atomic64_t recoveries_skipped;	/* 7.2 in-place huge-page recoveries stopped */
};

/* The ring slot of a vCPU, or NULL if it shares the VM ring. */
static inline struct kvmuf_vcpu_slot *kvmuf_vcpu_slot(struct kvmuf_vm *vm,
						      const struct kvm_vcpu *vcpu)
{
	return vcpu->vcpu_idx < vm->nr_vcpu_rings ? &vm->slots[vcpu->vcpu_idx] : NULL;
}

/*
 * Nobody resolves vm's GFNs (its device file went). Acquire: a vCPU that reads false
 * after an adoption (vm.c) sees the notifications that adoption withdrew.
 */
static inline bool kvmuf_vm_detached(struct kvmuf_vm *vm)
{
	return smp_load_acquire(&vm->detached);	/* pairs with kvmuf_vm_adopt() */
}

/* Count n events of a vCPU's fault path (s: its slot, or NULL). */
static inline void kvmuf_count(struct kvmuf_vm *vm, struct kvmuf_vcpu_slot *s,
			       enum kvmuf_vcpu_stat i, u64 n)
{
	if (s)
		WRITE_ONCE(s->stats[i], s->stats[i] + n);
	else
		atomic64_add(n, &vm->vcpu_stats[i]);
}

/* vm.c */
int kvmuf_vm_attach(struct file *file, const struct kvmuf_attach *a);
void kvmuf_vm_unref(struct kvmuf_vm *vm);

/* waiter.c: a KVMUF_WAITER fd on vm, or -errno. */
int kvmuf_vm_waiter_fd(struct kvmuf_vm *vm);
void kvmuf_vm_release(struct kvmuf_vm *vm);
struct kvmuf_vm *kvmuf_vm_find_rcu(const struct kvm *kvm);
struct kvmuf_vm *kvmuf_vm_get(const struct kvm *kvm);
void kvmuf_vm_put(struct kvmuf_vm *vm);
int kvmuf_vm_add_range(struct kvmuf_vm *vm, const struct kvmuf_range *ar);
struct kvmuf_krange *kvmuf_vm_range(struct kvmuf_vm *vm, u64 gfn);
bool kvmuf_vm_gfn_missing(struct kvmuf_vm *vm, u64 gfn);
void kvmuf_vm_info(struct kvmuf_vm *vm, struct kvmuf_info *info);
void kvmuf_vm_stats(struct kvmuf_vm *vm, struct kvmuf_stats *stats);
struct kvmuf_ring_header *kvmuf_vm_ring_header(struct kvmuf_vm *vm, u32 ring);
bool kvmuf_vm_dead(struct kvmuf_vm *vm);
void kvmuf_vm_wake_all(struct kvmuf_vm *vm);
void kvmuf_vms_exit(void);

/* resolve.c */
long kvmuf_ioctl_set_missing(struct kvmuf_vm *vm, struct kvmuf_batch __user *ubatch);

/* backstop.c: GFNs [gfn, gfn + npages) of kvm are guarded by a userfaultfd. 0 or -errno. */
int kvmuf_check_backstop(struct kvm *kvm, u64 gfn, u64 npages);
long kvmuf_ioctl_resolve(struct kvmuf_vm *vm, struct kvmuf_batch __user *ubatch);
long kvmuf_ioctl_resolve_copy(struct kvmuf_vm *vm, struct kvmuf_copy_batch __user *ubatch);
long kvmuf_ioctl_wait(struct kvmuf_vm *vm, const struct kvmuf_wait __user *uwait);

/* query.c */
long kvmuf_ioctl_get_missing(struct kvmuf_vm *vm, struct kvmuf_missing_query __user *uq);

/* park.c */
int kvmuf_handle_missing(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu, struct kvmuf_krange *r,
			 u64 gfn, u32 flags, bool prefetch);
void kvmuf_notify_consumers(struct kvmuf_vm *vm);
void kvmuf_wake_resolved(struct kvmuf_vm *vm);
void kvmuf_wake_resolved_early(struct kvmuf_vm *vm);
void kvmuf_wake_parked(struct kvmuf_vm *vm);

/* fault.c: the pre-handlers tramp.S and hook.c call */
int kvmuf_faultin_pre(struct kvm_vcpu *vcpu, void *fault);
int kvmuf_recover_pre(struct kvm *kvm, const struct kvm_memory_slot *slot);
void kvmuf_memslot_flushed(struct kvm *kvm);

/* tramp.S: direct-call targets, never called from C */
void kvmuf_faultin_tramp(void);
void kvmuf_recover_tramp(void);

/* layout.c: what the running kernel's KVM looks like, found at load time */
extern const struct kvmuf_kernel *kvmuf_kernel;
int kvmuf_layout_init(void);

/* introspect.c: fdinfo and debugfs */
struct seq_file;
void kvmuf_vm_show(struct seq_file *m, struct kvmuf_vm *vm, bool fdinfo);
void kvmuf_vms_show(struct seq_file *m);	/* vm.c: every state, one line each */
void kvmuf_introspect_init(void);
void kvmuf_introspect_exit(void);

/* hook.c */
int kvmuf_hook_init(void);
void kvmuf_hook_exit(void);

/* symbols.c */
unsigned long kvmuf_lookup_symbol(const char *name);
int kvmuf_symbols_init(void);
bool kvmuf_file_is_kvm_vm(struct file *file);

/* dev.c */
int kvmuf_dev_init(void);
void kvmuf_dev_exit(void);

#endif /* KVMUF_H */
