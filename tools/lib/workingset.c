// SPDX-License-Identifier: LGPL-2.1-or-later
/* libkvmuf: working-set files, see kvmuf_workingset.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kvmuf_workingset.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"

KVMUF_PUBLIC int kvmuf_ws_save(const char *path, const struct kvmuf_ws_entry *e, size_t n,
			       char *err, size_t errlen)
{
	char *tmp = NULL;
	FILE *f;
	int ret = 0;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return -ENOMEM;
	f = fopen(tmp, "we");
	if (!f) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", tmp, strerror(-ret));
		free(tmp);
		return ret;
	}
	fprintf(f, "%s %d\n# %zu pages in the order of their first fault: GFN, then microseconds since the first fault\n",
		KVMUF_WS_MAGIC, KVMUF_WS_VERSION, n);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "0x%" PRIx64 " %" PRIu64 "\n", e[i].gfn, e[i].time_ns / 1000);
	if (fflush(f) != 0 || ferror(f))
		ret = -EIO;
	/* On disk before it replaces the old set: a crash leaves one or the other. */
	if (!ret && fsync(fileno(f)) < 0)
		ret = -errno;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		set_err(err, errlen, "writing %s: %s", path, strerror(-ret));
		unlink(tmp);
	}
	free(tmp);
	return ret;
}

static int by_gfn(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A GFN listed twice: 0 if none, else -EINVAL with the GFN named. */
static int check_unique(const struct kvmuf_ws_entry *e, size_t n, const char *path,
			char *err, size_t errlen)
{
	uint64_t *g = malloc((n ? n : 1) * sizeof(*g));
	int ret = 0;

	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		g[i] = e[i].gfn;
	qsort(g, n, sizeof(*g), by_gfn);
	for (size_t i = 1; i < n && !ret; i++) {
		if (g[i] == g[i - 1]) {
			set_err(err, errlen, "%s: gfn 0x%" PRIx64 " is listed twice", path, g[i]);
			ret = -EINVAL;
		}
	}
	free(g);
	return ret;
}

KVMUF_PUBLIC int kvmuf_ws_load(const char *path, struct kvmuf_ws_entry **out, size_t *n,
			       char *err, size_t errlen)
{
	struct kvmuf_ws_entry *e = NULL;
	size_t cnt = 0, cap = 0, len = 0;
	char *line = NULL, magic[32];
	unsigned long lineno = 0;
	int version, ret = 0;
	FILE *f;

	*out = NULL;
	*n = 0;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	while (getline(&line, &len, f) >= 0) {
		unsigned long long gfn, us;
		char *end;

		lineno++;
		if (lineno == 1) {
			char extra;

			if (sscanf(line, "%31s %d %c", magic, &version, &extra) != 2 ||
			    strcmp(magic, KVMUF_WS_MAGIC) || version != KVMUF_WS_VERSION) {
				set_err(err, errlen, "%s: not a working set (first line must be \"%s %d\")",
					path, KVMUF_WS_MAGIC, KVMUF_WS_VERSION);
				ret = -EINVAL;
				break;
			}
			continue;
		}
		if (line[strspn(line, " \t\r\n")] == '\0' || line[strspn(line, " \t")] == '#')
			continue;
		/* strtoull, not sscanf: an out-of-range number is an error, not clamped. */
		errno = 0;
		end = line + strspn(line, " \t");
		if (strncmp(end, "0x", 2) || !isxdigit((unsigned char)end[2]))
			goto bad_line;
		gfn = strtoull(end + 2, &end, 16);
		if (errno || (*end != ' ' && *end != '\t') || !isdigit((unsigned char)end[strspn(end, " \t")]))
			goto bad_line;
		us = strtoull(end, &end, 10);
		if (errno || end[strspn(end, " \t\r\n")] != '\0' || us > UINT64_MAX / 1000) {
bad_line:
			set_err(err, errlen, "%s:%lu: want \"0xGFN MICROSECONDS\"", path, lineno);
			ret = -EINVAL;
			break;
		}
		if (cnt && us * 1000 < e[cnt - 1].time_ns) {
			set_err(err, errlen, "%s:%lu: the time goes back", path, lineno);
			ret = -EINVAL;
			break;
		}
		if (cnt == KVMUF_WS_MAX_ENTRIES) {
			set_err(err, errlen, "%s: more than %u pages", path, KVMUF_WS_MAX_ENTRIES);
			ret = -E2BIG;
			break;
		}
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct kvmuf_ws_entry *ne = ncap <= SIZE_MAX / sizeof(*ne) ?
						    realloc(e, ncap * sizeof(*ne)) : NULL;

			if (!ne) {
				ret = -ENOMEM;
				set_err(err, errlen, "%s: out of memory", path);
				break;
			}
			e = ne;
			cap = ncap;
		}
		e[cnt++] = (struct kvmuf_ws_entry) { .gfn = gfn, .time_ns = us * 1000 };
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		set_err(err, errlen, "%s: read error", path);
	}
	if (!ret && lineno == 0) {
		ret = -EINVAL;
		set_err(err, errlen, "%s: empty file, not a working set", path);
	}
	fclose(f);
	free(line);
	if (!ret)
		ret = check_unique(e, cnt, path, err, errlen);
	if (ret) {
		free(e);
		return ret;
	}
	*out = e;
	*n = cnt;
	return 0;
}
