/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: what the page engine's demand side (server.c) and its prefetch threads
 * (prefetch.c) share. Not installed.
 *
 * Per-page state, one bit each in the bitmaps below, all set once and never cleared
 * (except served, when a claim's read failed before anything was installed):
 *   served    claimed: exactly one thread brings the page in (mark_served())
 *   uffd      ... and that was a userfaultfd message
 *   ahead     ... and that was a prefetch or a readahead, not a fault
 *   done      installed through the userfaultfd (UFFDIO_COPY, or EEXIST)
 *   resolved  a resolve call that covered it returned: it is present in the module too
 *   recorded  its first ring fault is in the working set (plan->record)
 * A fault on a page served but not yet resolved is left to whoever claimed it (a
 * "join"); the worker times it when the page's resolved bit appears.
 */
#ifndef KVMUF_SERVER_PRIV_H
#define KVMUF_SERVER_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kvmuf_server.h"
#include "kvmuf_source.h"
#include "lathist.h"

#define PAGE		4096u
#define CONSUME_MAX	256		/* entries per kvmuf_ring_consume() */
#define BATCH_MAX	KVMUF_MAX_BATCH	/* elements per resolve ioctl */
#define MERGE_MAX	1024		/* pages per batch element */
#define PENDING_MAX	1024		/* faults per batch with on_served */
#define RUN_PAGES	KVMUF_SERVE_MAX_BATCH	/* pages one source read brings in */
#define JOIN_MAX	256		/* joined faults a worker times at once */
#define NO_GFN		UINT64_MAX
#define UFFD_MSGS	32		/* userfaultfd messages per read() */

/* A page being brought in from the source by one worker or prefetch thread. */
struct claim {
	uint64_t gfn;
	uint64_t idx;			/* page index in the guest memory */
	uint64_t soff;			/* byte offset in the snapshot data */
};

struct join {
	struct kvmuf_fault f;
	uint64_t idx;
};

/* A demand worker (id < nr_threads) or a prefetch thread (id >= nr_threads). */
struct worker {
	struct kvmuf_server *s;
	unsigned int id;
	unsigned int conn;		/* its source connection */
	pthread_t thread;
	int running;
	size_t nr;			/* batch elements */
	struct kvmuf_fault faults[CONSUME_MAX];
	union {
		struct kvmuf_copy copies[BATCH_MAX];
		struct kvmuf_gfn_range ranges[BATCH_MAX];
	};
	unsigned char *page;		/* fetch(): where the page's data goes */
	size_t npending;		/* the faults in the batch */
	struct kvmuf_fault pending[PENDING_MAX];
	uint64_t consumed_ns[PENDING_MAX];	/* when each pending fault was consumed */
	/* With a plan's source: the pages of the next read, and where they go. */
	size_t nclaims;
	struct claim claims[RUN_PAGES];
	struct kvmuf_source_run runs[RUN_PAGES];
	unsigned char *runbuf;		/* RUN_PAGES pages */
	size_t njoins;
	struct join joins[JOIN_MAX];
	/* plan->record: this worker's first faults, under rec_lock */
	pthread_mutex_t rec_lock;
	struct kvmuf_ws_entry *rec;
	size_t nrec, caprec;
};

struct kvmuf_server {
	struct kvmuf_server_config cfg;
	struct kvmuf_serve_plan plan;	/* zero: none */
	struct kvmuf_serve_ops ops;
	void *ctx;
	unsigned int nr_rings;
	unsigned int nr_threads;
	unsigned int started;
	struct worker *workers;		/* nr_threads demand workers, then the prefetchers */
	_Atomic uint64_t *served_bits;	/* one bit per guest memory page */
	_Atomic uint64_t *uffd_bits;	/* ... that userfaultfd asked for first */
	_Atomic uint64_t *done_bits;	/* ... installed (backstop): in place, or EEXIST */
	_Atomic uint64_t *ahead_bits;	/* ... claimed by a prefetch or readahead */
	_Atomic uint64_t *resolved_bits;	/* ... present in the module */
	_Atomic uint64_t *recorded_bits;	/* ... in the working set */
	int copy_only;			/* install with RESOLVE_COPY, even memfd memory */
	int done_fd;
	atomic_int stop;
	atomic_int done;
	atomic_int detached;
	atomic_uint logged;
	atomic_int demand_busy;		/* workers serving faults right now */
	_Atomic uint64_t faults, served, unchanged, duplicates, out_of_range;
	_Atomic uint64_t ring_served, uffd_faults, uffd_served, both, refaults, fetched;
	_Atomic uint64_t errors, batches;
	_Atomic uint64_t queue_ns, serve_ns, resolve_ns, timed;
	_Atomic uint64_t first_oor_gfn, first_dup_gfn;
	_Atomic uint64_t first_ns, last_ns;	/* 0: not yet */
	/* The plan's progress (kvmuf_serve_progress). */
	uint64_t start_ns;
	uint64_t total;			/* guest memory pages in the snapshot */
	_Atomic uint64_t readahead, prefetched, replayed, joined, present;
	_Atomic uint64_t present_at_start;	/* the module said so (skip_present()) */
	_Atomic uint64_t last_fault_ns, replay_done_ns, all_present_ns;
	_Atomic uint64_t replay_next, sweep_next;	/* prefetch cursors */
	_Atomic uint64_t rate_next;	/* prefetch rate: the end of the last slot taken */
	struct lathist fault_lat;
};

uint64_t kvmuf_srv_now_ns(void);
void kvmuf_srv_add(_Atomic uint64_t *v, uint64_t n);

/*
 * Claim page @idx (gfn) for this thread if nobody has: 1 claimed (added to w->claims;
 * ahead: a prefetch or readahead), 0 served already. w->claims must have room.
 */
int kvmuf_srv_claim(struct worker *w, uint64_t gfn, int ahead);

/* Read, install and resolve the pages of w->claims; 0, or -1 (the server ends). */
int kvmuf_srv_bring_in(struct worker *w);

/* The prefetch thread. */
void *kvmuf_srv_prefetch_main(void *arg);

#endif /* KVMUF_SERVER_PRIV_H */
