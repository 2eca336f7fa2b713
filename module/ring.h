/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The producer side of a kvm-userfault ring (layout and ordering rules are documented in
 * include/uapi/kvmuf/kvm_userfault.h). Header-only so the host unit tests compile the
 * very same code against a userspace consumer (tests/unit/kshim.h supplies the barriers).
 *
 * The header and entries live in memory userspace maps read/write: the kernel never
 * reads back its own tail from there, and the head userspace writes is only compared,
 * never used to index, so any value it holds is harmless.
 */
#ifndef KVMUF_RING_H
#define KVMUF_RING_H

struct kvmuf_kring {
	struct kvmuf_ring_header *hdr;	/* shared with userspace */
	struct kvmuf_fault *entries;	/* shared with userspace */
	u32 tail;			/* the kernel's own producer index */
	u32 mask;			/* entries - 1 */
};

/* mem must be zeroed: head and tail start at 0. */
static inline void kvmuf_kring_init(struct kvmuf_kring *r, void *mem, u32 entries, u32 vcpu)
{
	r->hdr = mem;
	r->entries = (struct kvmuf_fault *)((char *)mem + KVMUF_RING_HEADER_SIZE);
	r->tail = 0;
	r->mask = entries - 1;
	r->hdr->entries = entries;
	r->hdr->vcpu = vcpu;
}

/*
 * Full when the consumer has not given back enough slots. The acquire pairs with the
 * consumer's store-release of head: its reads of the slots it returned are done before
 * we overwrite them. A head that claims more than `entries` in use (a buggy consumer)
 * also reads as full: the producer waits rather than overwrite unread entries.
 */
static inline bool kvmuf_kring_full(const struct kvmuf_kring *r)
{
	/* Pairs with the consumer's store-release of head. */
	u32 head = smp_load_acquire(&r->hdr->head);

	return r->tail - head > r->mask;
}

static inline bool kvmuf_kring_empty(const struct kvmuf_kring *r)
{
	return READ_ONCE(r->hdr->head) == r->tail;
}

/* Returns false, writing nothing, when the ring is full. */
static inline bool kvmuf_kring_push(struct kvmuf_kring *r, const struct kvmuf_fault *f)
{
	if (kvmuf_kring_full(r))
		return false;
	r->entries[r->tail & r->mask] = *f;
	r->tail++;
	/* The entry is visible before the consumer can see the new tail. */
	smp_store_release(&r->hdr->tail, r->tail);
	return true;
}

#endif /* KVMUF_RING_H */
