// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libkvmuf: the device handle, its ioctls and the ring mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvmuf.h"

struct kvmuf {
	int fd;
	void *map;			/* all rings, NULL until mapped */
	size_t map_size;
	uint64_t ring_stride;
	uint32_t nr_rings;		/* 0 until mapped */
	uint32_t ring_entries;
	struct kvmuf_ring_view *views;	/* nr_rings of them */
};

static struct kvmuf *kvmuf_alloc(int fd)
{
	struct kvmuf *k = calloc(1, sizeof(*k));

	if (k)
		k->fd = fd;
	return k;
}

KVMUF_PUBLIC int kvmuf_open_path(const char *path, struct kvmuf **out)
{
	struct kvmuf *k;
	int fd;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!path)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	k = kvmuf_alloc(fd);
	if (!k) {
		close(fd);
		return -ENOMEM;
	}
	*out = k;
	return 0;
}

KVMUF_PUBLIC int kvmuf_open(struct kvmuf **out)
{
	return kvmuf_open_path(KVMUF_DEVICE_PATH, out);
}

KVMUF_PUBLIC int kvmuf_from_fd(int fd, struct kvmuf **out)
{
	struct kvmuf *k;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (fd < 0)
		return -EBADF;
	k = kvmuf_alloc(fd);
	if (!k)
		return -ENOMEM;
	ret = kvmuf_map(k);
	if (ret) {
		k->fd = -1;	/* the caller keeps the fd on failure */
		kvmuf_close(k);
		return ret;
	}
	*out = k;
	return 0;
}

static void kvmuf_unmap(struct kvmuf *k)
{
	if (k->map)
		munmap(k->map, k->map_size);
	free(k->views);
	k->map = NULL;
	k->views = NULL;
	k->map_size = 0;
	k->nr_rings = 0;
	k->ring_entries = 0;
	k->ring_stride = 0;
}

KVMUF_PUBLIC void kvmuf_close(struct kvmuf *k)
{
	if (!k)
		return;
	kvmuf_unmap(k);
	if (k->fd >= 0)
		close(k->fd);
	free(k);
}

KVMUF_PUBLIC int kvmuf_fd(const struct kvmuf *k)
{
	return k ? k->fd : -EINVAL;
}

/* ioctl returning 0 / -errno (or the ioctl's non-negative value). */
static int kvmuf_ioctl(const struct kvmuf *k, unsigned long req, void *arg)
{
	int ret;

	if (!k || k->fd < 0)
		return -EINVAL;
	ret = ioctl(k->fd, req, arg);
	return ret < 0 ? -errno : ret;
}

#define KVMUF_STR2(x)	#x
#define KVMUF_STR(x)	KVMUF_STR2(x)

KVMUF_PUBLIC const char *kvmuf_library_version(void)
{
	return KVMUF_STR(KVMUF_LIB_VERSION_MAJOR) "." KVMUF_STR(KVMUF_LIB_VERSION_MINOR) "."
	       KVMUF_STR(KVMUF_LIB_VERSION_PATCH);
}

KVMUF_PUBLIC int kvmuf_api_version(struct kvmuf *k)
{
	return kvmuf_ioctl(k, KVMUF_GET_API_VERSION, NULL);
}

KVMUF_PUBLIC int kvmuf_info(struct kvmuf *k, struct kvmuf_info *info)
{
	int ret;

	if (!info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	ret = kvmuf_ioctl(k, KVMUF_GET_INFO, info);
	return ret < 0 ? ret : 0;
}

KVMUF_PUBLIC int kvmuf_stats(struct kvmuf *k, struct kvmuf_stats *st)
{
	int ret;

	if (!st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	ret = kvmuf_ioctl(k, KVMUF_GET_STATS, st);
	return ret < 0 ? ret : 0;
}

static int is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* The module's word on the geometry is checked before we index memory with it. */
static int kvmuf_check_info(const struct kvmuf_info *info)
{
	uint64_t size;

	if (info->api_version != KVMUF_API_VERSION)
		return -EPROTO;
	if (info->nr_rings < 1 || info->nr_rings > KVMUF_MAX_VCPU_RINGS + 1)
		return -EPROTO;
	if (!is_pow2(info->ring_entries) || info->ring_entries < KVMUF_MIN_RING_ENTRIES ||
	    info->ring_entries > KVMUF_MAX_RING_ENTRIES)
		return -EPROTO;
	if (info->ring_stride < KVMUF_RING_STRIDE(info->ring_entries) ||
	    info->ring_stride % 4096)
		return -EPROTO;
	if (__builtin_mul_overflow(info->ring_stride, (uint64_t)info->nr_rings, &size) ||
	    size != info->mmap_size || size > SIZE_MAX)
		return -EPROTO;
	return 0;
}

KVMUF_PUBLIC int kvmuf_map(struct kvmuf *k)
{
	struct kvmuf_ring_view *views;
	struct kvmuf_info info;
	uint32_t i;
	void *map;
	int ret;

	if (!k)
		return -EINVAL;
	if (k->map)
		return 0;
	ret = kvmuf_info(k, &info);
	if (ret)
		return ret;
	ret = kvmuf_check_info(&info);
	if (ret)
		return ret;
	views = calloc(info.nr_rings, sizeof(*views));
	if (!views)
		return -ENOMEM;
	map = mmap(NULL, (size_t)info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		free(views);
		return ret;
	}
	/* The ring size comes from the ioctl, not from the writable shared header. */
	for (i = 0; i < info.nr_rings; i++)
		kvmuf_ring_view_setup(&views[i], (char *)map + i * info.ring_stride,
				      info.ring_entries);
	k->map = map;
	k->map_size = (size_t)info.mmap_size;
	k->ring_stride = info.ring_stride;
	k->ring_entries = info.ring_entries;
	k->views = views;
	k->nr_rings = info.nr_rings;
	return 0;
}

KVMUF_PUBLIC int kvmuf_attach(struct kvmuf *k, int vm_fd, uint32_t flags,
			      uint32_t nr_vcpu_rings, uint32_t ring_entries)
{
	return kvmuf_attach_takeover(k, vm_fd, flags, nr_vcpu_rings, ring_entries, 0);
}

KVMUF_PUBLIC int kvmuf_attach_takeover(struct kvmuf *k, int vm_fd, uint32_t flags,
				       uint32_t nr_vcpu_rings, uint32_t ring_entries,
				       uint32_t takeover_ms)
{
	struct kvmuf_attach a;
	int ret;

	if (!k)
		return -EINVAL;
	if (k->map)
		return -EBUSY;
	memset(&a, 0, sizeof(a));
	a.vm_fd = vm_fd;
	a.flags = flags | (takeover_ms ? KVMUF_ATTACH_TAKEOVER : 0);
	a.nr_vcpu_rings = nr_vcpu_rings;
	a.ring_entries = ring_entries;
	a.takeover_ms = takeover_ms;
	ret = kvmuf_ioctl(k, KVMUF_ATTACH, &a);
	if (ret < 0)
		return ret;
	return kvmuf_map(k);
}

KVMUF_PUBLIC int kvmuf_add_range(struct kvmuf *k, uint64_t gfn, uint64_t npages, uint32_t flags)
{
	struct kvmuf_range r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.gfn = gfn;
	r.npages = npages;
	r.flags = flags;
	ret = kvmuf_ioctl(k, KVMUF_ADD_RANGE, &r);
	return ret < 0 ? ret : 0;
}

static void kvmuf_counts_add(struct kvmuf_counts *sum, uint64_t changed, uint64_t unchanged,
			     uint64_t busy)
{
	sum->changed += changed;
	sum->unchanged += unchanged;
	sum->busy += busy;
}

static int kvmuf_batch_call(struct kvmuf *k, unsigned long req, const struct kvmuf_gfn_range *r,
			    size_t nr, uint32_t flags, struct kvmuf_counts *out)
{
	struct kvmuf_counts sum = { 0 };
	int ret = 0;

	if (!k)
		ret = -EINVAL;
	else if (nr && !r)
		ret = -EFAULT;
	while (!ret && nr) {
		uint32_t n = nr > KVMUF_MAX_BATCH ? KVMUF_MAX_BATCH : (uint32_t)nr;
		struct kvmuf_batch b;

		memset(&b, 0, sizeof(b));
		b.ranges = (uintptr_t)r;
		b.nr = n;
		b.flags = flags;
		ret = kvmuf_ioctl(k, req, &b);
		/* An interrupted batch reports what it did before the signal. */
		if (ret >= 0 || ret == -EINTR)
			kvmuf_counts_add(&sum, b.changed, b.unchanged, b.busy);
		if (ret < 0)
			break;
		ret = 0;
		r += n;
		nr -= n;
	}
	if (out)
		*out = sum;
	return ret;
}

/* The old two-counter forms: GFNs reported busy are in neither count. */
static int kvmuf_batch_call2(struct kvmuf *k, unsigned long req, const struct kvmuf_gfn_range *r,
			     size_t nr, uint32_t flags, uint64_t *changed, uint64_t *unchanged)
{
	struct kvmuf_counts c;
	int ret = kvmuf_batch_call(k, req, r, nr, flags, &c);

	if (changed)
		*changed = c.changed;
	if (unchanged)
		*unchanged = c.unchanged;
	return ret;
}

KVMUF_PUBLIC int kvmuf_set_missing(struct kvmuf *k, const struct kvmuf_gfn_range *r, size_t nr,
				   uint64_t *changed, uint64_t *unchanged)
{
	return kvmuf_batch_call2(k, KVMUF_SET_MISSING, r, nr, 0, changed, unchanged);
}

KVMUF_PUBLIC int kvmuf_resolve(struct kvmuf *k, const struct kvmuf_gfn_range *r, size_t nr,
			       uint64_t *changed, uint64_t *unchanged)
{
	return kvmuf_batch_call2(k, KVMUF_RESOLVE, r, nr, 0, changed, unchanged);
}

KVMUF_PUBLIC int kvmuf_resolve_flags(struct kvmuf *k, const struct kvmuf_gfn_range *r,
				     size_t nr, uint32_t flags, uint64_t *changed,
				     uint64_t *unchanged)
{
	return kvmuf_batch_call2(k, KVMUF_RESOLVE, r, nr, flags, changed, unchanged);
}

KVMUF_PUBLIC int kvmuf_set_missing_counted(struct kvmuf *k, const struct kvmuf_gfn_range *r,
					   size_t nr, struct kvmuf_counts *out)
{
	return kvmuf_batch_call(k, KVMUF_SET_MISSING, r, nr, 0, out);
}

KVMUF_PUBLIC int kvmuf_resolve_counted(struct kvmuf *k, const struct kvmuf_gfn_range *r,
				       size_t nr, uint32_t flags, struct kvmuf_counts *out)
{
	return kvmuf_batch_call(k, KVMUF_RESOLVE, r, nr, flags, out);
}

KVMUF_PUBLIC int kvmuf_resolve_copy_counted(struct kvmuf *k, const struct kvmuf_copy *c,
					    size_t nr, struct kvmuf_counts *out)
{
	struct kvmuf_counts sum = { 0 };
	int ret = 0;

	if (!k)
		ret = -EINVAL;
	else if (nr && !c)
		ret = -EFAULT;
	while (!ret && nr) {
		uint32_t n = nr > KVMUF_MAX_BATCH ? KVMUF_MAX_BATCH : (uint32_t)nr;
		struct kvmuf_copy_batch b;

		memset(&b, 0, sizeof(b));
		b.copies = (uintptr_t)c;
		b.nr = n;
		ret = kvmuf_ioctl(k, KVMUF_RESOLVE_COPY, &b);
		if (ret >= 0 || ret == -EINTR)
			kvmuf_counts_add(&sum, b.changed, b.unchanged, b.busy);
		if (ret < 0)
			break;
		ret = 0;
		c += n;
		nr -= n;
	}
	if (out)
		*out = sum;
	return ret;
}

KVMUF_PUBLIC int kvmuf_resolve_copy(struct kvmuf *k, const struct kvmuf_copy *c, size_t nr,
				    uint64_t *changed, uint64_t *unchanged)
{
	struct kvmuf_counts cnt;
	int ret = kvmuf_resolve_copy_counted(k, c, nr, &cnt);

	if (changed)
		*changed = cnt.changed;
	if (unchanged)
		*unchanged = cnt.unchanged;
	return ret;
}

KVMUF_PUBLIC int kvmuf_open_waiter(struct kvmuf *k, struct kvmuf **out)
{
	struct kvmuf *w;
	int fd;

	if (!out)
		return -EINVAL;
	*out = NULL;
	fd = kvmuf_ioctl(k, KVMUF_WAITER, NULL);
	if (fd < 0)
		return fd;
	w = kvmuf_alloc(fd);
	if (!w) {
		close(fd);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

KVMUF_PUBLIC int kvmuf_wait(struct kvmuf *k, uint64_t gfn, uint32_t timeout_ms)
{
	struct kvmuf_wait w;
	int ret;

	memset(&w, 0, sizeof(w));
	w.gfn = gfn;
	w.timeout_ms = timeout_ms;
	ret = kvmuf_ioctl(k, KVMUF_WAIT, &w);
	return ret < 0 ? ret : 0;
}

KVMUF_PUBLIC int kvmuf_get_missing(struct kvmuf *k, uint64_t gfn, uint64_t npages,
				   uint64_t *bitmap, uint64_t *missing)
{
	struct kvmuf_missing_query q;
	int ret;

	memset(&q, 0, sizeof(q));
	q.gfn = gfn;
	q.npages = npages;
	q.bitmap = (uintptr_t)bitmap;
	ret = kvmuf_ioctl(k, KVMUF_GET_MISSING, &q);
	if (ret < 0)
		return ret;
	if (missing)
		*missing = q.missing;
	return 0;
}

KVMUF_PUBLIC int kvmuf_poll(struct kvmuf *k, int timeout_ms)
{
	struct pollfd p;
	int ret;

	if (!k || k->fd < 0)
		return -EINVAL;
	p.fd = k->fd;
	p.events = POLLIN;
	p.revents = 0;
	ret = poll(&p, 1, timeout_ms < 0 ? -1 : timeout_ms);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return 0;
	if (p.revents & POLLNVAL)
		return -EBADF;
	if (p.revents & (POLLHUP | POLLERR))
		return -ENODEV;
	return (p.revents & POLLIN) ? 1 : 0;
}

KVMUF_PUBLIC unsigned int kvmuf_nr_rings(const struct kvmuf *k)
{
	return k ? k->nr_rings : 0;
}

KVMUF_PUBLIC uint32_t kvmuf_ring_entries(const struct kvmuf *k)
{
	return k ? k->ring_entries : 0;
}

KVMUF_PUBLIC unsigned int kvmuf_vcpu_ring(const struct kvmuf *k, unsigned int vcpu_idx)
{
	if (!k || k->nr_rings < 2 || vcpu_idx >= k->nr_rings - 1)
		return 0;
	return vcpu_idx + 1;
}

KVMUF_PUBLIC const struct kvmuf_ring_header *kvmuf_ring_header(const struct kvmuf *k,
							       unsigned int ring)
{
	if (!k || ring >= k->nr_rings)
		return NULL;
	return k->views[ring].hdr;
}

KVMUF_PUBLIC size_t kvmuf_ring_consume(struct kvmuf *k, unsigned int ring,
				       struct kvmuf_fault *out, size_t max)
{
	if (!k || ring >= k->nr_rings)
		return 0;
	return kvmuf_ring_view_consume(&k->views[ring], out, max);
}

KVMUF_PUBLIC size_t kvmuf_ring_pending(const struct kvmuf *k, unsigned int ring)
{
	if (!k || ring >= k->nr_rings)
		return 0;
	return kvmuf_ring_view_pending(&k->views[ring]);
}

KVMUF_PUBLIC int kvmuf_vcpu_exit(const struct kvmuf *k, unsigned int vcpu_idx, uint64_t *gfn,
				 uint32_t *flags, uint32_t *seq)
{
	const struct kvmuf_ring_header *h;
	uint32_t s;

	if (!k)
		return -EINVAL;
	if (!k->nr_rings)
		return -ENODEV;
	if (vcpu_idx >= k->nr_rings - 1)
		return -ERANGE;
	h = k->views[vcpu_idx + 1].hdr;
	/* The module writes gfn and flags, then bumps exit_seq. */
	s = __atomic_load_n(&h->exit_seq, __ATOMIC_ACQUIRE);
	if (gfn)
		*gfn = __atomic_load_n(&h->exit_gfn, __ATOMIC_RELAXED);
	if (flags)
		*flags = __atomic_load_n(&h->exit_flags, __ATOMIC_RELAXED);
	if (seq)
		*seq = s;
	return 0;
}
