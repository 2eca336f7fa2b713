// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest adopt: a page server dies mid-restore and the VM's owner hands the
 * state to a new one (KVMUF_ATTACH_ADOPT); no fault is lost, no page installed twice.
 *
 * Park mode, 2 vCPUs reading 256 missing pages each, 16-entry rings. A first page
 * server serves each vCPU a quarter of its pages and stops; the vCPUs fault again and
 * park. Of the two
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
#include <time.h>
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
	int give_up;			/* on an EFAULT exit, end the vCPU at once */
	atomic_llong first_exit_ns;	/* when the first EFAULT exit came */
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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
	long long zero = 0;

	atomic_compare_exchange_strong(&a->first_exit_ns, &zero, now_ns());
	if (a->give_up)
		return KVMUF_EXIT_STOP;
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

/*
 * Serve each vCPU's ring (ring i + 1 is vCPU i's) until REGION_PAGES / 4 of its faults
 * were resolved with the snapshot's data, within 30 s; 0 or -1. *served: pages installed.
 */
static int serve_quarter(struct kvmuf *k, const unsigned char *snap, uint64_t base,
			 uint64_t *served)
{
	unsigned int done[VCPUS] = { 0 };

	*served = 0;
	for (int i = 0; i < 30000; i++) {
		unsigned int busy = 0;

		for (unsigned int v = 0; v < VCPUS; v++) {
			struct kvmuf_copy c = { .npages = 1 };
			struct kvmuf_fault f;
			uint64_t changed = 0;

			if (done[v] >= REGION_PAGES / 4)
				continue;
			busy++;
			if (kvmuf_ring_consume(k, v + 1, &f, 1) != 1)
				continue;
			c.gfn = f.gfn;
			c.src = (uintptr_t)(snap + (f.gfn - base) * KVMUF_PAGE_SIZE);
			if (f.gfn < base || f.gfn - base >= PAGES ||
			    kvmuf_resolve_copy(k, &c, 1, &changed, NULL) < 0)
				return -1;
			*served += changed;
			done[v]++;
		}
		if (!busy)
			return 0;
		usleep(1000);
	}
	return -1;
}

/* takeover_ms > 0: with KVMUF_ATTACH_TAKEOVER. */
static int attach(struct kvmuf **k, int vm_fd, uint32_t flags, uint32_t entries,
		  uint32_t takeover_ms)
{
	int ret = kvmuf_open(k);

	if (!ret)
		ret = kvmuf_attach_takeover(*k, vm_fd, flags, VCPUS, entries, takeover_ms);
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

/*
 * The adoption, after a plain detach (takeover_ms 0: the vCPUs get the detached error
 * exit and their VMM runs them again once adopted), or within a takeover wait (the
 * vCPUs never leave their parks: no exit at all).
 */
static int adopt_one(uint32_t takeover_ms)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = VCPUS, .bytes_per_vcpu = REGION_PAGES * KVMUF_PAGE_SIZE,
		.backing = KVMUF_MEM_ANON,
	};
	struct kvmuf *k1, *k2, *k3;
	struct kvmuf_server_config sc;
	struct kvmuf_server_stats st2;
	struct kvmuf_server *srv;
	struct kvmuf_info info;
	struct kvmuf_fault dropped;
	struct adopt a = { 0 };
	uint64_t base, missing_at_close, served1, bad = 0;
	unsigned char *snap;
	pthread_t th;
	int vm_fd, ret;

	if (kvmuf_vm_create(&vcfg, &a.vm) != KVMUF_CREATE_OK)
		return 1;
	vm_fd = kvmuf_vm_fd(a.vm);
	base = kvmuf_vm_test_mem(a.vm)->gpa / KVMUF_PAGE_SIZE;
	snap = aligned_alloc(KVMUF_PAGE_SIZE, PAGES * KVMUF_PAGE_SIZE);
	for (uint64_t p = 0; p < PAGES; p++)
		kvmuf_snap_fill_page(snap + p * KVMUF_PAGE_SIZE, base + p, SEED);

	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING, takeover_ms) == -ENOENT,
	      "adopting a VM that was never attached: not ENOENT");
	ret = attach(&k1, vm_fd, 0, RING, takeover_ms);
	if (!ret)
		ret = kvmuf_add_range(k1, base, PAGES, KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	if (ret) {
		fprintf(stderr, "FAIL: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return 1;
	}
	kvmuf_vm_set_exit_hook(a.vm, vcpu_exit, &a);
	pthread_create(&th, NULL, run, &a);

	/*
	 * The first page server serves each vCPU a quarter of its pages, by hand, one fault
	 * at a time, then stops reading that vCPU's ring: its next fault stays there. (An
	 * engine stopped at a total could have served one vCPU all its pages.)
	 */
	REQUIRE(serve_quarter(k1, snap, base, &served1) == 0,
		"the first page server did not serve %u pages of each vCPU (%llu served)",
		REGION_PAGES / 4, (unsigned long long)served1);
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

	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING, takeover_ms) == -EBUSY,
	      "adopting an attached VM: not EBUSY");
	CHECK(kvmuf_info(k1, &info) == 0, "info");
	missing_at_close = info.nr_missing;
	kvmuf_close(k1);	/* the page server dies */
	if (takeover_ms) {
		/* A second: nobody leaves a park, nobody exits. */
		usleep(1000000);
		CHECK(atomic_load(&a.detached_exits) == 0 && !atomic_load(&a.done),
		      "within the takeover wait: %u detached exits, run %s",
		      atomic_load(&a.detached_exits), atomic_load(&a.done) ? "ended" : "going");
	} else {
		for (int i = 0; i < 1000 && atomic_load(&a.detached_exits) < VCPUS; i++)
			usleep(10000);
		CHECK(atomic_load(&a.detached_exits) == VCPUS,
		      "%u of %u vCPUs got the detached error exit",
		      atomic_load(&a.detached_exits), VCPUS);
	}

	CHECK(attach(&k3, vm_fd, 0, RING, takeover_ms) == -EBUSY,
	      "a plain attach over the orphan: not EBUSY");
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING * 2, takeover_ms) == -EINVAL,
	      "adopting with other rings: not EINVAL");
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT | KVMUF_ATTACH_EXIT, RING, takeover_ms) ==
	      -EINVAL, "adopting in another mode: not EINVAL");
	if (takeover_ms)
		CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING, 0) == -EINVAL,
		      "adopting without the takeover flag: not EINVAL");
	ret = attach(&k2, vm_fd, KVMUF_ATTACH_ADOPT, RING, takeover_ms);
	REQUIRE(ret == 0, "adopting: %s", kvmuf_strerror(ret));
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING, takeover_ms) == -EBUSY,
	      "adopting twice: not EBUSY");
	CHECK(kvmuf_info(k2, &info) == 0 && info.nr_missing == missing_at_close,
	      "%llu GFNs missing after adoption, %llu at close",
	      (unsigned long long)info.nr_missing, (unsigned long long)missing_at_close);
	/*
	 * After a detach the vCPUs wait for this VMM: the rings hold the unread entry only.
	 * In a takeover wait they run, and the adoption sends the parked ones to notify again
	 * at once: new entries (the dropped fault again, the unread one twice) may be there
	 * already. Either way the unread entry is still there.
	 */
	if (!takeover_ms)
		CHECK(kvmuf_ring_pending(k2, 1) == 0 && kvmuf_ring_pending(k2, 2) == 1,
		      "the rings after adoption: %zu and %zu entries, want the unread one only",
		      kvmuf_ring_pending(k2, 1), kvmuf_ring_pending(k2, 2));
	else
		CHECK(kvmuf_ring_pending(k2, 2) >= 1,
		      "the unread entry is gone from ring 2 after the adoption");

	/* The new page server. */
	sc = (struct kvmuf_server_config) {
		.ctx = k2, .nr_threads = 1, .geom = { base, PAGES, base, PAGES },
		.snap_data = snap, .poll_ms = 5,
	};
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
	bad = ft_sums_wrong(a.vm, snap, PAGES);
	CHECK(bad == 0, "%llu pages read wrong", (unsigned long long)bad);
	CHECK(kvmuf_info(k2, &info) == 0 && info.nr_missing == 0 && info.resolved == PAGES,
	      "after the restore: %llu missing, %llu resolved over both attachments (want %u: each once)",
	      (unsigned long long)info.nr_missing, (unsigned long long)info.resolved, PAGES);
	printf("  first server: %llu pages; the second: %llu pages, %llu duplicate entries; gfn 0x%llx read and dropped, served after adoption\n",
	       (unsigned long long)served1, (unsigned long long)st2.served,
	       (unsigned long long)st2.duplicates, (unsigned long long)dropped.gfn);
	CHECK(!takeover_ms || atomic_load(&a.detached_exits) == 0,
	      "%u exits in a takeover", atomic_load(&a.detached_exits));
	kvmuf_close(k2);	/* nothing missing: the state goes */
	CHECK(attach(&k3, vm_fd, KVMUF_ATTACH_ADOPT, RING, takeover_ms) == -ENOENT,
	      "adopting after a complete restore: not ENOENT");
	kvmuf_vm_destroy(a.vm);
	free(snap);
	printf("  %s: a page server died with one fault unread and one read but unresolved; the VM's owner adopted the state for a new one: every page right, each resolved once\n",
	       takeover_ms ? "takeover (vCPUs stayed parked)" : "after a detach");
	return failures ? 1 : 0;
}

/* Nobody takes over within takeover_ms: the parked vCPU gets the detached exit then. */
static int takeover_expires(uint32_t takeover_ms)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = 1, .bytes_per_vcpu = 16 * KVMUF_PAGE_SIZE, .backing = KVMUF_MEM_ANON,
	};
	struct adopt a = { .give_up = 1 };
	long long closed, waited_ms;
	struct kvmuf *k;
	pthread_t th;
	uint64_t base;
	int ret;

	if (kvmuf_vm_create(&vcfg, &a.vm) != KVMUF_CREATE_OK)
		return 1;
	base = kvmuf_vm_test_mem(a.vm)->gpa / KVMUF_PAGE_SIZE;
	ret = kvmuf_open(&k);
	if (!ret)
		ret = kvmuf_attach_takeover(k, kvmuf_vm_fd(a.vm), 0, 1, RING, takeover_ms);
	if (!ret)
		ret = kvmuf_add_range(k, base, 16, KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY);
	REQUIRE(ret == 0, "kvm-userfault: %s", kvmuf_strerror(ret));
	kvmuf_vm_set_exit_hook(a.vm, vcpu_exit, &a);
	pthread_create(&th, NULL, run, &a);
	for (int i = 0; i < 1000 && !kvmuf_ring_pending(k, 1); i++)
		usleep(10000);
	REQUIRE(kvmuf_ring_pending(k, 1), "the vCPU did not fault");
	closed = now_ns();
	kvmuf_close(k);
	for (int i = 0; i < 1000 && !atomic_load(&a.done); i++)
		usleep(10000);
	REQUIRE(atomic_load(&a.done), "the vCPU never left its park (takeover wait %u ms)",
		takeover_ms);
	pthread_join(th, NULL);
	waited_ms = (atomic_load(&a.first_exit_ns) - closed) / 1000000;
	/* The reaper looks every reap_interval_ms (1 s): the wait ends within that after. */
	CHECK(atomic_load(&a.detached_exits) == 1 && waited_ms >= takeover_ms &&
	      waited_ms <= takeover_ms + 3000,
	      "%u detached exits, %lld ms after the close (takeover wait %u ms)",
	      atomic_load(&a.detached_exits), waited_ms, takeover_ms);
	printf("  takeover wait of %u ms with nobody adopting: the vCPU left its park %lld ms after its page server died, with the detached exit\n",
	       takeover_ms, waited_ms);
	kvmuf_vm_destroy(a.vm);
	return failures ? 1 : 0;
}

int ft_case_adopt(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (adopt_one(0) || adopt_one(20000) || takeover_expires(1500))
		return 1;
	printf("ok: adoption after a detach and within a takeover wait (no vCPU left its park); an unclaimed takeover ends in the detached exit, bounded\n");
	return 0;
}
