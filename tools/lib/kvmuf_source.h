/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: page sources. One interface in front of the places a snapshot image (the
 * format of kvmuf_snapshot.h: a 4 KiB header page, then the data pages) can live:
 *
 *   "PATH" or "file:PATH"               a snapshot file, mapped read-only; a memfd
 *                                       holding one by its /proc/self/fd/N path
 *   "nbd://HOST[:PORT][/EXPORT]"        an NBD export whose bytes are a snapshot image
 *   "nbd+unix:///EXPORT?socket=PATH"    (e.g. served by `nbdkit file snap.img`), opened
 *   "nbds://...", "nbd+vsock://..."     with libnbd's nbd_connect_uri(3); TLS only when
 *                                       the URI asks for it (nbds)
 *
 * A source has a fixed number of connections (NBD: one libnbd handle, i.e. one socket,
 * each; a file source ignores the number for I/O but checks conn against it, so callers
 * are written once). Reads name the connection they use. A connection carries one call
 * at a time: calls on the same connection from several threads are serialized by a
 * per-connection lock (correct, but they wait for each other), calls on different
 * connections run in parallel. kvmuf_source_fetch() picks a connection per thread.
 *
 * Errors: every int-returning function returns 0 or a negative errno, and a read either
 * delivers every byte asked for or fails: a short reply, a server error, a connection
 * lost while a read is in flight all return a negative errno (-EIO, -ENOTCONN, ...), and
 * a buffer whose read failed holds unspecified bytes. A connection that broke stays
 * broken (its reads return -ENOTCONN); other connections go on. No reconnection. A
 * server that stops answering without closing the connection blocks a read until the
 * source's timeout (kvmuf_source_set_timeout), if one is set.
 *
 * Programs that link libkvmuf.a statically pull in libnbd only if they use this layer.
 */
#ifndef KVMUF_SOURCE_H
#define KVMUF_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "kvmuf.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most connections a source may have. */
#define KVMUF_SOURCE_MAX_CONNECTIONS	256u

struct kvmuf_source;

/*
 * Open the source @spec (see above) with @connections connections (1 ..
 * KVMUF_SOURCE_MAX_CONNECTIONS). The header page is read (NBD: from offset 0 of the
 * export over connection 0) and checked with kvmuf_snap_check_header() against the file or
 * export size. An NBD export is refused when it is smaller than a header page, its size
 * is not a multiple of 4 KiB, the server's block size constraints do not allow 4 KiB
 * reads at 4 KiB offsets, or another connection sees another size.
 * 0 and *@out, or a negative errno with one line saying why in err[errlen]:
 * -EINVAL (bad spec or not a snapshot), -ENOTSUP (no URI support in libnbd), or the
 * errno of the failed open / connect (-ENOENT, -ECONNREFUSED, ...).
 */
KVMUF_PUBLIC int kvmuf_source_open(const char *spec, unsigned int connections,
				   struct kvmuf_source **out, char *err, size_t errlen);

/* The snapshot's header (checked), valid until kvmuf_source_close(). */
KVMUF_PUBLIC const struct kvmuf_snap_header *kvmuf_source_header(const struct kvmuf_source *s);

/*
 * The snapshot's data page 0 in memory for a file source (page aligned, read-only,
 * header->npages pages: what kvmuf_server_config.snap_data takes), NULL for NBD.
 */
KVMUF_PUBLIC const void *kvmuf_source_data(const struct kvmuf_source *s);

/* "file" or "nbd". */
KVMUF_PUBLIC const char *kvmuf_source_kind(const struct kvmuf_source *s);

/* The number of connections the source was opened with. */
KVMUF_PUBLIC unsigned int kvmuf_source_connections(const struct kvmuf_source *s);

/*
 * Bound every later read call: when its requests are not all answered within @ms
 * milliseconds, the connection is closed (the requests dropped, so no buffer is written
 * after the call returns), the unfinished runs fail with -ETIMEDOUT and the connection
 * is broken from then on. 0 (the default) waits as long as the server takes. Opening
 * (connect, header read) is not bounded by it. A file source ignores it. Returns 0.
 */
KVMUF_PUBLIC int kvmuf_source_set_timeout(struct kvmuf_source *s, unsigned int ms);

/*
 * Read @npages (>= 1) pages, guest frames @gfn .. @gfn + npages - 1, into @buf
 * (npages * 4 KiB, any alignment) over connection @conn. 0 once every byte is in @buf;
 * -ERANGE when a frame is outside the snapshot, -EINVAL for a bad @conn or npages 0
 * (nothing read), or the error of the read (buf then holds unspecified bytes).
 * Large reads are split into several NBD requests, all in flight together.
 */
KVMUF_PUBLIC int kvmuf_source_read(struct kvmuf_source *s, unsigned int conn, uint64_t gfn,
				   uint64_t npages, void *buf);

/* One run of kvmuf_source_read_runs(): in gfn, npages, buf; out error. */
struct kvmuf_source_run {
	uint64_t gfn;		/* first guest frame */
	uint64_t npages;	/* >= 1 */
	void *buf;		/* npages * 4 KiB */
	int error;		/* 0: buf holds every byte; else a negative errno */
};

/*
 * Read @nr runs over connection @conn, all in flight together (NBD: one nbd_aio_pread
 * per run, or per piece of a large run, then nbd_poll until every one completed). Every
 * run gets its own error: 0 when its buf holds all its bytes, else a negative errno
 * (-ECANCELED for runs not sent because an earlier one could not be). Returns 0 when
 * every run succeeded, else the error of the first failed run in array order.
 * The runs are checked first: a run outside the snapshot (-ERANGE) or with npages 0
 * (-EINVAL), or a bad @conn (-EINVAL), fails the call before anything is read (that run
 * gets the error, the others -ECANCELED). nr == 0 returns 0.
 */
KVMUF_PUBLIC int kvmuf_source_read_runs(struct kvmuf_source *s, unsigned int conn,
					struct kvmuf_source_run *runs, size_t nr);

/*
 * A fetch() callback for struct kvmuf_server_config (fetch_opaque = the source): reads
 * the 4 KiB page of @gfn into @page. The connection is chosen per calling thread: the
 * first call from a thread takes the next connection round robin (thread k of a source
 * gets connection k % connections) and the thread keeps it, so with as many engine
 * workers as connections every worker has a connection of its own. More threads than
 * connections share (serialized by the connection's lock). A thread that alternates
 * between several sources is given a new connection at each change (still correct).
 */
KVMUF_PUBLIC int kvmuf_source_fetch(void *opaque, uint64_t gfn, void *page);

/*
 * Serve from @s with the page engine (kvmuf_server_start_plan()): a file source's pages
 * are installed straight from its mapping (cfg->snap_data), an NBD source's are read
 * through the plan (read_runs, read_opaque, connections), many in flight at once. The
 * other fields of @cfg and @plan are the caller's.
 */
KVMUF_PUBLIC void kvmuf_source_serve(struct kvmuf_source *s, struct kvmuf_server_config *cfg,
				     struct kvmuf_serve_plan *plan);

/* Counters since open, all connections together. */
struct kvmuf_source_stats {
	uint64_t reads;		/* calls: read, read_runs and fetch, failed ones included */
	uint64_t runs;		/* runs read successfully (read and fetch: one each) */
	uint64_t pages;		/* pages delivered by those runs */
	uint64_t bytes;		/* bytes delivered by those runs */
	uint64_t requests;	/* NBD read requests sent (0 for a file source) */
	uint64_t errors;	/* calls that failed */
	uint64_t read_ns;	/* time in calls, summed (divide by reads) */
	uint64_t max_read_ns;	/* the longest call */
	unsigned int connections;	/* as opened */
	unsigned int broken;		/* connections lost (NBD) */
};

/* Fill @st; may be called while other threads read. */
KVMUF_PUBLIC void kvmuf_source_stats(const struct kvmuf_source *s,
				     struct kvmuf_source_stats *st);

/*
 * Disconnect (NBD) or unmap (file) and free. No call on @s may be running or follow;
 * kvmuf_source_data() pointers become invalid. NULL is ok.
 */
KVMUF_PUBLIC void kvmuf_source_close(struct kvmuf_source *s);

#ifdef __cplusplus
}
#endif

#endif /* KVMUF_SOURCE_H */
