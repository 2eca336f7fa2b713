// SPDX-License-Identifier: GPL-2.0
/*
 * What is attached, for people and tools (kvmuf-ctl status), without an ioctl:
 *
 *   /proc/PID/fdinfo/FD   of a device or waiter fd: "kvmuf-NAME:\tVALUE" lines, as
 *                         userfaultfd shows its state there
 *   debugfs kvm-userfault/vms
 *                         one line per VM state, attached or orphaned: "NAME VALUE"
 *                         pairs (root only, as debugfs is)
 *
 * Both print the same names: vm (the pid that created the VM, as KVM's debugfs names
 * VMs), state, mode, rings, ring_entries, missing, the counters of struct kvmuf_stats,
 * and park_hist (its KVMUF_PARK_HIST_BUCKETS buckets, comma-separated).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "kvmuf.h"

/* One "name value" pair: fdinfo's "kvmuf-name:\tvalue\n", or " name value". */
static void kvmuf_show_pair(struct seq_file *m, bool fdinfo, const char *name,
			    unsigned long long v)
{
	if (fdinfo)
		seq_printf(m, "kvmuf-%s:\t%llu\n", name, v);
	else
		seq_printf(m, " %s %llu", name, v);
}

static void kvmuf_show_str(struct seq_file *m, bool fdinfo, const char *name, const char *v)
{
	if (fdinfo)
		seq_printf(m, "kvmuf-%s:\t%s\n", name, v);
	else
		seq_printf(m, " %s %s", name, v);
}

/* Everything about vm, as pairs. */
void kvmuf_vm_show(struct seq_file *m, struct kvmuf_vm *vm, bool fdinfo)
{
	struct kvmuf_stats st;
	const struct {
		const char *name;
		const u64 *v;
	} counters[] = {
		{ "faults", &st.faults }, { "deduped", &st.deduped }, { "parks", &st.parks },
		{ "exits", &st.exits }, { "resolved", &st.resolved },
		{ "ring_waits", &st.ring_waits }, { "park_ns", &st.park_ns },
		{ "wake_ns", &st.wake_ns }, { "spin_hits", &st.spin_hits },
		{ "continued", &st.continued }, { "clamped", &st.clamped },
		{ "recoveries_skipped", &st.recoveries_skipped },
	};
	unsigned int i;

	kvmuf_vm_stats(vm, &st);
	kvmuf_show_pair(m, fdinfo, "vm", vm->kvm->userspace_pid);
	kvmuf_show_str(m, fdinfo, "state", READ_ONCE(vm->detached) ? "orphan" :
		       READ_ONCE(vm->takeover_pending) ? "takeover" : "attached");
	kvmuf_show_str(m, fdinfo, "mode", vm->flags & KVMUF_ATTACH_EXIT ? "exit" : "park");
	kvmuf_show_pair(m, fdinfo, "rings", vm->nr_vcpu_rings + 1);
	kvmuf_show_pair(m, fdinfo, "ring_entries", vm->ring_entries);
	kvmuf_show_pair(m, fdinfo, "missing", atomic64_read(&vm->nr_missing));
	for (i = 0; i < ARRAY_SIZE(counters); i++)
		kvmuf_show_pair(m, fdinfo, counters[i].name, *counters[i].v);
	seq_puts(m, fdinfo ? "kvmuf-park_hist:\t" : " park_hist ");
	for (i = 0; i < KVMUF_PARK_HIST_BUCKETS; i++)
		seq_printf(m, i ? ",%llu" : "%llu", st.park_hist[i]);
	seq_putc(m, '\n');
}

static int kvmuf_vms_seq_show(struct seq_file *m, void *unused)
{
	kvmuf_vms_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kvmuf_vms_seq);

static struct dentry *kvmuf_debugfs;

void kvmuf_introspect_init(void)
{
	/* Best effort, as debugfs is: the module works without it. */
	kvmuf_debugfs = debugfs_create_dir(KVMUF_DEVICE_NAME, NULL);
	debugfs_create_file("vms", 0400, kvmuf_debugfs, NULL, &kvmuf_vms_seq_fops);
}

void kvmuf_introspect_exit(void)
{
	debugfs_remove_recursive(kvmuf_debugfs);
}
