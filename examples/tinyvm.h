/* SPDX-License-Identifier: MIT */
/*
 * The smallest VM the examples need: one vCPU in real mode, 1 MiB of anonymous memory at
 * GPA 0, and 25 bytes of guest code at 0x1000 that add up the first byte of each of
 * TINYVM_PAGES pages from GPA 0x10000 on, report the sum on port 0xf1, and halt. Those
 * pages start missing: kvm-userfault serves them.
 */
#ifndef TINYVM_H
#define TINYVM_H

#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define TINYVM_MEM_SIZE		(1u << 20)
#define TINYVM_CODE_GPA		0x1000u
#define TINYVM_DATA_GFN		0x10u		/* GPA 0x10000 */
#define TINYVM_PAGES		64u
#define TINYVM_REPORT_PORT	0xf1

struct tinyvm {
	int kvm, vm, vcpu;
	unsigned char *mem;
	struct kvm_run *run;
};

/* The byte a page's snapshot starts with. */
static inline unsigned char tinyvm_page_byte(unsigned int page)
{
	return (unsigned char)(page * 7 + 1);
}

/* What the guest must report when every page holds its snapshot data. */
static inline unsigned char tinyvm_expected_sum(void)
{
	unsigned char sum = 0;

	for (unsigned int p = 0; p < TINYVM_PAGES; p++)
		sum += tinyvm_page_byte(p);
	return sum;
}

static inline int tinyvm_create(struct tinyvm *t)
{
	static const unsigned char code[] = {
		0xb8, 0x00, 0x10,			/* mov ax, 0x1000 (segment of 0x10000) */
		0xb9, TINYVM_PAGES & 0xff, TINYVM_PAGES >> 8,	/* mov cx, pages */
		0x31, 0xdb,				/* xor bx, bx */
		0x8e, 0xc0,				/* 1: mov es, ax */
		0x26, 0x02, 0x1e, 0x00, 0x00,		/* add bl, es:[0] */
		0x05, 0x00, 0x01,			/* add ax, 0x100 (next 4 KiB) */
		0xe2, 0xf4,				/* loop 1b */
		0x88, 0xd8,				/* mov al, bl */
		0xe6, TINYVM_REPORT_PORT,		/* out 0xf1, al */
		0xf4,					/* hlt */
	};
	struct kvm_userspace_memory_region region = { .slot = 0, .memory_size = TINYVM_MEM_SIZE };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = TINYVM_CODE_GPA, .rflags = 2 };
	int run_size;

	t->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (t->kvm < 0)
		return perror("/dev/kvm"), -1;
	t->vm = ioctl(t->kvm, KVM_CREATE_VM, 0);
	t->mem = mmap(NULL, TINYVM_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->vm < 0 || t->mem == MAP_FAILED)
		return perror("KVM_CREATE_VM / mmap"), -1;
	memcpy(t->mem + TINYVM_CODE_GPA, code, sizeof(code));
	region.userspace_addr = (uintptr_t)t->mem;
	t->vcpu = ioctl(t->vm, KVM_CREATE_VCPU, 0);
	run_size = ioctl(t->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &region) || t->vcpu < 0 || run_size <= 0)
		return perror("KVM memory region / vCPU"), -1;
	t->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->vcpu, 0);
	if (t->run == MAP_FAILED || ioctl(t->vcpu, KVM_GET_SREGS, &sregs))
		return perror("kvm_run / KVM_GET_SREGS"), -1;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(t->vcpu, KVM_SET_SREGS, &sregs) || ioctl(t->vcpu, KVM_SET_REGS, &regs))
		return perror("KVM_SET_SREGS / KVM_SET_REGS"), -1;
	return 0;
}

/* The missing pages, in the VMM's address space. */
static inline void *tinyvm_data(struct tinyvm *t)
{
	return t->mem + TINYVM_DATA_GFN * 4096u;
}

#endif /* TINYVM_H */
