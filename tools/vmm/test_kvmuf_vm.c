// SPDX-License-Identifier: GPL-2.0
/*
 * test_kvmuf_vm - exercises the kvmuf_vm library paths the CLI cannot reach
 * on its own: re-running a VM, the guest catching corrupted and wrongly
 * pre-filled memory, and the exit hook for both an unhandled exit reason
 * (MMIO, by removing the test memslot) and KVM_RUN failing with EFAULT
 * (injected, with and without a KVM_EXIT_MEMORY_FAULT payload).
 *
 * Failures the library is expected to diagnose print "kvmuf_vm: ..." lines
 * on stderr; each test says so before it starts.
 *
 * Exit status: 0 all passed, 1 a test failed, 77 /dev/kvm missing.
 */
#define _GNU_SOURCE
#include "kvmuf_vm.h"
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NR_VCPUS	2
#define REGION_BYTES	(64 * 1024)
#define SEED		0x0123456789abcdefULL

static struct kvmuf_vcpu_result res[NR_VCPUS];
static atomic_uint hook_calls;
static atomic_uint memory_fault_exits;


static uint64_t *page_word(struct kvmuf_vm *vm, uint64_t page)
{
	return (uint64_t *)((char *)kvmuf_vm_test_mem(vm)->hva +
			    page * KVMUF_PAGE_SIZE);
}

static int run(struct kvmuf_vm *vm, enum kvmuf_mode mode, uint64_t seed)
{
	double seconds;

	return kvmuf_vm_run(vm, mode, seed, res, &seconds);
}

/* Write, then verify the same memory in a second run of the same VM. */
static void test_write_then_verify(struct kvmuf_vm *vm)
{
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_WRITE, SEED) == 0, "write run");
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_WRITE, SEED, res) == 0,
	      "write results");
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_VERIFY, SEED) == 0, "verify run");
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_VERIFY, SEED, res) == 0,
	      "verify results");
}

/* The guest sum must match the host's over pre-filled memory. */
static void test_read_sum(struct kvmuf_vm *vm)
{
	kvmuf_vm_fill_pattern(vm, SEED);
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_READ, SEED) == 0, "read run");
	CHECK_OR_RETURN(res[1].guest_result == kvmuf_vm_region_sum(vm, 1) &&
	      res[1].guest_result != 0, "sum 0x%llx",
	      (unsigned long long)res[1].guest_result);
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_READ, SEED, res) == 0,
	      "read results");
}

/*
 * Sum mode: the guest's sum of every page equals the host's; a byte changed after the
 * run (deep inside a page, where verify mode does not look) makes the check fail.
 */
static void test_page_sums(struct kvmuf_vm *vm)
{
	uint64_t page = kvmuf_vm_region_pages(vm) + 2;

	kvmuf_vm_fill_pattern(vm, SEED);
	*(page_word(vm, page) + 300) = 0x5555;
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_SUM, 0) == 0, "sum run");
	CHECK_OR_RETURN(kvmuf_vm_page_sums(vm)[page] == ((KVMUF_TEST_GPA + page * KVMUF_PAGE_SIZE) ^ SEED) +
	      0x5555, "page sum 0x%llx", (unsigned long long)kvmuf_vm_page_sums(vm)[page]);
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_SUM, 0, res) == 0, "sum results");
	*((char *)page_word(vm, page) + 2049) ^= 1;
	printf("expect a diagnostic for the page sum at gpa 0x%llx:\n",
	       (unsigned long long)(KVMUF_TEST_GPA + page * KVMUF_PAGE_SIZE));
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_SUM, 0, res) < 0,
	      "check_results accepted a changed byte");
}

/* One vCPU over a few pages, and the test memory on a 2 MiB boundary (for THP). */
static void test_run_pages(struct kvmuf_vm *vm)
{
	uint64_t result = ~0ULL, total = NR_VCPUS * kvmuf_vm_region_pages(vm);

	CHECK_OR_RETURN(((uintptr_t)kvmuf_vm_test_mem(vm)->hva & ((2 << 20) - 1)) == 0,
	      "test memory at %p, not 2 MiB aligned", kvmuf_vm_test_mem(vm)->hva);
	kvmuf_vm_fill_pattern(vm, SEED);
	*page_word(vm, 7) ^= 1;
	CHECK_OR_RETURN(kvmuf_vm_run_pages(vm, 1, KVMUF_MODE_VERIFY, SEED, 0, 7, &result) == 0 &&
	      result == 0, "pages 0..6: %llu mismatches", (unsigned long long)result);
	CHECK_OR_RETURN(kvmuf_vm_run_pages(vm, 0, KVMUF_MODE_VERIFY, SEED, 5, 3, &result) == 0 &&
	      result == 1, "pages 5..7: %llu mismatches", (unsigned long long)result);
	CHECK_OR_RETURN(kvmuf_vm_run_pages(vm, 0, KVMUF_MODE_WRITE, SEED ^ 2, total - 1, 1, &result) == 0 &&
	      result == 1 && *page_word(vm, total - 1) ==
	      ((KVMUF_TEST_GPA + (total - 1) * KVMUF_PAGE_SIZE) ^ SEED ^ 2), "last page");
	printf("expect a diagnostic for a range past the end:\n");
	CHECK_OR_RETURN(kvmuf_vm_run_pages(vm, 0, KVMUF_MODE_WRITE, SEED, total, 1, &result) < 0,
	      "a page past the end");
}

/* One corrupted page in vCPU 1's region: only vCPU 1 reports it. */
static void test_corrupt_page(struct kvmuf_vm *vm)
{
	uint64_t page = kvmuf_vm_region_pages(vm) + 3, first = 0;

	kvmuf_vm_fill_pattern(vm, SEED);
	*page_word(vm, page) ^= 1;
	printf("expect a diagnostic for 1 bad page at gpa 0x%llx:\n",
	       (unsigned long long)(KVMUF_TEST_GPA + page * KVMUF_PAGE_SIZE));
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_VERIFY, SEED) == 0, "verify run");
	CHECK_OR_RETURN(res[0].guest_result == 0 && res[1].guest_result == 1,
	      "mismatches %llu/%llu", (unsigned long long)res[0].guest_result,
	      (unsigned long long)res[1].guest_result);
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_VERIFY, SEED, res) < 0,
	      "check_results accepted a corrupted page");
	CHECK_OR_RETURN(kvmuf_vm_check_pattern(vm, SEED, &first) == 1 &&
	      first == KVMUF_TEST_GPA + page * KVMUF_PAGE_SIZE,
	      "host check first bad 0x%llx", (unsigned long long)first);
}

/* Pre-filled with another seed: every page of every vCPU mismatches. */
static void test_wrong_prefill(struct kvmuf_vm *vm)
{
	kvmuf_vm_fill_pattern(vm, SEED ^ 0x1000);
	printf("expect diagnostics for every page:\n");
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_VERIFY, SEED) == 0, "verify run");
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		CHECK_OR_RETURN(res[i].guest_result == res[i].pages,
		      "vcpu %u: %llu mismatches", i,
		      (unsigned long long)res[i].guest_result);
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_VERIFY, SEED, res) < 0,
	      "check_results accepted a wrong pre-fill");
}

static int set_test_slot(struct kvmuf_vm *vm, int present)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	struct kvm_userspace_memory_region region = {
		.slot = mem->slot,
		.guest_phys_addr = mem->gpa,
		.memory_size = present ? mem->size : 0,
		.userspace_addr = (uintptr_t)mem->hva,
	};

	return ioctl(kvmuf_vm_fd(vm), KVM_SET_USER_MEMORY_REGION, &region);
}

/* Emulate guest writes to the (removed) test slot into its host mapping. */
static enum kvmuf_exit_action mmio_hook(struct kvmuf_vm *vm,
					const struct kvmuf_exit_info *info,
					void *opaque)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	const struct kvm_run *run = info->run;

	(void)opaque;
	if (info->run_errno || info->exit_reason != KVM_EXIT_MMIO ||
	    !run->mmio.is_write || run->mmio.phys_addr < mem->gpa ||
	    run->mmio.phys_addr + run->mmio.len > mem->gpa + mem->size)
		return KVMUF_EXIT_ERROR;
	memcpy((char *)mem->hva + (run->mmio.phys_addr - mem->gpa),
	       run->mmio.data, run->mmio.len);
	atomic_fetch_add(&hook_calls, 1);
	return KVMUF_EXIT_RETRY;
}

/* Unhandled exit reasons reach the hook; without one they are errors. */
static void test_hook_mmio(struct kvmuf_vm *vm)
{
	unsigned int pages = NR_VCPUS * kvmuf_vm_region_pages(vm);

	memset(kvmuf_vm_test_mem(vm)->hva, 0, kvmuf_vm_test_mem(vm)->size);
	CHECK_OR_RETURN(set_test_slot(vm, 0) == 0, "remove test slot: %s", strerror(errno));

	printf("expect unexpected-exit MMIO diagnostics (no hook):\n");
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_WRITE, SEED) < 0, "MMIO exit without a hook");

	atomic_store(&hook_calls, 0);
	kvmuf_vm_set_exit_hook(vm, mmio_hook, NULL);
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_WRITE, SEED) == 0, "write run with MMIO hook");
	kvmuf_vm_set_exit_hook(vm, NULL, NULL);
	CHECK_OR_RETURN(atomic_load(&hook_calls) == pages, "hook calls %u, pages %u",
	      atomic_load(&hook_calls), pages);
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_WRITE, SEED, res) == 0,
	      "write results via MMIO hook");
	CHECK_OR_RETURN(set_test_slot(vm, 1) == 0, "re-add test slot: %s", strerror(errno));
}

static enum kvmuf_exit_action stop_on_mmio(struct kvmuf_vm *vm,
					   const struct kvmuf_exit_info *info, void *opaque)
{
	(void)vm;
	(void)opaque;
	atomic_fetch_add(&hook_calls, 1);
	return !info->run_errno && info->exit_reason == KVM_EXIT_MMIO ? KVMUF_EXIT_STOP :
								       KVMUF_EXIT_ERROR;
}

/* A hook that stops the vCPU; the test memslot moved away and back. */
static void test_hook_stop(struct kvmuf_vm *vm)
{
	uint64_t result;

	CHECK_OR_RETURN(kvmuf_vm_update_test_slot(vm, KVMUF_TEST_GPA + (1ULL << 30), 0, 0) == 0,
	      "move the test slot");
	atomic_store(&hook_calls, 0);
	kvmuf_vm_set_exit_hook(vm, stop_on_mmio, NULL);
	/* The guest still touches the old GPA: nothing backs it now. */
	CHECK_OR_RETURN(kvmuf_vm_run_pages(vm, 0, KVMUF_MODE_READ, 0, 0, 1, &result) == 1 &&
	      atomic_load(&hook_calls) == 1, "stopped by the hook? %u calls",
	      atomic_load(&hook_calls));
	kvmuf_vm_set_exit_hook(vm, NULL, NULL);
	CHECK_OR_RETURN(kvmuf_vm_update_test_slot(vm, KVMUF_TEST_GPA, 0, 0) == 0, "move it back");
	CHECK_OR_RETURN(kvmuf_vm_run_pages(vm, 0, KVMUF_MODE_WRITE, SEED, 0, 4, &result) == 0 &&
	      result == 4, "runs again after the move back");
}

/*
 * Fault injection for the EFAULT path, which no stock kernel produces on
 * demand (this program's ioctl() overrides libc's, library included): the
 * next inject_left KVM_RUN calls fail with EFAULT without entering the
 * guest, alternately as an old kernel (bare EFAULT) and as a new one
 * (exit reason KVM_EXIT_MEMORY_FAULT, payload at the exit union).
 */
#define FAULT_GPA	(KVMUF_TEST_GPA + 5 * KVMUF_PAGE_SIZE)
#define FAULT_FLAGS	0x8ULL

static atomic_int inject_left;

static void fake_memory_fault(int vcpu_fd)
{
	const uint64_t payload[3] = { FAULT_FLAGS, FAULT_GPA, KVMUF_PAGE_SIZE };
	long page = sysconf(_SC_PAGESIZE);
	struct kvm_run *run;

	run = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED)
		return;
	run->exit_reason = KVM_EXIT_MEMORY_FAULT;
	memcpy((char *)run + offsetof(struct kvm_run, hw), payload,
	       sizeof(payload));
	munmap(run, page);
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int n;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (request == KVM_RUN && atomic_load(&inject_left) > 0 &&
	    (n = atomic_fetch_sub(&inject_left, 1)) > 0) {
		if (n % 2)
			fake_memory_fault(fd);
		errno = EFAULT;
		return -1;
	}
	return (int)syscall(SYS_ioctl, fd, request, arg);
}

static atomic_uint bare_efaults;

/* Accepts exactly what the injection produces, then retries. */
static enum kvmuf_exit_action efault_hook(struct kvmuf_vm *vm,
					  const struct kvmuf_exit_info *info,
					  void *opaque)
{
	(void)vm;
	(void)opaque;
	if (info->run_errno != EFAULT)
		return KVMUF_EXIT_ERROR;
	if (info->exit_reason == KVM_EXIT_UNKNOWN) {
		atomic_fetch_add(&bare_efaults, 1);
		return KVMUF_EXIT_RETRY;
	}
	if (info->exit_reason == KVM_EXIT_MEMORY_FAULT &&
	    info->fault_gpa == FAULT_GPA && info->fault_flags == FAULT_FLAGS &&
	    info->fault_size == KVMUF_PAGE_SIZE) {
		atomic_fetch_add(&memory_fault_exits, 1);
		return KVMUF_EXIT_RETRY;
	}
	return KVMUF_EXIT_ERROR;
}

/* KVM_RUN failing with EFAULT reaches the hook; without one it is fatal. */
static void test_hook_efault(struct kvmuf_vm *vm)
{
	atomic_store(&inject_left, 1);
	printf("expect a KVM_RUN EFAULT diagnostic (no hook):\n");
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_WRITE, SEED) < 0, "EFAULT without a hook");

	atomic_store(&bare_efaults, 0);
	atomic_store(&memory_fault_exits, 0);
	atomic_store(&inject_left, 6);
	kvmuf_vm_set_exit_hook(vm, efault_hook, NULL);
	CHECK_OR_RETURN(run(vm, KVMUF_MODE_WRITE, SEED ^ 1) == 0, "write with EFAULT hook");
	kvmuf_vm_set_exit_hook(vm, NULL, NULL);
	CHECK_OR_RETURN(atomic_load(&bare_efaults) == 3 &&
	      atomic_load(&memory_fault_exits) == 3,
	      "hook saw %u bare EFAULTs, %u memory faults (want 3, 3)",
	      atomic_load(&bare_efaults), atomic_load(&memory_fault_exits));
	CHECK_OR_RETURN(kvmuf_vm_check_results(vm, KVMUF_MODE_WRITE, SEED ^ 1, res) == 0,
	      "write results after EFAULT retries");
}

static const struct {
	const char *name;
	void (*fn)(struct kvmuf_vm *vm);
} tests[] = {
	{ "write_then_verify",	test_write_then_verify },
	{ "read_sum",		test_read_sum },
	{ "corrupt_page",	test_corrupt_page },
	{ "wrong_prefill",	test_wrong_prefill },
	{ "hook_mmio",		test_hook_mmio },
	{ "hook_efault",	test_hook_efault },
	{ "page_sums",		test_page_sums },
	{ "run_pages",		test_run_pages },
	{ "hook_stop",		test_hook_stop },
};

int main(void)
{
	static const enum kvmuf_backing backings[] = {
		KVMUF_MEM_ANON, KVMUF_MEM_MEMFD,
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t b = 0; b < sizeof(backings) / sizeof(backings[0]); b++) {
		struct kvmuf_vm_config cfg = {
			.nr_vcpus = NR_VCPUS,
			.bytes_per_vcpu = REGION_BYTES,
			.backing = backings[b],
		};
		struct kvmuf_vm *vm;
		int ret = kvmuf_vm_create(&cfg, &vm);

		if (ret == KVMUF_CREATE_NOKVM) {
			printf("SKIP: /dev/kvm: %s\n", strerror(errno));
			return 77;
		}
		if (ret != KVMUF_CREATE_OK) {
			printf("FAIL: cannot create VM\n");
			return 1;
		}
		for (size_t t = 0; t < sizeof(tests) / sizeof(tests[0]); t++) {
			int before = failures;

			tests[t].fn(vm);
			printf("%s %s/%s\n", failures == before ? "ok  " : "FAIL",
			       tests[t].name, kvmuf_backing_name(backings[b]));
		}
		kvmuf_vm_destroy(vm);
	}
	printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
