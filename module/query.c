// SPDX-License-Identifier: GPL-2.0
/*
 * KVMUF_GET_MISSING: a copy of the missing bits of a span of GFNs, for a page server that
 * must not fetch pages that are there (one that adopted a VM's state, or prefetches).
 * Read-only: bits are read a word at a time while vCPUs and resolves change them, so the
 * answer is a snapshot (see the uapi header).
 */
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kvmuf.h"

/* u64 words of the answer copied out per step: 32768 GFNs, then a resched point. */
#define KVMUF_QUERY_WORDS	512

long kvmuf_ioctl_get_missing(struct kvmuf_vm *vm, struct kvmuf_missing_query __user *uq)
{
	struct kvmuf_missing_query q;
	struct kvmuf_range_table *t;
	struct kvmuf_krange *r;
	u64 first, words, done = 0, missing = 0;
	u64 *buf;
	long ret = 0;

	if (copy_from_user(&q, uq, sizeof(q)))
		return -EFAULT;
	if (q.reserved[0] || q.reserved[1] || (q.bitmap & 7))
		return -EINVAL;
	rcu_read_lock();
	t = rcu_dereference(vm->ranges);
	r = t ? kvmuf_ranges_span(t, q.gfn, q.npages, &first) : NULL;
	rcu_read_unlock();
	/* A range, once added, lives as long as the VM state: r stays valid. */
	if (!r)
		return -EINVAL;
	words = DIV_ROUND_UP(q.npages, 64);
	buf = kmalloc_array(KVMUF_QUERY_WORDS, sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	while (done < words) {
		u64 n = min_t(u64, words - done, KVMUF_QUERY_WORDS);

		if (done && signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		missing += kvmuf_bits_extract(r->missing, first + q.npages, first + 64 * done,
					      buf, n);
		if (copy_to_user(u64_to_user_ptr(q.bitmap + 8 * done), buf, n * sizeof(*buf))) {
			ret = -EFAULT;
			break;
		}
		done += n;
		cond_resched();
	}
	kfree(buf);
	if (!ret && put_user(missing, &uq->missing))
		ret = -EFAULT;
	return ret;
}
