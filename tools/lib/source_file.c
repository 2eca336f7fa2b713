// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkvmuf: the file page source, a snapshot file mapped read-only (kvmuf_snap_open).
 * Reads are memcpy from the mapping: connections mean nothing here and need no lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "source_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int file_read_runs(struct kvmuf_source *s, unsigned int conn,
			  struct kvmuf_source_run *runs, const uint64_t *off, size_t nr)
{
	const struct kvmuf_snap *snap = s->priv;
	const unsigned char *map = snap->map;

	(void)conn;
	for (size_t i = 0; i < nr; i++) {
		memcpy(runs[i].buf, map + off[i], runs[i].npages * KVMUF_SNAP_PAGE);
		runs[i].error = 0;
	}
	return 0;
}

static void file_close(struct kvmuf_source *s)
{
	struct kvmuf_snap *snap = s->priv;

	kvmuf_snap_close(snap);
	free(snap);
}

const struct source_ops source_file_ops = {
	.kind = "file",
	.read_runs = file_read_runs,
	.close = file_close,
};

int source_file_open(struct kvmuf_source *s, const char *path, char *err, size_t errlen)
{
	struct kvmuf_snap *snap = calloc(1, sizeof(*snap));
	int ret;

	if (!snap)
		return -ENOMEM;
	ret = kvmuf_snap_open(path, snap, err, errlen);
	if (ret < 0) {
		free(snap);
		return ret;
	}
	s->hdr = snap->hdr;
	s->size = snap->map_size;
	s->priv = snap;
	return 0;
}
