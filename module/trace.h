/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of kvm-userfault (events/kvm_userfault/ in tracefs; perf and trace-cmd use
 * them as kvm_userfault:NAME). A VM is named by the pid of the process that created it,
 * as KVM's own debugfs does.
 *
 *   kvmuf_fault    a vCPU touched a missing GFN: a new ring entry, or a dedup
 *   kvmuf_park     a vCPU's park ended, after how long, and whether its spin caught it
 *   kvmuf_exit     KVM_RUN returns to the VMM for a missing GFN (exit mode, or detached)
 *   kvmuf_resolve  one batched SET_MISSING / RESOLVE / RESOLVE_COPY and what it did
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvm_userfault

#if !defined(KVMUF_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KVMUF_TRACE_H

#include <linux/kvm_host.h>
#include <linux/tracepoint.h>

TRACE_EVENT(kvmuf_fault,
	TP_PROTO(const struct kvm *kvm, u32 vcpu, u64 gfn, u32 flags, bool notified),
	TP_ARGS(kvm, vcpu, gfn, flags, notified),
	TP_STRUCT__entry(
		__field(pid_t, pid)
		__field(u32, vcpu)
		__field(u64, gfn)
		__field(u32, flags)
		__field(bool, notified)
	),
	TP_fast_assign(
		__entry->pid = kvm->userspace_pid;
		__entry->vcpu = vcpu;
		__entry->gfn = gfn;
		__entry->flags = flags;
		__entry->notified = notified;
	),
	TP_printk("vm %d vcpu %u gfn 0x%llx flags 0x%x %s", __entry->pid, __entry->vcpu,
		  __entry->gfn, __entry->flags, __entry->notified ? "notified" : "deduped")
);

TRACE_EVENT(kvmuf_park,
	TP_PROTO(const struct kvm *kvm, u32 vcpu, u64 gfn, u64 ns, bool spin_hit),
	TP_ARGS(kvm, vcpu, gfn, ns, spin_hit),
	TP_STRUCT__entry(
		__field(pid_t, pid)
		__field(u32, vcpu)
		__field(u64, gfn)
		__field(u64, ns)
		__field(bool, spin_hit)
	),
	TP_fast_assign(
		__entry->pid = kvm->userspace_pid;
		__entry->vcpu = vcpu;
		__entry->gfn = gfn;
		__entry->ns = ns;
		__entry->spin_hit = spin_hit;
	),
	TP_printk("vm %d vcpu %u gfn 0x%llx parked %llu ns%s", __entry->pid, __entry->vcpu,
		  __entry->gfn, __entry->ns, __entry->spin_hit ? " (spin)" : "")
);

TRACE_EVENT(kvmuf_exit,
	TP_PROTO(const struct kvm *kvm, u32 vcpu, u64 gfn, u32 flags),
	TP_ARGS(kvm, vcpu, gfn, flags),
	TP_STRUCT__entry(
		__field(pid_t, pid)
		__field(u32, vcpu)
		__field(u64, gfn)
		__field(u32, flags)
	),
	TP_fast_assign(
		__entry->pid = kvm->userspace_pid;
		__entry->vcpu = vcpu;
		__entry->gfn = gfn;
		__entry->flags = flags;
	),
	TP_printk("vm %d vcpu %u gfn 0x%llx flags 0x%x", __entry->pid, __entry->vcpu,
		  __entry->gfn, __entry->flags)
);

/* What kvmuf_resolve traces: one of the batched ioctls. */
#define KVMUF_TRACE_SET_MISSING		0
#define KVMUF_TRACE_RESOLVE		1
#define KVMUF_TRACE_RESOLVE_COPY	2

TRACE_EVENT(kvmuf_resolve,
	TP_PROTO(const struct kvm *kvm, unsigned int op, u64 changed, u64 unchanged, u64 busy,
		 int ret),
	TP_ARGS(kvm, op, changed, unchanged, busy, ret),
	TP_STRUCT__entry(
		__field(pid_t, pid)
		__field(unsigned int, op)
		__field(u64, changed)
		__field(u64, unchanged)
		__field(u64, busy)
		__field(int, ret)
	),
	TP_fast_assign(
		__entry->pid = kvm->userspace_pid;
		__entry->op = op;
		__entry->changed = changed;
		__entry->unchanged = unchanged;
		__entry->busy = busy;
		__entry->ret = ret;
	),
	TP_printk("vm %d %s changed %llu unchanged %llu busy %llu ret %d", __entry->pid,
		  __print_symbolic(__entry->op, { KVMUF_TRACE_SET_MISSING, "set_missing" },
				   { KVMUF_TRACE_RESOLVE, "resolve" },
				   { KVMUF_TRACE_RESOLVE_COPY, "resolve_copy" }),
		  __entry->changed, __entry->unchanged, __entry->busy,
		  __entry->ret)
);

#endif /* KVMUF_TRACE_H */

/* This part must be outside the include guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
