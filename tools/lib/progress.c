// SPDX-License-Identifier: LGPL-2.1-or-later
/* libkvmuf: where a restore stands (kvmuf_server_progress), and its working set. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "server_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

KVMUF_PUBLIC void kvmuf_server_progress(const struct kvmuf_server *cs,
					struct kvmuf_serve_progress *out)
{
	struct kvmuf_server *s = (struct kvmuf_server *)cs;
	uint64_t last = atomic_load(&s->last_fault_ns);
	struct kvmuf_serve_progress p = {
		.size = sizeof(p),
		.demand = atomic_load(&s->ring_served) + atomic_load(&s->uffd_served),
		.readahead = atomic_load(&s->readahead),
		.prefetched = atomic_load(&s->prefetched),
		.replayed = atomic_load(&s->replayed),
		.joined = atomic_load(&s->joined),
		.present = atomic_load(&s->present),
		.present_at_start = atomic_load(&s->present_at_start),
		.total = s->total,
		.faults_timed = atomic_load(&s->fault_lat.n),
		.fault_p50_ns = lathist_quantile(&s->fault_lat, 500),
		.fault_p99_ns = lathist_quantile(&s->fault_lat, 990),
		.fault_max_ns = atomic_load(&s->fault_lat.max),
		.last_fault_ns = last > s->start_ns ? last - s->start_ns : 0,
		.replay_done_ns = atomic_load(&s->replay_done_ns),
		.all_present_ns = atomic_load(&s->all_present_ns),
	};
	uint32_t size = out->size < sizeof(p) ? out->size : (uint32_t)sizeof(p);

	if (size < sizeof(uint32_t))
		return;
	p.size = size;
	memcpy(out, &p, size);
}

static int by_time(const void *a, const void *b)
{
	const struct kvmuf_ws_entry *x = a, *y = b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

KVMUF_PUBLIC int kvmuf_server_working_set(const struct kvmuf_server *cs,
					  struct kvmuf_ws_entry **out, size_t *n)
{
	struct kvmuf_server *s = (struct kvmuf_server *)cs;
	struct kvmuf_ws_entry *all;
	size_t total = 0, k = 0;

	*out = NULL;
	*n = 0;
	if (!s->plan.record)
		return -EINVAL;
	for (unsigned int i = 0; i < s->nr_threads; i++) {
		pthread_mutex_lock(&s->workers[i].rec_lock);
		total += s->workers[i].nrec;
		pthread_mutex_unlock(&s->workers[i].rec_lock);
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->nr_threads; i++) {
		struct worker *w = &s->workers[i];

		pthread_mutex_lock(&w->rec_lock);
		for (size_t j = 0; j < w->nrec && k < total; j++)
			all[k++] = w->rec[j];
		pthread_mutex_unlock(&w->rec_lock);
	}
	qsort(all, k, sizeof(*all), by_time);
	for (size_t j = k; j-- > 0;)
		all[j].time_ns -= all[0].time_ns;
	*out = all;
	*n = k;
	return 0;
}
