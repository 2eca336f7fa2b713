// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf_vm - tiny KVM VMM library, see kvmuf_vm.h.
 *
 * The guest never boots: the VMM loads 64-bit long-mode state straight into
 * the vCPU with KVM_SET_SREGS/KVM_SET_REGS.  That removes the need for a
 * real-mode trampoline, a GDT or any firmware, so the guest's entire
 * footprint is one page of code and a handful of page-table pages, all in
 * the system slot, and every other guest access is to the test slot.
 */
#define _GNU_SOURCE
#include "kvmuf_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- guest physical layout of the system slot (slot 0, at GPA 0) ---- */

#define SYS_CODE_GPA	0x0000ULL	/* guest code, one blob per mode */
#define SYS_PML4_GPA	0x1000ULL
#define SYS_PDPT_GPA	0x2000ULL
#define SYS_PD_GPA	0x3000ULL	/* PD for GiB 0, then the test GiBs */
#define CODE_STRIDE	0x100		/* offset between mode blobs */
#define USER_CODE_GPA	0x0800ULL	/* kvmuf_vm_run_code(): up to the PML4 */
#define USER_CODE_MAX	(SYS_PML4_GPA - USER_CODE_GPA)

#define GIB_SHIFT	30
#define LARGE_SHIFT	21		/* 2 MiB guest pages */
#define PD_ENTRIES	512

/* Page-table entry bits. */
#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_A		(1ULL << 5)
#define PTE_D		(1ULL << 6)
#define PTE_PS		(1ULL << 7)	/* 2 MiB page in a PD entry */

/* Control register / EFER bits for long mode. */
#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

/*
 * Guest code.  Entered in 64-bit mode with
 *   RDI = GPA of the vCPU's region, RSI = seed (sum mode: where the page sums
 *   go), RDX = page count,
 * it walks the region in 4 KiB steps, then reports by writing to port
 * KVMUF_REPORT_PORT (the VMM reads the full RAX via KVM_GET_REGS) and halts.
 * No stack, no interrupts, no IDT: any exception becomes a triple fault,
 * i.e. KVM_EXIT_SHUTDOWN.
 */
_Static_assert(KVMUF_PAGE_SIZE == 0x1000, "guest code steps by 0x1000");
_Static_assert(KVMUF_REPORT_PORT == 0xf1, "guest code writes port 0xf1");

static const uint8_t guest_write[] = {
	0x31, 0xc0,			/*     xor  eax, eax     ; pages = 0    */
	0x48, 0x85, 0xd2,		/*     test rdx, rdx                    */
	0x74, 0x18,			/*     jz   done                        */
	0x48, 0x89, 0xf9,		/* l:  mov  rcx, rdi     ; gpa         */
	0x48, 0x31, 0xf1,		/*     xor  rcx, rsi     ; ^ seed      */
	0x48, 0x89, 0x0f,		/*     mov  [rdi], rcx   ; store       */
	0x48, 0xff, 0xc0,		/*     inc  rax                         */
	0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, /* add rdi, 0x1000   */
	0x48, 0x39, 0xd0,		/*     cmp  rax, rdx                    */
	0x75, 0xe8,			/*     jne  l                           */
	0xe6, 0xf1,			/* done: out 0xf1, al    ; report      */
	0xf4,				/*     hlt                              */
};

static const uint8_t guest_read[] = {
	0x31, 0xc0,			/*     xor  eax, eax     ; sum = 0      */
	0x48, 0x85, 0xd2,		/*     test rdx, rdx                    */
	0x74, 0x0f,			/*     jz   done                        */
	0x48, 0x03, 0x07,		/* l:  add  rax, [rdi]   ; load, sum   */
	0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, /* add rdi, 0x1000   */
	0x48, 0xff, 0xca,		/*     dec  rdx                         */
	0x75, 0xf1,			/*     jnz  l                           */
	0xe6, 0xf1,			/* done: out 0xf1, al    ; report      */
	0xf4,				/*     hlt                              */
};

static const uint8_t guest_verify[] = {
	0x31, 0xc0,			/*     xor  eax, eax     ; bad = 0      */
	0x48, 0x85, 0xd2,		/*     test rdx, rdx                    */
	0x74, 0x1a,			/*     jz   done                        */
	0x48, 0x89, 0xf9,		/* l:  mov  rcx, rdi     ; gpa         */
	0x48, 0x31, 0xf1,		/*     xor  rcx, rsi     ; ^ seed      */
	0x48, 0x3b, 0x0f,		/*     cmp  rcx, [rdi]                  */
	0x74, 0x03,			/*     je   next                        */
	0x48, 0xff, 0xc0,		/*     inc  rax          ; mismatch    */
	0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, /* next: add rdi, 0x1000 */
	0x48, 0xff, 0xca,		/*     dec  rdx                         */
	0x75, 0xe6,			/*     jnz  l                           */
	0xe6, 0xf1,			/* done: out 0xf1, al    ; report      */
	0xf4,				/*     hlt                              */
};

/* RSI = GPA of the page-sum entry of the region's first page. */
static const uint8_t guest_sum[] = {
	0x48, 0x85, 0xd2,		/*     test rdx, rdx                    */
	0x74, 0x1e,			/*     jz   done                        */
	0x31, 0xc0,			/* p:  xor  eax, eax     ; sum = 0      */
	0xb9, 0x00, 0x02, 0x00, 0x00,	/*     mov  ecx, 512     ; words       */
	0x48, 0x03, 0x07,		/* w:  add  rax, [rdi]                  */
	0x48, 0x83, 0xc7, 0x08,		/*     add  rdi, 8                      */
	0xff, 0xc9,			/*     dec  ecx                         */
	0x75, 0xf5,			/*     jnz  w                           */
	0x48, 0x89, 0x06,		/*     mov  [rsi], rax   ; page sum    */
	0x48, 0x83, 0xc6, 0x08,		/*     add  rsi, 8                      */
	0x48, 0xff, 0xca,		/*     dec  rdx                         */
	0x75, 0xe2,			/*     jnz  p                           */
	0xe6, 0xf1,			/* done: out 0xf1, al    ; report      */
	0xf4,				/*     hlt                              */
};

static const struct {
	const uint8_t *code;
	size_t len;
} guest_code[] = {
	[KVMUF_MODE_WRITE]  = { guest_write,  sizeof(guest_write) },
	[KVMUF_MODE_READ]   = { guest_read,   sizeof(guest_read) },
	[KVMUF_MODE_VERIFY] = { guest_verify, sizeof(guest_verify) },
	[KVMUF_MODE_SUM]    = { guest_sum,    sizeof(guest_sum) },
};

#define NR_MODES (sizeof(guest_code) / sizeof(guest_code[0]))
_Static_assert(NR_MODES * CODE_STRIDE <= USER_CODE_GPA, "mode blobs overlap the user code");
_Static_assert(sizeof(guest_write) <= CODE_STRIDE &&
	       sizeof(guest_read) <= CODE_STRIDE &&
	       sizeof(guest_verify) <= CODE_STRIDE &&
	       sizeof(guest_sum) <= CODE_STRIDE, "guest blob too big");

/* ---- VM state ---- */

struct kvmuf_vcpu {
	struct kvmuf_vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	struct kvmuf_vcpu_result *res;	/* valid during kvmuf_vm_run() */
	pthread_t thread;
	_Atomic int tid;		/* while in KVM_RUN loops: the thread's TID (kicks) */
};

/* Holds created vCPU threads until the main thread releases them all. */
struct start_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int waiting;
	int state;			/* 0 = hold, 1 = go, -1 = abort */
};

struct kvmuf_vm {
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	unsigned int nr_vcpus;
	uint64_t bytes_per_vcpu;
	int shared_region;
	void *sys_hva;
	uint64_t sys_size;
	uint64_t sums_gpa;		/* page-sum area in the system slot */
	enum kvmuf_thp thp;
	int *vcpu_cpus;			/* copy of the config's, or NULL */
	unsigned int nr_vcpu_cpus;
	struct kvmuf_test_mem test;
	struct kvmuf_vcpu *vcpus;
	kvmuf_exit_hook_fn hook;
	void *hook_opaque;
	struct start_gate gate;
};

/* ---- diagnostics ---- */

__attribute__((format(printf, 1, 2)))
static void vm_err(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kvmuf_vm: %s\n", msg);
}

/* Report a failed system call; preserves errno for the caller. */
static void sys_err(const char *what)
{
	int e = errno;

	vm_err("%s: %s", what, strerror(e));
	errno = e;
}

static const char *exit_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN]	  = "UNKNOWN",
		[KVM_EXIT_EXCEPTION]	  = "EXCEPTION",
		[KVM_EXIT_IO]		  = "IO",
		[KVM_EXIT_HYPERCALL]	  = "HYPERCALL",
		[KVM_EXIT_DEBUG]	  = "DEBUG",
		[KVM_EXIT_HLT]		  = "HLT",
		[KVM_EXIT_MMIO]		  = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN]	  = "SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY]	  = "FAIL_ENTRY",
		[KVM_EXIT_INTR]		  = "INTR",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_SYSTEM_EVENT]	  = "SYSTEM_EVENT",
		[KVM_EXIT_X86_RDMSR]	  = "X86_RDMSR",
		[KVM_EXIT_X86_WRMSR]	  = "X86_WRMSR",
		[KVM_EXIT_MEMORY_FAULT]	  = "MEMORY_FAULT",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "?";
}

const char *kvmuf_mode_name(enum kvmuf_mode mode)
{
	switch (mode) {
	case KVMUF_MODE_WRITE:	return "write";
	case KVMUF_MODE_READ:	return "read";
	case KVMUF_MODE_VERIFY:	return "verify";
	case KVMUF_MODE_SUM:	return "sum";
	}
	return "?";
}

const char *kvmuf_backing_name(enum kvmuf_backing backing)
{
	switch (backing) {
	case KVMUF_MEM_ANON:	return "anon";
	case KVMUF_MEM_MEMFD:	return "memfd";
	}
	return "?";
}

/* ---- accessors ---- */

int kvmuf_vm_fd(const struct kvmuf_vm *vm)
{
	return vm->vm_fd;
}

unsigned int kvmuf_vm_nr_vcpus(const struct kvmuf_vm *vm)
{
	return vm->nr_vcpus;
}

int kvmuf_vm_vcpu_fd(const struct kvmuf_vm *vm, unsigned int vcpu)
{
	return vcpu < vm->nr_vcpus ? vm->vcpus[vcpu].fd : -1;
}

const struct kvmuf_test_mem *kvmuf_vm_test_mem(const struct kvmuf_vm *vm)
{
	return &vm->test;
}

uint64_t kvmuf_vm_region_gpa(const struct kvmuf_vm *vm, unsigned int vcpu)
{
	return vm->test.gpa + (vm->shared_region ? 0 : (uint64_t)vcpu * vm->bytes_per_vcpu);
}

uint64_t kvmuf_vm_region_pages(const struct kvmuf_vm *vm)
{
	return vm->bytes_per_vcpu / KVMUF_PAGE_SIZE;
}

void kvmuf_vm_set_exit_hook(struct kvmuf_vm *vm, kvmuf_exit_hook_fn fn,
			    void *opaque)
{
	vm->hook = fn;
	vm->hook_opaque = opaque;
}

/* ---- creation ---- */

static int check_config(const struct kvmuf_vm_config *cfg)
{
	uint64_t max = KVMUF_GPA_LIMIT - KVMUF_TEST_GPA;

	if (cfg->nr_vcpus == 0) {
		vm_err("need at least one vCPU");
		return -1;
	}
	if (cfg->bytes_per_vcpu == 0 || cfg->bytes_per_vcpu % KVMUF_PAGE_SIZE) {
		vm_err("bytes per vCPU (%llu) must be a non-zero multiple of %llu",
		       (unsigned long long)cfg->bytes_per_vcpu, KVMUF_PAGE_SIZE);
		return -1;
	}
	if (cfg->bytes_per_vcpu > max / cfg->nr_vcpus) {
		vm_err("%u x %llu bytes does not fit below guest address 0x%llx",
		       cfg->nr_vcpus, (unsigned long long)cfg->bytes_per_vcpu,
		       KVMUF_GPA_LIMIT);
		return -1;
	}
	if (cfg->backing != KVMUF_MEM_ANON && cfg->backing != KVMUF_MEM_MEMFD) {
		vm_err("unknown memory backing %d", (int)cfg->backing);
		return -1;
	}
	if (cfg->thp != KVMUF_THP_MADVISE && cfg->thp != KVMUF_THP_SYSTEM &&
	    cfg->thp != KVMUF_THP_NEVER) {
		vm_err("unknown THP policy %d", (int)cfg->thp);
		return -1;
	}
	return 0;
}

/* KVM_GET_SUPPORTED_CPUID, growing the buffer until it fits. */
static struct kvm_cpuid2 *get_supported_cpuid(int kvm_fd)
{
	unsigned int nent = 64;

	for (;;) {
		struct kvm_cpuid2 *cpuid;

		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		if (!cpuid) {
			sys_err("calloc");
			return NULL;
		}
		cpuid->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			return cpuid;
		free(cpuid);
		if (errno != E2BIG) {
			sys_err("KVM_GET_SUPPORTED_CPUID");
			return NULL;
		}
		nent *= 2;
	}
}

/* Guest physical address width from CPUID 0x80000008 (36 if absent). */
static unsigned int cpuid_phys_bits(const struct kvm_cpuid2 *cpuid)
{
	for (unsigned int i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 0x80000008)
			return cpuid->entries[i].eax & 0xff;
	return 36;
}

static int set_memslot(struct kvmuf_vm *vm, uint32_t slot, uint64_t gpa,
		       uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		sys_err("KVM_SET_USER_MEMORY_REGION");
		return -1;
	}
	return 0;
}

/* GiB range [first, last] the test slot touches; each needs one PD. */
static void test_gibs(const struct kvmuf_vm *vm, uint64_t *first,
		      uint64_t *last)
{
	*first = vm->test.gpa >> GIB_SHIFT;
	*last = (vm->test.gpa + vm->test.size - 1) >> GIB_SHIFT;
}

/* Identity-map GiB @gib with 2 MiB pages through the PD at @pd_gpa. */
static void map_gib(struct kvmuf_vm *vm, uint64_t gib, uint64_t pd_gpa)
{
	uint64_t *pdpt = (uint64_t *)((char *)vm->sys_hva + SYS_PDPT_GPA);
	uint64_t *pd = (uint64_t *)((char *)vm->sys_hva + pd_gpa);

	/*
	 * Accessed/dirty bits are preset so that the guest's page walks never
	 * have to write to its page tables.
	 */
	pdpt[gib] = pd_gpa | PTE_P | PTE_RW | PTE_A;
	for (uint64_t i = 0; i < PD_ENTRIES; i++)
		pd[i] = ((gib << GIB_SHIFT) + (i << LARGE_SHIFT)) |
			PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS;
}

/*
 * Slot 0: code page, PML4, one PDPT (everything lies below 512 GiB),
 * 2 MiB-page PDs for GiB 0 (the slot itself) and for each test GiB, and the
 * page-sum area.  Large guest pages keep each guest walk to three page-table
 * pages, all here.
 */
static int setup_system_slot(struct kvmuf_vm *vm)
{
	uint64_t first, last, nr_pds, pd_gpa = SYS_PD_GPA;
	uint64_t *pml4;

	test_gibs(vm, &first, &last);
	nr_pds = 1 + (last - first + 1);
	/* Then the page-sum area: one u64 per test page, inside GiB 0. */
	vm->sums_gpa = SYS_PD_GPA + nr_pds * KVMUF_PAGE_SIZE;
	vm->sys_size = vm->sums_gpa + (vm->test.size / KVMUF_PAGE_SIZE * 8 + KVMUF_PAGE_SIZE - 1) /
		       KVMUF_PAGE_SIZE * KVMUF_PAGE_SIZE;
	if (vm->sys_size > 1ULL << GIB_SHIFT) {
		vm_err("too many test pages for the page-sum area");
		return -1;
	}
	vm->sys_hva = mmap(NULL, vm->sys_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->sys_hva == MAP_FAILED) {
		vm->sys_hva = NULL;
		sys_err("mmap system slot");
		return -1;
	}

	for (size_t m = 0; m < NR_MODES; m++)
		memcpy((char *)vm->sys_hva + SYS_CODE_GPA + m * CODE_STRIDE,
		       guest_code[m].code, guest_code[m].len);

	pml4 = (uint64_t *)((char *)vm->sys_hva + SYS_PML4_GPA);
	pml4[0] = SYS_PDPT_GPA | PTE_P | PTE_RW | PTE_A;
	map_gib(vm, 0, pd_gpa);
	for (uint64_t gib = first; gib <= last; gib++) {
		pd_gpa += KVMUF_PAGE_SIZE;
		map_gib(vm, gib, pd_gpa);
	}

	return set_memslot(vm, KVMUF_SLOT_SYSTEM, 0, vm->sys_size, vm->sys_hva);
}

/*
 * A mapping of @size bytes at a 2 MiB aligned address, as QEMU maps guest RAM: only
 * an aligned mapping can be backed, and mapped by KVM, with 2 MiB pages.
 */
static void *mmap_2m_aligned(uint64_t size, int flags, int fd)
{
	uint64_t align = 2ULL << 20, pad;
	char *area, *start;

	area = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	start = (char *)(((uintptr_t)area + align - 1) & ~(uintptr_t)(align - 1));
	if (mmap(start, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0) == MAP_FAILED) {
		munmap(area, size + align);
		return MAP_FAILED;
	}
	pad = (uint64_t)(start - area);
	if (pad)
		munmap(area, pad);
	munmap(start + size, align - pad);
	return start;
}

static int setup_test_slot(struct kvmuf_vm *vm, enum kvmuf_backing backing)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	void *hva;

	if (backing == KVMUF_MEM_MEMFD) {
		vm->test.memfd = memfd_create("kvmuf-test", MFD_CLOEXEC);
		if (vm->test.memfd < 0) {
			sys_err("memfd_create");
			return -1;
		}
		if (ftruncate(vm->test.memfd, (off_t)vm->test.size) < 0) {
			sys_err("ftruncate memfd");
			return -1;
		}
		flags = MAP_SHARED;
	}

	hva = mmap_2m_aligned(vm->test.size, flags, vm->test.memfd);
	if (hva == MAP_FAILED) {
		sys_err("mmap test slot");
		return -1;
	}
	vm->test.hva = hva;

	if (vm->thp != KVMUF_THP_SYSTEM &&
	    madvise(hva, vm->test.size,
		    vm->thp == KVMUF_THP_MADVISE ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0 &&
	    errno != EINVAL) {	/* EINVAL: a kernel without THP */
		sys_err("madvise(MADV_(NO)HUGEPAGE)");
		return -1;
	}

	return set_memslot(vm, vm->test.slot, vm->test.gpa, vm->test.size, hva);
}

int kvmuf_vm_update_test_slot(struct kvmuf_vm *vm, uint64_t gpa, uint32_t flags,
			      int delete)
{
	struct kvm_userspace_memory_region region = {
		.slot = vm->test.slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = delete ? 0 : vm->test.size,
		.userspace_addr = (uintptr_t)vm->test.hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;
	return 0;
}

static void set_segment(struct kvm_segment *seg, uint16_t selector, int code)
{
	*seg = (struct kvm_segment) {
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = code ? 0xb : 0x3,	/* exec/read or read/write, accessed */
		.present = 1,
		.dpl = 0,
		.db = !code,			/* must be 0 for a 64-bit CS */
		.s = 1,
		.l = code,			/* 64-bit code segment */
		.g = 1,
	};
}

/*
 * Load 64-bit long mode directly: paging on with our PML4, PAE, EFER.LME
 * and LMA, flat segments.  The descriptor caches are loaded from here, so
 * no GDT is needed; the IDT limit is 0 so that any exception ends in a
 * triple fault (KVM_EXIT_SHUTDOWN) rather than running stray code.
 */
static int setup_sregs(int vcpu_fd)
{
	struct kvm_sregs sregs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		sys_err("KVM_GET_SREGS");
		return -1;
	}
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = SYS_PML4_GPA;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	set_segment(&sregs.cs, 0x08, 1);
	set_segment(&sregs.ds, 0x10, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = 0;
	sregs.gdt.limit = 0;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		sys_err("KVM_SET_SREGS");
		return -1;
	}
	return 0;
}

static int setup_vcpu(struct kvmuf_vm *vm, unsigned int id,
		      const struct kvm_cpuid2 *cpuid)
{
	struct kvmuf_vcpu *vcpu = &vm->vcpus[id];
	void *run;

	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		sys_err("KVM_CREATE_VCPU");
		return -1;
	}
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu->fd, 0);
	if (run == MAP_FAILED) {
		sys_err("mmap kvm_run");
		return -1;
	}
	vcpu->run = run;
	/*
	 * KVM's supported CPUID: without it the guest would see no CPUID
	 * leaves and KVM would assume a 36-bit physical address width.
	 */
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
		sys_err("KVM_SET_CPUID2");
		return -1;
	}
	return setup_sregs(vcpu->fd);
}

static int setup_vcpus(struct kvmuf_vm *vm)
{
	struct kvm_cpuid2 *cpuid = get_supported_cpuid(vm->kvm_fd);
	unsigned int bits;
	int ret = -1;

	if (!cpuid)
		return -1;
	bits = cpuid_phys_bits(cpuid);
	if (bits < 64 && vm->test.gpa + vm->test.size > 1ULL << bits) {
		vm_err("test memory ends at 0x%llx, beyond the %u-bit guest physical address space",
		       (unsigned long long)(vm->test.gpa + vm->test.size), bits);
		goto out;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (setup_vcpu(vm, i, cpuid) < 0)
			goto out;
	ret = 0;
out:
	free(cpuid);
	return ret;
}

static struct kvmuf_vm *vm_alloc(const struct kvmuf_vm_config *cfg)
{
	struct kvmuf_vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->vcpus = calloc(cfg->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		free(vm);
		return NULL;
	}
	vm->kvm_fd = vm->vm_fd = -1;
	vm->nr_vcpus = cfg->nr_vcpus;
	vm->bytes_per_vcpu = cfg->bytes_per_vcpu;
	vm->thp = cfg->thp;
	if (cfg->nr_vcpu_cpus) {
		vm->vcpu_cpus = malloc(cfg->nr_vcpu_cpus * sizeof(*vm->vcpu_cpus));
		if (!vm->vcpu_cpus) {
			free(vm->vcpus);
			free(vm);
			return NULL;
		}
		memcpy(vm->vcpu_cpus, cfg->vcpu_cpus, cfg->nr_vcpu_cpus * sizeof(*vm->vcpu_cpus));
		vm->nr_vcpu_cpus = cfg->nr_vcpu_cpus;
	}
	vm->shared_region = cfg->shared_region;
	vm->test = (struct kvmuf_test_mem) {
		.memfd = -1,
		.gpa = KVMUF_TEST_GPA,
		.size = (uint64_t)(cfg->shared_region ? 1 : cfg->nr_vcpus) * cfg->bytes_per_vcpu,
		.slot = KVMUF_SLOT_TEST,
	};
	for (unsigned int i = 0; i < cfg->nr_vcpus; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].id = i;
		vm->vcpus[i].fd = -1;
	}
	return vm;
}

static int open_kvm(struct kvmuf_vm *vm)
{
	int version, size;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return KVMUF_CREATE_NOKVM;

	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		vm_err("KVM API version %d, expected %d", version, KVM_API_VERSION);
		return KVMUF_CREATE_ERROR;
	}
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run)) {
		sys_err("KVM_GET_VCPU_MMAP_SIZE");
		return KVMUF_CREATE_ERROR;
	}
	vm->run_size = (size_t)size;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0UL);
	if (vm->vm_fd < 0) {
		sys_err("KVM_CREATE_VM");
		return KVMUF_CREATE_ERROR;
	}
	return KVMUF_CREATE_OK;
}

int kvmuf_vm_create(const struct kvmuf_vm_config *cfg, struct kvmuf_vm **out)
{
	struct kvmuf_vm *vm;
	int ret;

	*out = NULL;
	if (check_config(cfg) < 0)
		return KVMUF_CREATE_ERROR;
	vm = vm_alloc(cfg);
	if (!vm) {
		sys_err("calloc");
		return KVMUF_CREATE_ERROR;
	}

	ret = open_kvm(vm);
	if (ret == KVMUF_CREATE_OK &&
	    (setup_system_slot(vm) < 0 ||
	     setup_test_slot(vm, cfg->backing) < 0 ||
	     setup_vcpus(vm) < 0))
		ret = KVMUF_CREATE_ERROR;

	if (ret != KVMUF_CREATE_OK) {
		int e = errno;

		kvmuf_vm_destroy(vm);
		errno = e;
		return ret;
	}
	*out = vm;
	return KVMUF_CREATE_OK;
}

void kvmuf_vm_destroy(struct kvmuf_vm *vm)
{
	if (!vm)
		return;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].run)
			munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->test.hva)
		munmap(vm->test.hva, vm->test.size);
	if (vm->test.memfd >= 0)
		close(vm->test.memfd);
	if (vm->sys_hva)
		munmap(vm->sys_hva, vm->sys_size);
	free(vm->vcpus);
	free(vm->vcpu_cpus);
	free(vm);
}

/* ---- run loop ---- */

static uint64_t vcpu_rip(const struct kvmuf_vcpu *vcpu)
{
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return ~0ULL;
	return regs.rip;
}

static void read_memory_fault(const struct kvm_run *run,
			      struct kvmuf_exit_info *info)
{
#ifdef KVMUF_UAPI_HAS_MEMORY_FAULT
	info->fault_flags = run->memory_fault.flags;
	info->fault_gpa = run->memory_fault.gpa;
	info->fault_size = run->memory_fault.size;
#else
	/* Old header: {flags, gpa, size} opens the kvm_run exit union. */
	uint64_t f[3];

	memcpy(f, (const char *)run + offsetof(struct kvm_run, hw), sizeof(f));
	info->fault_flags = f[0];
	info->fault_gpa = f[1];
	info->fault_size = f[2];
#endif
}

/* Hand an exit the library does not handle to the hook, if any. */
static enum kvmuf_exit_action call_hook(struct kvmuf_vcpu *vcpu,
					int run_errno)
{
	struct kvmuf_vm *vm = vcpu->vm;
	struct kvmuf_exit_info info = {
		.vcpu = vcpu->id,
		.vcpu_fd = vcpu->fd,
		.run = vcpu->run,
		.run_errno = run_errno,
		.exit_reason = vcpu->run->exit_reason,
	};

	if (!vm->hook)
		return KVMUF_EXIT_ERROR;
	if (info.exit_reason == KVM_EXIT_MEMORY_FAULT)
		read_memory_fault(vcpu->run, &info);
	return vm->hook(vm, &info, vm->hook_opaque);
}

static void report_bad_exit(const struct kvmuf_vcpu *vcpu, int run_errno)
{
	const struct kvm_run *run = vcpu->run;
	uint32_t reason = run->exit_reason;
	char extra[96] = "";

	if (run_errno) {
		if (reason == KVM_EXIT_MEMORY_FAULT) {
			struct kvmuf_exit_info info;

			read_memory_fault(run, &info);
			snprintf(extra, sizeof(extra), ", gpa 0x%llx size 0x%llx flags 0x%llx",
				 (unsigned long long)info.fault_gpa,
				 (unsigned long long)info.fault_size,
				 (unsigned long long)info.fault_flags);
		}
		vm_err("vcpu %u: KVM_RUN: %s (exit reason %s/%u%s) at rip 0x%llx",
		       vcpu->id, strerror(run_errno), exit_name(reason), reason,
		       extra, (unsigned long long)vcpu_rip(vcpu));
		return;
	}
	if (reason == KVM_EXIT_FAIL_ENTRY)
		snprintf(extra, sizeof(extra), ", hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	else if (reason == KVM_EXIT_INTERNAL_ERROR)
		snprintf(extra, sizeof(extra), ", suberror %u",
			 run->internal.suberror);
	else if (reason == KVM_EXIT_IO)
		snprintf(extra, sizeof(extra), ", %s port 0x%x size %u",
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.port, run->io.size);
	vm_err("vcpu %u: unexpected exit %s (%u)%s at rip 0x%llx", vcpu->id,
	       exit_name(reason), reason, extra,
	       (unsigned long long)vcpu_rip(vcpu));
}

static int is_report(const struct kvm_run *run)
{
	return run->io.direction == KVM_EXIT_IO_OUT &&
	       run->io.port == KVMUF_REPORT_PORT &&
	       run->io.size == 1 && run->io.count == 1;
}

/* Record the guest's result (full RAX) from its report. */
static int take_report(struct kvmuf_vcpu *vcpu)
{
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0) {
		sys_err("KVM_GET_REGS");
		return -1;
	}
	vcpu->res->guest_result = regs.rax;
	return 0;
}

enum step { STEP_RETRY, STEP_DONE, STEP_FAIL, STEP_STOP };

static enum step hook_step(enum kvmuf_exit_action action)
{
	switch (action) {
	case KVMUF_EXIT_RETRY:	return STEP_RETRY;
	case KVMUF_EXIT_STOP:	return STEP_STOP;
	case KVMUF_EXIT_ERROR:	break;
	}
	return STEP_FAIL;
}

/*
 * Decide what follows one KVM_RUN.  The report exit and the final HLT are
 * handled here; SHUTDOWN, FAIL_ENTRY, INTERNAL_ERROR and any other I/O are
 * fatal; every other exit reason, and KVM_RUN failing with EFAULT, goes to
 * the exit hook.
 */
static enum step handle_exit(struct kvmuf_vcpu *vcpu, int run_errno,
			     int *reported)
{
	const struct kvm_run *run = vcpu->run;
	enum step step;

	if (run_errno == EINTR || run_errno == EAGAIN)
		return STEP_RETRY;
	if (run_errno == 0) {
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (!*reported && is_report(run)) {
				*reported = 1;
				return take_report(vcpu) < 0 ? STEP_FAIL : STEP_RETRY;
			}
			/* Another port: the caller's device, if its hook knows it. */
			step = hook_step(call_hook(vcpu, 0));
			if (step != STEP_FAIL)
				return step;
			break;
		case KVM_EXIT_HLT:
			if (*reported)
				return STEP_DONE;
			break;
		case KVM_EXIT_SHUTDOWN:
		case KVM_EXIT_FAIL_ENTRY:
		case KVM_EXIT_INTERNAL_ERROR:
			break;
		default:
			step = hook_step(call_hook(vcpu, 0));
			if (step != STEP_FAIL)
				return step;
			break;
		}
	} else if (run_errno == EFAULT) {
		step = hook_step(call_hook(vcpu, run_errno));
		if (step != STEP_FAIL)
			return step;
	}
	report_bad_exit(vcpu, run_errno);
	return STEP_FAIL;
}

/*
 * KVM_RUN until the guest halts after its report (0), the exit hook stops it (1), or
 * something fails (-1).
 */
static int vcpu_loop(struct kvmuf_vcpu *vcpu)
{
	int reported = 0;
	enum step step;

	do {
		int run_errno = 0;

		/* Lets the hook tell a fresh memory-fault exit from a stale one. */
		vcpu->run->exit_reason = KVM_EXIT_UNKNOWN;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0)
			run_errno = errno;
		step = handle_exit(vcpu, run_errno, &reported);
	} while (step == STEP_RETRY);

	if (step == STEP_STOP) {
		/*
		 * KVM finishes an MMIO or PIO exit on the next KVM_RUN: let it do so now,
		 * without entering the guest, so the next run starts clean.
		 */
		vcpu->run->immediate_exit = 1;
		ioctl(vcpu->fd, KVM_RUN, 0);
		vcpu->run->immediate_exit = 0;
		return 1;
	}
	return step == STEP_DONE ? 0 : -1;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void gate_init(struct start_gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->waiting = 0;
	g->state = 0;
}

static void gate_destroy(struct start_gate *g)
{
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

/* vCPU thread: check in, then wait for the verdict; true means "go". */
static int gate_wait(struct start_gate *g)
{
	int state;

	pthread_mutex_lock(&g->lock);
	g->waiting++;
	pthread_cond_broadcast(&g->cond);
	while (g->state == 0)
		pthread_cond_wait(&g->cond, &g->lock);
	state = g->state;
	pthread_mutex_unlock(&g->lock);
	return state > 0;
}

/* Main thread: set @state (1 go, -1 abort) and wake every waiter. */
static void gate_set(struct start_gate *g, int state)
{
	pthread_mutex_lock(&g->lock);
	g->state = state;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/*
 * Main thread: once all @n vCPU threads have checked in, take the start
 * time and release them together. The release is timed, thread creation is
 * not: demand_paging_test starts its clock before it creates the vCPU
 * threads, so its window is longer by the creation of N threads (a few tens
 * of us each), which weighs on short runs only.
 */
static void gate_open(struct start_gate *g, unsigned int n, struct timespec *t0)
{
	pthread_mutex_lock(&g->lock);
	while (g->waiting < n)
		pthread_cond_wait(&g->cond, &g->lock);
	clock_gettime(CLOCK_MONOTONIC, t0);
	g->state = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Pin the calling vCPU thread as configured; 0, or -1 (diagnostic printed). */
static int pin_vcpu(const struct kvmuf_vcpu *vcpu)
{
	const struct kvmuf_vm *vm = vcpu->vm;
	cpu_set_t set;
	int cpu, err;

	if (!vm->nr_vcpu_cpus)
		return 0;
	cpu = vm->vcpu_cpus[vcpu->id % vm->nr_vcpu_cpus];
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err) {
		vm_err("vcpu %u: pinning to CPU %d: %s", vcpu->id, cpu, strerror(err));
		return -1;
	}
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct kvmuf_vcpu *vcpu = arg;
	struct timespec t0;
	int pinned = pin_vcpu(vcpu) == 0;

	/* Check in even when pinning failed: the gate counts every thread. */
	if (!gate_wait(&vcpu->vm->gate) || !pinned)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_store(&vcpu->tid, (int)syscall(SYS_gettid));
	vcpu->res->ok = vcpu_loop(vcpu) == 0;
	atomic_store(&vcpu->tid, 0);
	vcpu->res->seconds = seconds_since(&t0);
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;	/* only to interrupt KVM_RUN: it returns EINTR and is re-entered */
}

int kvmuf_vm_kick(struct kvmuf_vm *vm)
{
	static atomic_int installed;
	int kicked = 0;

	if (!atomic_exchange(&installed, 1)) {
		struct sigaction sa = { .sa_handler = kick_handler };	/* no SA_RESTART */

		sigemptyset(&sa.sa_mask);
		sigaction(KVMUF_VM_KICK_SIGNAL, &sa, NULL);
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int tid = atomic_load(&vm->vcpus[i].tid);

		/* A thread that has just left: ESRCH at worst (TIDs are not reused so fast). */
		if (tid && syscall(SYS_tgkill, getpid(), tid, KVMUF_VM_KICK_SIGNAL) == 0)
			kicked++;
	}
	return kicked;
}

/* Point the vCPU at the mode's code with @npages test pages from page @first. */
static int set_entry_regs(struct kvmuf_vcpu *vcpu, enum kvmuf_mode mode,
			  uint64_t seed, uint64_t first, uint64_t npages)
{
	const struct kvmuf_vm *vm = vcpu->vm;
	struct kvm_regs regs = {
		.rip = SYS_CODE_GPA + (uint64_t)mode * CODE_STRIDE,
		.rflags = 0x2,		/* bit 1 is reserved-set; IF stays 0 */
		.rdi = vm->test.gpa + first * KVMUF_PAGE_SIZE,
		.rsi = mode == KVMUF_MODE_SUM ? vm->sums_gpa + first * 8 : seed,
		.rdx = npages,
	};

	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0) {
		sys_err("KVM_SET_REGS");
		return -1;
	}
	return 0;
}

/* The vCPU's region, as test pages. */
static uint64_t region_first_page(const struct kvmuf_vcpu *vcpu)
{
	return (kvmuf_vm_region_gpa(vcpu->vm, vcpu->id) - vcpu->vm->test.gpa) /
	       KVMUF_PAGE_SIZE;
}

int kvmuf_vm_run_pages(struct kvmuf_vm *vm, unsigned int vcpu, enum kvmuf_mode mode,
		       uint64_t seed, uint64_t first, uint64_t npages, uint64_t *result)
{
	struct kvmuf_vcpu_result res = { .pages = npages };
	struct kvmuf_vcpu *v;
	int ret;

	if (vcpu >= vm->nr_vcpus || (unsigned int)mode >= NR_MODES ||
	    first > vm->test.size / KVMUF_PAGE_SIZE ||
	    npages > vm->test.size / KVMUF_PAGE_SIZE - first) {
		vm_err("run_pages: bad vCPU %u, mode %d or pages [%llu, +%llu)", vcpu, (int)mode,
		       (unsigned long long)first, (unsigned long long)npages);
		return -1;
	}
	v = &vm->vcpus[vcpu];
	if (set_entry_regs(v, mode, seed, first, npages) < 0)
		return -1;
	v->res = &res;
	ret = vcpu_loop(v);
	v->res = NULL;
	if (ret == 0 && result)
		*result = res.guest_result;
	return ret;
}

int kvmuf_vm_run_code(struct kvmuf_vm *vm, unsigned int vcpu, const void *code, size_t len,
		      const struct kvm_regs *regs, uint64_t *result)
{
	struct kvmuf_vcpu_result res = { 0 };
	struct kvm_regs r = *regs;
	struct kvmuf_vcpu *v;
	int ret;

	if (vcpu >= vm->nr_vcpus || !len || len > USER_CODE_MAX) {
		vm_err("run_code: bad vCPU %u or code length %zu", vcpu, len);
		return -1;
	}
	v = &vm->vcpus[vcpu];
	memcpy((char *)vm->sys_hva + USER_CODE_GPA, code, len);
	r.rip = USER_CODE_GPA;
	r.rflags = 0x2;
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0) {
		sys_err("KVM_SET_REGS");
		return -1;
	}
	v->res = &res;
	ret = vcpu_loop(v);
	v->res = NULL;
	if (ret == 0 && result)
		*result = res.guest_result;
	return ret;
}

int kvmuf_vm_map_table(struct kvmuf_vm *vm, uint64_t gva, uint64_t table_gpa)
{
	uint64_t *pd = (uint64_t *)((char *)vm->sys_hva + SYS_PD_GPA);

	if (gva >= 1ULL << GIB_SHIFT || gva < vm->sys_size || (gva & ((1ULL << LARGE_SHIFT) - 1)) ||
	    (table_gpa & (KVMUF_PAGE_SIZE - 1))) {
		vm_err("map_table: bad guest address 0x%llx or table 0x%llx",
		       (unsigned long long)gva, (unsigned long long)table_gpa);
		return -1;
	}
	pd[gva >> LARGE_SHIFT] = table_gpa | PTE_P | PTE_RW | PTE_A;
	return 0;
}

const uint64_t *kvmuf_vm_page_sums(const struct kvmuf_vm *vm)
{
	return (const uint64_t *)((const char *)vm->sys_hva + vm->sums_gpa);
}

int kvmuf_vm_run(struct kvmuf_vm *vm, enum kvmuf_mode mode, uint64_t seed,
		 struct kvmuf_vcpu_result *res, double *seconds)
{
	unsigned int started = 0;
	struct timespec t0;
	int ret = 0;

	*seconds = 0;
	if ((unsigned int)mode >= NR_MODES) {
		vm_err("unknown mode %d", (int)mode);
		return -1;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		res[i] = (struct kvmuf_vcpu_result) {
			.pages = kvmuf_vm_region_pages(vm),
		};
		vm->vcpus[i].res = &res[i];
		if (set_entry_regs(&vm->vcpus[i], mode, seed, region_first_page(&vm->vcpus[i]),
				   kvmuf_vm_region_pages(vm)) < 0)
			return -1;
	}

	gate_init(&vm->gate);
	for (; started < vm->nr_vcpus; started++) {
		int err = pthread_create(&vm->vcpus[started].thread, NULL,
					 vcpu_thread, &vm->vcpus[started]);
		if (err) {
			vm_err("pthread_create: %s", strerror(err));
			break;
		}
	}
	if (started == vm->nr_vcpus) {
		gate_open(&vm->gate, started, &t0);
	} else {
		gate_set(&vm->gate, -1);
		ret = -1;
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(vm->vcpus[i].thread, NULL);
	if (ret == 0)
		*seconds = seconds_since(&t0);
	gate_destroy(&vm->gate);

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].res = NULL;
		if (!res[i].ok)
			ret = -1;
	}
	return ret;
}

/* ---- host-side checks ---- */

static uint64_t *page_word(const struct kvmuf_vm *vm, uint64_t page)
{
	return (uint64_t *)((char *)vm->test.hva + page * KVMUF_PAGE_SIZE);
}

void kvmuf_vm_fill_pattern(struct kvmuf_vm *vm, uint64_t seed)
{
	uint64_t pages = vm->test.size / KVMUF_PAGE_SIZE;

	for (uint64_t p = 0; p < pages; p++)
		*page_word(vm, p) = (vm->test.gpa + p * KVMUF_PAGE_SIZE) ^ seed;
}

uint64_t kvmuf_vm_check_pattern(const struct kvmuf_vm *vm, uint64_t seed,
				uint64_t *first_bad)
{
	uint64_t pages = vm->test.size / KVMUF_PAGE_SIZE, bad = 0;

	for (uint64_t p = 0; p < pages; p++) {
		uint64_t gpa = vm->test.gpa + p * KVMUF_PAGE_SIZE;

		if (*page_word(vm, p) == (gpa ^ seed))
			continue;
		if (bad++ == 0 && first_bad)
			*first_bad = gpa;
	}
	return bad;
}

uint64_t kvmuf_vm_region_sum(const struct kvmuf_vm *vm, unsigned int vcpu)
{
	uint64_t pages = kvmuf_vm_region_pages(vm);
	uint64_t first = (kvmuf_vm_region_gpa(vm, vcpu) - vm->test.gpa) / KVMUF_PAGE_SIZE;
	uint64_t sum = 0;

	for (uint64_t p = first; p < first + pages; p++)
		sum += *page_word(vm, p);
	return sum;
}

/* The sum of the 512 u64 of test page @p, as the host sees it. */
static uint64_t host_page_sum(const struct kvmuf_vm *vm, uint64_t p)
{
	const uint64_t *w = page_word(vm, p);
	uint64_t sum = 0;

	for (unsigned int i = 0; i < KVMUF_PAGE_SIZE / 8; i++)
		sum += w[i];
	return sum;
}

/* Sum mode: every page sum the guest wrote equals the host's. */
static int check_page_sums(const struct kvmuf_vm *vm, unsigned int i)
{
	uint64_t first = (kvmuf_vm_region_gpa(vm, i) - vm->test.gpa) / KVMUF_PAGE_SIZE;
	const uint64_t *sums = kvmuf_vm_page_sums(vm);
	uint64_t p, bad = 0;

	for (p = first; p < first + kvmuf_vm_region_pages(vm); p++) {
		if (sums[p] == host_page_sum(vm, p))
			continue;
		if (!bad++)
			vm_err("vcpu %u: guest summed the page at gpa 0x%llx to 0x%llx, host sees 0x%llx",
			       i, (unsigned long long)(vm->test.gpa + p * KVMUF_PAGE_SIZE),
			       (unsigned long long)sums[p], (unsigned long long)host_page_sum(vm, p));
	}
	return bad ? -1 : 0;
}

/* Per-vCPU check of the guest's own result; see kvmuf_vm_check_results(). */
static int check_guest_result(const struct kvmuf_vm *vm, enum kvmuf_mode mode,
			      unsigned int i, const struct kvmuf_vcpu_result *r)
{
	uint64_t host_sum;

	if (!r->ok) {
		vm_err("vcpu %u: did not complete", i);
		return -1;
	}
	switch (mode) {
	case KVMUF_MODE_WRITE:
		if (r->guest_result == r->pages)
			return 0;
		vm_err("vcpu %u: guest wrote %llu of %llu pages", i,
		       (unsigned long long)r->guest_result,
		       (unsigned long long)r->pages);
		return -1;
	case KVMUF_MODE_READ:
		host_sum = kvmuf_vm_region_sum(vm, i);
		if (r->guest_result == host_sum)
			return 0;
		vm_err("vcpu %u: guest read sum 0x%llx, host sees 0x%llx", i,
		       (unsigned long long)r->guest_result,
		       (unsigned long long)host_sum);
		return -1;
	case KVMUF_MODE_VERIFY:
		if (r->guest_result == 0)
			return 0;
		vm_err("vcpu %u: guest found %llu of %llu pages not holding gpa ^ seed",
		       i, (unsigned long long)r->guest_result,
		       (unsigned long long)r->pages);
		return -1;
	case KVMUF_MODE_SUM:
		return check_page_sums(vm, i);
	}
	return -1;
}

int kvmuf_vm_check_results(const struct kvmuf_vm *vm, enum kvmuf_mode mode,
			   uint64_t seed, const struct kvmuf_vcpu_result *res)
{
	uint64_t bad, first = 0, found;
	int ret = 0;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (check_guest_result(vm, mode, i, &res[i]) < 0)
			ret = -1;

	/* Write mode always, verify mode to locate what the guest found. */
	if (mode == KVMUF_MODE_WRITE || (mode == KVMUF_MODE_VERIFY && ret)) {
		bad = kvmuf_vm_check_pattern(vm, seed, &first);
		if (bad) {
			found = *page_word(vm, (first - vm->test.gpa) /
					       KVMUF_PAGE_SIZE);
			vm_err("host check: %llu pages do not hold gpa ^ seed, first at gpa 0x%llx (holds 0x%llx)",
			       (unsigned long long)bad, (unsigned long long)first,
			       (unsigned long long)found);
			ret = -1;
		}
	}
	return ret;
}
