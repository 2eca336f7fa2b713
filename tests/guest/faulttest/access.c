// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest access: with the userfaultfd backstop (the default set-up), every
 * access to a missing page sees that page's data, whoever makes it: the vCPU, KVM on
 * the vCPU's behalf, or the VMM.
 *
 * The test memory is one 2 MiB frame (512 pages, MADV_HUGEPAGE as QEMU does), all of it
 * missing, registered with userfaultfd and served by libkvmuf's page engine (two
 * workers, rings and userfaultfd) from a snapshot held in memory. Each of the following
 * starts on pages nobody has touched:
 *   - KVM's emulator: "rep outsb" from a missing page (the device must get the page's
 *     bytes), "rep insb" and an MMIO-to-RAM "rep movsq" into half of a missing page
 *     (the device's bytes must survive, the other half must be the page's), a
 *     RAM-to-MMIO "rep movsq";
 *   - KVM's walk of the guest's page tables: a "rep insb" through a virtual address
 *     whose page table is a missing page; KVM_TRANSLATE through another one;
 *   - KVM's pfn cache: kvmclock set by KVM_SET_MSRS before the first KVM_RUN (as a
 *     VMM restoring a VM does), and by the guest's own WRMSR: KVM's pvclock must be
 *     there after the run, and the rest of its page the page's data;
 *   - KVM's gfn_to_hva cache: steal time, set before the first KVM_RUN;
 *   - the VMM reading a missing page, and writing into one;
 *   - a page written by the guest, made missing again (SET_MISSING) and then asked
 *     for again after a new page engine took over (a daemon restarting): the engine
 *     must not overwrite it.
 * Then the guest sums every page of the frame and the host compares every byte with
 * what it must be. Run for park and exit mode, anonymous and memfd memory.
 *
 * "access --without-backstop" is the negative control: the same cases, module only
 * (KVMUF_RANGE_MODULE_ONLY, no userfaultfd); it passes when the checks above catch the
 * zero pages and lost writes in every combination, i.e. when they can fail.
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "check.h"
#include "kvmuf_backstop.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"

#define PAGES		512
#define PAGE		KVMUF_PAGE_SIZE
#define SEED		0xacce55edc0ffee00ULL
#define RING		256

/* Test pages, each the subject of one case. */
enum {
	P_OUTS = 0,		/* rep outsb source */
	P_INS = 1,		/* rep insb destination, first half */
	P_MMIO_IN = 2,		/* rep movsq MMIO -> RAM, first half */
	P_MMIO_OUT = 3,		/* rep movsq RAM -> MMIO source, first half */
	P_PT_INS = 4,		/* page table of WIN_INS */
	P_PT_XLATE = 5,		/* page table of WIN_XLATE */
	P_CLOCK_SET = 8,	/* kvmclock from KVM_SET_MSRS */
	P_CLOCK_GUEST = 9,	/* kvmclock from the guest's WRMSR */
	P_STEAL = 10,		/* steal time */
	P_VMM_READ = 11,
	P_VMM_WRITE = 12,
	P_REMISSING = 13,	/* written by the guest, then SET_MISSING */
	P_WIN_INS = 16,		/* WIN_INS maps pages 16..23 */
	P_WIN_XLATE = 24,	/* WIN_XLATE maps pages 24..31 */
};

#define HALF		(PAGE / 2)
#define INS_WIN_LEN	1024		/* bytes of rep insb through WIN_INS + 3 pages */
#define CLOCK_OFF	0x40
#define CLOCK_GUEST_OFF	0x80
#define STEAL_OFF	0x100
#define VMM_WRITE_OFF	0x200

/* Guest addresses (identity-mapped first GiB, above the system slot). */
#define MMIO_GPA	0x30000000ULL	/* no memslot: MMIO */
#define WIN_INS		0x25800000ULL	/* 2 MiB through page table P_PT_INS */
#define WIN_XLATE	0x25a00000ULL	/* 2 MiB through page table P_PT_XLATE */

#define PORT_OUTS	0xe0
#define PORT_INS	0xe1

#define MSR_IA32_TSC		0x10
#define MSR_KVM_SYSTEM_TIME_NEW	0x4b564d01
#define MSR_KVM_STEAL_TIME	0x4b564d03

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_A		(1ULL << 5)
#define PTE_D		(1ULL << 6)

/* Guest code: each ends with "out 0xf1, al; hlt" (the report). */
static const uint8_t code_outs[] = {		/* rsi = src, rcx = count */
	0x66, 0xba, PORT_OUTS, 0x00,		/* mov dx, PORT_OUTS */
	0xf3, 0x6e,				/* rep outsb */
	0xe6, 0xf1, 0xf4,
};
static const uint8_t code_ins[] = {		/* rdi = dst, rcx = count */
	0x66, 0xba, PORT_INS, 0x00,		/* mov dx, PORT_INS */
	0xf3, 0x6c,				/* rep insb */
	0xe6, 0xf1, 0xf4,
};
static const uint8_t code_movsq[] = {		/* rsi = src, rdi = dst, rcx = qwords */
	0xf3, 0x48, 0xa5,			/* rep movsq */
	0xe6, 0xf1, 0xf4,
};
static const uint8_t code_wrmsr_load[] = {	/* ecx = msr, edx:eax = value, rdi = addr */
	0x0f, 0x30,				/* wrmsr */
	0x48, 0x8b, 0x07,			/* mov rax, [rdi] */
	0xe6, 0xf1, 0xf4,
};

/* pvclock_vcpu_time_info, kvm_steal_time (the ABI of KVM's PV pages). */
struct pvclock {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t mul;
	int8_t shift;
	uint8_t flags, pad[2];
};

struct steal_time {
	uint64_t steal;
	uint32_t version, flags;
	uint8_t preempted, pad8[3];
	uint32_t pad[11];
};

struct access {
	const char *what;
	struct kvmuf_vm *vm;
	const struct kvmuf_test_mem *mem;
	struct kvmuf *k;
	struct kvmuf_server *srv;
	int uffd, exit_mode, backstop;
	uint64_t base_gfn;
	unsigned char *snap;		/* the snapshot: what the engine serves */
	unsigned char *want;		/* what every page must hold at the end */
	/* The devices (vCPU thread only). */
	unsigned char outs[PAGE], mmio_out[PAGE];
	size_t outs_len, ins_pos;
	uint64_t waits;			/* exit mode: memory-fault exits */
};

static unsigned char *page_at(unsigned char *base, uint64_t page)
{
	return base + page * PAGE;
}

static uint64_t gpa_of(const struct access *a, uint64_t page)
{
	return (a->base_gfn + page) * PAGE;
}

/* What the devices supply: a pattern no page of the snapshot holds. */
static unsigned char ins_byte(size_t i)
{
	return (unsigned char)(0xa7 ^ (i * 13));
}

static unsigned char mmio_byte(uint64_t off)
{
	return (unsigned char)(0x3c ^ (off * 29) ^ (off >> 8));
}

/* ---- the exit hook: two devices, an MMIO window, exit-mode waits ---- */

static enum kvmuf_exit_action io_exit(struct access *a, struct kvm_run *run)
{
	unsigned char *data = (unsigned char *)run + run->io.data_offset;
	size_t n = (size_t)run->io.size * run->io.count;

	if (run->io.port == PORT_OUTS && run->io.direction == KVM_EXIT_IO_OUT) {
		if (n > sizeof(a->outs) - a->outs_len)
			return KVMUF_EXIT_ERROR;
		memcpy(a->outs + a->outs_len, data, n);
		a->outs_len += n;
		return KVMUF_EXIT_RETRY;
	}
	if (run->io.port == PORT_INS && run->io.direction == KVM_EXIT_IO_IN) {
		for (size_t i = 0; i < n; i++)
			data[i] = ins_byte(a->ins_pos++);
		return KVMUF_EXIT_RETRY;
	}
	return KVMUF_EXIT_ERROR;
}

static enum kvmuf_exit_action mmio_exit(struct access *a, struct kvm_run *run)
{
	uint64_t off = run->mmio.phys_addr - MMIO_GPA;

	if (run->mmio.phys_addr < MMIO_GPA || off + run->mmio.len > PAGE ||
	    run->mmio.len > sizeof(run->mmio.data))
		return KVMUF_EXIT_ERROR;
	if (run->mmio.is_write)
		memcpy(a->mmio_out + off, run->mmio.data, run->mmio.len);
	else
		for (uint32_t i = 0; i < run->mmio.len; i++)
			run->mmio.data[i] = mmio_byte(off + i);
	return KVMUF_EXIT_RETRY;
}

/* Exit mode: the vCPU came back for a missing GFN; wait until it is served. */
static enum kvmuf_exit_action memory_exit(struct access *a, const struct kvmuf_exit_info *in)
{
	uint64_t gfn;
	int ret;

	if (!a->exit_mode)
		return KVMUF_EXIT_ERROR;
	if (in->exit_reason == KVM_EXIT_MEMORY_FAULT)
		gfn = in->fault_gpa / PAGE;
	else if (kvmuf_vcpu_exit(a->k, in->vcpu, &gfn, NULL, NULL) < 0)
		return KVMUF_EXIT_ERROR;
	a->waits++;
	ret = kvmuf_wait(a->k, gfn, 10000);
	if (ret < 0) {
		fprintf(stderr, "FAIL: %s: KVMUF_WAIT for gfn 0x%llx: %s\n", a->what,
			(unsigned long long)gfn, kvmuf_strerror(ret));
		return KVMUF_EXIT_ERROR;
	}
	return KVMUF_EXIT_RETRY;
}

static enum kvmuf_exit_action access_hook(struct kvmuf_vm *vm, const struct kvmuf_exit_info *in,
					  void *opaque)
{
	struct access *a = opaque;

	(void)vm;
	if (in->run_errno == EFAULT || in->exit_reason == KVM_EXIT_MEMORY_FAULT)
		return memory_exit(a, in);
	if (in->exit_reason == KVM_EXIT_IO)
		return io_exit(a, in->run);
	if (in->exit_reason == KVM_EXIT_MMIO)
		return mmio_exit(a, in->run);
	return KVMUF_EXIT_ERROR;
}

/* ---- set-up ---- */

/* A page table mapping pages [first, first + 8) of the test memory at its window. */
static void make_table(struct access *a, uint64_t table, uint64_t first)
{
	uint64_t *pte = (uint64_t *)page_at(a->snap, table);

	memset(pte, 0, PAGE);
	for (unsigned int i = 0; i < 8; i++)
		pte[i] = gpa_of(a, first + i) | PTE_P | PTE_RW | PTE_A | PTE_D;
}

static int start_engine(struct access *a)
{
	struct kvmuf_server_config sc = {
		.ctx = a->k,
		.nr_threads = 2,
		.geom = { a->base_gfn, PAGES, a->base_gfn, PAGES },
		.snap_data = a->snap,
		.use_uffd = a->backstop,
		.uffd = a->uffd,
		.uffd_hva = (uintptr_t)a->mem->hva,
		/* Module only: memfd pages written through the VMM's mapping. */
		.mem = !a->backstop && a->mem->memfd >= 0 ? a->mem->hva : NULL,
		.poll_ms = 20,
		.log_prefix = "faulttest: engine",
		.max_logged = 8,
	};
	int ret = kvmuf_server_start(&sc, &a->srv);

	if (ret < 0)
		fprintf(stderr, "FAIL: %s: starting the page engine: %s\n", a->what,
			kvmuf_strerror(ret));
	return ret;
}

/* 0, -1 (failed), 77 (no userfaultfd here: skip). */
static int setup(struct access *a, enum kvmuf_backing backing, int exit_mode)
{
	struct kvmuf_vm_config vcfg = {
		.nr_vcpus = 1, .bytes_per_vcpu = PAGES * PAGE, .backing = backing,
		.thp = KVMUF_THP_MADVISE,
	};
	int ret;

	a->exit_mode = exit_mode;
	a->uffd = -1;
	if (kvmuf_vm_create(&vcfg, &a->vm) != KVMUF_CREATE_OK) {
		fprintf(stderr, "FAIL: %s: cannot create the VM\n", a->what);
		return -1;
	}
	a->mem = kvmuf_vm_test_mem(a->vm);
	a->base_gfn = a->mem->gpa / PAGE;
	a->snap = aligned_alloc(PAGE, PAGES * PAGE);
	a->want = malloc(PAGES * PAGE);
	if (!a->snap || !a->want)
		return -1;
	for (uint64_t p = 0; p < PAGES; p++)
		kvmuf_snap_fill_page(page_at(a->snap, p), a->base_gfn + p, SEED);
	make_table(a, P_PT_INS, P_WIN_INS);
	make_table(a, P_PT_XLATE, P_WIN_XLATE);
	memcpy(a->want, a->snap, PAGES * PAGE);
	if (kvmuf_vm_map_table(a->vm, WIN_INS, gpa_of(a, P_PT_INS)) < 0 ||
	    kvmuf_vm_map_table(a->vm, WIN_XLATE, gpa_of(a, P_PT_XLATE)) < 0)
		return -1;

	ret = a->backstop ? kvmuf_backstop_open(&a->uffd) : 0;
	if (ret == 0 && a->backstop)
		ret = kvmuf_backstop_register(a->uffd, a->mem->hva, a->mem->size);
	if (ret < 0) {
		printf("SKIP: %s: no userfaultfd backstop here: %s\n", a->what, strerror(-ret));
		return 77;
	}
	ret = kvmuf_open(&a->k);
	if (!ret)
		ret = kvmuf_attach(a->k, kvmuf_vm_fd(a->vm), exit_mode ? KVMUF_ATTACH_EXIT : 0, 1,
				   RING);
	/* No KVMUF_RANGE_MODULE_ONLY: the module checks the backstop is there. */
	if (!ret)
		ret = kvmuf_add_range(a->k, a->base_gfn, PAGES, KVMUF_RANGE_MISSING |
				      (a->backstop ? 0 : KVMUF_RANGE_MODULE_ONLY));
	if (ret) {
		fprintf(stderr, "FAIL: %s: kvm-userfault: %s\n", a->what, kvmuf_strerror(ret));
		return -1;
	}
	kvmuf_vm_set_exit_hook(a->vm, access_hook, a);
	return start_engine(a) < 0 ? -1 : 0;
}

static void teardown(struct access *a)
{
	kvmuf_server_stop(a->srv, NULL);
	kvmuf_close(a->k);
	kvmuf_vm_destroy(a->vm);
	if (a->uffd >= 0)
		close(a->uffd);
	free(a->snap);
	free(a->want);
}

/* ---- the cases ---- */

static int run(struct access *a, const char *what, const uint8_t *code, size_t len,
	       const struct kvm_regs *regs, uint64_t *result)
{
	if (kvmuf_vm_run_code(a->vm, 0, code, len, regs, result) == 0)
		return 0;
	fprintf(stderr, "FAIL: %s: %s: the guest did not finish\n", a->what, what);
	failures++;
	return -1;
}

static int set_msr(struct access *a, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = index, .data = value } };

	return ioctl(kvmuf_vm_vcpu_fd(a->vm, 0), KVM_SET_MSRS, &m);
}

static uint64_t get_msr(struct access *a, uint32_t index)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = index } };

	if (ioctl(kvmuf_vm_vcpu_fd(a->vm, 0), KVM_GET_MSRS, &m) != 1)
		return 0;
	return m.e.data;
}

/* KVM wrote a pvclock there, after the page arrived: check it, then expect it. */
static void check_pvclock(struct access *a, uint64_t page, unsigned int off, const char *how)
{
	const struct pvclock *snap = (const void *)(page_at(a->snap, page) + off);
	struct pvclock pv;
	struct kvm_clock_data clock = { 0 };
	uint64_t tsc = get_msr(a, MSR_IA32_TSC);

	memcpy(&pv, page_at(a->mem->hva, page) + off, sizeof(pv));
	CHECK(ioctl(kvmuf_vm_fd(a->vm), KVM_GET_CLOCK, &clock) == 0, "KVM_GET_CLOCK");
	CHECK(memcmp(&pv, snap, sizeof(pv)) != 0,
	      "%s: kvmclock %s: the page holds the snapshot's bytes, not KVM's pvclock",
	      a->what, how);
	CHECK(!(pv.version & 1) && pv.mul != 0 && pv.tsc_timestamp <= tsc &&
	      pv.system_time <= clock.clock,
	      "%s: kvmclock %s: not a pvclock KVM wrote: version %u, mul %u, tsc %llu (guest tsc %llu), time %llu (kvmclock %llu)",
	      a->what, how, pv.version, pv.mul, (unsigned long long)pv.tsc_timestamp,
	      (unsigned long long)tsc, (unsigned long long)pv.system_time,
	      (unsigned long long)clock.clock);
	memcpy(page_at(a->want, page) + off, &pv, sizeof(pv));
}

static void case_emulator(struct access *a)
{
	struct kvm_regs r = { 0 };

	/* rep outsb: the device gets the page's bytes. */
	r.rsi = gpa_of(a, P_OUTS);
	r.rcx = PAGE;
	if (!run(a, "rep outsb", code_outs, sizeof(code_outs), &r, NULL))
		CHECK(a->outs_len == PAGE && !memcmp(a->outs, page_at(a->snap, P_OUTS), PAGE),
		      "%s: rep outsb from a missing page: the device got %zu bytes, not the page's",
		      a->what, a->outs_len);

	/* rep insb into half a page: the device's bytes there, the page's elsewhere. */
	memset(&r, 0, sizeof(r));
	r.rdi = gpa_of(a, P_INS);
	r.rcx = HALF;
	a->ins_pos = 0;
	if (!run(a, "rep insb", code_ins, sizeof(code_ins), &r, NULL))
		for (size_t i = 0; i < HALF; i++)
			page_at(a->want, P_INS)[i] = ins_byte(i);

	/* MMIO -> RAM, RAM -> MMIO. */
	memset(&r, 0, sizeof(r));
	r.rsi = MMIO_GPA;
	r.rdi = gpa_of(a, P_MMIO_IN);
	r.rcx = HALF / 8;
	if (!run(a, "rep movsq from MMIO", code_movsq, sizeof(code_movsq), &r, NULL))
		for (size_t i = 0; i < HALF; i++)
			page_at(a->want, P_MMIO_IN)[i] = mmio_byte(i);
	memset(&r, 0, sizeof(r));
	r.rsi = gpa_of(a, P_MMIO_OUT);
	r.rdi = MMIO_GPA;
	r.rcx = HALF / 8;
	if (!run(a, "rep movsq to MMIO", code_movsq, sizeof(code_movsq), &r, NULL))
		CHECK(!memcmp(a->mmio_out, page_at(a->snap, P_MMIO_OUT), HALF),
		      "%s: rep movsq from a missing page to MMIO: the device did not get the page's bytes",
		      a->what);
}

static void case_page_walks(struct access *a)
{
	struct kvm_translation t = { .linear_address = WIN_XLATE + 2 * PAGE + 0x123 };
	struct kvm_regs r = { 0 };

	/* KVM walks the guest's tables in software: the table page is missing. */
	r.rdi = WIN_INS + 3 * PAGE;
	r.rcx = INS_WIN_LEN;
	a->ins_pos = 0;
	if (!run(a, "rep insb through a missing page table", code_ins, sizeof(code_ins), &r,
		 NULL))
		for (size_t i = 0; i < INS_WIN_LEN; i++)
			page_at(a->want, P_WIN_INS + 3)[i] = ins_byte(i);

	CHECK(ioctl(kvmuf_vm_vcpu_fd(a->vm, 0), KVM_TRANSLATE, &t) == 0, "%s: KVM_TRANSLATE: %s",
	      a->what, strerror(errno));
	CHECK(t.valid && t.physical_address == gpa_of(a, P_WIN_XLATE + 2) + 0x123,
	      "%s: KVM_TRANSLATE through a missing page table: valid %u, gpa 0x%llx (want 0x%llx)",
	      a->what, t.valid, (unsigned long long)t.physical_address,
	      (unsigned long long)(gpa_of(a, P_WIN_XLATE + 2) + 0x123));
}

/* Before the first run, as a VMM restoring a VM: kvmclock and steal time. */
static int case_pv_msrs_restored(struct access *a)
{
	int steal;

	CHECK(set_msr(a, MSR_KVM_SYSTEM_TIME_NEW, (gpa_of(a, P_CLOCK_SET) + CLOCK_OFF) | 1) == 1,
	      "%s: KVM_SET_MSRS kvmclock", a->what);
	steal = set_msr(a, MSR_KVM_STEAL_TIME, (gpa_of(a, P_STEAL) + STEAL_OFF) | 1) == 1;
	if (!steal)
		printf("  %s: KVM refuses MSR_KVM_STEAL_TIME here (no sched_info): steal time not checked\n",
		       a->what);
	return steal;
}

/*
 * After the runs: KVM's pvclocks and steal time record must be there, and the rest of
 * their pages the pages' data. Then the PV MSRs go off, so that KVM stops updating those
 * bytes and the final check can expect exactly what is there now.
 */
static void check_pv(struct access *a, int steal)
{
	const struct steal_time *snap = (const void *)(page_at(a->snap, P_STEAL) + STEAL_OFF);
	struct steal_time st;

	check_pvclock(a, P_CLOCK_SET, CLOCK_OFF, "set by KVM_SET_MSRS before the first run");
	check_pvclock(a, P_CLOCK_GUEST, CLOCK_GUEST_OFF, "set by the guest");
	CHECK(set_msr(a, MSR_KVM_SYSTEM_TIME_NEW, 0) == 1 &&
	      (!steal || set_msr(a, MSR_KVM_STEAL_TIME, 0) == 1),
	      "%s: turning the PV MSRs off", a->what);
	if (!steal)
		return;
	memcpy(&st, page_at(a->mem->hva, P_STEAL) + STEAL_OFF, sizeof(st));
	CHECK(!(st.version & 1) && st.version != snap->version,
	      "%s: steal time: version %u (the snapshot's is %u): KVM's record was lost",
	      a->what, st.version, snap->version);
	memcpy(page_at(a->want, P_STEAL) + STEAL_OFF, &st, sizeof(st));
}

static void case_pv_guest(struct access *a)
{
	uint64_t val = (gpa_of(a, P_CLOCK_GUEST) + CLOCK_GUEST_OFF) | 1;
	struct kvm_regs r = {
		.rcx = MSR_KVM_SYSTEM_TIME_NEW, .rax = (uint32_t)val, .rdx = val >> 32,
		.rdi = gpa_of(a, P_CLOCK_GUEST) + CLOCK_GUEST_OFF,
	};
	uint64_t first_word = 0;

	if (run(a, "kvmclock by WRMSR", code_wrmsr_load, sizeof(code_wrmsr_load), &r,
		&first_word))
		return;
	/* What the guest read right after its WRMSR: a version KVM wrote (even). */
	CHECK(!((uint32_t)first_word & 1) &&
	      (uint32_t)first_word != *(uint32_t *)(page_at(a->snap, P_CLOCK_GUEST) +
						    CLOCK_GUEST_OFF),
	      "%s: the guest read pvclock version %u, not one KVM wrote", a->what,
	      (uint32_t)first_word);
}

static void case_vmm(struct access *a)
{
	const uint64_t word = 0x5eedf00d0ddba11ULL;

	/* Device emulation reads a missing page, writes into another. */
	CHECK(!memcmp(page_at(a->mem->hva, P_VMM_READ), page_at(a->snap, P_VMM_READ), PAGE),
	      "%s: the VMM read a missing page and did not get its data", a->what);
	memcpy(page_at(a->mem->hva, P_VMM_WRITE) + VMM_WRITE_OFF, &word, sizeof(word));
	memcpy(page_at(a->want, P_VMM_WRITE) + VMM_WRITE_OFF, &word, sizeof(word));
}

/*
 * The guest writes a page; it is made missing again and its stage-2 mapping dropped;
 * a new engine (a daemon restarting, knowing nothing served) takes over; the guest
 * reads it: the engine's install meets a present page and must leave it alone.
 */
static void case_remissing(struct access *a)
{
	const uint64_t seed = 0x7777000011112222ULL;
	struct kvmuf_gfn_range g = { a->base_gfn + P_REMISSING, 1 };
	uint64_t word = gpa_of(a, P_REMISSING) ^ seed, result = 0;
	struct kvmuf_server_stats st;
	int ret;

	if (kvmuf_vm_run_pages(a->vm, 0, KVMUF_MODE_WRITE, seed, P_REMISSING, 1, &result) ||
	    result != 1) {
		fprintf(stderr, "FAIL: %s: the guest did not write page %d\n", a->what,
			P_REMISSING);
		failures++;
		return;
	}
	memcpy(page_at(a->want, P_REMISSING), &word, sizeof(word));
	kvmuf_server_stop(a->srv, &st);
	a->srv = NULL;
	CHECK(st.errors == 0 && st.duplicates == 0 && st.out_of_range == 0,
	      "%s: first engine: %llu errors, %llu duplicates, %llu out of range", a->what,
	      (unsigned long long)st.errors, (unsigned long long)st.duplicates,
	      (unsigned long long)st.out_of_range);
	printf("  %s: first engine: %llu pages through rings, %llu through userfaultfd, %llu both ways\n",
	       a->what, (unsigned long long)st.ring_served, (unsigned long long)st.uffd_served,
	       (unsigned long long)st.both);
	CHECK(st.uffd_served > 0 || !a->backstop, "%s: nothing came through userfaultfd",
	      a->what);
	ret = kvmuf_set_missing(a->k, &g, 1, NULL, NULL);
	CHECK(ret == 0, "%s: SET_MISSING: %s", a->what, kvmuf_strerror(ret));
	/* Delete and re-add the memslot: KVM drops every mapping of it. */
	CHECK(kvmuf_vm_update_test_slot(a->vm, a->mem->gpa, 0, 1) == 0 &&
	      kvmuf_vm_update_test_slot(a->vm, a->mem->gpa, 0, 0) == 0,
	      "%s: memslot delete and re-add", a->what);
	start_engine(a);
}

/* Every page, by the guest's sums and byte for byte on the host. */
static void check_all(struct access *a)
{
	const uint64_t *sums = kvmuf_vm_page_sums(a->vm);
	struct kvmuf_server_stats st;
	struct kvmuf_info info;
	uint64_t bad_sums = 0, bad_pages = 0;

	if (kvmuf_vm_run_pages(a->vm, 0, KVMUF_MODE_SUM, 0, 0, PAGES, NULL) != 0) {
		fprintf(stderr, "FAIL: %s: the guest did not sum the pages\n", a->what);
		failures++;
		return;
	}
	for (uint64_t p = 0; p < PAGES; p++) {
		const uint64_t *w = (const uint64_t *)page_at(a->want, p);
		uint64_t sum = 0;

		for (unsigned int i = 0; i < PAGE / 8; i++)
			sum += w[i];
		if (sums[p] != sum && !bad_sums++)
			fprintf(stderr, "FAIL: %s: the guest read page %llu as sum 0x%llx, want 0x%llx%s\n",
				a->what, (unsigned long long)p, (unsigned long long)sums[p],
				(unsigned long long)sum, sums[p] ? "" : " (zeros?)");
		if (memcmp(page_at(a->mem->hva, p), page_at(a->want, p), PAGE)) {
			size_t off = 0;

			while (page_at(a->mem->hva, p)[off] == page_at(a->want, p)[off])
				off++;
			if (!bad_pages++)
				fprintf(stderr, "FAIL: %s: page %llu differs at byte %zu from what it must hold\n",
					a->what, (unsigned long long)p, off);
		}
	}
	CHECK(!bad_sums && !bad_pages, "%s: %llu pages read wrong by the guest, %llu wrong on the host",
	      a->what, (unsigned long long)bad_sums, (unsigned long long)bad_pages);
	kvmuf_server_stats(a->srv, &st);
	CHECK(st.errors == 0 && st.duplicates == 0 && st.out_of_range == 0,
	      "%s: second engine: %llu errors, %llu duplicates, %llu out of range", a->what,
	      (unsigned long long)st.errors, (unsigned long long)st.duplicates,
	      (unsigned long long)st.out_of_range);
	CHECK(kvmuf_info(a->k, &info) == 0 && info.nr_missing == 0,
	      "%s: %llu GFNs still missing", a->what, (unsigned long long)info.nr_missing);
	printf("  %s: second engine: %llu pages through rings, %llu through userfaultfd; %llu exit-mode waits\n",
	       a->what, (unsigned long long)st.ring_served, (unsigned long long)st.uffd_served,
	       (unsigned long long)a->waits);
}

/* One combination: 0 ran (failures counted), -1 could not run, 77 skipped. */
static int access_one(enum kvmuf_backing backing, int exit_mode, int backstop)
{
	struct access *a = calloc(1, sizeof(*a));
	char what[64];
	int ret, steal;

	if (!a)
		return -1;
	snprintf(what, sizeof(what), "%s, %s%s", exit_mode ? "exit" : "park",
		 kvmuf_backing_name(backing), backstop ? "" : ", module only");
	a->what = what;
	a->backstop = backstop;
	ret = setup(a, backing, exit_mode);
	if (ret == 0) {
		steal = case_pv_msrs_restored(a);
		case_emulator(a);
		case_page_walks(a);
		case_pv_guest(a);
		check_pv(a, steal);
		case_vmm(a);
		case_remissing(a);
		check_all(a);
	}
	teardown(a);
	free(a);
	return ret;
}

int ft_case_access(int argc, char **argv)
{
	int backstop = !(argc > 1 && !strcmp(argv[1], "--without-backstop"));
	int skipped = 0, caught = 0;

	if (!backstop)
		printf("negative control, module only: the checks below must catch the loss\n");
	for (int i = 0; i < 4; i++) {
		enum kvmuf_backing backing = i & 1 ? KVMUF_MEM_MEMFD : KVMUF_MEM_ANON;
		int exit_mode = i >> 1, before = failures, ret;

		ret = access_one(backing, exit_mode, backstop);
		if (ret == 77) {
			skipped++;
		} else if (ret < 0) {
			failures++;
			caught = -100;		/* could not run: never a pass */
		} else if (failures == before) {
			if (backstop)
				printf("ok: %s, %s: every access to a missing page saw its data\n",
				       exit_mode ? "exit" : "park", kvmuf_backing_name(backing));
		} else {
			caught++;
		}
	}
	if (!backstop) {
		printf("%s: module only, the checks caught the loss in %d of 4 combinations\n",
		       caught == 4 ? "ok" : "FAIL", caught < 0 ? 0 : caught);
		return caught == 4 ? 0 : 1;
	}
	if (failures)
		return 1;
	return skipped == 4 ? 77 : 0;
}
