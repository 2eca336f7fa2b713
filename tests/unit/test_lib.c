// SPDX-License-Identifier: GPL-2.0
/*
 * libkvmuf's device functions without the device: this program defines ioctl() itself,
 * which takes precedence over libc's for the library compiled into it, and answers the
 * kvm-userfault ioctls for one memfd the way the module would ("the fake device"). The
 * memfd holds the rings, so the library's mmap, ring consumption and a producer (the
 * module's ring.h) on a second mapping all run for real.
 *
 * Checked: kvmuf_open() -ENOENT without the module; open / attach / from_fd and their
 * geometry checks; ring headers, consumption, vCPU-to-ring mapping and exit records;
 * batch chunking and counter sums, partial failures; wait, add_range and info
 * arguments; poll results; kvmuf_strerror.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kshim.h"
#include "kvmuf.h"
#include "unit.h"

/* ---- the fake device ---------------------------------------------------------- */

static struct {
	dev_t dev;
	ino_t ino;
	int memfd;
	int attached;
	int version;
	struct kvmuf_info info;		/* what GET_INFO answers */
	struct kvmuf_attach attach;	/* the last ATTACH */
	struct kvmuf_range range;	/* the last ADD_RANGE */
	uint32_t last_flags;		/* of the last SET_MISSING / RESOLVE */
	struct kvmuf_wait wait;		/* the last WAIT */
	unsigned int batch_calls;	/* SET_MISSING / RESOLVE / RESOLVE_COPY */
	unsigned int fail_at;		/* fail that batch call with EFAULT (0: never) */
	unsigned int eintr_at;		/* that batch call does its first element, then
					 * EINTR (0: never) */
	uint64_t next_gfn;		/* batches must arrive in order, gfn = index */
	unsigned long last_req;
	unsigned int bad_args;		/* calls with non-zero reserved / flags fields */
} fake;

static int is_fake(int fd)
{
	struct stat st;

	return fake.memfd >= 0 && !fstat(fd, &st) && st.st_dev == fake.dev &&
	       st.st_ino == fake.ino;
}

static int fail(int e)
{
	errno = e;
	return -1;
}

static int zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		if (*b++)
			return 0;
	return 1;
}

static int fake_batch(unsigned long req, void *arg)
{
	if (++fake.batch_calls == fake.fail_at)
		return fail(EFAULT);
	if (req == KVMUF_RESOLVE_COPY) {
		struct kvmuf_copy_batch *b = arg;
		const struct kvmuf_copy *c = (const void *)(uintptr_t)b->copies;

		if (b->nr < 1 || b->nr > KVMUF_MAX_BATCH || b->flags || !zero(b->reserved,
		    sizeof(b->reserved)))
			return fake.bad_args++, fail(EINVAL);
		b->changed = b->unchanged = b->busy = 0;
		for (uint32_t i = 0; i < b->nr; i++) {
			if (c[i].gfn != fake.next_gfn++ || c[i].src != c[i].gfn * 4096)
				return fail(EINVAL);
			b->changed += c[i].npages;
			b->unchanged++;
			b->busy += c[i].gfn % 5 == 0;	/* one GFN of every fifth held */
			if (fake.batch_calls == fake.eintr_at)
				return fail(EINTR);
		}
	} else {
		struct kvmuf_batch *b = arg;
		const struct kvmuf_gfn_range *r = (const void *)(uintptr_t)b->ranges;

		if (b->nr < 1 || b->nr > KVMUF_MAX_BATCH ||
		    (b->flags & ~(req == KVMUF_RESOLVE ? KVMUF_RESOLVE_POPULATE : 0U)) ||
		    !zero(b->reserved, sizeof(b->reserved)))
			return fake.bad_args++, fail(EINVAL);
		fake.last_flags = b->flags;
		b->changed = b->unchanged = b->busy = 0;
		for (uint32_t i = 0; i < b->nr; i++) {
			if (r[i].gfn != fake.next_gfn++)
				return fail(EINVAL);
			b->changed += r[i].npages;
			b->unchanged++;
			b->busy += req == KVMUF_RESOLVE && r[i].gfn % 5 == 0;
			if (fake.batch_calls == fake.eintr_at)
				return fail(EINTR);
		}
	}
	return 0;
}

static int fake_ioctl(unsigned long req, void *arg)
{
	fake.last_req = req;
	switch (req) {
	case KVMUF_GET_API_VERSION:
		return arg ? fail(EINVAL) : fake.version;
	case KVMUF_GET_INFO:
		if (!fake.attached)
			return fail(ENODEV);
		memcpy(arg, &fake.info, sizeof(fake.info));
		return 0;
	case KVMUF_GET_STATS: {
		struct kvmuf_stats *st = arg;

		if (!fake.attached)
			return fail(ENODEV);
		st->parks = 7;
		st->park_ns = 7000;
		st->reserved[3] = 1;
		return 0;
	}
	case KVMUF_ATTACH: {
		struct kvmuf_attach *a = arg;

		fake.attach = *a;
		if (!zero(a->reserved, sizeof(a->reserved)))
			return fake.bad_args++, fail(EINVAL);
		if (fake.attached)
			return fail(EBUSY);
		if (a->vm_fd == -2)
			return fail(ENOTTY);
		memset(&fake.info, 0, sizeof(fake.info));
		fake.info.api_version = KVMUF_API_VERSION;
		fake.info.flags = a->flags;
		fake.info.nr_rings = a->nr_vcpu_rings + 1;
		fake.info.ring_entries = a->ring_entries;
		fake.info.ring_stride = KVMUF_RING_STRIDE(a->ring_entries);
		fake.info.mmap_size = fake.info.ring_stride * fake.info.nr_rings;
		if (ftruncate(fake.memfd, (off_t)fake.info.mmap_size))
			return -1;
		fake.attached = 1;
		return 0;
	}
	case KVMUF_ADD_RANGE:
		fake.range = *(struct kvmuf_range *)arg;
		if (fake.range.reserved0 || !zero(fake.range.reserved, sizeof(fake.range.reserved)))
			return fake.bad_args++, fail(EINVAL);
		return fake.range.npages ? 0 : fail(EINVAL);
	case KVMUF_SET_MISSING:
	case KVMUF_RESOLVE:
	case KVMUF_RESOLVE_COPY:
		return fake_batch(req, arg);
	case KVMUF_WAIT:
		fake.wait = *(struct kvmuf_wait *)arg;
		if (fake.wait.flags || !zero(fake.wait.reserved, sizeof(fake.wait.reserved)))
			return fake.bad_args++, fail(EINVAL);
		return fake.wait.gfn == 42 ? 0 : fail(ETIMEDOUT);
	}
	return fail(ENOTTY);
}

/* Takes precedence over libc's ioctl() in this program (the library included). */
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (is_fake(fd))
		return fake_ioctl(req, arg);
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

static char fake_path[64];

static void fake_setup(void)
{
	struct stat st;

	memset(&fake, 0, sizeof(fake));
	fake.memfd = memfd_create("fake-kvm-userfault", MFD_CLOEXEC);
	REQUIRE(fake.memfd >= 0 && !fstat(fake.memfd, &st), "memfd");
	fake.dev = st.st_dev;
	fake.ino = st.st_ino;
	fake.version = KVMUF_API_VERSION;
	snprintf(fake_path, sizeof(fake_path), "/proc/self/fd/%d", fake.memfd);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_no_device(void)
{
	struct kvmuf *k = (struct kvmuf *)1;
	int ret;

	if (!access(KVMUF_DEVICE_PATH, F_OK)) {
		printf("  %s exists: -ENOENT check skipped\n", KVMUF_DEVICE_PATH);
		return;
	}
	ret = kvmuf_open(&k);
	CHECK(ret == -ENOENT, "kvmuf_open: %d (%s)", ret, kvmuf_strerror(ret));
	CHECK(k == NULL, "handle set on failure");
	CHECK(kvmuf_open_path("/nonexistent/kvm-userfault", &k) == -ENOENT, "open_path");
	CHECK(kvmuf_open(NULL) == -EINVAL, "NULL out");
}

static void test_null_handle(void)
{
	struct kvmuf *k = (struct kvmuf *)1;
	struct kvmuf_fault f;
	struct kvmuf_info info;

	kvmuf_close(NULL);
	CHECK(kvmuf_fd(NULL) < 0, "fd of NULL");
	CHECK(kvmuf_nr_rings(NULL) == 0 && kvmuf_ring_entries(NULL) == 0, "rings of NULL");
	CHECK(kvmuf_ring_header(NULL, 0) == NULL, "header of NULL");
	CHECK(kvmuf_ring_consume(NULL, 0, &f, 1) == 0, "consume on NULL");
	CHECK(kvmuf_ring_pending(NULL, 0) == 0, "pending on NULL");
	CHECK(kvmuf_info(NULL, &info) == -EINVAL, "info on NULL");
	CHECK(kvmuf_poll(NULL, 0) == -EINVAL, "poll on NULL");
	CHECK(kvmuf_set_missing(NULL, NULL, 0, NULL, NULL) == -EINVAL, "batch on NULL");
	CHECK(kvmuf_from_fd(-1, &k) == -EBADF && k == NULL, "from_fd(-1)");
	CHECK(kvmuf_from_fd(0, NULL) == -EINVAL, "from_fd without out");
}

static void test_strerror(void)
{
	CHECK(strstr(kvmuf_strerror(-ENOTTY), "not a KVM VM fd"), "ENOTTY: %s",
	      kvmuf_strerror(-ENOTTY));
	CHECK(strstr(kvmuf_strerror(-ENOENT), "module"), "ENOENT: %s", kvmuf_strerror(-ENOENT));
	CHECK(strstr(kvmuf_strerror(-EEXIST), "overlaps"), "EEXIST");
	CHECK(strstr(kvmuf_strerror(-ENODEV), "attached"), "ENODEV");
	CHECK(!strcmp(kvmuf_strerror(ENODEV), kvmuf_strerror(-ENODEV)), "positive errno");
	CHECK(!strcmp(kvmuf_strerror(0), "success"), "0");
	CHECK(kvmuf_strerror(-EAGAIN) && *kvmuf_strerror(-EAGAIN), "EAGAIN");
	CHECK(kvmuf_strerror(-99999) && *kvmuf_strerror(-99999), "unknown");
	CHECK(kvmuf_strerror(-2147483647 - 1) != NULL, "INT_MIN");
}

/* The module's side of the mapping: ring i set up the way the module does it. */
struct producer {
	unsigned char *map;
	size_t size;
	struct kvmuf_kring ring[8];
	unsigned int nr;
};

static void producer_map(struct producer *p)
{
	unsigned int i;

	p->size = fake.info.mmap_size;
	p->nr = fake.info.nr_rings;
	REQUIRE(p->nr <= 8, "too many rings for the test");
	p->map = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, fake.memfd, 0);
	REQUIRE(p->map != MAP_FAILED, "mmap");
	memset(p->map, 0, p->size);
	for (i = 0; i < p->nr; i++)
		kvmuf_kring_init(&p->ring[i], p->map + i * fake.info.ring_stride,
				 fake.info.ring_entries, i ? i - 1 : KVMUF_VM_RING);
}

static void push(struct producer *p, unsigned int ring, uint64_t gfn)
{
	struct kvmuf_fault f = { .gfn = gfn, .vcpu = ring ? ring - 1 : 7, .flags = 2 };

	CHECK(kvmuf_kring_push(&p->ring[ring], &f), "push to ring %u", ring);
}

static void test_attach_and_rings(struct producer *p, struct kvmuf **kp)
{
	struct kvmuf_fault out[40];
	const struct kvmuf_ring_header *h;
	struct kvmuf_info info;
	struct kvmuf_stats st;
	struct kvmuf *k;
	uint32_t flags, seq;
	uint64_t gfn;
	unsigned int i;
	int ret, fd;

	/* An fd that is not attached is refused by from_fd, and stays the caller's. */
	fd = open(fake_path, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s", fake_path);
	ret = kvmuf_from_fd(fd, &k);
	CHECK(ret == -ENODEV && k == NULL, "from_fd before attach: %d", ret);
	CHECK(fcntl(fd, F_GETFD) >= 0, "from_fd closed the fd on failure");
	close(fd);

	ret = kvmuf_open_path(fake_path, &k);
	REQUIRE(ret == 0, "open fake: %s", kvmuf_strerror(ret));
	CHECK(fcntl(kvmuf_fd(k), F_GETFD) == FD_CLOEXEC, "device fd without O_CLOEXEC");
	CHECK(kvmuf_api_version(k) == KVMUF_API_VERSION, "api version");
	CHECK(kvmuf_nr_rings(k) == 0 && !kvmuf_ring_header(k, 0), "rings before attach");
	CHECK(kvmuf_ring_consume(k, 0, out, 1) == 0, "consume before attach");
	CHECK(kvmuf_vcpu_exit(k, 0, NULL, NULL, NULL) == -ENODEV, "exit before attach");
	CHECK(kvmuf_info(k, &info) == -ENODEV, "info before attach");
	CHECK(kvmuf_stats(k, &st) == -ENODEV, "stats before attach");
	CHECK(kvmuf_stats(k, NULL) == -EINVAL, "stats into NULL");
	CHECK(kvmuf_map(k) == -ENODEV, "map before attach");

	ret = kvmuf_attach(k, -2, 0, 3, 64);
	CHECK(ret == -ENOTTY, "attach to a non-VM: %d", ret);
	ret = kvmuf_attach(k, 5, KVMUF_ATTACH_EXIT, 3, 64);
	REQUIRE(ret == 0, "attach: %s", kvmuf_strerror(ret));
	CHECK(fake.attach.vm_fd == 5 && fake.attach.flags == KVMUF_ATTACH_EXIT &&
	      fake.attach.nr_vcpu_rings == 3 && fake.attach.ring_entries == 64,
	      "attach arguments");
	CHECK(kvmuf_attach(k, 5, 0, 3, 64) == -EBUSY, "second attach");
	CHECK(kvmuf_map(k) == 0, "map when mapped");
	CHECK(kvmuf_nr_rings(k) == 4 && kvmuf_ring_entries(k) == 64, "geometry %u x %u",
	      kvmuf_nr_rings(k), kvmuf_ring_entries(k));
	CHECK(kvmuf_info(k, &info) == 0 && info.nr_rings == 4 &&
	      info.flags == KVMUF_ATTACH_EXIT, "info");
	CHECK(kvmuf_stats(k, &st) == 0 && st.parks == 7 && st.park_ns == 7000 &&
	      st.reserved[3] == 1 && fake.last_req == KVMUF_GET_STATS, "stats");
	CHECK(kvmuf_vcpu_ring(k, 0) == 1 && kvmuf_vcpu_ring(k, 2) == 3 &&
	      kvmuf_vcpu_ring(k, 3) == 0 && kvmuf_vcpu_ring(k, 1000) == 0, "vcpu -> ring");

	producer_map(p);
	for (i = 0; i < 4; i++) {
		h = kvmuf_ring_header(k, i);
		CHECK(h && h->vcpu == (i ? i - 1 : KVMUF_VM_RING) && h->entries == 64,
		      "ring %u header", i);
	}
	CHECK(!kvmuf_ring_header(k, 4), "header past the last ring");

	/* Entries pushed by the module's code come out of the library, ring by ring. */
	for (i = 0; i < 30; i++)
		push(p, i % 4, 1000 + i);
	for (i = 0; i < 4; i++) {
		size_t n, want = 30 / 4 + (i < 30 % 4), j;

		CHECK(kvmuf_ring_pending(k, i) == want, "ring %u pending %zu", i,
		      kvmuf_ring_pending(k, i));
		n = kvmuf_ring_consume(k, i, out, 40);
		CHECK(n == want, "ring %u: %zu entries", i, n);
		for (j = 0; j < n; j++)
			CHECK(out[j].gfn == 1000 + i + 4 * j && out[j].vcpu == (i ? i - 1 : 7),
			      "ring %u entry %zu: gfn %llu", i, j, (unsigned long long)out[j].gfn);
		CHECK(p->ring[i].hdr->head == want, "ring %u: head %u in the shared page", i,
		      p->ring[i].hdr->head);
	}
	CHECK(kvmuf_ring_consume(k, 4, out, 40) == 0, "consume past the last ring");

	/* Exit records of vCPUs with a ring; vCPU 3 shares ring 0. */
	p->ring[2].hdr->exit_gfn = 0x123456789ULL;
	p->ring[2].hdr->exit_flags = KVMUF_FAULT_WRITE | KVMUF_EXIT_DETACHED;
	p->ring[2].hdr->exit_seq = 9;
	CHECK(kvmuf_vcpu_exit(k, 1, &gfn, &flags, &seq) == 0 && gfn == 0x123456789ULL &&
	      flags == (KVMUF_FAULT_WRITE | KVMUF_EXIT_DETACHED) && seq == 9, "exit record");
	CHECK(kvmuf_vcpu_exit(k, 1, NULL, NULL, NULL) == 0, "exit record, NULL outs");
	CHECK(kvmuf_vcpu_exit(k, 3, &gfn, NULL, NULL) == -ERANGE, "exit of a vCPU on ring 0");
	*kp = k;
}

/* A daemon wrapping a second fd picks up where the first consumer stopped. */
static void test_from_fd(struct producer *p)
{
	struct kvmuf_info saved = fake.info;
	struct kvmuf_fault out[70];
	struct kvmuf *k;
	unsigned int i;
	size_t n;
	int fd, ret;

	fd = open(fake_path, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0, "open");

	/* Geometry the library must not believe. */
	fake.info.api_version = KVMUF_API_VERSION + 1;
	CHECK(kvmuf_from_fd(fd, &k) == -EPROTO, "other API version");
	fake.info = saved;
	fake.info.nr_rings = 0;
	CHECK(kvmuf_from_fd(fd, &k) == -EPROTO, "no rings");
	fake.info = saved;
	fake.info.ring_entries = 48;
	CHECK(kvmuf_from_fd(fd, &k) == -EPROTO, "ring size not a power of two");
	fake.info = saved;
	fake.info.ring_stride = 4096;
	CHECK(kvmuf_from_fd(fd, &k) == -EPROTO, "stride too small");
	fake.info = saved;
	fake.info.mmap_size += 4096;
	CHECK(kvmuf_from_fd(fd, &k) == -EPROTO, "mmap_size not nr_rings * stride");
	fake.info = saved;
	fake.info.ring_stride = 1ULL << 62;
	fake.info.mmap_size = 0;
	CHECK(kvmuf_from_fd(fd, &k) == -EPROTO, "overflowing geometry");
	fake.info = saved;
	CHECK(fcntl(fd, F_GETFD) >= 0, "fd closed by a failed from_fd");

	ret = kvmuf_from_fd(fd, &k);
	REQUIRE(ret == 0, "from_fd: %s", kvmuf_strerror(ret));
	CHECK(kvmuf_fd(k) == fd && kvmuf_nr_rings(k) == 4, "wrapped");
	for (i = 0; i < 64; i++)
		push(p, 1, 5000 + i);
	CHECK(!kvmuf_kring_push(&p->ring[1], &out[0]), "ring 1 not full");
	n = kvmuf_ring_consume(k, 1, out, 70);
	CHECK(n == 64, "consumed %zu", n);
	for (i = 0; i < n; i++)
		CHECK(out[i].gfn == 5000 + i, "entry %u: %llu", i, (unsigned long long)out[i].gfn);
	kvmuf_close(k);
	CHECK(fcntl(fd, F_GETFD) < 0, "kvmuf_close left the fd open");
}

static void test_batches(struct kvmuf *k)
{
	size_t nr = 2 * KVMUF_MAX_BATCH + 5, i;
	struct kvmuf_gfn_range *r = calloc(nr, sizeof(*r));
	struct kvmuf_copy *c = calloc(nr, sizeof(*c));
	uint64_t changed = 1, unchanged = 1, pages = 0, first = 0;
	int ret;

	REQUIRE(r && c, "out of memory");
	for (i = 0; i < nr; i++) {
		r[i].gfn = c[i].gfn = i;
		r[i].npages = c[i].npages = 1 + i % 3;
		c[i].src = i * 4096;
		pages += r[i].npages;
		if (i < KVMUF_MAX_BATCH)
			first += r[i].npages;
	}

	/* Split in 1024 + 1024 + 5, counters added up. */
	fake.batch_calls = 0;
	fake.next_gfn = 0;
	ret = kvmuf_set_missing(k, r, nr, &changed, &unchanged);
	CHECK(ret == 0 && fake.batch_calls == 3 && fake.next_gfn == nr, "set_missing: %d, %u calls",
	      ret, fake.batch_calls);
	CHECK(changed == pages && unchanged == nr, "counters %llu/%llu",
	      (unsigned long long)changed, (unsigned long long)unchanged);
	CHECK(fake.last_req == KVMUF_SET_MISSING, "request");

	fake.batch_calls = 0;
	fake.next_gfn = 0;
	ret = kvmuf_resolve(k, r, nr, NULL, NULL);
	CHECK(ret == 0 && fake.batch_calls == 3 && fake.last_req == KVMUF_RESOLVE &&
	      fake.last_flags == 0, "resolve");

	fake.batch_calls = 0;
	fake.next_gfn = 0;
	ret = kvmuf_resolve_flags(k, r, nr, KVMUF_RESOLVE_POPULATE, &changed, NULL);
	CHECK(ret == 0 && fake.batch_calls == 3 && fake.last_req == KVMUF_RESOLVE &&
	      fake.last_flags == KVMUF_RESOLVE_POPULATE && changed == pages,
	      "resolve_flags: every chunk carries the flag");

	fake.batch_calls = 0;
	fake.next_gfn = 0;
	ret = kvmuf_resolve_copy(k, c, nr, &changed, &unchanged);
	CHECK(ret == 0 && fake.batch_calls == 3 && changed == pages && unchanged == nr &&
	      fake.last_req == KVMUF_RESOLVE_COPY, "resolve_copy: %d", ret);

	/* Exactly one full chunk, and a single element. */
	fake.batch_calls = 0;
	fake.next_gfn = 0;
	ret = kvmuf_resolve(k, r, KVMUF_MAX_BATCH, &changed, NULL);
	CHECK(ret == 0 && fake.batch_calls == 1 && changed == first, "one chunk");
	fake.batch_calls = 0;
	fake.next_gfn = 0;
	ret = kvmuf_resolve(k, r, 1, &changed, &unchanged);
	CHECK(ret == 0 && fake.batch_calls == 1 && changed == 1 && unchanged == 1, "one");

	/* Nothing to do: no ioctl, counters zeroed. */
	fake.batch_calls = 0;
	changed = unchanged = 7;
	CHECK(kvmuf_resolve(k, NULL, 0, &changed, &unchanged) == 0 && !fake.batch_calls &&
	      !changed && !unchanged, "nr 0");
	CHECK(kvmuf_resolve(k, NULL, 3, NULL, NULL) == -EFAULT, "NULL ranges");
	CHECK(kvmuf_resolve_copy(k, NULL, 3, NULL, NULL) == -EFAULT, "NULL copies");

	/* The second chunk fails: the error, and the first chunk's counts. */
	fake.batch_calls = 0;
	fake.next_gfn = 0;
	fake.fail_at = 2;
	ret = kvmuf_set_missing(k, r, nr, &changed, &unchanged);
	CHECK(ret == -EFAULT && fake.batch_calls == 2, "failing chunk: %d", ret);
	CHECK(changed == first && unchanged == KVMUF_MAX_BATCH, "partial counters %llu/%llu",
	      (unsigned long long)changed, (unsigned long long)unchanged);
	fake.batch_calls = 0;
	fake.next_gfn = 0;
	ret = kvmuf_resolve_copy(k, c, nr, &changed, &unchanged);
	CHECK(ret == -EFAULT && changed == first, "failing copy chunk: %d", ret);
	fake.fail_at = 0;

	/* Every count with the _counted forms: busy added up over the chunks. */
	{
		struct kvmuf_counts cnt = { 1, 1, 1 };
		uint64_t busy = 0, first_busy = 0;

		for (i = 0; i < nr; i++) {
			busy += i % 5 == 0;
			if (i < KVMUF_MAX_BATCH)
				first_busy += i % 5 == 0;
		}
		fake.batch_calls = 0;
		fake.next_gfn = 0;
		ret = kvmuf_resolve_counted(k, r, nr, 0, &cnt);
		CHECK(ret == 0 && cnt.changed == pages && cnt.unchanged == nr && cnt.busy == busy,
		      "resolve_counted: %d, %llu/%llu/%llu", ret, (unsigned long long)cnt.changed,
		      (unsigned long long)cnt.unchanged, (unsigned long long)cnt.busy);
		fake.batch_calls = 0;
		fake.next_gfn = 0;
		ret = kvmuf_resolve_copy_counted(k, c, nr, &cnt);
		CHECK(ret == 0 && cnt.changed == pages && cnt.busy == busy, "copy_counted: %d", ret);
		fake.batch_calls = 0;
		fake.next_gfn = 0;
		ret = kvmuf_set_missing_counted(k, r, nr, &cnt);
		CHECK(ret == 0 && cnt.changed == pages && !cnt.busy, "set_missing_counted: %d", ret);

		/* Interrupted in the second chunk: its progress is added, then EINTR. */
		fake.batch_calls = 0;
		fake.next_gfn = 0;
		fake.eintr_at = 2;
		ret = kvmuf_resolve_counted(k, r, nr, 0, &cnt);
		CHECK(ret == -EINTR && fake.batch_calls == 2 &&
		      cnt.changed == first + r[KVMUF_MAX_BATCH].npages &&
		      cnt.unchanged == KVMUF_MAX_BATCH + 1 &&
		      cnt.busy == first_busy + (KVMUF_MAX_BATCH % 5 == 0),
		      "interrupted: %d, %llu changed", ret, (unsigned long long)cnt.changed);
		fake.eintr_at = 0;
	}
	free(r);
	free(c);
}

static void test_other_ioctls(struct kvmuf *k)
{
	int ret;

	ret = kvmuf_add_range(k, 1ULL << 40, 512, KVMUF_RANGE_MISSING);
	CHECK(ret == 0 && fake.range.gfn == 1ULL << 40 && fake.range.npages == 512 &&
	      fake.range.flags == KVMUF_RANGE_MISSING, "add_range: %d", ret);
	CHECK(kvmuf_add_range(k, 0, 0, 0) == -EINVAL, "add_range of 0 pages");
	ret = kvmuf_wait(k, 42, 250);
	CHECK(ret == 0 && fake.wait.gfn == 42 && fake.wait.timeout_ms == 250, "wait: %d", ret);
	ret = kvmuf_wait(k, 43, 0);
	CHECK(ret == -ETIMEDOUT && fake.wait.timeout_ms == 0, "wait timeout: %d", ret);
	CHECK(fake.bad_args == 0, "%u calls with reserved fields or flags set", fake.bad_args);
}

/* poll(): the device fd number is taken over by a pipe's read end (dup2). */
static void test_poll(struct kvmuf *k)
{
	int p[2], ret;

	REQUIRE(!pipe(p), "pipe");
	REQUIRE(dup2(p[0], kvmuf_fd(k)) == kvmuf_fd(k), "dup2");
	close(p[0]);
	CHECK(kvmuf_poll(k, 0) == 0, "poll on an empty pipe");
	CHECK(write(p[1], "x", 1) == 1, "write");
	ret = kvmuf_poll(k, 1000);
	CHECK(ret == 1, "poll with data: %d", ret);
	close(p[1]);
	ret = kvmuf_poll(k, -1);
	CHECK(ret == -ENODEV, "poll after hang-up: %d", ret);
	/* No longer the (fake) device: the real ioctl refuses. */
	CHECK(kvmuf_wait(k, 42, 0) == -ENOTTY, "ioctl on a pipe");
}

int main(void)
{
	struct producer p;
	struct kvmuf *k = NULL;

	test_no_device();
	test_null_handle();
	test_strerror();
	fake_setup();
	test_attach_and_rings(&p, &k);
	test_from_fd(&p);
	test_batches(k);
	test_other_ioctls(k);
	test_poll(k);
	kvmuf_close(k);
	munmap(p.map, p.size);
	close(fake.memfd);
	if (!failures)
		printf("  library (fake device): ok\n");
	return check_summary("test_lib");
}
