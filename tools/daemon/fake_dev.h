/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake /dev/kvm-userfault for the page engine's host tests (test_daemon, test_plan):
 * rings in plain memory, produced as the kernel does and consumed by the real libkvmuf
 * consumer, and resolve calls that check every page they are given against the
 * snapshot pattern and count each GFN made present.
 */
#ifndef KVMUF_FAKE_DEV_H
#define KVMUF_FAKE_DEV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kvmuf.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"

#define PAGE	4096u
#define SEED	0x0123456789abcdefULL
#define BASE	0x100000ULL		/* kvmuf-vmm's test memory */
#define MAX_RINGS 8

struct fake_dev {
	unsigned int nr_rings;
	uint32_t entries;
	void *ring_mem[MAX_RINGS];
	struct kvmuf_ring_view views[MAX_RINGS];
	pthread_mutex_t lock;
	pthread_t consumer[MAX_RINGS];
	int consumer_set[MAX_RINGS];
	atomic_int consumer_violations;

	/* What resolving checks against. */
	struct kvmuf_serve_geom geom;
	const unsigned char *snap_data;
	unsigned char *mem;			/* memfd mode */
	uint8_t *resolved;			/* per memory page */
	atomic_ullong bad_src, bad_data, max_nr, elements, pages_in_elements;
	atomic_int detach;			/* poll and resolve: -ENODEV */
	atomic_int fail_next;			/* next resolve returns this */
	atomic_uint resolves, populating;	/* RESOLVE calls, those with POPULATE */
	int any_src;				/* copies may come from any buffer */
};

extern const struct kvmuf_serve_ops fake_ops;

void *xalloc_pages(size_t n);
uint64_t now_ms(void);
unsigned char *make_snap_data(uint64_t base, uint64_t npages);
void fake_init(struct fake_dev *d, unsigned int nr_rings, uint32_t entries,
	       const struct kvmuf_serve_geom *g, const unsigned char *snap_data,
	       unsigned char *mem);
void fake_destroy(struct fake_dev *d);
/* Push a read fault for @gfn into ring @ring, as the kernel does (waits while full). */
void fake_push(struct fake_dev *d, unsigned int ring, uint64_t gfn);
/* The engine on the fake device: @threads workers, memfd mode if @mem. Exits on error. */
struct kvmuf_server *fake_start(struct fake_dev *d, unsigned int threads, void *mem);
/* Wait until the server consumed @faults entries and resolved @resolved GFNs. 0 or -1. */
int settle(struct kvmuf_server *s, uint64_t faults, uint64_t resolved);
/* Wait for @faults ring entries and the first @npages pages resolved. 0 or -1. */
int settle_resolved(struct kvmuf_server *s, struct fake_dev *d, uint64_t faults,
		    uint64_t npages);

#endif /* KVMUF_FAKE_DEV_H */
