// SPDX-License-Identifier: GPL-2.0
/*
 * The range table and bitmaps of module/ranges.h, compiled for userspace: lookups on
 * tables of 0, 1 and KVMUF_MAX_RANGES ranges against a brute-force model, boundaries,
 * overlaps, u64 extremes; the huge-frame counts against a scan of the bitmaps; and the
 * atomic bit operations of kshim.h hammered by several threads on the same words (run
 * under ThreadSanitizer).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kshim.h"
#include "unit.h"

#define NO_BITMAP	(1ULL << 20)	/* bigger ranges get no bitmaps (lookup only) */

static struct kvmuf_krange *mk(u64 gfn, u64 npages)
{
	struct kvmuf_krange *r = calloc(1, sizeof(*r));

	REQUIRE(r, "out of memory");
	r->gfn = gfn;
	r->npages = npages;
	if (npages <= NO_BITMAP) {
		size_t words = BITS_TO_LONGS(npages);

		r->missing = calloc(words, sizeof(long));
		r->notified = calloc(words, sizeof(long));
		r->installing = calloc(words, sizeof(long));
		REQUIRE(r->missing && r->notified && r->installing, "out of memory");
		for (unsigned int l = 0; l < KVMUF_NR_FRAME_LEVELS; l++) {
			r->frame_missing[l] = calloc(kvmuf_nr_frames(gfn, npages, l),
						     sizeof(atomic_t));
			REQUIRE(r->frame_missing[l], "out of memory");
		}
	}
	return r;
}

static void table_free(struct kvmuf_range_table *t)
{
	u32 i;

	for (i = 0; i < t->nr; i++) {
		free(t->range[i]->missing);
		free(t->range[i]->notified);
		free(t->range[i]->installing);
		for (unsigned int l = 0; l < KVMUF_NR_FRAME_LEVELS; l++)
			free(t->range[i]->frame_missing[l]);
		free(t->range[i]);
	}
	t->nr = 0;
}

/* Insert the way the module does: insert_pos, then shift up. */
static int table_add(struct kvmuf_range_table *t, u64 gfn, u64 npages)
{
	int pos;

	if (t->nr >= KVMUF_MAX_RANGES)
		return -ENOSPC;
	pos = kvmuf_ranges_insert_pos(t, gfn, npages);
	if (pos < 0)
		return pos;
	memmove(&t->range[pos + 1], &t->range[pos], (t->nr - pos) * sizeof(t->range[0]));
	t->range[pos] = mk(gfn, npages);
	t->nr++;
	return pos;
}

/* ---- models ---- */

static int in_range(const struct kvmuf_krange *r, u64 gfn)
{
	return gfn >= r->gfn && gfn - r->gfn < r->npages;
}

static struct kvmuf_krange *model_find(const struct kvmuf_range_table *t, u64 gfn)
{
	u32 i;

	for (i = 0; i < t->nr; i++)
		if (in_range(t->range[i], gfn))
			return t->range[i];
	return NULL;
}

/* [a, a + an) and [b, b + bn) overlap (no u64 overflow in either). */
static int overlaps(u64 a, u64 an, u64 b, u64 bn)
{
	return a < b + bn && b < a + an;
}

static int model_insert_pos(const struct kvmuf_range_table *t, u64 gfn, u64 npages)
{
	u32 i, pos = 0;

	for (i = 0; i < t->nr; i++) {
		if (overlaps(gfn, npages, t->range[i]->gfn, t->range[i]->npages))
			return -EEXIST;
		if (t->range[i]->gfn < gfn)
			pos = i + 1;
	}
	return (int)pos;
}

static void check_sorted(const struct kvmuf_range_table *t)
{
	u32 i;

	for (i = 1; i < t->nr; i++)
		CHECK(t->range[i - 1]->gfn + t->range[i - 1]->npages <= t->range[i]->gfn,
		      "ranges %u and %u out of order or overlapping", i - 1, i);
}

static void check_find(const struct kvmuf_range_table *t, u64 gfn)
{
	struct kvmuf_krange *got = kvmuf_ranges_find(t, gfn), *want = model_find(t, gfn);

	CHECK(got == want, "find(%#llx): got [%#llx +%#llx), want [%#llx +%#llx)",
	      (unsigned long long)gfn, got ? (unsigned long long)got->gfn : 0ULL,
	      got ? (unsigned long long)got->npages : 0ULL,
	      want ? (unsigned long long)want->gfn : 0ULL,
	      want ? (unsigned long long)want->npages : 0ULL);
}

static void check_span(const struct kvmuf_range_table *t, u64 gfn, u64 npages)
{
	struct kvmuf_krange *want = model_find(t, gfn), *got;
	u64 first = 0xdeadbeef;

	if (want && (npages == 0 || npages > want->npages - (gfn - want->gfn)))
		want = NULL;
	got = kvmuf_ranges_span(t, gfn, npages, &first);
	CHECK(got == want, "span(%#llx, %#llx): wrong answer", (unsigned long long)gfn,
	      (unsigned long long)npages);
	if (got)
		CHECK(first == gfn - got->gfn, "span(%#llx): first %#llx",
		      (unsigned long long)gfn, (unsigned long long)first);
	else
		CHECK(first == 0xdeadbeef, "span failed but wrote first");
}

static void check_insert(const struct kvmuf_range_table *t, u64 gfn, u64 npages)
{
	int got, want;

	if (!npages || npages > UINT64_MAX - gfn)
		return;		/* the module rejects these before insert_pos */
	got = kvmuf_ranges_insert_pos(t, gfn, npages);
	want = model_insert_pos(t, gfn, npages);

	CHECK(got == want, "insert_pos(%#llx, %#llx) = %d, want %d", (unsigned long long)gfn,
	      (unsigned long long)npages, got, want);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static u64 rnd64(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Every interesting gfn around every range of t. */
static void probe_all(const struct kvmuf_range_table *t)
{
	u32 i;

	check_find(t, 0);
	check_find(t, 1);
	check_find(t, UINT64_MAX);
	check_find(t, UINT64_MAX - 1);
	for (i = 0; i < t->nr; i++) {
		const struct kvmuf_krange *r = t->range[i];
		u64 last = r->gfn + r->npages - 1;

		check_find(t, r->gfn);
		check_find(t, r->gfn - 1);
		check_find(t, r->gfn + 1);
		check_find(t, last);
		check_find(t, last + 1);
		check_find(t, last - 1);
		check_span(t, r->gfn, r->npages);
		check_span(t, r->gfn, r->npages + 1);
		check_span(t, r->gfn, 0);
		check_span(t, r->gfn, UINT64_MAX);
		check_span(t, last, 1);
		check_span(t, last, 2);
		check_span(t, last + 1, 1);
		check_span(t, r->gfn - 1, 2);
		check_span(t, r->gfn + 1, r->npages - 1);
		check_span(t, r->gfn + 1, r->npages);
		check_insert(t, r->gfn, 1);
		check_insert(t, last, 1);
		check_insert(t, last + 1, 1);
		if (r->gfn)
			check_insert(t, r->gfn - 1, 1);
		if (r->gfn)
			check_insert(t, r->gfn - 1, 2);
		check_insert(t, r->gfn, r->npages);
	}
}

static void test_empty(void)
{
	struct kvmuf_range_table t = { .nr = 0 };
	u64 first = 0;

	CHECK(!kvmuf_ranges_find(&t, 0) && !kvmuf_ranges_find(&t, UINT64_MAX), "found in empty");
	CHECK(kvmuf_ranges_insert_pos(&t, 0, 1) == 0, "insert_pos in empty");
	CHECK(kvmuf_ranges_insert_pos(&t, 0, UINT64_MAX) == 0, "insert_pos whole space");
	CHECK(!kvmuf_ranges_span(&t, 0, 1, &first), "span in empty");
}

static void test_one(void)
{
	struct kvmuf_range_table t = { .nr = 0 };
	u64 first = 0;

	CHECK(table_add(&t, 100, 10) == 0, "add");
	CHECK(!kvmuf_ranges_find(&t, 99), "99");
	CHECK(kvmuf_ranges_find(&t, 100) == t.range[0], "first gfn");
	CHECK(kvmuf_ranges_find(&t, 109) == t.range[0], "last gfn");
	CHECK(!kvmuf_ranges_find(&t, 110), "one past");
	CHECK(kvmuf_ranges_insert_pos(&t, 90, 10) == 0, "adjacent below");
	CHECK(kvmuf_ranges_insert_pos(&t, 90, 11) == -EEXIST, "overlap below");
	CHECK(kvmuf_ranges_insert_pos(&t, 110, 5) == 1, "adjacent above");
	CHECK(kvmuf_ranges_insert_pos(&t, 109, 1) == -EEXIST, "overlap last");
	CHECK(kvmuf_ranges_insert_pos(&t, 105, 1) == -EEXIST, "inside");
	CHECK(kvmuf_ranges_insert_pos(&t, 0, 1000) == -EEXIST, "covering");
	CHECK(kvmuf_ranges_insert_pos(&t, 100, 10) == -EEXIST, "same");
	CHECK(kvmuf_ranges_span(&t, 100, 10, &first) == t.range[0] && first == 0, "whole");
	CHECK(kvmuf_ranges_span(&t, 109, 1, &first) == t.range[0] && first == 9, "last");
	CHECK(!kvmuf_ranges_span(&t, 100, 11, &first), "one too many");
	CHECK(!kvmuf_ranges_span(&t, 109, 2, &first), "past the end");
	CHECK(!kvmuf_ranges_span(&t, 105, 0, &first), "empty span");
	CHECK(!kvmuf_ranges_span(&t, 99, 2, &first), "starts before");
	CHECK(!kvmuf_ranges_span(&t, 100, UINT64_MAX, &first), "huge");
	probe_all(&t);
	table_free(&t);
}

/* Many ranges, random layout (some adjacent), checked against the models. */
static void test_many(unsigned int seed_rounds)
{
	unsigned int round;

	for (round = 0; round < seed_rounds; round++) {
		struct kvmuf_range_table t = { .nr = 0 };
		unsigned int attempts = 0, i;
		u64 span = round % 2 ? 1ULL << 20 : UINT64_MAX / 2;

		while (t.nr < KVMUF_MAX_RANGES && attempts++ < 100000) {
			u64 gfn = rnd64() % span, npages = 1 + rnd64() % (span / 256);
			int want, got;

			if (rnd64() % 4 == 0 && t.nr) {	/* adjacent to an existing range */
				const struct kvmuf_krange *r = t.range[rnd64() % t.nr];

				gfn = r->gfn + r->npages;
				npages = 1 + rnd64() % 64;
			}
			want = model_insert_pos(&t, gfn, npages);
			got = table_add(&t, gfn, npages);
			CHECK(got == want, "add(%#llx, %#llx) = %d, want %d",
			      (unsigned long long)gfn, (unsigned long long)npages, got, want);
			if (failures)
				return;
		}
		CHECK(t.nr == KVMUF_MAX_RANGES, "only %u ranges", t.nr);
		CHECK(table_add(&t, UINT64_MAX - 1, 1) == -ENOSPC, "table not full");
		check_sorted(&t);
		probe_all(&t);
		for (i = 0; i < 20000; i++) {
			u64 gfn = rnd64() % (span + span / 8);

			check_find(&t, gfn);
			check_span(&t, gfn, 1 + rnd64() % 4096);
			check_insert(&t, gfn, 1 + rnd64() % 4096);
		}
		table_free(&t);
	}
}

static void test_u64_extremes(void)
{
	struct kvmuf_range_table t = { .nr = 0 };
	u64 first = 0;

	/* One range covering everything but the last gfn. */
	CHECK(table_add(&t, 0, UINT64_MAX) == 0, "add [0, max)");
	CHECK(kvmuf_ranges_find(&t, 0) == t.range[0], "0");
	CHECK(kvmuf_ranges_find(&t, UINT64_MAX - 1) == t.range[0], "max - 1");
	CHECK(!kvmuf_ranges_find(&t, UINT64_MAX), "max");
	CHECK(kvmuf_ranges_span(&t, 0, UINT64_MAX, &first) && first == 0, "span all");
	CHECK(!kvmuf_ranges_span(&t, 1, UINT64_MAX, &first), "span one too far");
	CHECK(kvmuf_ranges_span(&t, UINT64_MAX - 1, 1, &first) == t.range[0] &&
	      first == UINT64_MAX - 1, "span last");
	CHECK(!kvmuf_ranges_span(&t, UINT64_MAX - 1, 2, &first), "span past the end");
	CHECK(kvmuf_ranges_span(&t, 5, UINT64_MAX - 5, &first) && first == 5, "span tail");
	CHECK(kvmuf_ranges_insert_pos(&t, 7, 1) == -EEXIST, "inside the huge range");
	CHECK(kvmuf_ranges_insert_pos(&t, UINT64_MAX - 1, 1) == -EEXIST, "max - 1 taken");
	probe_all(&t);
	table_free(&t);

	/* Ranges at both ends of the gfn space. */
	CHECK(table_add(&t, UINT64_MAX - 10, 10) == 0, "add top");
	CHECK(table_add(&t, 0, 1) == 0, "add bottom");
	CHECK(table_add(&t, 1ULL << 63, 1) == 1, "add middle");
	check_sorted(&t);
	CHECK(kvmuf_ranges_find(&t, UINT64_MAX - 1) == t.range[2], "top last");
	CHECK(kvmuf_ranges_find(&t, UINT64_MAX - 10) == t.range[2], "top first");
	CHECK(!kvmuf_ranges_find(&t, UINT64_MAX - 11), "below top");
	CHECK(!kvmuf_ranges_find(&t, UINT64_MAX), "max");
	CHECK(kvmuf_ranges_find(&t, 0) == t.range[0] && !kvmuf_ranges_find(&t, 1), "bottom");
	CHECK(kvmuf_ranges_find(&t, 1ULL << 63) == t.range[1], "middle");
	CHECK(!kvmuf_ranges_find(&t, (1ULL << 63) + 1), "past middle");
	CHECK(kvmuf_ranges_insert_pos(&t, UINT64_MAX - 11, 1) == 2, "just below top");
	CHECK(kvmuf_ranges_insert_pos(&t, UINT64_MAX - 11, 2) == -EEXIST, "into top");
	CHECK(kvmuf_ranges_insert_pos(&t, 1, (1ULL << 63) - 1) == 1, "fill the gap");
	CHECK(kvmuf_ranges_insert_pos(&t, 1, 1ULL << 63) == -EEXIST, "over the middle");
	CHECK(!kvmuf_ranges_span(&t, UINT64_MAX - 10, 11, &first), "top span + 1");
	CHECK(kvmuf_ranges_span(&t, UINT64_MAX - 10, 10, &first) && first == 0, "top span");
	probe_all(&t);
	table_free(&t);

	/* [1, max): gfn 0 and max outside. */
	CHECK(table_add(&t, 1, UINT64_MAX - 1) == 0, "add [1, max)");
	CHECK(!kvmuf_ranges_find(&t, 0) && !kvmuf_ranges_find(&t, UINT64_MAX), "ends");
	CHECK(kvmuf_ranges_insert_pos(&t, 0, 1) == 0, "0 free");
	CHECK(kvmuf_ranges_insert_pos(&t, UINT64_MAX - 1, 1) == -EEXIST, "max - 1 taken");
	probe_all(&t);
	table_free(&t);
}

static void test_missing_bit(void)
{
	struct kvmuf_range_table t = { .nr = 0 };
	struct kvmuf_krange *r;
	u64 g;

	table_add(&t, 1000, 3 * BITS_PER_LONG + 5);
	r = t.range[0];
	for (g = r->gfn; g < r->gfn + r->npages; g += 3)
		set_bit(g - r->gfn, r->missing);
	for (g = r->gfn; g < r->gfn + r->npages; g++)
		CHECK(kvmuf_range_missing(r, g) == ((g - r->gfn) % 3 == 0), "gfn %llu",
		      (unsigned long long)g);
	clear_bit(0, r->missing);
	CHECK(!kvmuf_range_missing(r, r->gfn), "cleared");
	CHECK(kvmuf_range_missing(r, r->gfn + r->npages - 2), "last word");
	table_free(&t);
}

/* ---- huge-frame counts --------------------------------------------------------- */

/* Model: is any GFN of [gfn, gfn + n) missing, by scanning every range's bitmap? */
static int model_span_missing(const struct kvmuf_range_table *t, u64 gfn, u64 n)
{
	for (u32 i = 0; i < t->nr; i++) {
		const struct kvmuf_krange *r = t->range[i];
		u64 a = gfn > r->gfn ? gfn : r->gfn, end = r->gfn + r->npages;
		u64 b = gfn + n < end ? gfn + n : end;

		for (u64 bit = a - r->gfn; bit < b - r->gfn && a < b; bit++) {
			if (bit % BITS_PER_LONG == 0 && bit + BITS_PER_LONG <= b - r->gfn &&
			    !r->missing[BIT_WORD(bit)]) {
				bit += BITS_PER_LONG - 1;	/* a whole clear word */
				continue;
			}
			if (test_bit(bit, r->missing))
				return 1;
		}
	}
	return 0;
}

/* Set or clear one GFN the way the module does: count up before, down after. */
static void frame_set(struct kvmuf_krange *r, u64 gfn, int missing)
{
	if (missing) {
		kvmuf_frames_add(r, gfn, 1, 1);
		if (test_and_set_bit(gfn - r->gfn, r->missing))
			kvmuf_frames_add(r, gfn, 1, -1);
	} else if (test_and_clear_bit(gfn - r->gfn, r->missing)) {
		kvmuf_frames_add(r, gfn, 1, -1);
	}
}

static void check_frames(const struct kvmuf_range_table *t, u64 gfn)
{
	for (unsigned int l = 0; l < KVMUF_NR_FRAME_LEVELS; l++) {
		u64 size = 1ULL << kvmuf_frame_shift(l), start = gfn & ~(size - 1);
		int want = model_span_missing(t, start, size);

		CHECK(kvmuf_ranges_frame_missing(t, gfn, l) == want,
		      "level %u frame of %#llx: %d, want %d", l, (unsigned long long)gfn,
		      !want, want);
	}
}

/*
 * Ranges that start and end inside 2 MiB and 1 GiB frames, several in one frame, one
 * across frames; random GFNs set and cleared (also whole runs, as the batch ioctls do):
 * every frame answers as a scan of the bitmaps does.
 */
static void test_frames(void)
{
	static const u64 layout[][2] = {
		{ 100, 50 }, { 200, 700 }, { 1024, 512 }, { 1536, 3 },
		{ (1ULL << 18) - 10, 30 }, { 3ULL << 18, (1ULL << 18) + 1000 },
	};
	struct kvmuf_range_table t = { .nr = 0 };

	for (unsigned int i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
		REQUIRE(table_add(&t, layout[i][0], layout[i][1]) >= 0, "add");
	for (unsigned int round = 0; round < 4000; round++) {
		struct kvmuf_krange *r = t.range[rnd64() % t.nr];
		u64 gfn = r->gfn + rnd64() % r->npages;
		int missing = rnd64() % 3 != 0;

		if (round % 50 == 0) {	/* a run inside one 2 MiB frame, as kvmuf_apply_range */
			u64 n = 1 + rnd64() % 512, end = r->gfn + r->npages;

			n = n < 512 - (gfn & 511) ? n : 512 - (gfn & 511);
			n = n < end - gfn ? n : end - gfn;
			for (u64 g = gfn; g < gfn + n; g++)
				frame_set(r, g, missing);
		} else {
			frame_set(r, gfn, missing);
		}
		check_frames(&t, gfn);
		check_frames(&t, rnd64() % (5ULL << 18));
		if (failures)
			break;
	}
	/* Clear everything: every frame is complete again. */
	for (u32 i = 0; i < t.nr; i++)
		for (u64 g = t.range[i]->gfn; g < t.range[i]->gfn + t.range[i]->npages; g++)
			frame_set(t.range[i], g, 0);
	for (u64 g = 0; g < (5ULL << 18); g += 509)
		check_frames(&t, g);
	CHECK(!kvmuf_ranges_span_missing(&t, 0, 5ULL << 18, KVMUF_FRAME_1G), "all present");
	frame_set(t.range[5], (4ULL << 18) + 7, 1);
	CHECK(kvmuf_ranges_span_missing(&t, 3ULL << 18, 1ULL << 20, KVMUF_FRAME_1G),
	      "span sees one missing GFN");
	CHECK(!kvmuf_ranges_span_missing(&t, 0, 3ULL << 18, KVMUF_FRAME_1G),
	      "span before it");
	table_free(&t);
}

/* ---- concurrent bit operations ------------------------------------------------ */

#define NTHREADS	4
#define NBITS		(64 * BITS_PER_LONG)
#define ITERS		20000

static unsigned long bits[BITS_TO_LONGS(NBITS)];
static pthread_barrier_t barrier;
static unsigned long wins[NTHREADS][2];

/* Each thread walks all bits in its own order. */
static unsigned long order(unsigned int t, unsigned long i)
{
	return (i * (2 * t + 1) + t * 977) % NBITS;
}

static void *bit_thread(void *arg)
{
	unsigned int t = (unsigned int)(uintptr_t)arg, it;
	unsigned long i;

	/* Phase 1: race to set every bit; each bit has exactly one winner. */
	pthread_barrier_wait(&barrier);
	for (i = 0; i < NBITS; i++)
		if (!test_and_set_bit(order(t, i), bits))
			wins[t][0]++;
	/* Phase 2: race to clear every bit. */
	pthread_barrier_wait(&barrier);
	for (i = 0; i < NBITS; i++)
		if (test_and_clear_bit(order(t, NBITS - 1 - i), bits))
			wins[t][1]++;
	/*
	 * Phase 3: set / clear / change only the bits b with b % NTHREADS == t, which share
	 * every word with the other threads: a non-atomic update would lose some.
	 */
	pthread_barrier_wait(&barrier);
	for (it = 0; it < ITERS; it++) {
		unsigned long b = (it * 7 % (NBITS / NTHREADS)) * NTHREADS + t;

		set_bit(b, bits);
		if (!test_bit(b, bits))
			wins[t][0] = ~0UL;	/* our own bit vanished */
		clear_bit(b, bits);
		change_bit(b, bits);	/* -> set */
		if ((b / NTHREADS) % 3)
			clear_bit(b, bits);
	}
	return NULL;
}

static void test_concurrent_bits(void)
{
	pthread_t th[NTHREADS];
	unsigned long total[2] = { 0, 0 }, b;
	unsigned int t;

	memset(bits, 0, sizeof(bits));
	REQUIRE(!pthread_barrier_init(&barrier, NULL, NTHREADS + 1), "barrier");
	for (t = 0; t < NTHREADS; t++)
		REQUIRE(!pthread_create(&th[t], NULL, bit_thread, (void *)(uintptr_t)t),
			"pthread_create");

	pthread_barrier_wait(&barrier);		/* phase 1 */
	pthread_barrier_wait(&barrier);		/* phase 2 */
	/* (phase 1 is complete: every bit set) */
	pthread_barrier_wait(&barrier);		/* phase 3 */
	for (t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&barrier);

	for (t = 0; t < NTHREADS; t++) {
		CHECK(wins[t][0] != ~0UL, "thread %u lost its own bit", t);
		total[0] += wins[t][0];
		total[1] += wins[t][1];
	}
	CHECK(total[0] == NBITS, "test_and_set_bit: %lu winners for %lu bits", total[0],
	      (unsigned long)NBITS);
	CHECK(total[1] == NBITS, "test_and_clear_bit: %lu winners for %lu bits", total[1],
	      (unsigned long)NBITS);
	/* Phase 3 touched bit b (of each thread) iff its slot index was visited. */
	for (b = 0; b < NBITS; b++) {
		unsigned long slot = b / NTHREADS;
		int visited = 0, want;
		unsigned int it;

		for (it = 0; it < ITERS && it < NBITS / NTHREADS; it++)
			if (it * 7 % (NBITS / NTHREADS) == slot)
				visited = 1;
		want = visited && slot % 3 == 0;
		CHECK(test_bit(b, bits) == want, "bit %lu is %d, want %d", b, test_bit(b, bits),
		      want);
	}
}

/*
 * kvmuf_bits_extract (KVMUF_GET_MISSING) against the bit-at-a-time definition: random
 * bitmaps, every alignment of the start, lengths that end inside, at and past words.
 */
static void test_bits_extract(void)
{
	enum { XBITS = 700, WORDS = (XBITS + 63) / 64 };
	unsigned long src[WORDS];
	u64 dst[WORDS + 2];
	unsigned int bad = 0;

	for (int round = 0; round < 200; round++) {
		for (unsigned int w = 0; w < WORDS; w++)
			src[w] = round % 3 ? rnd64() : ~0UL;
		for (u64 first = 0; first < 130; first += 1 + round % 5) {
			u64 len = rnd64() % (XBITS - first) + 1, end = first + len;
			u64 words = (len + 63) / 64, set, want_set = 0;

			set = kvmuf_bits_extract(src, end, first, dst, words);
			for (u64 i = 0; i < 64 * words; i++) {
				bool want = first + i < end && test_bit(first + i, src);
				bool got = (dst[i / 64] >> (i % 64)) & 1;

				want_set += want;
				bad += want != got;
			}
			bad += set != want_set;
		}
	}
	CHECK(bad == 0, "bits_extract: %u bits or counts differ from the definition", bad);
}

int main(void)
{
	test_bits_extract();
	test_empty();
	test_one();
	test_many(40);
	test_u64_extremes();
	test_missing_bit();
	test_frames();
	printf("  ranges: ok\n");
	test_concurrent_bits();
	printf("  concurrent bitmaps: %d threads, %lu bits: ok\n", NTHREADS, (unsigned long)NBITS);
	return check_summary("test_ranges");
}
