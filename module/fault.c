// SPDX-License-Identifier: GPL-2.0
/*
 * The pre-handlers that run before KVM's own functions (hook.c attaches them).
 *
 * kvmuf_faultin_pre() runs before KVM turns a stage-2 fault into a host pfn, in the
 * thread that faulted, with kvm->srcu held. For a VM with GFNs missing it:
 *   1. clamps the fault's max_level while a GFN of the 2 MiB (1 GiB) frame around the
 *      faulting GFN is missing, present or not, so KVM maps at most 4 KiB (2 MiB) there
 *      and the guest cannot reach a missing neighbour without a fault of its own;
 *   2. lets KVM's body run (returns 0) when the GFN is not missing;
 *   3. hands a missing GFN to park.c, which notifies the rings and either answers for
 *      KVM (exit, retry, -EAGAIN for a prefetch) or parks the vCPU until the GFN is
 *      resolved and lets KVM's body run in the same exit.
 * Every other fault costs a static branch, a hash lookup and a counter read.
 *
 * A missing GFN never reaches KVM's body, so the host mm never maps a zero page in its
 * place. If the private layout of struct kvm_page_fault (compat.h) turns out wrong, we
 * fail closed: every fault of an attached VM becomes an error exit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/jump_label.h>
#include <linux/kvm_host.h>

#include "compat.h"
#include "kvmuf.h"

/* Bit 0: a fault showed that compat.h's layout does not match this kvm.ko. */
static unsigned long kvmuf_layout_broken;

static u64 kvmuf_fault_gfn(const void *fault)
{
	return *(const u64 *)(fault + kvmuf_kernel->fault_gfn);
}

static struct kvm_memory_slot *kvmuf_fault_slot(const void *fault)
{
	return *(struct kvm_memory_slot * const *)(fault + kvmuf_kernel->fault_slot);
}

static u8 kvmuf_fault_prefetch(const void *fault)
{
	return *(const u8 *)(fault + kvmuf_kernel->fault_prefetch);
}

static u8 *kvmuf_fault_max_level(void *fault)
{
	return fault + kvmuf_kernel->fault_max_level;
}

static u32 kvmuf_fault_access(const void *fault)
{
	u32 error_code = *(const u32 *)(fault + kvmuf_kernel->fault_error_code);

	if (error_code & PFERR_FETCH_MASK)
		return KVMUF_FAULT_EXEC;
	if (error_code & PFERR_WRITE_MASK)
		return KVMUF_FAULT_WRITE;
	return KVMUF_FAULT_READ;
}

/*
 * What we read must make sense with the right layout: the GFN inside the memslot the
 * fault names, prefetch a bool, max_level a page level. Otherwise the offsets do not
 * match this kvm.ko (a stable update moved a field): stop interception closed, not open.
 */
static bool kvmuf_layout_ok(const void *fault, const struct kvm_memory_slot *slot, u64 gfn)
{
	u8 level = *(const u8 *)(fault + kvmuf_kernel->fault_max_level);

	return gfn - slot->base_gfn < slot->npages && kvmuf_fault_prefetch(fault) <= 1 &&
	       level >= PG_LEVEL_4K && level <= PG_LEVEL_1G;
}

static int kvmuf_layout_mismatch(u64 gfn)
{
	if (!test_and_set_bit(0, &kvmuf_layout_broken))
		pr_err("struct kvm_page_fault does not have the layout this module knows (gfn %llx outside its memslot): every fault of an attached VM now fails\n",
		       gfn);
	return -EFAULT;
}

/* At most 4 KiB while a GFN of the 2 MiB frame is missing, 2 MiB while one of the 1 GiB. */
static void kvmuf_clamp_level(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu,
			      const struct kvmuf_range_table *t, void *fault, u64 gfn)
{
	u8 *max_level = kvmuf_fault_max_level(fault), level = *max_level;

	if (level > PG_LEVEL_4K && kvmuf_ranges_frame_missing(t, gfn, KVMUF_FRAME_2M))
		level = PG_LEVEL_4K;
	else if (level > PG_LEVEL_2M && kvmuf_ranges_frame_missing(t, gfn, KVMUF_FRAME_1G))
		level = PG_LEVEL_2M;
	if (level != *max_level) {
		*max_level = level;
		kvmuf_count(vm, kvmuf_vcpu_slot(vm, vcpu), KVMUF_STAT_CLAMPED, 1);
	}
}

/* Called by kvmuf_faultin_tramp: 0 runs KVM's body, anything else is its return value. */
int kvmuf_faultin_pre(struct kvm_vcpu *vcpu, void *fault)
{
	const struct kvmuf_range_table *t;
	struct kvm_memory_slot *slot;
	struct kvmuf_krange *r;
	struct kvmuf_vm *vm;
	int ret = 0;
	u64 gfn;

	if (!static_branch_unlikely(&kvmuf_vms_present))
		return 0;
	rcu_read_lock();
	vm = kvmuf_vm_find_rcu(vcpu->kvm);
	/* nr_missing never reads below the number of missing bits (see resolve.c). */
	if (!vm || !atomic64_read(&vm->nr_missing))
		goto out_unlock;
	slot = kvmuf_fault_slot(fault);
	gfn = kvmuf_fault_gfn(fault);
	/*
	 * No memslot: MMIO, which KVM emulates without touching memory. KVM's private
	 * memslots (APIC access page, VMX TSS) hold no guest RAM: not ours to page in.
	 */
	if (!slot || slot->id >= KVM_USER_MEM_SLOTS)
		goto out_unlock;
	if (unlikely(!kvmuf_layout_ok(fault, slot, gfn) || test_bit(0, &kvmuf_layout_broken))) {
		ret = kvmuf_layout_mismatch(gfn);
		goto out_unlock;
	}
	t = rcu_dereference(vm->ranges);
	kvmuf_clamp_level(vm, vcpu, t, fault, gfn);
	r = kvmuf_ranges_find(t, gfn);
	if (!r || !kvmuf_range_missing(r, gfn))
		goto out_unlock;
	/*
	 * The slot is being deleted or moved: KVM's body answers that itself before it
	 * touches the host mm (a retry, or -EAGAIN for a prefetch, which holds SRCU and
	 * must not spin against the update), and we must not park on it.
	 */
	if (slot->flags & KVM_MEMSLOT_INVALID)
		goto out_unlock;
	/* Always succeeds while the state is in the table (see kvmuf_vm_unlink()). */
	if (!refcount_inc_not_zero(&vm->refs)) {
		ret = kvmuf_kernel->ret_pf_retry;
		goto out_unlock;
	}
	rcu_read_unlock();
	ret = kvmuf_handle_missing(vm, vcpu, r, gfn, kvmuf_fault_access(fault),
				   kvmuf_fault_prefetch(fault));
	/* Last: once it is dropped, nothing here may sleep (see kvmuf_vm_put()). */
	kvmuf_vm_put(vm);
	return ret;

out_unlock:
	rcu_read_unlock();
	return ret;
}

/*
 * Called by kvmuf_recover_tramp before 7.2 rebuilds huge SPTEs of a memslot in place,
 * with no fault to see them: skip it while a GFN of the slot may be missing. Huge
 * mappings come back through faults, or the next recovery, once the slot is complete.
 */
int kvmuf_recover_pre(struct kvm *kvm, const struct kvm_memory_slot *slot)
{
	struct kvmuf_vm *vm;
	bool skip = false;

	if (!static_branch_unlikely(&kvmuf_vms_present))
		return 0;
	rcu_read_lock();
	vm = kvmuf_vm_find_rcu(kvm);
	if (vm && atomic64_read(&vm->nr_missing))
		skip = kvmuf_ranges_span_missing(rcu_dereference(vm->ranges), slot->base_gfn,
						 slot->npages, KVMUF_FRAME_1G);
	if (skip)
		atomic64_inc(&vm->recoveries_skipped);
	rcu_read_unlock();
	return skip;
}

/*
 * A memslot is being deleted or moved: its INVALID copy is visible and the memslot
 * generation has changed. vCPUs parked on a GFN of it could wait for an install that can
 * no longer happen: wake them all, they see the new generation and retry the fault.
 */
void kvmuf_memslot_flushed(struct kvm *kvm)
{
	struct kvmuf_vm *vm;

	if (!static_branch_unlikely(&kvmuf_vms_present))
		return;
	rcu_read_lock();
	vm = kvmuf_vm_find_rcu(kvm);
	if (vm)
		kvmuf_wake_parked(vm);
	rcu_read_unlock();
}
