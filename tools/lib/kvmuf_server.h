/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: the page engine. Worker threads serve the missing pages of one VM: they drain
 * the fault rings of an attached /dev/kvm-userfault fd and, with the backstop, the VMM's
 * userfaultfd, and answer from a snapshot held in memory (a mapped file or a buffer).
 * kvmuf-daemon, kvmuf-vmm's in-process server and kvmuf-bench all serve through it.
 *
 * Threads: worker w of T owns the rings r with r % T == w (each ring has exactly one
 * consumer thread), and every worker also reads the userfaultfd (non-blocking reads,
 * so each message goes to one worker). A worker that finds nothing sleeps in poll()
 * (poll_ms) on the device fd and the userfaultfd, or with busy_poll keeps scanning.
 * The functions below may be called from any thread; a server is stopped once.
 *
 * How a page is installed, then resolved (KVMUF_RESOLVE: the vCPUs parked on it go on):
 *   with the backstop (use_uffd: the VMM registered its guest memory with userfaultfd
 *     MISSING, kvmuf_backstop.h): UFFDIO_COPY from the snapshot, anonymous and memfd
 *     memory alike. The page appears whole or not at all, and a page that is there
 *     already is never overwritten (EEXIST: the guest, KVM or the VMM may own it).
 *     Every access through the host mm (KVM's emulator, page walks, pfn caches, the
 *     VMM's devices) waits in userfaultfd until the page is in; vCPU stage-2 faults
 *     come through the rings. The first worker to see a page, either way, installs it;
 *     a ring entry for a page userfaultfd brought in is only resolved (counted in
 *     `both`), a userfaultfd message for a page being installed only wakes. A message
 *     for a page installed earlier means the VMM discarded it since (MADV_DONTNEED,
 *     a punched hole): it gets a zero page, as any discarded page does (`refaults`).
 *   without it (module only): anonymous memory (mem == NULL) with KVMUF_RESOLVE_COPY;
 *     memfd memory (mem: the caller's MAP_SHARED mapping of it) by writing the page,
 *     with pwrite() on the memfd when use_mem_fd is set, else memcpy, then
 *     KVMUF_RESOLVE; with data_in_place the pages hold their data already and only
 *     KVMUF_RESOLVE is issued. KVM's and the VMM's own accesses are then not covered.
 * Contiguous GFNs are merged into one batch element. A fault for a GFN outside the
 * snapshot or the guest memory is counted as out-of-range, logged and left missing.
 * Every GFN served is recorded; a ring entry for a GFN served already through a ring is
 * a duplicate (the module deduplicates faults, so a correct run has none; it is still
 * resolved, never installed again).
 *
 * The device calls go through struct kvmuf_serve_ops so the logic can be tested without
 * the device; ops == NULL means libkvmuf on a struct kvmuf.
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
KVMUF_PUBLIC int kvmuf_serve_locate(const struct kvmuf_serve_geom *g, uint64_t gfn,
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
	/*
	 * The page source, one of: snap_data, page aligned, snap_npages pages (a buffer or
	 * a mapped snapshot file: pages are installed straight from it); or fetch(),
	 * called on a worker thread to fill the 4 KiB at @page with @gfn's data (one of
	 * the snapshot range): 0, or a negative errno when the page cannot be had (it
	 * stays missing and whoever asked for it keeps waiting: retry inside fetch() if
	 * that is wanted). A page is fetched once whoever asks for it and however often,
	 * except with KVMUF_RESOLVE_COPY (module only, anonymous memory), which fetches a
	 * page again for a fault raised again before its first copy ended. Workers call
	 * it concurrently.
	 */
	const void *snap_data;
	int (*fetch)(void *opaque, uint64_t gfn, void *page);
	void *fetch_opaque;
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
	uint64_t ring_served;		/* pages first requested through a ring */
	uint64_t uffd_faults;		/* userfaultfd messages handled */
	uint64_t uffd_served;		/* pages first requested through userfaultfd */
	uint64_t both;			/* ring entries for pages userfaultfd served */
	uint64_t refaults;		/* userfaultfd messages for pages discarded after
					 * they were served: zero-filled */
	uint64_t fetched;		/* fetch() calls that succeeded */
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
KVMUF_PUBLIC int kvmuf_server_start(const struct kvmuf_server_config *cfg,
		       struct kvmuf_server **out);

/*
 * An eventfd that becomes readable once the server ended on its own (the
 * VM went away / the fd was detached, or a fatal error): poll it.
 */
KVMUF_PUBLIC int kvmuf_server_done_fd(const struct kvmuf_server *s);

/* True once the server ended on its own (see done_fd). */
KVMUF_PUBLIC int kvmuf_server_done(const struct kvmuf_server *s);

/* Statistics so far (workers may still run). */
KVMUF_PUBLIC void kvmuf_server_stats(const struct kvmuf_server *s,
			struct kvmuf_server_stats *st);

/*
 * Stop the workers (each notices within poll_ms), join them, fill @st if
 * non-NULL, free.  NULL is ok.
 */
KVMUF_PUBLIC void kvmuf_server_stop(struct kvmuf_server *s, struct kvmuf_server_stats *st);

/*
 * libkvmuf 1.2: what kvmuf_server_config lacks, for restores from a remote source.
 * @size is sizeof(struct kvmuf_serve_plan) as the caller knows it: later versions append
 * fields (a caller built against a newer header is accepted if the fields this version
 * does not know are zero; -E2BIG otherwise). The plan is copied; its replay list is
 * read while the server runs and must outlive it.
 *
 * Source: read_runs(read_opaque, conn, runs, nr) reads several runs of snapshot pages
 * with all of them in flight together, over connection conn of @connections
 * (kvmuf_source_read_runs() has this shape: see kvmuf_source.h). Worker w uses
 * connection w % connections, prefetch thread p (nr_threads + p) % connections: give as
 * many connections as both together for demand reads that never queue behind prefetch.
 * A failed read ends the server (done_fd): a source that lost pages cannot serve a
 * restore, and a page server that ends lets a new one take over (KVMUF_ATTACH_ADOPT).
 * With read_runs NULL the pages come from cfg->snap_data as before.
 *
 * Readahead: a demand fault on gfn also brings in gfn + 1 .. gfn + readahead_pages
 * (stopping at the first page served already), in the same read.
 *
 * Prefetch: prefetch_threads threads bring in, after the @nr_replay GFNs of @replay in
 * their order, every page of the guest memory not served yet (in GFN order), a batch of
 * prefetch_batch pages (default 32) at a time, at most prefetch_rate pages per second
 * together (0: no limit). Demand faults go first: their reads have connections of their
 * own, and the sweep starts no batch while a worker is serving faults (the replay list
 * does: it is the demand that the recorded restore saw, coming now). With sweep 0 only
 * the replay list is prefetched.
 *
 * Every page is installed once whoever brings it in. A fault on a page that a prefetch
 * or a readahead is bringing in ("joined") is read again, alone, as a fault: a prefetch
 * read of many pages must not make a fault wait; with prefetch or readahead every
 * install refuses a page that is present (UFFDIO_COPY, KVMUF_RESOLVE_COPY), so the
 * second of the two changes nothing. (So memfd memory without the backstop, cfg->mem,
 * is then installed with KVMUF_RESOLVE_COPY, not written by the engine: only the module
 * knows which pages are still missing.) A fault on a page that a userfaultfd message is
 * bringing in waits for it, and is timed when the page is in.
 *
 * record: keep the order in which the vCPUs first faulted each page (from the ring
 * entries' time_ns), for kvmuf_server_working_set().
 *
 * Pages present when the server starts (KVMUF_GET_MISSING, on the device: the guest
 * memory must be one managed range) are never fetched: a server that adopted a dead
 * one's state fetches only what is still missing.
 */
struct kvmuf_source_run;

struct kvmuf_serve_plan {
	uint32_t size;				/* sizeof(struct kvmuf_serve_plan) */
	unsigned int connections;		/* of the source, >= 1 with read_runs */
	int (*read_runs)(void *opaque, unsigned int conn, struct kvmuf_source_run *runs,
			 size_t nr);
	void *read_opaque;
	unsigned int readahead_pages;		/* 0..KVMUF_SERVE_MAX_READAHEAD */
	unsigned int prefetch_threads;		/* 0..KVMUF_SERVE_MAX_PREFETCHERS */
	unsigned int prefetch_batch;		/* pages per prefetch read; 0: 32 */
	int sweep;				/* prefetch every page, after the replay */
	uint64_t prefetch_rate;			/* pages/s, all prefetch threads; 0: no limit */
	const uint64_t *replay;			/* GFNs to prefetch first, in order */
	size_t nr_replay;
	int record;				/* keep the demand faults' order */
};

#define KVMUF_SERVE_MAX_READAHEAD	256
#define KVMUF_SERVE_MAX_PREFETCHERS	64
#define KVMUF_SERVE_MAX_BATCH		512	/* prefetch_batch */

/* kvmuf_server_start() with a plan (NULL: none). 0 or negative errno (-EINVAL, -E2BIG). */
KVMUF_PUBLIC int kvmuf_server_start_plan(const struct kvmuf_server_config *cfg,
					 const struct kvmuf_serve_plan *plan,
					 struct kvmuf_server **out);

/*
 * Where a restore stands. @size: sizeof(struct kvmuf_serve_progress) as the caller knows
 * it (fields past it are not written). Times are ns since kvmuf_server_start*().
 */
struct kvmuf_serve_progress {
	uint32_t size;
	uint32_t reserved;
	uint64_t demand;		/* pages brought in for a fault (ring or userfaultfd) */
	uint64_t readahead;		/* pages brought in next to a ring fault */
	uint64_t prefetched;		/* pages brought in by the prefetch threads */
	uint64_t replayed;		/* ... of those, from the replay list */
	uint64_t joined;		/* faults on a page already on its way (ahead) */
	uint64_t present;		/* pages of the guest memory known present */
	uint64_t present_at_start;	/* ... of those, present when the server started
					 * (KVMUF_GET_MISSING): never fetched */
	uint64_t total;			/* pages of the guest memory in the snapshot */
	uint64_t faults_timed;		/* ring faults with a latency below */
	uint64_t fault_p50_ns;		/* fault (ring entry time_ns) to resolved, ring */
	uint64_t fault_p99_ns;		/* faults only; rounded up by at most 12.5% */
	uint64_t fault_max_ns;
	uint64_t last_fault_ns;		/* the last ring fault consumed (0: none yet) */
	uint64_t replay_done_ns;	/* every replay page in (0: not yet, or no list) */
	uint64_t all_present_ns;	/* every page in (0: not yet) */
};

KVMUF_PUBLIC void kvmuf_server_progress(const struct kvmuf_server *s,
					struct kvmuf_serve_progress *p);

/* One page of a working set: a GFN and when it was first faulted. */
struct kvmuf_ws_entry {
	uint64_t gfn;
	uint64_t time_ns;		/* since the first fault of the set */
};

/*
 * With plan->record: the pages the vCPUs faulted (each once, first fault), in the order
 * of their faults. *@out is malloc()ed (free() it), *@n entries. 0 or -ENOMEM;
 * -EINVAL without record. Workers may still run (their later faults are not in it).
 */
KVMUF_PUBLIC int kvmuf_server_working_set(const struct kvmuf_server *s,
					  struct kvmuf_ws_entry **out, size_t *n);

/* True if @st shows a correct run: no duplicates, out-of-range, errors. */
static inline int kvmuf_server_stats_ok(const struct kvmuf_server_stats *st)
{
	return !st->duplicates && !st->out_of_range && !st->errors;
}

#endif /* KVMUF_SERVE_H */
