// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ring consumer: pure code on memory laid out as one ring, no device needed.
 *
 * The kernel produces (module/ring.h): it writes an entry, then store-releases tail.
 * We load-acquire tail (the entries before it are then visible), copy them out and
 * store-release head (our reads are done before the kernel can see the slots free).
 * head lives in the shared header so that a new consumer (another process the fd was
 * passed to) continues where the last one stopped; only the consumer writes it.
 */
#include <errno.h>

#include "kvmuf.h"

static int ring_size_ok(uint32_t entries)
{
	return entries && entries <= KVMUF_MAX_RING_ENTRIES && !(entries & (entries - 1));
}

KVMUF_PUBLIC int kvmuf_ring_view_setup(struct kvmuf_ring_view *v, void *ring_mem,
				       uint32_t entries)
{
	v->hdr = ring_mem;
	v->entries = NULL;
	v->mask = 0;
	if (!ring_mem || !ring_size_ok(entries))
		return -EINVAL;
	v->entries = (struct kvmuf_fault *)((char *)ring_mem + KVMUF_RING_HEADER_SIZE);
	v->mask = entries - 1;
	return 0;
}

KVMUF_PUBLIC void kvmuf_ring_view_init(struct kvmuf_ring_view *v, void *ring_mem)
{
	uint32_t entries = 0;

	if (ring_mem)
		entries = __atomic_load_n(&((struct kvmuf_ring_header *)ring_mem)->entries,
					  __ATOMIC_RELAXED);
	kvmuf_ring_view_setup(v, ring_mem, entries);
}

/* tail - head, clamped to the ring size; *head_out gets head. */
static uint32_t ring_ready(const struct kvmuf_ring_view *v, uint32_t *head_out)
{
	/* Only this (single) consumer writes head: a relaxed load reads our own value. */
	uint32_t head = __atomic_load_n(&v->hdr->head, __ATOMIC_RELAXED);
	uint32_t tail = __atomic_load_n(&v->hdr->tail, __ATOMIC_ACQUIRE);
	uint32_t ready = tail - head;	/* free-running u32 indexes: wraps correctly */

	if (ready > v->mask + 1)	/* the kernel never does this: do not trust it */
		ready = v->mask + 1;
	*head_out = head;
	return ready;
}

KVMUF_PUBLIC uint32_t kvmuf_ring_view_pending(const struct kvmuf_ring_view *v)
{
	uint32_t head;

	if (!v || !v->hdr || !v->entries)
		return 0;
	return ring_ready(v, &head);
}

KVMUF_PUBLIC size_t kvmuf_ring_view_consume(struct kvmuf_ring_view *v,
					    struct kvmuf_fault *out, size_t max)
{
	uint32_t head, ready, i;

	if (!v || !v->hdr || !v->entries || !out || !max)
		return 0;
	ready = ring_ready(v, &head);
	if (ready > max)
		ready = (uint32_t)max;
	if (!ready)
		return 0;
	for (i = 0; i < ready; i++)
		out[i] = v->entries[(head + i) & v->mask];
	/* Our reads of the slots happen before the kernel may reuse them. */
	__atomic_store_n(&v->hdr->head, head + ready, __ATOMIC_RELEASE);
	return ready;
}
