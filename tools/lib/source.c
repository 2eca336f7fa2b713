// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkvmuf: the page source front end, see kvmuf_source.h. Parses the spec, checks every
 * read against the snapshot before a back end sees it, chooses fetch()'s connection, and
 * keeps the counters (atomics: any thread may read or ask for stats).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "source_priv.h"
#include "errbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Runs checked on the stack; more take a heap array of offsets. */
#define STACK_RUNS	16

/* The URI schemes libnbd's nbd_connect_uri takes (libnbd 1.14). */
static const char *const nbd_schemes[] = {
	"nbd", "nbds", "nbd+unix", "nbds+unix", "nbd+vsock", "nbds+vsock",
};

/* Every source gets its own id, never reused, so a thread's cached choice cannot
 * outlive its source and apply to a new one allocated at the same address. */
static atomic_uint_fast64_t source_ids;

/* fetch(): the connection this thread took on the source it used last. */
static _Thread_local struct {
	uint64_t id;
	unsigned int conn;
} fetch_choice;

/*
 * The scheme of @spec when it looks like a URI ("scheme://"), length in *@len; NULL
 * for a plain path. Only letters, digits and + - . make a scheme, so "dir/x://y" is a
 * path.
 */
static const char *uri_scheme(const char *spec, size_t *len)
{
	size_t n = strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789+-.");

	if (n == 0 || strncmp(spec + n, "://", 3))
		return NULL;
	*len = n;
	return spec;
}

static int is_nbd_scheme(const char *scheme, size_t len)
{
	for (size_t i = 0; i < sizeof(nbd_schemes) / sizeof(nbd_schemes[0]); i++)
		if (strlen(nbd_schemes[i]) == len && !strncmp(scheme, nbd_schemes[i], len))
			return 1;
	return 0;
}

int kvmuf_source_open(const char *spec, unsigned int connections,
		      struct kvmuf_source **out, char *err, size_t errlen)
{
	struct kvmuf_source *s;
	const char *scheme;
	size_t len;
	int ret;

	set_err(err, errlen, "no error");
	*out = NULL;
	if (!spec || !*spec) {
		set_err(err, errlen, "empty source");
		return -EINVAL;
	}
	if (connections < 1 || connections > KVMUF_SOURCE_MAX_CONNECTIONS) {
		set_err(err, errlen, "%u connections: 1 to %u", connections,
			KVMUF_SOURCE_MAX_CONNECTIONS);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->nconn = connections;
	s->id = atomic_fetch_add(&source_ids, 1) + 1;

	scheme = uri_scheme(spec, &len);
	if (!strncmp(spec, "file:", 5)) {
		s->ops = &source_file_ops;
		ret = source_file_open(s, spec + 5, err, errlen);
	} else if (scheme && is_nbd_scheme(scheme, len)) {
		s->ops = &source_nbd_ops;
		ret = source_nbd_open(s, spec, err, errlen);
	} else if (scheme) {
		set_err(err, errlen, "%s: unknown scheme %.*s (file:, nbd:, nbds:, nbd+unix:, "
			"nbds+unix:, nbd+vsock:, nbds+vsock:)", spec, (int)len, scheme);
		ret = -EINVAL;
	} else {
		s->ops = &source_file_ops;
		ret = source_file_open(s, spec, err, errlen);
	}
	if (ret < 0) {
		if (ret == -ENOMEM)
			set_err(err, errlen, "%s: out of memory", spec);
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

const struct kvmuf_snap_header *kvmuf_source_header(const struct kvmuf_source *s)
{
	return &s->hdr;
}

const void *kvmuf_source_data(const struct kvmuf_source *s)
{
	const struct kvmuf_snap *snap = s->priv;

	return s->ops == &source_file_ops ? snap->data : NULL;
}

const char *kvmuf_source_kind(const struct kvmuf_source *s)
{
	return s->ops->kind;
}

unsigned int kvmuf_source_connections(const struct kvmuf_source *s)
{
	return s->nconn;
}

int kvmuf_source_set_timeout(struct kvmuf_source *s, unsigned int ms)
{
	atomic_store(&s->timeout_ms, ms);
	return 0;
}

/* Byte offset of @r in the image, or -ERANGE / -EINVAL. */
static int check_run(const struct kvmuf_source *s, const struct kvmuf_source_run *r,
		     uint64_t *off)
{
	uint64_t idx;

	if (r->npages == 0 || !r->buf)
		return -EINVAL;
	if (kvmuf_snap_index(s->hdr.base_gfn, s->hdr.npages, r->gfn, &idx) < 0 ||
	    r->npages > s->hdr.npages - idx)
		return -ERANGE;
	/* The header check bounds npages by the image size: no overflow here. */
	*off = KVMUF_SNAP_HEADER_SIZE + idx * KVMUF_SNAP_PAGE;
	return 0;
}

static void account(struct kvmuf_source *s, const struct kvmuf_source_run *runs, size_t nr,
		    int ret, uint64_t start)
{
	uint64_t ns = source_now_ns() - start, max, pages = 0, done = 0;

	for (size_t i = 0; i < nr; i++) {
		if (runs[i].error)
			continue;
		done++;
		pages += runs[i].npages;
	}
	atomic_fetch_add(&s->reads, 1);
	atomic_fetch_add(&s->runs, done);
	atomic_fetch_add(&s->pages, pages);
	atomic_fetch_add(&s->bytes, pages * KVMUF_SNAP_PAGE);
	if (ret < 0)
		atomic_fetch_add(&s->errors, 1);
	atomic_fetch_add(&s->read_ns, ns);
	max = atomic_load(&s->max_read_ns);
	while (ns > max && !atomic_compare_exchange_weak(&s->max_read_ns, &max, ns))
		;
}

int kvmuf_source_read_runs(struct kvmuf_source *s, unsigned int conn,
			   struct kvmuf_source_run *runs, size_t nr)
{
	uint64_t start = source_now_ns(), stack_off[STACK_RUNS], *off = stack_off;
	int ret = 0;

	if (nr == 0)
		return 0;
	for (size_t i = 0; i < nr; i++)
		runs[i].error = -ECANCELED;
	if (conn >= s->nconn) {
		ret = -EINVAL;
		goto out;
	}
	if (nr > STACK_RUNS) {
		off = calloc(nr, sizeof(*off));		/* (calloc: no overflow) */
		if (!off) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < nr; i++) {
		ret = check_run(s, &runs[i], &off[i]);
		if (ret < 0) {
			runs[i].error = ret;
			goto out;
		}
	}
	ret = s->ops->read_runs(s, conn, runs, off, nr);
out:
	if (off != stack_off)
		free(off);
	account(s, runs, nr, ret, start);
	return ret;
}

int kvmuf_source_read(struct kvmuf_source *s, unsigned int conn, uint64_t gfn,
		      uint64_t npages, void *buf)
{
	struct kvmuf_source_run run = { .gfn = gfn, .npages = npages, .buf = buf };

	return kvmuf_source_read_runs(s, conn, &run, 1);
}

int kvmuf_source_fetch(void *opaque, uint64_t gfn, void *page)
{
	struct kvmuf_source *s = opaque;

	if (fetch_choice.id != s->id) {
		fetch_choice.id = s->id;
		fetch_choice.conn = atomic_fetch_add(&s->next_conn, 1) % s->nconn;
	}
	return kvmuf_source_read(s, fetch_choice.conn, gfn, 1, page);
}

/* kvmuf_serve_plan.read_runs takes the source as a void pointer. */
static int plan_read_runs(void *opaque, unsigned int conn, struct kvmuf_source_run *runs,
			  size_t nr)
{
	return kvmuf_source_read_runs(opaque, conn, runs, nr);
}

void kvmuf_source_serve(struct kvmuf_source *s, struct kvmuf_server_config *cfg,
			struct kvmuf_serve_plan *plan)
{
	cfg->snap_data = kvmuf_source_data(s);
	cfg->fetch = NULL;
	plan->connections = s->nconn;
	plan->read_runs = cfg->snap_data ? NULL : plan_read_runs;
	plan->read_opaque = cfg->snap_data ? NULL : s;
}

void kvmuf_source_stats(const struct kvmuf_source *s, struct kvmuf_source_stats *st)
{
	/* (atomic_load takes a non-const pointer in C11's generic definition) */
	struct kvmuf_source *m = (struct kvmuf_source *)s;

	memset(st, 0, sizeof(*st));
	st->reads = atomic_load(&m->reads);
	st->runs = atomic_load(&m->runs);
	st->pages = atomic_load(&m->pages);
	st->bytes = atomic_load(&m->bytes);
	st->requests = atomic_load(&m->requests);
	st->errors = atomic_load(&m->errors);
	st->read_ns = atomic_load(&m->read_ns);
	st->max_read_ns = atomic_load(&m->max_read_ns);
	st->connections = s->nconn;
	st->broken = atomic_load(&m->broken);
}

void kvmuf_source_close(struct kvmuf_source *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}
