// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-restore-bench: restore a VM from a snapshot (a file or an NBD export), served
 *   kvmuf  by kvm-userfault: the VM attached in park mode, the userfaultfd backstop on,
 *          all test memory missing, libkvmuf's page engine in-process;
 *   uffd   by userfaultfd alone: no module, the guest memory registered with
 *          userfaultfd, and the SAME engine with the SAME plan, driven through
 *          struct kvmuf_serve_ops that have no rings to read and nothing to resolve,
 *          so that every vCPU fault reaches the engine as a userfaultfd message.
 * So the two differ only in how a fault reaches the engine and how the vCPU waits: the
 * source, its connections, the readahead, the prefetch threads, the replay list and the
 * rate limit are one and the same.
 *
 * Each run is a fresh VM whose vCPUs touch (read, checking the first word of each page)
 * the first --working-set percent of their region, the restored VM's working set; the
 * rest of the memory only prefetch brings in. With replay, a recording run through
 * kvm-userfault first gives the order in which the vCPUs faulted, which both systems
 * then prefetch first.
 */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kvmuf.h"
#include "kvmuf_backstop.h"
#include "kvmuf_server.h"
#include "kvmuf_snapshot.h"
#include "kvmuf_source.h"
#include "kvmuf_vm.h"

#define RING_ENTRIES		256	/* a vCPU has one fault outstanding at a time */
#define POLL_MS			50
#define MAX_LOGGED		16
#define MAX_THREADS		64
#define DEFAULT_BYTES		(4ULL << 20)
#define DEFAULT_REPS		3
#define DEFAULT_WS		50
#define DEFAULT_THREADS		2
#define DEFAULT_TIMEOUT		600
#define WAIT_STEP_NS		1000000ULL	/* main thread's look at a run in progress */

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " --source SOURCE [--label TEXT] [-v VCPUS] [-b BYTES]\n"
"                   [--working-set PERCENT] [-T THREADS] [--prefetch THREADS]\n"
"                   [--prefetch-rate PAGES] [--readahead PAGES] [--reps N]\n"
"                   [--systems kvmuf,uffd] [--json FILE] [--dat FILE] [-t SEC] [-q]\n"
"Snapshot restore: kvm-userfault against a userfaultfd handler, with the same page\n"
"source and the same prefetch policy (libkvmuf's page engine serves both).\n"
"  --source SOURCE   the snapshot (kvmuf-mksnap): a file, or an NBD URI such as\n"
"                    nbd+unix:///?socket=PATH; it must cover the guest memory\n"
"  --label TEXT      what this run stands for (e.g. the source's latency, \"5ms\"):\n"
"                    printed, and in the JSON and the .dat\n"
"  -v, --vcpus N     vCPUs (default 1)\n"
"  -b, --bytes BYTES memory per vCPU, suffix K, M or G, multiple of 4K (default 4M)\n"
"  --working-set PERCENT  the guest touches the first PERCENT%% of each vCPU's region;\n"
"                    the rest it never touches: only prefetch brings it in (default %d)\n"
"  -T, --threads N   engine workers (default %d; at most one per ring)\n"
"  --prefetch THREADS  prefetch threads sweeping every page not asked for yet, in the\n"
"                    background (default 0: no sweep, all memory is never present)\n"
"  --prefetch-rate PAGES  at most PAGES pages/s of prefetch (default: no limit)\n"
"  --readahead PAGES with each faulted page bring in the next PAGES (default 0)\n"
"  --reps N          runs per system and replay setting; medians reported (default %d)\n"
"  --systems LIST    kvmuf, uffd or both, comma-separated (default kvmuf,uffd)\n"
"  --json FILE       write one JSON document (format " RESTORE_FORMAT ")\n"
"  --dat FILE        append one gnuplot row for --label (a '#' header when new)\n"
"  -t, --timeout SEC abort (exit 1) if a run takes longer (default %d; 0: never)\n"
"  -q, --quiet       no progress lines on stderr\n"
"  -h, --help        this help\n"
"  -V, --version     the version\n"
"Source connections: threads + prefetch threads (a replay run has at least one).\n"
"Replay: a recording run through kvm-userfault (no prefetch) gives the working set that\n"
"both systems then prefetch first; skipped without /dev/kvm-userfault.\n"
"exit status: 0 ok, 1 a run failed or a page differs from the snapshot, 2 bad\n"
"arguments, 3 no /dev/kvm, or none of the requested systems can run here\n",
		DEFAULT_WS, DEFAULT_THREADS, DEFAULT_REPS, DEFAULT_TIMEOUT);
}

static void help_hint(FILE *f)
{
	fprintf(f, "(" PROG " -h for help)\n");
}

#define bad_usage(...) cli_bad_usage(PROG, help_hint, CLI_EXIT_USAGE, __VA_ARGS__)

static unsigned int parse_systems(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	unsigned int mask = 0;

	if (!copy)
		bad_usage("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "kvmuf"))
			mask |= 1u << SYS_KVMUF;
		else if (!strcmp(tok, "uffd"))
			mask |= 1u << SYS_UFFD;
		else
			bad_usage("--systems: unknown system '%s' (kvmuf, uffd)", tok);
	}
	free(copy);
	if (!mask)
		bad_usage("--systems: no system given");
	return mask;
}

static uint64_t range_arg(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (cli_parse_range(arg, 10, min, max, &v) < 0)
		bad_usage("%s: need %llu..%llu", opt, (unsigned long long)min,
			  (unsigned long long)max);
	return v;
}

static void parse_args(int argc, char **argv, struct rb_opts *o)
{
	/* Letters mean what they mean in every tool (tests/host/cli-conventions.sh). */
	enum { OPT_SOURCE = 256, OPT_LABEL, OPT_WS, OPT_PREFETCH, OPT_RATE, OPT_READAHEAD,
	       OPT_REPS, OPT_SYSTEMS, OPT_JSON, OPT_DAT };
	static const struct option longopts[] = {
		{ "source",        required_argument, NULL, OPT_SOURCE },
		{ "label",         required_argument, NULL, OPT_LABEL },
		{ "vcpus",         required_argument, NULL, 'v' },
		{ "bytes",         required_argument, NULL, 'b' },
		{ "working-set",   required_argument, NULL, OPT_WS },
		{ "threads",       required_argument, NULL, 'T' },
		{ "prefetch",      required_argument, NULL, OPT_PREFETCH },
		{ "prefetch-rate", required_argument, NULL, OPT_RATE },
		{ "readahead",     required_argument, NULL, OPT_READAHEAD },
		{ "reps",          required_argument, NULL, OPT_REPS },
		{ "systems",       required_argument, NULL, OPT_SYSTEMS },
		{ "json",          required_argument, NULL, OPT_JSON },
		{ "dat",           required_argument, NULL, OPT_DAT },
		{ "timeout",       required_argument, NULL, 't' },
		{ "quiet",         no_argument,       NULL, 'q' },
		{ "help",          no_argument,       NULL, 'h' },
		{ "version",       no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	*o = (struct rb_opts) {
		.label = "",
		.vcpus = 1,
		.bytes_per_vcpu = DEFAULT_BYTES,
		.ws_percent = DEFAULT_WS,
		.threads = DEFAULT_THREADS,
		.reps = DEFAULT_REPS,
		.systems = (1u << SYS_KVMUF) | (1u << SYS_UFFD),
		.timeout_s = DEFAULT_TIMEOUT,
	};
	while ((c = getopt_long(argc, argv, "v:b:T:t:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOURCE: o->source = optarg; break;
		case OPT_LABEL: o->label = optarg; break;
		case 'v': o->vcpus = (unsigned int)range_arg("-v", optarg, 1, 64); break;
		case 'b':
			if (cli_parse_size(optarg, &v) < 0 || v == 0 || v % KVMUF_PAGE_SIZE)
				bad_usage("-b: need a non-zero multiple of 4K, e.g. 4M");
			o->bytes_per_vcpu = v;
			break;
		case OPT_WS: o->ws_percent = (unsigned int)range_arg("--working-set", optarg, 1, 100); break;
		case 'T': o->threads = (unsigned int)range_arg("-T", optarg, 1, MAX_THREADS); break;
		case OPT_PREFETCH:
			o->prefetch = (unsigned int)range_arg("--prefetch", optarg, 0,
							      KVMUF_SERVE_MAX_PREFETCHERS);
			break;
		case OPT_RATE: o->prefetch_rate = range_arg("--prefetch-rate", optarg, 0, UINT32_MAX); break;
		case OPT_READAHEAD:
			o->readahead = (unsigned int)range_arg("--readahead", optarg, 0,
							       KVMUF_SERVE_MAX_READAHEAD);
			break;
		case OPT_REPS: o->reps = (unsigned int)range_arg("--reps", optarg, 1, MAX_REPS); break;
		case OPT_SYSTEMS: o->systems = parse_systems(optarg); break;
		case OPT_JSON: o->json_path = optarg; break;
		case OPT_DAT: o->dat_path = optarg; break;
		case 't': o->timeout_s = (unsigned int)range_arg("-t", optarg, 0, 86400); break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V': cli_print_version(PROG); exit(0);
		default: usage(stderr); exit(CLI_EXIT_USAGE);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!o->source)
		bad_usage("--source is required");
	if (o->bytes_per_vcpu > (KVMUF_GPA_LIMIT - KVMUF_TEST_GPA) / o->vcpus)
		bad_usage("%u x %llu bytes exceeds the test address space", o->vcpus,
			  (unsigned long long)o->bytes_per_vcpu);
}

/* ---- helpers ---- */

static struct rb_opts opt;

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
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static void err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	nanosleep(&ts, NULL);
}

const char *rb_system_name(enum rb_system s)
{
	return s == SYS_KVMUF ? "kvmuf" : "uffd";
}

/* ---- the uffd system: the engine with no module behind it ---- */

/*
 * No rings: every fault comes as a userfaultfd message, which the engine installs with
 * UFFDIO_COPY (waking the vCPU) and then "resolves", here a no-op that changes nothing.
 * The engine counts a page present when its resolve returned, so all_present_ns works
 * as with the module.
 */
struct uffd_ctx {
	int uffd;
};

static size_t uffd_consume(void *ctx, unsigned int ring, struct kvmuf_fault *out, size_t max)
{
	(void)ctx, (void)ring, (void)out, (void)max;
	return 0;
}

static int uffd_resolve(void *ctx, const struct kvmuf_gfn_range *r, size_t nr, uint32_t flags,
			uint64_t *changed, uint64_t *unchanged)
{
	(void)ctx, (void)r, (void)nr, (void)flags;
	*changed = 0;
	*unchanged = 0;
	return 0;
}

static int uffd_resolve_copy(void *ctx, const struct kvmuf_copy *c, size_t nr,
			     uint64_t *changed, uint64_t *unchanged)
{
	(void)ctx, (void)c, (void)nr;
	*changed = 0;
	*unchanged = 0;
	return 0;
}

static int uffd_poll(void *ctx, int extra_fd, int timeout_ms)
{
	struct pollfd p = { .fd = extra_fd, .events = POLLIN };
	int ret;

	(void)ctx;
	ret = poll(&p, 1, timeout_ms);
	if (ret < 0)
		return -errno;
	return ret > 0;
}

static const struct kvmuf_serve_ops uffd_ops = {
	.consume = uffd_consume,
	.resolve = uffd_resolve,
	.resolve_copy = uffd_resolve_copy,
	.poll = uffd_poll,
};

/* ---- one run ---- */

struct run;

struct vcpu_arg {
	struct run *r;
	unsigned int id;
	int ret;
	uint64_t result;		/* VERIFY: pages whose first word was wrong */
	uint64_t end_ns;
};

struct run {
	enum rb_system sys;
	int record;			/* the recording run: no prefetch, plan.record */
	const uint64_t *replay;
	size_t nr_replay;
	struct kvmuf_source *src;
	const struct kvmuf_snap_header *hdr;
	struct kvmuf_vm *vm;
	struct kvmuf *k;
	int uffd;
	struct uffd_ctx uctx;
	struct kvmuf_server *srv;
	pthread_barrier_t gate;
	struct vcpu_arg *va;
	atomic_uint finished;
	uint64_t base_gfn, npages, region_pages, ws_pages;
	uint64_t *ws_gfns;		/* recording run: the working set, in fault order */
	size_t nr_ws;
};

static void *vcpu_main(void *arg)
{
	struct vcpu_arg *a = arg;
	struct run *r = a->r;

	pthread_barrier_wait(&r->gate);
	a->ret = kvmuf_vm_run_pages(r->vm, a->id, KVMUF_MODE_VERIFY, r->hdr->seed,
				    a->id * r->region_pages, r->ws_pages, &a->result);
	a->end_ns = now_ns();
	atomic_fetch_add(&r->finished, 1);
	return NULL;
}

static int make_vm(struct run *r)
{
	struct kvmuf_vm_config cfg = {
		.nr_vcpus = opt.vcpus,
		.bytes_per_vcpu = opt.bytes_per_vcpu,
		.backing = KVMUF_MEM_ANON,
		.thp = KVMUF_THP_MADVISE,	/* guest RAM as QEMU maps it */
	};
	const struct kvmuf_test_mem *mem;
	int ret;

	ret = kvmuf_vm_create(&cfg, &r->vm);
	if (ret != KVMUF_CREATE_OK) {
		err("cannot create the VM");
		return -1;
	}
	mem = kvmuf_vm_test_mem(r->vm);
	r->base_gfn = mem->gpa >> KVMUF_PAGE_SHIFT;
	r->npages = mem->size >> KVMUF_PAGE_SHIFT;
	r->region_pages = kvmuf_vm_region_pages(r->vm);
	r->ws_pages = r->region_pages * opt.ws_percent / 100;
	if (!r->ws_pages)
		r->ws_pages = 1;
	return 0;
}

/* The backstop (both systems), and for kvmuf the module, every page missing. */
static int arm(struct run *r)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(r->vm);
	int ret;

	ret = kvmuf_backstop_open(&r->uffd);
	if (ret == 0)
		ret = kvmuf_backstop_register(r->uffd, mem->hva, mem->size);
	if (ret < 0) {
		err("userfaultfd: %s", strerror(-ret));
		return -1;
	}
	if (r->sys != SYS_KVMUF)
		return 0;
	ret = kvmuf_open(&r->k);
	if (ret == 0)
		ret = kvmuf_attach(r->k, kvmuf_vm_fd(r->vm), 0, opt.vcpus, RING_ENTRIES);
	if (ret == 0)
		ret = kvmuf_add_range(r->k, r->base_gfn, r->npages, KVMUF_RANGE_MISSING);
	if (ret < 0) {
		err("kvm-userfault (open, attach in park mode, add the range missing): %s",
		    kvmuf_strerror(ret));
		return -1;
	}
	return 0;
}

static int start_engine(struct run *r)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(r->vm);
	unsigned int pf = r->record ? 0 : opt.prefetch;
	struct kvmuf_server_config cfg = {
		.ops = r->sys == SYS_UFFD ? &uffd_ops : NULL,
		.ctx = r->sys == SYS_UFFD ? (void *)&r->uctx : (void *)r->k,
		/*
		 * The engine caps its workers to its rings; with no module there are none
		 * to read, so give it one (empty) ring per worker to run as many.
		 */
		.nr_rings = r->sys == SYS_UFFD ? opt.threads : 0,
		.nr_threads = opt.threads,
		.geom = {
			.snap_base_gfn = r->hdr->base_gfn,
			.snap_npages = r->hdr->npages,
			.mem_base_gfn = r->base_gfn,
			.mem_npages = r->npages,
		},
		.use_uffd = 1,
		.uffd = r->uffd,
		.uffd_hva = (uintptr_t)mem->hva,
		.poll_ms = POLL_MS,
		.log_prefix = PROG ": engine",
		.max_logged = MAX_LOGGED,
	};
	struct kvmuf_serve_plan plan = {
		.size = sizeof(plan),
		.readahead_pages = r->record ? 0 : opt.readahead,
		/* The replay list needs a thread even without a sweep. */
		.prefetch_threads = pf ? pf : (r->nr_replay ? 1 : 0),
		.sweep = pf > 0,
		.prefetch_rate = opt.prefetch_rate,
		.replay = r->replay,
		.nr_replay = r->nr_replay,
		.record = r->record,
	};
	int ret;

	r->uctx.uffd = r->uffd;
	/* As kvmuf-daemon: a file from its mapping, NBD many pages at once. */
	kvmuf_source_serve(r->src, &cfg, &plan);
	ret = kvmuf_server_start_plan(&cfg, &plan, &r->srv);
	if (ret < 0) {
		err("starting the page engine: %s", kvmuf_strerror(ret));
		return -1;
	}
	return 0;
}

static int start_vcpus(struct run *r)
{
	unsigned int i;
	int e;

	r->va = calloc(opt.vcpus, sizeof(*r->va));
	if (!r->va || pthread_barrier_init(&r->gate, NULL, opt.vcpus + 1)) {
		err("out of memory");
		return -1;
	}
	for (i = 0; i < opt.vcpus; i++) {
		pthread_t t;

		r->va[i] = (struct vcpu_arg) { .r = r, .id = i };
		e = pthread_create(&t, NULL, vcpu_main, &r->va[i]);
		if (e) {
			/* The others wait at the gate for ever: the process is ending. */
			err("pthread_create: %s", strerror(e));
			return -1;
		}
		pthread_detach(t);
	}
	return 0;
}

/*
 * Wait for every vCPU, then (with a sweep) for every page. A vCPU waiting for a page the
 * engine will never bring (it stopped: the source failed) cannot be interrupted: then,
 * as after the timeout, the caller gives up on the whole process.
 */
static int wait_run(struct run *r, uint64_t t0, int sweep)
{
	uint64_t deadline = opt.timeout_s ? t0 + opt.timeout_s * 1000000000ULL : UINT64_MAX;
	struct kvmuf_serve_progress p = { .size = sizeof(p) };

	while (atomic_load(&r->finished) < opt.vcpus) {
		if (kvmuf_server_done(r->srv)) {
			err("the page engine stopped while the guest ran (see above)");
			return -1;
		}
		if (now_ns() > deadline) {
			err("the guest did not finish its working set within %u s", opt.timeout_s);
			return -1;
		}
		sleep_ns(WAIT_STEP_NS);
	}
	for (unsigned int i = 0; i < opt.vcpus; i++) {
		if (r->va[i].ret != 0) {
			err("vcpu %u failed", i);
			return -1;
		}
		if (r->va[i].result) {
			err("vcpu %u: the guest saw %llu pages with a wrong first word", i,
			    (unsigned long long)r->va[i].result);
			return -1;
		}
	}
	while (sweep) {
		kvmuf_server_progress(r->srv, &p);
		if (p.all_present_ns)
			break;
		if (kvmuf_server_done(r->srv) || now_ns() > deadline) {
			err("not all memory came in (%llu of %llu pages present)",
			    (unsigned long long)p.present, (unsigned long long)p.total);
			return -1;
		}
		sleep_ns(WAIT_STEP_NS);
	}
	return 0;
}

/* Compare [first, first + n) test pages with the snapshot: 0, or -1 (said which). */
static int check_pages(struct run *r, uint64_t first, uint64_t n)
{
	const unsigned char *hva = kvmuf_vm_test_mem(r->vm)->hva;
	char what[96];

	for (uint64_t p = first; p < first + n; p++) {
		const void *page = hva + p * KVMUF_PAGE_SIZE;
		long off = kvmuf_snap_check_page(page, r->base_gfn + p, r->hdr->seed);

		if (off >= 0) {
			err("gfn 0x%llx differs from the snapshot at byte %ld: %s",
			    (unsigned long long)(r->base_gfn + p), off,
			    kvmuf_snap_describe(page, r->hdr->seed, what, sizeof(what)));
			return -1;
		}
	}
	return 0;
}

/*
 * What the guest touched, and everything once all is present. Pages not present are
 * left alone: reading them here would fault them in and count as demand.
 */
static int check_memory(struct run *r, int all, uint64_t *checked)
{
	if (all) {
		*checked = r->npages;
		return check_pages(r, 0, r->npages);
	}
	*checked = 0;
	for (unsigned int i = 0; i < opt.vcpus; i++) {
		if (check_pages(r, i * r->region_pages, r->ws_pages) < 0)
			return -1;
		*checked += r->ws_pages;
	}
	return 0;
}

static int keep_working_set(struct run *r)
{
	struct kvmuf_ws_entry *e;
	size_t n;
	int ret = kvmuf_server_working_set(r->srv, &e, &n);

	if (ret < 0) {
		err("working set: %s", strerror(-ret));
		return -1;
	}
	r->ws_gfns = malloc((n ? n : 1) * sizeof(*r->ws_gfns));
	if (!r->ws_gfns) {
		free(e);
		err("out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		r->ws_gfns[i] = e[i].gfn;
	r->nr_ws = n;
	free(e);
	return 0;
}

static void fill_rep(struct run *r, uint64_t t0, struct rb_rep *out)
{
	struct kvmuf_serve_progress p = { .size = sizeof(p) };
	struct kvmuf_server_stats st;
	uint64_t end = t0;

	for (unsigned int i = 0; i < opt.vcpus; i++)
		if (r->va[i].end_ns > end)
			end = r->va[i].end_ns;
	kvmuf_server_progress(r->srv, &p);
	kvmuf_server_stats(r->srv, &st);
	*out = (struct rb_rep) {
		.ws_s = (double)(end - t0) / 1e9,
		.all_present_s = p.all_present_ns ? (double)p.all_present_ns / 1e9 : -1,
		.demand = p.demand,
		.readahead = p.readahead,
		.prefetched = p.prefetched,
		.replayed = p.replayed,
		.joined = p.joined,
		.ring_faults = st.faults,
		.uffd_faults = st.uffd_faults,
		.faults_timed = p.faults_timed,
		.p50_us = p.faults_timed ? (double)p.fault_p50_ns / 1e3 : -1,
		.p99_us = p.faults_timed ? (double)p.fault_p99_ns / 1e3 : -1,
	};
}

/* Stop the engine: 0 if it saw nothing wrong. */
static int stop_engine(struct run *r)
{
	struct kvmuf_server_stats st;

	kvmuf_server_stop(r->srv, &st);
	r->srv = NULL;
	if (!kvmuf_server_stats_ok(&st) || st.detached) {
		err("page engine: %llu duplicates, %llu out-of-range, %llu errors%s",
		    (unsigned long long)st.duplicates, (unsigned long long)st.out_of_range,
		    (unsigned long long)st.errors, st.detached ? ", detached" : "");
		return -1;
	}
	return 0;
}

static void teardown(struct run *r)
{
	kvmuf_server_stop(r->srv, NULL);
	kvmuf_close(r->k);
	if (r->uffd >= 0)
		close(r->uffd);
	kvmuf_vm_destroy(r->vm);
	if (r->va)
		pthread_barrier_destroy(&r->gate);
	free(r->va);
}

/*
 * One restore. A failure after the vCPUs started ends the process (exit 1): a vCPU
 * blocked on a page nobody serves cannot be joined.
 */
static int run_once(struct run *r, struct rb_rep *out)
{
	int sweep = !r->record && opt.prefetch > 0;
	uint64_t t0;

	r->uffd = -1;
	if (make_vm(r) < 0 || arm(r) < 0 || start_vcpus(r) < 0 || start_engine(r) < 0)
		goto fatal;
	/* The restore starts here: the engine is up, the vCPUs go. */
	t0 = now_ns();
	pthread_barrier_wait(&r->gate);
	if (wait_run(r, t0, sweep) < 0)
		goto fatal;
	fill_rep(r, t0, out);
	if (check_memory(r, sweep, &out->pages_checked) < 0)
		goto fatal;
	if (r->record && keep_working_set(r) < 0)
		goto fatal;
	if (stop_engine(r) < 0)
		goto fatal;
	teardown(r);
	return 0;
fatal:
	err("%s run failed", rb_system_name(r->sys));
	fflush(stdout);
	_exit(EXIT_FAILURE);
}

/* ---- the benchmark ---- */

static void probe_systems(struct rb_report *rep)
{
	struct kvmuf *k;
	int uffd, ret;

	ret = kvmuf_backstop_open(&uffd);
	if (ret < 0) {
		rep->sys_skip[SYS_UFFD] = ret == -EPERM ?
			"userfaultfd not allowed (needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or /dev/userfaultfd)" :
			"no userfaultfd in this kernel";
		/* The kvmuf system uses it as its backstop, too. */
		rep->sys_skip[SYS_KVMUF] = rep->sys_skip[SYS_UFFD];
		return;
	}
	close(uffd);
	ret = kvmuf_open(&k);
	if (ret < 0) {
		rep->sys_skip[SYS_KVMUF] = ret == -ENOENT ?
			KVMUF_DEVICE_PATH " missing (kvm_userfault module not loaded)" :
			KVMUF_DEVICE_PATH " cannot be opened";
		return;
	}
	if (kvmuf_api_version(k) != KVMUF_API_VERSION)
		rep->sys_skip[SYS_KVMUF] = KVMUF_DEVICE_PATH ": another API version";
	kvmuf_close(k);
}

static int kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int run_result(struct rb_report *rep, struct run *proto, struct rb_result *res)
{
	for (unsigned int i = 0; i < opt.reps; i++) {
		struct run r = *proto;

		if (run_once(&r, &res->reps[i]) < 0)
			return -1;
		res->nreps++;
	}
	for (unsigned int i = 0; i < res->nreps; i++) {
		const struct rb_rep *x = &res->reps[i];
		char present[32] = "never";

		if (x->all_present_s >= 0)
			snprintf(present, sizeof(present), "%.3f s", x->all_present_s);
		info("%s%s rep %u: working set %.3f s, all present %s, %llu demand, %llu prefetched, %llu faults",
		     rb_system_name(res->sys), res->replay ? " replay" : "", i + 1, x->ws_s,
		     present, (unsigned long long)x->demand, (unsigned long long)x->prefetched,
		     (unsigned long long)(x->ring_faults + x->uffd_faults));
	}
	res->ran = 1;
	(void)rep;
	return 0;
}

/* The recording run: the pages the vCPUs faulted, in order. */
static int record_working_set(struct run *proto, uint64_t **gfns, size_t *n)
{
	struct run r = *proto;
	struct rb_rep rep;

	r.sys = SYS_KVMUF;
	r.record = 1;
	if (run_once(&r, &rep) < 0)
		return -1;
	*gfns = r.ws_gfns;
	*n = r.nr_ws;
	info("recorded a working set of %zu pages (%.3f s)", *n, rep.ws_s);
	return 0;
}

static int check_coverage(const struct kvmuf_snap_header *h, struct rb_report *rep)
{
	uint64_t base = KVMUF_TEST_GPA >> KVMUF_PAGE_SHIFT;

	rep->total_pages = (uint64_t)opt.vcpus * opt.bytes_per_vcpu / KVMUF_PAGE_SIZE;
	if (h->base_gfn > base || h->base_gfn + h->npages < base + rep->total_pages) {
		err("the snapshot (gfn 0x%llx, %llu pages) does not cover the guest memory (gfn 0x%llx, %llu pages): make one with kvmuf-mksnap -n %llu",
		    (unsigned long long)h->base_gfn, (unsigned long long)h->npages,
		    (unsigned long long)base, (unsigned long long)rep->total_pages,
		    (unsigned long long)rep->total_pages);
		return -1;
	}
	return 0;
}

static int run_all(struct rb_report *rep, struct kvmuf_source *src)
{
	struct run proto = { .src = src, .hdr = kvmuf_source_header(src) };
	uint64_t *ws = NULL;
	size_t nws = 0;
	int can_replay = !rep->sys_skip[SYS_KVMUF];

	if (can_replay && record_working_set(&proto, &ws, &nws) < 0)
		return -1;
	rep->replay_pages = nws;
	for (int replay = 0; replay <= 1; replay++) {
		for (int s = 0; s < NR_SYSTEMS; s++) {
			struct rb_result *res = &rep->res[rep->nres];

			if (!(opt.systems & (1u << s)))
				continue;
			rep->nres++;
			*res = (struct rb_result) { .sys = (enum rb_system)s, .replay = replay };
			if (rep->sys_skip[s]) {
				res->skip_why = rep->sys_skip[s];
				continue;
			}
			if (replay && !can_replay) {
				res->skip_why = "replay needs a working set recorded through kvm-userfault, which is not available";
				continue;
			}
			proto.sys = (enum rb_system)s;
			proto.replay = replay ? ws : NULL;
			proto.nr_replay = replay ? nws : 0;
			if (run_result(rep, &proto, res) < 0)
				return -1;
		}
	}
	free(ws);
	return 0;
}

int main(int argc, char **argv)
{
	static struct rb_report rep;
	struct kvmuf_source *src;
	unsigned int conns;
	char msg[256];
	int ret, runnable = 0;

	parse_args(argc, argv, &opt);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rep.o = &opt;
	if (!kvm_usable()) {
		printf("cannot run here: /dev/kvm: %s\n", strerror(errno));
		return CLI_EXIT_UNAVAILABLE;
	}
	probe_systems(&rep);
	for (int s = 0; s < NR_SYSTEMS; s++) {
		if (!(opt.systems & (1u << s)))
			continue;
		if (rep.sys_skip[s])
			printf("NOTE: skipping %s: %s\n", rb_system_name(s), rep.sys_skip[s]);
		else
			runnable++;
	}
	if (!runnable) {
		printf("cannot run here: none of the requested systems can run\n");
		return CLI_EXIT_UNAVAILABLE;
	}
	if (rep.sys_skip[SYS_KVMUF])
		printf("NOTE: skipping replay: the working set is recorded through kvm-userfault\n");

	/* Demand reads never queue behind prefetch: a connection per thread that reads. */
	conns = opt.threads + (opt.prefetch ? opt.prefetch : 1);
	ret = kvmuf_source_open(opt.source, conns, &src, msg, sizeof(msg));
	if (ret < 0) {
		err("%s", msg);
		return EXIT_FAILURE;
	}
	rep.source_kind = kvmuf_source_kind(src);
	if (check_coverage(kvmuf_source_header(src), &rep) < 0) {
		kvmuf_source_close(src);
		return EXIT_FAILURE;
	}
	rep.ws_pages = (opt.bytes_per_vcpu / KVMUF_PAGE_SIZE) * opt.ws_percent / 100;
	rep.ws_pages = opt.vcpus * (rep.ws_pages ? rep.ws_pages : 1);	/* as make_vm() */
	info("%s source %s, %u connections; %u vCPUs x %llu bytes, working set %u%%",
	     rep.source_kind, opt.source, conns, opt.vcpus,
	     (unsigned long long)opt.bytes_per_vcpu, opt.ws_percent);
	ret = run_all(&rep, src);
	kvmuf_source_close(src);
	if (ret < 0)
		return EXIT_FAILURE;
	rep.ok = 1;
	rb_print_table(stdout, &rep);
	if (opt.json_path && rb_write_json(opt.json_path, &rep) < 0)
		return EXIT_FAILURE;
	if (opt.dat_path && rb_append_dat(opt.dat_path, &rep) < 0)
		return EXIT_FAILURE;
	printf("result: OK (every page the guest touched%s equals the snapshot)\n",
	       opt.prefetch ? ", and all memory once present," : "");
	return 0;
}
