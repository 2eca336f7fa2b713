// SPDX-License-Identifier: GPL-2.0
/*
 * module/btfparse.h, compiled for userspace:
 * - on BTF built here (a vmlinux-like base and a kvm-like split blob): the layout, the
 *   hook and its arity, the recovery function, RET_PF_RETRY are found; every way the
 *   blob can disagree with what the module needs is refused with a reason (a member
 *   missing, a bitfield, a wrong type, two definitions that disagree, a hook with another
 *   prototype, no RET_PF_RETRY, a typedef loop, an unknown kind, a bad header), while two
 *   identical definitions are accepted;
 * - fuzzed: every truncation and thousands of random byte changes of those blobs, and of
 *   the real BTF of every kernel in $KVMUF_BTF_DIR (tests/host/btf-offline.sh leaves
 *   them there), never read outside the buffers (ASan/UBSan) and either fail or give a
 *   layout;
 * - with arguments VMLINUX_BTF KVM_BTF: print the layout found (the offline check).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/btf.h>

#include "kshim.h"
#include "btfparse.h"
#include "unit.h"

/* ---- building BTF ------------------------------------------------------------- */

#define BTF_INFO_ENC(kind, kflag, vlen) \
	((u32)!!(kflag) << 31 | (u32)(kind) << 24 | ((vlen) & 0xffff))

struct bb {
	unsigned char types[4096];
	u32 tlen;
	char strs[2048];
	u32 slen;
	u32 next_id, str_base;
};

static void bb_init(struct bb *b, u32 first_id, u32 str_base)
{
	memset(b, 0, sizeof(*b));
	b->next_id = first_id;
	b->str_base = str_base;
	if (!str_base)
		b->slen = 1;	/* a base blob's string 0 is "" */
}

static u32 bb_str(struct bb *b, const char *s)
{
	u32 off = b->slen;

	if (!s || !*s)
		return 0;
	REQUIRE(b->slen + strlen(s) + 1 <= sizeof(b->strs), "strings");
	memcpy(b->strs + b->slen, s, strlen(s) + 1);
	b->slen += (u32)strlen(s) + 1;
	return b->str_base + off;
}

static void bb_u32(struct bb *b, u32 v)
{
	REQUIRE(b->tlen + 4 <= sizeof(b->types), "types");
	memcpy(b->types + b->tlen, &v, 4);
	b->tlen += 4;
}

static u32 bb_type(struct bb *b, const char *name, u32 kind, u32 vlen, int kflag, u32 size_type)
{
	bb_u32(b, bb_str(b, name));
	bb_u32(b, BTF_INFO_ENC(kind, kflag, vlen));
	bb_u32(b, size_type);
	return b->next_id++;
}

static u32 bb_int(struct bb *b, const char *name, u32 size, u32 enc)
{
	u32 id = bb_type(b, name, BTF_KIND_INT, 0, 0, size);

	bb_u32(b, enc << 24 | size * 8);
	return id;
}

static void bb_member(struct bb *b, const char *name, u32 type, u32 bits)
{
	bb_u32(b, bb_str(b, name));
	bb_u32(b, type);
	bb_u32(b, bits);
}

static size_t bb_blob(const struct bb *b, unsigned char *out, size_t max)
{
	struct btf_header h = {
		.magic = BTF_MAGIC, .version = BTF_VERSION, .hdr_len = sizeof(h),
		.type_off = 0, .type_len = b->tlen, .str_off = b->tlen, .str_len = b->slen,
	};
	size_t len = sizeof(h) + b->tlen + b->slen;

	REQUIRE(len <= max, "blob");
	memcpy(out, &h, sizeof(h));
	memcpy(out + sizeof(h), b->types, b->tlen);
	memcpy(out + sizeof(h) + b->tlen, b->strs, b->slen);
	return len;
}

/* The base ids, as bb_base() creates them. */
enum { T_UINT = 1, T_U64, T_BOOL, T_UCHAR, T_INT, T_SLOT, T_VCPU, T_KVM, T_TD_U64, T_TD_GFN,
       T_TD_U8, T_TD_U32, T_NR_BASE = T_TD_U32 };

static void bb_base(struct bb *b)
{
	bb_init(b, 1, 0);
	bb_int(b, "unsigned int", 4, 0);
	bb_int(b, "long long unsigned int", 8, 0);
	bb_int(b, "_Bool", 1, BTF_INT_BOOL);
	bb_int(b, "unsigned char", 1, 0);
	bb_int(b, "int", 4, BTF_INT_SIGNED);
	bb_type(b, "kvm_memory_slot", BTF_KIND_STRUCT, 0, 0, 64);
	bb_type(b, "kvm_vcpu", BTF_KIND_STRUCT, 0, 0, 64);
	bb_type(b, "kvm", BTF_KIND_STRUCT, 0, 0, 64);
	bb_type(b, "u64", BTF_KIND_TYPEDEF, 0, 0, T_U64);
	bb_type(b, "gfn_t", BTF_KIND_TYPEDEF, 0, 0, T_TD_U64);
	bb_type(b, "u8", BTF_KIND_TYPEDEF, 0, 0, T_UCHAR);
	bb_type(b, "u32", BTF_KIND_TYPEDEF, 0, 0, T_UINT);
}

/* What the kvm blob gets wrong, if anything. */
enum variant {
	V_OK, V_TWO_COPIES, V_COPIES_DISAGREE, V_BITFIELD, V_GFN_U32, V_NO_MAX_LEVEL,
	V_PREFETCH_NOT_BOOL, V_SLOT_NOT_PTR, V_NO_HOOK, V_HOOK_PROTO, V_OLD_HOOK, V_NO_RETRY,
	V_NO_RECOVER, V_RECOVER_PROTO, V_TYPEDEF_LOOP, V_UNKNOWN_KIND, V_OUTSIDE, V_NR
};

static const char *const variant_names[V_NR] = {
	"ok", "two identical copies", "two copies that disagree", "gfn a bitfield",
	"gfn a u32", "no max_level", "prefetch not a bool", "slot not a pointer", "no hook",
	"hook prototype", "6.1's hook", "no RET_PF_RETRY", "no recovery function",
	"recovery prototype", "typedef loop", "unknown kind", "member outside the struct",
};

static void bb_fault_struct(struct bb *b, enum variant v, int second, u32 ptr_slot, u32 const_bool,
			    u32 loop)
{
	int bitfield = v == V_BITFIELD;
	u32 gfn_bits = (v == V_COPIES_DISAGREE && second) ? 40 * 8 : 32 * 8;

	bb_type(b, "kvm_page_fault", BTF_KIND_STRUCT, v == V_NO_MAX_LEVEL ? 4 : 5, bitfield,
		v == V_OUTSIDE ? 30 : 64);
	bb_member(b, "error_code", T_U64, 8 * 8);
	bb_member(b, "prefetch", v == V_PREFETCH_NOT_BOOL ? T_UCHAR : const_bool, 16 * 8);
	if (v != V_NO_MAX_LEVEL)
		bb_member(b, "max_level", T_TD_U8, 26 * 8);
	bb_member(b, "gfn", v == V_GFN_U32 ? T_TD_U32 : v == V_TYPEDEF_LOOP ? loop : T_TD_GFN,
		  bitfield ? (64u << 24 | gfn_bits) : gfn_bits);
	bb_member(b, "slot", v == V_SLOT_NOT_PTR ? T_U64 : ptr_slot, 40 * 8);
}

/* The kvm-like split blob for variant v (first id T_NR_BASE + 1). */
static void bb_kvm(struct bb *b, const struct bb *base, enum variant v)
{
	u32 ptr_slot, const_bool, fault, ptr_vcpu, ptr_fault, proto, loop_a, ptr_kvm, enm;

	bb_init(b, T_NR_BASE + 1, base->slen);
	ptr_slot = bb_type(b, NULL, BTF_KIND_PTR, 0, 0, T_SLOT);
	const_bool = bb_type(b, NULL, BTF_KIND_CONST, 0, 0, T_BOOL);
	/* A typedef loop: a -> b -> a (ids known in advance). */
	loop_a = bb_type(b, "loop_a", BTF_KIND_TYPEDEF, 0, 0, b->next_id + 1);
	bb_type(b, "loop_b", BTF_KIND_TYPEDEF, 0, 0, loop_a);
	fault = b->next_id;
	bb_fault_struct(b, v, 0, ptr_slot, const_bool, loop_a);
	if (v == V_TWO_COPIES || v == V_COPIES_DISAGREE)
		bb_fault_struct(b, v, 1, ptr_slot, const_bool, loop_a);
	ptr_vcpu = bb_type(b, NULL, BTF_KIND_PTR, 0, 0, T_VCPU);
	ptr_fault = bb_type(b, NULL, BTF_KIND_PTR, 0, 0, fault);
	proto = bb_type(b, NULL, BTF_KIND_FUNC_PROTO, v == V_OLD_HOOK ? 2 : 3, 0, T_INT);
	bb_u32(b, 0);
	bb_u32(b, ptr_vcpu);
	bb_u32(b, 0);
	bb_u32(b, v == V_HOOK_PROTO ? ptr_vcpu : ptr_fault);
	if (v != V_OLD_HOOK) {
		bb_u32(b, bb_str(b, "access"));
		bb_u32(b, T_UINT);
	}
	if (v != V_NO_HOOK)
		bb_type(b, v == V_OLD_HOOK ? "kvm_faultin_pfn" : "kvm_mmu_faultin_pfn",
			BTF_KIND_FUNC, 0, 0, proto);
	enm = bb_type(b, NULL, BTF_KIND_ENUM, 2, 0, 4);
	(void)enm;
	bb_u32(b, bb_str(b, "RET_PF_CONTINUE"));
	bb_u32(b, 0);
	bb_u32(b, bb_str(b, v == V_NO_RETRY ? "RET_PF_RETRY_NOT" : "RET_PF_RETRY"));
	bb_u32(b, 1);
	ptr_kvm = bb_type(b, NULL, BTF_KIND_PTR, 0, 0, T_KVM);
	proto = bb_type(b, NULL, BTF_KIND_FUNC_PROTO, 2, 0, 0);
	bb_u32(b, 0);
	bb_u32(b, ptr_kvm);
	bb_u32(b, 0);
	bb_u32(b, v == V_RECOVER_PROTO ? ptr_kvm : ptr_slot);
	if (v != V_NO_RECOVER)
		bb_type(b, "kvm_mmu_recover_huge_pages", BTF_KIND_FUNC, 0, 0, proto);
	if (v == V_UNKNOWN_KIND)
		bb_type(b, "future", 31, 0, 0, 0);
}

/* ---- parsing ------------------------------------------------------------------ */

static u32 *offs_alloc(u32 nr)
{
	return malloc(sizeof(u32) * nr);
}

/* Parse base then split, as module/layout.c does; 0 or -errno, why filled. */
static int parse(const void *bdata, size_t blen, const void *kdata, size_t klen,
		 struct kvmuf_btf_layout *l, char *why)
{
	struct kvmuf_btf base = { 0 }, kvm = { 0 };
	int ret;

	ret = kvmuf_btf_load(&base, bdata, blen, NULL, offs_alloc, why);
	if (!ret)
		ret = kvmuf_btf_load(&kvm, kdata, klen, &base, offs_alloc, why);
	if (!ret)
		ret = kvmuf_btf_find_layout(&kvm, l, why);
	free(base.offs);
	free(kvm.offs);
	return ret;
}

static unsigned char base_blob[8192], kvm_blob[8192];
static size_t base_len, kvm_len;

static int parse_variant(enum variant v, struct kvmuf_btf_layout *l, char *why)
{
	struct bb base, kvm;

	bb_base(&base);
	bb_kvm(&kvm, &base, v);
	base_len = bb_blob(&base, base_blob, sizeof(base_blob));
	kvm_len = bb_blob(&kvm, kvm_blob, sizeof(kvm_blob));
	return parse(base_blob, base_len, kvm_blob, kvm_len, l, why);
}

static void test_variants(void)
{
	struct kvmuf_btf_layout l;
	char why[KVMUF_BTF_WHY];
	int v, ret;

	for (v = 0; v < V_NR; v++) {
		why[0] = 0;
		ret = parse_variant(v, &l, why);
		switch (v) {
		case V_OK:
		case V_TWO_COPIES:
		case V_OLD_HOOK:
		case V_NO_RECOVER:
			CHECK(!ret, "%s: refused: %s", variant_names[v], why);
			if (ret)
				break;
			CHECK(l.error_code == 8 && l.error_code_size == 8 && l.prefetch == 16 &&
			      l.max_level == 26 && l.gfn == 32 && l.slot == 40 &&
			      l.ret_pf_retry == 1, "%s: layout %u/%u %u %u %u %u, retry %lld",
			      variant_names[v], l.error_code, l.error_code_size, l.prefetch,
			      l.max_level, l.gfn, l.slot, (long long)l.ret_pf_retry);
			CHECK(l.copies == (v == V_TWO_COPIES ? 2U : 1U), "%s: %u copies",
			      variant_names[v], l.copies);
			CHECK(!strcmp(l.hook_symbol, v == V_OLD_HOOK ? "kvm_faultin_pfn" :
				      "kvm_mmu_faultin_pfn") && l.hook_args == (v == V_OLD_HOOK ? 2U : 3U),
			      "%s: hook %s/%u", variant_names[v], l.hook_symbol, l.hook_args);
			CHECK(v == V_NO_RECOVER ? !l.recover_symbol :
			      l.recover_symbol && !strcmp(l.recover_symbol, "kvm_mmu_recover_huge_pages"),
			      "%s: recovery %s", variant_names[v], l.recover_symbol ?: "none");
			break;
		default:
			CHECK(ret && why[0], "%s: accepted (%d)", variant_names[v], ret);
		}
		if (getenv("TEST_BTF_VERBOSE"))
			printf("%-28s %d %s\n", variant_names[v], ret, why);
	}
}

static void test_headers(void)
{
	struct kvmuf_btf_layout l;
	char why[KVMUF_BTF_WHY];
	struct btf_header h;
	unsigned char save[sizeof(h)];

	REQUIRE(parse_variant(V_OK, &l, why) == 0, "ok variant: %s", why);
	memcpy(save, kvm_blob, sizeof(h));
	for (size_t field = 0; field < sizeof(h); field++) {
		for (unsigned int val = 0; val < 256; val += 37) {
			memcpy(kvm_blob, save, sizeof(h));
			kvm_blob[field] = (unsigned char)val;
			(void)parse(base_blob, base_len, kvm_blob, kvm_len, &l, why);
		}
	}
	memcpy(kvm_blob, save, sizeof(h));
	/* A longer header (7.x has layout_off/len after str_len) is skipped by hdr_len. */
	{
		unsigned char grown[sizeof(kvm_blob) + 8], gbase[sizeof(base_blob) + 8];
		struct btf_header g;

		memcpy(&g, kvm_blob, sizeof(g));
		g.hdr_len = sizeof(g) + 8;
		memcpy(grown, &g, sizeof(g));
		memset(grown + sizeof(g), 0, 8);
		memcpy(grown + sizeof(g) + 8, kvm_blob + sizeof(g), kvm_len - sizeof(g));
		memcpy(&g, base_blob, sizeof(g));
		g.hdr_len = sizeof(g) + 8;
		memcpy(gbase, &g, sizeof(g));
		memset(gbase + sizeof(g), 0, 8);
		memcpy(gbase + sizeof(g) + 8, base_blob + sizeof(g), base_len - sizeof(g));
		CHECK(parse(gbase, base_len + 8, grown, kvm_len + 8, &l, why) == 0 && l.gfn == 32,
		      "a 32-byte header: %s", why);
	}
	/* Every truncation of either blob is refused, never read past. */
	for (size_t n = 0; n < kvm_len; n++) {
		unsigned char *copy = malloc(n ? n : 1);

		memcpy(copy, kvm_blob, n);
		CHECK(parse(base_blob, base_len, copy, n, &l, why) != 0 || n == kvm_len,
		      "kvm blob cut to %zu bytes accepted", n);
		free(copy);
	}
	for (size_t n = 0; n < base_len; n++) {
		unsigned char *copy = malloc(n ? n : 1);

		memcpy(copy, base_blob, n);
		(void)parse(copy, n, kvm_blob, kvm_len, &l, why);
		free(copy);
	}
}

static uint64_t rng = 0x853c49e6748fea9bull;

static u32 rnd(u32 n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (u32)(rng % n);
}

/* Random byte changes of kvm (one to eight at a time): no crash, no read outside. */
static unsigned long fuzz(const unsigned char *bdata, size_t blen, const unsigned char *kdata,
			  size_t klen, unsigned int rounds)
{
	unsigned char *copy = malloc(klen);
	struct kvmuf_btf_layout l;
	char why[KVMUF_BTF_WHY];
	unsigned long accepted = 0;

	for (unsigned int r = 0; r < rounds; r++) {
		memcpy(copy, kdata, klen);
		for (unsigned int i = 1 + rnd(8); i; i--)
			copy[rnd((u32)klen)] = (unsigned char)rnd(256);
		accepted += parse(bdata, blen, copy, klen, &l, why) == 0;
	}
	free(copy);
	return accepted;
}

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) > 0 && !fseek(f, 0, SEEK_SET)) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

/* The real blobs NAME.vmlinux.btf + NAME.kvm.btf of $KVMUF_BTF_DIR, fuzzed. */
static void test_real_blobs(void)
{
	const char *dir = getenv("KVMUF_BTF_DIR");
	struct dirent *d;
	unsigned int n = 0;
	DIR *dh;

	if (!dir || !(dh = opendir(dir))) {
		printf("  no real BTF (KVMUF_BTF_DIR unset or missing): synthetic blobs only\n");
		return;
	}
	while ((d = readdir(dh))) {
		char kpath[4096], vpath[4096];
		size_t klen = 0, vlen = 0, nl = strlen(d->d_name);
		unsigned char *k, *v;
		struct kvmuf_btf_layout l;
		char why[KVMUF_BTF_WHY];

		if (nl < 9 || strcmp(d->d_name + nl - 8, ".kvm.btf"))
			continue;
		snprintf(kpath, sizeof(kpath), "%s/%s", dir, d->d_name);
		snprintf(vpath, sizeof(vpath), "%s/%.*s.vmlinux.btf", dir, (int)(nl - 8), d->d_name);
		k = slurp(kpath, &klen);
		v = slurp(vpath, &vlen);
		if (k && v) {
			CHECK(parse(v, vlen, k, klen, &l, why) == 0, "%s: %s", d->d_name, why);
			fuzz(v, vlen, k, klen, 300);
			n++;
		}
		free(k);
		free(v);
	}
	closedir(dh);
	printf("  %u real kernels' BTF parsed and fuzzed\n", n);
}

static int print_layout(const char *vpath, const char *kpath)
{
	size_t vlen = 0, klen = 0;
	unsigned char *v = slurp(vpath, &vlen), *k = slurp(kpath, &klen);
	struct kvmuf_btf_layout l;
	char why[KVMUF_BTF_WHY];
	int ret;

	if (!v || !k) {
		fprintf(stderr, "cannot read %s or %s\n", vpath, kpath);
		return 2;
	}
	ret = parse(v, vlen, k, klen, &l, why);
	if (ret) {
		printf("refused: %s\n", why);
		return 1;
	}
	printf("error_code %u/%u prefetch %u max_level %u gfn %u slot %u copies %u hook %s/%u recover %s retry %lld\n",
	       l.error_code, l.error_code_size, l.prefetch, l.max_level, l.gfn, l.slot, l.copies,
	       l.hook_symbol, l.hook_args, l.recover_symbol ?: "none", (long long)l.ret_pf_retry);
	free(v);
	free(k);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3)
		return print_layout(argv[1], argv[2]);
	test_variants();
	test_headers();
	REQUIRE(parse_variant(V_TWO_COPIES, &(struct kvmuf_btf_layout){ 0 },
			      (char[KVMUF_BTF_WHY]){ 0 }) == 0, "two copies");
	printf("  synthetic blobs fuzzed: %lu of 20000 mutants still gave a layout\n",
	       fuzz(base_blob, base_len, kvm_blob, kvm_len, 20000));
	test_real_blobs();
	return check_summary("test_btf");
}
