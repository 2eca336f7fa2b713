// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest bigbatch: the largest batch a caller can ask for is bounded work that
 * a signal stops at once.
 *
 * A child attaches a VM, adds the largest range (KVMUF_MAX_RANGE_PAGES GFNs) and sends
 * one SET_MISSING (another child: one RESOLVE) of 15 elements each covering all of it
 * (about 4 * 10^9 bit operations). A SIGINT in the middle must end the call with EINTR
 * and the progress reported in `changed`; a SIGKILL must end the child at once. The harness fails the test on a soft lockup or hung-task report.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define ELEMENTS	15
#define BASE_GFN	0x10000000ULL

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_sigint(int sig)
{
	(void)sig;
}

/* The child: attach, add the range, then the huge batch; reports through the pipe. */
static void child(int out, int op)
{
	struct kvmuf_gfn_range g[ELEMENTS];
	struct kvmuf_batch b = { .ranges = (uintptr_t)g, .nr = ELEMENTS };
	struct sigaction sa = { .sa_handler = on_sigint };
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, dev, ret;
	char msg[160];

	sigaction(SIGINT, &sa, NULL);
	vm = kvm >= 0 ? ioctl(kvm, KVM_CREATE_VM, 0) : -1;
	dev = open("/dev/kvm-userfault", O_RDWR | O_CLOEXEC);
	{
		struct kvmuf_attach a = { .vm_fd = vm, .ring_entries = 16 };
		struct kvmuf_range r = { .gfn = BASE_GFN, .npages = 1ULL << 28,
					 .flags = KVMUF_RANGE_MODULE_ONLY };

		if (vm < 0 || dev < 0 || ioctl(dev, KVMUF_ATTACH, &a) < 0 ||
		    ioctl(dev, KVMUF_ADD_RANGE, &r) < 0) {
			snprintf(msg, sizeof(msg), "setup: %s", strerror(errno));
			(void)!write(out, msg, strlen(msg) + 1);
			_exit(1);
		}
	}
	for (int i = 0; i < ELEMENTS; i++)
		g[i] = (struct kvmuf_gfn_range){ BASE_GFN, 1ULL << 28 };
	(void)!write(out, "ready", 6);
	ret = ioctl(dev, op ? KVMUF_RESOLVE : KVMUF_SET_MISSING, &b);
	snprintf(msg, sizeof(msg), "%d %d %llu", ret, ret < 0 ? errno : 0,
		 (unsigned long long)b.changed);
	(void)!write(out, msg, strlen(msg) + 1);
	_exit(0);
}

/* One huge call, stopped by sig after 300 ms: 0 if it ended as it must. */
static int stop_one(int sig)
{
	int p[2], status = 0;
	char buf[160] = "";
	uint64_t t0, dt;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(p[1], sig == SIGKILL);	/* SET_MISSING, or RESOLVE */
	}
	close(p[1]);
	if (read(p[0], buf, sizeof(buf)) <= 0 || strcmp(buf, "ready")) {
		fprintf(stderr, "FAIL: bigbatch child: %s\n", buf);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	usleep(300000);
	t0 = now_ms();
	kill(pid, sig);
	if (sig == SIGINT) {
		ssize_t n = read(p[0], buf, sizeof(buf) - 1);
		int ret = 0, err = 0;
		unsigned long long changed = 0;

		buf[n > 0 ? n : 0] = 0;
		dt = now_ms() - t0;
		sscanf(buf, "%d %d %llu", &ret, &err, &changed);
		CHECK(ret == -1 && err == EINTR && changed > 0 && changed < ELEMENTS * (1ULL << 28),
		      "SIGINT during a huge SET_MISSING: ret %d errno %d, %llu GFNs reported done",
		      ret, err, changed);
		CHECK(dt < 2000, "SIGINT: the call took %llu ms to end", (unsigned long long)dt);
		printf("  SIGINT after 300 ms: EINTR in %llu ms, %llu GFNs done and reported\n",
		       (unsigned long long)dt, changed);
	}
	waitpid(pid, &status, 0);
	dt = now_ms() - t0;
	CHECK(dt < 3000, "%s: the caller ended %llu ms after it", strsignal(sig),
	      (unsigned long long)dt);
	if (sig == SIGKILL)
		printf("  SIGKILL after 300 ms: the caller gone in %llu ms\n", (unsigned long long)dt);
	close(p[0]);
	return 0;
}

int ft_case_bigbatch(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	if (stop_one(SIGINT) < 0 || stop_one(SIGKILL) < 0)
		return 1;
	if (failures)
		return 1;
	printf("ok: the largest batch stops at a signal: EINTR with its progress, or the caller killed at once\n");
	return 0;
}
