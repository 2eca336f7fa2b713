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
 * and, per huge frame of guest physical space (2 MiB and 1 GiB, KVM's PG_LEVEL_2M and
 * PG_LEVEL_1G), a count of the frame's GFNs in this range that are missing. KVM may map a
 * frame with one huge SPTE only while no GFN of it is missing (in any range), or the
 * guest would reach missing GFNs without a fault. The counts are conservative: raised
 * before bits are set and lowered after they are cleared, so a count never drops below
 * the number of missing bits it covers, and a reader that sees 0 may map huge.
 *
 * Ranges are only ever added (never removed or resized while the VM is attached), so a
 * range found by kvmuf_ranges_find() stays valid as long as the VM state lives; the
 * table that indexes them is replaced by RCU when a range is added.
 */
#ifndef KVMUF_RANGES_H
#define KVMUF_RANGES_H

enum kvmuf_frame_level { KVMUF_FRAME_2M, KVMUF_FRAME_1G, KVMUF_NR_FRAME_LEVELS };

/* log2 of the GFNs in a frame of a level: 9 (2 MiB), 18 (1 GiB). */
static inline unsigned int kvmuf_frame_shift(enum kvmuf_frame_level level)
{
	return 9 * (level + 1);
}

struct kvmuf_krange {
	u64 gfn;
	u64 npages;
	bool module_only;		/* KVMUF_RANGE_MODULE_ONLY: no backstop check */
	unsigned long *missing;
	unsigned long *notified;
	unsigned long *installing;
	atomic_t *frame_missing[KVMUF_NR_FRAME_LEVELS];
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

/*
 * The bit of gfn (inside r, as kvmuf_ranges_find() checked) in r's bitmaps. The guest
 * chooses gfn: the index is clamped under speculation too, as KVM does for its
 * guest-controlled indexes (Spectre v1).
 */
static inline u64 kvmuf_range_bit(const struct kvmuf_krange *r, u64 gfn)
{
	return array_index_nospec(gfn - r->gfn, r->npages);
}

static inline bool kvmuf_range_missing(const struct kvmuf_krange *r, u64 gfn)
{
	return test_bit(kvmuf_range_bit(r, gfn), r->missing);
}

/*
 * Bits [first, first + 64 * nwords) of the bitmap @src of @nbits bits, as @nwords u64
 * words in @dst (bit i of the copy is bit first + i of @src; bits past nbits read 0).
 * Word at a time; each word of @src read once (READ_ONCE: other CPUs change bits).
 * Returns how many of the copied bits are set. unsigned long is 64 bits (x86-64).
 */
static inline u64 kvmuf_bits_extract(const unsigned long *src, u64 nbits, u64 first,
				     u64 *dst, u64 nwords)
{
	unsigned int shift = first % 64;
	u64 w = first / 64, last = (nbits + 63) / 64, set = 0, i;

	for (i = 0; i < nwords; i++, w++) {
		u64 lo = w < last ? READ_ONCE(src[w]) : 0;
		u64 hi = shift && w + 1 < last ? READ_ONCE(src[w + 1]) : 0;
		u64 bits = shift ? (lo >> shift) | (hi << (64 - shift)) : lo;
		u64 end = first + 64 * i;	/* bit of src this word starts at */

		/* Bits at or past nbits (the range's tail word) are not GFNs. */
		if (end >= nbits)
			bits = 0;
		else if (nbits - end < 64)
			bits &= (1ULL << (nbits - end)) - 1;
		dst[i] = bits;
		set += hweight64(bits);
	}
	return set;
}

/* Frames of one level that [gfn, gfn + npages) touches; npages > 0. */
static inline u64 kvmuf_nr_frames(u64 gfn, u64 npages, enum kvmuf_frame_level level)
{
	unsigned int shift = kvmuf_frame_shift(level);

	return ((gfn + npages - 1) >> shift) - (gfn >> shift) + 1;
}

/* Index, in r's counters of that level, of the frame holding gfn (which lies in r). */
static inline u64 kvmuf_frame_index(const struct kvmuf_krange *r, u64 gfn,
				    enum kvmuf_frame_level level)
{
	unsigned int shift = kvmuf_frame_shift(level);

	return (gfn >> shift) - (r->gfn >> shift);
}

/*
 * Add delta per GFN of [gfn, gfn + n) (inside r) to the counts of the frames it covers.
 * Callers change runs that lie inside one 2 MiB frame, so this is one or two atomics.
 */
static inline void kvmuf_frames_add(struct kvmuf_krange *r, u64 gfn, u64 n, int delta)
{
	unsigned int level;

	for (level = 0; level < KVMUF_NR_FRAME_LEVELS && n; level++) {
		u64 frame_gfns = 1ULL << kvmuf_frame_shift(level), g = gfn, left = n;

		while (left) {
			u64 in_frame = frame_gfns - (g & (frame_gfns - 1));

			if (in_frame > left)
				in_frame = left;
			atomic_add((int)in_frame * delta,
				   &r->frame_missing[level][kvmuf_frame_index(r, g, level)]);
			g += in_frame;
			left -= in_frame;
		}
	}
}

/* The index of the first range that ends after gfn (t->nr if none). */
static inline u32 kvmuf_ranges_lower_bound(const struct kvmuf_range_table *t, u64 gfn)
{
	u32 lo = 0, hi = t->nr;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct kvmuf_krange *r = t->range[mid];

		if (gfn - r->gfn < r->npages || gfn < r->gfn)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * Is any GFN of [gfn, gfn + npages) missing, in any range? Reads the counts of the frames
 * of this level that the span touches, so it may answer yes for a missing GFN just
 * outside the span but inside one of those frames: callers ask about whole frames, or
 * accept a conservative answer.
 */
static inline bool kvmuf_ranges_span_missing(const struct kvmuf_range_table *t, u64 gfn,
					     u64 npages, enum kvmuf_frame_level level)
{
	u64 end = gfn + npages;
	u32 i;

	for (i = kvmuf_ranges_lower_bound(t, gfn); i < t->nr && t->range[i]->gfn < end; i++) {
		const struct kvmuf_krange *r = t->range[i];
		u64 first = gfn > r->gfn ? gfn : r->gfn;
		u64 last = end - 1 < r->gfn + r->npages - 1 ? end - 1 : r->gfn + r->npages - 1;
		u64 f, nf = kvmuf_frame_index(r, last, level);
		u64 frames = kvmuf_nr_frames(r->gfn, r->npages, level);

		for (f = kvmuf_frame_index(r, first, level); f <= nf; f++)
			if (atomic_read(&r->frame_missing[level][array_index_nospec(f, frames)]))
				return true;
	}
	return false;
}

/* Is any GFN of the frame of this level that holds gfn missing? */
static inline bool kvmuf_ranges_frame_missing(const struct kvmuf_range_table *t, u64 gfn,
					      enum kvmuf_frame_level level)
{
	unsigned int shift = kvmuf_frame_shift(level);

	return kvmuf_ranges_span_missing(t, gfn & ~((1ULL << shift) - 1), 1ULL << shift,
					 level);
}

#endif /* KVMUF_RANGES_H */
