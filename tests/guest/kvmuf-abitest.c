// SPDX-License-Identifier: GPL-2.0
/*
 * In-guest test of the /dev/kvm-userfault ABI with raw ioctls against a real KVM VM:
 * every bad argument gets its documented error and changes nothing, and the good paths
 * (attach, info, ranges, set-missing, resolve, resolve-with-copy, wait, mmap) do what
 * the header says. No vCPU runs here: interception is tested end to end elsewhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kvmuf/kvm_userfault.h>

#include "check.h"

#include "kvmuf_vm.h"

/* ioctl that returns -errno, so checks read as "expect -EINVAL". */
static long xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static int open_dev(void)
{
	int fd = open("/dev/" KVMUF_DEVICE_NAME, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "FAIL: open /dev/%s: %s\n", KVMUF_DEVICE_NAME, strerror(errno));
		exit(1);
	}
	return fd;
}

static struct kvmuf_attach attach_args(int vm_fd)
{
	struct kvmuf_attach a = {
		.vm_fd = vm_fd, .nr_vcpu_rings = 2, .ring_entries = 64,
	};
	return a;
}

static void test_attach_errors(int vm_fd)
{
	int dev = open_dev(), kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct kvmuf_attach a;
	struct kvmuf_info info;

	CHECK(xioctl(dev, KVMUF_GET_INFO, &info) == -ENODEV, "info before attach");
	CHECK(xioctl(dev, KVMUF_GET_STATS, &(struct kvmuf_stats){ 0 }) == -ENODEV,
	      "stats before attach");
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, dev, 0) == MAP_FAILED && errno == ENODEV,
	      "mmap before attach");

	a = attach_args(-1);
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EBADF, "attach fd -1");
	a = attach_args(null);
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -ENOTTY, "attach /dev/null");
	a = attach_args(kvm);
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -ENOTTY, "attach the /dev/kvm system fd");
	a = attach_args(dev);
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -ENOTTY, "attach our own device fd");

	a = attach_args(vm_fd);
	a.flags = 1u << 7;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "unknown attach flag");
	a = attach_args(vm_fd);
	a.reserved[2] = 1;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "reserved field set");
	a = attach_args(vm_fd);
	a.reserved0 = 1;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "reserved0 set");
	a = attach_args(vm_fd);
	a.takeover_ms = 1000;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "takeover_ms without the flag");
	a.flags = KVMUF_ATTACH_TAKEOVER;
	a.takeover_ms = 0;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "the takeover flag with no time");
	a.takeover_ms = KVMUF_MAX_TAKEOVER_MS + 1;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "a takeover wait above the limit");
	a = attach_args(vm_fd);
	a.ring_entries = 100;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "ring size not a power of two");
	a.ring_entries = 8;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "ring too small");
	a.ring_entries = KVMUF_MAX_RING_ENTRIES * 2;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "ring too large");
	a = attach_args(vm_fd);
	a.nr_vcpu_rings = KVMUF_MAX_VCPU_RINGS + 1;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EINVAL, "too many vCPU rings");
	CHECK(xioctl(dev, KVMUF_ATTACH, NULL) == -EFAULT, "NULL attach argument");
	CHECK(xioctl(dev, KVMUF_GET_INFO, &info) == -ENODEV, "still not attached after errors");

	/* Authority: a process that holds the VM fd but does not own the VM is refused. */
	{
		pid_t pid = fork();
		int status = -1;

		if (pid == 0) {
			int d = open_dev();
			struct kvmuf_attach ca = attach_args(vm_fd);

			_exit(xioctl(d, KVMUF_ATTACH, &ca) == -EPERM ? 0 : 1);
		}
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0,
		      "attach from another process (the VM fd inherited) refused with EPERM");
	}

	close(null);
	close(kvm);
	close(dev);
}

static struct kvmuf_batch batch(struct kvmuf_gfn_range *r, uint32_t nr)
{
	struct kvmuf_batch b = { .ranges = (uintptr_t)r, .nr = nr };
	return b;
}

static uint64_t nr_missing(int dev)
{
	struct kvmuf_info info;

	CHECK(xioctl(dev, KVMUF_GET_INFO, &info) == 0, "info");
	return info.nr_missing;
}

static void test_ranges_and_batches(int dev, uint64_t base, uint64_t npages)
{
	struct kvmuf_range r = { .gfn = base, .npages = npages };
	struct kvmuf_gfn_range g[2];
	struct kvmuf_batch b;
	unsigned int i;

	r.npages = 0;
	CHECK(xioctl(dev, KVMUF_ADD_RANGE, &r) == -EINVAL, "empty range");
	r.npages = npages;
	r.flags = 1u << 5;
	CHECK(xioctl(dev, KVMUF_ADD_RANGE, &r) == -EINVAL, "unknown range flag");
	r.flags = 0;
	r.gfn = UINT64_MAX - 2;
	r.npages = 8;
	CHECK(xioctl(dev, KVMUF_ADD_RANGE, &r) == -EINVAL, "range wraps past 2^64");
	r.gfn = base;
	r.npages = npages;
	/* Fail closed: missing GFNs over memory no userfaultfd guards are refused. */
	r.flags = KVMUF_RANGE_MISSING;
	CHECK(xioctl(dev, KVMUF_ADD_RANGE, &r) == -EINVAL,
	      "missing range without the userfaultfd backstop refused");
	CHECK(nr_missing(dev) == 0, "the refused range left nothing missing");
	/* The rest of this test drives the bits by hand: module only. */
	r.flags = KVMUF_RANGE_MODULE_ONLY;
	CHECK(xioctl(dev, KVMUF_ADD_RANGE, &r) == 0, "add the test range");
	r.flags = 0;
	r.gfn = base + npages - 1;
	r.npages = 4;
	CHECK(xioctl(dev, KVMUF_ADD_RANGE, &r) == -EEXIST, "overlapping range");
	/* Fill the table: the test range plus KVMUF_MAX_RANGES - 1 one-page ranges. */
	for (i = 1; i < KVMUF_MAX_RANGES; i++) {
		struct kvmuf_range one = { .gfn = 0x1000000 + 2 * i, .npages = 1 };

		CHECK(xioctl(dev, KVMUF_ADD_RANGE, &one) == 0, "small range %u", i);
	}
	r.gfn = 0x2000000;
	r.npages = 1;
	CHECK(xioctl(dev, KVMUF_ADD_RANGE, &r) == -ENOSPC, "one range too many");
	CHECK(nr_missing(dev) == 0, "ranges start present");

	g[0] = (struct kvmuf_gfn_range){ base, 4 };
	g[1] = (struct kvmuf_gfn_range){ base + npages - 1, 2 };	/* runs off the end */
	b = batch(g, 2);
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == -EINVAL, "set-missing out of range");
	CHECK(nr_missing(dev) == 0, "a rejected batch changes nothing");
	g[1] = (struct kvmuf_gfn_range){ base - 1, 1 };
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == -EINVAL, "set-missing below the range");
	b = batch(g, 0);
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == -EINVAL, "empty batch");
	b = batch(g, KVMUF_MAX_BATCH + 1);
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == -EINVAL, "batch too large");
	b = batch(NULL, 1);
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == -EFAULT, "NULL batch array");
	b = batch(g, 1);
	b.flags = 1;
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == -EINVAL, "batch flags");

	g[0] = (struct kvmuf_gfn_range){ base, 8 };
	b = batch(g, 1);
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == 0 && b.changed == 8 && b.unchanged == 0,
	      "set 8 missing: changed %llu unchanged %llu", (unsigned long long)b.changed,
	      (unsigned long long)b.unchanged);
	g[0] = (struct kvmuf_gfn_range){ base + 4, 8 };
	b = batch(g, 1);
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == 0 && b.changed == 4 && b.unchanged == 4,
	      "overlapping set-missing counts the already-missing");
	CHECK(nr_missing(dev) == 12, "12 missing, got %llu", (unsigned long long)nr_missing(dev));

	g[0] = (struct kvmuf_gfn_range){ base + 10, 4 };
	b = batch(g, 1);
	CHECK(xioctl(dev, KVMUF_RESOLVE, &b) == 0 && b.changed == 2 && b.unchanged == 2,
	      "resolve is harmless on present GFNs and says so");
	CHECK(nr_missing(dev) == 10, "10 missing after resolve");
	g[0] = (struct kvmuf_gfn_range){ base + 8, 2 };
	b = batch(g, 1);
	b.flags = KVMUF_RESOLVE_POPULATE << 1;
	CHECK(xioctl(dev, KVMUF_RESOLVE, &b) == -EINVAL, "unknown resolve flag");
	CHECK(nr_missing(dev) == 10, "a refused resolve changed something");
	b.flags = KVMUF_RESOLVE_POPULATE;
	CHECK(xioctl(dev, KVMUF_RESOLVE, &b) == 0 && b.changed == 2 && b.unchanged == 0,
	      "resolve with populate: changed %llu unchanged %llu",
	      (unsigned long long)b.changed, (unsigned long long)b.unchanged);
	CHECK(nr_missing(dev) == 8, "8 missing after resolve with populate");
	b.flags = 0;
	CHECK(xioctl(dev, KVMUF_SET_MISSING, &b) == 0 && b.changed == 2 && nr_missing(dev) == 10,
	      "missing again, as the tests below expect");
}

static void test_copy_and_wait(int dev, const struct kvmuf_test_mem *mem)
{
	uint64_t base = mem->gpa >> 12;
	char *src = aligned_alloc(4096, 3 * 4096);
	struct kvmuf_copy c[1];
	struct kvmuf_copy_batch cb = { .copies = (uintptr_t)c, .nr = 1 };
	struct kvmuf_wait w = { .gfn = base, .timeout_ms = 20 };
	char *dst = mem->hva;

	memset(src, 0xa5, 3 * 4096);
	CHECK(xioctl(dev, KVMUF_WAIT, &w) == -ETIMEDOUT, "wait on a missing GFN times out");
	w.flags = 2;
	CHECK(xioctl(dev, KVMUF_WAIT, &w) == -EINVAL, "wait flags");
	w = (struct kvmuf_wait){ .gfn = base - 1 };
	CHECK(xioctl(dev, KVMUF_WAIT, &w) == -EINVAL, "wait outside every range");

	c[0] = (struct kvmuf_copy){ .gfn = base, .npages = 2, .src = (uintptr_t)src + 8 };
	CHECK(xioctl(dev, KVMUF_RESOLVE_COPY, &cb) == -EINVAL, "misaligned copy source");
	c[0] = (struct kvmuf_copy){ .gfn = base + mem->size / 4096, .npages = 1, .src = (uintptr_t)src };
	CHECK(xioctl(dev, KVMUF_RESOLVE_COPY, &cb) == -EINVAL, "copy out of range");
	CHECK(nr_missing(dev) == 10, "rejected copies change nothing");

	/* GFNs base..base+2 are missing: data lands in the VMM's (our) memory. */
	c[0] = (struct kvmuf_copy){ .gfn = base, .npages = 3, .src = (uintptr_t)src };
	CHECK(xioctl(dev, KVMUF_RESOLVE_COPY, &cb) == 0 && cb.changed == 3 && cb.unchanged == 0,
	      "copy 3 missing pages: changed %llu", (unsigned long long)cb.changed);
	CHECK((unsigned char)dst[0] == 0xa5 && (unsigned char)dst[3 * 4096 - 1] == 0xa5,
	      "copied data visible in guest memory");
	w = (struct kvmuf_wait){ .gfn = base };
	CHECK(xioctl(dev, KVMUF_WAIT, &w) == 0, "wait on a resolved GFN returns at once");

	/* Present pages are never overwritten. */
	memset(src, 0x5a, 4096);
	c[0] = (struct kvmuf_copy){ .gfn = base, .npages = 1, .src = (uintptr_t)src };
	CHECK(xioctl(dev, KVMUF_RESOLVE_COPY, &cb) == 0 && cb.changed == 0 && cb.unchanged == 1,
	      "copy onto a present GFN is refused and counted");
	CHECK((unsigned char)dst[0] == 0xa5, "present page left untouched");
	CHECK(nr_missing(dev) == 7, "7 missing after copies");
	free(src);
}

/*
 * KVMUF_GET_MISSING over the 64-GFN range: the count is the VM's, base..base+2 were
 * copied in (present), a span from an unaligned GFN is the same bits shifted, and bad
 * queries are refused.
 */
static void test_get_missing(int dev, uint64_t base, uint64_t npages)
{
	uint64_t full[2] = { 0 }, part[2] = { 0 }, bad = 0;
	struct kvmuf_missing_query q = { .gfn = base, .npages = npages,
					 .bitmap = (uintptr_t)full };

	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == 0 && q.missing == nr_missing(dev) &&
	      (uint64_t)__builtin_popcountll(full[0]) == q.missing,
	      "get_missing: %llu missing, the VM says %llu",
	      (unsigned long long)q.missing, (unsigned long long)nr_missing(dev));
	CHECK(!(full[0] & 7), "get_missing: the copied GFNs are present");
	q = (struct kvmuf_missing_query){ .gfn = base + 1, .npages = npages - 1,
					  .bitmap = (uintptr_t)part };
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == 0 && part[0] == full[0] >> 1,
	      "get_missing: from gfn base + 1, the same bits one down");
	q.npages = 5;
	part[0] = ~0ULL;
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == 0 && part[0] == ((full[0] >> 1) & 31),
	      "get_missing: bits past npages are 0");
	q = (struct kvmuf_missing_query){ .gfn = base, .npages = npages,
					  .bitmap = (uintptr_t)full, .reserved = { 1 } };
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == -EINVAL, "get_missing: reserved");
	q.reserved[0] = 0;
	q.bitmap = (uintptr_t)full + 4;
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == -EINVAL, "get_missing: misaligned bitmap");
	q.bitmap = (uintptr_t)full;
	q.npages = npages + 1;
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == -EINVAL, "get_missing: past the range");
	q.npages = 0;
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == -EINVAL, "get_missing: no GFN");
	q = (struct kvmuf_missing_query){ .gfn = base - 1, .npages = 1, .bitmap = (uintptr_t)&bad };
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == -EINVAL, "get_missing: outside every range");
	q = (struct kvmuf_missing_query){ .gfn = base, .npages = npages, .bitmap = 8 };
	CHECK(xioctl(dev, KVMUF_GET_MISSING, &q) == -EFAULT, "get_missing: bad bitmap pointer");
}

/* No vCPU runs here: every counter is zero but what the batches changed. */
static void test_stats(int dev)
{
	struct kvmuf_stats st;
	struct kvmuf_info info;

	memset(&st, 0xff, sizeof(st));
	CHECK(xioctl(dev, KVMUF_GET_STATS, &st) == 0, "stats");
	CHECK(xioctl(dev, KVMUF_GET_INFO, &info) == 0, "info");
	CHECK(!st.faults && !st.deduped && !st.parks && !st.exits && !st.park_ns &&
	      !st.wake_ns && !st.spin_hits && !st.continued && !st.clamped &&
	      !st.recoveries_skipped && st.resolved == info.resolved,
	      "stats of a VM whose vCPUs never ran");
	for (unsigned int i = 0; i < sizeof(st.reserved) / sizeof(st.reserved[0]); i++)
		CHECK(st.reserved[i] == 0, "stats reserved[%u]", i);
	CHECK(xioctl(dev, KVMUF_GET_STATS, NULL) == -EFAULT, "stats into NULL");
}

static void test_mmap(int dev)
{
	struct kvmuf_info info;
	struct kvmuf_ring_header *h;
	uint8_t *m;
	unsigned int i;

	CHECK(xioctl(dev, KVMUF_GET_INFO, &info) == 0, "info");
	CHECK(info.api_version == KVMUF_API_VERSION && info.nr_rings == 3 &&
	      info.ring_entries == 64 && info.ring_stride == KVMUF_RING_STRIDE(64) &&
	      info.mmap_size == 3 * info.ring_stride, "ring geometry");
	CHECK(mmap(NULL, info.mmap_size + 4096, PROT_READ, MAP_SHARED, dev, 0) == MAP_FAILED &&
	      errno == EINVAL, "mmap past the rings");
	m = mmap(NULL, info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, dev, 0);
	CHECK(m != MAP_FAILED, "mmap rings: %s", strerror(errno));
	if (m == MAP_FAILED)
		return;
	for (i = 0; i < info.nr_rings; i++) {
		h = (void *)(m + i * info.ring_stride);
		CHECK(h->entries == 64 && h->vcpu == (i ? i - 1 : KVMUF_VM_RING) &&
		      h->head == 0 && h->tail == 0, "ring %u header", i);
	}
	munmap(m, info.mmap_size);
}

/*
 * A waiter fd: WAIT, INFO, STATS and GET_MISSING only; it does not keep the VM attached, so once the
 * device fd's last reference goes its WAIT on a missing GFN says -ENODEV at once.
 */
static void test_waiter(const struct kvmuf_vm_config *cfg)
{
	struct kvmuf_range r = { .npages = 8,
				 .flags = KVMUF_RANGE_MISSING | KVMUF_RANGE_MODULE_ONLY };
	struct kvmuf_wait w = { .timeout_ms = 20 };
	struct kvmuf_attach a;
	struct kvmuf_info info;
	struct kvmuf_vm *vm;
	int dev = open_dev(), waiter;

	CHECK(xioctl(dev, KVMUF_WAITER, NULL) == -ENODEV, "waiter of an unattached fd");
	if (kvmuf_vm_create(cfg, &vm)) {
		CHECK(0, "waiter: VM");
		return;
	}
	a = attach_args(kvmuf_vm_fd(vm));
	r.gfn = w.gfn = kvmuf_vm_test_mem(vm)->gpa >> 12;
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == 0 && xioctl(dev, KVMUF_ADD_RANGE, &r) == 0,
	      "waiter: attach");
	CHECK(xioctl(dev, KVMUF_WAITER, (void *)1) == -EINVAL, "waiter with an argument");
	waiter = ioctl(dev, KVMUF_WAITER, 0);
	CHECK(waiter >= 0 && (fcntl(waiter, F_GETFD) & FD_CLOEXEC), "waiter fd, close-on-exec");
	CHECK(xioctl(waiter, KVMUF_GET_INFO, &info) == 0 && info.nr_missing == 8, "waiter: info");
	CHECK(xioctl(waiter, KVMUF_WAIT, &w) == -ETIMEDOUT, "waiter: WAIT times out");
	{
		uint64_t bits = 0;
		struct kvmuf_missing_query q = { .gfn = r.gfn, .npages = 8,
						 .bitmap = (uintptr_t)&bits };

		CHECK(xioctl(waiter, KVMUF_GET_MISSING, &q) == 0 && q.missing == 8 &&
		      bits == 0xff, "waiter: GET_MISSING");
	}
	CHECK(xioctl(waiter, KVMUF_RESOLVE, &(struct kvmuf_batch){ 0 }) == -ENOTTY &&
	      xioctl(waiter, KVMUF_ATTACH, &a) == -ENOTTY &&
	      mmap(NULL, 4096, PROT_READ, MAP_SHARED, waiter, 0) == MAP_FAILED,
	      "waiter: nothing but WAIT, INFO, STATS and GET_MISSING");
	close(dev);		/* the last reference of the device file: detach */
	w.timeout_ms = 0;	/* no timeout: only the detach can end it */
	CHECK(xioctl(waiter, KVMUF_WAIT, &w) == -ENODEV,
	      "waiter: WAIT on a missing GFN after the detach says ENODEV");
	CHECK(xioctl(waiter, KVMUF_GET_STATS, &(struct kvmuf_stats){ 0 }) == 0,
	      "waiter: stats after the detach");
	close(waiter);
	kvmuf_vm_destroy(vm);
}

int main(void)
{
	struct kvmuf_vm_config cfg = { .nr_vcpus = 1, .bytes_per_vcpu = 64 * 4096,
				       .backing = KVMUF_MEM_ANON };
	struct kvmuf_vm *vm, *vm2;
	struct kvmuf_attach a;
	int dev, dev2, ret;

	ret = kvmuf_vm_create(&cfg, &vm);
	if (ret) {
		fprintf(stderr, "FAIL: cannot create a KVM VM: %s\n", strerror(errno));
		return 1;
	}
	test_attach_errors(kvmuf_vm_fd(vm));
	test_waiter(&cfg);

	dev = open_dev();
	a = attach_args(kvmuf_vm_fd(vm));
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == 0, "attach");
	CHECK(xioctl(dev, KVMUF_ATTACH, &a) == -EBUSY, "attach twice on one fd");
	dev2 = open_dev();
	CHECK(xioctl(dev2, KVMUF_ATTACH, &a) == -EBUSY, "the same VM from a second fd");

	test_ranges_and_batches(dev, kvmuf_vm_test_mem(vm)->gpa >> 12, 64);
	test_copy_and_wait(dev, kvmuf_vm_test_mem(vm));
	test_get_missing(dev, kvmuf_vm_test_mem(vm)->gpa >> 12, 64);
	test_stats(dev);
	test_mmap(dev);

	/* Several VMs at once: a second VM attaches on the second fd. */
	ret = kvmuf_vm_create(&cfg, &vm2);
	CHECK(ret == 0, "second VM");
	if (!ret) {
		a = attach_args(kvmuf_vm_fd(vm2));
		CHECK(xioctl(dev2, KVMUF_ATTACH, &a) == 0, "second VM attaches on its own fd");
	}
	close(dev2);
	close(dev);
	if (!ret)
		kvmuf_vm_destroy(vm2);
	kvmuf_vm_destroy(vm);
	if (failures)
		return 1;
	printf("ABI checks passed\n");
	return 0;
}
