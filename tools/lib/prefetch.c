// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkvmuf: the page engine's prefetch threads (kvmuf_serve_plan): the replay list, then
 * a sweep of the guest memory, in batches, rate-limited, and never while a worker serves
 * faults. A page is claimed before it is read (server_priv.h): nothing is brought in
 * twice, whoever asks first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "server_priv.h"

#include <stdlib.h>
#include <time.h>

#define YIELD_NS	100000ULL	/* a worker serves faults: look again after this */

static int by_gfn(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;

	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	nanosleep(&ts, NULL);
}

/*
 * Claim up to @batch pages for w: the next replay GFNs, then the next pages of the sweep.
 * *@last_replay: this batch took the list's last GFN. False when nothing is left.
 */
static int claim_batch(struct worker *w, unsigned int batch, int *last_replay)
{
	struct kvmuf_server *s = w->s;
	const struct kvmuf_serve_plan *p = &s->plan;

	*last_replay = 0;
	while (w->nclaims < batch && !atomic_load(&s->stop)) {
		uint64_t r = atomic_load(&s->replay_next), i, n;

		if (r < p->nr_replay) {
			r = atomic_fetch_add(&s->replay_next, 1);
			if (r >= p->nr_replay)
				continue;
			if (r == p->nr_replay - 1)
				*last_replay = 1;
			/* GFNs outside the memory or the snapshot are skipped by the claim. */
			if (kvmuf_srv_claim(w, p->replay[r], 1))
				kvmuf_srv_add(&s->replayed, 1);
			continue;
		}
		if (!p->sweep)
			break;
		/* A stretch at a time: with several threads each reads whole runs. */
		n = batch - w->nclaims;
		i = atomic_fetch_add(&s->sweep_next, n);
		if (i >= s->cfg.geom.mem_npages)
			break;
		for (uint64_t k = 0; k < n && i + k < s->cfg.geom.mem_npages; k++)
			kvmuf_srv_claim(w, s->cfg.geom.mem_base_gfn + i + k, 1);
	}
	/* In GFN order, neighbours are one request (a replay list is in fault order). */
	qsort(w->claims, w->nclaims, sizeof(w->claims[0]), by_gfn);
	return w->nclaims > 0 || *last_replay;
}

/*
 * The rate: a slot of n / rate seconds for each batch of n pages, taken one after the
 * other from s->rate_next (the end of the last slot taken) by every prefetch thread.
 * Time nobody used is not saved up beyond one batch: a sweep that waited for faults
 * does not burst afterwards. Waits until the slot starts; false if the server stops.
 */
static int rate_wait(struct kvmuf_server *s, uint64_t n)
{
	uint64_t rate = s->plan.prefetch_rate, len, now, cur, start;

	if (!rate)
		return 1;
	len = n * 1000000000ULL / rate;
	now = kvmuf_srv_now_ns();
	cur = atomic_load(&s->rate_next);
	do {
		start = cur + len > now ? cur : now - len;
	} while (!atomic_compare_exchange_weak(&s->rate_next, &cur, start + len));
	while (!atomic_load(&s->stop)) {
		now = kvmuf_srv_now_ns();
		if (now >= start)
			return 1;
		sleep_ns(start - now < YIELD_NS * 10 ? start - now : YIELD_NS * 10);
	}
	return 0;
}

void *kvmuf_srv_prefetch_main(void *arg)
{
	struct worker *w = arg;
	struct kvmuf_server *s = w->s;
	unsigned int batch = s->plan.prefetch_batch;
	int last_replay;

	while (!atomic_load(&s->stop)) {
		/*
		 * Demand first: while a worker serves faults, the sweep waits. The replay
		 * list does not: it is the demand the last restore saw, coming now.
		 */
		if (atomic_load(&s->replay_next) >= s->plan.nr_replay &&
		    atomic_load(&s->demand_busy)) {
			sleep_ns(YIELD_NS);
			continue;
		}
		if (!rate_wait(s, batch))
			break;
		if (!claim_batch(w, batch, &last_replay))
			break;
		kvmuf_srv_add(&s->prefetched, w->nclaims);
		if (kvmuf_srv_bring_in(w) < 0)
			break;
		if (last_replay) {
			uint64_t zero = 0;

			atomic_compare_exchange_strong(&s->replay_done_ns, &zero,
						       kvmuf_srv_now_ns() - s->start_ns);
		}
	}
	return NULL;
}
