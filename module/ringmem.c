// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-userfault: the ring memory of an attached VM. The module writes it (the
 * producers), userspace maps it (the consumers). Its pages are charged to the memory
 * cgroup of the task that attaches (KVMUF_GFP_USER), allocated one at a time so that
 * a killed caller stops at once and a failure is a plain -ENOMEM (no allocation splat),
 * mapped contiguously for the module with vmap() and into userspace with
 * vm_insert_pages().
 */
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "kvmuf.h"

void kvmuf_ring_mem_free(struct kvmuf_ring_mem *m)
{
	unsigned long i;

	if (m->addr)
		vunmap(m->addr);
	for (i = 0; m->pages && i < m->nr_pages; i++)
		if (m->pages[i])
			__free_page(m->pages[i]);
	kvfree(m->pages);
	memset(m, 0, sizeof(*m));
}

int kvmuf_ring_mem_alloc(struct kvmuf_ring_mem *m, size_t bytes)
{
	unsigned long i, nr = DIV_ROUND_UP(bytes, PAGE_SIZE);

	memset(m, 0, sizeof(*m));
	m->pages = kvcalloc(nr, sizeof(*m->pages), KVMUF_GFP_USER);
	if (!m->pages)
		return -ENOMEM;
	m->nr_pages = nr;
	for (i = 0; i < nr; i++) {
		/* Zeroed: head and tail of every ring start at 0. */
		m->pages[i] = alloc_page(KVMUF_GFP_USER | __GFP_ZERO);
		if (!m->pages[i])
			goto fail_nomem;
		if (fatal_signal_pending(current)) {
			kvmuf_ring_mem_free(m);
			return -EINTR;
		}
		cond_resched();
	}
	m->addr = vmap(m->pages, nr, VM_MAP, PAGE_KERNEL);
	if (!m->addr)
		goto fail_nomem;
	return 0;
fail_nomem:
	kvmuf_ring_mem_free(m);
	return -ENOMEM;
}

/* Map [pgoff, pgoff + vma's pages) of the ring memory at vma; the caller checked the size. */
int kvmuf_ring_mem_mmap(struct kvmuf_ring_mem *m, struct vm_area_struct *vma)
{
	unsigned long num = vma_pages(vma);
	int ret;

	kvmuf_vma_set_flags(vma, VM_DONTEXPAND | VM_DONTDUMP);
	ret = vm_insert_pages(vma, vma->vm_start, m->pages + vma->vm_pgoff, &num);
	return ret ? ret : num ? -EFAULT : 0;
}
