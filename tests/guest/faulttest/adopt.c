// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest adopt: a page server dies mid-restore and the VM's owner hands the
 * state to a new one (KVMUF_ATTACH_ADOPT); no fault is lost, no page installed twice.
 *
 * Park mode, 2 vCPUs reading 256 missing pages each, 16-entry rings. A page engine
 * serves part of the memory and stops; the vCPUs fault again and park. Of the two
 * faults now in the rings, one is read and dropped (a daemon that read it and died
 * before resolving: only a withdrawn notification brings it back), the other is left
 * unread. The device fd is closed: both vCPUs get the detached error exit, on which this
 * VMM waits for a new page server, as a supervisor would. Adoption is refused while the
 * VM is attached (EBUSY), with another ring geometry or mode (EINVAL), twice (EBUSY),
 * and when nothing is left to adopt (ENOENT); a plain attach is refused while the
 * orphan exists (EBUSY). Once adopted, a new engine serves: both vCPUs must finish with
 * every page right, every GFN resolved exactly once over the two attachments.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"

#define VCPUS		2
#define REGION_PAGES	256
#define PAGES		(VCPUS * REGION_PAGES)
#define RING		16
#define SEED		0xad0be0ad0be0ad0bULL


struct adopt {
	struct kvmuf_vm *vm;
	struct kvmuf_vcpu_result res[VCPUS];
	double seconds;
	int ret;
	atomic_int done;
	atomic_int adopted;		/* a new page server has the state */
	atomic_uint detached_exits;	/* EFAULT exits seen before that */
};

/*
 * The VMM's answer to a vCPU's error exit: while nobody serves, wait for the new page
 * server (bounded), then run the vCPU again.
 */
static enum kvmuf_exit_action vcpu_exit(struct kvmuf_vm *vm, const struct kvmuf_exit_info *info,
				        void *opaque)
{
	struct adopt *a = opaque;

	(void)vm;
	if (info->run_errno != EFAULT)
		return KVMUF_EXIT_ERROR;
	if (!atomic_load(&a->adopted))
		atomic_fetch_add(&a->detached_exits, 1);
	for (int i = 0; i < 3000 && !atomic_load(&a->adopted); i++)
		usleep(10000);
	return atomic_load(&a->adopted) ? KVMUF_EXIT_RETRY : KVMUF_EXIT_ERROR;
}

static void *run(void *arg)
{
	struct adopt *a = arg;

	a->ret = kvmuf_vm_run(a->vm, KVMUF_MODE_SUM, 0, a->res, &a->seconds);
	atomic_store(&a->done, 1);
	return NULL;
}

static int attach(struct kvmuf **k, int vm_fd, uint32_t flags, uint32_t entries)
{
	int ret = kvmuf_open(k);

	if (!ret)
		ret = kvmuf_attach(*k, vm_fd, flags, VCPUS, entries);
	if (ret)
		kvmuf_close(*k);
	return ret;
}

/* Wait up to ms for cond on the info of k; 0 or -1. */
#define WAIT_INFO(k, info, cond, ms)						\
	({									\
		int _r = -1;							\
		for (int _i = 0; _i < (ms) / 10; _i++) {			\
			if (kvmuf_info((k), &(info)) == 0 && (cond)) {		\
				_r = 0;						\
				break;					\
			}							\
			usleep(10000);						\
		}								\
		_r;								\
	})

int ft_case_adopt(int argc, char **argv)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = VCPUS, .bytes_per_vcpu = REGION_PAGES * KVMUF_PAGE_SIZE,
		.backing = KVMUF_MEM_ANON,
	};
	struct kvmuf *k1, *k2, *k3;
	struct kvmuf_server_config sc;
	struct kvmuf_server_stats st1, st2;
	struct kvmuf_server *srv;
	struct kvmuf_info info;
	struct kvmuf_fault dropped;
	struct adopt a = { 0 };
	uint64_t base, missing_at_close, bad = 0;
	const uint64_t *sums;
	unsigned char *snap;
	pthread_t th;
	int vm_fd, ret;

	(void)argc;
	(void)argv;
	if (kvmuf_vm_create(&vcfg, &a.vm) != KVMUF_CREATE_OK)
		return 1;
	vm_fd = kvmuf_vm_fd(a.vm);
	base = kvmuf_vm_test_mem(a.vm)->gpa / KVMUF_PAGE_SIZE;
	snap = aligned_alloc(KVMUF_PAGE_SIZE, PAGES * KVMUF_PAGE_SIZE);
	for (uint64_t p = 0; p < PAGES; p++)
		kvmuf_snap_fill_page(snap + p * KVMUF_PAGE_SIZE, base + p, SEED);

	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING) == -ENOENT,
	      "adopting a VM that was never attached: not ENOENT");
	ret = attach(&k1, vm_fd, 0, RING);
	if (!ret)
		ret = kvmuf_add_range(k1, base, PAGES, KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	if (ret) {
		fprintf(stderr, "FAIL: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return 1;
	}
	kvmuf_vm_set_exit_hook(a.vm, vcpu_exit, &a);
	pthread_create(&th, NULL, run, &a);

	/* The first page server serves a part of the memory, then stops. */
	sc = (struct kvmuf_server_config) {
		.ctx = k1, .nr_threads = 1, .geom = { base, PAGES, base, PAGES },
		.snap_data = snap, .poll_ms = 5,
	};
	CHECK(kvmuf_server_start(&sc, &srv) == 0, "first page engine");
	CHECK(WAIT_INFO(k1, info, info.resolved >= PAGES / 4, 30000) == 0,
	      "the first engine did not serve %u pages", PAGES / 4);
	kvmuf_server_stop(srv, &st1);
	/* Both vCPUs fault again, with nobody reading: one entry in each ring. */
	for (int i = 0; i < 1000; i++) {
		if (kvmuf_ring_pending(k1, 1) && kvmuf_ring_pending(k1, 2))
			break;
		usleep(10000);
	}
	REQUIRE(kvmuf_ring_pending(k1, 1) == 1 && kvmuf_ring_pending(k1, 2) == 1,
		"the vCPUs did not both fault once more (%zu and %zu entries)",
		kvmuf_ring_pending(k1, 1), kvmuf_ring_pending(k1, 2));
	/* The dying daemon read vCPU 0's fault and never resolved it. */
	REQUIRE(kvmuf_ring_consume(k1, 1, &dropped, 1) == 1, "reading ring 1");

	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING) == -EBUSY,
	      "adopting an attached VM: not EBUSY");
	CHECK(kvmuf_info(k1, &info) == 0, "info");
	missing_at_close = info.nr_missing;
	kvmuf_close(k1);	/* the page server dies */
	for (int i = 0; i < 1000 && atomic_load(&a.detached_exits) < VCPUS; i++)
		usleep(10000);
	CHECK(atomic_load(&a.detached_exits) == VCPUS,
	      "%u of %u vCPUs got the detached error exit", atomic_load(&a.detached_exits), VCPUS);

	CHECK(attach(&k3, vm_fd, 0, RING) == -EBUSY, "a plain attach over the orphan: not EBUSY");
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING * 2) == -EINVAL,
	      "adopting with other rings: not EINVAL");
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT | KVMUF_ATTACH_EXIT, RING) == -EINVAL,
	      "adopting in another mode: not EINVAL");
	ret = attach(&k2, vm_fd, KVMUF_ATTACH_ADOPT, RING);
	REQUIRE(ret == 0, "adopting: %s", kvmuf_strerror(ret));
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING) == -EBUSY, "adopting twice: not EBUSY");
	CHECK(kvmuf_info(k2, &info) == 0 && info.nr_missing == missing_at_close,
	      "%llu GFNs missing after adoption, %llu at close",
	      (unsigned long long)info.nr_missing, (unsigned long long)missing_at_close);
	CHECK(kvmuf_ring_pending(k2, 1) == 0 && kvmuf_ring_pending(k2, 2) == 1,
	      "the rings after adoption: %zu and %zu entries, want the unread one only",
	      kvmuf_ring_pending(k2, 1), kvmuf_ring_pending(k2, 2));

	/* The new page server. */
	sc.ctx = k2;
	CHECK(kvmuf_server_start(&sc, &srv) == 0, "second page engine");
	atomic_store(&a.adopted, 1);
	for (int i = 0; !atomic_load(&a.done); i++) {
		usleep(10000);
		if (i == 3000) {
			fprintf(stderr, "FAIL: the vCPUs did not finish in 30 s after the adoption (gfn 0x%llx, read and dropped, never notified again?)\n",
				(unsigned long long)dropped.gfn);
			return 1;	/* the process exit ends them */
		}
	}
	pthread_join(th, NULL);
	kvmuf_server_stop(srv, &st2);
	CHECK(a.ret == 0, "the run failed");
	sums = kvmuf_vm_page_sums(a.vm);
	for (uint64_t p = 0; p < PAGES; p++) {
		const uint64_t *w = (const uint64_t *)(snap + p * KVMUF_PAGE_SIZE);
		uint64_t sum = 0;

		for (unsigned int i = 0; i < KVMUF_PAGE_SIZE / 8; i++)
			sum += w[i];
		bad += sums[p] != sum;
	}
	CHECK(bad == 0, "%llu pages read wrong", (unsigned long long)bad);
	CHECK(kvmuf_info(k2, &info) == 0 && info.nr_missing == 0 && info.resolved == PAGES,
	      "after the restore: %llu missing, %llu resolved over both attachments (want %u: each once)",
	      (unsigned long long)info.nr_missing, (unsigned long long)info.resolved, PAGES);
	printf("  first server: %llu pages; the second: %llu pages, %llu duplicate entries; gfn 0x%llx read and dropped, served after adoption\n",
	       (unsigned long long)st1.served, (unsigned long long)st2.served,
	       (unsigned long long)st2.duplicates, (unsigned long long)dropped.gfn);
	kvmuf_close(k2);	/* nothing missing: the state goes */
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING) == -ENOENT,
	      "adopting after a complete restore: not ENOENT");
	kvmuf_vm_destroy(a.vm);
	free(snap);
	if (failures)
		return 1;
	printf("ok: a page server died with one fault unread and one read but unresolved; the VM's owner adopted the state for a new one: every page right, each resolved once\n");
	return 0;
}
