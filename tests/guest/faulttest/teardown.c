// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest teardown: the final close of a device fd and the reaper never both
 * free the same VM state.
 *
 * A VM whose fd is closed first is "dead" to the module (only its own reference keeps
 * it); the reaper then frees a detached state of it, and the final close of the device
 * fd frees the state itself when nothing is missing. Both can decide at once. With the
 * reaper running every millisecond (reap_interval_ms), two threads each attach, close
 * the VM fd and close the device fd, many times; half of the states have missing GFNs
 * (left as orphans for the reaper alone). Each attach has the most vCPU rings the ABI
 * allows: the final close wakes every one of them between marking the state detached
 * and taking it out of the table, which keeps the reaper's window open for a while. A double free shows as a refcount or module
 * reference warning in the kernel log (the harness fails the test on any) or as a
 * module still in use at the end.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define ROUNDS		200	/* per thread */
#define THREADS		2
#define REAP_PARAM	"/sys/module/kvm_userfault/parameters/reap_interval_ms"
#define REFCNT		"/sys/module/kvm_userfault/refcnt"

struct teardown {
	int kvm_fd;
	unsigned int id;
	unsigned int done, failed;
};

static void *rounds(void *arg)
{
	struct teardown *t = arg;

	for (unsigned int i = 0; i < ROUNDS; i++) {
		int vm_fd = ioctl(t->kvm_fd, KVM_CREATE_VM, 0);
		struct kvmuf *k = NULL;
		int ret;

		if (vm_fd < 0) {
			fprintf(stderr, "FAIL: KVM_CREATE_VM: %s\n", strerror(errno));
			t->failed++;
			break;
		}
		ret = kvmuf_open(&k);
		if (!ret)
			ret = kvmuf_attach(k, vm_fd, 0, KVMUF_MAX_VCPU_RINGS,
					   KVMUF_MIN_RING_ENTRIES);
		/* Odd rounds leave GFNs missing: an orphan that only the reaper frees. */
		if (!ret)
			ret = kvmuf_add_range(k, 0x100000, 64, (i & 1) ?
					      KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY : 0);
		if (ret) {
			fprintf(stderr, "FAIL: thread %u round %u: %s\n", t->id, i,
				kvmuf_strerror(ret));
			t->failed++;
		}
		close(vm_fd);		/* the VM is dead to the module now */
		if ((i + t->id) % 3 == 0)
			usleep(1000);	/* let the reaper get there first, sometimes */
		kvmuf_close(k);		/* the final close: detach */
		t->done++;
	}
	return NULL;
}

static int read_refcnt(void)
{
	char buf[32] = "";
	int fd = open(REFCNT, O_RDONLY), n;

	if (fd < 0)
		return -1;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -1;
}

int ft_case_teardown(int argc, char **argv)
{
	struct teardown t[THREADS];
	pthread_t th[THREADS];
	char old[64] = "";
	int kvm_fd, refcnt = -1;

	(void)argc;
	(void)argv;
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	if (ft_sysfs_set(REAP_PARAM, "1", old, sizeof(old)) < 0) {
		fprintf(stderr, "FAIL: cannot set %s\n", REAP_PARAM);
		return 1;
	}
	for (unsigned int i = 0; i < THREADS; i++) {
		t[i] = (struct teardown){ .kvm_fd = kvm_fd, .id = i };
		CHECK(pthread_create(&th[i], NULL, rounds, &t[i]) == 0, "pthread_create");
	}
	for (unsigned int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* Every state goes: the reaper frees the orphans within a few ticks. */
	for (int i = 0; i < 200 && (refcnt = read_refcnt()) != 0; i++)
		usleep(10000);
	ft_sysfs_restore(REAP_PARAM, old);
	close(kvm_fd);
	CHECK(refcnt == 0, "the module still has %d users after every VM and fd is gone",
	      refcnt);
	for (unsigned int i = 0; i < THREADS; i++)
		CHECK(!t[i].failed && t[i].done == ROUNDS, "thread %u: %u rounds, %u failed", i,
		      t[i].done, t[i].failed);
	if (failures)
		return 1;
	printf("ok: %d attach/close rounds racing the reaper (1 ms), half of them orphans: every state freed once, the module unused\n",
	       THREADS * ROUNDS);
	return 0;
}
