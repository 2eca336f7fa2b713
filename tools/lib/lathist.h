/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: a latency histogram with 8 buckets per power of two (a bucket is at most
 * 12.5% wide), lock-free: many threads add, any thread reads. Private.
 *
 * Bucket of a value v (ns): v itself below 8; else with e = floor(log2 v) and m the
 * three bits below the leading one, (e - 2) * 8 + m; so bucket b >= 8 starts at
 * (8 + b % 8) << (b / 8 - 1) (lathist_lower()) and ends where b + 1 starts.
 */
#ifndef KVMUF_LATHIST_H
#define KVMUF_LATHIST_H

#include <stdatomic.h>
#include <stdint.h>

#define LATHIST_BUCKETS	(62 * 8)

struct lathist {
	_Atomic uint64_t count[LATHIST_BUCKETS];
	_Atomic uint64_t n, max;
};

static inline unsigned int lathist_bucket(uint64_t v)
{
	unsigned int e;

	if (v < 8)
		return (unsigned int)v;
	e = 63u - (unsigned int)__builtin_clzll(v);
	return (e - 2) * 8 + (unsigned int)((v >> (e - 3)) & 7);
}

/* The smallest value of bucket @b. */
static inline uint64_t lathist_lower(unsigned int b)
{
	if (b < 8)
		return b;
	return (uint64_t)(8 + b % 8) << (b / 8 - 1);
}

static inline void lathist_add(struct lathist *h, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(&h->max, memory_order_relaxed);

	atomic_fetch_add_explicit(&h->count[lathist_bucket(v)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
	while (v > cur && !atomic_compare_exchange_weak(&h->max, &cur, v))
		;
}

/*
 * The value at or below which @permille of the samples lie, rounded up to the top of its
 * bucket (never below the true value, at most 12.5% above it; the maximum caps it).
 * 0 without samples.
 */
static inline uint64_t lathist_quantile(const struct lathist *hc, unsigned int permille)
{
	struct lathist *h = (struct lathist *)hc;
	uint64_t n = atomic_load(&h->n), want, seen = 0, max = atomic_load(&h->max);

	if (!n)
		return 0;
	want = (n * permille + 999) / 1000;
	for (unsigned int b = 0; b < LATHIST_BUCKETS; b++) {
		seen += atomic_load_explicit(&h->count[b], memory_order_relaxed);
		if (seen >= want) {
			uint64_t top = b + 1 < LATHIST_BUCKETS ? lathist_lower(b + 1) - 1 : max;

			return top < max ? top : max;
		}
	}
	return max;
}

#endif /* KVMUF_LATHIST_H */
