/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: working-set files. A restore records the pages its vCPUs faulted, in the
 * order of their first fault (kvmuf_serve_plan.record, kvmuf_server_working_set()); a
 * later restore of the same image prefetches them first (kvmuf_serve_plan.replay).
 *
 * The file is text, one page per line, so that any tool can write or read one:
 *
 *   kvmuf-working-set 1                      the first line: format and version
 *   # anything                               comments and blank lines are ignored
 *   0x100000 0                               GFN (hex, 0x prefix) and the time of its
 *   0x100001 1520                            first fault in microseconds since the
 *   ...                                      set's first fault (decimal), in that order
 *
 * A GFN appears once; times never decrease. A reader takes at most
 * KVMUF_WS_MAX_ENTRIES lines of pages.
 */
#ifndef KVMUF_WORKINGSET_H
#define KVMUF_WORKINGSET_H

#include <stddef.h>
#include <stdint.h>

#include "kvmuf_server.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVMUF_WS_MAGIC		"kvmuf-working-set"
#define KVMUF_WS_VERSION	1
#define KVMUF_WS_MAX_ENTRIES	(1u << 28)	/* 1 TiB of 4 KiB pages */

/*
 * Write @n entries (time_ns since the first fault) to @path: to a temporary file next to
 * it, renamed over @path once complete. 0, or a negative errno with a reason in @err.
 */
KVMUF_PUBLIC int kvmuf_ws_save(const char *path, const struct kvmuf_ws_entry *e, size_t n,
			       char *err, size_t errlen);

/*
 * Read @path. *@out is malloc()ed (free() it), *@n entries, time_ns in ns. 0, or a
 * negative errno with a reason in @err: -EINVAL for a malformed file (the line named),
 * a GFN twice or times going back, -E2BIG past KVMUF_WS_MAX_ENTRIES.
 */
KVMUF_PUBLIC int kvmuf_ws_load(const char *path, struct kvmuf_ws_entry **out, size_t *n,
			       char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* KVMUF_WORKINGSET_H */
