/* SPDX-License-Identifier: GPL-2.0 */
/*
 * serve - the page server shared by kvmuf-daemon and kvmuf-vmm's in-process
 * server: worker threads that drain the fault rings of an attached
 * /dev/kvm-userfault fd and resolve the faults from a snapshot.
 *
 * Worker w of T owns the rings r with r % T == w (each ring has exactly one
 * consumer thread).  A worker drains its rings, builds batches and resolves:
 *   anonymous guest memory (mem == NULL): KVMUF_RESOLVE_COPY with the
 *     snapshot page as the source;
 *   memfd guest memory (mem != NULL, the caller's MAP_SHARED mapping of it):
 *     the snapshot page written into it, then KVMUF_RESOLVE: with pwrite() on the
 *     memfd when use_mem_fd is set (a new page-cache page is then not zeroed before
 *     being filled), else memcpy into mem; with data_in_place the pages already
 *     hold their data (a VMM that filled its page cache, as for userfaultfd MINOR
 *     faults) and only KVMUF_RESOLVE is issued.
 * Contiguous GFNs are merged into one batch element.  A worker that finds no
 * entries sleeps in poll() (poll_ms), or with busy_poll keeps scanning its
 * rings (no wakeup on the way: it costs a CPU per worker).  A fault for a GFN outside the snapshot
 * or outside the guest memory is counted as out-of-range, logged, and left
 * missing.  Every GFN served is recorded; a GFN served twice is a duplicate
 * (the module deduplicates faults, so a correct run has none; a duplicate is
 * still resolved, so no vCPU is left waiting, but its memfd page is not
 * overwritten).
 *
 * With a userfaultfd backstop (use_uffd: the VMM registered its guest memory
 * with userfaultfd MISSING and the uffd is ours too), every access that
 * reaches guest memory through the host mm (KVM's emulator, its pfn caches,
 * the VMM's own device emulation) blocks in userfaultfd until served, while
 * vCPU stage-2 faults still come through the rings. Either way a page is
 * installed once: anonymous memory with UFFDIO_COPY (KVMUF_RESOLVE_COPY's GUP
 * cannot fault on uffd-armed memory), memfd memory by writing it and waking
 * the uffd waiters; then KVMUF_RESOLVE. The worker that sees a page first
 * installs it; one that finds it installed only wakes (uffd) or resolves
 * (ring), so a page requested both ways is fetched once.
 *
 * The device calls go through struct kvmuf_serve_ops so the logic can be
 * tested without the device; ops == NULL means libkvmuf on a struct kvmuf.
 */
#ifndef KVMUF_SERVE_H
#define KVMUF_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "kvmuf.h"

struct kvmuf_serve_ops {
	size_t (*consume)(void *ctx, unsigned int ring, struct kvmuf_fault *out,
			  size_t max);
	int (*resolve)(void *ctx, const struct kvmuf_gfn_range *r, size_t nr, uint32_t flags,
		       uint64_t *changed, uint64_t *unchanged);
	int (*resolve_copy)(void *ctx, const struct kvmuf_copy *c, size_t nr,
			    uint64_t *changed, uint64_t *unchanged);
	/*
	 * Wait for ring entries, or for extra_fd (>= 0) to become readable: 1 ready,
	 * 0 timeout, -EINTR, -ENODEV when the VM is gone / detached.
	 */
	int (*poll)(void *ctx, int extra_fd, int timeout_ms);
};

/* Where a GFN's data comes from and goes to. */
struct kvmuf_serve_geom {
	uint64_t snap_base_gfn;		/* snapshot data page 0 */
	uint64_t snap_npages;
	uint64_t mem_base_gfn;		/* guest memory being served */
	uint64_t mem_npages;
};

/*
 * Byte offsets of @gfn's page in the snapshot data and in the guest memory
 * mapping: 0, or -ERANGE if either does not hold @gfn.  Pure function.
 */
int kvmuf_serve_locate(const struct kvmuf_serve_geom *g, uint64_t gfn,
		       uint64_t *snap_off, uint64_t *mem_off);

/* Ring r belongs to worker r % nr_threads.  Pure function. */
static inline unsigned int kvmuf_serve_ring_owner(unsigned int ring,
						  unsigned int nr_threads)
{
	return ring % nr_threads;
}

struct kvmuf_server_config {
	const struct kvmuf_serve_ops *ops;	/* NULL: libkvmuf on ctx */
	void *ctx;				/* ops context, or the struct kvmuf * */
	unsigned int nr_rings;			/* 0 with ops == NULL: kvmuf_nr_rings(ctx) */
	unsigned int nr_threads;		/* >= 1; capped to nr_rings */
	struct kvmuf_serve_geom geom;
	const void *snap_data;			/* page aligned, snap_npages pages */
	void *mem;				/* memfd mapping of mem_base_gfn, or NULL */
	int use_mem_fd;				/* with mem: pwrite() to mem_fd, not memcpy */
	int mem_fd;				/* the memfd behind mem */
	uint64_t mem_fd_offset;			/* memfd offset of mem_base_gfn */
	int data_in_place;			/* with mem: resolve only, write nothing */
	int populate;				/* with mem: KVMUF_RESOLVE_POPULATE (the
						 * VMM's page tables are filled by the
						 * server, not by the vCPU) */
	int busy_poll;				/* spin on the rings instead of poll() */
	int use_uffd;				/* the backstop: uffd is the VMM's */
	int uffd;				/* userfaultfd registered on the guest
						 * memory (MISSING), non-blocking */
	uint64_t uffd_hva;			/* the VMM's address of mem_base_gfn */
	const int *cpus;			/* pin worker w to cpus[w % nr_cpus] */
	unsigned int nr_cpus;			/* 0: no pinning */
	int poll_ms;				/* idle sleep, e.g. 50..100 */
	unsigned int fetch_delay_us;		/* artificial fetch latency per page
						 * (demand_paging_test -d); 0: none */
	const char *log_prefix;			/* e.g. "kvmuf-daemon"; NULL: no logging */
	unsigned int max_logged;		/* out-of-range / duplicate lines logged */
	/*
	 * Optional per-fault completion callback (e.g. fault latency in
	 * kvmuf-bench: done_ns - f->time_ns).  Called on the worker thread,
	 * after each resolve ioctl that succeeded, once for every ring entry
	 * the batch served (duplicates included, out-of-range faults never:
	 * they are not resolved), with done_ns = CLOCK_MONOTONIC right after
	 * the ioctl returned.  Several workers call it concurrently: it must
	 * be thread-safe, and quick (it runs on the serving path).  NULL: none.
	 */
	void (*on_served)(void *opaque, const struct kvmuf_fault *f,
			  uint64_t done_ns);
	void *on_served_opaque;
};

struct kvmuf_server_stats {
	uint64_t faults;		/* ring entries consumed */
	uint64_t served;		/* GFNs resolved by us (ioctl "changed") */
	uint64_t unchanged;		/* GFNs we resolved that were not missing */
	uint64_t duplicates;		/* faults for a GFN we had served already */
	uint64_t uffd_faults;		/* userfaultfd messages handled */
	uint64_t uffd_served;		/* pages first requested through userfaultfd */
	uint64_t both;			/* ring entries for pages userfaultfd served */
	uint64_t out_of_range;		/* faults outside snapshot or memory */
	uint64_t errors;		/* failed resolve / poll calls */
	uint64_t batches;		/* resolve ioctls issued */
	uint64_t first_oor_gfn;		/* valid if out_of_range */
	uint64_t first_dup_gfn;		/* valid if duplicates */
	/*
	 * Where the time of a fault goes on the serving side, summed over the faults
	 * served (divide by `timed`): from the fault (ring entry time_ns) until a
	 * worker consumed it, then until the resolve ioctl that served it started
	 * (fetch, install of memfd pages, batching), then the ioctl itself
	 * (RESOLVE_COPY: the copy into guest memory, and for all: the wake-ups).
	 */
	uint64_t queue_ns, serve_ns, resolve_ns, timed;
	unsigned int threads;		/* workers that ran */
	int detached;			/* a worker saw -ENODEV */
	double seconds;			/* first fault consumed .. last resolve done */
};

struct kvmuf_server;

/* Start the workers.  0 or negative errno. */
int kvmuf_server_start(const struct kvmuf_server_config *cfg,
		       struct kvmuf_server **out);

/*
 * An eventfd that becomes readable once the server ended on its own (the
 * VM went away / the fd was detached, or a fatal error): poll it.
 */
int kvmuf_server_done_fd(const struct kvmuf_server *s);

/* True once the server ended on its own (see done_fd). */
int kvmuf_server_done(const struct kvmuf_server *s);

/* Statistics so far (workers may still run). */
void kvmuf_server_stats(const struct kvmuf_server *s,
			struct kvmuf_server_stats *st);

/*
 * Stop the workers (each notices within poll_ms), join them, fill @st if
 * non-NULL, free.  NULL is ok.
 */
void kvmuf_server_stop(struct kvmuf_server *s, struct kvmuf_server_stats *st);

/* True if @st shows a correct run: no duplicates, out-of-range, errors. */
static inline int kvmuf_server_stats_ok(const struct kvmuf_server_stats *st)
{
	return !st->duplicates && !st->out_of_range && !st->errors;
}

#endif /* KVMUF_SERVE_H */
