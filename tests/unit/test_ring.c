// SPDX-License-Identifier: GPL-2.0
/*
 * The ring: the module's producer (module/ring.h, compiled here through kshim.h)
 * against libkvmuf's consumer (tools/lib/ring.c).
 *
 *  - single-threaded: fill / full / drain, FIFO order under random batch sizes,
 *    wrap-around of the u32 indexes, a bogus head written by the consumer (the
 *    producer must report full and write nothing), a bogus tail (the consumer must
 *    copy at most `entries` entries), rings of invalid size;
 *  - concurrent: one producer thread, one consumer thread, millions of entries through
 *    a small ring, every gfn exactly once and in order (run under ThreadSanitizer).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kshim.h"
#include "kvmuf.h"
#include "unit.h"

#define GUARD		4096
#define CANARY		0xa5

struct test_ring {
	unsigned char *mem;
	size_t size;		/* bytes of the ring proper: header + entries */
	size_t alloc;		/* size + guard, page rounded */
	uint32_t entries;
	struct kvmuf_kring kr;	/* producer (the module's code) */
	struct kvmuf_ring_view v;	/* consumer (the library's code) */
};

static void ring_setup(struct test_ring *t, uint32_t entries, uint32_t vcpu)
{
	t->entries = entries;
	t->size = KVMUF_RING_HEADER_SIZE + (size_t)entries * sizeof(struct kvmuf_fault);
	t->alloc = (KVMUF_RING_STRIDE(entries) + GUARD + 4095) & ~(size_t)4095;
	t->mem = aligned_alloc(4096, t->alloc);
	REQUIRE(t->mem, "out of memory");
	memset(t->mem, 0, t->size);
	memset(t->mem + t->size, CANARY, t->alloc - t->size);
	kvmuf_kring_init(&t->kr, t->mem, entries, vcpu);
	kvmuf_ring_view_init(&t->v, t->mem);
}

static void ring_check_canary(const struct test_ring *t, const char *what)
{
	size_t i;

	for (i = t->size; i < t->alloc; i++)
		if (t->mem[i] != CANARY)
			break;
	CHECK(i == t->alloc, "%s: write past the ring at byte %zu", what, i - t->size);
}

static void ring_free(struct test_ring *t)
{
	ring_check_canary(t, "free");
	free(t->mem);
}

/* Set every index to start, as if start entries had gone through already. */
static void ring_set_index(struct test_ring *t, uint32_t start)
{
	t->kr.tail = start;
	t->kr.hdr->tail = start;
	t->kr.hdr->head = start;
}

static struct kvmuf_fault fault_of(uint64_t i)
{
	struct kvmuf_fault f;

	memset(&f, 0, sizeof(f));
	f.gfn = i;
	f.time_ns = i * 7 + 1;
	f.vcpu = (uint32_t)i ^ 0x5a5a5a5au;
	f.flags = (uint32_t)(i & 7);
	f.reserved = ~i;
	return f;
}

static int fault_is(const struct kvmuf_fault *f, uint64_t i)
{
	struct kvmuf_fault want = fault_of(i);

	return !memcmp(f, &want, sizeof(want));
}

static void test_fill_drain(uint32_t entries)
{
	struct test_ring t;
	struct kvmuf_fault *out, f;
	unsigned char *snap;
	uint32_t i;
	size_t n;

	ring_setup(&t, entries, 3);
	out = calloc(entries + 1, sizeof(*out));
	snap = malloc(t.alloc);
	REQUIRE(out && snap, "out of memory");

	CHECK(t.kr.hdr->entries == entries && t.kr.hdr->vcpu == 3, "header not set up");
	CHECK(t.v.entries && t.v.mask == entries - 1, "view mask %u", t.v.mask);
	CHECK(kvmuf_kring_empty(&t.kr), "new ring not empty");
	CHECK(kvmuf_ring_view_consume(&t.v, out, entries) == 0, "consumed from an empty ring");
	CHECK(kvmuf_ring_view_pending(&t.v) == 0, "pending on an empty ring");

	for (i = 0; i < entries; i++) {
		f = fault_of(i);
		CHECK(kvmuf_kring_push(&t.kr, &f), "push %u of %u failed", i, entries);
	}
	CHECK(kvmuf_kring_full(&t.kr), "ring of %u not full", entries);
	CHECK(kvmuf_ring_view_pending(&t.v) == entries, "pending %u",
	      kvmuf_ring_view_pending(&t.v));

	/* Full: push fails and writes nothing at all. */
	memcpy(snap, t.mem, t.alloc);
	f = fault_of(999999);
	CHECK(!kvmuf_kring_push(&t.kr, &f), "push into a full ring succeeded");
	CHECK(!memcmp(snap, t.mem, t.alloc), "a failed push wrote to the ring");
	CHECK(t.kr.tail == entries && t.kr.hdr->tail == entries, "tail %u", t.kr.hdr->tail);

	/* One slot back, one more push. */
	n = kvmuf_ring_view_consume(&t.v, out, 1);
	CHECK(n == 1 && fault_is(&out[0], 0), "first entry: n %zu gfn %llu", n,
	      (unsigned long long)out[0].gfn);
	CHECK(t.kr.hdr->head == 1, "head %u after one", t.kr.hdr->head);
	CHECK(!kvmuf_kring_full(&t.kr), "full after a slot was given back");
	f = fault_of(entries);
	CHECK(kvmuf_kring_push(&t.kr, &f), "push after a slot was given back failed");
	CHECK(!kvmuf_kring_push(&t.kr, &f), "push into a full ring succeeded (2)");

	/* Drain: max larger than what is there. */
	n = kvmuf_ring_view_consume(&t.v, out, entries + 1);
	CHECK(n == entries, "drained %zu of %u", n, entries);
	for (i = 0; i < n; i++)
		CHECK(fault_is(&out[i], i + 1), "entry %u: gfn %llu", i,
		      (unsigned long long)out[i].gfn);
	CHECK(kvmuf_ring_view_consume(&t.v, out, entries) == 0, "consumed from a drained ring");
	CHECK(t.kr.hdr->head == entries + 1 && kvmuf_kring_empty(&t.kr), "head %u",
	      t.kr.hdr->head);

	/* Nothing to copy into: nothing consumed, head untouched. */
	f = fault_of(7);
	CHECK(kvmuf_kring_push(&t.kr, &f), "push failed");
	CHECK(kvmuf_ring_view_consume(&t.v, out, 0) == 0, "consumed with max 0");
	CHECK(kvmuf_ring_view_consume(&t.v, NULL, 5) == 0, "consumed into NULL");
	CHECK(t.kr.hdr->head == entries + 1, "head moved without a consume");

	free(snap);
	free(out);
	ring_free(&t);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Random batch sizes on both sides; FIFO with nothing lost or duplicated. */
static void test_random_batches(uint32_t entries, uint32_t start, unsigned int rounds)
{
	struct test_ring t;
	struct kvmuf_fault out[80], f;
	uint64_t pushed = 0, popped = 0;
	unsigned int r;

	ring_setup(&t, entries, 0);
	ring_set_index(&t, start);
	for (r = 0; r < rounds; r++) {
		uint32_t want = rnd() % (entries + 8), i;
		size_t n, max = rnd() % 80;

		for (i = 0; i < want; i++) {
			bool room = pushed - popped < entries;

			f = fault_of(pushed);
			CHECK(kvmuf_kring_push(&t.kr, &f) == room, "push with %llu in ring",
			      (unsigned long long)(pushed - popped));
			if (room)
				pushed++;
		}
		CHECK(kvmuf_ring_view_pending(&t.v) == pushed - popped, "pending %u, want %llu",
		      kvmuf_ring_view_pending(&t.v), (unsigned long long)(pushed - popped));
		n = kvmuf_ring_view_consume(&t.v, out, max);
		CHECK(n == (max < pushed - popped ? max : pushed - popped), "consumed %zu", n);
		for (i = 0; i < n; i++, popped++)
			CHECK(fault_is(&out[i], popped), "round %u: got gfn %llu, want %llu", r,
			      (unsigned long long)out[i].gfn, (unsigned long long)popped);
	}
	CHECK(t.kr.hdr->tail == (uint32_t)(start + pushed), "tail %u", t.kr.hdr->tail);
	CHECK(t.kr.hdr->head == (uint32_t)(start + popped), "head %u", t.kr.hdr->head);
	ring_free(&t);
}

/* The u32 indexes wrap: entries land in slot index & mask and come out in order. */
static void test_wrap(uint32_t entries)
{
	uint32_t starts[] = { UINT32_MAX, UINT32_MAX - 2, UINT32_MAX - entries + 1,
			      UINT32_MAX - entries / 2, 0x80000000u - 3 };
	struct kvmuf_fault *out, f;
	unsigned int s;

	out = calloc(entries, sizeof(*out));
	REQUIRE(out, "out of memory");
	for (s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		uint32_t start = starts[s], i, round;
		struct test_ring t;
		uint64_t next = 0;

		ring_setup(&t, entries, 0);
		ring_set_index(&t, start);
		for (round = 0; round < 3; round++) {
			uint32_t base = start + round * entries;

			for (i = 0; i < entries; i++) {
				f = fault_of(next + i);
				CHECK(kvmuf_kring_push(&t.kr, &f), "start %#x: push %u failed",
				      start, i);
				CHECK(fault_is(&t.kr.entries[(base + i) & (entries - 1)], next + i),
				      "start %#x: entry %u not in slot index & mask", start, i);
			}
			CHECK(!kvmuf_kring_push(&t.kr, &f), "start %#x: full ring took a push",
			      start);
			CHECK(t.kr.hdr->tail == base + entries, "start %#x: tail %#x", start,
			      t.kr.hdr->tail);
			CHECK(kvmuf_ring_view_consume(&t.v, out, entries) == entries,
			      "start %#x: drain", start);
			for (i = 0; i < entries; i++)
				CHECK(fault_is(&out[i], next + i), "start %#x: gfn %llu want %llu",
				      start, (unsigned long long)out[i].gfn,
				      (unsigned long long)(next + i));
			CHECK(t.kr.hdr->head == base + entries, "start %#x: head %#x", start,
			      t.kr.hdr->head);
			next += entries;
		}
		ring_free(&t);
	}
	free(out);
}

/*
 * The consumer may write anything to head. The producer only pushes when the ring
 * truly has a free slot (tail - head < entries) and then writes slot tail & mask and
 * the tail, nothing else; otherwise it writes nothing.
 */
static void test_bogus_head(uint32_t entries)
{
	struct test_ring t;
	unsigned char *snap;
	struct kvmuf_fault f;
	unsigned int i;

	ring_setup(&t, entries, 0);
	snap = malloc(t.alloc);
	REQUIRE(snap, "out of memory");

	for (i = 0; i < 200000; i++) {
		uint32_t tail = i < 100 ? UINT32_MAX - 50 + i : rnd() * 2654435761u;
		uint32_t head, used;
		size_t slot, off;
		bool ok;

		switch (i % 8) {
		case 0: head = tail + 5; break;				/* ahead of tail */
		case 1: head = tail - 10 * entries; break;		/* far behind */
		case 2: head = tail - entries; break;			/* exactly full */
		case 3: head = tail - entries + 1; break;		/* one free slot */
		case 4: head = tail + 1; break;
		case 5: head = tail + 0x80000000u; break;
		case 6: head = tail - (rnd() % entries); break;		/* legal */
		default: head = rnd(); break;
		}
		used = tail - head;
		t.kr.tail = tail;
		t.kr.hdr->tail = tail;
		t.kr.hdr->head = head;
		memcpy(snap, t.mem, t.alloc);
		f = fault_of(i);
		ok = kvmuf_kring_push(&t.kr, &f);
		CHECK(ok == (used < entries), "tail %#x head %#x: push %s", tail, head,
		      ok ? "succeeded" : "failed");
		if (!ok) {
			CHECK(!memcmp(snap, t.mem, t.alloc) && t.kr.tail == tail,
			      "tail %#x head %#x: a refused push wrote", tail, head);
			continue;
		}
		/* Exactly the slot and the tail changed. */
		slot = KVMUF_RING_HEADER_SIZE + (size_t)(tail & (entries - 1)) * sizeof(f);
		CHECK(fault_is((struct kvmuf_fault *)(t.mem + slot), i), "entry not in its slot");
		CHECK(t.kr.hdr->tail == tail + 1 && t.kr.tail == tail + 1, "tail not advanced");
		memcpy(snap + slot, t.mem + slot, sizeof(f));
		off = offsetof(struct kvmuf_ring_header, tail);
		memcpy(snap + off, t.mem + off, sizeof(uint32_t));
		CHECK(!memcmp(snap, t.mem, t.alloc), "tail %#x head %#x: push wrote elsewhere",
		      tail, head);
		if (failures)
			break;
	}
	free(snap);
	ring_free(&t);
}

/* A tail far ahead of head (a kernel bug): one consume copies at most `entries`. */
static void test_bogus_tail(uint32_t entries)
{
	uint32_t deltas[] = { entries + 1, 10 * entries, 0x80000000u, UINT32_MAX };
	size_t max = 10 * (size_t)entries + 16;
	struct kvmuf_fault *out;
	unsigned int d;

	out = malloc((max + 1) * sizeof(*out));
	REQUIRE(out, "out of memory");
	for (d = 0; d < sizeof(deltas) / sizeof(deltas[0]); d++) {
		uint32_t head = UINT32_MAX - 3;
		struct test_ring t;
		size_t n, i;

		ring_setup(&t, entries, 0);
		memset(out, 0x77, (max + 1) * sizeof(*out));
		t.kr.hdr->head = head;
		t.kr.hdr->tail = head + deltas[d];
		CHECK(kvmuf_ring_view_pending(&t.v) == entries, "pending %u with tail-head %#x",
		      kvmuf_ring_view_pending(&t.v), deltas[d]);
		n = kvmuf_ring_view_consume(&t.v, out, max);
		CHECK(n == entries, "tail-head %#x: consumed %zu", deltas[d], n);
		CHECK(t.kr.hdr->head == head + entries, "head %#x", t.kr.hdr->head);
		for (i = n; i <= max; i++) {
			const unsigned char *b = (const unsigned char *)&out[i];

			if (b[0] != 0x77 || b[sizeof(out[i]) - 1] != 0x77)
				break;
		}
		CHECK(i == max + 1, "tail-head %#x: wrote out[%zu]", deltas[d], i);
		ring_free(&t);
	}
	free(out);
}

/* A header with a size that is not a power of two in range: the view refuses it. */
static void test_bad_size(void)
{
	uint32_t bad[] = { 0, 3, 48, KVMUF_MAX_RING_ENTRIES * 2, 0x80000000u, UINT32_MAX };
	struct kvmuf_ring_view v;
	struct kvmuf_fault out[4];
	unsigned int i;
	void *mem = aligned_alloc(4096, KVMUF_RING_STRIDE(16));

	REQUIRE(mem, "out of memory");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kvmuf_ring_header *h = mem;

		memset(mem, 0, KVMUF_RING_STRIDE(16));
		h->entries = bad[i];
		h->tail = 3;
		kvmuf_ring_view_init(&v, mem);
		CHECK(!v.entries, "size %u accepted", bad[i]);
		CHECK(kvmuf_ring_view_consume(&v, out, 4) == 0 && h->head == 0,
		      "consumed from a ring of size %u", bad[i]);
		CHECK(kvmuf_ring_view_pending(&v) == 0, "pending on a ring of size %u", bad[i]);
		CHECK(kvmuf_ring_view_setup(&v, mem, bad[i]) == -EINVAL, "setup %u", bad[i]);
	}
	CHECK(kvmuf_ring_view_setup(&v, mem, 16) == 0 && v.mask == 15, "setup 16");
	CHECK(kvmuf_ring_view_setup(&v, NULL, 16) == -EINVAL, "setup NULL");
	kvmuf_ring_view_init(&v, NULL);
	CHECK(kvmuf_ring_view_consume(&v, out, 4) == 0, "consume on a NULL ring");
	free(mem);
}

/* ---- concurrent -------------------------------------------------------------- */

struct conc {
	struct test_ring t;
	uint64_t total;
	uint64_t producer_full;		/* times the producer found the ring full */
	uint64_t consumer_empty;	/* times the consumer found it empty */
	uint64_t bad;			/* consumer: entries out of order or torn */
	uint64_t got;
};

static void *producer(void *arg)
{
	struct conc *c = arg;
	uint64_t i;

	for (i = 0; i < c->total; i++) {
		struct kvmuf_fault f = fault_of(i);
		unsigned int spins = 0;

		while (!kvmuf_kring_push(&c->t.kr, &f)) {
			c->producer_full++;
			if (++spins > 16)
				sched_yield();
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct conc *c = arg;
	struct kvmuf_fault out[70];
	uint64_t next = 0;
	unsigned int spins = 0, k = 0;

	while (next < c->total) {
		size_t max = 1 + (k++ % 70), n, i;

		n = kvmuf_ring_view_consume(&c->t.v, out, max);
		if (!n) {
			c->consumer_empty++;
			if (++spins > 16)
				sched_yield();
			continue;
		}
		spins = 0;
		for (i = 0; i < n; i++, next++) {
			if (!fault_is(&out[i], next)) {
				if (c->bad++ < 5)
					fprintf(stderr, "consumer: got gfn %llu, want %llu\n",
						(unsigned long long)out[i].gfn,
						(unsigned long long)next);
				next = out[i].gfn;	/* resync, keep counting */
			}
		}
	}
	c->got = next;
	return NULL;
}

static void test_concurrent(uint32_t entries, uint64_t total, uint32_t start)
{
	struct conc c;
	pthread_t p, q;

	memset(&c, 0, sizeof(c));
	c.total = total;
	ring_setup(&c.t, entries, 1);
	ring_set_index(&c.t, start);
	REQUIRE(!pthread_create(&q, NULL, consumer, &c), "pthread_create");
	REQUIRE(!pthread_create(&p, NULL, producer, &c), "pthread_create");
	pthread_join(p, NULL);
	pthread_join(q, NULL);

	CHECK(c.bad == 0, "%llu entries out of order or torn", (unsigned long long)c.bad);
	CHECK(c.got == total, "consumer saw %llu of %llu", (unsigned long long)c.got,
	      (unsigned long long)total);
	CHECK(c.t.kr.hdr->tail == (uint32_t)(start + total) &&
	      c.t.kr.hdr->head == (uint32_t)(start + total), "indexes %#x/%#x at the end",
	      c.t.kr.hdr->head, c.t.kr.hdr->tail);
	CHECK(kvmuf_ring_view_pending(&c.t.v) == 0, "entries left");
	printf("  concurrent: %llu entries through %u slots from index %#x (producer found it "
	       "full %llu times, consumer empty %llu times)\n", (unsigned long long)total,
	       entries, start, (unsigned long long)c.producer_full,
	       (unsigned long long)c.consumer_empty);
	ring_free(&c.t);
}

int main(int argc, char **argv)
{
	uint64_t total = 2000000;
	uint32_t sizes[] = { 1, 2, 16, 64, 1024 };
	unsigned int i;

	if (argc > 1)
		total = strtoull(argv[1], NULL, 0);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		test_fill_drain(sizes[i]);
		test_random_batches(sizes[i], 0, 5000);
		test_random_batches(sizes[i], UINT32_MAX - 3000, 5000);
		test_wrap(sizes[i]);
		test_bogus_tail(sizes[i]);
	}
	test_bogus_head(16);
	test_bogus_head(64);
	test_bad_size();
	printf("  single-threaded: ok\n");

	/* Crosses the u32 wrap of the indexes half way. */
	test_concurrent(64, total, UINT32_MAX - (uint32_t)(total / 2));
	test_concurrent(16, total / 10, 0);
	return check_summary("test_ring");
}
