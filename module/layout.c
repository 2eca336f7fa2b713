// SPDX-License-Identifier: GPL-2.0
/*
 * What the module must know of KVM's private code for the running kernel (struct
 * kvmuf_kernel: the offsets of struct kvm_page_fault, the functions to hook,
 * RET_PF_RETRY), found at load time from, in this order:
 *
 *   1. the kernel's own BTF: /sys/kernel/btf/vmlinux and kvm.ko's split BTF,
 *      /sys/kernel/btf/kvm, parsed by btfparse.h;
 *   2. module parameters (fault_gfn=, fault_slot=, ...), when BTF cannot be read: a user
 *      who knows the layout of a kernel without BTF gives all of them;
 *   3. the table of kernel lines we verified (compat.h).
 *
 * Sources never get averaged: a module parameter that contradicts BTF, or a verified
 * table entry that does, refuses the load with one line saying which value disagrees,
 * as do BTF that is readable but does not describe what we need (a member gone, a type
 * changed) and a kernel that none of the sources covers. A wrong offset would let a missing GFN
 * through as a zero page; refusing costs a user a module parameter.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/utsname.h>
#include <uapi/linux/btf.h>

#include "compat.h"
#include "kvmuf.h"
#include "btfparse.h"

static bool use_btf = true;
module_param(use_btf, bool, 0444);
MODULE_PARM_DESC(use_btf, "Read KVM's layout from the kernel's BTF (default); N: parameters or the verified table only");

static char *btf_vmlinux = "/sys/kernel/btf/vmlinux";
module_param(btf_vmlinux, charp, 0444);
MODULE_PARM_DESC(btf_vmlinux, "Path of the kernel's BTF");

static char *btf_kvm = "/sys/kernel/btf/kvm";
module_param(btf_kvm, charp, 0444);
MODULE_PARM_DESC(btf_kvm, "Path of kvm.ko's split BTF");

/* Overrides: -1 (and NULL) is unset. */
static int fault_error_code = -1, fault_prefetch = -1, fault_max_level = -1;
static int fault_gfn = -1, fault_slot = -1;
static char *hook_symbol, *recover_symbol;
module_param(fault_error_code, int, 0444);
MODULE_PARM_DESC(fault_error_code, "offsetof(struct kvm_page_fault, error_code)");
module_param(fault_prefetch, int, 0444);
MODULE_PARM_DESC(fault_prefetch, "offsetof(struct kvm_page_fault, prefetch)");
module_param(fault_max_level, int, 0444);
MODULE_PARM_DESC(fault_max_level, "offsetof(struct kvm_page_fault, max_level)");
module_param(fault_gfn, int, 0444);
MODULE_PARM_DESC(fault_gfn, "offsetof(struct kvm_page_fault, gfn)");
module_param(fault_slot, int, 0444);
MODULE_PARM_DESC(fault_slot, "offsetof(struct kvm_page_fault, slot)");
module_param(hook_symbol, charp, 0444);
MODULE_PARM_DESC(hook_symbol, "KVM's stage-2 fault-in function (kvm_mmu_faultin_pfn, kvm_faultin_pfn)");
module_param(recover_symbol, charp, 0444);
MODULE_PARM_DESC(recover_symbol, "KVM's in-place huge-page recovery function, or \"none\"");

const struct kvmuf_kernel *kvmuf_kernel;
static struct kvmuf_kernel kvmuf_running;

/* BTF blobs are a few MiB; anything far larger is not one. */
#define KVMUF_BTF_MAX_BYTES	(256U << 20)

/* The whole file at path, in a kvmalloc()ed buffer; ERR_PTR otherwise. */
static void *kvmuf_read_file(const char *path, size_t *len)
{
	struct file *f = filp_open(path, O_RDONLY, 0);
	loff_t size, pos = 0;
	void *buf;

	if (IS_ERR(f))
		return f;
	size = i_size_read(file_inode(f));
	if (size <= 0 || size > KVMUF_BTF_MAX_BYTES) {
		fput(f);
		return ERR_PTR(-EFBIG);
	}
	buf = kvmalloc(size, GFP_KERNEL);
	if (!buf) {
		fput(f);
		return ERR_PTR(-ENOMEM);
	}
	while (pos < size) {
		ssize_t n = kernel_read(f, buf + pos, size - pos, &pos);

		if (n <= 0) {
			kvfree(buf);
			fput(f);
			return ERR_PTR(n ? n : -EIO);
		}
	}
	fput(f);
	*len = size;
	return buf;
}

/* "path: why" */
static void kvmuf_why_prefix(char *why, const char *path)
{
	char tmp[KVMUF_BTF_WHY];

	strscpy(tmp, why, sizeof(tmp));
	scnprintf(why, KVMUF_BTF_WHY, "%s: %s", path, tmp);
}

/* Room for a blob's type offsets (kvmuf_btf_load()); kvfree()d by the caller. */
static u32 *kvmuf_btf_alloc(u32 nr)
{
	return kvmalloc_array(nr, sizeof(u32), GFP_KERNEL);
}

/*
 * The layout from the running kernel's BTF. 0, or -errno with why; *readable false if
 * the BTF could not even be read (a kernel built without module BTF).
 */
static int kvmuf_layout_from_btf(struct kvmuf_btf_layout *l, char *why, bool *readable)
{
	struct kvmuf_btf vmlinux = { 0 }, kvm = { 0 };
	void *vdata = NULL, *kdata = NULL;
	size_t vlen, klen;
	int ret;

	*readable = false;
	vdata = kvmuf_read_file(btf_vmlinux, &vlen);
	if (IS_ERR(vdata)) {
		scnprintf(why, KVMUF_BTF_WHY, "cannot read %s: %ld", btf_vmlinux, PTR_ERR(vdata));
		return PTR_ERR(vdata);
	}
	kdata = kvmuf_read_file(btf_kvm, &klen);
	if (IS_ERR(kdata)) {
		scnprintf(why, KVMUF_BTF_WHY, "cannot read %s: %ld", btf_kvm, PTR_ERR(kdata));
		ret = PTR_ERR(kdata);
		kdata = NULL;
		goto out;
	}
	*readable = true;
	ret = kvmuf_btf_load(&vmlinux, vdata, vlen, NULL, kvmuf_btf_alloc, why);
	if (ret) {
		kvmuf_why_prefix(why, btf_vmlinux);
		goto out;
	}
	ret = kvmuf_btf_load(&kvm, kdata, klen, &vmlinux, kvmuf_btf_alloc, why);
	if (ret) {
		kvmuf_why_prefix(why, btf_kvm);
		goto out;
	}
	ret = kvmuf_btf_find_layout(&kvm, l, why);
out:
	kvfree(kvm.offs);
	kvfree(vmlinux.offs);
	kvfree(kdata);
	kvfree(vdata);
	return ret;
}

static const char *kvmuf_symbol_or_none(const char *s)
{
	return s ?: "none";
}

/* Two symbols (NULL: none) are the same. */
static bool kvmuf_same_symbol(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * The first field of k that contradicts the one of want: its name, and both values in
 * buf; NULL if none does.
 */
static const char *kvmuf_layout_diff(const struct kvmuf_kernel *k, const struct kvmuf_kernel *want,
				     char *buf, size_t len)
{
	const struct {
		const char *name;
		unsigned int have, want;
	} fields[] = {
		{ "fault_error_code", k->fault_error_code, want->fault_error_code },
		{ "fault_prefetch", k->fault_prefetch, want->fault_prefetch },
		{ "fault_max_level", k->fault_max_level, want->fault_max_level },
		{ "fault_gfn", k->fault_gfn, want->fault_gfn },
		{ "fault_slot", k->fault_slot, want->fault_slot },
		{ "RET_PF_RETRY", k->ret_pf_retry, want->ret_pf_retry },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		if (fields[i].have != fields[i].want) {
			scnprintf(buf, len, "%s %u where BTF has %u", fields[i].name,
				  fields[i].have, fields[i].want);
			return buf;
		}
	}
	if (!kvmuf_same_symbol(k->hook_symbol, want->hook_symbol)) {
		scnprintf(buf, len, "hook %s where BTF has %s", k->hook_symbol, want->hook_symbol);
		return buf;
	}
	if (!kvmuf_same_symbol(k->recover_symbol, want->recover_symbol)) {
		scnprintf(buf, len, "recovery hook %s where BTF has %s",
			  kvmuf_symbol_or_none(k->recover_symbol),
			  kvmuf_symbol_or_none(want->recover_symbol));
		return buf;
	}
	return NULL;
}

static bool kvmuf_params_any(void)
{
	return fault_error_code >= 0 || fault_prefetch >= 0 || fault_max_level >= 0 ||
	       fault_gfn >= 0 || fault_slot >= 0 || hook_symbol || recover_symbol;
}

static bool kvmuf_params_all(void)
{
	return fault_error_code >= 0 && fault_prefetch >= 0 && fault_max_level >= 0 &&
	       fault_gfn >= 0 && fault_slot >= 0 && hook_symbol && recover_symbol;
}

/* Apply the parameters that are set over k. */
static void kvmuf_params_apply(struct kvmuf_kernel *k)
{
	if (fault_error_code >= 0)
		k->fault_error_code = fault_error_code;
	if (fault_prefetch >= 0)
		k->fault_prefetch = fault_prefetch;
	if (fault_max_level >= 0)
		k->fault_max_level = fault_max_level;
	if (fault_gfn >= 0)
		k->fault_gfn = fault_gfn;
	if (fault_slot >= 0)
		k->fault_slot = fault_slot;
	if (hook_symbol)
		k->hook_symbol = hook_symbol;
	if (recover_symbol)
		k->recover_symbol = strcmp(recover_symbol, "none") ? recover_symbol : NULL;
}

/* Fill kvmuf_running and point kvmuf_kernel at it; 0, or -errno after one log line. */
int kvmuf_layout_init(void)
{
	const struct kvmuf_kernel *table = kvmuf_compat_kernel();
	struct kvmuf_kernel *k = &kvmuf_running;
	struct kvmuf_btf_layout l;
	char why[KVMUF_BTF_WHY] = "BTF not used (use_btf=0)", diff[96];
	bool readable = false;
	const char *bad;
	int ret = -ENOENT;

	if (use_btf)
		ret = kvmuf_layout_from_btf(&l, why, &readable);
	if (ret && readable) {
		/* BTF that does not describe what we need is a kernel we do not understand. */
		pr_err("kvm's BTF does not match what this module needs (%s): refusing to load\n",
		       why);
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	if (!ret) {
		*k = (struct kvmuf_kernel) {
			.line = utsname()->release, .source = "BTF",
			.hook_symbol = l.hook_symbol, .recover_symbol = l.recover_symbol,
			.fault_error_code = l.error_code, .fault_prefetch = l.prefetch,
			.fault_max_level = l.max_level, .fault_gfn = l.gfn, .fault_slot = l.slot,
			.ret_pf_retry = l.ret_pf_retry,
		};
		if (l.ret_pf_retry < 0 || l.ret_pf_retry > 255) {
			pr_err("RET_PF_RETRY is %lld in kvm's BTF: refusing to load\n",
			       l.ret_pf_retry);
			return -EINVAL;
		}
		/* A user's override or our own table that disagrees: someone is wrong. */
		if (kvmuf_params_any()) {
			struct kvmuf_kernel p = *k;

			kvmuf_params_apply(&p);
			bad = kvmuf_layout_diff(&p, k, diff, sizeof(diff));
			if (bad) {
				pr_err("module parameters contradict the kernel's BTF (%s): refusing to load\n",
				       bad);
				return -EINVAL;
			}
		}
		if (table) {
			bad = kvmuf_layout_diff(table, k, diff, sizeof(diff));
			if (bad) {
				pr_err("the verified table for %s contradicts the kernel's BTF (%s): refusing to load\n",
				       table->line, bad);
				return -EINVAL;
			}
			k->source = "BTF, as the verified table";
		}
	} else if (kvmuf_params_all()) {
		*k = (struct kvmuf_kernel) {
			.line = utsname()->release, .source = "module parameters",
			.ret_pf_retry = KVMUF_RET_PF_RETRY,
		};
		kvmuf_params_apply(k);
	} else if (kvmuf_params_any()) {
		pr_err("%s, and the module parameters are incomplete: give fault_error_code, fault_prefetch, fault_max_level, fault_gfn, fault_slot, hook_symbol and recover_symbol\n",
		       why);
		return -EINVAL;
	} else if (table) {
		*k = *table;
		k->source = "the verified table (no BTF)";
	} else {
		pr_err("%s, and kernel %s is not in the verified table (6.1, 6.12, 7.2): the layout of KVM's private struct kvm_page_fault is unknown; refusing to load\n",
		       why, utsname()->release);
		return -EOPNOTSUPP;
	}
	kvmuf_kernel = k;
	pr_info("KVM layout from %s: kvm_page_fault error_code %u, prefetch %u, max_level %u, gfn %u, slot %u; RET_PF_RETRY %u; hooks %s, %s\n",
		k->source, k->fault_error_code, k->fault_prefetch, k->fault_max_level,
		k->fault_gfn, k->fault_slot, k->ret_pf_retry, k->hook_symbol,
		kvmuf_symbol_or_none(k->recover_symbol));
	return 0;
}
