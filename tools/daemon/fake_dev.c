// SPDX-License-Identifier: GPL-2.0
/* A fake /dev/kvm-userfault for the page engine's host tests: see fake_dev.h. */
#define _GNU_SOURCE
#include "fake_dev.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void *xalloc_pages(size_t n)
{
	void *p = aligned_alloc(PAGE, n * PAGE);

	if (!p) {
		perror("aligned_alloc");
		exit(1);
	}
	memset(p, 0, n * PAGE);
	return p;
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}




void fake_init(struct fake_dev *d, unsigned int nr_rings, uint32_t entries,
		      const struct kvmuf_serve_geom *g, const unsigned char *snap_data,
		      unsigned char *mem)
{
	memset(d, 0, sizeof(*d));
	d->nr_rings = nr_rings;
	d->entries = entries;
	pthread_mutex_init(&d->lock, NULL);
	for (unsigned int r = 0; r < nr_rings; r++) {
		size_t size = KVMUF_RING_STRIDE(entries);
		struct kvmuf_ring_header *hdr;

		d->ring_mem[r] = xalloc_pages(size / PAGE);
		hdr = d->ring_mem[r];
		hdr->entries = entries;
		hdr->vcpu = r ? r - 1 : KVMUF_VM_RING;
		if (kvmuf_ring_view_setup(&d->views[r], d->ring_mem[r], entries) < 0) {
			printf("FAIL: kvmuf_ring_view_setup\n");
			exit(1);
		}
	}
	d->geom = *g;
	d->snap_data = snap_data;
	d->mem = mem;
	d->resolved = calloc(g->mem_npages, 1);
}

void fake_destroy(struct fake_dev *d)
{
	for (unsigned int r = 0; r < d->nr_rings; r++)
		free(d->ring_mem[r]);
	free(d->resolved);
	pthread_mutex_destroy(&d->lock);
}

/* Producer side, as the kernel does it: entry, then store-release tail. */
void fake_push(struct fake_dev *d, unsigned int ring, uint64_t gfn)
{
	struct kvmuf_ring_header *hdr = d->ring_mem[ring];
	struct kvmuf_fault *e = (struct kvmuf_fault *)((char *)hdr + KVMUF_RING_HEADER_SIZE);
	uint32_t tail = __atomic_load_n(&hdr->tail, __ATOMIC_RELAXED);

	while (tail - __atomic_load_n(&hdr->head, __ATOMIC_ACQUIRE) >= d->entries)
		sched_yield();		/* full: wait for the consumer */
	e[tail & (d->entries - 1)] = (struct kvmuf_fault) {
		.gfn = gfn,
		.vcpu = ring ? ring - 1 : KVMUF_VM_RING,
		.flags = KVMUF_FAULT_READ,
		.time_ns = now_ms() * 1000000,	/* the working set orders by it */
	};
	__atomic_store_n(&hdr->tail, tail + 1, __ATOMIC_RELEASE);
}

static size_t fake_consume(void *ctx, unsigned int ring, struct kvmuf_fault *out,
			   size_t max)
{
	struct fake_dev *d = ctx;

	if (ring >= d->nr_rings) {
		atomic_fetch_add(&d->consumer_violations, 1);
		return 0;
	}
	pthread_mutex_lock(&d->lock);
	if (!d->consumer_set[ring]) {
		d->consumer[ring] = pthread_self();
		d->consumer_set[ring] = 1;
	} else if (!pthread_equal(d->consumer[ring], pthread_self())) {
		atomic_fetch_add(&d->consumer_violations, 1);
	}
	pthread_mutex_unlock(&d->lock);
	return kvmuf_ring_view_consume(&d->views[ring], out, max);
}

static void note_batch(struct fake_dev *d, size_t nr)
{
	unsigned long long cur = atomic_load(&d->max_nr);

	while (nr > cur && !atomic_compare_exchange_weak(&d->max_nr, &cur, nr))
		;
	atomic_fetch_add(&d->elements, nr);
}

/* Mark a page resolved: 1 if it changed, 0 if it was already. */
static int fake_mark(struct fake_dev *d, uint64_t gfn)
{
	uint64_t i = gfn - d->geom.mem_base_gfn;
	int changed;

	if (gfn < d->geom.mem_base_gfn || i >= d->geom.mem_npages) {
		atomic_fetch_add(&d->bad_src, 1);
		return 0;
	}
	pthread_mutex_lock(&d->lock);
	changed = !d->resolved[i];
	d->resolved[i] = 1;
	pthread_mutex_unlock(&d->lock);
	return changed;
}

/*
 * What a resolve returns before it does anything: -ENODEV once detached, else the
 * injected failure (taken either way: it is for the next call only), else 0.
 */
static int fake_refuse(struct fake_dev *d)
{
	int fail = atomic_exchange(&d->fail_next, 0);

	return atomic_load(&d->detach) ? -ENODEV : fail;
}

static int fake_resolve_copy(void *ctx, const struct kvmuf_copy *c, size_t nr,
			     uint64_t *changed, uint64_t *unchanged)
{
	struct fake_dev *d = ctx;
	int ret = fake_refuse(d);

	if (ret)
		return ret;
	note_batch(d, nr);
	*changed = *unchanged = 0;
	for (size_t i = 0; i < nr; i++) {
		atomic_fetch_add(&d->pages_in_elements, c[i].npages);
		if (c[i].src & (PAGE - 1))
			atomic_fetch_add(&d->bad_src, 1);
		for (uint64_t p = 0; p < c[i].npages; p++) {
			uint64_t gfn = c[i].gfn + p;
			const unsigned char *src = (const unsigned char *)(uintptr_t)c[i].src +
						   p * PAGE;
			const unsigned char *want = d->snap_data ? d->snap_data +
				(gfn - d->geom.snap_base_gfn) * PAGE : NULL;

			if (src != want && !d->any_src)
				atomic_fetch_add(&d->bad_src, 1);
			else if (kvmuf_snap_check_page(src, gfn, SEED) >= 0)
				atomic_fetch_add(&d->bad_data, 1);
			if (fake_mark(d, gfn))
				(*changed)++;
			else
				(*unchanged)++;
		}
	}
	return 0;
}

static int fake_resolve(void *ctx, const struct kvmuf_gfn_range *r, size_t nr, uint32_t flags,
			uint64_t *changed, uint64_t *unchanged)
{
	struct fake_dev *d = ctx;
	int ret = fake_refuse(d);

	if (ret)
		return ret;
	atomic_fetch_add(&d->resolves, 1);
	if (flags == KVMUF_RESOLVE_POPULATE)
		atomic_fetch_add(&d->populating, 1);
	note_batch(d, nr);
	*changed = *unchanged = 0;
	for (size_t i = 0; i < nr; i++) {
		atomic_fetch_add(&d->pages_in_elements, r[i].npages);
		for (uint64_t p = 0; p < r[i].npages; p++) {
			uint64_t gfn = r[i].gfn + p;

			if (fake_mark(d, gfn)) {
				/* The data must be in place before RESOLVE. */
				if (d->mem && kvmuf_snap_check_page(d->mem + (gfn - d->geom.mem_base_gfn) * PAGE,
							  gfn, SEED) >= 0)
					atomic_fetch_add(&d->bad_data, 1);
				(*changed)++;
			} else {
				(*unchanged)++;
			}
		}
	}
	return 0;
}

static int fake_poll(void *ctx, int extra_fd, int timeout_ms)
{
	struct fake_dev *d = ctx;
	struct timespec ts = { 0, 200 * 1000 };		/* 0.2 ms */
	struct pollfd p = { .fd = extra_fd, .events = POLLIN };

	(void)timeout_ms;
	if (extra_fd >= 0 && poll(&p, 1, 0) > 0)
		return 1;
	if (atomic_load(&d->detach))
		return -ENODEV;
	for (unsigned int r = 0; r < d->nr_rings; r++)
		if (kvmuf_ring_view_pending(&d->views[r]))
			return 1;
	nanosleep(&ts, NULL);
	return 0;
}

const struct kvmuf_serve_ops fake_ops = {
	.consume = fake_consume,
	.resolve = fake_resolve,
	.resolve_copy = fake_resolve_copy,
	.poll = fake_poll,
};

struct kvmuf_server *fake_start(struct fake_dev *d, unsigned int threads, void *mem)
{
	struct kvmuf_server_config cfg = {
		.ops = &fake_ops,
		.ctx = d,
		.nr_rings = d->nr_rings,
		.nr_threads = threads,
		.geom = d->geom,
		.snap_data = d->snap_data,
		.mem = mem,
		.populate = mem != NULL,
		.poll_ms = 50,
		.log_prefix = NULL,
	};
	struct kvmuf_server *s;
	int ret = kvmuf_server_start(&cfg, &s);

	if (ret < 0) {
		printf("FAIL: kvmuf_server_start: %s\n", kvmuf_strerror(ret));
		exit(1);
	}
	return s;
}

/* Wait until the server consumed @faults entries and resolved @resolved GFNs. */
int settle(struct kvmuf_server *s, uint64_t faults, uint64_t resolved)
{
	uint64_t t0 = now_ms();
	struct kvmuf_server_stats st;

	do {
		kvmuf_server_stats(s, &st);
		if (st.faults == faults && st.served + st.unchanged == resolved)
			return 0;
		usleep(1000);
	} while (now_ms() - t0 < 10000);
	printf("  settle: faults %llu/%llu, resolved %llu/%llu\n",
	       (unsigned long long)st.faults, (unsigned long long)faults,
	       (unsigned long long)(st.served + st.unchanged),
	       (unsigned long long)resolved);
	return -1;
}

/* Wait for @faults ring entries and the first @npages pages resolved. 0 or -1. */
int settle_resolved(struct kvmuf_server *s, struct fake_dev *d, uint64_t faults,
			   uint64_t npages)
{
	uint64_t t0 = now_ms(), missing = 0;
	struct kvmuf_server_stats st;

	do {
		kvmuf_server_stats(s, &st);
		missing = 0;
		pthread_mutex_lock(&d->lock);
		for (uint64_t i = 0; i < npages; i++)
			missing += !d->resolved[i];
		pthread_mutex_unlock(&d->lock);
		if (st.faults == faults && !missing)
			return 0;
		usleep(1000);
	} while (now_ms() - t0 < 10000);
	printf("  settle: faults %llu/%llu, %llu pages not resolved\n",
	       (unsigned long long)st.faults, (unsigned long long)faults,
	       (unsigned long long)missing);
	return -1;
}

unsigned char *make_snap_data(uint64_t base, uint64_t npages)
{
	unsigned char *p = xalloc_pages(npages);

	for (uint64_t i = 0; i < npages; i++)
		kvmuf_snap_fill_page(p + i * PAGE, base + i, SEED);
	return p;
}

