// SPDX-License-Identifier: GPL-2.0
/*
 * The module's own BTF reader (module/btfparse.h), run in userspace over the same files
 * the module reads at load time: /sys/kernel/btf/vmlinux and kvm.ko's split BTF
 * /sys/kernel/btf/kvm (or, when KVM is built into the kernel, vmlinux alone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/btf.h>

#include "ctl.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#include "btfparse.h"

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 20, n = 0, got;
	char *buf = NULL, *nb;

	if (!f)
		return NULL;
	/* sysfs reports sizes, but read to EOF anyway: the size is not the contract. */
	for (;;) {
		nb = realloc(buf, cap);
		if (!nb)
			break;
		buf = nb;
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
	}
	fclose(f);
	if (!nb || !n) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static u32 *offs_alloc(u32 nr)
{
	return malloc(sizeof(u32) * nr);
}

int ctl_btf_layout(char *out, size_t len, const char **source)
{
	struct kvmuf_btf vmlinux = { 0 }, kvm = { 0 };
	struct kvmuf_btf_layout l;
	char why[KVMUF_BTF_WHY] = "";
	size_t vlen = 0, klen = 0;
	void *v, *k;
	int ret;

	*source = "/sys/kernel/btf/vmlinux + /sys/kernel/btf/kvm";
	v = slurp("/sys/kernel/btf/vmlinux", &vlen);
	if (!v) {
		snprintf(out, len, "cannot read /sys/kernel/btf/vmlinux: %s", strerror(errno));
		return -ENOENT;
	}
	k = slurp("/sys/kernel/btf/kvm", &klen);
	ret = kvmuf_btf_load(&vmlinux, v, vlen, NULL, offs_alloc, why);
	if (!ret && k)
		ret = kvmuf_btf_load(&kvm, k, klen, &vmlinux, offs_alloc, why);
	if (!ret) {
		/* KVM built in: its types are in vmlinux itself. */
		if (!k)
			*source = "/sys/kernel/btf/vmlinux (KVM built in)";
		ret = kvmuf_btf_find_layout(k ? &kvm : &vmlinux, &l, why);
	}
	if (ret)
		snprintf(out, len, "%s", why);
	else
		snprintf(out, len, "kvm_page_fault error_code %u, prefetch %u, max_level %u, gfn %u, slot %u; RET_PF_RETRY %lld; hooks %s, %s",
			 l.error_code, l.prefetch, l.max_level, l.gfn, l.slot,
			 (long long)l.ret_pf_retry, l.hook_symbol,
			 l.recover_symbol ? l.recover_symbol : "none");
	free(kvm.offs);
	free(vmlinux.offs);
	free(k);
	free(v);
	return ret;
}
