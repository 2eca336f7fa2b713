// SPDX-License-Identifier: MIT
/*
 * A minimal page server in its own process: it receives a VMM's attached kvm-userfault
 * device fd and its userfaultfd (the fd handoff, over a unix socket), serves every
 * missing page from a snapshot file with libkvmuf's page engine, and exits when the VM
 * detaches. kvmuf-vmm -D SOCKET -S SNAPSHOT is such a VMM; kvmuf-daemon is the full one.
 *
 *   mini-daemon SOCKET SNAPSHOT
 *
 * Build: cc mini-daemon.c $(pkg-config --cflags --libs kvmuf) -o mini-daemon
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <kvmuf/kvmuf.h>
#include <kvmuf/kvmuf_handoff.h>
#include <kvmuf/kvmuf_server.h>
#include <kvmuf/kvmuf_snapshot.h>

static int listen_on(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);	/* as kvmuf-vmm */

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 1))
		return -1;
	return s;
}

int main(int argc, char **argv)
{
	struct kvmuf_handoff_fds fds;
	struct kvmuf_server_stats st;
	struct kvmuf_handoff h;
	struct kvmuf_server *srv;
	struct kvmuf_snap snap;
	struct kvmuf *k;
	char msg[256];
	int lsock, sock, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: mini-daemon SOCKET SNAPSHOT\n");
		return 2;
	}
	if (kvmuf_snap_open(argv[2], &snap, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "mini-daemon: %s\n", msg);
		return 1;
	}
	lsock = listen_on(argv[1]);
	sock = lsock < 0 ? -1 : accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0) {
		perror("mini-daemon: socket");
		return 1;
	}
	ret = kvmuf_handoff_recv(sock, &h, &fds, msg, sizeof(msg));
	if (!ret && fds.memfd >= 0)
		close(fds.memfd);	/* pages go in through the userfaultfd */
	if (!ret && (!(h.flags & KVMUF_HANDOFF_UFFD) || fds.uffd < 0)) {
		/* This minimal server installs through the backstop's userfaultfd only. */
		snprintf(msg, sizeof(msg), "the VMM sent no userfaultfd");
		ret = -EINVAL;
	}
	if (!ret)
		ret = kvmuf_from_fd(fds.dev, &k);
	if (!ret) {
		struct kvmuf_server_config cfg = {
			.ctx = k, .nr_threads = 1,
			.geom = { snap.hdr.base_gfn, snap.hdr.npages, h.base_gfn, h.npages },
			.snap_data = snap.data,
			.use_uffd = 1, .uffd = fds.uffd, .uffd_hva = h.uffd_hva,
			.poll_ms = 50,
		};

		ret = kvmuf_server_start(&cfg, &srv);
		if (ret)
			snprintf(msg, sizeof(msg), "page engine: %s", kvmuf_strerror(ret));
	}
	/* The VMM runs its vCPUs once it has our answer. */
	kvmuf_handoff_ack_send(sock, ret, 1, snap.hdr.base_gfn, snap.hdr.npages,
			       ret ? msg : NULL);
	if (ret) {
		fprintf(stderr, "mini-daemon: %s\n", ret == -EINVAL && msg[0] ? msg :
			kvmuf_strerror(ret));
		return 1;
	}
	/* Serve until the VM detaches (the VMM closed or died). */
	struct pollfd p = { .fd = kvmuf_server_done_fd(srv), .events = POLLIN };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	kvmuf_server_stop(srv, &st);
	printf("mini-daemon: served %llu pages (%llu through the rings, %llu through userfaultfd)\n",
	       (unsigned long long)st.served, (unsigned long long)st.ring_served,
	       (unsigned long long)st.uffd_served);
	kvmuf_close(k);
	kvmuf_snap_close(&snap);
	return 0;
}
