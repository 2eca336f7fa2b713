/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels kvm-userfault runs on lives here, behind a named
 * helper; the rest of the module does not test versions. Where a header can tell us
 * (a macro that exists or not), we detect; the layout of KVM's private fault struct
 * cannot be seen from headers: it comes from the running kernel's BTF (layout.c), with
 * a table of the kernels we verified as the fallback and the cross-check.
 */
#ifndef KVMUF_COMPAT_H
#define KVMUF_COMPAT_H

#include <linux/ftrace.h>
#include <linux/kvm_host.h>
#include <linux/mm.h>
#include <linux/uaccess.h>
#include <linux/version.h>

/*
 * struct kvm_page_fault is private to arch/x86/kvm/mmu (mmu_internal.h, not shipped in
 * linux-headers). What the module needs of it and of KVM's private functions is found at
 * load time (layout.c: the kernel's BTF first); this table holds what we verified from
 * the stock kvm.ko BTF of each line (pahole -C kvm_page_fault /sys/kernel/btf/kvm), for
 * kernels without BTF and as a cross-check of it. The hooked function turns a stage-2
 * fault into a host pfn, before mmu_lock is taken; its body reads fault->mmu_seq itself,
 * so the body may run after we slept:
 *   6.1   static int kvm_faultin_pfn(vcpu, fault)
 *   6.12  static int kvm_faultin_pfn(vcpu, fault, unsigned int access)
 *   7.2   static int kvm_mmu_faultin_pfn(vcpu, fault, unsigned int access)
 * 7.2 also rebuilds huge SPTEs without any fault when dirty logging stops
 * (kvm_mmu_recover_huge_pages(kvm, slot), since 6.13), which must not cover a missing GFN.
 * Memslot DELETE and MOVE go through kvm_arch_flush_shadow_memslot(kvm, slot) on every
 * line, once the INVALID copy of the slot is visible.
 */
struct kvmuf_kernel {
	unsigned int version;		/* KERNEL_VERSION(major, minor, 0); 0: not a table entry */
	const char *line;
	const char *hook_symbol;
	const char *recover_symbol;	/* NULL: no in-place huge-page recovery */
	/* offsetof(struct kvm_page_fault, error_code): u32 on 6.1, u64 later (low 32 bits) */
	unsigned int fault_error_code;
	unsigned int fault_prefetch;	/* ... prefetch, bool */
	unsigned int fault_max_level;	/* ... max_level, u8 (enum pg_level) */
	unsigned int fault_gfn;		/* ... gfn, u64 */
	unsigned int fault_slot;	/* ... slot, struct kvm_memory_slot * */
	unsigned int ret_pf_retry;	/* RET_PF_RETRY: KVM re-enters the guest */
	const char *source;		/* where the running kernel's values came from */
};

/* RET_PF_RETRY where BTF cannot say: 1 on every line we know. */
#define KVMUF_RET_PF_RETRY	1

#define KVMUF_FLUSH_MEMSLOT_SYMBOL	"kvm_arch_flush_shadow_memslot"
#define KVMUF_RECOVER_SYMBOL		"kvm_mmu_recover_huge_pages"

static const struct kvmuf_kernel kvmuf_known_kernels[] = {
	{ KERNEL_VERSION(6, 1, 0), "6.1", "kvm_faultin_pfn", NULL, 8, 12, 21, 24, 32,
	  KVMUF_RET_PF_RETRY },
	{ KERNEL_VERSION(6, 12, 0), "6.12", "kvm_faultin_pfn", NULL, 8, 16, 26, 32, 40,
	  KVMUF_RET_PF_RETRY },
	{ KERNEL_VERSION(7, 2, 0), "7.2", "kvm_mmu_faultin_pfn", KVMUF_RECOVER_SYMBOL,
	  8, 16, 26, 32, 40, KVMUF_RET_PF_RETRY },
};

/* The running kernel's table entry, or NULL if we have not verified this kernel line. */
static inline const struct kvmuf_kernel *kvmuf_compat_kernel(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(kvmuf_known_kernels); i++)
		if (kvmuf_known_kernels[i].version == (LINUX_VERSION_CODE & ~0xffU))
			return &kvmuf_known_kernels[i];
	return NULL;
}

/* ftrace: 6.1's ftrace_regs wraps pt_regs openly; later kernels give accessors. */
static inline unsigned long kvmuf_fregs_arg(struct ftrace_regs *fregs, unsigned int n)
{
#ifdef ftrace_regs_get_argument
	return ftrace_regs_get_argument(fregs, n);
#else
	return regs_get_kernel_argument(&fregs->regs, n);
#endif
}

/*
 * ftrace direct calls (module/tramp.S): the ops-based API is register_ftrace_direct_multi()
 * before 6.6 and register_ftrace_direct() since (detected by module/conftest.sh). ops must
 * have its filter set (ftrace_set_filter_ip) and no func.
 */
static inline int kvmuf_register_direct(struct ftrace_ops *ops, void *tramp)
{
#ifdef KVMUF_HAVE_FTRACE_DIRECT_MULTI
	return register_ftrace_direct_multi(ops, (unsigned long)tramp);
#else
	return register_ftrace_direct(ops, (unsigned long)tramp);
#endif
}

/* Also frees the filter; waits for every task to leave the trampoline (RCU tasks). */
static inline void kvmuf_unregister_direct(struct ftrace_ops *ops, void *tramp)
{
#ifdef KVMUF_HAVE_FTRACE_DIRECT_MULTI
	unregister_ftrace_direct_multi(ops, (unsigned long)tramp);
	ftrace_free_filter(ops);
#else
	unregister_ftrace_direct(ops, (unsigned long)tramp, true);
#endif
}

/*
 * The generation of the memslots the vCPU sees (its address space: SMM or not), read
 * without kvm->srcu: the memslot sets are arrays inside struct kvm (since 5.17), so the
 * pointer always points at live memory; only the slots it indexes need SRCU. Any change
 * of any memslot bumps the generation.
 */
static inline u64 kvmuf_memslots_generation(struct kvm_vcpu *vcpu)
{
	struct kvm_memslots *slots;

	slots = rcu_dereference_raw(vcpu->kvm->memslots[kvm_arch_vcpu_memslots_id(vcpu)]);
	return READ_ONCE(slots->generation);
}

/*
 * KVM_EXIT_MEMORY_FAULT (6.8+) tells the VMM which GFN made KVM_RUN fail with EFAULT.
 * Older kernels return a bare EFAULT and leave kvm_run alone afterwards, so we fill it
 * in the 6.8 layout ourselves: exit_reason 39 and {flags, gpa, size} at the start of
 * the exit union. A VMM then reads the GFN the same way on every kernel.
 */
#ifdef KVM_EXIT_MEMORY_FAULT
static inline void kvmuf_prepare_memory_fault_exit(struct kvm_vcpu *vcpu, u64 gfn,
						   bool write, bool exec)
{
	kvm_prepare_memory_fault_exit(vcpu, gfn << PAGE_SHIFT, PAGE_SIZE, write, exec, false);
}

static inline bool kvmuf_native_memory_fault_exit(void)
{
	return true;
}
#else
#define KVMUF_EXIT_MEMORY_FAULT_ABI	39
struct kvmuf_memory_fault_abi {
	__u64 flags;
	__u64 gpa;
	__u64 size;
};

static inline void kvmuf_prepare_memory_fault_exit(struct kvm_vcpu *vcpu, u64 gfn,
						   bool write, bool exec)
{
	struct kvmuf_memory_fault_abi *mf = (void *)&vcpu->run->hw;

	BUILD_BUG_ON(sizeof(*mf) > sizeof(vcpu->run->padding));
	vcpu->run->exit_reason = KVMUF_EXIT_MEMORY_FAULT_ABI;
	mf->flags = 0;
	mf->gpa = gfn << PAGE_SHIFT;
	mf->size = PAGE_SIZE;
}

static inline bool kvmuf_native_memory_fault_exit(void)
{
	return false;
}
#endif

/* get_user_pages_remote() lost its vmas argument in 6.5. */
static inline long kvmuf_gup_remote(struct mm_struct *mm, unsigned long start,
				    unsigned long nr_pages, unsigned int gup_flags,
				    struct page **pages)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
	return get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL, NULL);
#else
	return get_user_pages_remote(mm, start, nr_pages, gup_flags, pages, NULL);
#endif
}

/* ENDBR64 (f3 0f 1e fa): the first instruction of an indirect-branch target under IBT. */
#define KVMUF_ENDBR64	0xfa1e0ff3U

static inline bool kvmuf_is_endbr(unsigned long addr)
{
	u32 insn;

	return !copy_from_kernel_nofault(&insn, (void *)addr, sizeof(insn)) &&
	       insn == KVMUF_ENDBR64;
}

/* Set VM_* flags of a vma being mmapped (6.3 made vm_flags read-only but for this). */
static inline void kvmuf_vma_set_flags(struct vm_area_struct *vma, unsigned long flags)
{
#ifdef KVMUF_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

#endif /* KVMUF_COMPAT_H */
