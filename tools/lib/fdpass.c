// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Passing the device fd (and others, e.g. a guest memfd) to a daemon: SCM_RIGHTS over
 * an AF_UNIX socket.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kvmuf.h"

/* Control buffer big enough for KVMUF_MAX_PASS_FDS fds, aligned for cmsghdr. */
union kvmuf_cmsg_buf {
	struct cmsghdr align;
	char buf[CMSG_SPACE(KVMUF_MAX_PASS_FDS * sizeof(int))];
};

KVMUF_PUBLIC int kvmuf_send_fds(int sock, const int *fds, unsigned int nfds,
				const void *msg, size_t len)
{
	union kvmuf_cmsg_buf cbuf;
	struct msghdr mh;
	struct iovec iov;
	const char *p = msg;
	ssize_t n;

	if (!msg || !len || nfds > KVMUF_MAX_PASS_FDS || (nfds && !fds))
		return -EINVAL;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)p;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}

	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* A stream socket may take part of the payload; the fds went with it. */
	while ((size_t)n < len) {
		ssize_t m;

		p += n;
		len -= (size_t)n;
		do
			m = send(sock, p, len, MSG_NOSIGNAL);
		while (m < 0 && errno == EINTR);
		if (m < 0)
			return -errno;
		n = m;
	}
	return 0;
}

static void close_fds(const int *fds, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		close(fds[i]);
}

KVMUF_PUBLIC int kvmuf_recv_fds(int sock, int *fds, unsigned int max_fds, unsigned int *nfds,
				void *msg, size_t len)
{
	union kvmuf_cmsg_buf cbuf;
	unsigned int got = 0, room;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	int too_many = 0;
	ssize_t n;

	if (nfds)
		*nfds = 0;
	if (!msg || !len || (max_fds && (!fds || !nfds)))
		return -EINVAL;
	room = max_fds > KVMUF_MAX_PASS_FDS ? KVMUF_MAX_PASS_FDS : max_fds;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = msg;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	/*
	 * Always offer the whole buffer: fds beyond max_fds are then received (and closed
	 * below) rather than silently dropped by the kernel.
	 */
	memset(&cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t i, nr;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		nr = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nr; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < room) {
				fds[got++] = fd;
			} else {
				close(fd);
				too_many = 1;
			}
		}
	}

	if (too_many || (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
		close_fds(fds, got);
		return -EMSGSIZE;
	}
	if (nfds)
		*nfds = got;
	return (int)(n > (ssize_t)0x7fffffff ? 0x7fffffff : n);
}
