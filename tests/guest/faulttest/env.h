/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmuf-faulttest: the shared environment of its cases. A VM of the tiny VMM
 * (tools/vmm) whose test memory is all missing under /dev/kvm-userfault (park mode, one
 * vCPU ring per vCPU), the snapshot pattern of every page (tools/daemon/snapshot.h) in
 * memory, and a page server thread the case controls: it serves every fault, or holds
 * them while the case does something to a parked vCPU.
 *
 * The expected content of every page is tracked (the snapshot page, with its first
 * word replaced where the guest wrote), so that a case can check what the guest read
 * (its page sums) and what the host holds, byte for byte.
 */
#ifndef KVMUF_FAULTTEST_ENV_H
#define KVMUF_FAULTTEST_ENV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kvmuf.h"
#include "kvmuf_vm.h"

#define FT_MAX_HELD	64

struct ft_config {
	enum kvmuf_backing backing;
	enum kvmuf_thp thp;
	uint64_t pages;			/* test memory, one vCPU region */
	uint32_t attach_flags;		/* KVMUF_ATTACH_* */
};

struct ft_env {
	struct kvmuf_vm *vm;
	struct kvmuf *k;
	const struct kvmuf_test_mem *mem;
	uint64_t base_gfn, npages, seed;
	unsigned char *snap;		/* the snapshot page of every test page */
	uint64_t *written;		/* per page: the seed the guest wrote, 0: none */

	pthread_t server;
	int server_running;
	atomic_int stop;
	atomic_int hold;		/* keep new faults in held[] */
	pthread_mutex_t lock;		/* held[], nr_held, served[] */
	uint64_t held[FT_MAX_HELD];	/* pages */
	unsigned int nr_held;
	unsigned char *served;		/* per page: installed by us */
	atomic_uint errors;		/* server-side failures */
};

/* A fresh VM, attached, all its test memory missing, the server serving. 0 or -1. */
int ft_env_create(struct ft_env *e, const struct ft_config *cfg);
void ft_env_destroy(struct ft_env *e);

/*
 * Install pages [page, page + n) that are still missing, from the snapshot: anonymous
 * memory with KVMUF_RESOLVE_COPY (which never overwrites a present page), memfd memory
 * by writing the pages we have not written yet, then KVMUF_RESOLVE. 0 or -errno.
 */
int ft_serve(struct ft_env *e, uint64_t page, uint64_t n);

/* Faults held so far (pages, in order); serving them empties the list. */
unsigned int ft_held(struct ft_env *e, uint64_t *pages, unsigned int max);
int ft_serve_held(struct ft_env *e);

/* Wait up to ms for at least n held faults; 0 or -ETIMEDOUT. */
int ft_wait_held(struct ft_env *e, unsigned int n, unsigned int ms);

/* Wait up to ms until the module counts at least n parks; 0 or -ETIMEDOUT. */
int ft_wait_parks(struct ft_env *e, uint64_t n, unsigned int ms);

int ft_stats(struct ft_env *e, struct kvmuf_stats *st);

/*
 * The guest, on vCPU 0: sum every word of pages [first, first + n) and compare each sum
 * with the expected page. Returns the number of pages that differ (-1 if the run
 * failed); names the first on stderr, prefixed with what.
 */
long ft_guest_sums(struct ft_env *e, const char *what, uint64_t first, uint64_t n);

/* The guest writes gpa ^ seed at the start of pages [first, first + n). 0 or -1. */
int ft_guest_write(struct ft_env *e, uint64_t first, uint64_t n, uint64_t seed);

/*
 * After a KVMUF_MODE_SUM run of vm: how many of its first pages the guest summed
 * differently from the same page of snap (page-aligned, one 4 KiB page per test page).
 */
uint64_t ft_sums_wrong(struct kvmuf_vm *vm, const unsigned char *snap, uint64_t pages);

/* Host side: every byte of every page equals its expected content. Bad pages, or 0. */
long ft_host_compare(struct ft_env *e, const char *what);

/* KiB of huge pages behind the test memory (AnonHugePages, or ShmemPmdMapped). */
long ft_huge_kb(struct ft_env *e);

/* Write value to a sysfs file, keeping its previous setting in old ("[always]" form). */
int ft_sysfs_set(const char *path, const char *value, char *old, size_t len);
void ft_sysfs_restore(const char *path, const char *old);

/* Cases: each returns 0 pass, 1 fail, 77 skip. */
int ft_case_thp(int argc, char **argv);
int ft_case_memslot(int argc, char **argv);
int ft_case_prefault(int argc, char **argv);
int ft_case_access(int argc, char **argv);
int ft_case_teardown(int argc, char **argv);
int ft_case_ringmem(int argc, char **argv);
int ft_case_fuzz(int argc, char **argv);
int ft_case_bigbatch(int argc, char **argv);
int ft_case_races(int argc, char **argv);
int ft_case_ringsig(int argc, char **argv);
int ft_case_adopt(int argc, char **argv);

#endif /* KVMUF_FAULTTEST_ENV_H */
