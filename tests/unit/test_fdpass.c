// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf_send_fds / kvmuf_recv_fds over socketpairs: a pipe's write end plus a payload
 * goes through and works on the other side, several fds, too many fds, a too long
 * payload, EOF, a vanished peer (EPIPE, no SIGPIPE), stream sockets, bad arguments;
 * and no fd leaks on any of these paths.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kvmuf.h"
#include "unit.h"

struct hello {
	uint32_t magic;
	uint32_t nr_vcpus;
	char name[24];
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	REQUIRE(d, "no /proc/self/fd");
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

static void pair(int type, int sv[2])
{
	REQUIRE(!socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), "socketpair");
}

/* The basic case: a pipe's write end and a payload; write through the received fd. */
static void test_pipe(int type)
{
	struct hello h = { .magic = 0x6b766d75, .nr_vcpus = 8, .name = "vm-1" }, got;
	int sv[2], p[2], fd = -1, ret;
	unsigned int n = 99;
	char buf[16] = "";

	pair(type, sv);
	REQUIRE(!pipe(p), "pipe");
	ret = kvmuf_send_fds(sv[0], &p[1], 1, &h, sizeof(h));
	CHECK(ret == 0, "send: %s", kvmuf_strerror(ret));
	close(p[1]);	/* only the copy in flight keeps the write end open now */

	memset(&got, 0, sizeof(got));
	ret = kvmuf_recv_fds(sv[1], &fd, 1, &n, &got, sizeof(got));
	CHECK(ret == (int)sizeof(h), "recv: %d (%s)", ret, kvmuf_strerror(ret));
	CHECK(n == 1 && fd >= 0, "received %u fds", n);
	CHECK(!memcmp(&got, &h, sizeof(h)), "payload differs");
	CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC, "received fd without O_CLOEXEC");
	CHECK(write(fd, "through", 8) == 8, "write through the received fd");
	CHECK(read(p[0], buf, sizeof(buf)) == 8 && !strcmp(buf, "through"), "read '%s'", buf);
	close(fd);
	CHECK(read(p[0], buf, sizeof(buf)) == 0, "pipe still has a writer");
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

/* Several fds of different kinds, in order. */
static void test_several(void)
{
	int sv[2], p[2], fds[3], got[4] = { -1, -1, -1, -1 }, ret;
	unsigned int n = 0;
	char msg = 'x', b;

	pair(SOCK_SEQPACKET, sv);
	REQUIRE(!pipe(p), "pipe");
	fds[0] = p[1];
	fds[1] = open("/dev/null", O_RDWR | O_CLOEXEC);
	fds[2] = memfd_create("kvmuf-test", MFD_CLOEXEC);
	REQUIRE(fds[1] >= 0 && fds[2] >= 0, "open");
	CHECK(write(fds[2], "memfd", 5) == 5, "write memfd");

	ret = kvmuf_send_fds(sv[0], fds, 3, &msg, 1);
	CHECK(ret == 0, "send: %s", kvmuf_strerror(ret));
	ret = kvmuf_recv_fds(sv[1], got, 4, &n, &b, 1);
	CHECK(ret == 1 && n == 3 && b == 'x', "recv %d, %u fds", ret, n);
	CHECK(got[3] == -1, "wrote past the fds received");
	if (n == 3) {
		char buf[8] = "";

		CHECK(write(got[0], "p", 1) == 1 && read(p[0], buf, 1) == 1 && buf[0] == 'p',
		      "fd 0 is not the pipe");
		CHECK(pread(got[2], buf, 5, 0) == 5 && !memcmp(buf, "memfd", 5),
		      "fd 2 is not the memfd");
		for (unsigned int i = 0; i < n; i++)
			close(got[i]);
	}
	close(p[0]);
	close(p[1]);
	close(fds[1]);
	close(fds[2]);
	close(sv[0]);
	close(sv[1]);
}

/* More fds than max_fds, or a longer payload: -EMSGSIZE and nothing leaks. */
static void test_too_much(void)
{
	int sv[2], fds[3], got[2] = { -1, -1 }, before, ret, i;
	char big[100], small[10];
	unsigned int n = 7;

	pair(SOCK_SEQPACKET, sv);
	for (i = 0; i < 3; i++)
		REQUIRE((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0, "open");
	memset(big, 'b', sizeof(big));
	before = count_fds();

	CHECK(kvmuf_send_fds(sv[0], fds, 3, big, 10) == 0, "send 3");
	ret = kvmuf_recv_fds(sv[1], got, 2, &n, small, sizeof(small));
	CHECK(ret == -EMSGSIZE, "3 fds into 2: %d", ret);
	CHECK(n == 0, "nfds %u after an error", n);
	CHECK(count_fds() == before, "fds leaked: %d -> %d", before, count_fds());

	CHECK(kvmuf_send_fds(sv[0], fds, 1, big, sizeof(big)) == 0, "send 100 bytes");
	ret = kvmuf_recv_fds(sv[1], got, 2, &n, small, sizeof(small));
	CHECK(ret == -EMSGSIZE, "100 bytes into 10: %d", ret);
	CHECK(count_fds() == before, "fds leaked: %d -> %d", before, count_fds());

	/* An fd sent to a receiver that takes none. */
	CHECK(kvmuf_send_fds(sv[0], fds, 1, big, 1) == 0, "send 1");
	ret = kvmuf_recv_fds(sv[1], NULL, 0, NULL, small, sizeof(small));
	CHECK(ret == -EMSGSIZE, "1 fd into 0: %d", ret);
	CHECK(count_fds() == before, "fds leaked: %d -> %d", before, count_fds());

	/* No fds at all is fine. */
	CHECK(kvmuf_send_fds(sv[0], NULL, 0, "hi", 2) == 0, "send without fds");
	ret = kvmuf_recv_fds(sv[1], got, 2, &n, small, sizeof(small));
	CHECK(ret == 2 && n == 0 && !memcmp(small, "hi", 2), "recv without fds: %d %u", ret, n);

	for (i = 0; i < 3; i++)
		close(fds[i]);
	close(sv[0]);
	close(sv[1]);
}

static void test_eof_and_epipe(void)
{
	int sv[2], fd = -1, ret, p[2];
	unsigned int n = 5;
	char b;

	pair(SOCK_SEQPACKET, sv);
	close(sv[0]);
	ret = kvmuf_recv_fds(sv[1], &fd, 1, &n, &b, 1);
	CHECK(ret == 0 && n == 0, "EOF: %d, %u fds", ret, n);
	close(sv[1]);

	/* The peer is gone: -EPIPE, and SIGPIPE (default: kill us) is not raised. */
	pair(SOCK_STREAM, sv);
	REQUIRE(!pipe(p), "pipe");
	close(sv[1]);
	ret = kvmuf_send_fds(sv[0], &p[0], 1, "x", 1);
	CHECK(ret == -EPIPE, "send to a closed peer: %d", ret);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
}

static void test_bad_args(void)
{
	int sv[2], fds[KVMUF_MAX_PASS_FDS + 1], bad = 1000000, got, ret;
	unsigned int n;
	char b = 0;

	pair(SOCK_SEQPACKET, sv);
	memset(fds, 0, sizeof(fds));
	CHECK(kvmuf_send_fds(sv[0], NULL, 0, "x", 0) == -EINVAL, "len 0");
	CHECK(kvmuf_send_fds(sv[0], NULL, 0, NULL, 1) == -EINVAL, "msg NULL");
	CHECK(kvmuf_send_fds(sv[0], NULL, 1, "x", 1) == -EINVAL, "fds NULL");
	CHECK(kvmuf_send_fds(sv[0], fds, KVMUF_MAX_PASS_FDS + 1, "x", 1) == -EINVAL, "254 fds");
	ret = kvmuf_send_fds(sv[0], &bad, 1, "x", 1);
	CHECK(ret == -EBADF, "bad fd: %d", ret);
	CHECK(kvmuf_send_fds(-1, NULL, 0, "x", 1) == -EBADF, "bad socket");
	CHECK(kvmuf_recv_fds(sv[1], &got, 1, &n, NULL, 1) == -EINVAL, "recv msg NULL");
	CHECK(kvmuf_recv_fds(sv[1], &got, 1, &n, &b, 0) == -EINVAL, "recv len 0");
	CHECK(kvmuf_recv_fds(sv[1], NULL, 1, &n, &b, 1) == -EINVAL, "recv fds NULL");
	CHECK(kvmuf_recv_fds(sv[1], &got, 1, NULL, &b, 1) == -EINVAL, "recv nfds NULL");
	CHECK(kvmuf_recv_fds(-1, &got, 1, &n, &b, 1) == -EBADF, "recv bad socket");
	close(sv[0]);
	close(sv[1]);
}

/* The most fds one message can carry. */
static void test_max_fds(void)
{
	int sv[2], fds[KVMUF_MAX_PASS_FDS], got[KVMUF_MAX_PASS_FDS], i, before, ret;
	unsigned int n = 0;
	char b;

	pair(SOCK_SEQPACKET, sv);
	before = count_fds();
	for (i = 0; i < KVMUF_MAX_PASS_FDS; i++)
		fds[i] = sv[0];	/* the same fd many times is fine */
	ret = kvmuf_send_fds(sv[0], fds, KVMUF_MAX_PASS_FDS, "m", 1);
	CHECK(ret == 0, "send %d fds: %s", KVMUF_MAX_PASS_FDS, kvmuf_strerror(ret));
	ret = kvmuf_recv_fds(sv[1], got, KVMUF_MAX_PASS_FDS, &n, &b, 1);
	CHECK(ret == 1 && n == KVMUF_MAX_PASS_FDS, "recv: %d, %u fds", ret, n);
	for (i = 0; i < (int)n; i++)
		close(got[i]);
	CHECK(count_fds() == before, "fds leaked");
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_DFL);
	test_pipe(SOCK_SEQPACKET);
	test_pipe(SOCK_STREAM);
	test_pipe(SOCK_DGRAM);
	test_several();
	test_too_much();
	test_eof_and_epipe();
	test_bad_args();
	test_max_fds();
	if (!failures)
		printf("  fd passing: ok\n");
	return check_summary("test_fdpass");
}
