// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest races: RESOLVE, RESOLVE_COPY and SET_MISSING on the same GFNs from
 * several threads at once, while a vCPU faults on them, keep the per-GFN state machine
 * exact (see the uapi header).
 *
 * Module-only anonymous memory of 64 pages; three threads hammer the same GFNs, one with
 * long RESOLVE_COPYs (16 to 63 pages) from a pattern, one with RESOLVE, one with
 * SET_MISSING; a vCPU reads the pages in a loop. Checked, 20 rounds:
 *   - the counts add up exactly: every GFN that became present was made so by one call
 *     (sum of RESOLVE* "changed" == sum of SET_MISSING "changed" + initial missing -
 *     final missing), and the module's own missing count agrees;
 *   - no page is ever half copied: each holds the whole pattern or none of it;
 *   - once everything is resolved the vCPU finishes its run.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "check.h"
#include "kvmuf_backstop.h"

#define PAGES		64
#define ROUNDS		20
#define CALLS		400	/* per thread per round */

struct races {
	struct kvmuf_vm *vm;
	struct kvmuf *k;
	uint64_t base_gfn;
	unsigned char *pattern;		/* the copy source */
	atomic_int go, stop;
	_Atomic uint64_t resolved, missed;	/* "changed" of each side */
	atomic_uint errors;
};

static uint64_t pick(unsigned int *seed)
{
	return (uint64_t)rand_r(seed) % PAGES;
}

static void *copier(void *arg)
{
	struct races *r = arg;
	unsigned int seed = 1;

	while (!atomic_load(&r->go))
		;
	for (int i = 0; i < CALLS; i++) {
		/* Long copies: the others find GFNs held by one most of the time. */
		uint64_t p = pick(&seed) % 16, n = 16 + pick(&seed) % 48, changed = 0;
		struct kvmuf_copy c;

		if (p + n > PAGES)
			n = PAGES - p;
		c = (struct kvmuf_copy){ r->base_gfn + p, n,
					 (uintptr_t)r->pattern + p * KVMUF_PAGE_SIZE };
		if (kvmuf_resolve_copy(r->k, &c, 1, &changed, NULL) < 0)
			atomic_fetch_add(&r->errors, 1);
		atomic_fetch_add(&r->resolved, changed);
	}
	return NULL;
}

static void *batcher(void *arg, int set_missing, unsigned int seed)
{
	struct races *r = arg;

	while (!atomic_load(&r->go))
		;
	for (int i = 0; i < CALLS; i++) {
		uint64_t p = pick(&seed), n = 1 + pick(&seed) % 4, changed = 0;
		struct kvmuf_gfn_range g;
		int ret;

		if (p + n > PAGES)
			n = PAGES - p;
		g = (struct kvmuf_gfn_range){ r->base_gfn + p, n };
		ret = set_missing ? kvmuf_set_missing(r->k, &g, 1, &changed, NULL) :
				    kvmuf_resolve(r->k, &g, 1, &changed, NULL);
		if (ret < 0)
			atomic_fetch_add(&r->errors, 1);
		atomic_fetch_add(set_missing ? &r->missed : &r->resolved, changed);
	}
	return NULL;
}

static void *resolver(void *arg)
{
	return batcher(arg, 0, 2);
}

static void *misser(void *arg)
{
	return batcher(arg, 1, 3);
}

static void *vcpu(void *arg)
{
	struct races *r = arg;
	uint64_t sum;

	while (!atomic_load(&r->stop))
		if (kvmuf_vm_run_pages(r->vm, 0, KVMUF_MODE_READ, 0, 0, PAGES, &sum))
			break;
	return NULL;
}

/* Each page is all pattern or untouched (zero): never a mix. */
static unsigned int torn_pages(struct races *r)
{
	const unsigned char *mem = kvmuf_vm_test_mem(r->vm)->hva;
	unsigned int torn = 0;

	for (uint64_t p = 0; p < PAGES; p++) {
		const unsigned char *pg = mem + p * KVMUF_PAGE_SIZE;
		const unsigned char *want = r->pattern + p * KVMUF_PAGE_SIZE;
		int all = !memcmp(pg, want, KVMUF_PAGE_SIZE), none = 1;

		for (size_t i = 0; i < KVMUF_PAGE_SIZE && none; i++)
			none = !pg[i];
		torn += !all && !none;
	}
	return torn;
}

struct held_copy {
	struct kvmuf *k;
	struct kvmuf_copy c;
	uint64_t changed, unchanged;
	int ret;
};

static void *held_copier(void *arg)
{
	struct held_copy *h = arg;

	h->ret = kvmuf_resolve_copy(h->k, &h->c, 1, &h->changed, &h->unchanged);
	return NULL;
}

/* The raw batch, for its busy count (the library reports changed and unchanged only). */
static int batch_busy(struct kvmuf *k, unsigned long req, void *ranges, uint64_t *changed,
		      uint64_t *busy)
{
	struct kvmuf_batch b = { .ranges = (uintptr_t)ranges, .nr = 1 };
	struct kvmuf_copy_batch cb = { .copies = (uintptr_t)ranges, .nr = 1 };
	int ret = ioctl(kvmuf_fd(k), req, req == KVMUF_RESOLVE_COPY ? (void *)&cb : (void *)&b);

	*changed = req == KVMUF_RESOLVE_COPY ? cb.changed : b.changed;
	*busy = req == KVMUF_RESOLVE_COPY ? cb.busy : b.busy;
	return ret < 0 ? -errno : 0;
}

static int held_case(void)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = 1, .bytes_per_vcpu = PAGES * KVMUF_PAGE_SIZE,
		.backing = KVMUF_MEM_ANON, .thp = KVMUF_THP_NEVER,
	};
	const uint64_t n = 4;
	struct held_copy h = { 0 };
	struct kvmuf_gfn_range g;
	struct kvmuf_copy c2;
	struct kvmuf_vm *vm;
	struct kvmuf_info before, after;
	struct pollfd pfd;
	unsigned char *src, *other, *fill;
	uint64_t changed, busy, base;
	pthread_t th;
	int uffd, ret;

	if (kvmuf_vm_create(&vcfg, &vm) != KVMUF_CREATE_OK)
		return -1;
	base = kvmuf_vm_test_mem(vm)->gpa / KVMUF_PAGE_SIZE;
	src = mmap(NULL, n * KVMUF_PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	other = aligned_alloc(KVMUF_PAGE_SIZE, n * KVMUF_PAGE_SIZE);
	fill = aligned_alloc(KVMUF_PAGE_SIZE, n * KVMUF_PAGE_SIZE);
	memset(other, 0x55, n * KVMUF_PAGE_SIZE);
	memset(fill, 0xc3, n * KVMUF_PAGE_SIZE);
	ret = kvmuf_backstop_open(&uffd);
	if (!ret)
		ret = kvmuf_backstop_register(uffd, src, n * KVMUF_PAGE_SIZE);
	if (ret) {
		printf("  held copy: no userfaultfd here (%s): skipped\n", strerror(-ret));
		kvmuf_vm_destroy(vm);
		return 0;
	}
	ret = kvmuf_open(&h.k);
	if (!ret)
		ret = kvmuf_attach(h.k, kvmuf_vm_fd(vm), 0, 1, 64);
	if (!ret)
		ret = kvmuf_add_range(h.k, base, PAGES,
				      KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	CHECK(ret == 0 && kvmuf_info(h.k, &before) == 0, "held copy: set-up: %s",
	      kvmuf_strerror(ret));
	h.c = (struct kvmuf_copy){ base, n, (uintptr_t)src };
	pthread_create(&th, NULL, held_copier, &h);
	/* The copy has claimed its GFNs and waits for its source. */
	pfd = (struct pollfd){ .fd = uffd, .events = POLLIN };
	CHECK(poll(&pfd, 1, 10000) == 1, "held copy: the copy never read its source");

	g = (struct kvmuf_gfn_range){ base, n };
	CHECK(batch_busy(h.k, KVMUF_RESOLVE, &g, &changed, &busy) == 0 && changed == 0 &&
	      busy == n, "held copy: RESOLVE meanwhile: %llu changed, %llu busy (want 0, %llu)",
	      (unsigned long long)changed, (unsigned long long)busy, (unsigned long long)n);
	c2 = (struct kvmuf_copy){ base, n, (uintptr_t)other };
	CHECK(batch_busy(h.k, KVMUF_RESOLVE_COPY, &c2, &changed, &busy) == 0 && changed == 0 &&
	      busy == n, "held copy: a second RESOLVE_COPY: %llu changed, %llu busy",
	      (unsigned long long)changed, (unsigned long long)busy);
	CHECK(batch_busy(h.k, KVMUF_SET_MISSING, &g, &changed, &busy) == 0 && changed == 0,
	      "held copy: SET_MISSING meanwhile changed %llu (they are still missing)",
	      (unsigned long long)changed);

	/* The source arrives: the held copy finishes, and it alone counts the GFNs. */
	for (uint64_t i = 0; i < n; i++) {
		struct uffdio_copy uc = { .dst = (uintptr_t)src + i * KVMUF_PAGE_SIZE,
					  .src = (uintptr_t)fill + i * KVMUF_PAGE_SIZE,
					  .len = KVMUF_PAGE_SIZE };

		ioctl(uffd, UFFDIO_COPY, &uc);
	}
	pthread_join(th, NULL);
	CHECK(h.ret == 0 && h.changed == n, "held copy: it made %llu present (ret %d), want %llu",
	      (unsigned long long)h.changed, h.ret, (unsigned long long)n);
	CHECK(kvmuf_info(h.k, &after) == 0 && before.nr_missing - after.nr_missing == n,
	      "held copy: the module's missing count went %llu -> %llu",
	      (unsigned long long)before.nr_missing, (unsigned long long)after.nr_missing);
	CHECK(!memcmp(kvmuf_vm_test_mem(vm)->hva, fill, n * KVMUF_PAGE_SIZE),
	      "held copy: the pages do not hold the held copy's data");
	kvmuf_close(h.k);
	kvmuf_vm_destroy(vm);
	close(uffd);
	munmap(src, n * KVMUF_PAGE_SIZE);
	free(other);
	free(fill);
	return 0;
}

static int one_round(int round)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = 1, .bytes_per_vcpu = PAGES * KVMUF_PAGE_SIZE,
		.backing = KVMUF_MEM_ANON, .thp = KVMUF_THP_NEVER,
	};
	struct races r = { 0 };
	struct kvmuf_gfn_range all;
	struct kvmuf_info info;
	pthread_t th[4];
	int64_t expect;
	int ret;

	if (kvmuf_vm_create(&vcfg, &r.vm) != KVMUF_CREATE_OK)
		return -1;
	r.base_gfn = kvmuf_vm_test_mem(r.vm)->gpa / KVMUF_PAGE_SIZE;
	r.pattern = aligned_alloc(KVMUF_PAGE_SIZE, PAGES * KVMUF_PAGE_SIZE);
	memset(r.pattern, 0xa0 + round, PAGES * KVMUF_PAGE_SIZE);
	ret = kvmuf_open(&r.k);
	if (!ret)
		ret = kvmuf_attach(r.k, kvmuf_vm_fd(r.vm), 0, 1, 256);
	if (!ret)
		ret = kvmuf_add_range(r.k, r.base_gfn, PAGES,
				      KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	if (ret) {
		fprintf(stderr, "FAIL: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return -1;
	}
	pthread_create(&th[0], NULL, copier, &r);
	pthread_create(&th[1], NULL, resolver, &r);
	pthread_create(&th[2], NULL, misser, &r);
	pthread_create(&th[3], NULL, vcpu, &r);
	atomic_store(&r.go, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);

	CHECK(kvmuf_info(r.k, &info) == 0, "info");
	expect = PAGES + (int64_t)r.missed - (int64_t)r.resolved;
	CHECK(atomic_load(&r.errors) == 0, "round %d: %u calls failed", round,
	      atomic_load(&r.errors));
	CHECK((int64_t)info.nr_missing == expect && info.nr_missing <= PAGES,
	      "round %d: the module counts %llu missing, the calls' counts say %lld (%d + %llu set missing - %llu resolved)",
	      round, (unsigned long long)info.nr_missing, (long long)expect, PAGES,
	      (unsigned long long)r.missed, (unsigned long long)r.resolved);
	CHECK(torn_pages(&r) == 0, "round %d: %u pages half copied", round, torn_pages(&r));

	/* Resolve everything: the vCPU finishes its run, and stops. */
	atomic_store(&r.stop, 1);
	all = (struct kvmuf_gfn_range){ r.base_gfn, PAGES };
	for (int i = 0;; i++) {
		uint64_t changed = 0;

		kvmuf_resolve(r.k, &all, 1, &changed, NULL);
		if (!pthread_tryjoin_np(th[3], NULL))
			break;
		if (i == 300) {
			fprintf(stderr, "FAIL: round %d: the vCPU did not finish once all was resolved\n",
				round);
			return -2;
		}
		usleep(10000);
	}
	CHECK(kvmuf_info(r.k, &info) == 0 && info.nr_missing == 0,
	      "round %d: %llu missing after resolving all", round,
	      (unsigned long long)info.nr_missing);
	kvmuf_close(r.k);
	kvmuf_vm_destroy(r.vm);
	free(r.pattern);
	return 0;
}

int ft_case_races(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (held_case() < 0)
		failures++;
	for (int round = 0; round < ROUNDS; round++) {
		int ret = one_round(round);

		if (ret == -2)
			return 1;	/* a vCPU thread is stuck: end the process */
		if (ret < 0)
			failures++;
	}
	if (failures)
		return 1;
	printf("ok: a copy held mid-way: RESOLVE and RESOLVE_COPY report its GFNs busy, SET_MISSING finds them missing, it alone makes them present\n");
	printf("ok: %d rounds of RESOLVE_COPY, RESOLVE and SET_MISSING racing on 64 GFNs with a vCPU: counts exact, no page half copied, the vCPU finishes\n",
	       ROUNDS);
	return 0;
}
