// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkvmuf: the NBD page source. Each connection is one libnbd handle behind a mutex;
 * a call sends all its requests with nbd_aio_pread, then drives the handle with nbd_poll
 * until none is in flight. Completion callbacks (run on this thread, inside libnbd)
 * count each run's outstanding requests and keep its first error, so a run is a success
 * only when every one of its requests came back without error.
 *
 * A buffer handed to nbd_aio_pread must stay valid until the command completes; a call
 * therefore never returns with a request of its own still in flight: when the handle
 * cannot be driven any more (nbd_poll failed, the server went away) it is closed, which
 * drops every command, and the connection is marked broken. The same happens when a
 * call's requests are not all back within the source's timeout: a server that stopped
 * answering must not hold an engine worker for ever.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "source_priv.h"
#include "errbuf.h"

#include <errno.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Largest request: libnbd's own limit is 64 MiB, some servers drop a connection above
 * 32 MiB when they advertise nothing. */
#define MAX_REQUEST	(32u << 20)
/* Run trackers on the stack; more take a heap array. */
#define STACK_RUNS	16

struct nbd_conn {
	pthread_mutex_t lock;
	struct nbd_handle *h;		/* NULL once broken */
	int broken;			/* errno that broke it, 0 while usable */
};

struct nbd_src {
	uint64_t max_request;		/* bytes, a multiple of 4 KiB */
	unsigned int nconn;
	struct nbd_conn conn[];
};

/* A run's requests still out and its first error, updated by the completion callback. */
struct run_track {
	struct kvmuf_source_run *run;
	uint64_t left;
};

/* libnbd's errno for its last failed call on this thread, never 0. */
static int nbd_errno(void)
{
	int e = nbd_get_errno();

	return e > 0 ? e : EIO;
}

static int chunk_done(void *user_data, int *error)
{
	struct run_track *t = user_data;

	t->left--;
	if (*error && t->run->error == 0)
		t->run->error = -*error;
	return 1;	/* retire the command: nobody asks nbd_aio_command_completed */
}

/* Close @c's handle for good (caller holds the lock); its reads fail from now on. */
static void conn_break(struct kvmuf_source *s, struct nbd_conn *c, int e)
{
	nbd_close(c->h);
	c->h = NULL;
	c->broken = e;
	atomic_fetch_add(&s->broken, 1);
}

static int conn_dead(struct nbd_handle *h)
{
	return nbd_aio_is_dead(h) > 0 || nbd_aio_is_closed(h) > 0;
}

/* Send every chunk of runs[0..nr); how many were sent goes to *@sent. 0 or -errno. */
static int submit(struct kvmuf_source *s, struct nbd_src *n, struct nbd_handle *h,
		  struct run_track *t, struct kvmuf_source_run *runs, const uint64_t *off,
		  size_t nr)
{
	for (size_t i = 0; i < nr; i++) {
		uint64_t len = runs[i].npages * KVMUF_SNAP_PAGE;

		t[i].run = &runs[i];
		t[i].left = 0;
		runs[i].error = 0;
		for (uint64_t done = 0; done < len; done += n->max_request) {
			uint64_t count = len - done < n->max_request ? len - done
								       : n->max_request;
			nbd_completion_callback cb = { .callback = chunk_done,
						       .user_data = &t[i] };
			int64_t cookie;

			cookie = nbd_aio_pread(h, (char *)runs[i].buf + done, count,
					       off[i] + done, cb, 0);
			if (cookie < 0) {
				int e = conn_dead(h) ? ENOTCONN : nbd_errno();

				/* Chunks sent before still complete and are counted. */
				runs[i].error = -e;
				return -e;
			}
			t[i].left++;
			atomic_fetch_add(&s->requests, 1);
		}
	}
	return 0;
}

static int nbd_read_runs(struct kvmuf_source *s, unsigned int conn,
			 struct kvmuf_source_run *runs, const uint64_t *off, size_t nr)
{
	struct nbd_src *n = s->priv;
	struct nbd_conn *c = &n->conn[conn];
	struct run_track stack_t[STACK_RUNS], *t = stack_t;
	uint64_t timeout_ns, deadline;
	int ret = 0, lost = 0;

	if (nr > STACK_RUNS) {
		t = calloc(nr, sizeof(*t));
		if (!t)
			return runs[0].error = -ENOMEM;
	}
	pthread_mutex_lock(&c->lock);
	if (!c->h) {
		for (size_t i = 0; i < nr; i++)
			runs[i].error = -ENOTCONN;
		goto out;
	}
	/* Runs never reached keep the front end's -ECANCELED and a zero tracker. */
	memset(t, 0, nr * sizeof(*t));
	submit(s, n, c->h, t, runs, off, nr);

	/* The connection is ours: whatever is in flight is this call's. */
	timeout_ns = (uint64_t)atomic_load(&s->timeout_ms) * 1000000;
	deadline = source_now_ns() + timeout_ns;
	for (;;) {
		int64_t inflight = nbd_aio_in_flight(c->h), now;
		int wait_ms = -1, r;

		if (inflight == 0)
			break;
		if (timeout_ns) {
			now = (int64_t)source_now_ns();
			if (now >= (int64_t)deadline) {
				lost = ETIMEDOUT;
				break;
			}
			wait_ms = (int)(((int64_t)deadline - now + 999999) / 1000000);
		}
		r = inflight < 0 ? -1 : nbd_poll(c->h, wait_ms);
		/* A signal is no reason to drop the connection: wait on. */
		if (r < 0 && inflight > 0 && nbd_get_errno() == EINTR && !conn_dead(c->h))
			continue;
		if (r < 0) {
			lost = conn_dead(c->h) ? ENOTCONN : nbd_errno();
			break;
		}
	}
	/*
	 * A run with a request that never completed failed, whatever else it saw; marked
	 * before the close, so that callbacks nbd_close may still run keep this reason.
	 */
	for (size_t i = 0; i < nr; i++)
		if (t[i].run && t[i].left && t[i].run->error == 0)
			t[i].run->error = -(lost ? lost : EIO);
	if (lost || conn_dead(c->h))
		conn_break(s, c, lost ? lost : ENOTCONN);
out:
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < nr && !ret; i++)
		ret = runs[i].error;
	if (t != stack_t)
		free(t);
	return ret;
}

static void nbd_src_close(struct kvmuf_source *s)
{
	struct nbd_src *n = s->priv;

	for (unsigned int i = 0; i < n->nconn; i++) {
		nbd_close(n->conn[i].h);	/* NULL is ok */
		pthread_mutex_destroy(&n->conn[i].lock);
	}
	free(n);
}

const struct source_ops source_nbd_ops = {
	.kind = "nbd",
	.read_runs = nbd_read_runs,
	.close = nbd_src_close,
};

/* Connect @c to @uri; its size in *@size. 0 or -errno with err set. */
static int conn_open(struct nbd_conn *c, unsigned int i, const char *uri, int64_t *size,
		     uint64_t *max_request, char *err, size_t errlen)
{
	char name[32];
	int64_t min, max;
	int e;

	c->h = nbd_create();
	if (!c->h) {
		e = nbd_errno();
		set_err(err, errlen, "%s: %s", uri, nbd_get_error());
		return -e;
	}
	if (!nbd_supports_uri(c->h)) {
		set_err(err, errlen, "%s: this libnbd was built without NBD URI support", uri);
		return -ENOTSUP;
	}
	/* Names the handle in LIBNBD_DEBUG output. */
	snprintf(name, sizeof(name), "kvmuf-source-%u", i);
	nbd_set_handle_name(c->h, name);
	if (nbd_connect_uri(c->h, uri) < 0) {
		e = nbd_errno();
		set_err(err, errlen, "%s: %s", uri, nbd_get_error());
		return -e;
	}
	*size = nbd_get_size(c->h);
	if (*size < 0) {
		e = nbd_errno();
		set_err(err, errlen, "%s: %s", uri, nbd_get_error());
		return -e;
	}
	min = nbd_get_block_size(c->h, LIBNBD_SIZE_MINIMUM);
	max = nbd_get_block_size(c->h, LIBNBD_SIZE_MAXIMUM);
	if (min > (int64_t)KVMUF_SNAP_PAGE || (max > 0 && max < (int64_t)KVMUF_SNAP_PAGE)) {
		set_err(err, errlen, "%s: the server's block sizes (minimum %lld, maximum %lld) "
			"do not allow 4 KiB reads", uri, (long long)min, (long long)max);
		return -EINVAL;
	}
	if (max > 0 && (uint64_t)max < *max_request)
		*max_request = (uint64_t)max & ~(uint64_t)(KVMUF_SNAP_PAGE - 1);
	return 0;
}

static int check_size(int64_t size, const char *uri, char *err, size_t errlen)
{
	if (size < (int64_t)KVMUF_SNAP_HEADER_SIZE) {
		set_err(err, errlen, "%s: the export is %lld bytes, smaller than a snapshot's "
			"%u-byte header page", uri, (long long)size, KVMUF_SNAP_HEADER_SIZE);
		return -EINVAL;
	}
	if (size % KVMUF_SNAP_PAGE) {
		set_err(err, errlen, "%s: the export is %lld bytes, not a multiple of %u: "
			"not a snapshot image", uri, (long long)size, KVMUF_SNAP_PAGE);
		return -EINVAL;
	}
	return 0;
}

static int read_header(struct nbd_conn *c, struct kvmuf_source *s, const char *uri,
		       char *err, size_t errlen)
{
	char msg[160];
	void *page = malloc(KVMUF_SNAP_HEADER_SIZE);
	int ret;

	if (!page)
		return -ENOMEM;
	atomic_fetch_add(&s->requests, 1);
	if (nbd_pread(c->h, page, KVMUF_SNAP_HEADER_SIZE, 0, 0) < 0) {
		ret = -nbd_errno();
		set_err(err, errlen, "%s: reading the header: %s", uri, nbd_get_error());
		free(page);
		return ret;
	}
	memcpy(&s->hdr, page, sizeof(s->hdr));
	free(page);
	ret = kvmuf_snap_check_header(&s->hdr, s->size, msg, sizeof(msg));
	if (ret < 0)
		set_err(err, errlen, "%s: %s", uri, msg);
	return ret;
}

int source_nbd_open(struct kvmuf_source *s, const char *uri, char *err, size_t errlen)
{
	struct nbd_src *n;
	uint64_t max_request = MAX_REQUEST;
	int ret = 0;

	n = calloc(1, sizeof(*n) + s->nconn * sizeof(n->conn[0]));
	if (!n)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->nconn; i++) {
		int64_t size;

		pthread_mutex_init(&n->conn[i].lock, NULL);
		n->nconn = i + 1;
		ret = conn_open(&n->conn[i], i, uri, &size, &max_request, err, errlen);
		if (ret < 0)
			break;
		if (i == 0) {
			ret = check_size(size, uri, err, errlen);
			if (ret < 0)
				break;
			s->size = (uint64_t)size;
		} else if ((uint64_t)size != s->size) {
			set_err(err, errlen, "%s: connection %u sees %lld bytes, connection 0 "
				"%llu", uri, i, (long long)size, (unsigned long long)s->size);
			ret = -EIO;
			break;
		}
	}
	n->max_request = max_request;
	if (ret == 0)
		ret = read_header(&n->conn[0], s, uri, err, errlen);
	s->priv = n;
	if (ret < 0) {
		nbd_src_close(s);
		s->priv = NULL;
	}
	return ret;
}
