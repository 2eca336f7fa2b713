// SPDX-License-Identifier: GPL-2.0
/* kvmuf-faulttest: the shared environment (see env.h). */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvmuf_snapshot.h"

#define FT_SEED		0x5eed0000cafe1234ULL
#define FT_RING		256

static void *page_of(const struct ft_env *e, unsigned char *base, uint64_t page)
{
	(void)e;
	return base + page * KVMUF_PAGE_SIZE;
}

/* The word at byte offset off of page's expected content. */
static uint64_t expected_word(const struct ft_env *e, uint64_t page, unsigned int off)
{
	uint64_t gpa = (e->base_gfn + page) << KVMUF_PAGE_SHIFT;

	if (off == 0 && e->written[page])
		return gpa ^ e->written[page];
	return kvmuf_snap_word(gpa, off, e->seed);
}

static uint64_t expected_sum(const struct ft_env *e, uint64_t page)
{
	uint64_t sum = 0;

	for (unsigned int off = 0; off < KVMUF_PAGE_SIZE; off += 8)
		sum += expected_word(e, page, off);
	return sum;
}

static void ms_sleep(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int ft_serve(struct ft_env *e, uint64_t page, uint64_t n)
{
	int ret;

	if (page > e->npages || n > e->npages - page)
		return -ERANGE;
	if (!n)
		return 0;
	if (e->mem->memfd < 0) {
		struct kvmuf_copy c = {
			.gfn = e->base_gfn + page,
			.npages = n,
			.src = (uintptr_t)page_of(e, e->snap, page),
		};

		return kvmuf_resolve_copy(e->k, &c, 1, NULL, NULL);
	}
	pthread_mutex_lock(&e->lock);
	for (uint64_t p = page; p < page + n; p++) {
		if (e->served[p])
			continue;
		memcpy(page_of(e, e->mem->hva, p), page_of(e, e->snap, p), KVMUF_PAGE_SIZE);
		e->served[p] = 1;
	}
	pthread_mutex_unlock(&e->lock);
	ret = kvmuf_resolve(e->k, &(struct kvmuf_gfn_range){ e->base_gfn + page, n }, 1,
			    NULL, NULL);
	return ret;
}

static void server_handle(struct ft_env *e, const struct kvmuf_fault *f)
{
	uint64_t page = f->gfn - e->base_gfn;

	if (f->gfn < e->base_gfn || page >= e->npages) {
		fprintf(stderr, "faulttest: fault on gfn 0x%llx outside the test memory\n",
			(unsigned long long)f->gfn);
		atomic_fetch_add(&e->errors, 1);
		return;
	}
	if (atomic_load(&e->hold)) {
		pthread_mutex_lock(&e->lock);
		if (e->nr_held < FT_MAX_HELD)
			e->held[e->nr_held++] = page;
		else
			atomic_fetch_add(&e->errors, 1);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	if (ft_serve(e, page, 1) < 0)
		atomic_fetch_add(&e->errors, 1);
}

static void *server_thread(void *arg)
{
	struct ft_env *e = arg;
	struct kvmuf_fault f[32];

	while (!atomic_load(&e->stop)) {
		if (kvmuf_poll(e->k, 20) < 0)
			ms_sleep(20);
		for (unsigned int r = 0; r < kvmuf_nr_rings(e->k); r++) {
			size_t n;

			while ((n = kvmuf_ring_consume(e->k, r, f, 32)))
				for (size_t i = 0; i < n; i++)
					server_handle(e, &f[i]);
		}
	}
	return NULL;
}

unsigned int ft_held(struct ft_env *e, uint64_t *pages, unsigned int max)
{
	unsigned int n;

	pthread_mutex_lock(&e->lock);
	n = e->nr_held < max ? e->nr_held : max;
	memcpy(pages, e->held, n * sizeof(*pages));
	pthread_mutex_unlock(&e->lock);
	return n;
}

int ft_serve_held(struct ft_env *e)
{
	uint64_t pages[FT_MAX_HELD];
	unsigned int n;
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	n = e->nr_held;
	memcpy(pages, e->held, n * sizeof(*pages));
	e->nr_held = 0;
	pthread_mutex_unlock(&e->lock);
	for (unsigned int i = 0; i < n && !ret; i++)
		ret = ft_serve(e, pages[i], 1);
	return ret;
}

int ft_wait_held(struct ft_env *e, unsigned int n, unsigned int ms)
{
	for (unsigned int t = 0; t <= ms; t += 10) {
		unsigned int have;

		pthread_mutex_lock(&e->lock);
		have = e->nr_held;
		pthread_mutex_unlock(&e->lock);
		if (have >= n)
			return 0;
		ms_sleep(10);
	}
	return -ETIMEDOUT;
}

int ft_stats(struct ft_env *e, struct kvmuf_stats *st)
{
	int ret = kvmuf_stats(e->k, st);

	if (ret < 0)
		fprintf(stderr, "faulttest: KVMUF_GET_STATS: %s\n", kvmuf_strerror(ret));
	return ret;
}

int ft_wait_parks(struct ft_env *e, uint64_t n, unsigned int ms)
{
	struct kvmuf_stats st;

	for (unsigned int t = 0; t <= ms; t += 10) {
		if (ft_stats(e, &st) < 0)
			return -EIO;
		if (st.parks >= n)
			return 0;
		ms_sleep(10);
	}
	return -ETIMEDOUT;
}

uint64_t ft_sums_wrong(struct kvmuf_vm *vm, const unsigned char *snap, uint64_t pages)
{
	const uint64_t *sums = kvmuf_vm_page_sums(vm);
	uint64_t bad = 0;

	for (uint64_t p = 0; p < pages; p++) {
		const uint64_t *w = (const uint64_t *)(snap + p * KVMUF_PAGE_SIZE);
		uint64_t sum = 0;

		for (unsigned int i = 0; i < KVMUF_PAGE_SIZE / 8; i++)
			sum += w[i];
		bad += sums[p] != sum;
	}
	return bad;
}

long ft_guest_sums(struct ft_env *e, const char *what, uint64_t first, uint64_t n)
{
	const uint64_t *sums = kvmuf_vm_page_sums(e->vm);
	long bad = 0;

	if (kvmuf_vm_run_pages(e->vm, 0, KVMUF_MODE_SUM, 0, first, n, NULL) != 0) {
		fprintf(stderr, "FAIL: %s: the guest did not finish summing pages %llu..%llu\n",
			what, (unsigned long long)first, (unsigned long long)(first + n - 1));
		return -1;
	}
	for (uint64_t p = first; p < first + n; p++) {
		if (sums[p] == expected_sum(e, p))
			continue;
		if (!bad++)
			fprintf(stderr, "FAIL: %s: the guest read page %llu (gfn 0x%llx) as sum 0x%llx, its data sums to 0x%llx%s\n",
				what, (unsigned long long)p,
				(unsigned long long)(e->base_gfn + p), (unsigned long long)sums[p],
				(unsigned long long)expected_sum(e, p),
				sums[p] ? "" : " (a zero page)");
	}
	return bad;
}

int ft_guest_write(struct ft_env *e, uint64_t first, uint64_t n, uint64_t seed)
{
	uint64_t result = 0;

	if (kvmuf_vm_run_pages(e->vm, 0, KVMUF_MODE_WRITE, seed, first, n, &result) != 0 ||
	    result != n) {
		fprintf(stderr, "FAIL: the guest did not write pages %llu..%llu\n",
			(unsigned long long)first, (unsigned long long)(first + n - 1));
		return -1;
	}
	for (uint64_t p = first; p < first + n; p++)
		e->written[p] = seed;
	return 0;
}

long ft_host_compare(struct ft_env *e, const char *what)
{
	long bad = 0;

	for (uint64_t p = 0; p < e->npages; p++) {
		const uint64_t *w = page_of(e, e->mem->hva, p);

		for (unsigned int off = 0; off < KVMUF_PAGE_SIZE; off += 8) {
			if (w[off / 8] == expected_word(e, p, off))
				continue;
			if (!bad)
				fprintf(stderr, "FAIL: %s: page %llu (gfn 0x%llx) differs at byte %u: 0x%llx, want 0x%llx\n",
					what, (unsigned long long)p,
					(unsigned long long)(e->base_gfn + p), off,
					(unsigned long long)w[off / 8],
					(unsigned long long)expected_word(e, p, off));
			bad++;
			break;
		}
	}
	return bad;
}

/* The value of field (in kB) of the smaps entry that maps addr, or -1. */
static long smaps_kb(const void *addr, const char *field)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char name[64];
		long v;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "%63[^:]: %ld kB", name, &v) == 2 && !strcmp(name, field)) {
			kb = v;
			break;
		}
	}
	fclose(f);
	return kb;
}

long ft_huge_kb(struct ft_env *e)
{
	return smaps_kb(e->mem->hva, e->mem->memfd < 0 ? "AnonHugePages" : "ShmemPmdMapped");
}

int ft_sysfs_set(const char *path, const char *value, char *old, size_t len)
{
	int fd = open(path, O_RDWR);
	ssize_t n;
	char *b, *end;

	if (fd < 0)
		return -errno;
	n = read(fd, old, len - 1);
	old[n > 0 ? n : 0] = 0;
	/* "always [madvise] never": keep the bracketed word. */
	b = strchr(old, '[');
	end = b ? strchr(b, ']') : NULL;
	if (b && end) {
		memmove(old, b + 1, (size_t)(end - b - 1));
		old[end - b - 1] = 0;
	}
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

void ft_sysfs_restore(const char *path, const char *old)
{
	char ignored[128];

	if (*old)
		ft_sysfs_set(path, old, ignored, sizeof(ignored));
}

int ft_env_create(struct ft_env *e, const struct ft_config *cfg)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = 1,
		.bytes_per_vcpu = cfg->pages * KVMUF_PAGE_SIZE,
		.backing = cfg->backing,
		.thp = cfg->thp,
	};
	int ret;

	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	if (kvmuf_vm_create(&vcfg, &e->vm) != KVMUF_CREATE_OK) {
		fprintf(stderr, "FAIL: cannot create the VM\n");
		return -1;
	}
	e->mem = kvmuf_vm_test_mem(e->vm);
	e->base_gfn = e->mem->gpa >> KVMUF_PAGE_SHIFT;
	e->npages = cfg->pages;
	e->seed = FT_SEED;
	e->snap = aligned_alloc(KVMUF_PAGE_SIZE, e->npages * KVMUF_PAGE_SIZE);
	e->written = calloc(e->npages, sizeof(*e->written));
	e->served = calloc(e->npages, 1);
	if (!e->snap || !e->written || !e->served) {
		fprintf(stderr, "FAIL: out of memory\n");
		return -1;
	}
	for (uint64_t p = 0; p < e->npages; p++)
		kvmuf_snap_fill_page(page_of(e, e->snap, p), e->base_gfn + p, e->seed);

	ret = kvmuf_open(&e->k);
	if (!ret)
		ret = kvmuf_attach(e->k, kvmuf_vm_fd(e->vm), cfg->attach_flags, 1, FT_RING);
	if (!ret)
		ret = kvmuf_add_range(e->k, e->base_gfn, e->npages,
				      KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	if (ret) {
		fprintf(stderr, "FAIL: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return -1;
	}
	if (pthread_create(&e->server, NULL, server_thread, e)) {
		fprintf(stderr, "FAIL: cannot start the server\n");
		return -1;
	}
	e->server_running = 1;
	return 0;
}

void ft_env_destroy(struct ft_env *e)
{
	if (e->server_running) {
		atomic_store(&e->stop, 1);
		pthread_join(e->server, NULL);
	}
	kvmuf_close(e->k);
	kvmuf_vm_destroy(e->vm);
	free(e->snap);
	free(e->written);
	free(e->served);
	pthread_mutex_destroy(&e->lock);
	memset(e, 0, sizeof(*e));
}
