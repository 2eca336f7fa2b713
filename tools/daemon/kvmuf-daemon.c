// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-daemon - the reference page server for kvm-userfault.
 *
 * Listens on a unix socket, accepts one VMM, receives its attached
 * /dev/kvm-userfault fd (and the guest memfd) as described in handoff.h,
 * and serves the guest's missing pages from a snapshot image (snapshot.h)
 * with worker threads (serve.h) until the VMM closes the socket, the VM goes
 * away (poll reports EPOLLHUP), or SIGTERM/SIGINT.  Then it prints one
 * summary line on stdout.
 *
 * Exit status: 0 served without duplicates (unless the state was adopted: see
 * KVMUF_HANDOFF_ADOPTED), out-of-range faults or errors;
 * 1 otherwise or on a setup failure; 2 bad arguments.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kvmuf.h"
#include "kvmuf_backstop.h"
#include "kvmuf_handoff.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"
#include "kvmuf_source.h"
#include "kvmuf_workingset.h"
#include "cli.h"

#define PROG			"kvmuf-daemon"
#define EXIT_USAGE		2
#define DEFAULT_THREADS		2
#define MAX_THREADS		1024
#define DEFAULT_POLL_MS		50
#define HANDOFF_TIMEOUT_MS	10000
#define INFO_REFRESH_MS		250
#define MAX_LOGGED		16
#define DEFAULT_SOURCE_TIMEOUT_MS	30000

struct options {
	const char *sock_path;
	const char *snap_path;
	unsigned int threads;
	int poll_ms;
	unsigned int fetch_delay_us;
	unsigned int accept_timeout_s;	/* 0: forever */
	int busy_poll;
	int quiet;
	unsigned int connections;	/* NBD connections; 0: one per thread */
	unsigned int source_timeout_ms;	/* a read not answered in this time fails */
	unsigned int readahead;		/* pages after each faulted one */
	unsigned int prefetch_threads;
	int sweep;			/* --prefetch: every page, after the replay */
	uint64_t prefetch_rate;		/* pages/s; 0: no limit */
	const char *record_path;
	const char *replay_path;
};

static struct options opt;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " -l SOCKET -f SOURCE [-T THREADS] [-p POLL_MS | -B] [-d USEC]\n"
		"       [--accept-timeout SECONDS] [--connections N] [--source-timeout MS]\n"
		"       [--readahead PAGES] [--prefetch THREADS] [--prefetch-rate PAGES]\n"
		"       [--replay FILE] [--record FILE] [-q]\n"
		"  -l, --listen SOCKET     unix socket to listen on (SOCK_SEQPACKET); one VMM\n"
		"                          connects and hands over its attached /dev/kvm-userfault\n"
		"                          fd (and guest memfd, userfaultfd)\n"
		"  -f, --snapshot SOURCE   the snapshot image (kvmuf-mksnap) to serve pages from: a\n"
		"                          file, or an NBD export holding one, as a URI:\n"
		"                          nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH\n"
		"                          (e.g. served by nbdkit file SNAPSHOT, qemu-nbd, nbd-server)\n"
		"  --connections N         NBD connections (default: one per thread and prefetch\n"
		"                          thread, so demand reads never queue behind prefetch)\n"
		"  --source-timeout MS     a read of the NBD source not answered in MS ms fails,\n"
		"                          and ends the daemon (default %d; 0: wait for ever)\n"
		"  --readahead PAGES       with each faulted page also bring in the next PAGES\n"
		"                          (0..%d, in the same read; default 0)\n"
		"  --prefetch THREADS      threads that bring in every page not asked for yet, in\n"
		"                          the background (after the --replay list), starting no\n"
		"                          batch while a fault is being served (0..%d; default 0)\n"
		"  --prefetch-rate PAGES   at most PAGES pages per second of prefetch (default: no\n"
		"                          limit)\n"
		"  --replay FILE           prefetch the pages of this working set first, in its\n"
		"                          order (a --record file); without --prefetch, one thread\n"
		"                          and only those\n"
		"  --record FILE           write the pages the vCPUs faulted, in the order of their\n"
		"                          first fault, to FILE at the end (a working set, see\n"
		"                          kvmuf_workingset.h); record with no prefetch, whose pages\n"
		"                          never fault\n"
		"  -T, --threads THREADS   worker threads; worker w drains rings r with\n"
		"                          r %% THREADS == w (default %d, at most one per ring)\n"
		"  -p, --poll-ms MS        idle sleep of a worker in poll(), 1..1000 ms (default %d)\n"
		"  -B, --busy-poll         workers spin on their rings, never sleep (a CPU each;\n"
		"                          no wakeup between a fault and its worker)\n"
		"  -d, --delay-us USEC     artificial delay per read of the source (one page, or\n"
		"                          a page with its readahead), as demand_paging_test -d\n"
		"                          (default 0)\n"
		"  --accept-timeout S      give up if no VMM connects within S seconds (default:\n"
		"                          wait forever)\n"
		"  -q, --quiet             print only the summary line\n"
		"  -h, --help              this help\n"
		"  -V, --version           the version\n"
		"Serves until the VMM closes the socket, the VM goes away, or SIGTERM/SIGINT;\n"
		"then prints one summary line on stdout.\n"
		"exit status: 0 no duplicates, out-of-range faults or errors; 1 otherwise or setup\n"
		"failure; 2 bad arguments\n",
		DEFAULT_SOURCE_TIMEOUT_MS, KVMUF_SERVE_MAX_READAHEAD, KVMUF_SERVE_MAX_PREFETCHERS,
		DEFAULT_THREADS, DEFAULT_POLL_MS);
}

/* Print "PROG: message" and the usage, exit with EXIT_USAGE. */
#define bad_usage(...) cli_bad_usage(PROG, usage, EXIT_USAGE, __VA_ARGS__)

/* Informational output (stderr), silenced by -q. */
__attribute__((format(printf, 1, 2)))
static void info(const char *fmt, ...)
{
	va_list ap;

	if (opt.quiet)
		return;
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* Errors (stderr), always printed. */
__attribute__((format(printf, 1, 2)))
static void err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void parse_args(int argc, char **argv)
{
	uint64_t v;
	int c;

	opt = (struct options) {
		.threads = DEFAULT_THREADS,
		.poll_ms = DEFAULT_POLL_MS,
		.source_timeout_ms = DEFAULT_SOURCE_TIMEOUT_MS,
	};
	enum {
		OPT_ACCEPT_TIMEOUT = 256,	/* -w means --write in kvmuf-vmm */
		OPT_CONNECTIONS, OPT_READAHEAD, OPT_PREFETCH, OPT_PREFETCH_RATE, OPT_RECORD,
		OPT_REPLAY, OPT_SOURCE_TIMEOUT,
	};
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "snapshot", required_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 'T' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "busy-poll", no_argument, NULL, 'B' },
		{ "delay-us", required_argument, NULL, 'd' },
		{ "accept-timeout", required_argument, NULL, OPT_ACCEPT_TIMEOUT },
		{ "connections", required_argument, NULL, OPT_CONNECTIONS },
		{ "readahead", required_argument, NULL, OPT_READAHEAD },
		{ "prefetch", required_argument, NULL, OPT_PREFETCH },
		{ "prefetch-rate", required_argument, NULL, OPT_PREFETCH_RATE },
		{ "record", required_argument, NULL, OPT_RECORD },
		{ "replay", required_argument, NULL, OPT_REPLAY },
		{ "source-timeout", required_argument, NULL, OPT_SOURCE_TIMEOUT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "l:f:T:p:Bd:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': opt.sock_path = optarg; break;
		case 'f': opt.snap_path = optarg; break;
		case 'T':
			if (cli_parse_range(optarg, 10, 1, MAX_THREADS, &v) < 0)
				bad_usage("-T: need a thread count from 1 to %d", MAX_THREADS);
			opt.threads = (unsigned int)v;
			break;
		case 'p':
			if (cli_parse_range(optarg, 10, 1, 1000, &v) < 0)
				bad_usage("-p: need 1..1000 ms");
			opt.poll_ms = (int)v;
			break;
		case 'd':
			if (cli_parse_range(optarg, 10, 0, 10000000, &v) < 0)
				bad_usage("-d: need 0..10000000 us");
			opt.fetch_delay_us = (unsigned int)v;
			break;
		case OPT_ACCEPT_TIMEOUT:
			if (cli_parse_range(optarg, 10, 1, 86400, &v) < 0)
				bad_usage("--accept-timeout: need 1..86400 seconds");
			opt.accept_timeout_s = (unsigned int)v;
			break;
		case OPT_CONNECTIONS:
			if (cli_parse_range(optarg, 10, 1, KVMUF_SOURCE_MAX_CONNECTIONS, &v) < 0)
				bad_usage("--connections: need 1..%u", KVMUF_SOURCE_MAX_CONNECTIONS);
			opt.connections = (unsigned int)v;
			break;
		case OPT_READAHEAD:
			if (cli_parse_range(optarg, 10, 0, KVMUF_SERVE_MAX_READAHEAD, &v) < 0)
				bad_usage("--readahead: need 0..%d pages", KVMUF_SERVE_MAX_READAHEAD);
			opt.readahead = (unsigned int)v;
			break;
		case OPT_PREFETCH:
			if (cli_parse_range(optarg, 10, 0, KVMUF_SERVE_MAX_PREFETCHERS, &v) < 0)
				bad_usage("--prefetch: need 0..%d threads", KVMUF_SERVE_MAX_PREFETCHERS);
			opt.prefetch_threads = (unsigned int)v;
			opt.sweep = v > 0;
			break;
		case OPT_PREFETCH_RATE:
			if (cli_parse_range(optarg, 10, 1, UINT32_MAX, &v) < 0)
				bad_usage("--prefetch-rate: need a page rate >= 1");
			opt.prefetch_rate = v;
			break;
		case OPT_SOURCE_TIMEOUT:
			if (cli_parse_range(optarg, 10, 0, 3600000, &v) < 0)
				bad_usage("--source-timeout: need 0..3600000 ms");
			opt.source_timeout_ms = (unsigned int)v;
			break;
		case OPT_RECORD: opt.record_path = optarg; break;
		case OPT_REPLAY: opt.replay_path = optarg; break;
		case 'B': opt.busy_poll = 1; break;
		case 'q': opt.quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': cli_print_version(PROG); exit(0);
		default:  usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!opt.sock_path)
		bad_usage("-l SOCKET is required");
	if (!opt.snap_path)
		bad_usage("-f SOURCE is required");
	if (opt.replay_path && !opt.prefetch_threads)
		opt.prefetch_threads = 1;
	if (opt.prefetch_rate && !opt.prefetch_threads)
		bad_usage("--prefetch-rate limits --prefetch or --replay: give one");
}

/* ---- setup ---- */

/* SIGTERM, SIGINT and SIGHUP arrive through a signalfd (blocked in every thread). */
static int setup_signals(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		err("sigprocmask: %s", strerror(errno));
		return -1;
	}
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		err("signalfd: %s", strerror(errno));
	return fd;
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		err("%s: socket path too long (max %zu bytes)", path,
		    sizeof(addr.sun_path) - 1);
		return -1;
	}
	strcpy(addr.sun_path, path);
	/* A stale socket of an earlier run is replaced; anything else is not. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			err("%s: exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err("socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 1) < 0) {
		err("%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Name of a signal read from the signalfd, or NULL if none is pending. */
static const char *take_signal(int sigfd)
{
	struct signalfd_siginfo si;

	if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return NULL;
	switch (si.ssi_signo) {
	case SIGTERM: return "SIGTERM";
	case SIGINT:  return "SIGINT";
	case SIGHUP:  return "SIGHUP";
	}
	return "a signal";
}

/*
 * Wait for @fd to become readable, watching the signalfd: 1 readable,
 * 0 timeout, -1 signal (*@sig names it) or poll error.
 */
static int wait_readable(int fd, int sigfd, int timeout_ms, const char **sig)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = sigfd, .events = POLLIN },
	};

	for (;;) {
		int ret = poll(p, 2, timeout_ms);

		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			err("poll: %s", strerror(errno));
			*sig = NULL;
			return -1;
		}
		if (ret == 0)
			return 0;
		if (p[1].revents & POLLIN) {
			*sig = take_signal(sigfd);
			if (*sig)
				return -1;
		}
		if (p[0].revents)
			return 1;
	}
}

/* What the daemon serves, filled from the handoff and the snapshot. */
struct session {
	struct kvmuf_source *src;	/* the snapshot image: a file, or an NBD export */
	const struct kvmuf_snap_header *hdr;
	struct kvmuf_handoff h;
	struct kvmuf *k;
	void *mem;			/* memfd mapping, or NULL */
	int mem_fd;			/* the memfd (pages are written with pwrite) */
	int uffd;			/* the VMM's userfaultfd (the backstop), or -1 */
	size_t mem_size;
	struct kvmuf_info info;		/* last good KVMUF_GET_INFO */
	int have_info;
};

static void refresh_info(struct session *ss)
{
	struct kvmuf_info i;

	if (kvmuf_info(ss->k, &i) == 0) {
		ss->info = i;
		ss->have_info = 1;
	}
}

/*
 * Check the handoff against the snapshot and take the fds: 0, or negative
 * errno with @msg set (the fds are closed then).
 */
static int take_handoff(struct session *ss, const struct kvmuf_handoff_fds *fds, char *msg,
			size_t len)
{
	int devfd = fds->dev, memfd = fds->memfd, uffd = fds->uffd;
	const struct kvmuf_handoff *h = &ss->h;
	const struct kvmuf_snap_header *sh = ss->hdr;
	int ret;

	if ((h->flags & KVMUF_HANDOFF_SEED) && h->seed != sh->seed) {
		snprintf(msg, len, "snapshot seed 0x%llx, VMM seed 0x%llx",
			 (unsigned long long)sh->seed, (unsigned long long)h->seed);
		ret = -EINVAL;
		goto fail;
	}
	/*
	 * With the backstop every page goes in through the userfaultfd: no memfd mapping.
	 * Nor after an adoption: a page the dead server installed may be the guest's
	 * now, and only KVMUF_RESOLVE_COPY refuses to write a present page.
	 */
	if ((uffd >= 0 || (h->flags & KVMUF_HANDOFF_ADOPTED)) && memfd >= 0) {
		close(memfd);
		memfd = -1;
	}
	if (memfd >= 0) {
		struct stat st;

		ss->mem_size = (size_t)(h->npages * KVMUF_SNAP_PAGE);
		if (fstat(memfd, &st) < 0) {
			ret = -errno;
			snprintf(msg, len, "memfd: fstat: %s", strerror(-ret));
			goto fail;
		}
		if ((uint64_t)st.st_size < h->memfd_offset + ss->mem_size) {
			snprintf(msg, len, "memfd of %llu bytes is smaller than the guest memory",
				 (unsigned long long)st.st_size);
			ret = -EINVAL;
			goto fail;
		}
		ss->mem = mmap(NULL, ss->mem_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, memfd, (off_t)h->memfd_offset);
		if (ss->mem == MAP_FAILED) {
			ss->mem = NULL;
			ret = -errno;
			snprintf(msg, len, "memfd: mmap: %s", strerror(-ret));
			goto fail;
		}
		ss->mem_fd = memfd;
		memfd = -1;
	}
	ret = kvmuf_from_fd(devfd, &ss->k);
	if (ret < 0) {
		snprintf(msg, len, "device fd: %s", kvmuf_strerror(ret));
		goto fail;
	}
	ss->uffd = uffd;
	return 0;
fail:
	if (memfd >= 0)
		close(memfd);
	if (uffd >= 0)
		close(uffd);
	close(devfd);
	return ret;
}

/* Accept the VMM and take its handoff: the connected socket, or -1. */
static int accept_vmm(int lsock, int sigfd, struct session *ss)
{
	int timeout = opt.accept_timeout_s ? (int)opt.accept_timeout_s * 1000 : -1;
	struct kvmuf_handoff_fds fds;
	int sock, ret;
	const char *sig = NULL;
	char msg[96] = "";

	ret = wait_readable(lsock, sigfd, timeout, &sig);
	if (ret <= 0) {
		if (ret == 0)
			err("no VMM connected within %u s", opt.accept_timeout_s);
		else if (sig)
			err("%s before a VMM connected", sig);
		return -1;
	}
	sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0) {
		err("accept: %s", strerror(errno));
		return -1;
	}

	ret = wait_readable(sock, sigfd, HANDOFF_TIMEOUT_MS, &sig);
	if (ret <= 0) {
		if (ret == 0)
			err("the VMM sent no handoff within %d s", HANDOFF_TIMEOUT_MS / 1000);
		else if (sig)
			err("%s during the handoff", sig);
		close(sock);
		return -1;
	}
	ret = kvmuf_handoff_recv(sock, &ss->h, &fds, msg, sizeof(msg));
	if (ret == 0)
		ret = take_handoff(ss, &fds, msg, sizeof(msg));
	if (ret < 0) {
		err("refusing the VMM: %s", msg);
		kvmuf_handoff_ack_send(sock, ret, 0, ss->hdr->base_gfn,
				       ss->hdr->npages, msg);
		close(sock);
		return -1;
	}
	return sock;
}

/* ---- serving ---- */

/*
 * Serve until the VMM closes the socket, the server ends on its own (VM
 * gone), or a signal.  Returns why it stopped.
 */
static const char *serve_loop(int sock, int sigfd, struct kvmuf_server *srv,
			      struct session *ss)
{
	struct pollfd p[3] = {
		{ .fd = sock, .events = POLLIN | POLLRDHUP },
		{ .fd = sigfd, .events = POLLIN },
		{ .fd = kvmuf_server_done_fd(srv), .events = POLLIN },
	};
	const char *sig;
	char buf[256];

	for (;;) {
		int ret = poll(p, 3, INFO_REFRESH_MS);

		if (ret < 0 && errno != EINTR) {
			err("poll: %s", strerror(errno));
			return "a poll error";
		}
		refresh_info(ss);
		if (ret <= 0)
			continue;
		if (p[2].revents & POLLIN) {
			struct kvmuf_server_stats st;

			kvmuf_server_stats(srv, &st);
			return st.detached ? "the VM is gone (device fd detached)" :
					     "a fatal serving error";
		}
		if ((p[1].revents & POLLIN) && (sig = take_signal(sigfd)))
			return sig;
		if (p[0].revents) {
			ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return "the VMM closed the socket";
			if (n > 0)
				info("ignoring %zd unexpected bytes from the VMM", n);
		}
	}
}

static void warn_coverage(const struct session *ss)
{
	const struct kvmuf_snap_header *sh = ss->hdr;
	uint64_t lo = ss->h.base_gfn, hi = ss->h.base_gfn + ss->h.npages;
	uint64_t slo = sh->base_gfn, shi = sh->base_gfn + sh->npages;
	uint64_t covered = 0;

	if (slo < hi && lo < shi)
		covered = (hi < shi ? hi : shi) - (lo > slo ? lo : slo);
	if (covered < ss->h.npages)
		info("warning: %llu of %llu guest pages are not in the snapshot; their faults will be out-of-range",
		     (unsigned long long)(ss->h.npages - covered),
		     (unsigned long long)ss->h.npages);
}

/* One NBD connection per thread that reads, unless told. */
static unsigned int connections(void)
{
	unsigned int n = opt.threads + opt.prefetch_threads;

	if (opt.connections)
		return opt.connections;
	return n < KVMUF_SOURCE_MAX_CONNECTIONS ? n : KVMUF_SOURCE_MAX_CONNECTIONS;
}

/* --replay: the GFNs of the working set, in order (malloc()ed). 0 or -1 (said why). */
static int load_replay(uint64_t **gfns, size_t *n)
{
	struct kvmuf_ws_entry *e;
	char msg[256];
	int ret;

	ret = kvmuf_ws_load(opt.replay_path, &e, n, msg, sizeof(msg));
	if (ret < 0) {
		err("--replay: %s", msg);
		return -1;
	}
	*gfns = malloc((*n ? *n : 1) * sizeof(**gfns));
	if (!*gfns) {
		err("--replay: out of memory");
		free(e);
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		(*gfns)[i] = e[i].gfn;
	free(e);
	info("replaying %zu pages of %s first", *n, opt.replay_path);
	return 0;
}

/* --record: write the working set; 0 or -1 (said why). */
static int save_working_set(struct kvmuf_server *srv)
{
	struct kvmuf_ws_entry *e;
	char msg[256];
	size_t n;
	int ret;

	ret = kvmuf_server_working_set(srv, &e, &n);
	if (ret == 0)
		ret = kvmuf_ws_save(opt.record_path, e, n, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "%s", strerror(-ret));
	if (ret < 0) {
		err("--record: %s", msg);
		free(e);
		return -1;
	}
	info("recorded %zu pages in %s", n, opt.record_path);
	free(e);
	return 0;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

int main(int argc, char **argv)
{
	struct kvmuf_server_stats st = { 0 };
	struct kvmuf_server_config cfg;
	struct kvmuf_server *srv = NULL;
	struct session ss = { .mem_fd = -1, .uffd = -1 };
	struct kvmuf_serve_progress pr;
	struct kvmuf_source_stats sst;
	struct kvmuf_serve_plan plan;
	uint64_t *replay = NULL;
	size_t nr_replay = 0;
	int lsock, sock, sigfd, ret, ok, record_failed;
	const char *kind;
	char msg[96];
	const char *why;

	parse_args(argc, argv);
	sigfd = setup_signals();
	if (sigfd < 0)
		return EXIT_FAILURE;
	ret = kvmuf_source_open(opt.snap_path, connections(), &ss.src, msg, sizeof(msg));
	if (ret < 0) {
		err("%s", msg);
		return EXIT_FAILURE;
	}
	ss.hdr = kvmuf_source_header(ss.src);
	/* A server that stops answering must end the daemon, not hold its faults for ever. */
	kvmuf_source_set_timeout(ss.src, opt.source_timeout_ms);
	if (opt.replay_path && load_replay(&replay, &nr_replay) < 0)
		return EXIT_FAILURE;
	lsock = listen_on(opt.sock_path);
	if (lsock < 0)
		return EXIT_FAILURE;
	info("listening on %s; snapshot %s (%s): %llu pages from gfn 0x%llx, seed 0x%llx",
	     opt.sock_path, opt.snap_path, kvmuf_source_kind(ss.src), (unsigned long long)ss.hdr->npages,
	     (unsigned long long)ss.hdr->base_gfn,
	     (unsigned long long)ss.hdr->seed);

	/* One VMM only: stop listening once it is connected. */
	sock = accept_vmm(lsock, sigfd, &ss);
	close(lsock);
	unlink(opt.sock_path);
	if (sock < 0)
		return EXIT_FAILURE;

	refresh_info(&ss);
	cfg = (struct kvmuf_server_config) {
		.ctx = ss.k,
		.nr_threads = opt.threads,
		.geom = {
			.snap_base_gfn = ss.hdr->base_gfn,
			.snap_npages = ss.hdr->npages,
			.mem_base_gfn = ss.h.base_gfn,
			.mem_npages = ss.h.npages,
		},
		.mem = ss.mem,
		.use_mem_fd = ss.mem != NULL,
		.populate = ss.mem != NULL,
		.mem_fd = ss.mem_fd,
		.mem_fd_offset = ss.h.memfd_offset,
		.use_uffd = ss.uffd >= 0,
		.uffd = ss.uffd,
		.uffd_hva = ss.h.uffd_hva,
		.busy_poll = opt.busy_poll,
		.poll_ms = opt.poll_ms,
		.fetch_delay_us = opt.fetch_delay_us,
		.log_prefix = opt.quiet ? NULL : PROG,
		.max_logged = MAX_LOGGED,
	};
	plan = (struct kvmuf_serve_plan) {
		.size = sizeof(plan),
		.readahead_pages = opt.readahead,
		.prefetch_threads = opt.prefetch_threads,
		.sweep = opt.sweep,
		.prefetch_rate = opt.prefetch_rate,
		.replay = replay,
		.nr_replay = nr_replay,
		.record = opt.record_path != NULL,
	};
	/* A file is installed from its mapping, an NBD export read many pages at once. */
	kvmuf_source_serve(ss.src, &cfg, &plan);
	ret = kvmuf_server_start_plan(&cfg, &plan, &srv);
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "cannot start the server: %s",
			 kvmuf_strerror(ret));
		err("%s", msg);
		kvmuf_handoff_ack_send(sock, ret, 0, ss.hdr->base_gfn,
				       ss.hdr->npages, msg);
		kvmuf_close(ss.k);
		return EXIT_FAILURE;
	}
	/*
	 * Threads of the VMM that the dead server's userfaultfd messages were about wait
	 * for ever unless woken: woken, they fault again and we get the message.
	 */
	if ((ss.h.flags & KVMUF_HANDOFF_ADOPTED) && ss.uffd >= 0) {
		ret = kvmuf_backstop_wake(ss.uffd, ss.h.uffd_hva, ss.h.npages * KVMUF_SNAP_PAGE);
		if (ret < 0)
			err("waking the userfaultfd's waiters: %s", kvmuf_strerror(ret));
	}
	kvmuf_server_stats(srv, &st);
	ret = kvmuf_handoff_ack_send(sock, 0, st.threads, ss.hdr->base_gfn,
				     ss.hdr->npages, NULL);
	if (ret < 0)
		err("sending the ack: %s", kvmuf_strerror(ret));
	info("%s gfn 0x%llx-0x%llx (%llu pages, %u vCPUs, %s memory, %s, %s mode): %u rings, %u threads",
	     (ss.h.flags & KVMUF_HANDOFF_ADOPTED) ? "taking over" : "serving",
	     (unsigned long long)ss.h.base_gfn,
	     (unsigned long long)(ss.h.base_gfn + ss.h.npages - 1),
	     (unsigned long long)ss.h.npages, ss.h.nr_vcpus,
	     (ss.h.flags & KVMUF_HANDOFF_MEMFD) ? "memfd" : "anonymous",
	     ss.uffd >= 0 ? "userfaultfd backstop" : "module only",
	     (ss.h.attach_flags & KVMUF_ATTACH_EXIT) ? "exit" : "park",
	     kvmuf_nr_rings(ss.k), st.threads);
	warn_coverage(&ss);

	why = ret < 0 ? "the VMM is gone" : serve_loop(sock, sigfd, srv, &ss);
	info("stopping: %s", why);
	pr = (struct kvmuf_serve_progress) { .size = sizeof(pr) };
	kvmuf_server_progress(srv, &pr);
	record_failed = opt.record_path && save_working_set(srv) < 0;
	kvmuf_server_stop(srv, &st);
	refresh_info(&ss);
	kvmuf_close(ss.k);		/* the last reference detaches the VM */
	close(sock);
	if (ss.mem) {
		munmap(ss.mem, ss.mem_size);
		close(ss.mem_fd);
	}
	/* Ours only: the VMM keeps its own, so its memory stays registered. */
	if (ss.uffd >= 0)
		close(ss.uffd);
	kvmuf_source_stats(ss.src, &sst);
	kind = kvmuf_source_kind(ss.src);	/* a string literal: outlives the source */
	kvmuf_source_close(ss.src);
	free(replay);

	if (st.out_of_range)
		info("first out-of-range gfn 0x%llx", (unsigned long long)st.first_oor_gfn);
	if (st.duplicates)
		info("first duplicate gfn 0x%llx", (unsigned long long)st.first_dup_gfn);
	/*
	 * After an adoption a GFN may be reported twice (an entry the dead server never
	 * read, and the fault again once its notification was withdrawn): a duplicate
	 * then is no error. It is still never installed twice.
	 */
	ok = (ss.h.flags & KVMUF_HANDOFF_ADOPTED) ? !st.out_of_range && !st.errors :
						    kvmuf_server_stats_ok(&st);
	ok = ok && !record_failed;
	printf(PROG ": served %llu pages (%.1f MiB) in %.3f s by %u threads, through rings %llu, through userfaultfd %llu, faults %llu, deduped %llu, duplicates %llu, out-of-range %llu, unchanged %llu, errors %llu\n",
	       (unsigned long long)(st.ring_served + st.uffd_served),
	       (double)(st.ring_served + st.uffd_served) * KVMUF_SNAP_PAGE / (1024.0 * 1024.0),
	       st.seconds, st.threads, (unsigned long long)st.ring_served,
	       (unsigned long long)st.uffd_served, (unsigned long long)ss.info.faults,
	       (unsigned long long)ss.info.deduped,
	       (unsigned long long)st.duplicates,
	       (unsigned long long)st.out_of_range,
	       (unsigned long long)st.unchanged, (unsigned long long)st.errors);
	printf(PROG ": restore: demand %llu pages, readahead %llu, prefetched %llu (replayed %llu), joined %llu; %llu of %llu pages present (%llu at start)%s; fault to resolved p50 %.3f ms, p99 %.3f ms, max %.3f ms over %llu faults; last fault at %.1f ms, all present at %.1f ms; source %s: %llu reads, %llu requests, %.1f MiB, mean read %.3f ms\n",
	       (unsigned long long)pr.demand, (unsigned long long)pr.readahead,
	       (unsigned long long)pr.prefetched, (unsigned long long)pr.replayed,
	       (unsigned long long)pr.joined, (unsigned long long)pr.present,
	       (unsigned long long)pr.total, (unsigned long long)pr.present_at_start,
	       (ss.h.flags & KVMUF_HANDOFF_ADOPTED) ? ", adopted" : "",
	       ms(pr.fault_p50_ns), ms(pr.fault_p99_ns), ms(pr.fault_max_ns),
	       (unsigned long long)pr.faults_timed, ms(pr.last_fault_ns), ms(pr.all_present_ns),
	       kind,
	       (unsigned long long)sst.reads, (unsigned long long)sst.requests,
	       (double)sst.bytes / (1024.0 * 1024.0),
	       sst.reads ? ms(sst.read_ns / sst.reads) : 0.0);
	fflush(stdout);
	close(sigfd);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
