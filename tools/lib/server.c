// SPDX-License-Identifier: LGPL-2.1-or-later
/* libkvmuf: the page engine, see kvmuf_server.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "server_priv.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* ---- pure helpers ---- */

int kvmuf_serve_locate(const struct kvmuf_serve_geom *g, uint64_t gfn,
		       uint64_t *snap_off, uint64_t *mem_off)
{
	if (gfn < g->snap_base_gfn || gfn - g->snap_base_gfn >= g->snap_npages ||
	    gfn < g->mem_base_gfn || gfn - g->mem_base_gfn >= g->mem_npages)
		return -ERANGE;
	*snap_off = (gfn - g->snap_base_gfn) * PAGE;
	*mem_off = (gfn - g->mem_base_gfn) * PAGE;
	return 0;
}

/* ---- libkvmuf as the default ops ---- */

static size_t lib_consume(void *ctx, unsigned int ring, struct kvmuf_fault *out,
			  size_t max)
{
	return kvmuf_ring_consume(ctx, ring, out, max);
}

static int lib_resolve(void *ctx, const struct kvmuf_gfn_range *r, size_t nr, uint32_t flags,
		       uint64_t *changed, uint64_t *unchanged)
{
	return kvmuf_resolve_flags(ctx, r, nr, flags, changed, unchanged);
}

static int lib_resolve_copy(void *ctx, const struct kvmuf_copy *c, size_t nr,
			    uint64_t *changed, uint64_t *unchanged)
{
	return kvmuf_resolve_copy(ctx, c, nr, changed, unchanged);
}

static int lib_poll(void *ctx, int extra_fd, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = kvmuf_fd(ctx), .events = POLLIN },
		{ .fd = extra_fd, .events = POLLIN },
	};
	int ret;

	if (extra_fd < 0)
		return kvmuf_poll(ctx, timeout_ms);
	ret = poll(p, 2, timeout_ms);
	if (ret < 0)
		return -errno;
	if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
		return -ENODEV;
	return ret > 0;
}

static const struct kvmuf_serve_ops lib_ops = {
	.consume = lib_consume,
	.resolve = lib_resolve,
	.resolve_copy = lib_resolve_copy,
	.poll = lib_poll,
};

/* ---- workers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void atomic_min_nonzero(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load_explicit(v, memory_order_relaxed);

	while ((cur == 0 || x < cur) &&
	       !atomic_compare_exchange_weak(v, &cur, x))
		;
}

static void atomic_max(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = atomic_load_explicit(v, memory_order_relaxed);

	while (x > cur && !atomic_compare_exchange_weak(v, &cur, x))
		;
}

static void set_first(_Atomic uint64_t *v, uint64_t gfn)
{
	uint64_t none = NO_GFN;

	atomic_compare_exchange_strong(v, &none, gfn);
}

/* A spin-wait hint to the CPU (x86 PAUSE), nothing elsewhere. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

/* Log a line unless the log budget is spent; say so once when it runs out. */
__attribute__((format(printf, 2, 3)))
static void srv_log(struct kvmuf_server *s, const char *fmt, ...)
{
	unsigned int n;
	char msg[256];
	va_list ap;

	if (!s->cfg.log_prefix)
		return;
	n = atomic_fetch_add(&s->logged, 1);
	if (n > s->cfg.max_logged)
		return;
	if (n == s->cfg.max_logged) {
		fprintf(stderr, "%s: (further out-of-range / duplicate faults not logged)\n",
			s->cfg.log_prefix);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", s->cfg.log_prefix, msg);
}

/* Error lines are always printed (when logging at all). */
__attribute__((format(printf, 2, 3)))
static void srv_err(struct kvmuf_server *s, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!s->cfg.log_prefix)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", s->cfg.log_prefix, msg);
}

/* The server ends on its own: stop every worker and signal done_fd. */
static void finish(struct kvmuf_server *s)
{
	uint64_t one = 1;

	atomic_store(&s->stop, 1);
	if (atomic_exchange(&s->done, 1) == 0 &&
	    write(s->done_fd, &one, sizeof(one)) < 0)
		srv_err(s, "eventfd write: %s", strerror(errno));
}

/* Batches of this server are KVMUF_RESOLVE ranges (else KVMUF_RESOLVE_COPY copies). */
static int ranges_mode(const struct kvmuf_server *s)
{
	return (s->cfg.mem && !s->copy_only) || s->cfg.use_uffd;
}

/* Test-and-set bit @idx of @bits: true if it was set. */
static int test_and_set(_Atomic uint64_t *bits, uint64_t idx)
{
	uint64_t bit = 1ULL << (idx % 64);

	return (atomic_fetch_or(&bits[idx / 64], bit) & bit) != 0;
}

static int test(_Atomic uint64_t *bits, uint64_t idx)
{
	return (atomic_load(&bits[idx / 64]) >> (idx % 64)) & 1;
}

/*
 * The resolve call of w's batch returned: its pages are present in the module (those it
 * did not change were already). Count them, and note when the last one got in.
 */
static void mark_resolved(struct worker *w, int ranges, uint64_t now)
{
	struct kvmuf_server *s = w->s;
	uint64_t newly = 0;

	for (size_t i = 0; i < w->nr; i++) {
		uint64_t gfn = ranges ? w->ranges[i].gfn : w->copies[i].gfn;
		uint64_t n = ranges ? w->ranges[i].npages : w->copies[i].npages;

		for (uint64_t p = 0; p < n; p++) {
			uint64_t idx = gfn + p - s->cfg.geom.mem_base_gfn;

			if (idx < s->cfg.geom.mem_npages && !test_and_set(s->resolved_bits, idx))
				newly++;
		}
	}
	if (newly && atomic_fetch_add(&s->present, newly) + newly == s->total) {
		uint64_t zero = 0;

		atomic_compare_exchange_strong(&s->all_present_ns, &zero, now - s->start_ns);
	}
}

static void flush(struct worker *w)
{
	struct kvmuf_server *s = w->s;
	uint64_t changed = 0, unchanged = 0, done, start;
	int ranges = ranges_mode(s), ret;

	if (!w->nr)
		return;
	start = now_ns();
	if (ranges)
		ret = s->ops.resolve(s->ctx, w->ranges, w->nr,
				     s->cfg.populate && s->cfg.mem ? KVMUF_RESOLVE_POPULATE : 0,
				     &changed, &unchanged);
	else
		ret = s->ops.resolve_copy(s->ctx, w->copies, w->nr, &changed,
					  &unchanged);
	add(&s->batches, 1);
	add(&s->served, changed);
	add(&s->unchanged, unchanged);
	done = now_ns();
	atomic_max(&s->last_ns, done);
	if (ret >= 0) {
		uint64_t queue = 0, serve = 0;

		for (size_t i = 0; i < w->npending; i++) {
			const struct kvmuf_fault *f = &w->pending[i];
			uint64_t consumed = w->consumed_ns[i];

			queue += consumed > f->time_ns ? consumed - f->time_ns : 0;
			serve += start - consumed;
			lathist_add(&s->fault_lat, done > f->time_ns ? done - f->time_ns : 0);
			if (s->cfg.on_served)
				s->cfg.on_served(s->cfg.on_served_opaque, f, done);
		}
		add(&s->queue_ns, queue);
		add(&s->serve_ns, serve);
		add(&s->resolve_ns, (done - start) * w->npending);
		add(&s->timed, w->npending);
		mark_resolved(w, ranges, done);
	}
	w->npending = 0;
	if (ret == -ESRCH) {
		/* RESOLVE_COPY: the VMM is exiting, there is nothing to install into. */
	} else if (ret == -ENODEV) {
		atomic_store(&s->detached, 1);
		finish(s);
	} else if (ret < 0) {
		add(&s->errors, 1);
		srv_err(s, "worker %u: %s of %zu elements (first gfn 0x%llx): %s%s",
			w->id, ranges ? "KVMUF_RESOLVE" : "KVMUF_RESOLVE_COPY",
			w->nr, (unsigned long long)(ranges ? w->ranges[0].gfn :
						    w->copies[0].gfn),
			kvmuf_strerror(ret), s->plan.size ? ": stopping" : "");
		/*
		 * With a plan its pages stay claimed and faults on them would wait for
		 * ever: end, so that a new server (KVMUF_ATTACH_ADOPT) hears them again.
		 */
		if (s->plan.size)
			finish(s);
	}
	w->nr = 0;
}

/* Test-and-set the "served" bit of guest page @idx: true if it was set. */
static int mark_served(struct kvmuf_server *s, uint64_t idx)
{
	return test_and_set(s->served_bits, idx);
}

/* The VMM's uffd for [page, page + n) of guest memory: wake whoever waits there. */
static void uffd_wake(struct worker *w, uint64_t page, uint64_t n)
{
	struct kvmuf_server *s = w->s;
	struct uffdio_range r = {
		.start = s->cfg.uffd_hva + page * PAGE,
		.len = n * PAGE,
	};

	if (ioctl(s->cfg.uffd, UFFDIO_WAKE, &r) < 0) {
		add(&s->errors, 1);
		srv_err(s, "worker %u: UFFDIO_WAKE at 0x%llx: %s", w->id,
			(unsigned long long)r.start, strerror(errno));
	}
}

/*
 * UFFDIO_COPY one page in (it wakes the waiters), or with src == NULL UFFDIO_ZEROPAGE.
 * EEXIST: the page is there already (another worker, a daemon before us, or the guest
 * writing after it arrived): never overwrite it, only wake. 0, or -1 (counted, logged).
 */
static int uffd_place(struct worker *w, uint64_t page, const unsigned char *src)
{
	struct kvmuf_server *s = w->s;
	uint64_t dst = s->cfg.uffd_hva + page * PAGE;
	int ret;

	if (src) {
		struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src, .len = PAGE };

		ret = ioctl(s->cfg.uffd, UFFDIO_COPY, &c);
	} else {
		struct uffdio_zeropage z = { .range = { .start = dst, .len = PAGE } };

		ret = ioctl(s->cfg.uffd, UFFDIO_ZEROPAGE, &z);
	}
	if (ret == 0 || errno == EEXIST) {
		if (ret)
			uffd_wake(w, page, 1);
		test_and_set(s->done_bits, page);
		return 0;
	}
	/* The VMM's memory is gone (it exited, or unmapped it): nobody waits for the page. */
	if (errno == ENOENT || errno == ESRCH)
		return -1;
	add(&s->errors, 1);
	srv_err(s, "worker %u: %s at 0x%llx: %s", w->id, src ? "UFFDIO_COPY" : "UFFDIO_ZEROPAGE",
		(unsigned long long)dst, strerror(errno));
	return -1;
}

static const char *fault_kind(uint32_t flags)
{
	if (flags & KVMUF_FAULT_WRITE)
		return "write";
	if (flags & KVMUF_FAULT_EXEC)
		return "exec";
	return "read";
}

/* Put the source page of a memfd-backed GFN in place (never one served already). */
static int install_page(struct worker *w, uint64_t moff, const unsigned char *src)
{
	struct kvmuf_server *s = w->s;

	if (s->cfg.data_in_place)
		return 0;
	if (!s->cfg.use_mem_fd) {
		memcpy((unsigned char *)s->cfg.mem + moff, src, PAGE);
		return 0;
	}
	if (pwrite(s->cfg.mem_fd, src, PAGE, (off_t)(s->cfg.mem_fd_offset + moff)) != PAGE) {
		add(&s->errors, 1);
		srv_err(s, "worker %u: pwrite of the page at memfd offset 0x%llx: %s", w->id,
			(unsigned long long)(s->cfg.mem_fd_offset + moff),
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Queue a RESOLVE of gfn (merged with the previous one when contiguous). */
static void queue_resolve(struct worker *w, uint64_t gfn)
{
	struct kvmuf_gfn_range *last = w->nr ? &w->ranges[w->nr - 1] : NULL;

	/* w->ranges and w->copies share memory: a range in a copy batch corrupts it. */
	assert(ranges_mode(w->s));
	if (last && last->gfn + last->npages == gfn && last->npages < MERGE_MAX) {
		last->npages++;
		return;
	}
	if (w->nr == BATCH_MAX)
		flush(w);
	w->ranges[w->nr++] = (struct kvmuf_gfn_range) { .gfn = gfn, .npages = 1 };
}

/*
 * The data of the page at snapshot offset soff (gfn): in the snapshot itself, or fetched
 * into the worker's page. NULL if the fetch failed (counted, logged).
 */
static const unsigned char *page_source(struct worker *w, uint64_t gfn, uint64_t soff)
{
	struct kvmuf_server *s = w->s;
	int ret;

	if (!s->cfg.fetch)
		return (const unsigned char *)s->cfg.snap_data + soff;
	ret = s->cfg.fetch(s->cfg.fetch_opaque, gfn, w->page);
	if (ret < 0) {
		add(&s->errors, 1);
		srv_err(s, "worker %u: fetching gfn 0x%llx: %s: it stays missing", w->id,
			(unsigned long long)gfn, strerror(-ret));
		return NULL;
	}
	add(&s->fetched, 1);
	return w->page;
}

/* A page we claimed but could not fetch: another request may try again. */
static void unserve(struct kvmuf_server *s, uint64_t idx)
{
	atomic_fetch_and(&s->served_bits[idx / 64], ~(1ULL << (idx % 64)));
}

/* A fault whose page this worker's next resolve covers: timed and reported with it. */
static void add_pending(struct worker *w, const struct kvmuf_fault *f, uint64_t consumed)
{
	w->consumed_ns[w->npending] = consumed;
	w->pending[w->npending++] = *f;
}

static void log_oor(struct kvmuf_server *s, const struct kvmuf_fault *f)
{
	const struct kvmuf_serve_geom *g = &s->cfg.geom;

	add(&s->out_of_range, 1);
	set_first(&s->first_oor_gfn, f->gfn);
	srv_log(s, "out-of-range fault: gfn 0x%llx (vcpu %d, %s) is outside the snapshot [0x%llx, 0x%llx) or the guest memory [0x%llx, 0x%llx): left missing",
		(unsigned long long)f->gfn,
		f->vcpu == KVMUF_VM_RING ? -1 : (int)f->vcpu,
		fault_kind(f->flags),
		(unsigned long long)g->snap_base_gfn,
		(unsigned long long)(g->snap_base_gfn + g->snap_npages),
		(unsigned long long)g->mem_base_gfn,
		(unsigned long long)(g->mem_base_gfn + g->mem_npages));
}

static void add_fault(struct worker *w, const struct kvmuf_fault *f, uint64_t consumed)
{
	struct kvmuf_server *s = w->s;
	const struct kvmuf_serve_geom *g = &s->cfg.geom;
	uint64_t soff, moff, gfn = f->gfn;
	const unsigned char *src = NULL;
	int dup;

	if (kvmuf_serve_locate(g, gfn, &soff, &moff) < 0) {
		log_oor(s, f);
		return;
	}
	/* Keep the batch and the faults timed (and reported) for it in step. */
	if (w->npending == PENDING_MAX)
		flush(w);
	dup = mark_served(s, moff / PAGE);
	if (!dup) {
		add(&s->ring_served, 1);
		if (s->cfg.fetch_delay_us)
			usleep(s->cfg.fetch_delay_us);	/* stands for fetching the page */
	} else if (s->cfg.use_uffd && test(s->uffd_bits, moff / PAGE)) {
		/* KVM or the VMM touched it first, through the host mm: resolve only. */
		add(&s->both, 1);
	} else {
		add(&s->duplicates, 1);
		set_first(&s->first_dup_gfn, gfn);
		srv_log(s, "duplicate fault: gfn 0x%llx (vcpu %d) was served already",
			(unsigned long long)gfn,
			f->vcpu == KVMUF_VM_RING ? -1 : (int)f->vcpu);
	}
	/*
	 * The data is fetched only to be installed: by the first to claim the page, or by
	 * KVMUF_RESOLVE_COPY (which copies only into a GFN still missing).
	 */
	if ((!dup && !s->cfg.data_in_place) || (!s->cfg.use_uffd && !s->cfg.mem)) {
		src = page_source(w, gfn, soff);
		if (!src) {
			if (!dup)
				unserve(s, moff / PAGE);
			return;
		}
	}

	if (s->cfg.use_uffd) {
		/*
		 * Resolving before another worker finished installing is safe here: the
		 * vCPU's fault-in then blocks in userfaultfd until the page is in.
		 */
		if (!dup)
			uffd_place(w, moff / PAGE, src);
		queue_resolve(w, gfn);
	} else if (s->cfg.mem) {
		struct kvmuf_gfn_range *last = w->nr ? &w->ranges[w->nr - 1] : NULL;

		/*
		 * Never overwrite a page that was served (the guest may own it now), and
		 * never resolve one whose data is not in (its vCPU would map a hole).
		 */
		if (!dup && install_page(w, moff, src) < 0) {
			unserve(s, moff / PAGE);
			return;
		}
		if (last && last->gfn + last->npages == gfn && last->npages < MERGE_MAX) {
			last->npages++;
		} else {
			if (w->nr == BATCH_MAX)
				flush(w);
			w->ranges[w->nr++] = (struct kvmuf_gfn_range) { .gfn = gfn, .npages = 1 };
		}
	} else {
		struct kvmuf_copy *last = w->nr ? &w->copies[w->nr - 1] : NULL;

		if (last && last->gfn + last->npages == gfn &&
		    last->src + last->npages * PAGE == (uintptr_t)src &&
		    last->npages < MERGE_MAX) {
			last->npages++;
		} else {
			if (w->nr == BATCH_MAX)
				flush(w);
			w->copies[w->nr++] = (struct kvmuf_copy) {
				.gfn = gfn, .npages = 1, .src = (uintptr_t)src,
			};
		}
	}
	add_pending(w, f, consumed);
	/* KVMUF_RESOLVE_COPY reads the worker's page at the ioctl: before the next fetch. */
	if (s->cfg.fetch && !s->cfg.use_uffd && !s->cfg.mem)
		flush(w);
}


/* ---- serving with a plan: claims, reads of many pages, joins ---- */

/* Page @idx (gfn, at @soff in the snapshot) is this worker's to bring in next. */
static void push_claim(struct worker *w, uint64_t gfn, uint64_t idx, uint64_t soff)
{
	w->claims[w->nclaims++] = (struct claim) { .gfn = gfn, .idx = idx, .soff = soff };
}

int kvmuf_srv_claim(struct worker *w, uint64_t gfn, int ahead)
{
	struct kvmuf_server *s = w->s;
	uint64_t soff, moff;

	if (kvmuf_serve_locate(&s->cfg.geom, gfn, &soff, &moff) < 0 ||
	    mark_served(s, moff / PAGE))
		return 0;
	if (ahead)
		test_and_set(s->ahead_bits, moff / PAGE);
	push_claim(w, gfn, moff / PAGE, soff);
	return 1;
}

/* The readahead of a faulted page: the next ones, up to the first served already. */
static void claim_readahead(struct worker *w, uint64_t gfn)
{
	for (unsigned int k = 1; k <= w->s->plan.readahead_pages; k++) {
		if (!kvmuf_srv_claim(w, gfn + k, 1))
			break;
		add(&w->s->readahead, 1);
	}
}

/* Claims whose read failed: nothing of them was installed, someone may claim them again. */
static void unclaim(struct worker *w)
{
	for (size_t i = 0; i < w->nclaims; i++) {
		uint64_t idx = w->claims[i].idx, bit = ~(1ULL << (idx % 64));

		atomic_fetch_and(&w->s->ahead_bits[idx / 64], bit);
		unserve(w->s, idx);
	}
	w->nclaims = 0;
}

/*
 * Queue the install of one claimed page whose data is at @src (valid until flush). A
 * page that could not be installed is never resolved (the vCPU would map what is
 * there): 0, or -1 and the server ends.
 */
static int queue_install(struct worker *w, const struct claim *c, const unsigned char *src)
{
	struct kvmuf_server *s = w->s;
	struct kvmuf_copy *last = w->nr ? &w->copies[w->nr - 1] : NULL;

	if (s->cfg.use_uffd || (s->cfg.mem && !s->copy_only)) {
		if (s->cfg.use_uffd ? uffd_place(w, c->idx, src) < 0 :
				      install_page(w, c->idx * PAGE, src) < 0) {
			finish(s);
			return -1;
		}
		queue_resolve(w, c->gfn);
		return 0;
	}
	if (last && last->gfn + last->npages == c->gfn &&
	    last->src + last->npages * PAGE == (uintptr_t)src && last->npages < MERGE_MAX) {
		last->npages++;
		return 0;
	}
	if (w->nr == BATCH_MAX)
		flush(w);
	w->copies[w->nr++] = (struct kvmuf_copy) { .gfn = c->gfn, .npages = 1, .src = (uintptr_t)src };
	return 0;
}

/*
 * Read page @idx (gfn) again for a fault although it was claimed: its install refuses a
 * present page (UFFDIO_COPY, KVMUF_RESOLVE_COPY), so only a page still missing changes.
 */
static void reclaim(struct worker *w, const struct kvmuf_fault *f, uint64_t idx, uint64_t soff,
		    uint64_t consumed)
{
	push_claim(w, f->gfn, idx, soff);
	add_pending(w, f, consumed);
}

int kvmuf_srv_bring_in(struct worker *w)
{
	struct kvmuf_server *s = w->s;
	size_t n = w->nclaims, nr = 0;
	int ret;

	if (!n)
		return 0;
	if (s->cfg.fetch_delay_us)
		usleep(s->cfg.fetch_delay_us);	/* stands for one round trip to the source */
	if (s->plan.read_runs) {
		/* Neighbouring pages are one run: one request, all runs in flight at once. */
		for (size_t i = 0; i < n; i++) {
			struct kvmuf_source_run *last = nr ? &w->runs[nr - 1] : NULL;

			if (last && last->gfn + last->npages == w->claims[i].gfn) {
				last->npages++;
				continue;
			}
			w->runs[nr++] = (struct kvmuf_source_run) {
				.gfn = w->claims[i].gfn, .npages = 1, .buf = w->runbuf + i * PAGE,
			};
		}
		ret = s->plan.read_runs(s->plan.read_opaque, w->conn, w->runs, nr);
		if (ret < 0) {
			add(&s->errors, 1);
			srv_err(s, "%s %u: reading %zu pages (first gfn 0x%llx) from the source: %s: stopping",
				w->id < s->nr_threads ? "worker" : "prefetch thread", w->id, n,
				(unsigned long long)w->claims[0].gfn, strerror(-ret));
			unclaim(w);
			w->nr = 0;
			w->npending = 0;
			finish(s);
			return -1;
		}
		add(&s->fetched, n);
	}
	for (size_t i = 0; i < n; i++) {
		if (queue_install(w, &w->claims[i], s->plan.read_runs ? w->runbuf + i * PAGE :
				  (const unsigned char *)s->cfg.snap_data + w->claims[i].soff) < 0) {
			/* Nothing more is resolved: the server ends. */
			w->nr = 0;
			w->npending = 0;
			w->nclaims = 0;
			return -1;
		}
	}
	/* Before the next read reuses runbuf. */
	flush(w);
	w->nclaims = 0;
	return atomic_load(&s->done) ? -1 : 0;
}

/* plan->record: the first ring fault on each page, in this worker's list. */
static void note_fault(struct worker *w, const struct kvmuf_fault *f, uint64_t idx)
{
	struct kvmuf_server *s = w->s;

	atomic_max(&s->last_fault_ns, f->time_ns);
	if (!s->plan.record || test_and_set(s->recorded_bits, idx))
		return;
	pthread_mutex_lock(&w->rec_lock);
	if (w->nrec == w->caprec) {
		size_t cap = w->caprec ? w->caprec * 2 : 1024;
		struct kvmuf_ws_entry *r = realloc(w->rec, cap * sizeof(*r));

		if (!r) {
			pthread_mutex_unlock(&w->rec_lock);
			add(&s->errors, 1);
			srv_err(s, "worker %u: out of memory recording the working set", w->id);
			return;
		}
		w->rec = r;
		w->caprec = cap;
	}
	w->rec[w->nrec++] = (struct kvmuf_ws_entry) { .gfn = f->gfn, .time_ns = f->time_ns };
	pthread_mutex_unlock(&w->rec_lock);
}

/* A fault on a page someone else is bringing in: time it when the page is in. */
static void add_join(struct worker *w, const struct kvmuf_fault *f, uint64_t idx)
{
	add(&w->s->joined, 1);
	if (w->njoins < JOIN_MAX)
		w->joins[w->njoins++] = (struct join) { .f = *f, .idx = idx };
}

/* Joined faults whose page is in now: their latency ends here. */
static void check_joins(struct worker *w)
{
	struct kvmuf_server *s = w->s;
	uint64_t now = 0;

	for (size_t i = 0; i < w->njoins;) {
		struct join *j = &w->joins[i];

		if (!test(s->resolved_bits, j->idx)) {
			i++;
			continue;
		}
		if (!now)
			now = now_ns();
		lathist_add(&s->fault_lat, now > j->f.time_ns ? now - j->f.time_ns : 0);
		if (s->cfg.on_served)
			s->cfg.on_served(s->cfg.on_served_opaque, &j->f, now);
		*j = w->joins[--w->njoins];
	}
}

static void log_oor(struct kvmuf_server *s, const struct kvmuf_fault *f);

/*
 * The ring faults w->faults[0, n) with a plan: claim each page (and its readahead),
 * read all claimed pages together, install, resolve. A page already claimed is joined.
 */
static void serve_batch(struct worker *w, size_t n, uint64_t consumed)
{
	struct kvmuf_server *s = w->s;

	for (size_t i = 0; i < n; i++) {
		const struct kvmuf_fault *f = &w->faults[i];
		uint64_t soff, moff, idx;

		if (kvmuf_serve_locate(&s->cfg.geom, f->gfn, &soff, &moff) < 0) {
			log_oor(s, f);
			continue;
		}
		idx = moff / PAGE;
		note_fault(w, f, idx);
		/* Room for the page, its readahead and its timing. */
		if ((w->nclaims + 1 + s->plan.readahead_pages > RUN_PAGES ||
		     w->npending == PENDING_MAX) && kvmuf_srv_bring_in(w) < 0)
			return;
		if (kvmuf_srv_claim(w, f->gfn, 0)) {
			add(&s->ring_served, 1);
			add_pending(w, f, consumed);
			claim_readahead(w, f->gfn);
		} else if (!test(s->resolved_bits, idx) && test(s->ahead_bits, idx) &&
			   (s->cfg.use_uffd || s->copy_only)) {
			/*
			 * On its way by prefetch or readahead, in a read that may be long
			 * (many pages): read it again, alone, as the fault it is. Both
			 * installs refuse a present page: the second one changes nothing.
			 */
			add(&s->joined, 1);
			reclaim(w, f, idx, soff, consumed);
		} else if (!test(s->resolved_bits, idx)) {
			/* A userfaultfd message is bringing it in: it resolves it too. */
			if (test(s->uffd_bits, idx))
				add(&s->both, 1);
			add_join(w, f, idx);
		} else {
			/*
			 * Resolved already, and faulted: raised before it came in and read
			 * after, reported again after an adoption, or made missing again.
			 * Resolve it again (a present GFN is unchanged); in a copy batch by
			 * reading it again, as a range has no place there.
			 */
			if (test(s->ahead_bits, idx) || test(s->uffd_bits, idx)) {
				add(&s->joined, 1);
			} else {
				add(&s->duplicates, 1);
				set_first(&s->first_dup_gfn, f->gfn);
				srv_log(s, "duplicate fault: gfn 0x%llx (vcpu %d) was served already",
					(unsigned long long)f->gfn,
					f->vcpu == KVMUF_VM_RING ? -1 : (int)f->vcpu);
			}
			if (ranges_mode(s)) {
				queue_resolve(w, f->gfn);
				add_pending(w, f, consumed);
			} else {
				reclaim(w, f, idx, soff, consumed);
			}
		}
	}
	if (kvmuf_srv_bring_in(w) == 0)
		flush(w);
}

/* A userfaultfd message: the host mm hit a page of guest memory that is not there. */
static void uffd_fault(struct worker *w, uint64_t addr)
{
	struct kvmuf_server *s = w->s;
	const struct kvmuf_serve_geom *g = &s->cfg.geom;
	uint64_t page = (addr - s->cfg.uffd_hva) / PAGE, gfn = g->mem_base_gfn + page;
	const unsigned char *src;
	uint64_t soff, moff;

	add(&s->uffd_faults, 1);
	if (addr < s->cfg.uffd_hva || kvmuf_serve_locate(g, gfn, &soff, &moff) < 0) {
		add(&s->out_of_range, 1);
		set_first(&s->first_oor_gfn, gfn);
		srv_log(s, "out-of-range userfault at 0x%llx: outside the snapshot or the guest memory: the thread stays blocked",
			(unsigned long long)addr);
		return;
	}
	if (mark_served(s, page)) {
		if (!test(s->done_bits, page) && s->plan.size && test(s->ahead_bits, page)) {
			/*
			 * On its way in a prefetch or readahead read that may be long: read
			 * it again, alone, as a ring fault would (UFFDIO_COPY refuses a
			 * present page: the second install only wakes).
			 */
			add(&s->joined, 1);
			if (w->nclaims == RUN_PAGES && kvmuf_srv_bring_in(w) < 0)
				return;
			push_claim(w, gfn, page, soff);
			return;
		}
		if (!test(s->done_bits, page)) {
			/*
			 * Being installed: its UFFDIO_COPY (or the wake after EEXIST) wakes
			 * every waiter, queued before this message could be read. Without a
			 * plan the install is short, and a wake costs nothing; with one a
			 * claim may be held across a long read, and each wake would only
			 * bring the message back at once.
			 */
			if (!s->plan.size)
				uffd_wake(w, page, 1);
			return;
		}
		/*
		 * Installed, and faulting again: the VMM discarded it since (or the
		 * message is stale and the zero page meets EEXIST, which only wakes).
		 */
		add(&s->refaults, 1);
		uffd_place(w, page, NULL);
		return;
	}
	if (s->plan.size) {
		/*
		 * Claimed above: with its readahead, as a ring fault's page; uffd_drain()
		 * reads the claims of all the messages it read at once.
		 */
		test_and_set(s->uffd_bits, page);
		add(&s->uffd_served, 1);
		if (w->nclaims + 1 + s->plan.readahead_pages > RUN_PAGES &&
		    kvmuf_srv_bring_in(w) < 0)
			return;
		push_claim(w, gfn, page, soff);
		claim_readahead(w, gfn);
		return;
	}
	if (s->cfg.fetch_delay_us)
		usleep(s->cfg.fetch_delay_us);
	src = page_source(w, gfn, soff);
	if (!src) {
		unserve(s, page);
		return;		/* the access keeps waiting: see kvmuf_server_config.fetch */
	}
	test_and_set(s->uffd_bits, page);
	uffd_place(w, page, src);
	add(&s->uffd_served, 1);
	/* The module may have the GFN missing too: its vCPUs must not wait for a ring entry. */
	queue_resolve(w, gfn);
}

/* Drain the (non-blocking) userfaultfd: how many messages there were. */
static size_t uffd_drain(struct worker *w)
{
	struct kvmuf_server *s = w->s;
	struct uffd_msg msg[UFFD_MSGS];
	size_t total = 0;

	for (;;) {
		ssize_t n = read(s->cfg.uffd, msg, sizeof(msg));

		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				add(&s->errors, 1);
				srv_err(s, "worker %u: read of the userfaultfd: %s", w->id,
					strerror(errno));
			}
			return total;
		}
		/* Faults, as the rings' are: no prefetch batch starts meanwhile. */
		if (s->plan.size)
			atomic_fetch_add(&s->demand_busy, 1);
		for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				uffd_fault(w, msg[i].arg.pagefault.address & ~(uint64_t)(PAGE - 1));
		if (s->plan.size) {
			kvmuf_srv_bring_in(w);
			atomic_fetch_sub(&s->demand_busy, 1);
		}
		total += (size_t)n / sizeof(msg[0]);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct kvmuf_server *s = w->s;
	int ready_for_others = 0;

	if (s->cfg.nr_cpus) {
		int cpu = s->cfg.cpus[w->id % s->cfg.nr_cpus], err;
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (err) {
			add(&s->errors, 1);
			srv_err(s, "worker %u: pinning to CPU %d: %s", w->id, cpu, strerror(err));
		}
	}

	while (!atomic_load(&s->stop)) {
		size_t got = 0;	/* ring entries, then userfaultfd messages too */
		int ret;

		for (unsigned int r = w->id; r < s->nr_rings; r += s->nr_threads) {
			size_t n = s->ops.consume(s->ctx, r, w->faults, CONSUME_MAX);
			uint64_t consumed;

			if (!n)
				continue;
			consumed = now_ns();
			/* Demand first: no prefetch batch starts while we serve faults. */
			if (!got) {
				atomic_min_nonzero(&s->first_ns, consumed);
				atomic_fetch_add(&s->demand_busy, 1);
			}
			got += n;
			add(&s->faults, n);
			if (s->plan.size) {
				serve_batch(w, n, consumed);
				continue;
			}
			for (size_t i = 0; i < n; i++)
				add_fault(w, &w->faults[i], consumed);
		}
		if (got)
			atomic_fetch_sub(&s->demand_busy, 1);
		if (s->cfg.use_uffd)
			got += uffd_drain(w);
		flush(w);
		if (w->njoins)
			check_joins(w);
		if (got) {
			ready_for_others = 0;
			continue;
		}
		if (s->cfg.busy_poll) {
			cpu_relax();
			continue;
		}
		/*
		 * poll() reports entries in any ring: if it said "ready" and our
		 * rings were empty, the entries belong to another worker.  Back
		 * off a little instead of spinning until it has consumed them.
		 */
		if (ready_for_others) {
			struct timespec ts = { 0, 100 * 1000 };

			nanosleep(&ts, NULL);
		}
		/* Joined faults are timed when their page is in: look again soon. */
		ret = s->ops.poll(s->ctx, s->cfg.use_uffd ? s->cfg.uffd : -1,
				  w->njoins ? 1 : s->cfg.poll_ms);
		ready_for_others = ret > 0;
		if (ret >= 0 || ret == -EINTR)
			continue;
		if (ret == -ENODEV) {
			atomic_store(&s->detached, 1);
		} else {
			add(&s->errors, 1);
			srv_err(s, "worker %u: poll: %s", w->id, kvmuf_strerror(ret));
		}
		finish(s);
	}
	return NULL;
}

/* ---- lifetime ---- */

static void server_free(struct kvmuf_server *s)
{
	unsigned int nw = s->nr_threads + s->plan.prefetch_threads;

	if (s->done_fd >= 0)
		close(s->done_fd);
	free(s->served_bits);
	free(s->uffd_bits);
	free(s->done_bits);
	free(s->ahead_bits);
	free(s->resolved_bits);
	free(s->recorded_bits);
	for (unsigned int i = 0; s->workers && i < nw; i++) {
		free(s->workers[i].page);
		free(s->workers[i].runbuf);
		free(s->workers[i].rec);
		pthread_mutex_destroy(&s->workers[i].rec_lock);
	}
	free(s->workers);
	free(s);
}

/* Copy what the caller's plan holds into @p (zero past its size); 0 or -EINVAL. */
static int take_plan(const struct kvmuf_server_config *cfg, const struct kvmuf_serve_plan *in,
		     struct kvmuf_serve_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (!in)
		return 0;
	/*
	 * libkvmuf 1.2's struct is the first: nothing smaller is a plan. A newer caller's
	 * larger struct is taken if what this version does not know is zero.
	 */
	if (in->size < sizeof(*p))
		return -EINVAL;
	for (size_t i = sizeof(*p); i < in->size; i++)
		if (((const unsigned char *)in)[i])
			return -E2BIG;
	memcpy(p, in, sizeof(*p));
	p->size = sizeof(*p);
	if (!p->prefetch_batch)
		p->prefetch_batch = 32;
	/* One page source: snap_data or read_runs (fetch() serves without a plan only). */
	if (cfg->fetch || !cfg->snap_data == !p->read_runs ||
	    (p->read_runs && !p->connections) ||
	    p->readahead_pages > KVMUF_SERVE_MAX_READAHEAD ||
	    p->prefetch_threads > KVMUF_SERVE_MAX_PREFETCHERS ||
	    p->prefetch_batch > KVMUF_SERVE_MAX_BATCH ||
	    ((p->nr_replay || p->sweep) && !p->prefetch_threads) ||
	    (p->nr_replay && !p->replay))
		return -EINVAL;
	return 0;
}

/* Pages of the guest memory that the snapshot holds. */
static uint64_t covered_pages(const struct kvmuf_serve_geom *g)
{
	uint64_t lo = g->mem_base_gfn > g->snap_base_gfn ? g->mem_base_gfn : g->snap_base_gfn;
	uint64_t mem_end = g->mem_base_gfn + g->mem_npages;
	uint64_t snap_end = g->snap_base_gfn + g->snap_npages;
	uint64_t hi = mem_end < snap_end ? mem_end : snap_end;

	return hi > lo ? hi - lo : 0;
}

/*
 * Pages that are present already (the module says so) are neither fetched nor waited
 * for: a server that took over from another, or started late, fetches only what is
 * missing. Only on the real device (no ops), and only if the guest memory is one managed
 * range: otherwise (or with a module older than KVMUF_GET_MISSING) every page stays to be
 * brought in, and the installs refuse the present ones.
 */
#define PRESENT_CHUNK	(1ULL << 20)	/* GFNs per query: 128 KiB of bitmap */

static void skip_present(struct kvmuf_server *s)
{
	const struct kvmuf_serve_geom *g = &s->cfg.geom;
	uint64_t *bits, present = 0;

	if (s->cfg.ops || !s->plan.size)
		return;
	bits = malloc(PRESENT_CHUNK / 8);
	if (!bits)
		return;
	for (uint64_t off = 0; off < g->mem_npages; off += PRESENT_CHUNK) {
		uint64_t n = g->mem_npages - off < PRESENT_CHUNK ? g->mem_npages - off :
								    PRESENT_CHUNK;
		uint64_t soff, moff;

		if (kvmuf_get_missing(s->ctx, g->mem_base_gfn + off, n, bits, NULL) < 0)
			break;
		for (uint64_t i = 0; i < n; i++) {
			if ((bits[i / 64] >> (i % 64)) & 1)
				continue;
			test_and_set(s->served_bits, off + i);
			test_and_set(s->resolved_bits, off + i);
			if (kvmuf_serve_locate(g, g->mem_base_gfn + off + i, &soff, &moff) == 0)
				present++;
		}
	}
	free(bits);
	atomic_store(&s->present, present);
	atomic_store(&s->present_at_start, present);
}

int kvmuf_server_start_plan(const struct kvmuf_server_config *cfg,
			    const struct kvmuf_serve_plan *plan, struct kvmuf_server **out)
{
	const struct kvmuf_serve_geom *g = &cfg->geom;
	struct kvmuf_serve_plan p;
	struct kvmuf_server *s;
	unsigned int nw;
	uint64_t words;
	int ret = 0;

	*out = NULL;
	if (!cfg->ctx || cfg->nr_threads == 0 ||
	    g->mem_npages == 0 || g->mem_npages > (UINT64_MAX >> 12) ||
	    ((uintptr_t)cfg->snap_data & (PAGE - 1)) ||
	    (!plan && !cfg->snap_data == !cfg->fetch))
		return -EINVAL;
	ret = take_plan(cfg, plan, &p);
	if (ret < 0)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->done_fd = -1;
	s->cfg = *cfg;
	s->plan = p;		/* size 0 without a plan: the engine as in libkvmuf 1.1 */
	if (s->cfg.poll_ms <= 0)
		s->cfg.poll_ms = 50;
	s->ops = cfg->ops ? *cfg->ops : lib_ops;
	s->ctx = cfg->ctx;
	s->nr_rings = cfg->nr_rings;
	if (!cfg->ops && !s->nr_rings)
		s->nr_rings = kvmuf_nr_rings(cfg->ctx);
	if (!s->nr_rings) {
		server_free(s);
		return -EINVAL;
	}
	s->nr_threads = cfg->nr_threads < s->nr_rings ? cfg->nr_threads : s->nr_rings;
	nw = s->nr_threads + s->plan.prefetch_threads;
	s->copy_only = s->plan.size && (s->plan.readahead_pages || s->plan.prefetch_threads);
	s->start_ns = now_ns();
	s->total = covered_pages(g);
	atomic_init(&s->first_oor_gfn, NO_GFN);
	atomic_init(&s->first_dup_gfn, NO_GFN);

	words = (g->mem_npages + 63) / 64;
	if (words > SIZE_MAX / sizeof(*s->served_bits)) {
		server_free(s);
		return -ENOMEM;
	}
	s->served_bits = calloc((size_t)words, sizeof(*s->served_bits));
	s->uffd_bits = calloc((size_t)words, sizeof(*s->uffd_bits));
	s->done_bits = calloc((size_t)words, sizeof(*s->done_bits));
	s->ahead_bits = calloc((size_t)words, sizeof(*s->ahead_bits));
	s->resolved_bits = calloc((size_t)words, sizeof(*s->resolved_bits));
	s->recorded_bits = calloc((size_t)words, sizeof(*s->recorded_bits));
	s->workers = calloc(nw, sizeof(*s->workers));
	s->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->served_bits || !s->uffd_bits || !s->done_bits || !s->ahead_bits ||
	    !s->resolved_bits || !s->recorded_bits || !s->workers || s->done_fd < 0) {
		ret = s->done_fd < 0 ? -errno : -ENOMEM;
		server_free(s);
		return ret;
	}
	for (unsigned int i = 0; i < nw; i++) {
		struct worker *w = &s->workers[i];

		w->s = s;
		w->id = i;
		w->conn = s->plan.connections ? i % s->plan.connections : 0;
		pthread_mutex_init(&w->rec_lock, NULL);
		if (cfg->fetch)
			w->page = aligned_alloc(PAGE, PAGE);
		if (s->plan.read_runs)
			w->runbuf = aligned_alloc(PAGE, (size_t)RUN_PAGES * PAGE);
		if ((cfg->fetch && !w->page) || (s->plan.read_runs && !w->runbuf)) {
			server_free(s);
			return -ENOMEM;
		}
	}

	skip_present(s);
	for (; s->started < nw; s->started++) {
		struct worker *w = &s->workers[s->started];
		int err;

		err = pthread_create(&w->thread, NULL, s->started < s->nr_threads ? worker_main :
				     kvmuf_srv_prefetch_main, w);
		if (err) {
			ret = -err;
			break;
		}
	}
	if (ret < 0) {
		kvmuf_server_stop(s, NULL);
		return ret;
	}
	*out = s;
	return 0;
}

int kvmuf_server_start(const struct kvmuf_server_config *cfg,
		       struct kvmuf_server **out)
{
	return kvmuf_server_start_plan(cfg, NULL, out);
}

/* ---- for prefetch.c ---- */

uint64_t kvmuf_srv_now_ns(void)
{
	return now_ns();
}

void kvmuf_srv_add(_Atomic uint64_t *v, uint64_t n)
{
	add(v, n);
}


int kvmuf_server_done_fd(const struct kvmuf_server *s)
{
	return s->done_fd;
}

int kvmuf_server_done(const struct kvmuf_server *s)
{
	return atomic_load(&((struct kvmuf_server *)s)->done);
}

void kvmuf_server_stats(const struct kvmuf_server *cs,
			struct kvmuf_server_stats *st)
{
	struct kvmuf_server *s = (struct kvmuf_server *)cs;
	uint64_t first = atomic_load(&s->first_ns), last = atomic_load(&s->last_ns);

	*st = (struct kvmuf_server_stats) {
		.faults = atomic_load(&s->faults),
		.served = atomic_load(&s->served),
		.unchanged = atomic_load(&s->unchanged),
		.duplicates = atomic_load(&s->duplicates),
		.out_of_range = atomic_load(&s->out_of_range),
		.errors = atomic_load(&s->errors),
		.batches = atomic_load(&s->batches),
		.ring_served = atomic_load(&s->ring_served),
		.uffd_faults = atomic_load(&s->uffd_faults),
		.uffd_served = atomic_load(&s->uffd_served),
		.both = atomic_load(&s->both),
		.refaults = atomic_load(&s->refaults),
		.fetched = atomic_load(&s->fetched),
		.queue_ns = atomic_load(&s->queue_ns),
		.serve_ns = atomic_load(&s->serve_ns),
		.resolve_ns = atomic_load(&s->resolve_ns),
		.timed = atomic_load(&s->timed),
		.first_oor_gfn = atomic_load(&s->first_oor_gfn),
		.first_dup_gfn = atomic_load(&s->first_dup_gfn),
		.threads = s->nr_threads,
		.detached = atomic_load(&s->detached),
		.seconds = first && last > first ? (double)(last - first) / 1e9 : 0,
	};
}

void kvmuf_server_stop(struct kvmuf_server *s, struct kvmuf_server_stats *st)
{
	if (!s)
		return;
	atomic_store(&s->stop, 1);
	for (unsigned int i = 0; i < s->started; i++)
		pthread_join(s->workers[i].thread, NULL);
	if (st)
		kvmuf_server_stats(s, st);
	server_free(s);
}
