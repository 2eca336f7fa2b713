// SPDX-License-Identifier: GPL-2.0
/*
 * A vCPU on a missing GFN: notify the daemon through the rings, then exit to the VMM or
 * park until the GFN is resolved; and the wake-ups that end a park.
 *
 * Parking. A vCPU handles a stage-2 fault inside vcpu_run(), holding kvm->srcu through
 * vcpu->srcu_idx. Sleeping with it would stall every SRCU writer of the VM (memslot
 * updates, ioeventfds) until the page arrives, and deadlock a memslot DELETE/MOVE whose
 * GFNs can then no longer be installed. So, as kvm_vcpu_block() does, we drop it while
 * parked and take it again after. The memslot the fault points to is only known to be
 * the same if the memslot generation did not change meanwhile: then KVM's body runs in
 * this exit; otherwise KVM retries the fault. Prefetch faults (async-PF "page ready",
 * KVM_PRE_FAULT_MEMORY, which holds SRCU with an index of its own) never sleep.
 *
 * A park first spins for an adaptive time (as KVM's halt polling does) when recent parks
 * were answered quickly, then sleeps on the vCPU's rcuwait. Resolvers wake exactly the
 * parked vCPUs whose GFN became present; a memslot DELETE/MOVE, a withdrawn notification
 * and detach wake them all, to re-check.
 *
 * Wake-up ordering: the parker publishes parked_gfn and its bit in vm->parked, then (full
 * barrier) tests its condition; a resolver changes the state the condition reads, then
 * (full barrier) reads vm->parked. One of the two sees the other.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kvm_host.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>

#include "compat.h"
#include "kvmuf.h"
#include "trace.h"

static unsigned int park_spin_ns = 50000;
module_param(park_spin_ns, uint, 0644);
MODULE_PARM_DESC(park_spin_ns,
		 "Longest a parked vCPU spins before it sleeps, in ns (adaptive, like KVM's halt polling; 0: never spin)");

/* The first spin budget once spinning would have paid, as halt_poll_ns_grow_start. */
#define KVMUF_SPIN_START_NS	10000U

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

static bool kvmuf_push_once(struct kvmuf_vm *vm, struct kvmuf_kring *ring,
			    const struct kvmuf_fault *f)
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
 * Push one entry. A full ring makes us wait for the consumer (woken by every resolve and
 * poll) when we may sleep, never drop the entry: -EINTR on a signal, -ENODEV on detach;
 * -EAGAIN when full and we may not sleep.
 */
/*
 * Push f, waiting for room if we may sleep. 0 pushed; 1 nothing to push any more: the
 * GFN (bit of r) was resolved while we waited for room (its page came another way,
 * e.g. through the userfaultfd backstop, or a daemon installing ahead); -EAGAIN, -ENODEV
 * or a signal's error otherwise.
 */
static int kvmuf_push(struct kvmuf_vm *vm, struct kvmuf_vcpu_slot *s,
		      const struct kvmuf_fault *f, bool may_sleep, struct kvmuf_krange *r,
		      u64 bit)
{
	struct kvmuf_kring *ring = s ? &s->ring : &vm->vm_ring;
	int ret;

	while (!kvmuf_push_once(vm, ring, f)) {
		if (!may_sleep)
			return -EAGAIN;
		kvmuf_count(vm, s, KVMUF_STAT_RING_WAITS, 1);
		ret = wait_event_interruptible(vm->space_wq, !kvmuf_kring_full(ring) ||
					       READ_ONCE(vm->detached) ||
					       !test_bit(bit, r->missing));
		if (ret)
			return ret;
		if (READ_ONCE(vm->detached))
			return -ENODEV;
		if (!test_bit(bit, r->missing))
			return 1;
	}
	kvmuf_notify_consumers(vm);
	return 0;
}

/*
 * One ring entry per missing GFN: the first vCPU to fault on it pushes, the others find
 * `notified` set and only count as deduped. If the push fails, the bit is cleared again
 * and the vCPUs that parked on the strength of it are woken to notify for themselves.
 */
static int kvmuf_notify(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu, struct kvmuf_vcpu_slot *s,
			struct kvmuf_krange *r, u64 gfn, u32 flags, bool may_sleep)
{
	struct kvmuf_fault f = {
		.gfn = gfn,
		.time_ns = ktime_get_ns(),
		.vcpu = vcpu->vcpu_idx,
		.flags = flags,
	};
	u64 bit = kvmuf_range_bit(r, gfn);
	int ret;

	if (test_and_set_bit(bit, r->notified)) {
		kvmuf_count(vm, s, KVMUF_STAT_DEDUPED, 1);
		trace_kvmuf_fault(vm->kvm, vcpu->vcpu_idx, gfn, flags, false);
		return 0;
	}
	ret = kvmuf_push(vm, s, &f, may_sleep, r, bit);
	if (ret > 0)
		return 0;	/* resolved meanwhile: the RESOLVE cleared notified */
	if (ret) {
		clear_bit(bit, r->notified);
		kvmuf_wake_parked(vm);
		return ret;
	}
	kvmuf_count(vm, s, KVMUF_STAT_FAULTS, 1);
	trace_kvmuf_fault(vm->kvm, vcpu->vcpu_idx, gfn, flags, true);
	return 0;
}

/* KVM_RUN returns -EFAULT for gfn; the VMM reads the GFN from kvm_run or the ring. */
static int kvmuf_exit_to_vmm(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu,
			     struct kvmuf_vcpu_slot *s, u64 gfn, u32 flags)
{
	struct kvmuf_ring_header *hdr = kvmuf_vm_ring_header(vm, s ? s - vm->slots + 1 : 0);

	WRITE_ONCE(hdr->exit_gfn, gfn);
	WRITE_ONCE(hdr->exit_flags, flags);
	smp_wmb();	/* a reader that sees the new exit_seq sees the GFN */
	WRITE_ONCE(hdr->exit_seq, READ_ONCE(hdr->exit_seq) + 1);	/* user-writable */
	kvmuf_prepare_memory_fault_exit(vcpu, gfn, flags & KVMUF_FAULT_WRITE,
					flags & KVMUF_FAULT_EXEC);
	kvmuf_count(vm, s, KVMUF_STAT_EXITS, 1);
	trace_kvmuf_exit(vm->kvm, vcpu->vcpu_idx, gfn, flags);
	return -EFAULT;
}

/*
 * The GFN's bit, with acquire order: a vCPU that sees it clear sees the data the
 * resolver installed before clearing it (test_and_clear_bit() is fully ordered).
 */
static bool kvmuf_range_missing_acquire(const struct kvmuf_krange *r, u64 gfn)
{
	return test_bit_acquire(kvmuf_range_bit(r, gfn), r->missing);
}

/*
 * A park ends when the GFN is present, when nobody will notify for it any more (the push
 * failed, or SET_MISSING re-armed it: the caller retries and notifies again), on detach,
 * when the memslots changed, or on a signal (rcuwait's TASK_INTERRUPTIBLE).
 */
static bool kvmuf_park_done(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu, struct kvmuf_krange *r,
			    u64 gfn, u64 gen)
{
	return !kvmuf_range_missing_acquire(r, gfn) ||
	       !test_bit(kvmuf_range_bit(r, gfn), r->notified) ||
	       READ_ONCE(vm->detached) || kvmuf_memslots_generation(vcpu) != gen;
}

/*
 * Halt-polling's rule for the next spin: a park answered within park_spin_ns would have
 * been caught by a long enough spin, so grow the budget (from 10 us, doubling); a longer
 * one shows that spinning does not pay here, so stop spinning.
 */
static void kvmuf_spin_adjust(struct kvmuf_vcpu_slot *s, u64 waited_ns, bool caught)
{
	unsigned int max = READ_ONCE(park_spin_ns);
	u64 budget = s->spin_ns;

	if (waited_ns > max)
		budget = 0;
	else if (!caught)
		budget = min_t(u64, max, max_t(u64, budget * 2, min(KVMUF_SPIN_START_NS, max)));
	s->spin_ns = budget;
}

/*
 * Spin up to the vCPU's budget; true if the park ended meanwhile. As KVM's halt polling
 * (kvm_vcpu_can_poll()), only while nothing else wants this CPU: a spin must never
 * delay another vCPU, or the server, sharing it.
 */
static bool kvmuf_park_spin(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu,
			    struct kvmuf_vcpu_slot *s, struct kvmuf_krange *r, u64 gfn, u64 gen,
			    u64 start)
{
	u64 budget = min_t(u64, s->spin_ns, READ_ONCE(park_spin_ns));

	if (!budget)
		return false;
	while (!kvmuf_park_done(vm, vcpu, r, gfn, gen)) {
		if (ktime_get_ns() - start >= budget || need_resched() ||
		    !single_task_running() || signal_pending(current))
			return false;
		cpu_relax();
	}
	return true;
}

static void kvmuf_park(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu, struct kvmuf_vcpu_slot *s,
		       struct kvmuf_krange *r, u64 gfn, u64 gen)
{
	u64 start = ktime_get_ns(), end, resolved;
	u32 idx;
	bool caught;

	kvmuf_count(vm, s, KVMUF_STAT_PARKS, 1);
	if (!s) {
		/* A vCPU without a ring of its own: the VM-wide queue, no spinning. */
		wait_event_interruptible(vm->park_wq, kvmuf_park_done(vm, vcpu, r, gfn, gen));
		end = ktime_get_ns();
		kvmuf_count(vm, s, KVMUF_STAT_PARK_NS, end - start);
		kvmuf_count(vm, s, KVMUF_STAT_PARK_HIST + kvmuf_park_bucket(end - start), 1);
		trace_kvmuf_park(vm->kvm, vcpu->vcpu_idx, gfn, end - start, false);
		return;
	}
	idx = s - vm->slots;
	WRITE_ONCE(s->resolved_ns, 0);
	WRITE_ONCE(s->parked_gfn, gfn);
	set_bit(idx, vm->parked);
	smp_mb__after_atomic();	/* parked before the condition; see the comment at the top */
	caught = kvmuf_park_spin(vm, vcpu, s, r, gfn, gen, start);
	if (!caught)
		rcuwait_wait_event(&s->wait, kvmuf_park_done(vm, vcpu, r, gfn, gen),
				   TASK_INTERRUPTIBLE);
	clear_bit(idx, vm->parked);
	WRITE_ONCE(s->parked_gfn, KVMUF_NO_GFN);

	end = ktime_get_ns();
	kvmuf_spin_adjust(s, end - start, caught);
	kvmuf_count(vm, s, KVMUF_STAT_PARK_NS, end - start);
	kvmuf_count(vm, s, KVMUF_STAT_PARK_HIST + kvmuf_park_bucket(end - start), 1);
	trace_kvmuf_park(vm->kvm, vcpu->vcpu_idx, gfn, end - start, caught);
	resolved = READ_ONCE(s->resolved_ns);
	if (resolved && end > resolved)
		kvmuf_count(vm, s, KVMUF_STAT_WAKE_NS, end - resolved);
	if (caught)
		kvmuf_count(vm, s, KVMUF_STAT_SPIN_HITS, 1);
}

/*
 * A vCPU (or a prefetch) touched gfn, missing in r. Returns the hooked function's
 * verdict: 0 to let KVM's body map the page now, or what KVM should see instead.
 */
int kvmuf_handle_missing(struct kvmuf_vm *vm, struct kvm_vcpu *vcpu, struct kvmuf_krange *r,
			 u64 gfn, u32 flags, bool prefetch)
{
	struct kvmuf_vcpu_slot *s = kvmuf_vcpu_slot(vm, vcpu);
	bool exit_mode = vm->flags & KVMUF_ATTACH_EXIT;
	u64 gen;
	int ret;

	if (prefetch) {
		/* Nobody waits for a prefetch: the entry is only a hint, -EAGAIN the answer. */
		if (!kvmuf_vm_detached(vm))
			kvmuf_notify(vm, vcpu, s, r, gfn, flags, false);
		return -EAGAIN;
	}
	if (kvmuf_vm_detached(vm))
		return kvmuf_exit_to_vmm(vm, vcpu, s, gfn, flags | KVMUF_EXIT_DETACHED);

	/*
	 * A memslot update that swapped the arrays after KVM looked fault->slot up is still
	 * waiting for our SRCU read side: the generation we read then carries the in-progress
	 * bit, and fault->slot may be the old copy, freed once we let go. Never continue
	 * from such a snapshot: after the park KVM faults again.
	 */
	gen = kvmuf_memslots_generation(vcpu);
	kvm_vcpu_srcu_read_unlock(vcpu);
	ret = kvmuf_notify(vm, vcpu, s, r, gfn, flags, true);
	if (!ret && !exit_mode)
		kvmuf_park(vm, vcpu, s, r, gfn, gen);
	kvm_vcpu_srcu_read_lock(vcpu);

	if (ret == -ENODEV || (kvmuf_range_missing(r, gfn) && READ_ONCE(vm->detached)))
		return kvmuf_exit_to_vmm(vm, vcpu, s, gfn, flags | KVMUF_EXIT_DETACHED);
	if (ret)	/* a signal: KVM_RUN exits for it, the next fault notifies again */
		return kvmuf_kernel->ret_pf_retry;
	if (exit_mode)
		return kvmuf_exit_to_vmm(vm, vcpu, s, gfn, flags);
	/* Still missing (signal, withdrawn notification) or other memslots: fault again. */
	if (kvmuf_range_missing_acquire(r, gfn) || (gen & KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS) ||
	    kvmuf_memslots_generation(vcpu) != gen)
		return kvmuf_kernel->ret_pf_retry;
	kvmuf_count(vm, s, KVMUF_STAT_CONTINUED, 1);
	return 0;
}

/*
 * Wake exactly the parked vCPUs whose GFN is no longer missing. Called after the bits
 * were cleared; also lets waiters for KVMUF_WAIT and for ring space look again.
 */
void kvmuf_wake_resolved(struct kvmuf_vm *vm)
{
	unsigned long i;
	u64 now = 0;

	smp_mb();	/* cleared bits before the parked reads; see the comment at the top */
	for_each_set_bit(i, vm->parked, vm->nr_vcpu_rings) {
		struct kvmuf_vcpu_slot *s = &vm->slots[i];
		u64 gfn = READ_ONCE(s->parked_gfn);

		if (gfn == KVMUF_NO_GFN || kvmuf_vm_gfn_missing(vm, gfn))
			continue;
		if (!now)
			now = ktime_get_ns();
		WRITE_ONCE(s->resolved_ns, now);
		rcuwait_wake_up(&s->wait);
	}
	if (wq_has_sleeper(&vm->park_wq))
		wake_up_all(&vm->park_wq);
	if (wq_has_sleeper(&vm->wait_wq))
		wake_up_all(&vm->wait_wq);
	/* A consumer that resolves has usually consumed too: producers may have room. */
	if (wq_has_sleeper(&vm->space_wq))
		wake_up_all(&vm->space_wq);
}

/*
 * In the middle of a long batch: wake the vCPUs already served, if any is parked, rather
 * than at the end of the batch. An optimisation only: the caller's kvmuf_wake_resolved()
 * at the end (with its full barrier) is what guarantees no parked vCPU is missed.
 */
void kvmuf_wake_resolved_early(struct kvmuf_vm *vm)
{
	if (find_first_bit(vm->parked, vm->nr_vcpu_rings) < vm->nr_vcpu_rings ||
	    wq_has_sleeper(&vm->park_wq))
		kvmuf_wake_resolved(vm);
}

/* Wake every parked vCPU, to re-check its condition (memslots, notification). */
void kvmuf_wake_parked(struct kvmuf_vm *vm)
{
	unsigned long i;

	smp_mb();	/* the state change before the parked reads */
	for_each_set_bit(i, vm->parked, vm->nr_vcpu_rings)
		rcuwait_wake_up(&vm->slots[i].wait);
	if (wq_has_sleeper(&vm->park_wq))
		wake_up_all(&vm->park_wq);
}
