/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * snapshot - the memory snapshot image served by kvmuf-daemon, written by
 * kvmuf-mksnap, and checked by kvmuf-vmm -S.
 *
 * File layout: one 4 KiB header page (struct kvmuf_snap_header, the rest
 * zero), then npages data pages; data page i is guest frame base_gfn + i.
 * Data starts page aligned, so a read-only mmap of the file gives page
 * aligned sources for KVMUF_RESOLVE_COPY.
 *
 * Page contents (kvmuf_snap_fill_page): with gpa = gfn << 12, the u64 at
 * byte offset 0 is gpa ^ seed (what kvmuf-vmm's guest "verify" mode checks),
 * the u64 at byte offset off (8..4088) is mix(gpa + off) ^ seed with a
 * bijective mix: every (gpa, off) pair gives a different value, so a page
 * served at the wrong GFN, a zero page, or a page where only the first word
 * is right all fail a full-page compare.  Words are host (little) endian,
 * the guest's byte order.
 */
#ifndef KVMUF_SNAPSHOT_H
#define KVMUF_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "kvmuf.h"

#define KVMUF_SNAP_PAGE_SHIFT	12
#define KVMUF_SNAP_PAGE		4096u
#define KVMUF_SNAP_MAGIC	"KVMUFSNP"	/* 8 bytes, no NUL */
#define KVMUF_SNAP_VERSION	1
#define KVMUF_SNAP_HEADER_SIZE	4096u		/* data starts here */

struct kvmuf_snap_header {
	char magic[8];		/* KVMUF_SNAP_MAGIC */
	uint32_t version;	/* KVMUF_SNAP_VERSION */
	uint32_t page_size;	/* 4096 */
	uint64_t base_gfn;	/* GFN of data page 0 */
	uint64_t npages;	/* data pages */
	uint64_t seed;		/* pattern seed */
	uint64_t reserved[3];	/* zero */
};

/* An open snapshot: the file mapped read-only. */
struct kvmuf_snap {
	struct kvmuf_snap_header hdr;
	const unsigned char *data;	/* data page 0, page aligned */
	void *map;			/* whole file mapping */
	size_t map_size;
};

/* The u64 at byte offset @off (multiple of 8, < 4096) of the page at @gpa. */
static inline uint64_t kvmuf_snap_word(uint64_t gpa, unsigned int off,
				       uint64_t seed)
{
	uint64_t x;

	if (off == 0)
		return gpa ^ seed;
	/* gpa is 4 KiB aligned and off < 4096: gpa + off is unique. */
	x = (gpa + off) * 0x9e3779b97f4a7c15ULL;	/* odd: bijective */
	x ^= x >> 31;					/* bijective */
	return x ^ seed;
}

/* Write the pattern page of @gfn into @page (4 KiB, 8-byte aligned). */
KVMUF_PUBLIC void kvmuf_snap_fill_page(void *page, uint64_t gfn, uint64_t seed);

/*
 * Full-page check of @page against the pattern of @gfn: -1 if it matches,
 * else the byte offset of the first differing u64.
 */
KVMUF_PUBLIC long kvmuf_snap_check_page(const void *page, uint64_t gfn, uint64_t seed);

/*
 * Describe what a page that failed the check holds, for diagnostics:
 * "zero page", "the page of gfn 0x...", or "corrupt page".  Returns @buf.
 */
KVMUF_PUBLIC const char *kvmuf_snap_describe(const void *page, uint64_t seed, char *buf,
				size_t len);

/*
 * Index of @gfn in [base_gfn, base_gfn + npages): 0 and *@index, or
 * -ERANGE when outside (no overflow for any input).
 */
KVMUF_PUBLIC int kvmuf_snap_index(uint64_t base_gfn, uint64_t npages, uint64_t gfn,
		     uint64_t *index);

/* Check a header read from a file of @file_size bytes; 0 or -EINVAL. */
KVMUF_PUBLIC int kvmuf_snap_check_header(const struct kvmuf_snap_header *h,
			    uint64_t file_size, char *err, size_t errlen);

/*
 * Create @path (truncating it) holding the snapshot of @npages pages from
 * @base_gfn with @seed.  0 or negative errno; *@err gets a message.
 */
KVMUF_PUBLIC int kvmuf_snap_write(const char *path, uint64_t base_gfn, uint64_t npages,
		     uint64_t seed, char *err, size_t errlen);

/* Open and mmap @path read-only, checking its header.  0 or negative errno. */
KVMUF_PUBLIC int kvmuf_snap_open(const char *path, struct kvmuf_snap *s, char *err,
		    size_t errlen);
KVMUF_PUBLIC void kvmuf_snap_close(struct kvmuf_snap *s);

/* Data page of @gfn, or NULL when the snapshot does not hold it. */
KVMUF_PUBLIC const void *kvmuf_snap_page(const struct kvmuf_snap *s, uint64_t gfn);

/*
 * Compare @npages pages of guest memory at @mem (GFNs from @base_gfn) with the snapshot,
 * byte for byte. Returns how many differ or are not in the snapshot; the first is
 * described in err[len] (GFN, byte offset, what the page holds).
 */
KVMUF_PUBLIC uint64_t kvmuf_snap_compare(const struct kvmuf_snap *s, uint64_t base_gfn,
					 const void *mem, uint64_t npages, char *err,
					 size_t len);

#endif /* KVMUF_SNAPSHOT_H */
