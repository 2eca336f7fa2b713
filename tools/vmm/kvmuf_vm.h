/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmuf_vm - a tiny KVM VMM library reproducing the kernel selftest
 * "memstress" pattern: N vCPUs, each owning a region of B bytes of guest
 * memory, each touching every 4 KiB page of its region exactly once.
 *
 * Guest physical layout:
 *   slot 0 (KVMUF_SLOT_SYSTEM) at GPA 0: guest code + identity-mapped page
 *          tables.  Never part of a test region, so it can stay resident
 *          while the test slot is demand-paged.
 *   slot 1 (KVMUF_SLOT_TEST) at KVMUF_TEST_GPA: nr_vcpus * bytes_per_vcpu
 *          bytes; vCPU i owns [KVMUF_TEST_GPA + i * B, ... + (i + 1) * B).
 *
 * Typical use:
 *   kvmuf_vm_create(&cfg, &vm);          VM, memslots, vCPUs are ready
 *   ... attach a fault handler to kvmuf_vm_fd(vm) / kvmuf_vm_test_mem(vm)
 *   kvmuf_vm_run(vm, mode, seed, res, &secs);
 *   kvmuf_vm_check_results(vm, mode, seed, res);
 *   kvmuf_vm_destroy(vm);
 *
 * Diagnostics are printed on stderr, prefixed with "kvmuf_vm: ".
 */
#ifndef KVMUF_VM_H
#define KVMUF_VM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

/*
 * Also defined by <kvmuf/kvm_userfault.h>, spelled exactly the same, so
 * that a file including both headers (in either order) sees one identical
 * definition.
 */
#ifndef KVMUF_PAGE_SHIFT
#define KVMUF_PAGE_SHIFT	12
#endif
#ifndef KVMUF_PAGE_SIZE
#define KVMUF_PAGE_SIZE		(1ULL << KVMUF_PAGE_SHIFT)
#endif
#define KVMUF_SLOT_SYSTEM	0
#define KVMUF_SLOT_TEST		1
#define KVMUF_TEST_GPA		0x100000000ULL		/* 4 GiB */
/* The test slot must end below 512 GiB: one guest PDPT maps everything. */
#define KVMUF_GPA_LIMIT		(512ULL << 30)

/* I/O port the guest writes to once it has touched all its pages. */
#define KVMUF_REPORT_PORT	0xf1

/*
 * Exit reason and payload used by newer kernels (and by the kvm-userfault
 * module) to describe a guest access KVM could not resolve.  Old uapi
 * headers lack both; the payload is then read at the offset of the
 * kvm_run exit union (see kvmuf_vm.c).
 */
#ifdef KVM_EXIT_MEMORY_FAULT
#define KVMUF_UAPI_HAS_MEMORY_FAULT 1
#else
#define KVM_EXIT_MEMORY_FAULT	39
#endif

enum kvmuf_backing {
	KVMUF_MEM_ANON,		/* mmap(MAP_PRIVATE | MAP_ANONYMOUS) */
	KVMUF_MEM_MEMFD,	/* memfd_create + ftruncate + mmap(MAP_SHARED) */
};

/*
 * How the test memory asks for transparent huge pages. The default is what QEMU does
 * with guest RAM: MADV_HUGEPAGE on a 2 MiB aligned mapping.
 */
enum kvmuf_thp {
	KVMUF_THP_MADVISE,	/* madvise(MADV_HUGEPAGE) */
	KVMUF_THP_SYSTEM,	/* no madvise: the system's THP setting decides */
	KVMUF_THP_NEVER,	/* madvise(MADV_NOHUGEPAGE) */
};

enum kvmuf_mode {
	KVMUF_MODE_WRITE,	/* store gpa ^ seed at each page; result = pages */
	KVMUF_MODE_READ,	/* load each page's first u64; result = sum */
	KVMUF_MODE_VERIFY,	/* compare with gpa ^ seed; result = mismatches */
	KVMUF_MODE_SUM,		/* sum all 512 u64 of each page into the page-sum
				 * area (kvmuf_vm_page_sums()); seed unused */
};

struct kvmuf_vm_config {
	unsigned int nr_vcpus;		/* >= 1 */
	uint64_t bytes_per_vcpu;	/* > 0, multiple of KVMUF_PAGE_SIZE */
	enum kvmuf_backing backing;
	/* Every vCPU touches the same region (vCPU 0's): the test memory is one region.
	 * For dedup tests: several vCPUs fault on each page at about the same time. */
	int shared_region;
	enum kvmuf_thp thp;
	/* Pin the thread of vCPU i to CPU vcpu_cpus[i % nr_vcpu_cpus]; 0 CPUs: no pinning. */
	const int *vcpu_cpus;
	unsigned int nr_vcpu_cpus;
};

/* The test memslot, for demand-paging daemons and fault handlers. */
struct kvmuf_test_mem {
	void *hva;		/* host mapping of the whole slot */
	int memfd;		/* backing memfd, or -1 for anonymous memory */
	uint64_t gpa;		/* guest physical base (KVMUF_TEST_GPA) */
	uint64_t size;		/* nr_vcpus * bytes_per_vcpu */
	uint32_t slot;		/* KVMUF_SLOT_TEST */
};

/* Outcome of one vCPU in kvmuf_vm_run(). */
struct kvmuf_vcpu_result {
	int ok;			/* guest reported and halted normally */
	uint64_t pages;		/* pages in this vCPU's region */
	uint64_t guest_result;	/* RAX at the report: see enum kvmuf_mode */
	double seconds;		/* from release until this vCPU halted */
};

/* What an exit hook tells the run loop to do next. */
enum kvmuf_exit_action {
	KVMUF_EXIT_RETRY,	/* re-enter KVM_RUN */
	KVMUF_EXIT_ERROR,	/* stop this vCPU and fail the run */
	KVMUF_EXIT_STOP,	/* stop this vCPU: the exit was what the caller expected */
};

/*
 * Passed to the exit hook for (a) exit reasons the library does not handle
 * itself (I/O to ports other than the report port included) and (b) KVM_RUN failing
 * with EFAULT.  For (b), run_errno is
 * EFAULT; the library resets run->exit_reason to KVM_EXIT_UNKNOWN before
 * every KVM_RUN, so exit_reason == KVM_EXIT_MEMORY_FAULT (with the
 * memory_fault fields valid) only when the kernel really reported one.
 */
struct kvmuf_exit_info {
	unsigned int vcpu;	/* vCPU index */
	int vcpu_fd;
	struct kvm_run *run;
	int run_errno;		/* 0 if KVM_RUN returned 0, else its errno */
	uint32_t exit_reason;	/* run->exit_reason */
	uint64_t fault_flags;	/* memory_fault payload, valid only if */
	uint64_t fault_gpa;	/* exit_reason == KVM_EXIT_MEMORY_FAULT */
	uint64_t fault_size;
};

struct kvmuf_vm;

/* Called on the vCPU's own thread; must be thread-safe across vCPUs. */
typedef enum kvmuf_exit_action (*kvmuf_exit_hook_fn)(
	struct kvmuf_vm *vm, const struct kvmuf_exit_info *info, void *opaque);

/* Return values of kvmuf_vm_create(). */
#define KVMUF_CREATE_OK		0
#define KVMUF_CREATE_ERROR	(-1)	/* diagnostic printed on stderr */
#define KVMUF_CREATE_NOKVM	(-2)	/* /dev/kvm unusable; errno says why */

int kvmuf_vm_create(const struct kvmuf_vm_config *cfg, struct kvmuf_vm **out);
void kvmuf_vm_destroy(struct kvmuf_vm *vm);

int kvmuf_vm_fd(const struct kvmuf_vm *vm);
unsigned int kvmuf_vm_nr_vcpus(const struct kvmuf_vm *vm);
/* vCPU @vcpu's fd (e.g. for KVM_GET_STATS_FD), or -1 if @vcpu >= nr_vcpus. */
int kvmuf_vm_vcpu_fd(const struct kvmuf_vm *vm, unsigned int vcpu);
const struct kvmuf_test_mem *kvmuf_vm_test_mem(const struct kvmuf_vm *vm);
/* Guest physical base and page count of vCPU @vcpu's region. */
uint64_t kvmuf_vm_region_gpa(const struct kvmuf_vm *vm, unsigned int vcpu);
uint64_t kvmuf_vm_region_pages(const struct kvmuf_vm *vm);

/* Install (or with fn == NULL remove) the exit hook; not during a run. */
void kvmuf_vm_set_exit_hook(struct kvmuf_vm *vm, kvmuf_exit_hook_fn fn,
			    void *opaque);

/*
 * Run every vCPU once in @mode with @seed: one thread per vCPU, all created
 * first and released together through a barrier.  @res must hold nr_vcpus
 * entries.  *@seconds is the wall time from just before the release until
 * the last vCPU thread has been joined.  May be called again on the same
 * VM (vCPU registers are reset each time).  Returns 0 if every vCPU
 * reported and halted, -1 otherwise.
 */
int kvmuf_vm_run(struct kvmuf_vm *vm, enum kvmuf_mode mode, uint64_t seed,
		 struct kvmuf_vcpu_result *res, double *seconds);

/*
 * Run vCPU @vcpu alone, on the calling thread, in @mode over the @npages test pages
 * from page @first (0 = the first page of the test slot). 0 when the guest reported
 * and halted (its RAX in *@result), 1 when the exit hook answered KVMUF_EXIT_STOP,
 * -1 on failure (diagnostic printed).
 */
int kvmuf_vm_run_pages(struct kvmuf_vm *vm, unsigned int vcpu, enum kvmuf_mode mode,
		       uint64_t seed, uint64_t first, uint64_t npages, uint64_t *result);

/*
 * Kick every vCPU thread of a running kvmuf_vm_run(): a KVMUF_VM_KICK_SIGNAL (a no-op
 * handler is installed, without SA_RESTART) makes its KVM_RUN return EINTR, and the run
 * loop re-enters it, as a VMM's vCPU kick does. Returns how many threads were signalled.
 */
#define KVMUF_VM_KICK_SIGNAL	SIGUSR1
int kvmuf_vm_kick(struct kvmuf_vm *vm);

/*
 * Run @len bytes of 64-bit guest code on vCPU @vcpu, on the calling thread, with the
 * general registers @regs (rip and rflags are set here). The code runs identity-mapped
 * with no stack and no IDT, like the built-in modes, and ends as they do: "out 0xf1,
 * al; hlt" reports RAX (in *@result). Exits the library does not handle (other ports,
 * MMIO, memory faults) go to the exit hook. Returns as kvmuf_vm_run_pages().
 */
int kvmuf_vm_run_code(struct kvmuf_vm *vm, unsigned int vcpu, const void *code, size_t len,
		      const struct kvm_regs *regs, uint64_t *result);

/*
 * Make the 2 MiB of guest-virtual space at @gva (2 MiB aligned, in the first GiB, above
 * the system slot: otherwise unbacked, i.e. MMIO) map through the 4 KiB page table at
 * guest physical @table_gpa, e.g. a test page whose content is a page table. 0 or -1.
 */
int kvmuf_vm_map_table(struct kvmuf_vm *vm, uint64_t gva, uint64_t table_gpa);

/*
 * The page-sum area KVMUF_MODE_SUM writes: entry p is the sum of the 512 u64 of test
 * page p, as the guest read it (valid for the pages of the last SUM run).
 */
const uint64_t *kvmuf_vm_page_sums(const struct kvmuf_vm *vm);

/*
 * KVM_SET_USER_MEMORY_REGION on the test memslot: move it to @gpa, change its @flags
 * (e.g. KVM_MEM_LOG_DIRTY_PAGES) or delete it (@delete). 0 or -errno. The guest code
 * and kvmuf_test_mem.gpa keep using the GPA the VM was created with: after a move away,
 * or a delete, nothing backs it (MMIO exits) until the slot is put back there.
 */
int kvmuf_vm_update_test_slot(struct kvmuf_vm *vm, uint64_t gpa, uint32_t flags,
			      int delete);

/* Host side: store gpa ^ seed at the start of every test page. */
void kvmuf_vm_fill_pattern(struct kvmuf_vm *vm, uint64_t seed);
/*
 * Host side: count test pages whose first u64 is not gpa ^ seed; the GPA of
 * the first such page goes to *@first_bad (if non-NULL and count > 0).
 */
uint64_t kvmuf_vm_check_pattern(const struct kvmuf_vm *vm, uint64_t seed,
				uint64_t *first_bad);
/* Host side: wrapping sum of the first u64 of every page of a region. */
uint64_t kvmuf_vm_region_sum(const struct kvmuf_vm *vm, unsigned int vcpu);

/*
 * Check a successful run's results: write mode - every vCPU wrote all its
 * pages and the host sees gpa ^ seed everywhere; read mode - each guest sum
 * equals the host's sum of the same region; verify mode - no guest
 * mismatches.  Returns 0 if all is well, -1 (diagnostic on stderr) if not.
 */
int kvmuf_vm_check_results(const struct kvmuf_vm *vm, enum kvmuf_mode mode,
			   uint64_t seed, const struct kvmuf_vcpu_result *res);

const char *kvmuf_mode_name(enum kvmuf_mode mode);
const char *kvmuf_backing_name(enum kvmuf_backing backing);

#endif /* KVMUF_VM_H */
