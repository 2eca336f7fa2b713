// SPDX-License-Identifier: LGPL-2.1-or-later
/* libkvmuf: the fd handoff between a VMM and a page server, see kvmuf_handoff.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kvmuf_handoff.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvmuf.h"
#include "errbuf.h"

_Static_assert(sizeof(struct kvmuf_handoff) == 88, "handoff layout");
_Static_assert(sizeof(struct kvmuf_handoff_ack) == 128, "ack layout");

int kvmuf_handoff_validate(const struct kvmuf_handoff *h, size_t len,
			   unsigned int nfds, char *err, size_t errlen)
{
	uint64_t max_gfn = UINT64_MAX >> 12;
	unsigned int want_fds;

	if (len != sizeof(*h)) {
		set_err(err, errlen, "handoff of %zu bytes, expected %zu",
			len, sizeof(*h));
		return -EPROTO;
	}
	if (h->magic != KVMUF_HANDOFF_MAGIC || h->size != sizeof(*h)) {
		set_err(err, errlen, "not a kvmuf handoff (magic 0x%x, size %u)",
			h->magic, h->size);
		return -EPROTO;
	}
	if (h->version != KVMUF_HANDOFF_VERSION) {
		set_err(err, errlen, "handoff version %u, expected %u",
			h->version, KVMUF_HANDOFF_VERSION);
		return -EPROTO;
	}
	if (h->flags & ~KVMUF_HANDOFF_FLAGS) {
		set_err(err, errlen, "unknown handoff flags 0x%x", h->flags);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < sizeof(h->reserved) / sizeof(h->reserved[0]); i++) {
		if (h->reserved[i]) {
			set_err(err, errlen, "handoff reserved field %u is not zero", i);
			return -EINVAL;
		}
	}
	want_fds = 1 + !!(h->flags & KVMUF_HANDOFF_MEMFD) + !!(h->flags & KVMUF_HANDOFF_UFFD);
	if (nfds != want_fds) {
		set_err(err, errlen, "handoff came with %u fds, expected %u", nfds,
			want_fds);
		return -EPROTO;
	}
	if (h->npages == 0 || h->base_gfn > max_gfn ||
	    h->npages > max_gfn - h->base_gfn + 1) {
		set_err(err, errlen, "bad memory range: gfn 0x%llx, %llu pages",
			(unsigned long long)h->base_gfn,
			(unsigned long long)h->npages);
		return -EINVAL;
	}
	if (h->flags & KVMUF_HANDOFF_MEMFD) {
		if (h->memfd_offset & 4095) {
			set_err(err, errlen, "memfd offset 0x%llx is not page aligned",
				(unsigned long long)h->memfd_offset);
			return -EINVAL;
		}
		if (h->npages > (UINT64_MAX >> 12) ||
		    h->memfd_offset > UINT64_MAX - (h->npages << 12)) {
			set_err(err, errlen, "memfd offset 0x%llx + %llu pages overflows",
				(unsigned long long)h->memfd_offset,
				(unsigned long long)h->npages);
			return -EINVAL;
		}
	} else if (h->memfd_offset) {
		set_err(err, errlen, "memfd offset without a memfd");
		return -EINVAL;
	}
	if (h->flags & KVMUF_HANDOFF_UFFD) {
		if (!h->uffd_hva || (h->uffd_hva & 4095) ||
		    h->uffd_hva > UINT64_MAX - (h->npages << 12)) {
			set_err(err, errlen, "bad userfaultfd address 0x%llx for %llu pages",
				(unsigned long long)h->uffd_hva,
				(unsigned long long)h->npages);
			return -EINVAL;
		}
	} else if (h->uffd_hva) {
		set_err(err, errlen, "userfaultfd address without a userfaultfd");
		return -EINVAL;
	}
	return 0;
}

int kvmuf_handoff_send(int sock, const struct kvmuf_handoff *h,
		       const struct kvmuf_handoff_fds *fds)
{
	int v[KVMUF_HANDOFF_MAX_FDS];
	unsigned int n = 0;
	int ret;

	v[n++] = fds->dev;
	if (h->flags & KVMUF_HANDOFF_MEMFD)
		v[n++] = fds->memfd;
	if (h->flags & KVMUF_HANDOFF_UFFD)
		v[n++] = fds->uffd;
	ret = kvmuf_send_fds(sock, v, n, h, sizeof(*h));
	if (ret < 0)
		return ret;
	return 0;
}

int kvmuf_handoff_recv(int sock, struct kvmuf_handoff *h, struct kvmuf_handoff_fds *out,
		       char *err, size_t errlen)
{
	int fds[KVMUF_HANDOFF_MAX_FDS];
	unsigned int nfds = 0, i = 0;
	int ret;

	*out = (struct kvmuf_handoff_fds) { .dev = -1, .memfd = -1, .uffd = -1 };
	memset(h, 0, sizeof(*h));
	ret = kvmuf_recv_fds(sock, fds, KVMUF_HANDOFF_MAX_FDS, &nfds, h, sizeof(*h));
	if (ret < 0) {
		set_err(err, errlen, "receiving the handoff: %s", kvmuf_strerror(ret));
		return ret;
	}
	if (ret == 0 && nfds == 0) {
		set_err(err, errlen, "the VMM closed the socket before the handoff");
		return -EPIPE;
	}
	ret = kvmuf_handoff_validate(h, (size_t)ret, nfds, err, errlen);
	if (ret < 0) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		return ret;
	}
	out->dev = fds[i++];
	if (h->flags & KVMUF_HANDOFF_MEMFD)
		out->memfd = fds[i++];
	if (h->flags & KVMUF_HANDOFF_UFFD)
		out->uffd = fds[i++];
	return 0;
}

int kvmuf_handoff_ack_send(int sock, int status, unsigned int threads,
			   uint64_t snap_base_gfn, uint64_t snap_npages,
			   const char *message)
{
	struct kvmuf_handoff_ack ack = {
		.magic = KVMUF_HANDOFF_MAGIC,
		.version = KVMUF_HANDOFF_VERSION,
		.status = status,
		.threads = threads,
		.snap_base_gfn = snap_base_gfn,
		.snap_npages = snap_npages,
	};
	ssize_t n;

	if (message)
		snprintf(ack.message, sizeof(ack.message), "%s", message);
	do {
		n = send(sock, &ack, sizeof(ack), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(ack) ? 0 : -EPROTO;
}

int kvmuf_handoff_ack_recv(int sock, struct kvmuf_handoff_ack *ack,
			   int timeout_ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int ret;

	do {
		ret = poll(&pfd, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	memset(ack, 0, sizeof(*ack));
	do {
		n = recv(sock, ack, sizeof(*ack), MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	if (n == 0)
		return -EPIPE;
	if (n != (ssize_t)sizeof(*ack) || ack->magic != KVMUF_HANDOFF_MAGIC ||
	    ack->version != KVMUF_HANDOFF_VERSION)
		return -EPROTO;
	ack->message[sizeof(ack->message) - 1] = '\0';
	return 0;
}
