/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The missing-GFN state of one VM: a sorted table of managed GFN ranges, each with
 * three bitmaps (one bit per 4 KiB GFN). Header-only so the host unit tests compile the
 * same code (tests/unit/kshim.h supplies the bit operations).
 *
 *   missing     the GFN has no data yet: a vCPU touching it must not reach the host
 *               mm fault path. Set by SET_MISSING, cleared by RESOLVE*.
 *   notified    a ring entry was pushed for it since it became missing (dedup).
 *   installing  a RESOLVE_COPY holds the GFN while it copies data in, so two copies of
 *               one GFN cannot race and overwrite what the guest wrote in between.
 *
 * Ranges are only ever added (never removed or resized while the VM is attached), so a
 * range found by kvmuf_ranges_find() stays valid as long as the VM state lives; the
 * table that indexes them is replaced by RCU when a range is added.
 */
#ifndef KVMUF_RANGES_H
#define KVMUF_RANGES_H

struct kvmuf_krange {
	u64 gfn;
	u64 npages;
	unsigned long *missing;
	unsigned long *notified;
	unsigned long *installing;
};

struct kvmuf_range_table {
	u32 nr;
	struct kvmuf_krange *range[KVMUF_MAX_RANGES];	/* sorted by gfn, disjoint */
};

/* The range that holds gfn, or NULL. Binary search: at most 7 probes. */
static inline struct kvmuf_krange *kvmuf_ranges_find(const struct kvmuf_range_table *t, u64 gfn)
{
	u32 lo = 0, hi = t->nr;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		struct kvmuf_krange *r = t->range[mid];

		if (gfn < r->gfn)
			hi = mid;
		else if (gfn - r->gfn >= r->npages)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/*
 * The slot where a new range [gfn, gfn + npages) would go, or -EEXIST if it overlaps one
 * already there. npages > 0 and no u64 overflow are the caller's checks.
 */
static inline int kvmuf_ranges_insert_pos(const struct kvmuf_range_table *t, u64 gfn, u64 npages)
{
	u32 i;

	for (i = 0; i < t->nr; i++) {
		const struct kvmuf_krange *r = t->range[i];

		if (gfn + npages <= r->gfn)
			break;
		if (gfn < r->gfn + r->npages)
			return -EEXIST;
	}
	return i;
}

/* Is [gfn, gfn + npages) inside one range? Returns it, and the first bit index. */
static inline struct kvmuf_krange *kvmuf_ranges_span(const struct kvmuf_range_table *t,
						     u64 gfn, u64 npages, u64 *first)
{
	struct kvmuf_krange *r = kvmuf_ranges_find(t, gfn);

	if (!r || npages == 0 || npages > r->npages - (gfn - r->gfn))
		return NULL;
	*first = gfn - r->gfn;
	return r;
}

static inline bool kvmuf_range_missing(const struct kvmuf_krange *r, u64 gfn)
{
	return test_bit(gfn - r->gfn, r->missing);
}

#endif /* KVMUF_RANGES_H */
