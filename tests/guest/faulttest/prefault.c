// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest prefault: KVM_PRE_FAULT_MEMORY (6.10+) on a missing GFN returns at
 * once with EAGAIN, without parking the calling thread (which holds kvm->srcu with an
 * index of its own), and leaves a ring entry as a hint; once the page is served, the
 * same call maps it, and the guest reads it right.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* <linux/kvm.h> of 6.10+; Debian 12's userspace headers are older. */
#ifndef KVM_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY	236
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY	_IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

#define PAGES		64
#define PAGE		7
#define LIMIT_MS	5000

static void on_alarm(int sig)
{
	(void)sig;	/* only to interrupt an ioctl that waits */
}

/* One KVM_PRE_FAULT_MEMORY of page; errno (0: mapped), and how long it took. */
static int prefault(struct ft_env *e, uint64_t page, long *ms)
{
	struct kvm_pre_fault_memory r = {
		.gpa = e->mem->gpa + page * KVMUF_PAGE_SIZE,
		.size = KVMUF_PAGE_SIZE,
	};
	struct timespec t0, t1;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A thread parked in the call would only come back on this alarm. */
	alarm(LIMIT_MS / 1000 + 1);
	if (ioctl(kvmuf_vm_vcpu_fd(e->vm, 0), KVM_PRE_FAULT_MEMORY, &r) < 0)
		err = errno;
	alarm(0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (!err && r.size)
		err = EIO;	/* "success" must have mapped the whole page */
	return err;
}

int ft_case_prefault(int argc, char **argv)
{
	struct ft_config cfg = { .backing = KVMUF_MEM_ANON, .pages = PAGES };
	struct kvmuf_stats st;
	uint64_t held[4];
	struct ft_env e;
	long ms;
	int err, kvm;

	(void)argc;
	(void)argv;
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = on_alarm }, NULL);
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0 || ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY) <= 0) {
		printf("SKIP: this kernel has no KVM_PRE_FAULT_MEMORY (6.10+)\n");
		return 77;
	}
	close(kvm);
	if (ft_env_create(&e, &cfg))
		return 1;
	atomic_store(&e.hold, 1);

	err = prefault(&e, PAGE, &ms);
	CHECK(err == EAGAIN, "pre-fault of a missing page: %s after %ld ms, want EAGAIN",
	      err ? strerror(err) : "success", ms);
	CHECK(ms < LIMIT_MS, "pre-fault of a missing page took %ld ms: it waited", ms);
	CHECK(ft_wait_held(&e, 1, 1000) == 0 && ft_held(&e, held, 4) == 1 && held[0] == PAGE,
	      "no ring entry for the pre-faulted page");
	CHECK(ft_stats(&e, &st) == 0 && st.parks == 0, "pre-fault parked (%llu parks)",
	      (unsigned long long)st.parks);
	if (!failures)
		printf("ok: pre-fault of a missing page: EAGAIN after %ld ms, a hint in the ring, no park\n",
		       ms);

	CHECK(ft_serve_held(&e) == 0, "serve the page");
	atomic_store(&e.hold, 0);
	err = prefault(&e, PAGE, &ms);
	CHECK(err == 0, "pre-fault of the served page: %s", strerror(err));
	CHECK(ft_guest_sums(&e, "the pre-faulted page", PAGE, 1) == 0, "guest read");
	CHECK(ft_guest_sums(&e, "all pages", 0, PAGES) == 0, "all pages");
	CHECK(ft_host_compare(&e, "prefault") == 0, "host memory");
	if (!failures)
		printf("ok: once served, the pre-fault maps it (%ld ms) and the guest reads it\n", ms);
	ft_env_destroy(&e);
	return failures ? 1 : 0;
}
