/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: userspace side of /dev/kvm-userfault, for VMMs and paging daemons.
 *
 * The ABI (ioctls, structs, ring layout, memory ordering) is documented in
 * <kvmuf/kvm_userfault.h>; this library only wraps it:
 *
 *   VMM                                          daemon
 *   kvmuf_open(&k)
 *   kvmuf_attach(k, vm_fd, 0, nr_vcpus, 256)
 *   kvmuf_add_range(k, gfn, npages, KVMUF_RANGE_MISSING)
 *   kvmuf_send_fds(sock, &fd, 1, ...)  ------>   kvmuf_recv_fds(sock, &fd, 1, &n, ...)
 *                                                kvmuf_from_fd(fd, &k)
 *                                                for (;;) {
 *                                                    kvmuf_poll(k, -1)
 *                                                    kvmuf_ring_consume(k, ring, f, 64)
 *                                                    ... fetch the pages ...
 *                                                    kvmuf_resolve_copy(k, c, n, NULL, NULL)
 *                                                }
 *
 * Conventions: every int-returning function returns 0 (or a count, where said) on
 * success and a negative errno on failure; kvmuf_strerror() turns one into text. The
 * library never prints, never exits and never raises signals (SIGPIPE included).
 *
 * Threads: the ioctl wrappers may be called concurrently from any thread. Each ring has
 * at most one consumer thread at a time (different rings may be consumed by different
 * threads in parallel). kvmuf_close() must not race with anything else on the handle.
 */
#ifndef KVMUF_H
#define KVMUF_H

#include <stddef.h>
#include <stdint.h>

#include <kvmuf/kvm_userfault.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KVMUF_PUBLIC __attribute__((visibility("default")))
#else
#define KVMUF_PUBLIC
#endif

/*
 * Library version (the shared object is libkvmuf.so.MAJOR): the header's, at build time;
 * kvmuf_library_version() gives the one actually linked, "MAJOR.MINOR.PATCH".
 */
#define KVMUF_LIB_VERSION_MAJOR	1
#define KVMUF_LIB_VERSION_MINOR	2
#define KVMUF_LIB_VERSION_PATCH	0

/* Path of the device node opened by kvmuf_open(). */
#define KVMUF_DEVICE_PATH	"/dev/" KVMUF_DEVICE_NAME

/* One device fd, the ring mapping (once attached) and its geometry. Opaque. */
struct kvmuf;

/* ---- handle ------------------------------------------------------------------ */

/* open(KVMUF_DEVICE_PATH, O_RDWR | O_CLOEXEC). -ENOENT: the module is not loaded. */
KVMUF_PUBLIC int kvmuf_open(struct kvmuf **out);

/* The same with another device node path (a container's /dev, or a test double). */
KVMUF_PUBLIC int kvmuf_open_path(const char *path, struct kvmuf **out);

/*
 * Wrap a device fd that is already attached (e.g. received from the VMM over a unix
 * socket): KVMUF_GET_INFO, then mmap of all rings. On success the handle owns fd and
 * kvmuf_close() closes it. On failure fd is left open and still belongs to the caller
 * (-ENODEV: the fd is not attached, -ENOTTY: not a kvm-userfault fd).
 */
KVMUF_PUBLIC int kvmuf_from_fd(int fd, struct kvmuf **out);

/* munmap the rings, close the fd (the last close detaches), free. NULL is ok. */
KVMUF_PUBLIC void kvmuf_close(struct kvmuf *k);

/* The device fd (for epoll, or to pass to a daemon). */
KVMUF_PUBLIC int kvmuf_fd(const struct kvmuf *k);

/* ---- ioctls ------------------------------------------------------------------ */

KVMUF_PUBLIC const char *kvmuf_library_version(void);

/* KVMUF_GET_API_VERSION: the module's KVMUF_API_VERSION (>= 1), or -errno. */
KVMUF_PUBLIC int kvmuf_api_version(struct kvmuf *k);

/*
 * KVMUF_ATTACH (flags: KVMUF_ATTACH_*), then KVMUF_GET_INFO and mmap of all rings.
 * With KVMUF_ATTACH_ADOPT, the VM's owner takes over the state a dead page server left
 * (same mode and geometry as its attach; -ENOENT if there is none).
 * -EBUSY if this handle already has rings mapped. If the attach succeeded but the
 * mapping failed, the fd stays attached; kvmuf_map() retries the mapping.
 */
KVMUF_PUBLIC int kvmuf_attach(struct kvmuf *k, int vm_fd, uint32_t flags,
			      uint32_t nr_vcpu_rings, uint32_t ring_entries);

/*
 * kvmuf_attach() with KVMUF_ATTACH_TAKEOVER when takeover_ms > 0: if the page server
 * holding the fd dies with pages missing, vCPUs stay parked for takeover_ms while a new
 * one is brought in with KVMUF_ATTACH_ADOPT (pass the same flags and takeover_ms).
 */
KVMUF_PUBLIC int kvmuf_attach_takeover(struct kvmuf *k, int vm_fd, uint32_t flags,
				       uint32_t nr_vcpu_rings, uint32_t ring_entries,
				       uint32_t takeover_ms);

/*
 * KVMUF_GET_INFO, then mmap of all rings, checking the geometry the module reports
 * (-EPROTO if it is inconsistent or the API version differs). No-op if mapped already.
 */
KVMUF_PUBLIC int kvmuf_map(struct kvmuf *k);

/* KVMUF_GET_INFO: the current geometry and counters. */
KVMUF_PUBLIC int kvmuf_info(struct kvmuf *k, struct kvmuf_info *info);

/*
 * KVMUF_GET_STATS: every counter, with the park and wake times (a module older than
 * the call answers -ENOTTY).
 */
KVMUF_PUBLIC int kvmuf_stats(struct kvmuf *k, struct kvmuf_stats *st);

/* KVMUF_ADD_RANGE: manage GFNs [gfn, gfn + npages); flags: KVMUF_RANGE_*. */
KVMUF_PUBLIC int kvmuf_add_range(struct kvmuf *k, uint64_t gfn, uint64_t npages,
				 uint32_t flags);

/*
 * Batched KVMUF_SET_MISSING / KVMUF_RESOLVE / KVMUF_RESOLVE_COPY. nr may be anything:
 * the array is sent in chunks of KVMUF_MAX_BATCH and the out counters of the chunks
 * are added up (nr == 0 is a no-op). changed / unchanged may be NULL. On an error the
 * counters hold what the chunks before the failing one did (and, for -EINTR, what the
 * interrupted one did), and the error is returned. GFNs the module reports busy (held
 * by a RESOLVE_COPY in flight) are in neither count: the _counted forms below give all
 * three.
 */
KVMUF_PUBLIC int kvmuf_set_missing(struct kvmuf *k, const struct kvmuf_gfn_range *r, size_t nr,
				   uint64_t *changed, uint64_t *unchanged);
KVMUF_PUBLIC int kvmuf_resolve(struct kvmuf *k, const struct kvmuf_gfn_range *r, size_t nr,
			       uint64_t *changed, uint64_t *unchanged);
KVMUF_PUBLIC int kvmuf_resolve_copy(struct kvmuf *k, const struct kvmuf_copy *c, size_t nr,
				    uint64_t *changed, uint64_t *unchanged);

/*
 * What a batched call did to its GFNs (the uapi header's life of a GFN): each GFN is in
 * exactly one count.
 */
struct kvmuf_counts {
	uint64_t changed;	/* moved by this call */
	uint64_t unchanged;	/* already as asked (missing for SET_MISSING, else present) */
	uint64_t busy;		/* held by a RESOLVE_COPY in flight, left to it: RESOLVE only */
};

/* The batched calls with every count (out may be NULL); flags as kvmuf_resolve_flags(). */
KVMUF_PUBLIC int kvmuf_set_missing_counted(struct kvmuf *k, const struct kvmuf_gfn_range *r,
					   size_t nr, struct kvmuf_counts *out);
KVMUF_PUBLIC int kvmuf_resolve_counted(struct kvmuf *k, const struct kvmuf_gfn_range *r,
				       size_t nr, uint32_t flags, struct kvmuf_counts *out);
KVMUF_PUBLIC int kvmuf_resolve_copy_counted(struct kvmuf *k, const struct kvmuf_copy *c,
					    size_t nr, struct kvmuf_counts *out);

/* KVMUF_RESOLVE with flags (KVMUF_RESOLVE_POPULATE: map the pages in the VMM first). */
KVMUF_PUBLIC int kvmuf_resolve_flags(struct kvmuf *k, const struct kvmuf_gfn_range *r,
				     size_t nr, uint32_t flags, uint64_t *changed,
				     uint64_t *unchanged);

/* KVMUF_WAIT: 0 once gfn is not missing, -ETIMEDOUT, -EINTR, -ENODEV. 0 ms: forever. */
KVMUF_PUBLIC int kvmuf_wait(struct kvmuf *k, uint64_t gfn, uint32_t timeout_ms);

/*
 * KVMUF_GET_MISSING (libkvmuf 1.2): which GFNs of [gfn, gfn + npages), inside one managed
 * range, are missing now: bit i of @bitmap ((npages + 63) / 64 words) for gfn + i, and
 * their number in *@missing (may be NULL). A snapshot (see the uapi header). Works on a
 * waiter too. 0, -EINVAL (not inside one range), -EFAULT, -EINTR, -ENOTTY (a module
 * older than the call).
 */
KVMUF_PUBLIC int kvmuf_get_missing(struct kvmuf *k, uint64_t gfn, uint64_t npages,
				   uint64_t *bitmap, uint64_t *missing);

/*
 * A waiter handle on k's VM (KVMUF_WAITER): kvmuf_wait(), kvmuf_info() and kvmuf_stats()
 * work on it, it has no rings, and it does not keep the VM attached. For a VMM that
 * hands k's fd to a daemon and closes its own: once the daemon's last reference goes,
 * kvmuf_wait() on the waiter returns -ENODEV. Close it with kvmuf_close().
 */
KVMUF_PUBLIC int kvmuf_open_waiter(struct kvmuf *k, struct kvmuf **out);

/*
 * poll() on the fd. 1: entries may be ready (EPOLLIN); 0: timeout; -ENODEV: EPOLLHUP or
 * EPOLLERR (the VM is gone or the fd detached; reported even if entries remain);
 * -EINTR, -errno. timeout_ms < 0 waits forever.
 */
KVMUF_PUBLIC int kvmuf_poll(struct kvmuf *k, int timeout_ms);

/* ---- rings (valid once attached / wrapped) ------------------------------------ */

/* Number of rings mapped (nr_vcpu_rings + 1), 0 before kvmuf_attach(). */
KVMUF_PUBLIC unsigned int kvmuf_nr_rings(const struct kvmuf *k);

/* Entries per ring, 0 before kvmuf_attach(). */
KVMUF_PUBLIC uint32_t kvmuf_ring_entries(const struct kvmuf *k);

/* The ring of vCPU vcpu_idx: vcpu_idx + 1 if it has its own ring, else 0 (VM ring). */
KVMUF_PUBLIC unsigned int kvmuf_vcpu_ring(const struct kvmuf *k, unsigned int vcpu_idx);

/* Ring 0 = VM ring, ring i + 1 = vCPU i. NULL if ring is out of range. */
KVMUF_PUBLIC const struct kvmuf_ring_header *kvmuf_ring_header(const struct kvmuf *k,
							       unsigned int ring);

/*
 * Copy up to max entries out of the ring into out, oldest first, and give their slots
 * back to the kernel. Returns the number copied; 0 if the ring is empty or out of
 * range. One consumer thread per ring at a time.
 */
KVMUF_PUBLIC size_t kvmuf_ring_consume(struct kvmuf *k, unsigned int ring,
				       struct kvmuf_fault *out, size_t max);

/* Entries ready in the ring right now (at most kvmuf_ring_entries()). */
KVMUF_PUBLIC size_t kvmuf_ring_pending(const struct kvmuf *k, unsigned int ring);

/*
 * The exit record of vCPU vcpu_idx (exit mode: after KVM_RUN failed with EFAULT):
 * exit_gfn, exit_flags and exit_seq of its ring header; any out pointer may be NULL.
 * -ERANGE if the vCPU has no ring of its own, -ENODEV if not attached.
 */
KVMUF_PUBLIC int kvmuf_vcpu_exit(const struct kvmuf *k, unsigned int vcpu_idx, uint64_t *gfn,
				 uint32_t *flags, uint32_t *seq);

/*
 * The consumer alone, on any memory laid out as one ring (header page + entries), with
 * no device: used by kvmuf_ring_consume() and by the unit tests.
 *
 * Ordering (see the uapi header): load-acquire tail, read entries [head, tail),
 * store-release head. A tail more than `entries` ahead of head (a kernel bug, or a
 * corrupted mapping) is clamped: one call never copies more than `entries` entries and
 * never reads outside the ring.
 */
struct kvmuf_ring_view {
	struct kvmuf_ring_header *hdr;
	struct kvmuf_fault *entries;	/* NULL: invalid ring size, consume returns 0 */
	uint32_t mask;			/* entries - 1 */
};

/*
 * ring_mem = the start of one ring (its header page). Reads hdr->entries once; if it is
 * not a power of two in [1, KVMUF_MAX_RING_ENTRIES] the view is left unusable
 * (v->entries == NULL, consume returns 0).
 */
KVMUF_PUBLIC void kvmuf_ring_view_init(struct kvmuf_ring_view *v, void *ring_mem);

/*
 * Same, with the ring size given by the caller (e.g. from KVMUF_GET_INFO) rather than
 * read from the shared header. -EINVAL (view unusable) if it is not a power of two in
 * [1, KVMUF_MAX_RING_ENTRIES].
 */
KVMUF_PUBLIC int kvmuf_ring_view_setup(struct kvmuf_ring_view *v, void *ring_mem,
				       uint32_t entries);

/* Copy up to max entries out and give their slots back. Returns the number copied. */
KVMUF_PUBLIC size_t kvmuf_ring_view_consume(struct kvmuf_ring_view *v,
					    struct kvmuf_fault *out, size_t max);

/* Entries ready right now, clamped to the ring size. */
KVMUF_PUBLIC uint32_t kvmuf_ring_view_pending(const struct kvmuf_ring_view *v);

/* ---- fd passing over AF_UNIX sockets ------------------------------------------ */

/* Most fds one message can carry (the kernel's SCM_MAX_FD). */
#define KVMUF_MAX_PASS_FDS	253

/*
 * Send nfds fds (SCM_RIGHTS, nfds <= KVMUF_MAX_PASS_FDS, may be 0) with a payload of
 * len >= 1 bytes. Returns 0 once the whole payload is sent (a stream socket may need
 * several writes; the fds travel with the first). -EPIPE if the peer is gone (no
 * SIGPIPE). Prefer SOCK_SEQPACKET: message boundaries are kept.
 */
KVMUF_PUBLIC int kvmuf_send_fds(int sock, const int *fds, unsigned int nfds,
				const void *msg, size_t len);

/*
 * Receive one message: up to len payload bytes into msg and up to max_fds fds into
 * fds (*nfds = how many, each with O_CLOEXEC). Returns the payload bytes received,
 * 0 on EOF (no fds), or -errno. -EMSGSIZE if the message carried more fds than max_fds
 * or (datagram / seqpacket) a longer payload than len: it is consumed and every fd it
 * carried is closed. One recvmsg(): on a stream socket the payload may be short.
 */
KVMUF_PUBLIC int kvmuf_recv_fds(int sock, int *fds, unsigned int max_fds, unsigned int *nfds,
				void *msg, size_t len);

/* ---- errors ------------------------------------------------------------------- */

/*
 * Text for an error returned by this library (a negative errno; a positive errno is
 * accepted too), with the kvm-userfault meaning where there is one. Never NULL; the
 * string is static.
 */
KVMUF_PUBLIC const char *kvmuf_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* KVMUF_H */
