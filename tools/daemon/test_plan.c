// SPDX-License-Identifier: GPL-2.0
/*
 * test_plan - the page engine with a plan (kvmuf_serve_plan) against the fake device
 * (fake_dev.h), no /dev/kvm-userfault needed:
 *   - a fault reported again for a page resolved already, in a copy batch (a range
 *     there would corrupt the batch): every copy well formed, every page right;
 *   - a failed resolve ends the server (its claimed pages would never be resolved);
 *   - readahead and two prefetch threads sweeping while faults come: every page made
 *     present exactly once, with its own data; the progress counters add up;
 *   - record: the working set in fault order, through a working-set file and back;
 *     replay: the listed pages come in with no fault;
 *   - the prefetch rate holds; a plan of another size is refused or taken as documented.
 *
 * usage: test_plan      exit status 0 all passed, 1 not
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_dev.h"
#include "kvmuf_source.h"
#include "kvmuf_workingset.h"
#include "check.h"

/* The source: the snapshot in memory, read into the engine's buffers, like NBD would. */
struct fake_source {
	const unsigned char *snap;
	uint64_t base;
	unsigned int delay_us;		/* per call */
	atomic_int fail_next;		/* next call returns this */
	atomic_ullong calls, pages;
};

static int fake_read_runs(void *opaque, unsigned int conn, struct kvmuf_source_run *runs,
			  size_t nr)
{
	struct fake_source *fs = opaque;
	int fail = atomic_exchange(&fs->fail_next, 0);

	(void)conn;
	atomic_fetch_add(&fs->calls, 1);
	if (fs->delay_us)
		usleep(fs->delay_us);
	for (size_t i = 0; i < nr; i++) {
		runs[i].error = fail;
		if (fail)
			continue;
		memcpy(runs[i].buf, fs->snap + (runs[i].gfn - fs->base) * PAGE,
		       runs[i].npages * PAGE);
		atomic_fetch_add(&fs->pages, runs[i].npages);
	}
	return fail;
}

static struct kvmuf_server *start_plan(struct fake_dev *d, struct fake_source *fs,
				       unsigned int threads, struct kvmuf_serve_plan *plan)
{
	struct kvmuf_server_config cfg = {
		.ops = &fake_ops,
		.ctx = d,
		.nr_rings = d->nr_rings,
		.nr_threads = threads,
		.geom = d->geom,
		.poll_ms = 5,
	};
	struct kvmuf_server *s;
	int ret;

	plan->size = sizeof(*plan);
	plan->connections = 4;
	plan->read_runs = fake_read_runs;
	plan->read_opaque = fs;
	d->any_src = 1;		/* copies come from the engine's read buffers */
	ret = kvmuf_server_start_plan(&cfg, plan, &s);
	if (ret < 0) {
		printf("FAIL: kvmuf_server_start_plan: %s\n", kvmuf_strerror(ret));
		exit(1);
	}
	return s;
}

static void progress(struct kvmuf_server *s, struct kvmuf_serve_progress *p)
{
	*p = (struct kvmuf_serve_progress) { .size = sizeof(*p) };
	kvmuf_server_progress(s, p);
}

/* Wait until every page of the memory is present; 0 or -1. */
static int settle_present(struct kvmuf_server *s, uint64_t ms)
{
	struct kvmuf_serve_progress p;
	uint64_t t0 = now_ms();

	do {
		progress(s, &p);
		if (p.present == p.total && p.all_present_ns)
			return 0;
		usleep(1000);
	} while (now_ms() - t0 < ms);
	printf("  settle_present: %llu of %llu present\n", (unsigned long long)p.present,
	       (unsigned long long)p.total);
	return -1;
}

/* Pages the fake device made present (under its lock: the engine may still run). */
static uint64_t resolved_pages(struct fake_dev *d)
{
	uint64_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (uint64_t i = 0; i < d->geom.mem_npages; i++)
		n += d->resolved[i];
	pthread_mutex_unlock(&d->lock);
	return n;
}

static void test_reported_again(void)
{
	const uint64_t n = 64;
	struct kvmuf_serve_geom g = { BASE, n, BASE, n };
	unsigned char *snap = make_snap_data(BASE, n);
	struct fake_source fs = { .snap = snap, .base = BASE };
	struct kvmuf_serve_plan plan = { 0 };
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;

	fake_init(&d, 2, 16, &g, snap, NULL);
	s = start_plan(&d, &fs, 1, &plan);
	fake_push(&d, 1, BASE + 10);
	fake_push(&d, 1, BASE + 12);
	CHECK(settle(s, 2, 2) == 0, "again: the first two faults served");
	/* 10 and 12 again (an adopted state reports a GFN twice), and a new one. */
	fake_push(&d, 1, BASE + 10);
	fake_push(&d, 1, BASE + 12);
	fake_push(&d, 1, BASE + 40);
	CHECK(settle(s, 5, 5) == 0, "again: the second batch served");
	kvmuf_server_stop(s, &st);
	CHECK(d.resolved[10] && d.resolved[12] && d.resolved[40] && resolved_pages(&d) == 3,
	      "again: pages 10, 12 and 40 present, nothing else (%llu)",
	      (unsigned long long)resolved_pages(&d));
	CHECK(atomic_load(&d.bad_src) == 0 && atomic_load(&d.bad_data) == 0,
	      "again: every copy well formed (%llu bad sources, %llu bad pages)",
	      (unsigned long long)atomic_load(&d.bad_src),
	      (unsigned long long)atomic_load(&d.bad_data));
	CHECK(st.served == 3 && st.unchanged == 2 && st.duplicates == 2 && st.errors == 0,
	      "again: served %llu, unchanged %llu, duplicates %llu, errors %llu",
	      (unsigned long long)st.served, (unsigned long long)st.unchanged,
	      (unsigned long long)st.duplicates, (unsigned long long)st.errors);
	fake_destroy(&d);
	free(snap);
}

/* Wait up to @ms for the server to end on its own: true if it did. */
static int wait_done(struct kvmuf_server *s, uint64_t ms)
{
	uint64_t t0 = now_ms();

	while (!kvmuf_server_done(s) && now_ms() - t0 < ms)
		usleep(1000);
	return kvmuf_server_done(s);
}

static void test_resolve_fails(void)
{
	const uint64_t n = 64;
	struct kvmuf_serve_geom g = { BASE, n, BASE, n };
	unsigned char *snap = make_snap_data(BASE, n);
	struct fake_source fs = { .snap = snap, .base = BASE };
	struct kvmuf_serve_plan plan = { 0 };
	struct kvmuf_server *s;
	struct fake_dev d;

	fake_init(&d, 2, 16, &g, snap, NULL);
	s = start_plan(&d, &fs, 1, &plan);
	atomic_store(&d.fail_next, -EFAULT);
	fake_push(&d, 1, BASE + 3);
	CHECK(wait_done(s, 5000), "a failed resolve ends the server (its claims would strand faults)");
	kvmuf_server_stop(s, NULL);
	fake_destroy(&d);

	/* The same for a failed read of the source. */
	fake_init(&d, 2, 16, &g, snap, NULL);
	s = start_plan(&d, &fs, 1, &plan);
	atomic_store(&fs.fail_next, -EIO);
	fake_push(&d, 1, BASE + 3);
	CHECK(wait_done(s, 5000) && resolved_pages(&d) == 0,
	      "a failed read ends the server, nothing resolved");
	kvmuf_server_stop(s, NULL);
	fake_destroy(&d);
	free(snap);
}

static void test_prefetch_sweep(void)
{
	const uint64_t n = 3000;
	struct kvmuf_serve_geom g = { BASE, n, BASE, n };
	unsigned char *snap = make_snap_data(BASE, n);
	struct fake_source fs = { .snap = snap, .base = BASE, .delay_us = 200 };
	struct kvmuf_serve_plan plan = {
		.readahead_pages = 4, .prefetch_threads = 2, .sweep = 1, .prefetch_batch = 16,
	};
	struct kvmuf_serve_progress p;
	struct kvmuf_server_stats st;
	struct kvmuf_server *s;
	struct fake_dev d;

	fake_init(&d, 3, 64, &g, snap, NULL);
	s = start_plan(&d, &fs, 2, &plan);
	/* Faults from the far end, against the sweep, and some into it. */
	for (uint64_t i = 0; i < 600; i++)
		fake_push(&d, 1 + (unsigned int)(i % 2), BASE + n - 1 - (i * 7) % n);
	CHECK(settle_present(s, 20000) == 0, "sweep: every page present");
	progress(s, &p);
	kvmuf_server_stop(s, &st);
	CHECK(resolved_pages(&d) == n && st.served == n,
	      "sweep: %llu pages present, %llu made present by the engine (each once: %llu)",
	      (unsigned long long)resolved_pages(&d), (unsigned long long)st.served,
	      (unsigned long long)n);
	CHECK(atomic_load(&d.bad_src) == 0 && atomic_load(&d.bad_data) == 0,
	      "sweep: every page its own data");
	CHECK(p.prefetched > 0 && p.demand > 0 && p.readahead > 0 &&
	      p.demand + p.readahead + p.prefetched >= n,
	      "sweep: %llu by fault, %llu readahead, %llu prefetched",
	      (unsigned long long)p.demand, (unsigned long long)p.readahead,
	      (unsigned long long)p.prefetched);
	CHECK(p.faults_timed > 0 && p.fault_p50_ns <= p.fault_p99_ns &&
	      p.fault_p99_ns <= p.fault_max_ns && p.fault_max_ns > 0,
	      "sweep: fault latency p50 %llu <= p99 %llu <= max %llu ns",
	      (unsigned long long)p.fault_p50_ns, (unsigned long long)p.fault_p99_ns,
	      (unsigned long long)p.fault_max_ns);
	fake_destroy(&d);
	free(snap);
}

static void test_record_replay(void)
{
	const uint64_t n = 512;
	struct kvmuf_serve_geom g = { BASE, n, BASE, n };
	unsigned char *snap = make_snap_data(BASE, n);
	struct fake_source fs = { .snap = snap, .base = BASE };
	struct kvmuf_serve_plan plan = { .record = 1 };
	struct kvmuf_ws_entry *ws = NULL, *back = NULL;
	struct kvmuf_serve_progress p;
	struct kvmuf_server *s;
	size_t nws = 0, nback = 0;
	uint64_t order[40], *gfns;
	struct fake_dev d;
	char path[64], err[160];
	int ordered = 1;

	fake_init(&d, 2, 64, &g, snap, NULL);
	s = start_plan(&d, &fs, 1, &plan);
	for (unsigned int i = 0; i < 40; i++) {
		order[i] = BASE + (i * 37) % n;
		fake_push(&d, 1, order[i]);
		usleep(1500);		/* distinct fault times */
	}
	fake_push(&d, 1, order[3]);	/* again: recorded once */
	CHECK(settle(s, 41, 41) == 0, "record: faults served");
	CHECK(kvmuf_server_working_set(s, &ws, &nws) == 0 && nws == 40,
	      "record: %zu pages in the working set", nws);
	for (size_t i = 0; ws && i < nws && i < 40; i++)
		ordered &= ws[i].gfn == order[i] && (!i || ws[i].time_ns >= ws[i - 1].time_ns);
	CHECK(ordered && ws && ws[0].time_ns == 0, "record: in fault order, from time 0");
	kvmuf_server_stop(s, NULL);
	fake_destroy(&d);

	snprintf(path, sizeof(path), "/tmp/test_plan.%d.ws", (int)getpid());
	CHECK(kvmuf_ws_save(path, ws, nws, err, sizeof(err)) == 0, "ws save: %s", err);
	CHECK(kvmuf_ws_load(path, &back, &nback, err, sizeof(err)) == 0 && nback == nws,
	      "ws load: %s", err);
	for (size_t i = 0; back && i < nback && i < nws; i++)
		ordered &= back[i].gfn == ws[i].gfn &&
			   back[i].time_ns / 1000 == ws[i].time_ns / 1000;
	CHECK(ordered, "ws: the file gives back the set (to the microsecond)");
	unlink(path);

	/* Replay: the 40 pages come in with no fault at all. */
	gfns = calloc(nback ? nback : 1, sizeof(*gfns));
	for (size_t i = 0; i < nback; i++)
		gfns[i] = back[i].gfn;
	fake_init(&d, 2, 64, &g, snap, NULL);
	plan = (struct kvmuf_serve_plan) {
		.prefetch_threads = 1, .replay = gfns, .nr_replay = nback,
	};
	s = start_plan(&d, &fs, 1, &plan);
	for (uint64_t t0 = now_ms(); resolved_pages(&d) < nback && now_ms() - t0 < 5000;)
		usleep(1000);
	progress(s, &p);
	kvmuf_server_stop(s, NULL);
	CHECK(resolved_pages(&d) == nback && p.replayed == nback && p.demand == 0 &&
	      p.replay_done_ns > 0,
	      "replay: %llu pages present, %llu replayed, %llu by fault",
	      (unsigned long long)resolved_pages(&d), (unsigned long long)p.replayed,
	      (unsigned long long)p.demand);
	for (size_t i = 0; i < nback; i++)
		CHECK_OR_RETURN(d.resolved[back[i].gfn - BASE], "replay: gfn 0x%llx missing",
				(unsigned long long)back[i].gfn);
	fake_destroy(&d);
	free(gfns);
	free(ws);
	free(back);
	free(snap);
}

static void test_rate_and_sizes(void)
{
	const uint64_t n = 400;
	struct kvmuf_serve_geom g = { BASE, n, BASE, n };
	unsigned char *snap = make_snap_data(BASE, n);
	struct fake_source fs = { .snap = snap, .base = BASE };
	struct kvmuf_serve_plan plan = {
		.prefetch_threads = 2, .sweep = 1, .prefetch_rate = 2000, .prefetch_batch = 20,
	};
	struct kvmuf_server_config cfg = {
		.ops = &fake_ops, .nr_rings = 2, .nr_threads = 1, .geom = g, .poll_ms = 5,
	};
	struct {
		struct kvmuf_serve_plan plan;
		uint64_t newer;
	} big = { 0 };
	struct kvmuf_server *s;
	struct fake_dev d;
	uint64_t t0, ms;

	/* 400 pages at 2000/s: 200 ms, less one batch of credit. */
	fake_init(&d, 2, 16, &g, snap, NULL);
	t0 = now_ms();
	s = start_plan(&d, &fs, 1, &plan);
	CHECK(settle_present(s, 10000) == 0, "rate: every page present");
	ms = now_ms() - t0;
	kvmuf_server_stop(s, NULL);
	CHECK(ms >= 170 && ms < 2000, "rate: 400 pages at 2000 pages/s took %llu ms",
	      (unsigned long long)ms);
	fake_destroy(&d);

	fake_init(&d, 2, 16, &g, snap, NULL);
	cfg.ctx = &d;
	plan = (struct kvmuf_serve_plan) {
		.size = sizeof(plan) - 8, .connections = 1, .read_runs = fake_read_runs,
		.read_opaque = &fs,
	};
	CHECK(kvmuf_server_start_plan(&cfg, &plan, &s) == -EINVAL, "a smaller plan: EINVAL");
	big.plan = plan;
	big.plan.size = sizeof(big);
	big.newer = 1;
	CHECK(kvmuf_server_start_plan(&cfg, &big.plan, &s) == -E2BIG,
	      "a larger plan asking for what this version lacks: E2BIG");
	big.newer = 0;
	CHECK(kvmuf_server_start_plan(&cfg, &big.plan, &s) == 0,
	      "a larger plan with its new fields zero: taken");
	kvmuf_server_stop(s, NULL);
	plan.size = sizeof(plan);
	plan.nr_replay = 3;
	CHECK(kvmuf_server_start_plan(&cfg, &plan, &s) == -EINVAL,
	      "a replay list without prefetch threads: EINVAL");
	fake_destroy(&d);
	free(snap);
}

int main(void)
{
	test_reported_again();
	test_resolve_fails();
	test_prefetch_sweep();
	test_record_replay();
	test_rate_and_sizes();
	return check_summary("test_plan");
}
