// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest memslot: a memslot DELETE or MOVE while a vCPU is parked on a missing
 * GFN in it completes, and the vCPU comes back cleanly: with nothing at that GPA any
 * more, its access becomes an MMIO exit. A vCPU parked holding kvm->srcu would make the
 * memslot update wait for it forever (and the page can no longer be installed): each
 * step has a time limit, after which a signal frees the vCPU so the case can fail.
 * Then the slot goes back, the held page is served, and the guest reads it right.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define PAGES		64
#define PARKED_PAGE	5
#define MOVED_GPA	(KVMUF_TEST_GPA + (1ULL << 30))
#define LIMIT_MS	10000

struct vcpu_run {
	struct ft_env *e;
	pthread_t thread;
	atomic_int done;
	int ret;			/* kvmuf_vm_run_pages(): 1 = stopped at MMIO */
};

static enum kvmuf_exit_action stop_at_mmio(struct kvmuf_vm *vm,
					   const struct kvmuf_exit_info *info, void *opaque)
{
	(void)vm;
	(void)opaque;
	if (!info->run_errno && info->exit_reason == KVM_EXIT_MMIO)
		return KVMUF_EXIT_STOP;
	fprintf(stderr, "faulttest: unexpected exit %u, errno %d\n", info->exit_reason,
		info->run_errno);
	return KVMUF_EXIT_ERROR;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu_run *v = arg;

	v->ret = kvmuf_vm_run_pages(v->e->vm, 0, KVMUF_MODE_SUM, 0, PARKED_PAGE, 1, NULL);
	atomic_store(&v->done, 1);
	return NULL;
}

static void on_sigusr1(int sig)
{
	(void)sig;	/* only to interrupt KVM_RUN */
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

struct slot_change {
	struct ft_env *e;
	uint64_t gpa;
	int delete;
	atomic_int done;
	int ret;
};

static void *slot_thread(void *arg)
{
	struct slot_change *s = arg;

	s->ret = kvmuf_vm_update_test_slot(s->e->vm, s->gpa, 0, s->delete);
	atomic_store(&s->done, 1);
	return NULL;
}

/* Park vCPU 0 on PARKED_PAGE, change the slot, expect both to finish in time. */
static void change_under_parked_vcpu(struct ft_env *e, const char *what, uint64_t gpa,
				     int delete, uint64_t parks)
{
	struct vcpu_run v = { .e = e };
	struct slot_change s = { .e = e, .gpa = gpa, .delete = delete };
	pthread_t slot;
	struct timespec t0;
	long slot_ms = -1, vcpu_ms = -1;

	pthread_create(&v.thread, NULL, vcpu_thread, &v);
	CHECK(ft_wait_parks(e, parks, LIMIT_MS) == 0, "%s: the vCPU did not park", what);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_create(&slot, NULL, slot_thread, &s);
	while (ms_since(&t0) < LIMIT_MS && !(atomic_load(&s.done) && atomic_load(&v.done))) {
		if (slot_ms < 0 && atomic_load(&s.done))
			slot_ms = ms_since(&t0);
		if (vcpu_ms < 0 && atomic_load(&v.done))
			vcpu_ms = ms_since(&t0);
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	if (slot_ms < 0 && atomic_load(&s.done))
		slot_ms = ms_since(&t0);
	if (vcpu_ms < 0 && atomic_load(&v.done))
		vcpu_ms = ms_since(&t0);
	CHECK(slot_ms >= 0, "%s: the memslot update still waits after %d ms", what, LIMIT_MS);
	CHECK(vcpu_ms >= 0, "%s: the vCPU is still parked after %d ms", what, LIMIT_MS);
	if (!atomic_load(&v.done))
		pthread_kill(v.thread, SIGUSR1);	/* frees a parked vCPU, and the update */
	pthread_join(v.thread, NULL);
	pthread_join(slot, NULL);
	CHECK(s.ret == 0, "%s: KVM_SET_USER_MEMORY_REGION: %s", what, strerror(-s.ret));
	CHECK(v.ret == 1, "%s: the vCPU did not come back with an MMIO exit (%d)", what, v.ret);
	if (slot_ms >= 0 && vcpu_ms >= 0)
		printf("ok: %s under a parked vCPU: done in %ld ms, the vCPU left at an MMIO exit after %ld ms\n",
		       what, slot_ms, vcpu_ms);
}

int ft_case_memslot(int argc, char **argv)
{
	struct ft_config cfg = { .backing = KVMUF_MEM_ANON, .pages = PAGES };
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	uint64_t held[4];
	struct ft_env e;

	(void)argc;
	(void)argv;
	sigaction(SIGUSR1, &sa, NULL);
	if (ft_env_create(&e, &cfg))
		return 1;
	kvmuf_vm_set_exit_hook(e.vm, stop_at_mmio, NULL);
	atomic_store(&e.hold, 1);

	change_under_parked_vcpu(&e, "memslot delete", e.mem->gpa, 1, 1);
	CHECK(kvmuf_vm_update_test_slot(e.vm, e.mem->gpa, 0, 0) == 0, "re-add the slot");
	change_under_parked_vcpu(&e, "memslot move", MOVED_GPA, 0, 2);
	CHECK(kvmuf_vm_update_test_slot(e.vm, e.mem->gpa, 0, 0) == 0, "move the slot back");

	/* One notification for the page, kept across both parks; serve it now. */
	CHECK(ft_held(&e, held, 4) == 1 && held[0] == PARKED_PAGE, "held faults");
	CHECK(ft_serve_held(&e) == 0, "serve the held page");
	atomic_store(&e.hold, 0);
	CHECK(ft_guest_sums(&e, "after the slot came back", PARKED_PAGE, 1) == 0,
	      "the page, once served");
	CHECK(ft_guest_sums(&e, "the other pages", 0, PAGES) == 0, "all pages");
	CHECK(ft_host_compare(&e, "memslot") == 0, "host memory");
	ft_env_destroy(&e);
	return failures ? 1 : 0;
}
