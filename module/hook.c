// SPDX-License-Identifier: GPL-2.0
/*
 * The interception. An ftrace IPMODIFY hook on KVM's stage-2 fault-in function (see
 * compat.h) looks at every fault before KVM asks the host mm for a page. For a VM that
 * is attached and a GFN that is missing, it redirects the call to kvmuf_missing_fault(),
 * which has the same signature, and which:
 *   - pushes one notification per missing GFN to the vCPU's ring (dedup by a bit),
 *   - park mode: sleeps until the GFN is resolved, then returns RET_PF_RETRY so KVM
 *     re-enters the guest, which faults again and now takes KVM's normal path;
 *   - exit mode, or when nobody will resolve any more: makes KVM_RUN return -EFAULT
 *     (with KVM_EXIT_MEMORY_FAULT where the kernel has it) naming the GFN.
 * KVM's original function is never called from here, so the host mm never sees a
 * missing GFN: no zero page is mapped in its place. Everything else costs the callback
 * a static branch, a hash lookup and a bit test.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ftrace.h>
#include <linux/jump_label.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/utsname.h>

#include "compat.h"
#include "kvmuf.h"

DECLARE_STATIC_KEY_FALSE(kvmuf_vms_present);

static const struct kvmuf_kernel *kvmuf_kernel;

static u64 kvmuf_fault_gfn(const void *fault)
{
	return *(const u64 *)(fault + kvmuf_kernel->fault_gfn);
}

static const struct kvm_memory_slot *kvmuf_fault_slot(const void *fault)
{
	return *(const struct kvm_memory_slot * const *)(fault + kvmuf_kernel->fault_slot);
}

static u32 kvmuf_fault_access(const void *fault)
{
	u32 error_code = *(const u32 *)(fault + KVMUF_FAULT_ERROR_CODE);

	if (error_code & PFERR_FETCH_MASK)
		return KVMUF_FAULT_EXEC;
	if (error_code & PFERR_WRITE_MASK)
		return KVMUF_FAULT_WRITE;
	return KVMUF_FAULT_READ;
}

/*
 * Called from the ftrace callback, preemption off: must not sleep. Reading the private
 * fault struct is checked against the public memslot it points to, so a layout that does
 * not match the table in compat.h turns into a warning, not a wrong GFN.
 */
static notrace bool kvmuf_fault_is_missing(const struct kvm *kvm, const void *fault)
{
	const struct kvm_memory_slot *slot = kvmuf_fault_slot(fault);
	u64 gfn = kvmuf_fault_gfn(fault);
	struct kvmuf_range_table *t;
	struct kvmuf_krange *r;
	struct kvmuf_vm *vm;

	vm = kvmuf_vm_find_rcu(kvm);
	if (!vm)
		return false;
	t = rcu_dereference_sched(vm->ranges);
	r = kvmuf_ranges_find(t, gfn);
	if (!r || !kvmuf_range_missing(r, gfn))
		return false;
	/* No memslot: MMIO, which KVM emulates without touching memory. */
	if (!slot)
		return false;
	if (WARN_ONCE(gfn - slot->base_gfn >= slot->npages,
		      "kvm_page_fault layout mismatch: gfn %llx outside its memslot\n", gfn))
		return false;
	return true;
}

static int kvmuf_missing_fault(struct kvm_vcpu *vcpu, void *fault);

static void notrace kvmuf_ftrace_handler(unsigned long ip, unsigned long parent_ip,
					 struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct kvm_vcpu *vcpu;
	void *fault;

	if (!static_branch_unlikely(&kvmuf_vms_present))
		return;
	vcpu = (struct kvm_vcpu *)kvmuf_fregs_arg(fregs, 0);
	fault = (void *)kvmuf_fregs_arg(fregs, 1);
	rcu_read_lock_sched_notrace();
	if (kvmuf_fault_is_missing(vcpu->kvm, fault))
		kvmuf_fregs_redirect(fregs, (unsigned long)kvmuf_missing_fault);
	rcu_read_unlock_sched_notrace();
}

static struct ftrace_ops kvmuf_ftrace_ops = {
	.func = kvmuf_ftrace_handler,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY,
};

/* Wake a consumer sleeping in poll(), only if one is (the need-wakeup flag). */
void kvmuf_notify_consumers(struct kvmuf_vm *vm)
{
	/* Our tail store before the flag load; pairs with the barrier in poll(). */
	smp_mb();
	if (READ_ONCE(vm->need_wakeup) && xchg(&vm->need_wakeup, 0)) {
		WRITE_ONCE(kvmuf_vm_ring_header(vm, 0)->need_wakeup, 0);
		wake_up_interruptible_poll(&vm->poll_wq, EPOLLIN | EPOLLRDNORM);
	}
}

static bool kvmuf_push(struct kvmuf_vm *vm, struct kvmuf_kring *ring, const struct kvmuf_fault *f)
{
	bool pushed;

	if (ring != &vm->vm_ring)
		return kvmuf_kring_push(ring, f);
	spin_lock(&vm->vm_ring_lock);
	pushed = kvmuf_kring_push(ring, f);
	spin_unlock(&vm->vm_ring_lock);
	return pushed;
}

/*
 * Push one notification; a full ring makes us wait for the consumer (woken by every
 * resolve and poll), never drop the fault. -EINTR on a signal, -ENODEV on detach.
 */
static int kvmuf_notify(struct kvmuf_vm *vm, struct kvmuf_kring *ring, const struct kvmuf_fault *f)
{
	int ret;

	while (!kvmuf_push(vm, ring, f)) {
		atomic64_inc(&vm->stats.ring_waits);
		ret = wait_event_interruptible(vm->space_wq, !kvmuf_kring_full(ring) ||
					       READ_ONCE(vm->detached));
		if (ret)
			return ret;
		if (READ_ONCE(vm->detached))
			return -ENODEV;
	}
	kvmuf_notify_consumers(vm);
	return 0;
}

/* KVM_RUN returns -EFAULT for gfn; the VMM reads the GFN from kvm_run or the ring. */
static int kvmuf_exit_to_vmm(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu, u32 ring_idx,
			     u64 gfn, u32 flags)
{
	struct kvmuf_ring_header *hdr = kvmuf_vm_ring_header(vm, ring_idx);

	WRITE_ONCE(hdr->exit_gfn, gfn);
	WRITE_ONCE(hdr->exit_flags, flags);
	smp_wmb();	/* a reader that sees the new exit_seq sees the GFN */
	WRITE_ONCE(hdr->exit_seq, hdr->exit_seq + 1);
	kvmuf_prepare_memory_fault_exit(vcpu, gfn, flags & KVMUF_FAULT_WRITE,
					flags & KVMUF_FAULT_EXEC);
	atomic64_inc(&vm->stats.exits);
	return -EFAULT;
}

/* Sleep until gfn is resolved, the VM detaches, or a signal arrives. */
static void kvmuf_park(struct kvmuf_vm *vm, struct kvmuf_vcpu_slot *slot,
		       struct kvmuf_krange *r, u64 gfn)
{
	atomic64_inc(&vm->stats.parks);
	if (!slot) {
		wait_event_interruptible(vm->park_wq, !kvmuf_range_missing(r, gfn) ||
					 READ_ONCE(vm->detached));
		return;
	}
	/*
	 * The resolver clears the bit, then (full barrier) reads parked_gfn; we publish
	 * parked_gfn, then (full barrier in set_current_state) test the bit. One of us sees
	 * the other, so a wakeup cannot be lost.
	 */
	WRITE_ONCE(slot->parked_gfn, gfn);
	rcuwait_wait_event(&slot->wait, !kvmuf_range_missing(r, gfn) || READ_ONCE(vm->detached),
			   TASK_INTERRUPTIBLE);
	WRITE_ONCE(slot->parked_gfn, KVMUF_NO_GFN);
}

static int kvmuf_handle_missing(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu, u64 gfn, u32 flags)
{
	u32 ring_idx = vcpu->vcpu_idx < vm->nr_vcpu_rings ? vcpu->vcpu_idx + 1 : 0;
	struct kvmuf_vcpu_slot *slot = ring_idx ? &vm->slots[ring_idx - 1] : NULL;
	struct kvmuf_kring *ring = slot ? &slot->ring : &vm->vm_ring;
	struct kvmuf_krange *r = kvmuf_vm_range(vm, gfn);
	u64 bit;
	int ret;

	if (!r || !kvmuf_range_missing(r, gfn))
		return KVMUF_RET_PF_RETRY;	/* resolved since the hook looked */
	if (READ_ONCE(vm->detached))
		return kvmuf_exit_to_vmm(vm, vcpu, ring_idx, gfn, flags | KVMUF_EXIT_DETACHED);

	bit = gfn - r->gfn;
	if (!test_and_set_bit(bit, r->notified)) {
		struct kvmuf_fault f = {
			.gfn = gfn,
			.time_ns = ktime_get_ns(),
			.vcpu = vcpu->vcpu_idx,
			.flags = flags,
		};

		ret = kvmuf_notify(vm, ring, &f);
		if (ret == -ENODEV)
			return kvmuf_exit_to_vmm(vm, vcpu, ring_idx, gfn,
						 flags | KVMUF_EXIT_DETACHED);
		if (ret) {
			/* A signal: KVM_RUN exits for it; the retry notifies again. */
			clear_bit(bit, r->notified);
			return KVMUF_RET_PF_RETRY;
		}
		atomic64_inc(&vm->stats.faults);
	} else {
		atomic64_inc(&vm->stats.deduped);
	}

	if (vm->flags & KVMUF_ATTACH_EXIT)
		return kvmuf_exit_to_vmm(vm, vcpu, ring_idx, gfn, flags);

	kvmuf_park(vm, slot, r, gfn);
	if (kvmuf_range_missing(r, gfn) && READ_ONCE(vm->detached))
		return kvmuf_exit_to_vmm(vm, vcpu, ring_idx, gfn, flags | KVMUF_EXIT_DETACHED);
	/* Resolved, or a signal is pending: either way KVM retries or exits for it. */
	return KVMUF_RET_PF_RETRY;
}

/*
 * The hooked function's stand-in (same arguments on every kernel, see compat.h). It
 * looks the VM up again: the callback holds nothing across the redirect, and the VM may
 * have been detached and freed since; then KVM simply retries.
 */
static int kvmuf_missing_fault(struct kvm_vcpu *vcpu, void *fault)
{
	struct kvmuf_vm *vm = kvmuf_vm_get(vcpu->kvm);
	int ret;

	if (!vm)
		return KVMUF_RET_PF_RETRY;
	ret = kvmuf_handle_missing(vm, vcpu, kvmuf_fault_gfn(fault), kvmuf_fault_access(fault));
	kvmuf_vm_put(vm);
	return ret;
}

int kvmuf_hook_init(void)
{
	unsigned long target;
	int ret;

	kvmuf_kernel = kvmuf_compat_kernel();
	if (!kvmuf_kernel) {
		pr_err("kernel %s is not one kvm-userfault knows (6.1, 6.12, 7.2): the layout of KVM's private struct kvm_page_fault has not been verified for it\n",
		       utsname()->release);
		return -EOPNOTSUPP;
	}
	target = kvmuf_lookup_symbol(kvmuf_kernel->hook_symbol);
	if (!target) {
		pr_err("cannot find %s in kvm.ko (kernel line %s)\n",
		       kvmuf_kernel->hook_symbol, kvmuf_kernel->line);
		return -ENOENT;
	}
	ret = ftrace_set_filter_ip(&kvmuf_ftrace_ops, target, 0, 0);
	if (ret) {
		pr_err("cannot trace %s: %d (is it ftrace-able on this build?)\n",
		       kvmuf_kernel->hook_symbol, ret);
		return ret;
	}
	ret = register_ftrace_function(&kvmuf_ftrace_ops);
	if (ret == -EBUSY)
		pr_err("%s is already modified by another ftrace user (livepatch, or a kprobe that changes the IP): refusing to load\n",
		       kvmuf_kernel->hook_symbol);
	else if (ret)
		pr_err("cannot hook %s: %d\n", kvmuf_kernel->hook_symbol, ret);
	if (ret) {
		ftrace_set_filter_ip(&kvmuf_ftrace_ops, target, 1, 0);
		return ret;
	}
	pr_info("hooked %s (kernel line %s, KVM_EXIT_MEMORY_FAULT %s)\n",
		kvmuf_kernel->hook_symbol, kvmuf_kernel->line,
		kvmuf_native_memory_fault_exit() ? "from KVM" : "filled in by kvm_userfault");
	return 0;
}

/*
 * After unregistering, ftrace waits for every task to leave the trampoline and the
 * callback (RCU tasks), so no vCPU is on its way into kvmuf_missing_fault(). None can be
 * parked in it: each VM state holds a module reference.
 */
void kvmuf_hook_exit(void)
{
	unregister_ftrace_function(&kvmuf_ftrace_ops);
	ftrace_free_filter(&kvmuf_ftrace_ops);
}
