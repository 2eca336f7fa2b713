// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest fuzz [CALLS [SEED]]: random ioctls and mmaps against an attached and
 * an unattached device fd, while a vCPU faults on missing pages, a page engine serves
 * them and the ring headers are scribbled on. Every call must return (the test runs
 * under the harness's time limit; a call that hangs fails it), none may splat in the
 * kernel log, and afterwards, once every GFN is resolved, the VM must still complete a
 * run over all its pages.
 *
 * The calls: every ioctl of the device and unknown ones, with sizes, flags, reserved
 * fields, GFN ranges, batch pointers (valid, NULL, unmapped, misaligned) and counts
 * drawn at random around the edges of what is valid; mmap and munmap at random offsets
 * and lengths; writes of random values into the head, need_wakeup and exit fields of
 * the mapped ring headers (all of which userspace may write). The SEED makes a run
 * repeatable.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"

#define PAGES		256
#define SEED		0xf022f022f022f022ULL
#define RING		64

struct fuzz {
	uint64_t rng;
	struct kvmuf_vm *vm;
	struct kvmuf *k;		/* attached */
	int dev, loose;			/* the attached fd, an unattached one */
	uint64_t base_gfn;
	size_t ring_bytes;
	unsigned char *rings;		/* our own mapping of the attached fd's rings */
	unsigned char *snap;
	unsigned char *bad;		/* a mapping with no access: EFAULT bait */
	atomic_int stop;
	unsigned int vcpu_failed;
	unsigned long calls, errors[256];
};

static uint64_t rnd(struct fuzz *f)
{
	uint64_t x = f->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return f->rng = x;
}

/* Mostly around the edges: 0, 1, small, the limits, the range, or anything. */
static uint64_t edge(struct fuzz *f, uint64_t valid_lo, uint64_t valid_hi)
{
	switch (rnd(f) % 8) {
	case 0: return 0;
	case 1: return 1;
	case 2: return valid_lo;
	case 3: return valid_hi;
	case 4: return valid_hi + 1;
	case 5: return valid_lo + rnd(f) % (valid_hi - valid_lo + 1);
	case 6: return UINT64_MAX - rnd(f) % 4;
	default: return rnd(f);
	}
}

/* A user pointer: a good buffer, NULL, no-access memory, misaligned, or kernel space. */
static uint64_t user_ptr(struct fuzz *f, void *good)
{
	switch (rnd(f) % 6) {
	case 0: return 0;
	case 1: return (uintptr_t)f->bad;
	case 2: return (uintptr_t)good + 1;
	case 3: return 0xffff800000000000ULL;
	default: return (uintptr_t)good;
	}
}

static void fill_ranges(struct fuzz *f, struct kvmuf_gfn_range *g, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		g[i].gfn = rnd(f) % 4 ? f->base_gfn + rnd(f) % PAGES : edge(f, 0, f->base_gfn);
		g[i].npages = rnd(f) % 4 ? 1 + rnd(f) % 8 : edge(f, 1, PAGES);
	}
}

static void one_call(struct fuzz *f, int fd)
{
	struct kvmuf_gfn_range g[16];
	struct kvmuf_copy c[16];
	union {
		struct kvmuf_attach a;
		struct kvmuf_info info;
		struct kvmuf_range r;
		struct kvmuf_batch b;
		struct kvmuf_copy_batch cb;
		struct kvmuf_wait w;
		struct kvmuf_stats st;
		unsigned char raw[512];
	} u;
	unsigned int nr = 1 + rnd(f) % 16, which = rnd(f) % 12;
	unsigned long req;
	void *arg = &u;
	int ret;

	memset(&u, 0, sizeof(u));
	fill_ranges(f, g, 16);
	for (unsigned int i = 0; i < 16; i++)
		c[i] = (struct kvmuf_copy){ g[i].gfn, g[i].npages % 4,
					    user_ptr(f, f->snap + (rnd(f) % PAGES) * 4096) };
	switch (which) {
	case 0:
		req = KVMUF_ATTACH;
		u.a.vm_fd = rnd(f) % 3 ? kvmuf_vm_fd(f->vm) : (int)edge(f, 0, 64);
		u.a.flags = (uint32_t)edge(f, 0, 1);
		u.a.nr_vcpu_rings = (uint32_t)edge(f, 0, 8);
		u.a.ring_entries = (uint32_t)edge(f, 16, 128);
		break;
	case 1: req = KVMUF_GET_INFO; break;
	case 2:
		req = KVMUF_ADD_RANGE;
		u.r.gfn = edge(f, 0, f->base_gfn + PAGES);
		u.r.npages = edge(f, 1, 64);
		/* Never MISSING without MODULE_ONLY: the check refuses; both are fine. */
		u.r.flags = (uint32_t)edge(f, 0, 3);
		break;
	case 3: case 4: case 5:
		req = which == 3 ? KVMUF_SET_MISSING : KVMUF_RESOLVE;
		u.b.ranges = user_ptr(f, g);
		u.b.nr = rnd(f) % 8 ? nr : (uint32_t)edge(f, 0, KVMUF_MAX_BATCH + 1);
		u.b.flags = rnd(f) % 4 ? 0 : (uint32_t)edge(f, 0, 3);
		break;
	case 6:
		req = KVMUF_RESOLVE_COPY;
		u.cb.copies = user_ptr(f, c);
		u.cb.nr = rnd(f) % 8 ? nr : (uint32_t)edge(f, 0, KVMUF_MAX_BATCH + 1);
		break;
	case 7:
		req = KVMUF_WAIT;
		u.w.gfn = f->base_gfn + rnd(f) % (PAGES + 8);
		u.w.timeout_ms = 1 + rnd(f) % 3;
		u.w.flags = rnd(f) % 8 ? 0 : 1;
		break;
	case 8: req = KVMUF_GET_STATS; break;
	case 9: req = KVMUF_GET_API_VERSION; arg = NULL; break;
	case 10:
		/* An unknown or malformed request: number, direction, size. */
		req = _IOC(rnd(f) % 4, KVMUF_IO, rnd(f) % 16, rnd(f) % 300);
		break;
	default:
		arg = (void *)(uintptr_t)user_ptr(f, &u);
		req = (rnd(f) % 2 ? KVMUF_GET_INFO : KVMUF_SET_MISSING);
		break;
	}
	/* Now and then a reserved field set. */
	if (rnd(f) % 16 == 0)
		u.raw[sizeof(u.b) - 1 - rnd(f) % 16] = 1;
	ret = ioctl(fd, req, arg);
	f->errors[ret < 0 ? errno & 0xff : 0]++;
	f->calls++;
}

static void one_mmap(struct fuzz *f, int fd)
{
	size_t len = rnd(f) % 3 ? 4096 * (1 + rnd(f) % 8) : (size_t)edge(f, 1, f->ring_bytes);
	off_t off = rnd(f) % 3 ? (off_t)(4096 * (rnd(f) % 8)) : (off_t)edge(f, 0, f->ring_bytes);
	int prot = rnd(f) % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
	void *p = mmap(NULL, len, prot, rnd(f) % 4 ? MAP_SHARED : MAP_PRIVATE, fd, off);

	if (p != MAP_FAILED) {
		volatile unsigned char *b = p;

		(void)b[0];		/* the mapping is backed */
		munmap(p, len);
	}
	f->calls++;
}

/* Userspace may write its consumer index and the exit record: write garbage. */
static void scribble(struct fuzz *f)
{
	struct kvmuf_info info;
	struct kvmuf_ring_header *h;

	if (kvmuf_info(f->k, &info) < 0 || !info.nr_rings)
		return;
	h = (void *)(f->rings + (rnd(f) % info.nr_rings) * info.ring_stride);
	switch (rnd(f) % 4) {
	case 0: __atomic_store_n(&h->head, (uint32_t)rnd(f), __ATOMIC_RELEASE); break;
	case 1: __atomic_store_n(&h->need_wakeup, (uint32_t)rnd(f), __ATOMIC_RELEASE); break;
	case 2: __atomic_store_n(&h->exit_seq, (uint32_t)rnd(f), __ATOMIC_RELEASE); break;
	default: __atomic_store_n(&h->exit_gfn, rnd(f), __ATOMIC_RELEASE); break;
	}
}

/* The vCPU: write every page, again and again, while the fuzz goes on. */
static void *vcpu_thread(void *arg)
{
	struct fuzz *f = arg;
	unsigned int failed = 0;
	uint64_t result;

	while (!atomic_load(&f->stop) && failed < 10)
		if (kvmuf_vm_run_pages(f->vm, 0, KVMUF_MODE_WRITE, 0x1234, 0, PAGES, &result))
			failed++;
	f->vcpu_failed = failed;
	return NULL;
}

/* After the fuzz: every ring consumed (whatever its head says), nothing waits. */
static void settle_rings(struct fuzz *f)
{
	struct kvmuf_info info;

	if (kvmuf_info(f->k, &info) < 0)
		return;
	for (uint32_t i = 0; i < info.nr_rings; i++) {
		struct kvmuf_ring_header *h = (void *)(f->rings + i * info.ring_stride);

		__atomic_store_n(&h->head, __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
	}
}

static int setup(struct fuzz *f)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = 1, .bytes_per_vcpu = PAGES * 4096, .backing = KVMUF_MEM_ANON,
	};
	struct kvmuf_info info;
	int ret;

	if (kvmuf_vm_create(&vcfg, &f->vm) != KVMUF_CREATE_OK)
		return -1;
	f->base_gfn = kvmuf_vm_test_mem(f->vm)->gpa / 4096;
	ret = kvmuf_open(&f->k);
	if (!ret)
		ret = kvmuf_attach(f->k, kvmuf_vm_fd(f->vm), 0, 1, RING);
	if (!ret)
		ret = kvmuf_add_range(f->k, f->base_gfn, PAGES,
				      KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	if (!ret)
		ret = kvmuf_info(f->k, &info);
	if (ret) {
		fprintf(stderr, "FAIL: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return -1;
	}
	f->dev = kvmuf_fd(f->k);
	f->ring_bytes = info.ring_stride * info.nr_rings;
	f->rings = mmap(NULL, f->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f->dev, 0);
	f->loose = open(KVMUF_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	f->snap = aligned_alloc(4096, PAGES * 4096);
	f->bad = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->rings == MAP_FAILED || f->loose < 0 || !f->snap || f->bad == MAP_FAILED)
		return -1;
	for (uint64_t p = 0; p < PAGES; p++)
		kvmuf_snap_fill_page(f->snap + p * 4096, f->base_gfn + p, SEED);
	return 0;
}

int ft_case_fuzz(int argc, char **argv)
{
	unsigned long total = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
	struct fuzz f = { .rng = argc > 2 ? strtoull(argv[2], NULL, 0) : SEED };
	struct kvmuf_server_config sc = { 0 };
	struct kvmuf_gfn_range all;
	struct kvmuf_server *srv;
	uint64_t result = 0;
	pthread_t vcpu;

	if (!f.rng)
		f.rng = SEED;
	printf("  fuzz: %lu calls, seed 0x%llx\n", total, (unsigned long long)f.rng);
	if (setup(&f) < 0) {
		fprintf(stderr, "FAIL: fuzz set-up\n");
		return 1;
	}
	sc = (struct kvmuf_server_config) {
		.ctx = f.k, .nr_threads = 1, .geom = { f.base_gfn, PAGES, f.base_gfn, PAGES },
		.snap_data = f.snap, .poll_ms = 5,
	};
	if (kvmuf_server_start(&sc, &srv) < 0) {
		fprintf(stderr, "FAIL: page engine\n");
		return 1;
	}
	CHECK(pthread_create(&vcpu, NULL, vcpu_thread, &f) == 0, "vCPU thread");
	while (f.calls < total) {
		unsigned int what = rnd(&f) % 16;

		if (what < 10)
			one_call(&f, f.dev);
		else if (what < 13)
			one_call(&f, f.loose);
		else if (what < 15)
			one_mmap(&f, rnd(&f) % 2 ? f.dev : f.loose);
		else
			scribble(&f);
	}
	/*
	 * Calm down: the rings consumed (their heads may be garbage), every GFN present;
	 * the vCPU, parked or waiting for ring space, then finishes its run and stops.
	 */
	atomic_store(&f.stop, 1);
	kvmuf_server_stop(srv, NULL);
	all = (struct kvmuf_gfn_range){ f.base_gfn, PAGES };
	for (int i = 0;; i++) {
		settle_rings(&f);
		CHECK(kvmuf_resolve(f.k, &all, 1, NULL, NULL) == 0, "final RESOLVE");
		if (!pthread_tryjoin_np(vcpu, NULL))
			break;
		if (i == 200) {
			fprintf(stderr, "FAIL: the vCPU thread did not finish after everything was resolved\n");
			return 1;	/* the process exit ends it */
		}
		usleep(10000);
	}
	CHECK(f.vcpu_failed < 10, "the vCPU's runs kept failing during the fuzz");
	CHECK(kvmuf_vm_run_pages(f.vm, 0, KVMUF_MODE_WRITE, 0x5678, 0, PAGES, &result) == 0 &&
	      result == PAGES, "the VM completes a run after the fuzz (%llu pages)",
	      (unsigned long long)result);
	printf("  fuzz: errnos:");
	for (int e = 0; e < 256; e++)
		if (f.errors[e])
			printf(" %s %lu", e ? strerrorname_np(e) ? strerrorname_np(e) : "?" : "ok",
			       f.errors[e]);
	printf("\n");
	close(f.loose);
	munmap(f.rings, f.ring_bytes);
	kvmuf_close(f.k);
	kvmuf_vm_destroy(f.vm);
	free(f.snap);
	if (failures)
		return 1;
	printf("ok: %lu fuzzed calls returned; the VM completed its run afterwards\n", f.calls);
	return 0;
}
