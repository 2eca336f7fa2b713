// SPDX-License-Identifier: GPL-2.0
/*
 * test_daemon - host tests of kvmuf-daemon's parts, no /dev/kvm-userfault
 * needed:
 *   - the snapshot pattern catches a zero page, a page of another GFN, a
 *     page whose first word only is right, one flipped byte, another seed;
 *   - snapshot files: write, open, offsets, truncated / bad headers;
 *   - the offset math and out-of-range detection (pure functions);
 *   - the handoff protocol over a socketpair: fds arrive and refer to the
 *     same files, every malformed handoff is refused, the ack round trip;
 *   - the page server against fake rings (the real libkvmuf consumer on
 *     plain memory) with fake resolve ioctls that check every source page:
 *     ring ownership (one consumer thread per ring, r % THREADS), batching,
 *     merging, ring wrap-around, memfd copies, duplicates, out-of-range,
 *     resolve errors, detach;
 *   - with the path of kvmuf-daemon as argument: the binary refuses bad
 *     handoffs with an ack, and exits promptly on SIGTERM or --accept-timeout.
 *
 * usage: test_daemon [KVMUF_DAEMON]      exit status 0 all passed, 1 not
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvmuf.h"
#include "kvmuf_handoff.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"
#include "check.h"
#include "fake_dev.h"


static char tmpdir[] = "/tmp/test_daemon.XXXXXX";


/* ---- snapshot pattern ---- */

static void test_pattern(void)
{
	unsigned char *p = xalloc_pages(3), *q = p + PAGE, *r = p + 2 * PAGE;
	uint64_t gfn = BASE + 7, w;
	char what[96];

	kvmuf_snap_fill_page(p, gfn, SEED);
	CHECK(kvmuf_snap_check_page(p, gfn, SEED) == -1, "a fresh page passes");
	memcpy(&w, p, 8);
	CHECK(w == ((gfn << 12) ^ SEED), "first word is gpa ^ seed (0x%llx)",
	      (unsigned long long)w);

	/* A zero page. */
	memset(q, 0, PAGE);
	CHECK(kvmuf_snap_check_page(q, gfn, SEED) == 0, "zero page caught at byte 0");
	CHECK(!strcmp(kvmuf_snap_describe(q, SEED, what, sizeof(what)), "zero page"),
	      "described as '%s'", what);

	/* Only the first word right (a guest write onto a zero page). */
	memcpy(q, &w, 8);
	CHECK(kvmuf_snap_check_page(q, gfn, SEED) == 8,
	      "first-word-only page caught at byte 8");

	/* The page of the neighbouring GFN, and of a far one. */
	kvmuf_snap_fill_page(q, gfn + 1, SEED);
	CHECK(kvmuf_snap_check_page(q, gfn, SEED) == 0, "page of gfn+1 caught");
	kvmuf_snap_describe(q, SEED, what, sizeof(what));
	CHECK(!strcmp(what, "the page of gfn 0x100008"), "described as '%s'", what);
	kvmuf_snap_fill_page(q, gfn + (1ULL << 30), SEED);
	CHECK(kvmuf_snap_check_page(q, gfn, SEED) == 0, "page of a far gfn caught");

	/* Another seed. */
	kvmuf_snap_fill_page(q, gfn, SEED ^ 1);
	CHECK(kvmuf_snap_check_page(q, gfn, SEED) == 0, "other seed caught");

	/* One flipped byte anywhere, e.g. the last one. */
	memcpy(q, p, PAGE);
	q[PAGE - 1] ^= 0x10;
	CHECK(kvmuf_snap_check_page(q, gfn, SEED) == PAGE - 8,
	      "last byte flip caught at %ld", kvmuf_snap_check_page(q, gfn, SEED));
	CHECK(!strncmp(kvmuf_snap_describe(q, SEED, what, sizeof(what)), "corrupt page", 12),
	      "described as '%s'", what);

	/*
	 * Words past the first differ from each other, across pages and from
	 * the neighbours' words at the same offset (no two pages share data).
	 */
	kvmuf_snap_fill_page(q, gfn + 1, SEED);
	kvmuf_snap_fill_page(r, gfn - 1, SEED);
	{
		int same_off = 0;

		for (unsigned int off = 8; off < PAGE; off += 8)
			same_off += !memcmp(p + off, q + off, 8) ||
				    !memcmp(p + off, r + off, 8);
		CHECK(same_off == 0, "%d words equal to a neighbour's", same_off);
	}
	{
		uint64_t *words = (uint64_t *)p;
		int dups = 0;

		for (unsigned int i = 1; i < PAGE / 8; i++)
			for (unsigned int j = i + 1; j < PAGE / 8; j++)
				dups += words[i] == words[j];
		CHECK(dups == 0, "%d equal word pairs inside one page", dups);
	}
	free(p);
}

/* ---- snapshot files ---- */

static void path_in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void test_snapshot_file(void)
{
	struct kvmuf_snap s;
	char path[256], err[160];
	const unsigned char *pg;
	int ret, fd;

	path_in_tmp(path, sizeof(path), "snap");
	ret = kvmuf_snap_write(path, BASE + 16, 300, SEED, err, sizeof(err));
	CHECK(ret == 0, "write: %s", err);
	ret = kvmuf_snap_open(path, &s, err, sizeof(err));
	CHECK(ret == 0, "open: %s", err);
	if (ret)
		return;
	CHECK(s.hdr.base_gfn == BASE + 16 && s.hdr.npages == 300 && s.hdr.seed == SEED,
	      "header");
	CHECK(((uintptr_t)s.data & (PAGE - 1)) == 0, "data page aligned");
	CHECK(s.map_size == KVMUF_SNAP_HEADER_SIZE + 300 * PAGE, "file size %zu",
	      s.map_size);
	CHECK(kvmuf_snap_page(&s, BASE + 15) == NULL, "below the snapshot");
	CHECK(kvmuf_snap_page(&s, BASE + 316) == NULL, "past the snapshot");
	CHECK(kvmuf_snap_page(&s, UINT64_MAX) == NULL, "far past the snapshot");
	CHECK(kvmuf_snap_page(&s, BASE + 16) == s.data, "first page");
	pg = kvmuf_snap_page(&s, BASE + 315);
	CHECK(pg == s.data + 299 * PAGE, "last page");
	for (uint64_t i = 0; i < 300; i++) {
		pg = kvmuf_snap_page(&s, BASE + 16 + i);
		if (kvmuf_snap_check_page(pg, BASE + 16 + i, SEED) >= 0) {
			CHECK(0, "page %llu of the file is wrong", (unsigned long long)i);
			break;
		}
	}
	kvmuf_snap_close(&s);

	/* Truncated: one page short. */
	CHECK(truncate(path, KVMUF_SNAP_HEADER_SIZE + 299 * PAGE) == 0, "truncate");
	ret = kvmuf_snap_open(path, &s, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "truncated"), "truncated file: %d %s", ret, err);

	/* Bad magic. */
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "X", 1, 0) == 1, "corrupt magic");
	close(fd);
	ret = kvmuf_snap_open(path, &s, err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "magic"), "bad magic: %d %s", ret, err);

	/* Not there; too small; zero pages; overflowing geometry. */
	path_in_tmp(path, sizeof(path), "nonexistent");
	CHECK(kvmuf_snap_open(path, &s, err, sizeof(err)) == -ENOENT, "missing file");
	CHECK(kvmuf_snap_write(path, BASE, 0, SEED, err, sizeof(err)) == -EINVAL,
	      "0 pages refused");
	CHECK(kvmuf_snap_write(path, UINT64_MAX >> 12, 2, SEED, err, sizeof(err)) == -EINVAL,
	      "gfn overflow refused");
	path_in_tmp(path, sizeof(path), "small");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "KVMUFSNP", 8) == 8, "small file");
	close(fd);
	CHECK(kvmuf_snap_open(path, &s, err, sizeof(err)) == -EINVAL, "tiny file refused");
}

/* ---- offset math and out-of-range (pure) ---- */

static void test_locate(void)
{
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE + 10, .snap_npages = 100,
		.mem_base_gfn = BASE, .mem_npages = 64,
	};
	uint64_t s, m, idx;

	CHECK(kvmuf_serve_locate(&g, BASE + 10, &s, &m) == 0 && s == 0 && m == 10 * PAGE,
	      "first snapshot page");
	CHECK(kvmuf_serve_locate(&g, BASE + 63, &s, &m) == 0 && s == 53 * PAGE &&
	      m == 63 * PAGE, "last memory page");
	CHECK(kvmuf_serve_locate(&g, BASE + 9, &s, &m) == -ERANGE, "in memory, not in snapshot");
	CHECK(kvmuf_serve_locate(&g, BASE + 64, &s, &m) == -ERANGE, "in snapshot, not in memory");
	CHECK(kvmuf_serve_locate(&g, BASE - 1, &s, &m) == -ERANGE, "below both");
	CHECK(kvmuf_serve_locate(&g, UINT64_MAX, &s, &m) == -ERANGE, "max gfn");
	CHECK(kvmuf_serve_locate(&g, 0, &s, &m) == -ERANGE, "gfn 0");

	g = (struct kvmuf_serve_geom) {
		.snap_base_gfn = UINT64_MAX - 5, .snap_npages = 6,
		.mem_base_gfn = UINT64_MAX - 5, .mem_npages = 6,
	};
	CHECK(kvmuf_serve_locate(&g, UINT64_MAX, &s, &m) == 0 && s == 5 * PAGE,
	      "top of the gfn space, no overflow");
	CHECK(kvmuf_snap_index(10, 5, 14, &idx) == 0 && idx == 4, "index");
	CHECK(kvmuf_snap_index(10, 5, 15, &idx) == -ERANGE, "index past");
	CHECK(kvmuf_snap_index(10, 5, 9, &idx) == -ERANGE, "index below");
	CHECK(kvmuf_snap_index(10, UINT64_MAX, 5, &idx) == -ERANGE, "huge range, below");

	for (unsigned int r = 0; r < 9; r++)
		CHECK(kvmuf_serve_ring_owner(r, 3) == r % 3, "ring owner");
}

/* ---- handoff ---- */

static struct kvmuf_handoff good_handoff(uint32_t flags)
{
	return (struct kvmuf_handoff) {
		.magic = KVMUF_HANDOFF_MAGIC,
		.version = KVMUF_HANDOFF_VERSION,
		.size = sizeof(struct kvmuf_handoff),
		.flags = flags,
		.base_gfn = BASE,
		.npages = 512,
		.seed = SEED,
		.nr_vcpus = 2,
	};
}

static void test_handoff_validate(void)
{
	struct kvmuf_handoff h = good_handoff(KVMUF_HANDOFF_MEMFD);
	char err[128];

#define BAD(field_change, nfds, want) do {				\
		struct kvmuf_handoff b = good_handoff(KVMUF_HANDOFF_MEMFD); \
		field_change;						\
		CHECK(kvmuf_handoff_validate(&b, sizeof(b), nfds, err, sizeof(err)) == want, \
		      "%s: want %d", #field_change, want);		\
	} while (0)

	CHECK(kvmuf_handoff_validate(&h, sizeof(h), 2, err, sizeof(err)) == 0,
	      "good memfd handoff: %s", err);
	h.flags = 0;
	CHECK(kvmuf_handoff_validate(&h, sizeof(h), 1, err, sizeof(err)) == 0,
	      "good anon handoff: %s", err);
	CHECK(kvmuf_handoff_validate(&h, sizeof(h) - 8, 1, err, sizeof(err)) == -EPROTO,
	      "short message");
	BAD(b.magic++, 2, -EPROTO);
	BAD(b.version++, 2, -EPROTO);
	BAD(b.size--, 2, -EPROTO);
	BAD(b.flags |= 1u << 7, 2, -EINVAL);
	BAD(b.reserved[2] = 1, 2, -EINVAL);
	BAD(b.uffd_hva = 0x10000, 2, -EINVAL);		/* an address, no uffd */
	BAD((b.flags |= KVMUF_HANDOFF_UFFD, b.uffd_hva = 0x10000), 2, -EPROTO); /* 2 of 3 fds */
	BAD(b.flags |= KVMUF_HANDOFF_UFFD, 3, -EINVAL);	/* a uffd, no address */
	BAD((b.flags |= KVMUF_HANDOFF_UFFD, b.uffd_hva = 0x10010), 3, -EINVAL);
	BAD((b.flags |= KVMUF_HANDOFF_UFFD, b.uffd_hva = UINT64_MAX & ~4095ULL), 3, -EINVAL);
	BAD((b.flags |= KVMUF_HANDOFF_UFFD, b.uffd_hva = 0x10000), 3, 0);
	BAD((void)0, 1, -EPROTO);			/* memfd flag, one fd */
	BAD(b.flags = 0, 2, -EPROTO);			/* no memfd flag, two fds */
	BAD((void)0, 0, -EPROTO);
	BAD(b.npages = 0, 2, -EINVAL);
	BAD(b.base_gfn = UINT64_MAX >> 12, 2, -EINVAL);	/* range overflows */
	BAD(b.base_gfn = UINT64_MAX, 2, -EINVAL);
	BAD(b.memfd_offset = 100, 2, -EINVAL);		/* not page aligned */
	BAD(b.memfd_offset = UINT64_MAX & ~4095ULL, 2, -EINVAL);
	BAD((b.flags = 0, b.memfd_offset = 4096), 1, -EINVAL);
#undef BAD
}

static int same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void test_handoff_socket(void)
{
	struct kvmuf_handoff h = good_handoff(KVMUF_HANDOFF_MEMFD | KVMUF_HANDOFF_SEED), got;
	struct kvmuf_handoff_ack ack;
	struct kvmuf_handoff_fds r;
	int sv[2], devfd, memfd, uffd, ret;
	char err[128];

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	devfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	memfd = memfd_create("test", MFD_CLOEXEC);
	uffd = eventfd(0, EFD_CLOEXEC);		/* any fd stands for the uffd here */
	CHECK(devfd >= 0 && memfd >= 0 && uffd >= 0, "fds");

	/* All three fds arrive, in their places, and are the same files. */
	h.flags |= KVMUF_HANDOFF_UFFD;
	h.uffd_hva = 0x7f0000000000ULL;
	ret = kvmuf_handoff_send(sv[0], &h, &(struct kvmuf_handoff_fds){ devfd, memfd, uffd });
	CHECK(ret == 0, "send: %s", kvmuf_strerror(ret));
	ret = kvmuf_handoff_recv(sv[1], &got, &r, err, sizeof(err));
	CHECK(ret == 0, "recv: %d %s", ret, err);
	if (ret == 0) {
		CHECK(!memcmp(&got, &h, sizeof(h)), "payload intact");
		CHECK(r.dev >= 0 && r.dev != devfd && same_file(r.dev, devfd), "device fd passed");
		CHECK(r.memfd >= 0 && r.memfd != memfd && same_file(r.memfd, memfd),
		      "memfd passed");
		CHECK(r.uffd >= 0 && r.uffd != uffd && same_file(r.uffd, uffd), "uffd passed");
		CHECK(fcntl(r.dev, F_GETFD) & FD_CLOEXEC, "received fd is close-on-exec");
		close(r.dev);
		close(r.memfd);
		close(r.uffd);
	}

	/* Anonymous memory with the backstop: device fd and uffd. */
	h.flags = KVMUF_HANDOFF_UFFD;
	ret = kvmuf_handoff_send(sv[0], &h, &(struct kvmuf_handoff_fds){ devfd, memfd, uffd });
	CHECK(ret == 0, "send anon+uffd");
	ret = kvmuf_handoff_recv(sv[1], &got, &r, err, sizeof(err));
	CHECK(ret == 0 && same_file(r.dev, devfd) && r.memfd == -1 && same_file(r.uffd, uffd),
	      "recv anon+uffd: %d %s", ret, err);
	if (ret == 0) {
		close(r.dev);
		close(r.uffd);
	}

	/* Anonymous memory, module only: one fd. */
	h.flags = 0;
	h.uffd_hva = 0;
	CHECK(kvmuf_handoff_send(sv[0], &h, &(struct kvmuf_handoff_fds){ devfd, -1, -1 }) == 0,
	      "send anon");
	ret = kvmuf_handoff_recv(sv[1], &got, &r, err, sizeof(err));
	CHECK(ret == 0 && r.dev >= 0 && r.memfd == -1 && r.uffd == -1, "recv anon: %d %s", ret,
	      err);
	if (ret == 0)
		close(r.dev);

	/* A lying handoff (memfd flag, one fd) is refused, its fd closed. */
	{
		int fds[1] = { devfd };
		int before, after;

		h.flags = KVMUF_HANDOFF_MEMFD;
		before = open("/dev/null", O_RDONLY);
		close(before);
		CHECK(kvmuf_send_fds(sv[0], fds, 1, &h, sizeof(h)) == 0, "send lie");
		ret = kvmuf_handoff_recv(sv[1], &got, &r, err, sizeof(err));
		CHECK(ret == -EPROTO && r.dev == -1 && r.memfd == -1 && r.uffd == -1,
		      "lie refused: %d %s", ret, err);
		after = open("/dev/null", O_RDONLY);
		CHECK(after == before, "the refused fd was closed (next fd %d, was %d)",
		      after, before);
		close(after);
	}

	/* Ack round trip, with and without an error. */
	CHECK(kvmuf_handoff_ack_send(sv[1], 0, 3, BASE, 99, NULL) == 0, "ack send");
	ret = kvmuf_handoff_ack_recv(sv[0], &ack, 1000);
	CHECK(ret == 0 && ack.status == 0 && ack.threads == 3 && ack.snap_npages == 99 &&
	      ack.message[0] == 0, "ack ok: %d", ret);
	CHECK(kvmuf_handoff_ack_send(sv[1], -EINVAL, 0, BASE, 99, "seed mismatch") == 0,
	      "nak send");
	ret = kvmuf_handoff_ack_recv(sv[0], &ack, 1000);
	CHECK(ret == 0 && ack.status == -EINVAL && !strcmp(ack.message, "seed mismatch"),
	      "nak: %d '%s'", ret, ack.message);
	CHECK(kvmuf_handoff_ack_recv(sv[0], &ack, 50) == -ETIMEDOUT, "ack timeout");
	CHECK(send(sv[1], "junk", 4, 0) == 4, "junk");
	CHECK(kvmuf_handoff_ack_recv(sv[0], &ack, 1000) == -EPROTO, "junk ack refused");

	/* EOF on both sides. */
	close(sv[1]);
	CHECK(kvmuf_handoff_ack_recv(sv[0], &ack, 1000) == -EPIPE, "ack EOF");
	close(sv[0]);
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	close(sv[0]);
	ret = kvmuf_handoff_recv(sv[1], &got, &r, err, sizeof(err));
	CHECK(ret == -EPIPE, "handoff EOF: %d", ret);
	close(sv[1]);
	close(devfd);
	close(memfd);
	close(uffd);
}

/* Rings r and r2 share a consumer thread iff r % T == r2 % T. */
static void check_ownership(struct fake_dev *d, unsigned int threads)
{
	for (unsigned int a = 0; a < d->nr_rings; a++)
		for (unsigned int b = a + 1; b < d->nr_rings; b++) {
			if (!d->consumer_set[a] || !d->consumer_set[b])
				continue;
			CHECK(pthread_equal(d->consumer[a], d->consumer[b]) ==
			      (a % threads == b % threads),
			      "rings %u and %u: consumer threads vs r %% %u", a, b, threads);
		}
	CHECK(atomic_load(&d->consumer_violations) == 0,
	      "a ring had two consumer threads");
}

/* Anonymous memory: many faults over 5 rings, 3 workers, rings wrap. */
static void test_server_anon(void)
{
	const uint64_t n = 6000;
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = n,
		.mem_base_gfn = BASE, .mem_npages = n,
	};
	unsigned char *snap = make_snap_data(BASE, n);
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;
	uint64_t unresolved = 0;

	fake_init(&d, 5, 64, &g, snap, NULL);
	s = fake_start(&d, 3, NULL);
	/*
	 * Runs of 64 contiguous GFNs per ring (mergeable); 6000 faults through
	 * 64-entry rings wrap each of them many times.
	 */
	for (uint64_t i = 0; i < n; i++)
		fake_push(&d, (unsigned int)((i / 64) % 5), BASE + i);
	CHECK(settle(s, n, n) == 0, "anon: all faults served");
	kvmuf_server_stop(s, &st);
	for (uint64_t i = 0; i < n; i++)
		unresolved += !d.resolved[i];
	CHECK(unresolved == 0, "anon: %llu pages not resolved", (unsigned long long)unresolved);
	CHECK(st.served == n && st.unchanged == 0 && st.duplicates == 0 &&
	      st.out_of_range == 0 && st.errors == 0 && kvmuf_server_stats_ok(&st),
	      "anon: stats served %llu unchanged %llu dup %llu oor %llu err %llu",
	      (unsigned long long)st.served, (unsigned long long)st.unchanged,
	      (unsigned long long)st.duplicates, (unsigned long long)st.out_of_range,
	      (unsigned long long)st.errors);
	CHECK(st.threads == 3, "anon: %u threads", st.threads);
	CHECK(atomic_load(&d.bad_src) == 0, "anon: %llu wrong source pages",
	      (unsigned long long)atomic_load(&d.bad_src));
	CHECK(atomic_load(&d.bad_data) == 0, "anon: %llu bad source data",
	      (unsigned long long)atomic_load(&d.bad_data));
	CHECK(atomic_load(&d.max_nr) <= KVMUF_MAX_BATCH, "anon: batch of %llu",
	      (unsigned long long)atomic_load(&d.max_nr));
	CHECK(atomic_load(&d.pages_in_elements) == n, "anon: %llu pages in elements",
	      (unsigned long long)atomic_load(&d.pages_in_elements));
	CHECK(atomic_load(&d.elements) < n, "anon: contiguous faults merged (%llu elements)",
	      (unsigned long long)atomic_load(&d.elements));
	CHECK(st.batches > 0 && st.faults == n, "anon: %llu batches",
	      (unsigned long long)st.batches);
	check_ownership(&d, 3);
	fake_destroy(&d);
	free(snap);
}

/* Scattered GFNs in every ring at once: no merging across non-contiguous pages. */
static void test_server_scattered(void)
{
	const uint64_t n = 2048;
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = n,
		.mem_base_gfn = BASE, .mem_npages = n,
	};
	unsigned char *snap = make_snap_data(BASE, n);
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;

	fake_init(&d, 4, 16, &g, snap, NULL);
	s = fake_start(&d, 2, NULL);
	for (uint64_t i = 0; i < n; i++)
		fake_push(&d, (unsigned int)(i % 4), BASE + (i * 1237) % n);	/* a permutation */
	CHECK(settle(s, n, n) == 0, "scattered: all served");
	kvmuf_server_stop(s, &st);
	CHECK(st.served == n && kvmuf_server_stats_ok(&st), "scattered: stats");
	CHECK(atomic_load(&d.bad_src) == 0 && atomic_load(&d.bad_data) == 0,
	      "scattered: sources");
	check_ownership(&d, 2);
	fake_destroy(&d);
	free(snap);
}

/* One pass over full rings yields more than a batch: split at KVMUF_MAX_BATCH. */
static void test_server_big_batch(void)
{
	const uint64_t n = 6 * 512;
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = 2 * n,
		.mem_base_gfn = BASE, .mem_npages = 2 * n,
	};
	unsigned char *snap = make_snap_data(BASE, 2 * n);
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;

	fake_init(&d, 6, 512, &g, snap, NULL);
	/* Fill every ring before the server starts; even GFNs only: nothing merges. */
	for (uint64_t i = 0; i < n; i++)
		fake_push(&d, (unsigned int)(i / 512), BASE + 2 * i);
	s = fake_start(&d, 1, NULL);
	CHECK(settle(s, n, n) == 0, "big batch: all served");
	kvmuf_server_stop(s, &st);
	CHECK(st.served == n && kvmuf_server_stats_ok(&st), "big batch: stats");
	CHECK(atomic_load(&d.max_nr) == KVMUF_MAX_BATCH, "big batch: largest batch %llu",
	      (unsigned long long)atomic_load(&d.max_nr));
	CHECK(atomic_load(&d.elements) == n, "big batch: %llu elements",
	      (unsigned long long)atomic_load(&d.elements));
	fake_destroy(&d);
	free(snap);
}

/* memfd memory: pages copied into the mapping, then RESOLVE; duplicates do not overwrite. */
static void test_server_memfd(void)
{
	const uint64_t n = 1000;
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = n,
		.mem_base_gfn = BASE, .mem_npages = n,
	};
	unsigned char *snap = make_snap_data(BASE, n), *mem = xalloc_pages(n);
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;
	uint64_t bad = 0;

	fake_init(&d, 3, 32, &g, snap, mem);
	s = fake_start(&d, 2, mem);
	for (uint64_t i = 0; i < n; i++)
		fake_push(&d, (unsigned int)(i % 3), BASE + n - 1 - i);
	CHECK(settle(s, n, n) == 0, "memfd: all served");
	for (uint64_t i = 0; i < n; i++)
		bad += kvmuf_snap_check_page(mem + i * PAGE, BASE + i, SEED) >= 0;
	CHECK(bad == 0, "memfd: %llu pages not the snapshot's", (unsigned long long)bad);

	/* The guest writes page 5; a duplicate fault for it must not clobber it. */
	memset(mem + 5 * PAGE, 0xaa, PAGE);
	fake_push(&d, 1, BASE + 5);
	CHECK(settle(s, n + 1, n + 1) == 0, "memfd: duplicate handled");
	kvmuf_server_stop(s, &st);
	CHECK(st.duplicates == 1 && st.first_dup_gfn == BASE + 5 && st.unchanged == 1 &&
	      st.served == n && !kvmuf_server_stats_ok(&st),
	      "memfd: dup %llu unchanged %llu served %llu",
	      (unsigned long long)st.duplicates, (unsigned long long)st.unchanged,
	      (unsigned long long)st.served);
	CHECK(mem[5 * PAGE] == 0xaa && mem[6 * PAGE - 1] == 0xaa,
	      "memfd: duplicate overwrote a served page");
	CHECK(atomic_load(&d.bad_data) == 0, "memfd: data not in place before RESOLVE");
	CHECK(atomic_load(&d.resolves) > 0 && atomic_load(&d.populating) == atomic_load(&d.resolves),
	      "memfd: %u of %u RESOLVE calls asked to populate", atomic_load(&d.populating),
	      atomic_load(&d.resolves));
	check_ownership(&d, 2);
	fake_destroy(&d);
	free(mem);
	free(snap);
}

/* GFNs outside the snapshot or the memory are counted, never resolved. */
static void test_server_out_of_range(void)
{
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE + 10, .snap_npages = 100,
		.mem_base_gfn = BASE, .mem_npages = 100,
	};
	unsigned char *snap = make_snap_data(BASE + 10, 100);
	const uint64_t oor[] = { BASE + 5, BASE + 105, BASE - 1, UINT64_MAX, BASE + 100 };
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;
	int resolved = 0;

	fake_init(&d, 1, 16, &g, snap, NULL);
	s = fake_start(&d, 1, NULL);
	for (size_t i = 0; i < sizeof(oor) / sizeof(oor[0]); i++)
		fake_push(&d, 0, oor[i]);
	fake_push(&d, 0, BASE + 50);
	CHECK(settle(s, 6, 1) == 0, "oor: settled");
	kvmuf_server_stop(s, &st);
	for (uint64_t i = 0; i < 100; i++)
		resolved += d.resolved[i];
	CHECK(st.out_of_range == 5 && st.first_oor_gfn == BASE + 5 && st.served == 1 &&
	      resolved == 1 && d.resolved[50] && !kvmuf_server_stats_ok(&st),
	      "oor: %llu out of range (first 0x%llx), served %llu",
	      (unsigned long long)st.out_of_range, (unsigned long long)st.first_oor_gfn,
	      (unsigned long long)st.served);
	fake_destroy(&d);
	free(snap);
}

/* A failing resolve is an error; a detach (-ENODEV) ends the server and signals done_fd. */
static void test_server_errors_and_detach(void)
{
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = 64,
		.mem_base_gfn = BASE, .mem_npages = 64,
	};
	unsigned char *snap = make_snap_data(BASE, 64);
	struct pollfd p = { .events = POLLIN };
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;
	uint64_t t0;

	fake_init(&d, 4, 16, &g, snap, NULL);
	s = fake_start(&d, 8, NULL);
	kvmuf_server_stats(s, &st);
	CHECK(st.threads == 4, "threads capped to rings: %u", st.threads);
	atomic_store(&d.fail_next, -EIO);
	fake_push(&d, 2, BASE + 1);
	t0 = now_ms();
	do {
		kvmuf_server_stats(s, &st);
	} while (st.errors == 0 && now_ms() - t0 < 5000);
	CHECK(st.errors == 1 && !kvmuf_server_done(s), "resolve error counted, still serving");
	fake_push(&d, 3, BASE + 2);
	CHECK(settle(s, 2, 1) == 0, "serving after an error");

	p.fd = kvmuf_server_done_fd(s);
	CHECK(poll(&p, 1, 0) == 0, "done_fd quiet while serving");
	atomic_store(&d.detach, 1);
	t0 = now_ms();
	CHECK(poll(&p, 1, 2000) == 1, "done_fd readable after detach");
	CHECK(now_ms() - t0 < 1000, "detach noticed within %llu ms",
	      (unsigned long long)(now_ms() - t0));
	CHECK(kvmuf_server_done(s), "server done");
	kvmuf_server_stop(s, &st);
	CHECK(st.detached == 1 && st.errors == 1, "detached %d errors %llu", st.detached,
	      (unsigned long long)st.errors);
	fake_destroy(&d);
	free(snap);
}

/* Stopping is prompt even when every worker sleeps in poll. */
static void test_server_stop(void)
{
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = 8,
		.mem_base_gfn = BASE, .mem_npages = 8,
	};
	unsigned char *snap = make_snap_data(BASE, 8);
	struct kvmuf_server_config cfg = {
		.ops = &fake_ops, .nr_threads = 2, .geom = g, .snap_data = snap,
	};
	struct kvmuf_server *s;
	struct fake_dev d;
	uint64_t t0;

	fake_init(&d, 2, 16, &g, snap, NULL);
	s = fake_start(&d, 2, NULL);
	usleep(20000);
	t0 = now_ms();
	kvmuf_server_stop(s, NULL);
	CHECK(now_ms() - t0 < 500, "stop took %llu ms", (unsigned long long)(now_ms() - t0));

	/* Bad configurations are refused. */
	cfg.ctx = &d;
	cfg.nr_rings = 2;
	cfg.snap_data = snap + 8;
	CHECK(kvmuf_server_start(&cfg, &s) == -EINVAL, "unaligned snapshot refused");
	cfg.snap_data = snap;
	cfg.nr_threads = 0;
	CHECK(kvmuf_server_start(&cfg, &s) == -EINVAL, "0 threads refused");
	cfg.nr_threads = 1;
	cfg.nr_rings = 0;
	CHECK(kvmuf_server_start(&cfg, &s) == -EINVAL, "0 rings refused");
	fake_destroy(&d);
	free(snap);
}

/* ---- the daemon binary ---- */

struct daemon_run {
	pid_t pid;
	char sock[200];
	char log[200];
};

static int spawn_daemon(struct daemon_run *r, const char *daemon, const char *snap,
			const char *extra)
{
	static int seq;

	snprintf(r->sock, sizeof(r->sock), "%s/sock%d", tmpdir, seq);
	snprintf(r->log, sizeof(r->log), "%s/log%d", tmpdir, seq++);
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (r->pid == 0) {
		int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (extra)
			execl(daemon, daemon, "-l", r->sock, "-f", snap, extra, (char *)NULL);
		else
			execl(daemon, daemon, "-l", r->sock, "-f", snap, (char *)NULL);
		_exit(127);
	}
	return 0;
}

static int connect_retry(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint64_t t0 = now_ms();

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	while (now_ms() - t0 < 5000) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		usleep(10000);
	}
	return -1;
}

/* Wait for the daemon to exit: its exit status, or -1 after @ms. */
static int reap(struct daemon_run *r, int ms)
{
	uint64_t t0 = now_ms();
	int status;

	do {
		pid_t p = waitpid(r->pid, &status, WNOHANG);

		if (p == r->pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(5000);
	} while (now_ms() - t0 < (uint64_t)ms);
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &status, 0);
	return -1;
}

static void show_log(const struct daemon_run *r)
{
	char buf[2048];
	int fd = open(r->log, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (n > 0) {
		buf[n] = 0;
		printf("  daemon log:\n%s", buf);
	}
	if (fd >= 0)
		close(fd);
}

/* Send @h (with a /dev/null "device fd", and a memfd of @memfd_size if flagged); get the ack. */
static int handoff_and_ack(struct daemon_run *r, const struct kvmuf_handoff *h,
			   off_t memfd_size, struct kvmuf_handoff_ack *ack)
{
	int sock = connect_retry(r->sock), devfd, memfd = -1, ret;

	if (sock < 0)
		return -ECONNREFUSED;
	devfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (h->flags & KVMUF_HANDOFF_MEMFD) {
		memfd = memfd_create("t", MFD_CLOEXEC);
		if (ftruncate(memfd, memfd_size) < 0)
			return -errno;
	}
	ret = kvmuf_send_fds(sock, (int[]){ devfd, memfd },
			     (h->flags & KVMUF_HANDOFF_MEMFD) ? 2 : 1, h, sizeof(*h));
	if (ret == 0)
		ret = kvmuf_handoff_ack_recv(sock, ack, 5000);
	close(devfd);
	if (memfd >= 0)
		close(memfd);
	close(sock);
	return ret;
}

static void test_daemon_binary(const char *daemon)
{
	struct kvmuf_handoff h;
	struct kvmuf_handoff_ack ack;
	struct daemon_run r;
	char snap[256], err[160];
	uint64_t t0;
	int ret, rc;

	path_in_tmp(snap, sizeof(snap), "dsnap");
	CHECK(kvmuf_snap_write(snap, BASE, 512, SEED, err, sizeof(err)) == 0, "%s", err);

	/* Not a kvm-userfault fd: refused with an ack, exit 1. */
	spawn_daemon(&r, daemon, snap, NULL);
	h = good_handoff(KVMUF_HANDOFF_SEED);
	ret = handoff_and_ack(&r, &h, 0, &ack);
	CHECK(ret == 0 && ack.status < 0 && strstr(ack.message, "device fd"),
	      "non-device fd: ret %d status %d '%s'", ret, ack.status, ack.message);
	rc = reap(&r, 5000);
	CHECK(rc == 1, "non-device fd: daemon exit %d", rc);
	if (rc != 1)
		show_log(&r);
	CHECK(access(r.sock, F_OK) != 0, "socket file removed after accept");

	/* Wrong seed: refused before touching the fd. */
	spawn_daemon(&r, daemon, snap, "-q");
	h = good_handoff(KVMUF_HANDOFF_SEED);
	h.seed = SEED + 1;
	ret = handoff_and_ack(&r, &h, 0, &ack);
	CHECK(ret == 0 && ack.status == -EINVAL && strstr(ack.message, "seed"),
	      "seed mismatch: ret %d status %d '%s'", ret, ack.status, ack.message);
	CHECK(reap(&r, 5000) == 1, "seed mismatch: exit 1");

	/* A memfd smaller than the memory it claims to back. */
	spawn_daemon(&r, daemon, snap, "-q");
	h = good_handoff(KVMUF_HANDOFF_MEMFD);
	ret = handoff_and_ack(&r, &h, 4096, &ack);
	CHECK(ret == 0 && ack.status == -EINVAL && strstr(ack.message, "memfd"),
	      "small memfd: ret %d status %d '%s'", ret, ack.status, ack.message);
	CHECK(reap(&r, 5000) == 1, "small memfd: exit 1");

	/* Garbage instead of a handoff. */
	spawn_daemon(&r, daemon, snap, "-q");
	h = good_handoff(0);
	h.magic = 0xdeadbeef;
	ret = handoff_and_ack(&r, &h, 0, &ack);
	CHECK(ret == 0 && ack.status == -EPROTO, "garbage: ret %d status %d", ret, ack.status);
	CHECK(reap(&r, 5000) == 1, "garbage: exit 1");

	/* SIGTERM while waiting for a VMM: prompt exit, socket removed. */
	spawn_daemon(&r, daemon, snap, "-q");
	t0 = now_ms();
	while (access(r.sock, F_OK) != 0 && now_ms() - t0 < 5000)
		usleep(5000);
	t0 = now_ms();
	kill(r.pid, SIGTERM);
	rc = reap(&r, 3000);
	CHECK(rc == 1 && now_ms() - t0 < 1000, "SIGTERM: exit %d after %llu ms", rc,
	      (unsigned long long)(now_ms() - t0));
	CHECK(access(r.sock, F_OK) != 0, "SIGTERM: socket removed");

	/* --accept-timeout: nobody connects. */
	spawn_daemon(&r, daemon, snap, "--accept-timeout=1");
	t0 = now_ms();
	rc = reap(&r, 5000);
	CHECK(rc == 1 && now_ms() - t0 >= 900 && now_ms() - t0 < 3000,
	      "--accept-timeout 1: exit %d after %llu ms", rc, (unsigned long long)(now_ms() - t0));

	/* The VMM hangs up without a handoff. */
	spawn_daemon(&r, daemon, snap, "-q");
	ret = connect_retry(r.sock);
	CHECK(ret >= 0, "connect");
	close(ret);
	CHECK(reap(&r, 5000) == 1, "EOF before handoff: exit 1");
}

static void cleanup_tmp(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* ---- the userfaultfd backstop, with a real userfaultfd ---------------------- */

/* A userfaultfd registered MISSING on [mem, mem + len), or -1 (reason printed). */
static int uffd_arm(void *mem, size_t len, int shmem)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)mem, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		printf("  userfaultfd: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0 ||
	    (shmem && !(api.features & UFFD_FEATURE_MISSING_SHMEM)) ||
	    ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		printf("  userfaultfd on %s memory: %s\n", shmem ? "shmem" : "anonymous",
		       strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct toucher {
	const unsigned char *mem;
	uint64_t first, n;
	uint64_t bad;
};

/* The host mm's accesses (KVM's own, the VMM's): read pages, check them. */
static void *touch_pages(void *arg)
{
	struct toucher *t = arg;

	for (uint64_t p = t->first; p < t->first + t->n; p++)
		t->bad += kvmuf_snap_check_page(t->mem + p * PAGE, BASE + p, SEED) >= 0;
	return NULL;
}

/*
 * Pages asked for through userfaultfd (a thread reading guest memory) and through
 * the rings (vCPU faults), some both ways: each installed once with its data, the
 * reader never sees anything else, every page resolved, nothing counted twice.
 */
#define KEPT	200	/* a page present before the server starts */

/* A page source that is not a buffer: counts the fetches of every page. */
struct counted_source {
	uint64_t npages;
	_Atomic unsigned int *fetches;
};

static int counted_fetch(void *opaque, uint64_t gfn, void *page)
{
	struct counted_source *cs = opaque;

	if (gfn < BASE || gfn - BASE >= cs->npages)
		return -ERANGE;
	atomic_fetch_add(&cs->fetches[gfn - BASE], 1);
	kvmuf_snap_fill_page(page, gfn, SEED);
	return 0;
}

static void backstop_case(int shmem, int fetch)
{
	const uint64_t n = 256;
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = n,
		.mem_base_gfn = BASE, .mem_npages = n,
	};
	unsigned char *snap = make_snap_data(BASE, n), *mem, *alias = NULL;
	const char *what = shmem ? fetch ? "backstop, memfd, fetch()" : "backstop, memfd" :
				   fetch ? "backstop, anon, fetch()" : "backstop, anon";
	struct counted_source cs = { .npages = n, .fetches = calloc(n, sizeof(*cs.fetches)) };
	struct toucher t = { .first = 0, .n = n / 2 };
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;
	int memfd = -1, uffd, ret;
	uint64_t unresolved = 0, bad = 0;
	pthread_t th;

	if (shmem) {
		memfd = memfd_create("backstop", MFD_CLOEXEC);
		REQUIRE(memfd >= 0 && ftruncate(memfd, (off_t)(n * PAGE)) == 0, "memfd");
		mem = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		alias = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		REQUIRE(mem != MAP_FAILED && alias != MAP_FAILED, "mmap memfd");
	} else {
		mem = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		REQUIRE(mem != MAP_FAILED, "mmap anon");
	}
	uffd = uffd_arm(mem, n * PAGE, shmem);
	if (uffd < 0) {
		printf("SKIP %s: no usable userfaultfd here\n", what);
		goto out_unmap;
	}
	/*
	 * No data check at RESOLVE: under the backstop a worker may resolve a page another
	 * one is still copying (the vCPU would wait in userfaultfd), and reading the armed
	 * memory from the fake could block the worker. The reader and the end check it.
	 */
	/* Page KEPT is there before the server starts (a daemon before us installed it,
	 * the guest wrote it since): a ring entry for it must not overwrite it. */
	{
		unsigned char *own = xalloc_pages(1);
		struct uffdio_copy c = { .dst = (uintptr_t)mem + KEPT * PAGE,
					 .src = (uintptr_t)own, .len = PAGE };

		memset(own, 0xa5, PAGE);
		REQUIRE(ioctl(uffd, UFFDIO_COPY, &c) == 0, "UFFDIO_COPY: %s", strerror(errno));
		free(own);
	}
	fake_init(&d, 3, 64, &g, snap, NULL);
	{
		struct kvmuf_server_config cfg = {
			.ops = &fake_ops, .ctx = &d, .nr_rings = d.nr_rings, .nr_threads = 2,
			.geom = g, .snap_data = fetch ? NULL : snap, .mem = alias,
			.fetch = fetch ? counted_fetch : NULL, .fetch_opaque = &cs,
			.use_mem_fd = shmem, .mem_fd = memfd, .populate = shmem,
			.use_uffd = 1, .uffd = uffd, .uffd_hva = (uintptr_t)mem,
			.poll_ms = 20,
		};

		ret = kvmuf_server_start(&cfg, &s);
		REQUIRE(ret == 0, "%s: start: %s", what, kvmuf_strerror(ret));
	}
	/* A thread reads the first half through the host mm; rings ask for pages 96.. */
	t.mem = mem;
	REQUIRE(pthread_create(&th, NULL, touch_pages, &t) == 0, "thread");
	for (uint64_t i = 96; i < n; i++)
		fake_push(&d, (unsigned int)(i % 3), BASE + i);
	pthread_join(th, NULL);
	CHECK(t.bad == 0, "%s: the reader saw %llu wrong pages", what, (unsigned long long)t.bad);
	/* vCPUs now fault on pages the reader brought in: resolved, not installed again. */
	for (uint64_t i = 0; i < 32; i++)
		fake_push(&d, (unsigned int)(i % 3), BASE + i);
	CHECK(settle_resolved(s, &d, n - 96 + 32, n) == 0, "%s: every page resolved", what);
	/* The VMM discards two served pages: touching them again gives zeros, not a hang. */
	if (shmem)
		ret = fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10 * PAGE,
				2 * PAGE);
	else
		ret = madvise(mem + 10 * PAGE, 2 * PAGE, MADV_DONTNEED);
	CHECK(ret == 0, "%s: discard: %s", what, strerror(errno));
	{
		unsigned char *z = mem + 10 * PAGE;
		size_t nz = 0;

		while (nz < 2 * PAGE && !z[nz])
			nz++;
		CHECK(nz == 2 * PAGE, "%s: a discarded page reads %zu zero bytes", what, nz);
	}
	kvmuf_server_stop(s, &st);
	CHECK(st.refaults == 2, "%s: %llu refaults", what, (unsigned long long)st.refaults);
	kvmuf_snap_fill_page(mem + 10 * PAGE, BASE + 10, SEED);	/* for the check below */
	kvmuf_snap_fill_page(mem + 11 * PAGE, BASE + 11, SEED);
	for (uint64_t i = 0; i < n; i++) {
		unresolved += !d.resolved[i];
		if (i == KEPT)
			bad += mem[i * PAGE] != 0xa5 || memcmp(mem + i * PAGE, mem + i * PAGE + 1,
							      PAGE - 1);
		else
			bad += kvmuf_snap_check_page(mem + i * PAGE, BASE + i, SEED) >= 0;
	}
	CHECK(unresolved == 0 && bad == 0, "%s: %llu pages unresolved, %llu wrong", what,
	      (unsigned long long)unresolved, (unsigned long long)bad);
	CHECK(st.uffd_served + st.ring_served == n && st.faults - st.both == st.ring_served &&
	      st.duplicates == 0 &&
	      st.errors == 0 && st.uffd_served >= 32 && st.uffd_served <= n / 2 &&
	      st.both >= 32,
	      "%s: %llu through uffd, %llu ring entries of which %llu both ways, %llu dup, %llu err",
	      what, (unsigned long long)st.uffd_served, (unsigned long long)st.faults,
	      (unsigned long long)st.both, (unsigned long long)st.duplicates,
	      (unsigned long long)st.errors);
	CHECK(atomic_load(&d.bad_data) == 0, "%s: resolved before the data was in", what);
	if (fetch) {
		uint64_t once = 0;

		for (uint64_t i = 0; i < n; i++)
			once += atomic_load(&cs.fetches[i]) == 1;
		CHECK(once == n && st.fetched == n,
		      "%s: every page fetched once: %llu of %llu, %llu fetches", what,
		      (unsigned long long)once, (unsigned long long)n,
		      (unsigned long long)st.fetched);
	}
	if (!failures)
		printf("ok: %s: %llu pages through userfaultfd, %llu through the rings (%llu both ways)\n",
		       what, (unsigned long long)st.uffd_served,
		       (unsigned long long)(st.faults - st.both), (unsigned long long)st.both);
	fake_destroy(&d);
	close(uffd);
out_unmap:
	munmap(mem, n * PAGE);
	if (alias)
		munmap(alias, n * PAGE);
	if (memfd >= 0)
		close(memfd);
	free(snap);
	free(cs.fetches);
}

/*
 * Module only, anonymous memory, pages from fetch(): KVMUF_RESOLVE_COPY reads the
 * worker's page, so every copy must reach the device holding its own page's data.
 */
static void test_server_fetch_copy(void)
{
	const uint64_t n = 600;
	struct kvmuf_serve_geom g = {
		.snap_base_gfn = BASE, .snap_npages = n,
		.mem_base_gfn = BASE, .mem_npages = n,
	};
	struct counted_source cs = { .npages = n, .fetches = calloc(n, sizeof(*cs.fetches)) };
	struct kvmuf_server_config cfg = {
		.ops = &fake_ops, .nr_threads = 2, .geom = g, .poll_ms = 20,
		.fetch = counted_fetch, .fetch_opaque = &cs,
	};
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;
	uint64_t once = 0;

	fake_init(&d, 3, 64, &g, NULL, NULL);
	d.any_src = 1;
	cfg.ctx = &d;
	cfg.nr_rings = d.nr_rings;
	REQUIRE(kvmuf_server_start(&cfg, &s) == 0, "fetch copy: start");
	for (uint64_t i = 0; i < n; i++)
		fake_push(&d, (unsigned int)(i % 3), BASE + i);
	CHECK(settle(s, n, n) == 0, "fetch copy: all served");
	kvmuf_server_stop(s, &st);
	for (uint64_t i = 0; i < n; i++)
		once += atomic_load(&cs.fetches[i]) == 1;
	CHECK(once == n && st.fetched == n && st.served == n && kvmuf_server_stats_ok(&st),
	      "fetch copy: %llu of %llu pages fetched once, %llu served",
	      (unsigned long long)once, (unsigned long long)n, (unsigned long long)st.served);
	CHECK(atomic_load(&d.bad_src) == 0 && atomic_load(&d.bad_data) == 0,
	      "fetch copy: %llu copies with the wrong data",
	      (unsigned long long)atomic_load(&d.bad_data));
	fake_destroy(&d);
	free(cs.fetches);
}

static void test_server_backstop(void)
{
	backstop_case(0, 0);
	backstop_case(1, 0);
	backstop_case(0, 1);
	backstop_case(1, 1);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	test_pattern();
	test_snapshot_file();
	test_locate();
	test_handoff_validate();
	test_handoff_socket();
	test_server_anon();
	test_server_scattered();
	test_server_big_batch();
	test_server_memfd();
	test_server_out_of_range();
	test_server_errors_and_detach();
	test_server_stop();
	test_server_backstop();
	test_server_fetch_copy();
	if (argc > 1)
		test_daemon_binary(argv[1]);
	else
		printf("test_daemon: no daemon binary given, its tests skipped\n");

	cleanup_tmp();
	printf("test_daemon%s%s: %d checks, %d failed: %s\n", argc > 1 ? " " : "",
	       argc > 1 ? argv[1] : "", checks, failures, failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
