/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: how a VMM hands an attached /dev/kvm-userfault fd, and what else the page
 * server needs, to a page server in another process (kvmuf-daemon).
 *
 * Transport: a unix SOCK_SEQPACKET socket (the daemon listens, the VMM connects; one
 * VMM per daemon).
 *
 *   VMM -> daemon   struct kvmuf_handoff, with SCM_RIGHTS fds, in this order:
 *                   the device fd, already attached, ranges registered;
 *                   the guest memfd, iff flags has KVMUF_HANDOFF_MEMFD;
 *                   the VMM's userfaultfd, iff flags has KVMUF_HANDOFF_UFFD (the
 *                   backstop, kvmuf_backstop.h: registered on the guest memory, whose
 *                   VMM address of base_gfn is uffd_hva).
 *   daemon -> VMM   struct kvmuf_handoff_ack: status 0 (serving) or a negative errno
 *                   with a message (the daemon then exits).
 *
 * After the ack nothing more is sent. Either side closing the socket ends the session:
 * the daemon stops serving when the VMM closes it (and prints its summary), the VMM
 * treats EOF as "nobody will serve missing pages", or, when it attached with
 * KVMUF_ATTACH_TAKEOVER, waits for a new daemon at the same socket path, adopts the
 * VM's state for it and hands it over again (KVMUF_HANDOFF_ADOPTED). The VMM keeps its own userfaultfd
 * open whatever happens to the daemon: closing the last reference would unregister the
 * memory and let every access to a missing page see zeros.
 *
 * Memory: GFNs [base_gfn, base_gfn + npages) are the guest memory being served. With
 * the backstop every page is installed through the userfaultfd (kvmuf_server.h); without
 * it, anonymous memory with KVMUF_RESOLVE_COPY, memfd memory through the daemon's own
 * MAP_SHARED mapping of the memfd (byte memfd_offset + (gfn - base_gfn) * 4096).
 */
#ifndef KVMUF_HANDOFF_H
#define KVMUF_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "kvmuf.h"

#define KVMUF_HANDOFF_MAGIC	0x4855464bu	/* "KFUH" little endian */
#define KVMUF_HANDOFF_VERSION	1

/* kvmuf_handoff.flags */
#define KVMUF_HANDOFF_MEMFD	(1u << 0)	/* fd [1] is the guest memfd */
#define KVMUF_HANDOFF_SEED	(1u << 1)	/* seed is valid: refuse another snapshot seed */
#define KVMUF_HANDOFF_UFFD	(1u << 2)	/* the VMM's userfaultfd follows */
/*
 * The device fd adopted an earlier page server's state (KVMUF_ATTACH_ADOPT): some GFNs
 * are present already, and a ring entry may name one of them (an entry the dead server
 * never read). The new server must never overwrite such a page: it installs only
 * through calls that refuse a present page (UFFDIO_COPY, KVMUF_RESOLVE_COPY), never by
 * writing the memfd itself.
 */
#define KVMUF_HANDOFF_ADOPTED	(1u << 3)
#define KVMUF_HANDOFF_FLAGS	(KVMUF_HANDOFF_MEMFD | KVMUF_HANDOFF_SEED | KVMUF_HANDOFF_UFFD | \
				 KVMUF_HANDOFF_ADOPTED)

struct kvmuf_handoff {
	uint32_t magic;		/* KVMUF_HANDOFF_MAGIC */
	uint32_t version;	/* KVMUF_HANDOFF_VERSION */
	uint32_t size;		/* sizeof(struct kvmuf_handoff) */
	uint32_t flags;		/* KVMUF_HANDOFF_* */
	uint64_t base_gfn;	/* first GFN of the served guest memory */
	uint64_t npages;	/* its size in 4 KiB pages, > 0 */
	uint64_t memfd_offset;	/* byte offset of base_gfn in the memfd (page aligned) */
	uint64_t seed;		/* the VMM's pattern seed (KVMUF_HANDOFF_SEED) */
	uint32_t nr_vcpus;	/* informational */
	uint32_t attach_flags;	/* KVMUF_ATTACH_* the VMM used (informational) */
	uint64_t uffd_hva;	/* KVMUF_HANDOFF_UFFD: the VMM's address of base_gfn */
	uint64_t reserved[3];	/* zero */
};

struct kvmuf_handoff_ack {
	uint32_t magic;		/* KVMUF_HANDOFF_MAGIC */
	uint32_t version;	/* KVMUF_HANDOFF_VERSION */
	int32_t status;		/* 0 serving, or a negative errno */
	uint32_t threads;	/* worker threads serving */
	uint64_t snap_base_gfn;	/* the snapshot being served */
	uint64_t snap_npages;
	char message[96];	/* why, when status < 0 (NUL terminated) */
};

#define KVMUF_HANDOFF_MAX_FDS	3

/* The fds of a handoff; -1 where absent. */
struct kvmuf_handoff_fds {
	int dev;		/* the attached device fd */
	int memfd;		/* KVMUF_HANDOFF_MEMFD */
	int uffd;		/* KVMUF_HANDOFF_UFFD */
};

/*
 * Check a received handoff that came with @nfds fds: 0, or -EINVAL /
 * -EPROTO with a message in @err.  Pure function.
 */
KVMUF_PUBLIC int kvmuf_handoff_validate(const struct kvmuf_handoff *h, size_t len,
			   unsigned int nfds, char *err, size_t errlen);

/* Send @h with the fds its flags name (the caller keeps its own copies). */
KVMUF_PUBLIC int kvmuf_handoff_send(int sock, const struct kvmuf_handoff *h,
				   const struct kvmuf_handoff_fds *fds);

/*
 * Receive and validate a handoff. On success the fds in *@fds (-1 where absent) are the
 * caller's. On failure no fd is left open: -EPIPE on EOF, -EPROTO/-EINVAL for a bad
 * message (see @err), other negative errno.
 */
KVMUF_PUBLIC int kvmuf_handoff_recv(int sock, struct kvmuf_handoff *h,
				   struct kvmuf_handoff_fds *fds, char *err, size_t errlen);

/* The daemon's answer; @message may be NULL. */
KVMUF_PUBLIC int kvmuf_handoff_ack_send(int sock, int status, unsigned int threads,
			   uint64_t snap_base_gfn, uint64_t snap_npages,
			   const char *message);

/*
 * Wait up to @timeout_ms (< 0: forever) for the ack: 0 (read it; check
 * ack->status), -ETIMEDOUT, -EPIPE on EOF, -EPROTO for garbage.
 */
KVMUF_PUBLIC int kvmuf_handoff_ack_recv(int sock, struct kvmuf_handoff_ack *ack,
			   int timeout_ms);

#endif /* KVMUF_HANDOFF_H */
