/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough of a BTF reader to learn, from the running kernel's own type information
 * (/sys/kernel/btf/vmlinux and the split BTF of kvm.ko, /sys/kernel/btf/kvm), what the
 * module needs of KVM's private types: the layout of struct kvm_page_fault, the stage-2
 * fault-in function and its prototype, the in-place huge-page recovery function if there
 * is one, and the value of RET_PF_RETRY. No kernel exports a lookup of module BTF by name,
 * so we read the blobs ourselves (module/layout.c) and parse them here.
 *
 * Everything is checked, nothing trusted: the blobs come from the kernel, but a parser
 * that reads past a buffer on a malformed blob is not one we ship. Every offset and
 * count is bounds-checked; an unknown type kind, a member that is a bitfield, a type that
 * is not the one expected (a u64 GFN, a bool, a u8 level, a pointer to struct
 * kvm_memory_slot, ...), or two definitions of struct kvm_page_fault that disagree (7.2
 * backports and 7.3 carry two identical copies) make the lookup fail with a reason.
 *
 * Header-only so the host unit tests run this very code over the real BTF of every
 * kernel line and fuzz it (tests/unit/test_btf.c, via kshim.h). The includer provides
 * the uapi BTF definitions (BTF_KIND_*, struct btf_member, ...), ARRAY_SIZE, snprintf
 * and strcmp.
 */
#ifndef KVMUF_BTFPARSE_H
#define KVMUF_BTFPARSE_H

/* One blob: vmlinux (base == NULL) or a module's split BTF on top of base. */
struct kvmuf_btf {
	const struct kvmuf_btf *base;
	const unsigned char *types;	/* the type section */
	u32 types_len;
	const char *strs;		/* the string section */
	u32 strs_len;
	u32 first_id;			/* id of this blob's first type */
	u32 first_str;			/* string offset of this blob's first string */
	u32 nr_types;
	u32 *offs;			/* offs[i]: offset of type first_id + i in types */
};

/* What the module needs, as found. */
struct kvmuf_btf_layout {
	u32 error_code, error_code_size;	/* offsetof, sizeof in struct kvm_page_fault */
	u32 prefetch, max_level, gfn, slot;	/* offsetof */
	u32 copies;				/* identical definitions found */
	const char *hook_symbol;		/* a string of this header's */
	u32 hook_args;				/* 2: (vcpu, fault), 3: (vcpu, fault, access) */
	const char *recover_symbol;		/* NULL: none */
	s64 ret_pf_retry;
};

#define KVMUF_BTF_WHY	160

/*
 * The part of struct btf_header every BTF has. The header has grown since (7.x adds a
 * layout section after str_len): hdr_len says how long this blob's is, and sizeof(struct
 * btf_header) depends on the uapi header we were built with, so never compare the two.
 */
struct kvmuf_btf_header {
	u16 magic;
	u8 version;
	u8 flags;
	u32 hdr_len;
	u32 type_off, type_len;		/* relative to the end of the header */
	u32 str_off, str_len;
};

static inline u32 kvmuf_btf_get32(const unsigned char *p)
{
	u32 v;

	memcpy(&v, p, sizeof(v));	/* BTF is native-endian; records are 4-aligned anyway */
	return v;
}

/* Bytes of the kind-specific data after a struct btf_type; -1 for an unknown kind. */
static inline long kvmuf_btf_extra(u32 info)
{
	u32 vlen = BTF_INFO_VLEN(info);

	switch (BTF_INFO_KIND(info)) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return (long)vlen * sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (long)vlen * sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (long)vlen * sizeof(struct btf_var_secinfo);
	case BTF_KIND_ENUM64:
		return (long)vlen * sizeof(struct btf_enum64);
	}
	return -1;
}

/*
 * Check the header and the sections of a blob of len bytes, and count its types (with
 * offs == NULL), or also index them into offs[b->nr_types]. 0, or -EINVAL with why.
 */
static inline int kvmuf_btf_open(struct kvmuf_btf *b, const void *data, size_t len,
				 const struct kvmuf_btf *base, u32 *offs, char *why)
{
	struct kvmuf_btf_header h;
	u32 off = 0, n = 0;

	if (len < sizeof(h)) {
		snprintf(why, KVMUF_BTF_WHY, "BTF of %zu bytes: no header", len);
		return -EINVAL;
	}
	memcpy(&h, data, sizeof(h));
	if (h.magic != BTF_MAGIC || h.version != BTF_VERSION || h.hdr_len < sizeof(h) ||
	    h.hdr_len > len || (h.hdr_len + h.type_off) % 4 || h.type_off > len - h.hdr_len ||
	    h.type_len > len - h.hdr_len - h.type_off || h.str_off > len - h.hdr_len ||
	    h.str_len > len - h.hdr_len - h.str_off || !h.str_len) {
		snprintf(why, KVMUF_BTF_WHY,
			 "BTF header not valid (%zu bytes: magic %#x version %u hdr %u types %u+%u strings %u+%u)",
			 len, h.magic, h.version, h.hdr_len, h.type_off, h.type_len, h.str_off,
			 h.str_len);
		return -EINVAL;
	}
	b->base = base;
	b->types = (const unsigned char *)data + h.hdr_len + h.type_off;
	b->types_len = h.type_len;
	b->strs = (const char *)data + h.hdr_len + h.str_off;
	b->strs_len = h.str_len;
	if (b->strs[b->strs_len - 1]) {
		snprintf(why, KVMUF_BTF_WHY, "BTF strings not terminated");
		return -EINVAL;
	}
	b->first_id = base ? base->first_id + base->nr_types : 1;
	b->first_str = base ? base->first_str + base->strs_len : 0;
	while (off < b->types_len) {
		long extra;
		u32 info;

		if (b->types_len - off < sizeof(struct btf_type)) {
			snprintf(why, KVMUF_BTF_WHY, "BTF type %u truncated", b->first_id + n);
			return -EINVAL;
		}
		info = kvmuf_btf_get32(b->types + off + 4);
		extra = kvmuf_btf_extra(info);
		if (extra < 0) {
			snprintf(why, KVMUF_BTF_WHY, "BTF type %u of unknown kind %u",
				 b->first_id + n, BTF_INFO_KIND(info));
			return -EINVAL;
		}
		if ((u64)extra > b->types_len - off - sizeof(struct btf_type)) {
			snprintf(why, KVMUF_BTF_WHY, "BTF type %u truncated", b->first_id + n);
			return -EINVAL;
		}
		if (offs)
			offs[n] = off;
		off += sizeof(struct btf_type) + (u32)extra;
		if (++n > 0x7fffffffU - b->first_id) {
			snprintf(why, KVMUF_BTF_WHY, "too many BTF types");
			return -EINVAL;
		}
	}
	b->nr_types = n;
	b->offs = offs;
	return 0;
}

/*
 * kvmuf_btf_open() twice: count the types, take room for their offsets from alloc (NULL
 * on failure), index them. 0, or -errno with why. b->offs is alloc's whatever the
 * outcome (NULL if it failed or was not reached): the caller frees it.
 */
static inline int kvmuf_btf_load(struct kvmuf_btf *b, const void *data, size_t len,
				 const struct kvmuf_btf *base, u32 *(*alloc)(u32 nr), char *why)
{
	u32 *offs;
	int ret;

	b->offs = NULL;
	ret = kvmuf_btf_open(b, data, len, base, NULL, why);
	if (ret)
		return ret;
	offs = alloc(b->nr_types ? b->nr_types : 1);
	if (!offs) {
		snprintf(why, KVMUF_BTF_WHY, "no memory for %u BTF types", b->nr_types);
		return -ENOMEM;
	}
	ret = kvmuf_btf_open(b, data, len, base, offs, why);
	b->offs = offs;
	return ret;
}

/* The type of id (in b or its base), or NULL (void, or out of range). */
static inline const struct btf_type *kvmuf_btf_type(const struct kvmuf_btf *b, u32 id)
{
	while (b && id < b->first_id)
		b = b->base;
	if (!b || !id || id - b->first_id >= b->nr_types)
		return NULL;
	return (const struct btf_type *)(b->types + b->offs[id - b->first_id]);
}

/* The string at offset off (of b or its base), or "" if out of range. */
static inline const char *kvmuf_btf_str(const struct kvmuf_btf *b, u32 off)
{
	while (b && off < b->first_str)
		b = b->base;
	if (!b || off - b->first_str >= b->strs_len)
		return "";
	return b->strs + (off - b->first_str);
}

static inline const char *kvmuf_btf_name(const struct kvmuf_btf *b, const struct btf_type *t)
{
	return kvmuf_btf_str(b, t->name_off);
}

/* Skip typedefs and qualifiers (a bounded chain: BTF could hold a loop). */
static inline const struct btf_type *kvmuf_btf_skip(const struct kvmuf_btf *b, u32 id)
{
	const struct btf_type *t = kvmuf_btf_type(b, id);
	unsigned int hops;

	for (hops = 0; t && hops < 32; hops++) {
		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_TYPEDEF:
		case BTF_KIND_VOLATILE:
		case BTF_KIND_CONST:
		case BTF_KIND_RESTRICT:
		case BTF_KIND_TYPE_TAG:
			t = kvmuf_btf_type(b, t->type);
			continue;
		}
		return t;
	}
	return NULL;
}

/* An integer of size bytes (bool: a 1-byte BTF_INT_BOOL). */
static inline bool kvmuf_btf_is_int(const struct kvmuf_btf *b, u32 id, u32 size, bool is_bool)
{
	const struct btf_type *t = kvmuf_btf_skip(b, id);
	u32 enc;

	if (!t || BTF_INFO_KIND(t->info) != BTF_KIND_INT || t->size != size)
		return false;
	enc = BTF_INT_ENCODING(kvmuf_btf_get32((const unsigned char *)(t + 1)));
	return is_bool ? !!(enc & BTF_INT_BOOL) : !(enc & BTF_INT_BOOL);
}

/* A pointer to struct name (possibly const). */
static inline bool kvmuf_btf_is_ptr_to(const struct kvmuf_btf *b, u32 id, const char *name)
{
	const struct btf_type *t = kvmuf_btf_skip(b, id);

	if (!t || BTF_INFO_KIND(t->info) != BTF_KIND_PTR)
		return false;
	t = kvmuf_btf_skip(b, t->type);
	return t && (BTF_INFO_KIND(t->info) == BTF_KIND_STRUCT ||
		     BTF_INFO_KIND(t->info) == BTF_KIND_FWD) &&
	       !strcmp(kvmuf_btf_name(b, t), name);
}

/* The next type of kind in b itself (not its base) named name, after id (0: from the start). */
static inline u32 kvmuf_btf_next(const struct kvmuf_btf *b, u32 kind, const char *name, u32 id)
{
	u32 i = id < b->first_id ? 0 : id - b->first_id + 1;

	for (; i < b->nr_types; i++) {
		const struct btf_type *t = kvmuf_btf_type(b, b->first_id + i);

		if (BTF_INFO_KIND(t->info) == kind && !strcmp(kvmuf_btf_name(b, t), name))
			return b->first_id + i;
	}
	return 0;
}

/*
 * Member name of struct kvm_page_fault t: its byte offset and type id. 0, or -ENOENT /
 * -EINVAL (a bitfield, or outside the struct) with why.
 */
static inline int kvmuf_btf_member(const struct kvmuf_btf *b, const struct btf_type *t,
				   const char *name, u32 *off, u32 *type, char *why)
{
	const struct btf_member *m = (const struct btf_member *)(t + 1);
	u32 i;

	for (i = 0; i < BTF_INFO_VLEN(t->info); i++, m++) {
		u32 bits = m->offset;

		if (strcmp(kvmuf_btf_str(b, m->name_off), name))
			continue;
		if (BTF_INFO_KFLAG(t->info)) {
			if (BTF_MEMBER_BITFIELD_SIZE(bits)) {
				snprintf(why, KVMUF_BTF_WHY, "kvm_page_fault.%s is a bitfield",
					 name);
				return -EINVAL;
			}
			bits = BTF_MEMBER_BIT_OFFSET(bits);
		}
		if (bits % 8 || bits / 8 >= t->size) {
			snprintf(why, KVMUF_BTF_WHY, "kvm_page_fault.%s at bit %u", name, bits);
			return -EINVAL;
		}
		*off = bits / 8;
		*type = m->type;
		return 0;
	}
	snprintf(why, KVMUF_BTF_WHY, "struct kvm_page_fault has no member %s", name);
	return -ENOENT;
}

/* The type a member of struct kvm_page_fault must have. */
enum kvmuf_btf_want { KVMUF_WANT_U32_OR_U64, KVMUF_WANT_BOOL, KVMUF_WANT_U8, KVMUF_WANT_U64,
		      KVMUF_WANT_SLOT_PTR };

static inline bool kvmuf_btf_has_type(const struct kvmuf_btf *b, u32 type,
				      enum kvmuf_btf_want want, u32 *size)
{
	switch (want) {
	case KVMUF_WANT_U32_OR_U64:
		*size = kvmuf_btf_is_int(b, type, 4, false) ? 4 :
			kvmuf_btf_is_int(b, type, 8, false) ? 8 : 0;
		return *size;
	case KVMUF_WANT_BOOL:
		*size = 1;
		return kvmuf_btf_is_int(b, type, 1, true);
	case KVMUF_WANT_U8:
		*size = 1;
		return kvmuf_btf_is_int(b, type, 1, false);
	case KVMUF_WANT_U64:
		*size = 8;
		return kvmuf_btf_is_int(b, type, 8, false);
	case KVMUF_WANT_SLOT_PTR:
		*size = sizeof(void *);
		return kvmuf_btf_is_ptr_to(b, type, "kvm_memory_slot");
	}
	return false;
}

/* The layout of one definition of struct kvm_page_fault. 0 or -errno with why. */
static inline int kvmuf_btf_fault_layout(const struct kvmuf_btf *b, const struct btf_type *t,
					 struct kvmuf_btf_layout *l, char *why)
{
	const struct {
		const char *name;
		enum kvmuf_btf_want want;
		const char *what;
		u32 *off;
	} members[] = {
		{ "error_code", KVMUF_WANT_U32_OR_U64, "a u32 or u64", &l->error_code },
		{ "prefetch", KVMUF_WANT_BOOL, "a bool", &l->prefetch },
		{ "max_level", KVMUF_WANT_U8, "a u8", &l->max_level },
		{ "gfn", KVMUF_WANT_U64, "a u64", &l->gfn },
		{ "slot", KVMUF_WANT_SLOT_PTR, "a struct kvm_memory_slot *", &l->slot },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(members); i++) {
		u32 type, size;
		int ret;

		ret = kvmuf_btf_member(b, t, members[i].name, members[i].off, &type, why);
		if (ret)
			return ret;
		if (!kvmuf_btf_has_type(b, type, members[i].want, &size)) {
			snprintf(why, KVMUF_BTF_WHY, "kvm_page_fault.%s is not %s",
				 members[i].name, members[i].what);
			return -EINVAL;
		}
		if (size > t->size || *members[i].off > t->size - size) {
			snprintf(why, KVMUF_BTF_WHY, "kvm_page_fault.%s ends past the struct",
				 members[i].name);
			return -EINVAL;
		}
		if (members[i].want == KVMUF_WANT_U32_OR_U64)
			l->error_code_size = size;
	}
	return 0;
}

/* Is FUNC id a function of the prototype ret (args...)? nargs counts those given. */
static inline const struct btf_param *kvmuf_btf_proto(const struct kvmuf_btf *b, u32 func,
						      u32 *nargs, u32 *ret_type)
{
	const struct btf_type *f = kvmuf_btf_type(b, func), *p;

	p = f ? kvmuf_btf_type(b, f->type) : NULL;
	if (!p || BTF_INFO_KIND(p->info) != BTF_KIND_FUNC_PROTO)
		return NULL;
	*nargs = BTF_INFO_VLEN(p->info);
	*ret_type = p->type;
	return (const struct btf_param *)(p + 1);
}

/* The fault-in hook: the first known name whose prototype matches. 0 or -errno. */
static inline int kvmuf_btf_find_hook(const struct kvmuf_btf *kvm, struct kvmuf_btf_layout *l,
				      char *why)
{
	static const char *const names[] = { "kvm_mmu_faultin_pfn", "kvm_faultin_pfn" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		u32 id = kvmuf_btf_next(kvm, BTF_KIND_FUNC, names[i], 0), n, ret;
		const struct btf_param *a;

		if (!id)
			continue;
		a = kvmuf_btf_proto(kvm, id, &n, &ret);
		if (!a || (n != 2 && n != 3) || !kvmuf_btf_is_int(kvm, ret, 4, false) ||
		    !kvmuf_btf_is_ptr_to(kvm, a[0].type, "kvm_vcpu") ||
		    !kvmuf_btf_is_ptr_to(kvm, a[1].type, "kvm_page_fault") ||
		    (n == 3 && !kvmuf_btf_is_int(kvm, a[2].type, 4, false))) {
			snprintf(why, KVMUF_BTF_WHY, "%s has an unexpected prototype", names[i]);
			return -EINVAL;
		}
		l->hook_symbol = names[i];
		l->hook_args = n;
		return 0;
	}
	snprintf(why, KVMUF_BTF_WHY, "no %s or %s in kvm's BTF", names[0], names[1]);
	return -ENOENT;
}

/* kvm_mmu_recover_huge_pages(kvm, slot), if this kvm.ko has it. 0 or -EINVAL. */
static inline int kvmuf_btf_find_recover(const struct kvmuf_btf *kvm,
					 struct kvmuf_btf_layout *l, char *why)
{
	static const char name[] = "kvm_mmu_recover_huge_pages";
	u32 id = kvmuf_btf_next(kvm, BTF_KIND_FUNC, name, 0), n, ret;
	const struct btf_param *a;

	l->recover_symbol = NULL;
	if (!id)
		return 0;
	a = kvmuf_btf_proto(kvm, id, &n, &ret);
	if (!a || n != 2 || ret || !kvmuf_btf_is_ptr_to(kvm, a[0].type, "kvm") ||
	    !kvmuf_btf_is_ptr_to(kvm, a[1].type, "kvm_memory_slot")) {
		snprintf(why, KVMUF_BTF_WHY, "%s has an unexpected prototype", name);
		return -EINVAL;
	}
	l->recover_symbol = name;
	return 0;
}

/* The value of the enumerator RET_PF_RETRY (in any enum of kvm's BTF). 0 or -ENOENT. */
static inline int kvmuf_btf_find_retry(const struct kvmuf_btf *kvm, struct kvmuf_btf_layout *l,
				       char *why)
{
	u32 i, j;

	for (i = 0; i < kvm->nr_types; i++) {
		const struct btf_type *t = kvmuf_btf_type(kvm, kvm->first_id + i);
		const struct btf_enum *e = (const struct btf_enum *)(t + 1);

		if (BTF_INFO_KIND(t->info) != BTF_KIND_ENUM)
			continue;
		for (j = 0; j < BTF_INFO_VLEN(t->info); j++, e++) {
			if (strcmp(kvmuf_btf_str(kvm, e->name_off), "RET_PF_RETRY"))
				continue;
			l->ret_pf_retry = e->val;
			return 0;
		}
	}
	snprintf(why, KVMUF_BTF_WHY, "no RET_PF_RETRY in kvm's BTF");
	return -ENOENT;
}

/*
 * Everything, from kvm's split BTF (its base indexed too). Every definition of struct
 * kvm_page_fault must give the same layout. 0, or -errno with why.
 */
static inline int kvmuf_btf_find_layout(const struct kvmuf_btf *kvm, struct kvmuf_btf_layout *l,
					char *why)
{
	u32 id = 0;
	int ret;

	memset(l, 0, sizeof(*l));
	while ((id = kvmuf_btf_next(kvm, BTF_KIND_STRUCT, "kvm_page_fault", id))) {
		struct kvmuf_btf_layout one = { 0 };

		ret = kvmuf_btf_fault_layout(kvm, kvmuf_btf_type(kvm, id), &one, why);
		if (ret)
			return ret;
		if (l->copies && (one.error_code != l->error_code ||
				  one.error_code_size != l->error_code_size ||
				  one.prefetch != l->prefetch || one.max_level != l->max_level ||
				  one.gfn != l->gfn || one.slot != l->slot)) {
			snprintf(why, KVMUF_BTF_WHY,
				 "two definitions of struct kvm_page_fault disagree");
			return -EINVAL;
		}
		one.copies = l->copies + 1;
		*l = one;
	}
	if (!l->copies) {
		snprintf(why, KVMUF_BTF_WHY, "no struct kvm_page_fault in kvm's BTF");
		return -ENOENT;
	}
	ret = kvmuf_btf_find_hook(kvm, l, why);
	if (!ret)
		ret = kvmuf_btf_find_recover(kvm, l, why);
	if (!ret)
		ret = kvmuf_btf_find_retry(kvm, l, why);
	return ret;
}

#endif /* KVMUF_BTFPARSE_H */
