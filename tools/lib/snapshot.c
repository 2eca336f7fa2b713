// SPDX-License-Identifier: LGPL-2.1-or-later
/* libkvmuf: the snapshot image and its test pattern, see kvmuf_snapshot.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kvmuf_snapshot.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WORDS_PER_PAGE	(KVMUF_SNAP_PAGE / 8)
#define WRITE_CHUNK	256		/* pages per write() */

void kvmuf_snap_fill_page(void *page, uint64_t gfn, uint64_t seed)
{
	uint64_t *w = page, gpa = gfn << KVMUF_SNAP_PAGE_SHIFT;

	for (unsigned int i = 0; i < WORDS_PER_PAGE; i++)
		w[i] = kvmuf_snap_word(gpa, i * 8, seed);
}

long kvmuf_snap_check_page(const void *page, uint64_t gfn, uint64_t seed)
{
	const unsigned char *p = page;
	uint64_t gpa = gfn << KVMUF_SNAP_PAGE_SHIFT, v;

	for (unsigned int i = 0; i < WORDS_PER_PAGE; i++) {
		memcpy(&v, p + i * 8, sizeof(v));
		if (v != kvmuf_snap_word(gpa, i * 8, seed))
			return (long)i * 8;
	}
	return -1;
}

const char *kvmuf_snap_describe(const void *page, uint64_t seed, char *buf,
				size_t len)
{
	const unsigned char *p = page;
	uint64_t first, gfn;
	int zero = 1;

	for (unsigned int i = 0; i < KVMUF_SNAP_PAGE && zero; i++)
		zero = p[i] == 0;
	if (zero) {
		snprintf(buf, len, "zero page");
		return buf;
	}
	memcpy(&first, p, sizeof(first));
	gfn = (first ^ seed) >> KVMUF_SNAP_PAGE_SHIFT;
	if (((first ^ seed) & (KVMUF_SNAP_PAGE - 1)) == 0 &&
	    kvmuf_snap_check_page(page, gfn, seed) < 0)
		snprintf(buf, len, "the page of gfn 0x%llx", (unsigned long long)gfn);
	else
		snprintf(buf, len, "corrupt page (first u64 0x%llx)",
			 (unsigned long long)first);
	return buf;
}

int kvmuf_snap_index(uint64_t base_gfn, uint64_t npages, uint64_t gfn,
		     uint64_t *index)
{
	if (gfn < base_gfn || gfn - base_gfn >= npages)
		return -ERANGE;
	*index = gfn - base_gfn;
	return 0;
}

int kvmuf_snap_check_header(const struct kvmuf_snap_header *h,
			    uint64_t file_size, char *err, size_t errlen)
{
	uint64_t max_gfn = UINT64_MAX >> KVMUF_SNAP_PAGE_SHIFT;

	if (memcmp(h->magic, KVMUF_SNAP_MAGIC, sizeof(h->magic))) {
		set_err(err, errlen, "not a kvmuf snapshot (bad magic)");
		return -EINVAL;
	}
	if (h->version != KVMUF_SNAP_VERSION) {
		set_err(err, errlen, "snapshot version %u, expected %u",
			h->version, KVMUF_SNAP_VERSION);
		return -EINVAL;
	}
	if (h->page_size != KVMUF_SNAP_PAGE) {
		set_err(err, errlen, "snapshot page size %u, expected %u",
			h->page_size, KVMUF_SNAP_PAGE);
		return -EINVAL;
	}
	if (h->npages == 0 || h->base_gfn > max_gfn ||
	    h->npages > max_gfn - h->base_gfn + 1) {
		set_err(err, errlen, "bad snapshot geometry: base gfn 0x%llx, %llu pages",
			(unsigned long long)h->base_gfn,
			(unsigned long long)h->npages);
		return -EINVAL;
	}
	if (file_size < KVMUF_SNAP_HEADER_SIZE ||
	    (file_size - KVMUF_SNAP_HEADER_SIZE) / KVMUF_SNAP_PAGE < h->npages) {
		set_err(err, errlen, "snapshot truncated: %llu bytes for %llu pages",
			(unsigned long long)file_size,
			(unsigned long long)h->npages);
		return -EINVAL;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kvmuf_snap_write(const char *path, uint64_t base_gfn, uint64_t npages,
		     uint64_t seed, char *err, size_t errlen)
{
	struct kvmuf_snap_header h = {
		.version = KVMUF_SNAP_VERSION,
		.page_size = KVMUF_SNAP_PAGE,
		.base_gfn = base_gfn,
		.npages = npages,
		.seed = seed,
	};
	unsigned char *buf;
	int fd, ret;

	memcpy(h.magic, KVMUF_SNAP_MAGIC, sizeof(h.magic));
	/* Validate the geometry with the reader's own check. */
	if (kvmuf_snap_check_header(&h, UINT64_MAX, err, errlen) < 0)
		return -EINVAL;

	buf = aligned_alloc(KVMUF_SNAP_PAGE, (size_t)WRITE_CHUNK * KVMUF_SNAP_PAGE);
	if (!buf) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-ret));
		free(buf);
		return ret;
	}

	memset(buf, 0, KVMUF_SNAP_HEADER_SIZE);
	memcpy(buf, &h, sizeof(h));
	ret = write_all(fd, buf, KVMUF_SNAP_HEADER_SIZE);
	for (uint64_t i = 0; ret == 0 && i < npages; i += WRITE_CHUNK) {
		uint64_t n = npages - i < WRITE_CHUNK ? npages - i : WRITE_CHUNK;

		for (uint64_t j = 0; j < n; j++)
			kvmuf_snap_fill_page(buf + j * KVMUF_SNAP_PAGE,
					     base_gfn + i + j, seed);
		ret = write_all(fd, buf, n * KVMUF_SNAP_PAGE);
	}
	if (ret == 0 && close(fd) < 0)
		ret = -errno;
	else if (ret < 0)
		close(fd);
	if (ret < 0)
		set_err(err, errlen, "%s: write: %s", path, strerror(-ret));
	free(buf);
	return ret;
}

int kvmuf_snap_open(const char *path, struct kvmuf_snap *s, char *err,
		    size_t errlen)
{
	struct stat st;
	void *map;
	int fd, ret;

	memset(s, 0, sizeof(*s));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		set_err(err, errlen, "%s: fstat: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)KVMUF_SNAP_HEADER_SIZE) {
		set_err(err, errlen, "%s: not a snapshot (too small or not a file)", path);
		close(fd);
		return -EINVAL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	ret = map == MAP_FAILED ? -errno : 0;
	close(fd);		/* the mapping keeps the file */
	if (ret < 0) {
		set_err(err, errlen, "%s: mmap: %s", path, strerror(-ret));
		return ret;
	}
	memcpy(&s->hdr, map, sizeof(s->hdr));
	ret = kvmuf_snap_check_header(&s->hdr, (uint64_t)st.st_size, err, errlen);
	if (ret < 0) {
		munmap(map, (size_t)st.st_size);
		return ret;
	}
	s->map = map;
	s->map_size = (size_t)st.st_size;
	s->data = (const unsigned char *)map + KVMUF_SNAP_HEADER_SIZE;
	return 0;
}

void kvmuf_snap_close(struct kvmuf_snap *s)
{
	if (s->map)
		munmap(s->map, s->map_size);
	memset(s, 0, sizeof(*s));
}

const void *kvmuf_snap_page(const struct kvmuf_snap *s, uint64_t gfn)
{
	uint64_t i;

	if (kvmuf_snap_index(s->hdr.base_gfn, s->hdr.npages, gfn, &i) < 0)
		return NULL;
	return s->data + i * KVMUF_SNAP_PAGE;
}

uint64_t kvmuf_snap_compare(const struct kvmuf_snap *s, uint64_t base_gfn, const void *mem,
			    uint64_t npages, char *err, size_t len)
{
	uint64_t bad = 0;

	set_err(err, len, "no difference");
	for (uint64_t i = 0; i < npages; i++) {
		const unsigned char *page = (const unsigned char *)mem + i * KVMUF_SNAP_PAGE;
		const unsigned char *want = kvmuf_snap_page(s, base_gfn + i);
		char what[96];
		size_t off = 0;

		if (want && !memcmp(page, want, KVMUF_SNAP_PAGE))
			continue;
		if (bad++)
			continue;
		if (!want) {
			set_err(err, len, "gfn 0x%llx is not in the snapshot",
				(unsigned long long)(base_gfn + i));
			continue;
		}
		while (off < KVMUF_SNAP_PAGE && page[off] == want[off])
			off++;
		set_err(err, len, "gfn 0x%llx differs from the snapshot at byte %zu: it holds %s",
			(unsigned long long)(base_gfn + i), off,
			kvmuf_snap_describe(page, s->hdr.seed, what, sizeof(what)));
	}
	return bad;
}
