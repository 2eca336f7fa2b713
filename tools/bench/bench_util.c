// SPDX-License-Identifier: GPL-2.0
/* kvmuf-bench: helpers shared by the modes (thread pinning, page-cache filling). */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

int pin_thread(const int *cpus, unsigned int n, unsigned int i)
{
	cpu_set_t set;

	if (!n)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpus[i % n], &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/*
 * uffd-minor and kvmuf-minor start from a page cache that already holds every page
 * (a VMM that restored it, or a shared file): write it through a second mapping, so
 * that the guest's mapping has no PTE yet and every first touch still faults.
 */
int fill_page_cache(struct run_ctx *rc)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(rc->vm);
	void *alias;

	if (mem->memfd < 0) {
		snprintf(rc->err, sizeof(rc->err), "%s needs shmem memory", mode_name(rc->mode));
		return -1;
	}
	alias = mmap(NULL, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->memfd, 0);
	if (alias == MAP_FAILED) {
		snprintf(rc->err, sizeof(rc->err), "mmap of the memfd alias: %s", strerror(errno));
		return -1;
	}
	memcpy(alias, rc->src->data, mem->size);
	munmap(alias, mem->size);
	return 0;
}
