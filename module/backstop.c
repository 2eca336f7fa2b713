// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-userfault: the fail-closed check behind KVMUF_ADD_RANGE and KVMUF_SET_MISSING.
 *
 * The module holds vCPU stage-2 faults only. KVM's own accesses to guest memory (its
 * emulator, page-table walks, pfn and hva caches, kvm_vcpu_map) and the VMM's go
 * through the VMM's page tables, where a missing page is a zero page; only a
 * userfaultfd on that memory holds them until the page is in (the "backstop", see the
 * uapi header). So unless a range was added KVMUF_RANGE_MODULE_ONLY, every page we make
 * missing must lie in a VMA registered with userfaultfd: checked here, at the time the
 * GFNs become missing, memslot by memslot and VMA by VMA.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/userfaultfd_k.h>

#include "kvmuf.h"

/* [hva, end) of mm lies in VMAs registered with userfaultfd: 0, -EINVAL, -EINTR. */
static int kvmuf_hva_guarded(struct mm_struct *mm, const struct kvm_memory_slot *slot,
			     unsigned long hva, unsigned long end)
{
	while (hva < end) {
		struct vm_area_struct *vma = find_vma(mm, hva);

		if (!vma || vma->vm_start > hva) {
			pr_warn_ratelimited("kvm_userfault: memslot %d: address 0x%lx is not mapped: cannot make its GFNs missing\n",
					    slot->id, hva);
			return -EINVAL;
		}
		if (!userfaultfd_missing(vma) && !userfaultfd_minor(vma)) {
			pr_warn_ratelimited("kvm_userfault: memslot %d: address 0x%lx is not registered with userfaultfd: KVM's and the VMM's accesses to a missing page there would see zeros; register the guest memory (the backstop) or add the range with KVMUF_RANGE_MODULE_ONLY\n",
					    slot->id, hva);
			return -EINVAL;
		}
		hva = vma->vm_end;
		/* Bounded by the VMAs of mm; still, a caller may be killed meanwhile. */
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

int kvmuf_check_backstop(struct kvm *kvm, u64 gfn, u64 npages)
{
	struct mm_struct *mm = kvm->mm;
	struct kvm_memslot_iter iter;
	int idx, ret = 0;

	if (!mmget_not_zero(mm))
		return -ESRCH;		/* the VMM is exiting */
	/* kvm->srcu, then mmap_lock: the order of KVM's own faults. */
	idx = srcu_read_lock(&kvm->srcu);
	if (mmap_read_lock_killable(mm)) {
		ret = -EINTR;
		goto out;
	}
	kvm_for_each_memslot_in_gfn_range(&iter, kvm_memslots(kvm), gfn, gfn + npages) {
		const struct kvm_memory_slot *slot = iter.slot;
		u64 first = max(gfn, slot->base_gfn);
		u64 last = min(gfn + npages, slot->base_gfn + slot->npages);

		/* KVM's private memslots (APIC access page, TSS) hold no guest RAM. */
		if (slot->id >= KVM_USER_MEM_SLOTS)
			continue;
		ret = kvmuf_hva_guarded(mm, slot, __gfn_to_hva_memslot(slot, first),
					__gfn_to_hva_memslot(slot, first) +
					(last - first) * PAGE_SIZE);
		if (ret)
			break;
	}
	mmap_read_unlock(mm);
out:
	srcu_read_unlock(&kvm->srcu, idx);
	mmput(mm);
	return ret;
}
