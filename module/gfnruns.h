/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The batched transitions of the life of a GFN (kvmuf.h) on a run of GFNs of one range,
 * a bitmap word (BITS_PER_LONG GFNs) per atomic operation rather than a bit: SET_MISSING
 * and RESOLVE of 2^28 GFNs are 2^22 atomics, not 2^28. Each GFN still moves in one atomic
 * step, and the fault path's single-bit operations on the same words interleave with
 * them as with any other atomic on the word (asm-generic/bitops/atomic.h builds the bit
 * operations the same way, on the word as an atomic_long_t).
 *
 * Header-only so the host unit tests compile this very code (tests/unit/kshim.h) and
 * check it against the one-bit-at-a-time definitions.
 */
#ifndef KVMUF_GFNRUNS_H
#define KVMUF_GFNRUNS_H

/* Word w of bitmap map, as the atomic it is operated on. */
static inline atomic_long_t *kvmuf_bitmap_word(unsigned long *map, u64 w)
{
	return (atomic_long_t *)&map[w];
}

/* The bits of [bit, end) that lie in bit's word, as a mask of that word. */
static inline unsigned long kvmuf_run_word_mask(u64 bit, u64 end)
{
	unsigned long mask = BITMAP_FIRST_WORD_MASK(bit);

	if (end - (bit & ~(u64)(BITS_PER_LONG - 1)) < BITS_PER_LONG)
		mask &= BITMAP_LAST_WORD_MASK(end);
	return mask;
}

/*
 * Make the GFNs [bit, bit + n) of r missing: how many were not. Each GFN's notification
 * is withdrawn first, missing or not: a new entry is due (SET_MISSING re-arms, and the
 * vCPUs parked on a withdrawn notification fault again and notify).
 */
static inline u64 kvmuf_run_set_missing(struct kvmuf_krange *r, u64 bit, u64 n)
{
	u64 end = bit + n, done = 0;

	while (bit < end) {
		unsigned long mask = kvmuf_run_word_mask(bit, end), old;
		u64 w = BIT_WORD(bit);

		atomic_long_andnot(mask, kvmuf_bitmap_word(r->notified, w));
		old = atomic_long_fetch_or(mask, kvmuf_bitmap_word(r->missing, w));
		done += hweight_long(mask & ~old);
		bit = (w + 1) * BITS_PER_LONG;
	}
	return done;
}

/*
 * Make the GFNs [bit, bit + n) of r present: how many were missing. A GFN a RESOLVE_COPY
 * holds (installing) is left to it and counted in *busy: the two must not both decide
 * that they made it present. Per word: claim the GFNs nobody holds (acquire, as
 * test_and_set_bit_lock), clear their missing bits (fully ordered: the caller's install
 * is visible before a bit reads clear), withdraw the notifications of those that were
 * missing, and let go (release, as clear_bit_unlock).
 */
static inline u64 kvmuf_run_resolve(struct kvmuf_krange *r, u64 bit, u64 n, u64 *busy)
{
	u64 end = bit + n, done = 0;

	while (bit < end) {
		unsigned long mask = kvmuf_run_word_mask(bit, end), held, mine, was;
		u64 w = BIT_WORD(bit);

		held = atomic_long_fetch_or_acquire(mask, kvmuf_bitmap_word(r->installing, w));
		mine = mask & ~held;
		*busy += hweight_long(mask & held);
		if (mine) {
			was = atomic_long_fetch_andnot(mine, kvmuf_bitmap_word(r->missing, w)) &
			      mine;
			if (was)
				atomic_long_andnot(was, kvmuf_bitmap_word(r->notified, w));
			done += hweight_long(was);
			atomic_long_fetch_andnot_release(mine,
							 kvmuf_bitmap_word(r->installing, w));
		}
		bit = (w + 1) * BITS_PER_LONG;
	}
	return done;
}

/* Withdraw the notifications of the GFNs [bit, bit + n) of r (ATTACH(ADOPT)). */
static inline void kvmuf_run_withdraw(struct kvmuf_krange *r, u64 bit, u64 n)
{
	u64 end = bit + n;

	while (bit < end) {
		u64 w = BIT_WORD(bit);

		atomic_long_andnot(kvmuf_run_word_mask(bit, end), kvmuf_bitmap_word(r->notified, w));
		bit = (w + 1) * BITS_PER_LONG;
	}
}

#endif /* KVMUF_GFNRUNS_H */
