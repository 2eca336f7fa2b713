// SPDX-License-Identifier: GPL-2.0
/*
 * The word-level batch transitions of module/gfnruns.h, compiled for userspace:
 * - against the one-GFN-at-a-time definition (the uapi's life of a GFN) on random
 *   states and random runs, at every word alignment: the same counts (changed, busy)
 *   and the same bits afterwards;
 * - under concurrency (run under ThreadSanitizer too): RESOLVE runs on overlapping runs
 *   and RESOLVE_COPY-style single-GFN claims, several threads on the same words: every
 *   missing GFN is made present by exactly one of them, and none stays claimed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kshim.h"
#include "unit.h"

#define NB	(5 * BITS_PER_LONG + 17)	/* not a whole number of words */
#define LONGS	BITS_TO_LONGS(NB)

static unsigned long missing[LONGS], notified[LONGS], installing[LONGS];
static struct kvmuf_krange range = {
	.gfn = 0x1000, .npages = NB,
	.missing = missing, .notified = notified, .installing = installing,
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static u64 rnd(u64 n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

/* The definitions, a GFN at a time (module/resolve.c before word-level runs). */
static u64 model_set_missing(unsigned long *m, unsigned long *nt, u64 bit, u64 n)
{
	u64 i, done = 0;

	for (i = bit; i < bit + n; i++) {
		nt[BIT_WORD(i)] &= ~BIT_MASK(i);
		if (!(m[BIT_WORD(i)] & BIT_MASK(i)))
			done++;
		m[BIT_WORD(i)] |= BIT_MASK(i);
	}
	return done;
}

static u64 model_resolve(unsigned long *m, unsigned long *nt, const unsigned long *inst,
			 u64 bit, u64 n, u64 *busy)
{
	u64 i, done = 0;

	for (i = bit; i < bit + n; i++) {
		if (inst[BIT_WORD(i)] & BIT_MASK(i)) {
			(*busy)++;
			continue;
		}
		if (m[BIT_WORD(i)] & BIT_MASK(i)) {
			m[BIT_WORD(i)] &= ~BIT_MASK(i);
			nt[BIT_WORD(i)] &= ~BIT_MASK(i);
			done++;
		}
	}
	return done;
}

static void model_withdraw(unsigned long *nt, u64 bit, u64 n)
{
	for (u64 i = bit; i < bit + n; i++)
		nt[BIT_WORD(i)] &= ~BIT_MASK(i);
}

static void randomize(unsigned long *map, unsigned int density)
{
	u64 i;

	memset(map, 0, LONGS * sizeof(long));
	for (i = 0; i < NB; i++)
		if (rnd(4) < density)
			map[BIT_WORD(i)] |= BIT_MASK(i);
}

static void test_against_model(void)
{
	unsigned long m[LONGS], nt[LONGS], inst[LONGS];
	unsigned int round;

	for (round = 0; round < 200000; round++) {
		u64 bit = rnd(NB), n = 1 + rnd(NB - bit), busy = 0, mbusy = 0, got, want;
		int op = (int)rnd(3);
		static const char *const names[] = { "set_missing", "resolve", "withdraw" };

		if (round % 64 == 0) {
			randomize(missing, (unsigned int)rnd(5));
			randomize(notified, (unsigned int)rnd(5));
			randomize(installing, (unsigned int)rnd(3));
		}
		memcpy(m, missing, sizeof(m));
		memcpy(nt, notified, sizeof(nt));
		memcpy(inst, installing, sizeof(inst));
		if (op == 1) {
			got = kvmuf_run_resolve(&range, bit, n, &busy);
			want = model_resolve(m, nt, inst, bit, n, &mbusy);
		} else if (op == 0) {
			got = kvmuf_run_set_missing(&range, bit, n);
			want = model_set_missing(m, nt, bit, n);
		} else {
			kvmuf_run_withdraw(&range, bit, n);
			model_withdraw(nt, bit, n);
			got = want = 0;
		}
		CHECK(got == want && busy == mbusy,
		      "%s [%llu, +%llu): %llu changed %llu busy, want %llu and %llu",
		      names[op], (unsigned long long)bit,
		      (unsigned long long)n, (unsigned long long)got, (unsigned long long)busy,
		      (unsigned long long)want, (unsigned long long)mbusy);
		CHECK(!memcmp(m, missing, sizeof(m)) && !memcmp(nt, notified, sizeof(nt)) &&
		      !memcmp(inst, installing, sizeof(inst)),
		      "bits differ from the model after [%llu, +%llu)", (unsigned long long)bit,
		      (unsigned long long)n);
		if (failures)
			return;
	}
}

/* ---- concurrency ---------------------------------------------------------------- */

#define NTHREADS	4
#define ROUNDS		300

static pthread_barrier_t barrier;
static u64 made_present[NTHREADS];

static void *resolver(void *arg)
{
	unsigned int t = (unsigned int)(uintptr_t)arg, round;
	uint64_t seed = 0x2545f4914f6cdd1dull * (t + 1);

	for (round = 0; round < ROUNDS; round++) {
		u64 left = NB, busy = 0, i;

		pthread_barrier_wait(&barrier);
		if (t == 0) {
			/* RESOLVE_COPY's way: claim one GFN, clear it, let go. */
			for (i = 0; i < NB; i++) {
				u64 b = (i * 7 + round) % NB;

				if (test_and_set_bit(b, installing))
					continue;
				if (test_and_clear_bit(b, missing))
					made_present[t]++;
				clear_bit(b, installing);
			}
		} else {
			/* RESOLVE's way: random overlapping runs, then one over everything. */
			while (left > BITS_PER_LONG) {
				u64 bit, n;

				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				bit = (seed >> 33) % NB;
				n = 1 + (seed >> 13) % (NB - bit);
				made_present[t] += kvmuf_run_resolve(&range, bit, n, &busy);
				left -= left / 4;
			}
			made_present[t] += kvmuf_run_resolve(&range, 0, NB, &busy);
		}
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

static void test_concurrent_resolve(void)
{
	pthread_t th[NTHREADS];
	unsigned int t, round;
	u64 total = 0, i;

	REQUIRE(!pthread_barrier_init(&barrier, NULL, NTHREADS + 1), "barrier");
	for (t = 0; t < NTHREADS; t++)
		REQUIRE(!pthread_create(&th[t], NULL, resolver, (void *)(uintptr_t)t),
			"pthread_create");
	for (round = 0; round < ROUNDS; round++) {
		memset(installing, 0, sizeof(installing));
		memset(missing, 0, sizeof(missing));
		CHECK(kvmuf_run_set_missing(&range, 0, NB) == NB, "set_missing of all");
		pthread_barrier_wait(&barrier);		/* go */
		pthread_barrier_wait(&barrier);		/* done */
		for (i = 0; i < LONGS; i++)
			CHECK(!missing[i] && !installing[i],
			      "round %u word %llu: missing %lx installing %lx", round,
			      (unsigned long long)i, missing[i], installing[i]);
	}
	for (t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		total += made_present[t];
	}
	pthread_barrier_destroy(&barrier);
	CHECK(total == (u64)NB * ROUNDS, "%llu GFNs made present, want %llu",
	      (unsigned long long)total, (unsigned long long)NB * ROUNDS);
}

int main(void)
{
	test_against_model();
	test_concurrent_resolve();
	return check_summary("test_gfnruns");
}
