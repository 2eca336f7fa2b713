// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest ringsig: signals never strand a vCPU.
 *
 * Park mode, every vCPU on one shared 16-entry ring, twice: 24 vCPUs each on its own 32
 * missing pages (more faults outstanding than the ring holds: vCPUs wait for room), and
 * 8 vCPUs all on the same 256 pages (most of them dedup and park on a GFN another
 * notified). Nobody serves for a second while every vCPU thread is kicked with a signal
 * every few milliseconds: a signal ends a park, or a wait for ring room (the
 * notification is then withdrawn and the vCPUs parked on it must notify themselves).
 * Then a page engine serves, still kicking: every vCPU must finish its run with every
 * page right, within 30 s.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"

#define MAX_VCPUS	24
#define SEED		0x5195195195195195ULL

struct ringsig {
	struct kvmuf_vm *vm;
	struct kvmuf_vcpu_result res[MAX_VCPUS];
	double seconds;
	int ret;
	atomic_int done;
};

static void *run(void *arg)
{
	struct ringsig *r = arg;

	r->ret = kvmuf_vm_run(r->vm, KVMUF_MODE_SUM, 0, r->res, &r->seconds);
	atomic_store(&r->done, 1);
	return NULL;
}

static int one(unsigned int vcpus, uint64_t region_pages, int shared)
{
	const uint64_t PAGES = shared ? region_pages : vcpus * region_pages;
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = vcpus, .bytes_per_vcpu = region_pages * KVMUF_PAGE_SIZE,
		.backing = KVMUF_MEM_ANON, .shared_region = shared,
	};
	struct ringsig r = { 0 };
	struct kvmuf_server_config sc;
	struct kvmuf_server_stats st;
	struct kvmuf_server *srv;
	struct kvmuf_stats ks;
	struct kvmuf *k;
	unsigned char *snap;
	uint64_t base, bad = 0;
	unsigned long kicks = 0;
	pthread_t th;
	int ret;

	if (kvmuf_vm_create(&vcfg, &r.vm) != KVMUF_CREATE_OK)
		return 1;
	base = kvmuf_vm_test_mem(r.vm)->gpa / KVMUF_PAGE_SIZE;
	snap = aligned_alloc(KVMUF_PAGE_SIZE, PAGES * KVMUF_PAGE_SIZE);
	for (uint64_t p = 0; p < PAGES; p++)
		kvmuf_snap_fill_page(snap + p * KVMUF_PAGE_SIZE, base + p, SEED);
	ret = kvmuf_open(&k);
	if (!ret)	/* no vCPU rings: all share the VM ring of 16 entries */
		ret = kvmuf_attach(k, kvmuf_vm_fd(r.vm), 0, 0, 16);
	if (!ret)
		ret = kvmuf_add_range(k, base, PAGES, KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	if (ret) {
		fprintf(stderr, "FAIL: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return 1;
	}
	pthread_create(&th, NULL, run, &r);
	/* A second of kicks with nobody serving. */
	for (int i = 0; i < 200; i++) {
		kicks += (unsigned long)kvmuf_vm_kick(r.vm);
		usleep(5000);
	}
	sc = (struct kvmuf_server_config) {
		.ctx = k, .nr_threads = 1, .geom = { base, PAGES, base, PAGES },
		.snap_data = snap, .poll_ms = 5,
	};
	CHECK(kvmuf_server_start(&sc, &srv) == 0, "page engine");
	/* Serving now, and still kicking for a while: every vCPU must get through. */
	for (int i = 0; !atomic_load(&r.done); i++) {
		if (i < 200)
			kicks += (unsigned long)kvmuf_vm_kick(r.vm);
		usleep(5000);
		if (i == 6000) {
			fprintf(stderr, "FAIL: the vCPUs did not finish in 30 s of serving: one is stranded\n");
			return 1;	/* the process exit ends them */
		}
	}
	pthread_join(th, NULL);
	kvmuf_server_stop(srv, &st);
	CHECK(r.ret == 0, "the run failed");
	bad = ft_sums_wrong(r.vm, snap, PAGES);
	CHECK(bad == 0, "%llu pages read wrong", (unsigned long long)bad);
	CHECK(kvmuf_stats(k, &ks) == 0, "stats");
	CHECK(kicks > 0, "no vCPU was kicked");
	printf("  %u vCPUs%s: %lu kicks; %llu ring entries, %llu deduped, %llu waits for ring room; %llu duplicates at the engine\n",
	       vcpus, shared ? " on shared pages" : "", kicks, (unsigned long long)ks.faults, (unsigned long long)ks.deduped,
	       (unsigned long long)ks.ring_waits, (unsigned long long)st.duplicates);
	CHECK(shared ? ks.deduped > 0 : ks.ring_waits > 0,
	      "the case did not happen: %llu deduped, %llu ring waits",
	      (unsigned long long)ks.deduped, (unsigned long long)ks.ring_waits);
	kvmuf_close(k);
	kvmuf_vm_destroy(r.vm);
	free(snap);
	return failures ? 1 : 0;
}

int ft_case_ringsig(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (one(24, 32, 0) || one(8, 256, 1))
		return 1;
	printf("ok: vCPUs kicked by signals while waiting for ring room and while parked on a shared GFN: none stranded, every page right\n");
	return 0;
}
