// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest ringmem CGROUP: the memory a user makes the module allocate for rings
 * is charged to the user, and running out of it is a clean error.
 *
 * The process moves itself into CGROUP (cgroup v2, memory.max set by the caller), then
 * attaches VMs: ring memory of 8 MiB raises the cgroup's memory.current by at least that
 * much and comes back when the device fd closes; ring memory larger than the limit
 * fails with ENOMEM, the process alive (no OOM kill) and nothing left charged; a
 * geometry above KVMUF_MAX_RING_BYTES fails with EINVAL. A splat in the kernel log (an
 * allocation failure warning) fails the test in the harness.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "check.h"

static long long read_ll(const char *dir, const char *file)
{
	char path[256], buf[64] = "";
	int fd, n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoll(buf) : -1;
}

/* A fresh VM and an unattached device fd: 0 or -errno. */
static int prepare(int kvm_fd, struct kvmuf **k, int *vm_fd)
{
	*k = NULL;
	*vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (*vm_fd < 0)
		return -errno;
	return kvmuf_open(k);
}

static void detach(struct kvmuf *k, int vm_fd)
{
	kvmuf_close(k);
	close(vm_fd);
}

int ft_case_ringmem(int argc, char **argv)
{
	const char *cg = argc > 1 ? argv[1] : NULL;
	long long max, base, with, after;
	char procs[256];
	struct kvmuf *k;
	int kvm_fd, vm_fd, fd, ret;

	if (!cg) {
		fprintf(stderr, "usage: kvmuf-faulttest ringmem CGROUP_DIR\n");
		return 2;
	}
	max = read_ll(cg, "memory.max");
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	fd = open(procs, O_WRONLY);
	if (fd < 0 || write(fd, "0", 1) != 1 || max <= 0) {
		fprintf(stderr, "FAIL: cannot join %s (memory.max %lld): %s\n", cg, max,
			strerror(errno));
		return 1;
	}
	close(fd);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}

	/* 1024 vCPU rings of 16 entries, 8 KiB each: 8 MiB charged to us. */
	ret = prepare(kvm_fd, &k, &vm_fd);
	base = read_ll(cg, "memory.current");
	if (!ret)
		ret = kvmuf_attach(k, vm_fd, 0, 1024, 16);
	CHECK(ret == 0, "attach with 8 MiB of rings: %s", kvmuf_strerror(ret));
	with = read_ll(cg, "memory.current");
	detach(k, vm_fd);
	after = read_ll(cg, "memory.current");
	CHECK(with - base >= 8LL << 20, "8 MiB of rings charged %lld KiB to the cgroup",
	      (with - base) >> 10);
	printf("  8 MiB of rings: memory.current %lld -> %lld -> %lld KiB\n", base >> 10,
	       with >> 10, after >> 10);

	/* 4096 rings of 1024 entries: 144 MiB, more than the cgroup may have. */
	ret = prepare(kvm_fd, &k, &vm_fd);
	base = read_ll(cg, "memory.current");
	if (!ret)
		ret = kvmuf_attach(k, vm_fd, 0, 4096, 1024);
	CHECK(ret == -ENOMEM, "attach beyond memory.max (%lld MiB): %s, want ENOMEM",
	      max >> 20, kvmuf_strerror(ret));
	after = read_ll(cg, "memory.current");
	CHECK(after - base < 1LL << 20, "after the failed attach %lld KiB still charged",
	      (after - base) >> 10);
	detach(k, vm_fd);

	/* Above the ABI's cap, whatever the memory. */
	ret = prepare(kvm_fd, &k, &vm_fd);
	if (!ret)
		ret = kvmuf_attach(k, vm_fd, 0, 4096, 65536);
	CHECK(ret == -EINVAL, "attach of %llu MiB of rings: %s, want EINVAL",
	      (unsigned long long)(KVMUF_RING_STRIDE(65536) * 4097) >> 20,
	      kvmuf_strerror(ret));
	detach(k, vm_fd);
	close(kvm_fd);
	if (failures)
		return 1;
	printf("ok: rings charged to the cgroup, ENOMEM past memory.max without an OOM kill, EINVAL past the cap\n");
	return 0;
}
