// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_source: the page sources (kvmuf_source.h) against real files and real NBD servers
 * (nbdkit, started here on unix sockets in a temporary directory, --exit-with-parent).
 *
 *   test_source [SNAPSHOT]
 *
 * SNAPSHOT is a kvmuf-mksnap image (a few hundred pages); without one the test writes
 * its own with kvmuf_snap_write. Exit 0 pass, 1 fail, 77 skip (no nbdkit).
 *
 * Every page read any way (read, read_runs with many runs in flight, fetch from several
 * threads; file and NBD) is checked against the pattern, and the NBD image against the
 * file byte for byte; 8 reads in flight on one connection to a server that delays every
 * read by 20 ms must take clearly less than 8 serial reads; bad specs, missing servers,
 * exports that are no snapshot, frames out of range, server errors and a server killed
 * in the middle of a call, a server slower than the timeout all give a negative errno,
 * never a success or a crash.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kvmuf_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE		KVMUF_SNAP_PAGE
#define DEF_PAGES	300
#define DELAY_MS	20
#define DELAY_RUNS	8
#define FETCH_THREADS	4

extern char **environ;

static int failures;
static char tmpdir[64];

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		failures++;						\
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *xalloc(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		perror("malloc");
		exit(1);
	}
	return p;
}

/* ---- nbdkit ---------------------------------------------------------------------- */

static int can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * Start `nbdkit -f --exit-with-parent -U DIR/NAME.sock ARGS...` and wait until it
 * accepts connections. Its URI goes to uri[len]; returns its pid.
 */
static pid_t nbdkit(const char *name, char *uri, size_t len, const char *const *args)
{
	char sock[128];
	const char *argv[24] = { "nbdkit", "-f", "--exit-with-parent", "-U", sock };
	posix_spawn_file_actions_t fa;
	size_t n = 5;
	pid_t pid;
	int status, ret;

	snprintf(sock, sizeof(sock), "%s/%s.sock", tmpdir, name);
	while (*args && n < sizeof(argv) / sizeof(argv[0]) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	/* Its complaints (our readiness probes, injected errors) go to /dev/null. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ret = posix_spawnp(&pid, "nbdkit", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret) {
		printf("FAIL posix_spawnp nbdkit: %s\n", strerror(ret));
		exit(1);
	}
	for (int i = 0; i < 1000 && !can_connect(sock); i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			printf("FAIL nbdkit %s exited (status 0x%x)\n", name, status);
			exit(1);
		}
		usleep(5000);
	}
	if (!can_connect(sock)) {
		printf("FAIL nbdkit %s does not accept connections\n", name);
		exit(1);
	}
	snprintf(uri, len, "nbd+unix:///?socket=%s", sock);
	return pid;
}

static void nbdkit_stop(pid_t pid, int sig)
{
	kill(pid, sig);
	waitpid(pid, NULL, 0);
}

/* ---- checks -------------------------------------------------------------------- */

/* Pages of @buf that do not hold the pattern of gfn .. gfn + n - 1. */
static uint64_t bad_pages(const void *buf, uint64_t gfn, uint64_t n, uint64_t seed,
			  const char *what)
{
	uint64_t bad = 0;

	for (uint64_t i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)buf + i * PAGE;
		long off = kvmuf_snap_check_page(p, gfn + i, seed);
		char desc[96];

		if (off < 0)
			continue;
		if (!bad++)
			printf("  %s: gfn 0x%llx differs at byte %ld: it holds %s\n", what,
			       (unsigned long long)(gfn + i), off,
			       kvmuf_snap_describe(p, seed, desc, sizeof(desc)));
	}
	return bad;
}

struct fetch_arg {
	struct kvmuf_source *s;
	uint64_t first, n, bad;
	int err;
};

static void *fetch_thread(void *p)
{
	struct fetch_arg *a = p;
	const struct kvmuf_snap_header *h = kvmuf_source_header(a->s);
	unsigned char *page = xalloc(PAGE);

	for (uint64_t i = 0; i < a->n; i++) {
		int ret = kvmuf_source_fetch(a->s, a->first + i, page);

		if (ret < 0 && !a->err)
			a->err = ret;
		if (ret == 0)
			a->bad += bad_pages(page, a->first + i, 1, h->seed, "fetch");
	}
	free(page);
	return NULL;
}

/*
 * Every page of @s, read every way: one page at a time on each connection, all at once,
 * as many runs of 1..7 pages in flight together (last run first), and fetched by
 * FETCH_THREADS threads. The whole image goes to @all (npages pages).
 */
static void verify_all(struct kvmuf_source *s, unsigned char *all)
{
	const struct kvmuf_snap_header *h = kvmuf_source_header(s);
	uint64_t base = h->base_gfn, np = h->npages, seed = h->seed, nr = 0;
	unsigned int nc = kvmuf_source_connections(s);
	struct kvmuf_source_run *runs = xalloc(np * sizeof(*runs));
	unsigned char *buf = xalloc(np * PAGE);
	struct kvmuf_source_stats st0, st;
	int ret;

	kvmuf_source_stats(s, &st0);
	for (uint64_t i = 0; i < np; i++) {
		ret = kvmuf_source_read(s, (unsigned int)(i % nc), base + i, 1, buf + i * PAGE);
		CHECK(ret == 0, "%s read of gfn 0x%llx: %d", kvmuf_source_kind(s),
		      (unsigned long long)(base + i), ret);
	}
	CHECK(bad_pages(buf, base, np, seed, "read") == 0, "%s: page by page",
	      kvmuf_source_kind(s));

	memset(all, 0, np * PAGE);
	ret = kvmuf_source_read(s, nc - 1, base, np, all);
	CHECK(ret == 0, "%s read of all %llu pages: %d", kvmuf_source_kind(s),
	      (unsigned long long)np, ret);
	CHECK(bad_pages(all, base, np, seed, "read all") == 0, "%s: all at once",
	      kvmuf_source_kind(s));

	/* Runs of 1..7 pages, listed last run first, all in one call. */
	memset(buf, 0, np * PAGE);
	for (uint64_t i = 0, len = 1; i < np; i += len, len = len % 7 + 1) {
		if (len > np - i)
			len = np - i;
		runs[nr++] = (struct kvmuf_source_run){ .gfn = base + i, .npages = len,
							.buf = buf + i * PAGE, .error = 1 };
	}
	for (uint64_t i = 0; i < nr / 2; i++) {
		struct kvmuf_source_run t = runs[i];

		runs[i] = runs[nr - 1 - i];
		runs[nr - 1 - i] = t;
	}
	ret = kvmuf_source_read_runs(s, 0, runs, nr);
	CHECK(ret == 0, "%s read_runs (%llu runs): %d", kvmuf_source_kind(s),
	      (unsigned long long)nr, ret);
	for (uint64_t i = 0; i < nr; i++)
		CHECK(runs[i].error == 0, "run %llu: %d", (unsigned long long)i, runs[i].error);
	CHECK(bad_pages(buf, base, np, seed, "read_runs") == 0, "%s: %llu runs in flight",
	      kvmuf_source_kind(s), (unsigned long long)nr);

	/* fetch(), FETCH_THREADS threads on a quarter each. */
	{
		struct fetch_arg a[FETCH_THREADS];
		pthread_t t[FETCH_THREADS];
		uint64_t per = np / FETCH_THREADS;

		for (int i = 0; i < FETCH_THREADS; i++) {
			a[i] = (struct fetch_arg){ .s = s, .first = base + i * per,
						   .n = i == FETCH_THREADS - 1 ? np - i * per : per };
			pthread_create(&t[i], NULL, fetch_thread, &a[i]);
		}
		for (int i = 0; i < FETCH_THREADS; i++) {
			pthread_join(t[i], NULL);
			CHECK(a[i].err == 0 && a[i].bad == 0, "%s fetch thread %d: error %d, "
			      "%llu bad pages", kvmuf_source_kind(s), i, a[i].err,
			      (unsigned long long)a[i].bad);
		}
	}

	kvmuf_source_stats(s, &st);
	/* np single reads, 1 whole, 1 read_runs, np fetches */
	CHECK(st.reads - st0.reads == 2 * np + 2, "reads %llu",
	      (unsigned long long)(st.reads - st0.reads));
	CHECK(st.runs - st0.runs == 2 * np + 1 + nr, "runs %llu",
	      (unsigned long long)(st.runs - st0.runs));
	CHECK(st.pages - st0.pages == 4 * np, "pages %llu",
	      (unsigned long long)(st.pages - st0.pages));
	CHECK(st.bytes - st0.bytes == 4 * np * PAGE, "bytes");
	CHECK(st.errors == st0.errors, "errors %llu", (unsigned long long)st.errors);
	CHECK(st.max_read_ns > 0 && st.read_ns >= st.max_read_ns, "latency counters");
	printf("  %s: %llu pages verified 4 ways (%llu runs in one call, %u threads "
	       "fetching), %llu NBD requests, mean call %.1f us, max %.1f us\n",
	       kvmuf_source_kind(s), (unsigned long long)np, (unsigned long long)nr,
	       FETCH_THREADS, (unsigned long long)(st.requests - st0.requests),
	       (double)(st.read_ns - st0.read_ns) / (double)(st.reads - st0.reads) / 1e3,
	       st.max_read_ns / 1e3);
	free(runs);
	free(buf);
}

/* Open must fail with a negative errno (== @want if nonzero) and say why. */
static void open_fails(const char *spec, unsigned int conns, int want, const char *needle)
{
	struct kvmuf_source *s = (struct kvmuf_source *)1;
	char err[256] = "";
	int ret = kvmuf_source_open(spec, conns, &s, err, sizeof(err));

	CHECK(ret < 0 && s == NULL, "%s opened (%d)", spec, ret);
	if (want)
		CHECK(ret == want, "%s: %d (%s), expected %d", spec, ret, err, want);
	CHECK(err[0] && !strchr(err, '\n'), "%s: no one-line reason", spec);
	if (needle)
		CHECK(strstr(err, needle), "%s: \"%s\" does not say \"%s\"", spec, err, needle);
	printf("  refused %s: %d: %s\n", spec, ret, err);
	if (ret == 0)
		kvmuf_source_close(s);
}

static struct kvmuf_source *open_ok(const char *spec, unsigned int conns)
{
	struct kvmuf_source *s = NULL;
	char err[256] = "";
	int ret = kvmuf_source_open(spec, conns, &s, err, sizeof(err));

	if (ret < 0) {
		printf("FAIL open %s: %d: %s\n", spec, ret, err);
		exit(1);
	}
	return s;
}

static void range_errors(struct kvmuf_source *s)
{
	const struct kvmuf_snap_header *h = kvmuf_source_header(s);
	uint64_t base = h->base_gfn, np = h->npages;
	unsigned char *buf = xalloc(3 * PAGE);
	struct kvmuf_source_run runs[3] = {
		{ .gfn = base, .npages = 1, .buf = buf },
		{ .gfn = base + np - 1, .npages = 2, .buf = buf + PAGE },	/* past the end */
		{ .gfn = base + 1, .npages = 1, .buf = buf + 2 * PAGE },
	};
	const char *k = kvmuf_source_kind(s);
	int ret;

	CHECK(kvmuf_source_read(s, 0, base - 1, 1, buf) == -ERANGE, "%s: gfn before", k);
	CHECK(kvmuf_source_read(s, 0, base + np, 1, buf) == -ERANGE, "%s: gfn after", k);
	CHECK(kvmuf_source_read(s, 0, base + np - 1, 2, buf) == -ERANGE, "%s: across end", k);
	CHECK(kvmuf_source_read(s, 0, base, UINT64_MAX, buf) == -ERANGE, "%s: huge", k);
	CHECK(kvmuf_source_read(s, 0, UINT64_MAX, 2, buf) == -ERANGE, "%s: wrap", k);
	CHECK(kvmuf_source_read(s, 0, base, 0, buf) == -EINVAL, "%s: 0 pages", k);
	CHECK(kvmuf_source_read(s, kvmuf_source_connections(s), base, 1, buf) == -EINVAL,
	      "%s: bad connection", k);
	CHECK(kvmuf_source_fetch(s, base + np, buf) == -ERANGE, "%s: fetch out of range", k);
	memset(buf, 0, 3 * PAGE);
	ret = kvmuf_source_read_runs(s, 0, runs, 3);
	CHECK(ret == -ERANGE && runs[1].error == -ERANGE && runs[0].error == -ECANCELED &&
	      runs[2].error == -ECANCELED, "%s: read_runs with a bad run: %d %d %d %d", k,
	      ret, runs[0].error, runs[1].error, runs[2].error);
	for (unsigned int i = 0; i < 3 * PAGE; i++)
		if (buf[i]) {
			CHECK(buf[i] == 0, "%s: runs read although one was bad", k);
			break;
		}
	CHECK(kvmuf_source_read_runs(s, 0, runs, 0) == 0, "%s: no runs", k);
	free(buf);
}

/* ---- the cases ------------------------------------------------------------------- */

static void test_file(const char *snap, unsigned char *ref)
{
	char spec[256];
	struct kvmuf_source *s = open_ok(snap, 2), *s2;
	const struct kvmuf_snap_header *h = kvmuf_source_header(s);

	printf("file source %s\n", snap);
	CHECK(!strcmp(kvmuf_source_kind(s), "file"), "kind %s", kvmuf_source_kind(s));
	CHECK(kvmuf_source_data(s) && ((uintptr_t)kvmuf_source_data(s) & (PAGE - 1)) == 0,
	      "data not mapped / aligned");
	verify_all(s, ref);
	CHECK(!memcmp(ref, kvmuf_source_data(s), h->npages * PAGE), "data != reads");
	range_errors(s);

	snprintf(spec, sizeof(spec), "file:%s", snap);
	s2 = open_ok(spec, 1);
	CHECK(!memcmp(kvmuf_source_header(s2), h, sizeof(*h)), "file: header differs");
	kvmuf_source_close(s2);
	kvmuf_source_close(s);
}

/* A snapshot held in a memfd (received from elsewhere, say): the file source by its path. */
static void test_memfd(const char *snap, unsigned char *ref)
{
	int fd = memfd_create("kvmuf-snapshot", MFD_CLOEXEC), in = open(snap, O_RDONLY);
	char spec[64], buf[65536];
	struct kvmuf_source *s;
	ssize_t n;

	printf("memfd source\n");
	CHECK(fd >= 0 && in >= 0, "memfd_create / open");
	while (fd >= 0 && in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(fd, buf, (size_t)n) == n, "copying the snapshot into the memfd");
	if (in >= 0)
		close(in);
	snprintf(spec, sizeof(spec), "/proc/self/fd/%d", fd);
	s = open_ok(spec, 1);
	CHECK(!strcmp(kvmuf_source_kind(s), "file"), "memfd: kind %s", kvmuf_source_kind(s));
	verify_all(s, ref);
	kvmuf_source_close(s);
	if (fd >= 0)
		close(fd);
}

static void test_nbd(const char *snap, const unsigned char *ref,
		     const struct kvmuf_snap_header *ref_h)
{
	const char *file_args[] = { "file", snap, NULL };
	const char *bs_args[] = { "--filter=blocksize-policy", "file", snap,
				  "blocksize-minimum=512", "blocksize-preferred=4096",
				  "blocksize-maximum=65536", NULL };
	char uri[192];
	unsigned char *all;
	struct kvmuf_source *s;
	struct kvmuf_source_stats st;
	pid_t pid;

	printf("NBD source (nbdkit file)\n");
	pid = nbdkit("file", uri, sizeof(uri), file_args);
	/* 3 connections for 4 fetching threads: two of them share one. */
	s = open_ok(uri, 3);
	CHECK(!strcmp(kvmuf_source_kind(s), "nbd"), "kind %s", kvmuf_source_kind(s));
	CHECK(kvmuf_source_data(s) == NULL, "NBD has data in memory");
	CHECK(!memcmp(kvmuf_source_header(s), ref_h, sizeof(*ref_h)), "header != file's");
	all = xalloc(ref_h->npages * PAGE);
	verify_all(s, all);
	CHECK(!memcmp(all, ref, ref_h->npages * PAGE), "NBD image differs from the file");
	range_errors(s);
	kvmuf_source_stats(s, &st);
	CHECK(st.connections == 3 && st.broken == 0, "connections %u broken %u",
	      st.connections, st.broken);
	kvmuf_source_close(s);
	nbdkit_stop(pid, SIGTERM);

	/* A server allowing 64 KiB per request: large runs go out in several pieces. */
	printf("NBD source, 64 KiB maximum request\n");
	pid = nbdkit("bs", uri, sizeof(uri), bs_args);
	s = open_ok(uri, 1);
	memset(all, 0, ref_h->npages * PAGE);
	CHECK(kvmuf_source_read(s, 0, ref_h->base_gfn, ref_h->npages, all) == 0, "split read");
	CHECK(!memcmp(all, ref, ref_h->npages * PAGE), "split read differs");
	kvmuf_source_stats(s, &st);
	CHECK(st.requests == 1 + (ref_h->npages + 15) / 16, "%llu requests for %llu pages",
	      (unsigned long long)st.requests, (unsigned long long)ref_h->npages);
	printf("  %llu pages in one read: %llu requests of at most 64 KiB\n",
	       (unsigned long long)ref_h->npages, (unsigned long long)st.requests - 1);
	kvmuf_source_close(s);
	nbdkit_stop(pid, SIGTERM);
	free(all);
}

/* DELAY_RUNS reads in flight on one connection vs the same reads one after another. */
static void test_delay(const char *snap)
{
	const char *args[] = { "--filter=delay", "file", snap, "rdelay=" "20ms", NULL };
	struct kvmuf_source_run runs[DELAY_RUNS];
	unsigned char *buf = xalloc(DELAY_RUNS * PAGE);
	struct kvmuf_source *s;
	uint64_t t0, serial, parallel, base;
	char uri[192];
	pid_t pid;
	int ret;

	printf("NBD source, every read delayed %d ms\n", DELAY_MS);
	pid = nbdkit("delay", uri, sizeof(uri), args);
	s = open_ok(uri, 1);
	base = kvmuf_source_header(s)->base_gfn;
	t0 = now_ns();
	for (int i = 0; i < DELAY_RUNS; i++)
		CHECK(kvmuf_source_read(s, 0, base + 3 * i, 1, buf + i * PAGE) == 0, "read");
	serial = now_ns() - t0;
	CHECK(bad_pages(buf, base, 1, kvmuf_source_header(s)->seed, "serial") == 0, "serial");
	memset(buf, 0, DELAY_RUNS * PAGE);
	for (int i = 0; i < DELAY_RUNS; i++)
		runs[i] = (struct kvmuf_source_run){ .gfn = base + 3 * i, .npages = 1,
						     .buf = buf + i * PAGE };
	t0 = now_ns();
	ret = kvmuf_source_read_runs(s, 0, runs, DELAY_RUNS);
	parallel = now_ns() - t0;
	CHECK(ret == 0, "read_runs: %d", ret);
	for (int i = 0; i < DELAY_RUNS; i++)
		CHECK(kvmuf_snap_check_page(buf + i * PAGE, base + 3 * i,
					    kvmuf_source_header(s)->seed) < 0, "run %d", i);
	printf("  %d reads one after another: %.1f ms; in flight together: %.1f ms (%.0f%%)\n",
	       DELAY_RUNS, serial / 1e6, parallel / 1e6, 100.0 * parallel / serial);
	CHECK(serial >= (uint64_t)DELAY_RUNS * DELAY_MS * 1000000 * 9 / 10,
	      "the delay filter did not delay: %.1f ms", serial / 1e6);
	CHECK(parallel * 10 < serial * 6, "%d runs in flight took %.1f ms, serial %.1f ms",
	      DELAY_RUNS, parallel / 1e6, serial / 1e6);
	kvmuf_source_close(s);
	nbdkit_stop(pid, SIGTERM);
	free(buf);
}

/* A truncated copy of @snap: its header and @pages data pages. */
static void truncated_copy(const char *snap, const char *out, unsigned int pages)
{
	size_t len = KVMUF_SNAP_HEADER_SIZE + (size_t)pages * PAGE;
	unsigned char *buf = xalloc(len);
	int in = open(snap, O_RDONLY), fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (in < 0 || fd < 0 || read(in, buf, len) != (ssize_t)len ||
	    write(fd, buf, len) != (ssize_t)len) {
		perror(out);
		exit(1);
	}
	close(in);
	close(fd);
	free(buf);
}

static void test_refusals(const char *snap)
{
	const char *mem1m[] = { "memory", "1M", NULL };
	const char *small[] = { "memory", "2048", NULL };
	const char *odd[] = { "memory", "1048577", NULL };
	const char *bigmin[] = { "--filter=blocksize-policy", "file", snap,
				 "blocksize-minimum=65536", "blocksize-preferred=65536",
				 "blocksize-maximum=65536", NULL };
	const struct {
		const char *name;
		const char *const *args;
		unsigned int connections;
		const char *why;
	} bad_exports[] = {
		{ "mem", mem1m, 2, "bad magic" },
		{ "small", small, 1, "smaller" },
		{ "odd", odd, 1, "multiple" },
		{ "bigmin", bigmin, 1, "block sizes" },
	};
	char uri[192], spec[256], trunc[128];
	pid_t pid;

	printf("refusals\n");
	open_fails("nbd+unix:///", 1, 0, NULL);			/* no socket= */
	open_fails("nbd://[::1", 1, 0, NULL);
	open_fails("http://example.com/snap", 1, -EINVAL, "unknown scheme");
	open_fails("", 1, -EINVAL, NULL);
	open_fails(snap, 0, -EINVAL, "connections");
	open_fails(snap, KVMUF_SOURCE_MAX_CONNECTIONS + 1, -EINVAL, "connections");
	snprintf(spec, sizeof(spec), "%s/none.img", tmpdir);
	open_fails(spec, 1, -ENOENT, NULL);
	snprintf(spec, sizeof(spec), "nbd+unix:///?socket=%s/none.sock", tmpdir);
	open_fails(spec, 1, 0, NULL);

	/* NBD exports that are no snapshot, or not one we can read page by page. */
	for (size_t i = 0; i < sizeof(bad_exports) / sizeof(bad_exports[0]); i++) {
		pid = nbdkit(bad_exports[i].name, uri, sizeof(uri), bad_exports[i].args);
		open_fails(uri, bad_exports[i].connections, -EINVAL, bad_exports[i].why);
		nbdkit_stop(pid, SIGTERM);
	}

	/* A snapshot cut short: refused as a file and over NBD. */
	snprintf(trunc, sizeof(trunc), "%s/trunc.img", tmpdir);
	truncated_copy(snap, trunc, 10);
	open_fails(trunc, 1, -EINVAL, "truncated");
	{
		const char *args[] = { "file", trunc, NULL };

		pid = nbdkit("trunc", uri, sizeof(uri), args);
		open_fails(uri, 1, -EINVAL, "truncated");
		nbdkit_stop(pid, SIGTERM);
	}
	unlink(trunc);
}

/* The server answers reads with EIO once a trigger file exists. */
static void test_server_errors(const char *snap)
{
	char inject[128], file_arg[160], uri[192];
	const char *args[] = { "--filter=error", "file", snap, "error=EIO",
			       "error-pread-rate=1", file_arg, NULL };
	unsigned char *buf = xalloc(4 * PAGE);
	struct kvmuf_source_run runs[2];
	struct kvmuf_source_stats st;
	struct kvmuf_source *s;
	uint64_t base;
	pid_t pid;
	int fd, ret;

	printf("server errors\n");
	snprintf(inject, sizeof(inject), "%s/inject", tmpdir);
	snprintf(file_arg, sizeof(file_arg), "error-file=%s", inject);
	pid = nbdkit("err", uri, sizeof(uri), args);
	s = open_ok(uri, 1);
	base = kvmuf_source_header(s)->base_gfn;
	CHECK(kvmuf_source_read(s, 0, base, 4, buf) == 0, "read before errors");
	fd = open(inject, O_WRONLY | O_CREAT, 0644);
	close(fd);
	ret = kvmuf_source_read(s, 0, base, 4, buf);
	CHECK(ret == -EIO, "read with server errors: %d", ret);
	runs[0] = (struct kvmuf_source_run){ .gfn = base, .npages = 1, .buf = buf };
	runs[1] = (struct kvmuf_source_run){ .gfn = base + 5, .npages = 3, .buf = buf + PAGE };
	ret = kvmuf_source_read_runs(s, 0, runs, 2);
	CHECK(ret == -EIO && runs[0].error == -EIO && runs[1].error == -EIO,
	      "read_runs with server errors: %d %d %d", ret, runs[0].error, runs[1].error);
	unlink(inject);
	/* An error reply is not a broken connection. */
	ret = kvmuf_source_read(s, 0, base, 4, buf);
	CHECK(ret == 0 && bad_pages(buf, base, 4, kvmuf_source_header(s)->seed, "after") == 0,
	      "read after errors: %d", ret);
	kvmuf_source_stats(s, &st);
	CHECK(st.errors == 2 && st.broken == 0, "errors %llu broken %u",
	      (unsigned long long)st.errors, st.broken);
	printf("  EIO from the server: read and read_runs fail with -EIO, the connection "
	       "goes on\n");
	kvmuf_source_close(s);
	nbdkit_stop(pid, SIGTERM);
	free(buf);
}

struct killer {
	pid_t pid;
	unsigned int ms;
};

static void *kill_later(void *p)
{
	struct killer *k = p;

	usleep(k->ms * 1000);
	kill(k->pid, SIGKILL);
	return NULL;
}

/* The server is killed while 8 runs are in flight, then used again. */
static void test_server_killed(const char *snap)
{
	const char *args[] = { "--filter=delay", "file", snap, "rdelay=300ms", NULL };
	unsigned char *buf = xalloc(DELAY_RUNS * PAGE);
	struct kvmuf_source_run runs[DELAY_RUNS];
	struct kvmuf_source_stats st;
	struct kvmuf_source *s;
	struct killer k;
	pthread_t t;
	uint64_t base, t0, ns;
	char uri[192];
	int ret;

	printf("server killed mid-read\n");
	k.pid = nbdkit("kill", uri, sizeof(uri), args);	/* (open reads the header: 300 ms) */
	k.ms = 100;
	s = open_ok(uri, 2);
	base = kvmuf_source_header(s)->base_gfn;
	for (int i = 0; i < DELAY_RUNS; i++)
		runs[i] = (struct kvmuf_source_run){ .gfn = base + 2 * i, .npages = 2 - i % 2,
						     .buf = buf + i * PAGE };
	pthread_create(&t, NULL, kill_later, &k);
	t0 = now_ns();
	ret = kvmuf_source_read_runs(s, 0, runs, DELAY_RUNS);
	ns = now_ns() - t0;
	pthread_join(t, NULL);
	waitpid(k.pid, NULL, 0);
	CHECK(ret < 0, "read_runs across the server's death: %d", ret);
	for (int i = 0; i < DELAY_RUNS; i++)
		CHECK(runs[i].error < 0, "run %d: %d", i, runs[i].error);
	printf("  read_runs: %d (%s) after %.1f ms\n", ret, strerror(-ret), ns / 1e6);

	ret = kvmuf_source_read(s, 0, base, 1, buf);
	CHECK(ret < 0, "read on the broken connection: %d", ret);
	printf("  then on that connection: %d (%s)\n", ret, strerror(-ret));
	ret = kvmuf_source_read(s, 1, base, 1, buf);
	CHECK(ret < 0, "read on the other connection: %d", ret);
	printf("  on the other connection: %d (%s)\n", ret, strerror(-ret));
	ret = kvmuf_source_fetch(s, base, buf);
	CHECK(ret < 0, "fetch: %d", ret);
	kvmuf_source_stats(s, &st);
	CHECK(st.broken == 2 && st.errors == 4, "broken %u errors %llu", st.broken,
	      (unsigned long long)st.errors);
	kvmuf_source_close(s);
	free(buf);
}

/* A server that answers too slowly for the source's timeout. */
static void test_timeout(const char *snap)
{
	const char *args[] = { "--filter=delay", "file", snap, "rdelay=500ms", NULL };
	struct kvmuf_source_run runs[2];
	unsigned char *buf = xalloc(2 * PAGE);
	struct kvmuf_source_stats st;
	struct kvmuf_source *s;
	uint64_t base, t0, ns;
	char uri[192];
	pid_t pid;
	int ret;

	printf("timeout\n");
	pid = nbdkit("slow", uri, sizeof(uri), args);	/* (open reads the header: 500 ms) */
	s = open_ok(uri, 1);
	base = kvmuf_source_header(s)->base_gfn;
	CHECK(kvmuf_source_set_timeout(s, 100) == 0, "set_timeout");
	runs[0] = (struct kvmuf_source_run){ .gfn = base, .npages = 1, .buf = buf };
	runs[1] = (struct kvmuf_source_run){ .gfn = base + 1, .npages = 1, .buf = buf + PAGE };
	t0 = now_ns();
	ret = kvmuf_source_read_runs(s, 0, runs, 2);
	ns = now_ns() - t0;
	CHECK(ret == -ETIMEDOUT && runs[0].error == -ETIMEDOUT && runs[1].error == -ETIMEDOUT,
	      "read_runs past the timeout: %d %d %d", ret, runs[0].error, runs[1].error);
	CHECK(ns >= 100000000 && ns < 400000000, "timed out after %.1f ms", ns / 1e6);
	ret = kvmuf_source_read(s, 0, base, 1, buf);
	CHECK(ret == -ENOTCONN, "read after the timeout: %d", ret);
	kvmuf_source_stats(s, &st);
	CHECK(st.broken == 1, "broken %u", st.broken);
	printf("  100 ms timeout, 500 ms server: -ETIMEDOUT after %.1f ms, then -ENOTCONN\n",
	       ns / 1e6);
	kvmuf_source_close(s);
	nbdkit_stop(pid, SIGKILL);
	free(buf);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int have_nbdkit(void)
{
	const char *argv[] = { "nbdkit", "--version", NULL };
	posix_spawn_file_actions_t fa;
	int status = -1;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "nbdkit", &fa, NULL, (char *const *)argv, environ) == 0)
		waitpid(pid, &status, 0);
	posix_spawn_file_actions_destroy(&fa);
	return status == 0;
}

int main(int argc, char **argv)
{
	struct kvmuf_snap_header h;
	struct kvmuf_source *s;
	unsigned char *ref;
	char snap[128], err[256];
	int fds;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!have_nbdkit()) {
		printf("SKIP: nbdkit is not installed (scripts/install-deps.sh)\n");
		return 77;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kvmuf-source.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	if (argc > 1) {
		snprintf(snap, sizeof(snap), "%s", argv[1]);
	} else {
		snprintf(snap, sizeof(snap), "%s/snap.img", tmpdir);
		if (kvmuf_snap_write(snap, 0x100000, DEF_PAGES, 0x6b766d7566, err,
				     sizeof(err)) < 0) {
			printf("FAIL kvmuf_snap_write: %s\n", err);
			return 1;
		}
	}
	fds = count_fds();
	s = open_ok(snap, 1);
	h = *kvmuf_source_header(s);
	kvmuf_source_close(s);
	printf("snapshot %s: %llu pages from gfn 0x%llx\n", snap, (unsigned long long)h.npages,
	       (unsigned long long)h.base_gfn);
	if (h.npages < 2 * DELAY_RUNS + 2) {
		printf("FAIL the snapshot needs at least %d pages\n", 2 * DELAY_RUNS + 2);
		return 1;
	}
	ref = xalloc(h.npages * PAGE);

	test_file(snap, ref);
	test_memfd(snap, ref);
	test_nbd(snap, ref, &h);
	test_delay(snap);
	test_refusals(snap);
	test_server_errors(snap);
	test_server_killed(snap);
	test_timeout(snap);

	CHECK(count_fds() == fds, "file descriptors leaked: %d, were %d", count_fds(), fds);
	free(ref);
	if (argc <= 1)
		unlink(snap);
	rmdir(tmpdir);	/* the sockets are gone with their servers */
	if (failures) {
		printf("FAIL: %d checks failed\n", failures);
		return 1;
	}
	printf("PASS: page sources (file, memfd, NBD)\n");
	return 0;
}
