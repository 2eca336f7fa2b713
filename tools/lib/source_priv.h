/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: what the page source front end (source.c) and its back ends (source_file.c,
 * source_nbd.c) share. Not installed.
 *
 * The front end checks every argument (connection index, runs inside the snapshot, no
 * empty run) and keeps the counters; a back end only moves bytes, and sets every run's
 * error before it returns.
 */
#ifndef KVMUF_SOURCE_PRIV_H
#define KVMUF_SOURCE_PRIV_H

#include <stdatomic.h>
#include <time.h>

#include "kvmuf_source.h"

struct kvmuf_source;

struct source_ops {
	const char *kind;
	/*
	 * Read the checked runs (byte offsets in the image: off[i] for runs[i]) on
	 * connection @conn: set runs[i].error for every i, return the first error or 0.
	 */
	int (*read_runs)(struct kvmuf_source *s, unsigned int conn,
			 struct kvmuf_source_run *runs, const uint64_t *off, size_t nr);
	void (*close)(struct kvmuf_source *s);
};

struct kvmuf_source {
	const struct source_ops *ops;
	struct kvmuf_snap_header hdr;
	uint64_t size;			/* bytes in the image */
	unsigned int nconn;
	uint64_t id;			/* unique per open, for fetch()'s per-thread choice */
	atomic_uint next_conn;		/* fetch(): the next thread's connection */
	atomic_uint timeout_ms;		/* per call, 0: none (kvmuf_source_set_timeout) */
	void *priv;			/* the back end's */

	atomic_uint_fast64_t reads, runs, pages, bytes, requests, errors;
	atomic_uint_fast64_t read_ns, max_read_ns;
	atomic_uint broken;
};

static inline uint64_t source_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Back ends: fill hdr, size and priv of @s (ops, nconn are set) or return a negative
 * errno with err[errlen] set, leaving nothing allocated.
 */
int source_file_open(struct kvmuf_source *s, const char *path, char *err, size_t errlen);
int source_nbd_open(struct kvmuf_source *s, const char *uri, char *err, size_t errlen);

extern const struct source_ops source_file_ops;
extern const struct source_ops source_nbd_ops;

#endif /* KVMUF_SOURCE_PRIV_H */
