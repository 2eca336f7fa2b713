// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-bench - kvm-userfault side by side with userfaultfd, with the method
 * of the KVM selftest demand_paging_test, in one binary and one run.
 *
 * Workload (tools/vmm/kvmuf_vm.h): N vCPUs in 64-bit mode, each touching the
 * first bytes of every 4 KiB page of its own region of -b bytes once, guest
 * memory mapped as QEMU maps it (2 MiB aligned, MADV_HUGEPAGE; -H); write mode (the guest stores gpa ^ seed at offset 0) or, with -r,
 * reads (verify mode where the pages are served: the guest checks gpa ^ seed;
 * read mode on fresh memory).  The clock starts before the vCPU threads are
 * released and stops when all have finished; per-vCPU times are kept.  Every
 * (mode, vCPU count, repetition) gets a fresh VM, so every run faults every
 * page.
 *
 * Modes: none, none-attached (bench_kvmuf.c), uffd-missing, uffd-minor
 * (bench_uffd.c), kvmuf-park, kvmuf-minor, kvmuf-exit (bench_kvmuf.c): like is
 * compared with like, kvmuf-park (the server copies every page in) beside
 * uffd-missing (UFFDIO_COPY), kvmuf-minor (the page cache holds the data, the
 * server only resolves) beside uffd-minor (UFFDIO_CONTINUE only maps).  The source of the
 * served pages is the snapshot pattern of tools/daemon/snapshot.h (its first
 * word is gpa ^ seed, the rest distinct per page), held in memory.
 *
 * After each run: the guests' own results (kvmuf_vm_check_results), every
 * page compared with its source (served modes: the whole page; none modes:
 * the first word), the served counts, the latency samples.  KVM's own
 * per-vCPU counters over each run (exits, stage-2 faults taken and fixed, ...:
 * bench_kvmstats.c) go in a second table and the JSON.
 *
 * Exit status: 0 ok, 1 a run or a check failed, 2 bad arguments, 3 /dev/kvm
 * missing or unusable (or no requested mode can run here).
 */
#define _GNU_SOURCE
#include "bench.h"

#include <ctype.h>
#include <math.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"

#define EXIT_USAGE	2
#define EXIT_SKIP	CLI_EXIT_UNAVAILABLE	/* this machine cannot run it */
#define DEFAULT_SEED	0x6b766d7566ULL	/* "kvmuf", as kvmuf-vmm */
#define DEFAULT_BYTES	(64ULL << 20)
#define DEFAULT_REPS	3
#define DEFAULT_TIMEOUT	600
#define MAX_VCPUS	KVMUF_MAX_VCPU_RINGS
#define MAX_READERS	1024
#define LAT_SLACK	4096		/* latency slots beyond one per page */

static const char *const mode_names[NR_MODES] = {
	[MODE_NONE]		= "none",
	[MODE_NONE_ATTACHED]	= "none-attached",
	[MODE_UFFD_MISSING]	= "uffd-missing",
	[MODE_UFFD_MINOR]	= "uffd-minor",
	[MODE_KVMUF_PARK]	= "kvmuf-park",
	[MODE_KVMUF_PARK_UFFD]	= "kvmuf-park+uffd",
	[MODE_KVMUF_MINOR]	= "kvmuf-minor",
	[MODE_KVMUF_EXIT]	= "kvmuf-exit",
};

const char *mode_name(enum bench_mode m)
{
	return (unsigned int)m < NR_MODES ? mode_names[m] : "?";
}

int mode_is_served(enum bench_mode m)
{
	return m == MODE_UFFD_MISSING || m == MODE_UFFD_MINOR || m == MODE_KVMUF_PARK ||
	       m == MODE_KVMUF_PARK_UFFD || m == MODE_KVMUF_MINOR || m == MODE_KVMUF_EXIT;
}

int mode_needs_kvmuf(enum bench_mode m)
{
	return m == MODE_NONE_ATTACHED || m == MODE_KVMUF_PARK || m == MODE_KVMUF_PARK_UFFD ||
	       m == MODE_KVMUF_MINOR || m == MODE_KVMUF_EXIT;
}

int mode_needs_uffd(enum bench_mode m)
{
	return m == MODE_UFFD_MISSING || m == MODE_UFFD_MINOR || m == MODE_KVMUF_PARK_UFFD;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [--modes MODES] [-v LIST] [-b BYTES] [--reps N] [--backing anon|shmem]\n"
"                   [-H THP] [-r] [-a] [-T THREADS] [-d USEC] [-B] [--cpus CPUS[/CPUS]]\n"
"                   [--json FILE] [--dat FILE] [--baseline FILE] [-t SEC] [-q]\n"
"KVM demand paging: kvm-userfault side by side with userfaultfd, with the method of the\n"
"KVM selftest demand_paging_test. N vCPUs each touch every 4 KiB page of their own region\n"
"once; a fresh VM for every (mode, vCPU count, repetition).\n"
"  --modes MODES  comma-separated list (default: all):\n"
"                none           no demand paging: fresh memory (the cost of a first touch)\n"
"                none-attached  kvm-userfault attached, memory registered, nothing missing\n"
"                               (the cost of the module's hook)\n"
"                uffd-missing   userfaultfd MISSING, readers answer with UFFDIO_COPY\n"
"                uffd-minor     shmem: page cache filled beforehand, MINOR, UFFDIO_CONTINUE\n"
"                kvmuf-park     kvm-userfault, every page missing, vCPUs park in the kernel,\n"
"                               in-process server threads (libkvmuf's page engine) copy\n"
"                               the pages in (beside uffd-missing); module only\n"
"                kvmuf-park+uffd the same with the userfaultfd backstop, as users run it:\n"
"                               the memory is registered with userfaultfd too, the engine\n"
"                               installs with UFFDIO_COPY, then KVMUF_RESOLVE\n"
"                kvmuf-minor    shmem: page cache filled beforehand, every page missing,\n"
"                               vCPUs park, the server only resolves (beside uffd-minor)\n"
"                kvmuf-exit     the same, KVM_RUN exits and the VMM waits (KVMUF_WAIT)\n"
"  -v LIST     vCPU counts, comma-separated, e.g. 1,2,4,8,16 (default 1)\n"
"  -b BYTES    memory per vCPU, suffix K, M or G, multiple of 4K (default 64M)\n"
"  --reps N    repetitions; the median is reported, all are kept in the JSON (default %d)\n"
"  --backing MEM  anon (private anonymous, default) or shmem (memfd, shared)\n"
"  -H THP      guest memory huge pages: madvise (MADV_HUGEPAGE on a 2 MiB aligned\n"
"              mapping, as QEMU; default), system (no madvise), never (MADV_NOHUGEPAGE)\n"
"  -r, --read  read instead of write (served pages: the guest checks gpa ^ seed)\n"
"  -a          one userfaultfd for all the memory (default: one per vCPU)\n"
"  -T THREADS  reader threads per userfaultfd (uffd modes, as the selftest's -r), server threads\n"
"              in total (kvmuf modes) (default 1)\n"
"  -d USEC     artificial fetch delay per page: usleep in the uffd handler before the\n"
"              copy, the kvm-userfault server's fetch_delay_us (default 0)\n"
"  --pwrite    kvmuf-park on shmem: install pages with pwrite() on the memfd, then\n"
"              KVMUF_RESOLVE (default: KVMUF_RESOLVE_COPY, as for anonymous memory)\n"
"  -B          busy-poll: uffd readers spin on read(), kvm-userfault server threads on\n"
"              their rings; none sleeps (a CPU each)\n"
"  -K          keep one idle VM (attached to kvm-userfault when it is loaded) for the\n"
"              whole run, as a host that runs VMs has: the kernel static keys that the\n"
"              first VM turns on (KVM's preempt notifiers, the module's hook) are not\n"
"              flipped, i.e. kernel code is not patched, between runs\n"
"  --cpus CPUS[/CPUS]  pin vCPU i to the i-th CPU of the first list (round robin), and the\n"
"              serving threads (uffd readers, kvm-userfault workers) likewise to the\n"
"              second, e.g. --cpus 0/1 or --cpus 0-3/4,5 (default: no pinning)\n"
"  --json FILE      configuration, every figure and every repetition\n"
"  --dat FILE       gnuplot table: one row per vCPU count, one column per mode (overall\n"
"                   pages/s, NaN where skipped or failed), '#' header lines\n"
"  --baseline FILE  the JSON of an earlier run of --modes none (e.g. before the module was\n"
"                   loaded): also print the hook overhead against it\n"
"  -t SEC      abort (exit 1) if one run takes longer than SEC s (default %d; 0: never)\n"
"  -q          quiet: no progress line on stderr\n"
"  -h          this help\n"
"  -V          the version\n"
"Long names: --vcpus --bytes --thp --read --one-uffd --threads --delay-us --busy-poll\n"
"--keep-vm --timeout --quiet --help --version. The letters mean the same in every\n"
"kvm-userfault tool; where demand_paging_test's letter means something else there\n"
"(-m, -n, -s, -c, -p, -r) the option is long only, or takes the project's letter.\n"
"Latency: kvmuf modes from the fault (ring entry time_ns) to the end of the resolve\n"
"ioctl; uffd modes from the handler's read() to the end of UFFDIO_COPY/CONTINUE\n"
"(userfaultfd gives no fault timestamp).\n"
"exit status: 0 ok, 1 a run or a check failed, 2 bad arguments, 3 /dev/kvm missing or\n"
"unusable, or none of the requested modes can run here\n",
		DEFAULT_REPS, DEFAULT_TIMEOUT);
}

static void help_hint(FILE *f)
{
	fprintf(f, "(" PROG " -h for help)\n");
}

/* Print "PROG: message" and where to find help, exit with EXIT_USAGE. */
#define bad_usage(...) cli_bad_usage(PROG, help_hint, EXIT_USAGE, __VA_ARGS__)

static void parse_modes(const char *arg, unsigned int *mask)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	if (!copy)
		bad_usage("out of memory");
	*mask = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int m;

		if (!strcmp(tok, "all")) {
			*mask = (1u << NR_MODES) - 1;
			continue;
		}
		for (m = 0; m < NR_MODES; m++)
			if (!strcmp(tok, mode_names[m]))
				break;
		if (m == NR_MODES)
			bad_usage("--modes: unknown mode '%s' (none, none-attached, uffd-missing, uffd-minor, kvmuf-park, kvmuf-park+uffd, kvmuf-minor, kvmuf-exit, all)",
				  tok);
		*mask |= 1u << m;
	}
	free(copy);
	if (!*mask)
		bad_usage("--modes: no mode given");
}

static void parse_vcpus(const char *arg, struct bench_opts *o)
{
	const char *p = arg;

	o->nr_vcounts = 0;
	for (;;) {
		uint64_t v;
		char *end;

		if (cli_parse_u64(p, 10, &v, &end) < 0 || v < 1 || v > MAX_VCPUS ||
		    (*end && *end != ','))
			bad_usage("-v: need a comma-separated list of vCPU counts from 1 to %d",
				  MAX_VCPUS);
		for (unsigned int i = 0; i < o->nr_vcounts; i++)
			if (o->vcpus[i] == v)
				bad_usage("-v: %llu given twice", (unsigned long long)v);
		if (o->nr_vcounts == MAX_VCOUNTS)
			bad_usage("-v: at most %d vCPU counts", MAX_VCOUNTS);
		o->vcpus[o->nr_vcounts++] = (unsigned int)v;
		if (!*end)
			break;
		p = end + 1;
	}
}

/* "0,2-5": CPU numbers into cpus[], at most MAX_PIN_CPUS; what is left after the list. */
static const char *parse_cpu_list(const char *p, int *cpus, unsigned int *n)
{
	*n = 0;
	for (;;) {
		uint64_t lo, hi;
		char *end;

		if (cli_parse_u64(p, 10, &lo, &end) < 0 || lo >= CPU_SETSIZE)
			bad_usage("--cpus: need CPU numbers or ranges, e.g. 0,1/2 or 0-3/4");
		hi = lo;
		if (*end == '-' &&
		    (cli_parse_u64(end + 1, 10, &hi, &end) < 0 || hi < lo || hi >= CPU_SETSIZE))
			bad_usage("--cpus: bad CPU range, e.g. 0-3");
		if (*end && *end != ',' && *end != '/')
			bad_usage("--cpus: need CPU numbers or ranges, e.g. 0,1/2 or 0-3/4");
		for (uint64_t c = lo; c <= hi; c++) {
			if (*n == MAX_PIN_CPUS)
				bad_usage("--cpus: at most %d CPUs per list", MAX_PIN_CPUS);
			cpus[(*n)++] = (int)c;
		}
		if (*end != ',')
			return end;
		p = end + 1;
	}
}

static void parse_pinning(const char *arg, struct bench_opts *o)
{
	const char *rest = parse_cpu_list(arg, o->vcpu_cpus, &o->nr_vcpu_cpus);

	if (*rest == '/')
		rest = parse_cpu_list(rest + 1, o->serve_cpus, &o->nr_serve_cpus);
	if (*rest)
		bad_usage("--cpus: unexpected '%s'", rest);
}

/* path (if given) can be written: an existing writable file, or a writable directory. */
static void check_writable(const char *path, const char *opt)
{
	char dir[4096];
	char *slash;

	if (!path)
		return;
	if (!access(path, F_OK)) {
		if (access(path, W_OK))
			bad_usage("%s %s: %s", opt, path, strerror(errno));
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
	if (access(dir, W_OK | X_OK))
		bad_usage("%s %s: cannot create it in %s: %s", opt, path, dir, strerror(errno));
}

static void parse_args(int argc, char **argv, struct bench_opts *o)
{
	/*
	 * Letters mean what they mean in every tool of the project (tools/common/cli.h);
	 * options whose natural letter means something else elsewhere are long only.
	 */
	enum { OPT_JSON = 256, OPT_DAT, OPT_BASELINE, OPT_MODES, OPT_REPS, OPT_BACKING,
	       OPT_PWRITE, OPT_CPUS };
	static const struct option longopts[] = {
		{ "json",     required_argument, NULL, OPT_JSON },
		{ "dat",      required_argument, NULL, OPT_DAT },
		{ "baseline", required_argument, NULL, OPT_BASELINE },
		{ "help",     no_argument,       NULL, 'h' },
		{ "version",  no_argument,       NULL, 'V' },
		{ "modes",    required_argument, NULL, OPT_MODES },
		{ "vcpus",    required_argument, NULL, 'v' },
		{ "bytes",    required_argument, NULL, 'b' },
		{ "reps",     required_argument, NULL, OPT_REPS },
		{ "backing",  required_argument, NULL, OPT_BACKING },
		{ "thp",      required_argument, NULL, 'H' },
		{ "read",     no_argument,       NULL, 'r' },
		{ "one-uffd", no_argument,       NULL, 'a' },
		{ "threads",  required_argument, NULL, 'T' },
		{ "delay-us", required_argument, NULL, 'd' },
		{ "busy-poll", no_argument,      NULL, 'B' },
		{ "pwrite",   no_argument,       NULL, OPT_PWRITE },
		{ "keep-vm",  no_argument,       NULL, 'K' },
		{ "cpus",     required_argument, NULL, OPT_CPUS },
		{ "timeout",  required_argument, NULL, 't' },
		{ "quiet",    no_argument,       NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v, maxv = 0;
	int c;

	*o = (struct bench_opts) {
		.modes = (1u << NR_MODES) - 1,
		.vcpus = { 1 },
		.nr_vcounts = 1,
		.bytes_per_vcpu = DEFAULT_BYTES,
		.reps = DEFAULT_REPS,
		.readers = 1,
		.backing = KVMUF_MEM_ANON,
		.timeout_s = DEFAULT_TIMEOUT,
		.seed = DEFAULT_SEED,
	};
	while ((c = getopt_long(argc, argv, "v:b:H:raT:d:BKt:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MODES: parse_modes(optarg, &o->modes); break;
		case 'v': parse_vcpus(optarg, o); break;
		case 'b':
			if (cli_parse_size(optarg, &v) < 0 || v == 0 || v % KVMUF_PAGE_SIZE)
				bad_usage("-b: need a non-zero multiple of 4K, e.g. 64M");
			o->bytes_per_vcpu = v;
			break;
		case OPT_REPS:
			if (cli_parse_range(optarg, 10, 1, 1000, &v) < 0)
				bad_usage("--reps: need 1..1000 repetitions");
			o->reps = (unsigned int)v;
			break;
		case OPT_BACKING:
			if (!strcmp(optarg, "anon"))
				o->backing = KVMUF_MEM_ANON;
			else if (!strcmp(optarg, "shmem") || !strcmp(optarg, "memfd"))
				o->backing = KVMUF_MEM_MEMFD;
			else
				bad_usage("--backing: need anon or shmem");
			break;
		case 'H':
			if (!strcmp(optarg, "madvise"))
				o->thp = KVMUF_THP_MADVISE;
			else if (!strcmp(optarg, "system"))
				o->thp = KVMUF_THP_SYSTEM;
			else if (!strcmp(optarg, "never"))
				o->thp = KVMUF_THP_NEVER;
			else
				bad_usage("-H: need madvise, system or never");
			break;
		case 'B': o->busy_poll = 1; break;
		case OPT_PWRITE: o->shmem_write = 1; break;
		case 'K': o->keepalive = 1; break;
		case OPT_CPUS: parse_pinning(optarg, o); break;
		case 'r': o->read_mode = 1; break;
		case 'a': o->one_uffd = 1; break;
		case 'T':
			if (cli_parse_range(optarg, 10, 1, MAX_READERS, &v) < 0)
				bad_usage("-T: need 1..%d threads", MAX_READERS);
			o->readers = (unsigned int)v;
			break;
		case 'd':
			if (cli_parse_range(optarg, 10, 0, 10000000, &v) < 0)
				bad_usage("-d: need 0..10000000 us");
			o->delay_us = (unsigned int)v;
			break;
		case 't':
			if (cli_parse_range(optarg, 10, 0, 86400, &v) < 0)
				bad_usage("-t: need 0..86400 s");
			o->timeout_s = (unsigned int)v;
			break;
		case 'q': o->quiet = 1; break;
		case OPT_JSON: o->json_path = optarg; break;
		case OPT_DAT: o->dat_path = optarg; break;
		case OPT_BASELINE: o->baseline_path = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'V': cli_print_version(PROG); exit(0);
		default:  usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	for (unsigned int i = 0; i < o->nr_vcounts; i++)
		if (o->vcpus[i] > maxv)
			maxv = o->vcpus[i];
	if (o->bytes_per_vcpu > (KVMUF_GPA_LIMIT - KVMUF_TEST_GPA) / maxv)
		bad_usage("%llu x %llu bytes exceeds the %llu GiB of test address space",
			  (unsigned long long)maxv, (unsigned long long)o->bytes_per_vcpu,
			  (KVMUF_GPA_LIMIT - KVMUF_TEST_GPA) >> 30);
}

/* ---- host ---- */

static void host_info(struct host_info *h)
{
	struct utsname u;
	FILE *f;
	char line[4096];

	memset(h, 0, sizeof(*h));
	snprintf(h->kernel, sizeof(h->kernel), "?");
	snprintf(h->cpu_model, sizeof(h->cpu_model), "?");
	if (uname(&u) == 0)
		snprintf(h->kernel, sizeof(h->kernel), "%s", u.release);
	h->host_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		if (!strncmp(line, "model name", 10) && h->cpu_model[0] == '?') {
			char *v = colon + 1;

			while (*v == ' ' || *v == '\t')
				v++;
			v[strcspn(v, "\n")] = '\0';
			snprintf(h->cpu_model, sizeof(h->cpu_model), "%s", v);
		} else if (!strncmp(line, "flags", 5)) {
			size_t n;

			line[strcspn(line, "\n")] = '\0';
			n = strlen(colon);
			if (strstr(colon, " hypervisor ") ||
			    (n >= 11 && !strcmp(colon + n - 11, " hypervisor")))
				h->hypervisor = 1;
		}
	}
	fclose(f);
}

/* 0 if /dev/kvm can create a VM; else -1 with the reason. */
static int kvm_usable(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, ver;

	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return -1;
	}
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (ver < 0) {
		snprintf(why, len, "/dev/kvm: KVM_GET_API_VERSION: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (ver != KVM_API_VERSION) {
		snprintf(why, len, "/dev/kvm: KVM API version %d, expected %d", ver,
			 KVM_API_VERSION);
		close(fd);
		return -1;
	}
	vm = ioctl(fd, KVM_CREATE_VM, 0UL);
	if (vm < 0) {
		snprintf(why, len, "/dev/kvm: KVM_CREATE_VM: %s", strerror(errno));
		close(fd);
		return -1;
	}
	close(vm);
	close(fd);
	return 0;
}

/* ---- per-run watchdog ---- */

static char alarm_msg[256];

static void on_alarm(int sig)
{
	(void)sig;
	if (write(STDERR_FILENO, alarm_msg, strlen(alarm_msg)) < 0) {
		/* nothing more to do */
	}
	_exit(1);
}

static void watchdog_arm(const struct bench_opts *o, const char *what)
{
	if (!o->timeout_s)
		return;
	snprintf(alarm_msg, sizeof(alarm_msg),
		 "\n" PROG ": %s: still running after %u s (-t): aborting\n", what, o->timeout_s);
	alarm(o->timeout_s);
}

static void watchdog_disarm(void)
{
	alarm(0);
}

/* ---- progress ---- */

static int stderr_tty;

static void progress_clear(const struct bench_opts *o)
{
	if (!o->quiet && stderr_tty)
		fprintf(stderr, "\r\033[K");
}

/* ---- one run ---- */

__attribute__((format(printf, 4, 5)))
static void run_fail(const struct bench_opts *o, const char *what, struct run_result *r,
		     const char *fmt, ...)
{
	va_list ap;

	r->ok = 0;
	if (r->fail[0])
		return;		/* the first failure is the story */
	va_start(ap, fmt);
	vsnprintf(r->fail, sizeof(r->fail), fmt, ap);
	va_end(ap);
	progress_clear(o);
	fprintf(stderr, PROG ": %s: FAILED: %s\n", what, r->fail);
}

/* Test pages that differ from their snapshot page; the first is named on stderr. */
static uint64_t compare_snapshot(const struct kvmuf_vm *vm, const struct kvmuf_snap *snap)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	uint64_t n = mem->size / KVMUF_PAGE_SIZE, bad;
	char why[192];

	bad = kvmuf_snap_compare(snap, mem->gpa / KVMUF_PAGE_SIZE, mem->hva, n, why, sizeof(why));
	if (bad)
		fprintf(stderr, "kvmuf-bench: snapshot check: %llu of %llu pages bad; first: %s\n",
			(unsigned long long)bad, (unsigned long long)n, why);
	return bad;
}

/* Pages whose first word is not 0 (read mode on fresh memory). */
static uint64_t count_nonzero(const struct kvmuf_vm *vm)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	uint64_t bad = 0;

	for (uint64_t off = 0; off < mem->size; off += KVMUF_PAGE_SIZE)
		bad += *(const uint64_t *)((const char *)mem->hva + off) != 0;
	return bad;
}

static void do_run(struct bench *b, struct cell *c, unsigned int rep,
		   const struct kvmuf_snap *src, struct lat_rec *lat)
{
	const struct bench_opts *o = &b->o;
	struct run_result *r = &c->reps[rep];
	struct kvmuf_vm_config cfg = {
		.nr_vcpus = c->vcpus,
		.bytes_per_vcpu = o->bytes_per_vcpu,
		.backing = o->backing,
		.thp = o->thp,
		.vcpu_cpus = o->vcpu_cpus,
		.nr_vcpu_cpus = o->nr_vcpu_cpus,
	};
	struct run_ctx rc = { .o = o, .mode = c->mode, .src = src };
	int served = mode_is_served(c->mode);
	struct kvmuf_vcpu_result *res = NULL;
	struct uffd_run *u = NULL;
	struct kv_run *k = NULL;
	struct kstats_reader *kst = NULL;
	struct kstats kst_before, kst_after;
	char kst_err[sizeof(b->kst_why)] = "";
	enum kvmuf_mode gmode;
	char what[96];
	int ret;

	snprintf(what, sizeof(what), "%s v=%u rep %u/%u", mode_name(c->mode), c->vcpus,
		 rep + 1, o->reps);
	c->ran = 1;
	r->done = 1;
	r->ok = 1;
	r->pages = (uint64_t)c->vcpus * b->pages_per_vcpu;
	r->served_mode = served;
	r->counts.module_faults = r->counts.module_resolved = UINT64_MAX;
	r->vcpu_seconds = calloc(c->vcpus, sizeof(*r->vcpu_seconds));
	res = calloc(c->vcpus, sizeof(*res));
	if (!res || !r->vcpu_seconds) {
		run_fail(o, what, r, "out of memory");
		goto out;
	}
	ret = kvmuf_vm_create(&cfg, &rc.vm);
	if (ret != KVMUF_CREATE_OK) {
		run_fail(o, what, r, "cannot create the VM%s%s", ret == KVMUF_CREATE_NOKVM ?
			 ": /dev/kvm: " : "", ret == KVMUF_CREATE_NOKVM ? strerror(errno) : "");
		goto out;
	}
	atomic_store(&lat->n, 0);
	atomic_store(&lat->dropped, 0);
	rc.lat = served ? lat : NULL;
	ret = 0;
	/* kvmuf-park+uffd needs both: kvm-userfault's set-up, arming the backstop too. */
	if (mode_needs_kvmuf(c->mode))
		ret = kv_setup(&rc, &k);
	else if (mode_needs_uffd(c->mode))
		ret = uffd_setup(&rc, &u);
	if (ret < 0) {
		run_fail(o, what, r, "setup: %s", rc.err);
		goto out;
	}

	/* Served pages hold the pattern: -r verifies it; fresh memory reads zero. */
	gmode = !o->read_mode ? KVMUF_MODE_WRITE : served ? KVMUF_MODE_VERIFY : KVMUF_MODE_READ;
	/*
	 * KVM's counters just before the vCPU threads are created and just
	 * after they are joined (outside the timed window): the difference is
	 * the run.  Not being able to read them is no failure: "-" in the table.
	 */
	if (kstats_open(rc.vm, &kst, kst_err, sizeof(kst_err)) < 0 ||
	    kstats_read(kst, &kst_before, kst_err, sizeof(kst_err)) < 0) {
		kstats_close(kst);
		kst = NULL;
	}
	watchdog_arm(o, what);
	r->completed = kvmuf_vm_run(rc.vm, gmode, o->seed, res, &r->seconds) == 0;
	if (kst && kstats_read(kst, &kst_after, kst_err, sizeof(kst_err)) == 0)
		kstats_delta(&kst_before, &kst_after, &r->kst);
	kstats_close(kst);
	if (!r->kst.valid && !b->kst_why[0])
		snprintf(b->kst_why, sizeof(b->kst_why), "%s", kst_err);
	ret = 0;
	if (u)
		ret = uffd_finish(&rc, u);
	else if (k)
		ret = kv_finish(&rc, k);
	watchdog_disarm();
	if (u || k)
		r->counts = rc.counts;

	for (unsigned int i = 0; i < c->vcpus; i++) {
		r->vcpu_seconds[i] = res[i].seconds;
		if (res[i].ok)
			r->touched += gmode == KVMUF_MODE_WRITE ? res[i].guest_result : res[i].pages;
	}
	if (!r->completed)
		run_fail(o, what, r, "not every vCPU finished (see the messages above)");
	if (ret < 0)
		run_fail(o, what, r, "%s", rc.err);
	if (!r->completed)
		goto out;

	/* Physical sense: the pages the guests touched, their contents, the counts. */
	if (r->touched != r->pages)
		run_fail(o, what, r, "the guests touched %llu pages, expected %llu",
			 (unsigned long long)r->touched, (unsigned long long)r->pages);
	r->guest_ok = kvmuf_vm_check_results(rc.vm, gmode, o->seed, res) == 0;
	if (!r->guest_ok)
		run_fail(o, what, r, "the guests' results are wrong (see above)");
	if (served)
		r->bad_pages = compare_snapshot(rc.vm, src);
	else if (gmode == KVMUF_MODE_WRITE)
		r->bad_pages = kvmuf_vm_check_pattern(rc.vm, o->seed, NULL);
	else
		r->bad_pages = count_nonzero(rc.vm);
	if (r->bad_pages)
		run_fail(o, what, r, "%llu of %llu pages do not hold what they should (%s)",
			 (unsigned long long)r->bad_pages, (unsigned long long)r->pages,
			 served ? "their source page" :
			 gmode == KVMUF_MODE_WRITE ? "gpa ^ seed in the first word" :
			 "zero in the first word");
	if (served) {
		size_t n = atomic_load(&lat->n);

		if (r->counts.served != r->pages || r->counts.duplicates)
			run_fail(o, what, r, "served %llu pages (%llu duplicates) for %llu pages",
				 (unsigned long long)r->counts.served,
				 (unsigned long long)r->counts.duplicates,
				 (unsigned long long)r->pages);
		/* The module notifies each missing GFN once; exit mode exits for each. */
		if (mode_needs_kvmuf(c->mode) && r->counts.module_faults != UINT64_MAX &&
		    r->counts.module_faults != r->pages)
			run_fail(o, what, r, "kvm-userfault reported %llu faults for %llu pages",
				 (unsigned long long)r->counts.module_faults,
				 (unsigned long long)r->pages);
		if (c->mode == MODE_KVMUF_EXIT && r->counts.exits < r->pages)
			run_fail(o, what, r, "%llu kvm-userfault exits for %llu missing pages",
				 (unsigned long long)r->counts.exits, (unsigned long long)r->pages);
		if (n != r->counts.served + r->counts.duplicates || atomic_load(&lat->dropped))
			run_fail(o, what, r, "%zu latency samples for %llu pages served",
				 n, (unsigned long long)r->counts.served);
		lat_summarize(lat, &r->lat);
	}
out:
	uffd_destroy(u);
	kv_destroy(k);
	kvmuf_vm_destroy(rc.vm);
	free(res);
}

/* ---- checks and summary lines ---- */

static void compute_checks(struct bench *b)
{
	const struct bench_opts *o = &b->o;

	b->runs_ok = b->pages_ok = b->verify_ok = b->served_ok = 1;
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(b, vi, m);

			if (!c->ran)
				continue;
			for (unsigned int i = 0; i < o->reps; i++) {
				struct run_result *r = &c->reps[i];

				if (!r->done)
					continue;
				if (!r->ok)
					b->runs_ok = 0;
				if (!r->completed)
					continue;
				if (r->touched != (uint64_t)o->vcpus[vi] * b->pages_per_vcpu)
					b->pages_ok = 0;
				if (!r->guest_ok || r->bad_pages)
					b->verify_ok = 0;
				if (r->served_mode &&
				    (r->counts.served != r->pages || r->counts.duplicates ||
				     r->counts.out_of_range ||
				     (mode_needs_kvmuf(m) && r->counts.module_faults != UINT64_MAX &&
				      r->counts.module_faults != r->pages) ||
				     (m == MODE_KVMUF_EXIT && r->counts.exits < r->pages)))
					b->served_ok = 0;
			}
		}
}

static const char *plural(unsigned int n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void print_overheads(struct bench *b)
{
	const struct bench_opts *o = &b->o;
	int any = 0;

	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++) {
		struct cell *none = bench_cell(b, vi, MODE_NONE);
		struct cell *att = bench_cell(b, vi, MODE_NONE_ATTACHED);

		if (!none->nok || !att->nok)
			continue;
		/* Extra time per page: rate ratio, not rate difference. */
		b->hook_pct[vi] = (none->overall_rate / att->overall_rate - 1) * 100;
		b->hook_noise_pct[vi] = cell_noise_pct(b, none) > cell_noise_pct(b, att) ?
					cell_noise_pct(b, none) : cell_noise_pct(b, att);
		b->hook_valid[vi] = 1;
		printf("hook overhead: %+.1f%% (none-attached vs none, module loaded) at %u %s; noise +-%.1f%% (the larger half-spread of the %u repetitions of either)%s\n",
		       b->hook_pct[vi], o->vcpus[vi], plural(o->vcpus[vi], "vCPU", "vCPUs"),
		       b->hook_noise_pct[vi], o->reps,
		       fabs(b->hook_pct[vi]) <= b->hook_noise_pct[vi] ? ": within the noise" : "");
		any = 1;
	}
	if (!any && (o->modes & (1u << MODE_NONE)) && (o->modes & (1u << MODE_NONE_ATTACHED)))
		printf("hook overhead: not computed: %s\n",
		       b->skip_why[MODE_NONE_ATTACHED] ? "none-attached was skipped (kvm-userfault unavailable)" :
		       b->skip_why[MODE_NONE] ? "none was skipped" :
		       "none and none-attached did not both succeed");

	if (!b->have_base)
		return;
	printf("baseline: %s\n", b->base.desc);
	if (strcmp(b->base.backing, o->backing == KVMUF_MEM_MEMFD ? "shmem" : "anon") ||
	    strcmp(b->base.access, o->read_mode ? "read" : "write") ||
	    b->base.bytes_per_vcpu != (double)o->bytes_per_vcpu)
		printf("WARNING: the baseline was run with other settings (memory, access or size): the comparison is not like for like\n");
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++) {
		struct cell *none = bench_cell(b, vi, MODE_NONE);
		struct cell *att = bench_cell(b, vi, MODE_NONE_ATTACHED);
		double base = b->base.rates[vi];
		const char *v = plural(o->vcpus[vi], "vCPU", "vCPUs");

		if (base <= 0) {
			printf("hook overhead vs module not loaded: no baseline 'none' result at %u %s\n",
			       o->vcpus[vi], v);
			continue;
		}
		if (att->nok)
			printf("hook overhead vs module not loaded: %.1f%% (none-attached vs baseline none) at %u %s\n",
			       (base / att->overall_rate - 1) * 100, o->vcpus[vi], v);
		else
			printf("hook overhead vs module not loaded: not computed at %u %s: none-attached did not run\n",
			       o->vcpus[vi], v);
		if (none->nok && !access("/sys/module/kvm_userfault", F_OK))
			printf("module loaded, VM not attached vs not loaded: %.1f%% (none vs baseline none) at %u %s\n",
			       (base / none->overall_rate - 1) * 100, o->vcpus[vi], v);
		else if (none->nok)
			printf("module not loaded in either run: %.1f%% (none vs baseline none, the drift between runs) at %u %s\n",
			       (base / none->overall_rate - 1) * 100, o->vcpus[vi], v);
	}
}

/* `none` should be the fastest at each vCPU count: a warning only. */
static void check_none_fastest(struct bench *b)
{
	const struct bench_opts *o = &b->o;

	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++) {
		struct cell *none = bench_cell(b, vi, MODE_NONE);

		if (!none->nok)
			continue;
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(b, vi, m);

			if (m == MODE_NONE || !c->nok || c->overall_rate <= none->overall_rate)
				continue;
			printf("  none fastest:  WARNING: at %u %s %s (%.0f pages/s) beat none (%.0f pages/s) by %.1f%%: close results can invert (noise, TCG)\n",
			       o->vcpus[vi], plural(o->vcpus[vi], "vCPU", "vCPUs"), mode_name(m),
			       c->overall_rate, none->overall_rate,
			       (c->overall_rate / none->overall_rate - 1) * 100);
			b->none_warnings++;
		}
	}
}

static void print_checks(struct bench *b, unsigned int nruns, unsigned int nok)
{
	const struct bench_opts *o = &b->o;
	int have_none = 0;

	printf("checks:\n");
	printf("  runs:          %s (%u of %u runs passed)\n", b->runs_ok ? "OK" : "FAILED",
	       nok, nruns);
	printf("  pages touched: %s (", b->pages_ok ? "OK" : "FAILED");
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		printf("%s%llu at %u %s", vi ? ", " : "every mode: ",
		       (unsigned long long)(o->vcpus[vi] * b->pages_per_vcpu), o->vcpus[vi],
		       plural(o->vcpus[vi], "vCPU", "vCPUs"));
	printf(")\n");
	printf("  verification:  %s (served pages equal their source page in full; %s)\n",
	       b->verify_ok ? "OK" : "FAILED",
	       o->read_mode ? "none modes read zero" : "none modes hold gpa ^ seed in the first word");
	printf("  pages served:  %s (uffd: UFFDIO_COPY/CONTINUE successes = pages; kvmuf: server served = module faults = pages, no duplicates, no out-of-range; exit mode: an exit per page)\n",
	       b->served_ok ? "OK" : "FAILED");
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		have_none |= bench_cell(b, vi, MODE_NONE)->nok > 0;
	check_none_fastest(b);
	if (!have_none)
		printf("  none fastest:  not checked (none did not run)\n");
	else if (!b->none_warnings)
		printf("  none fastest:  OK\n");
}

/* ---- -K: an idle VM for the whole run ---- */

static struct kvmuf_vm *keepalive_vm;
static struct kvmuf *keepalive_k;

static int keepalive_start(struct bench *b)
{
	struct kvmuf_vm_config cfg = {
		.nr_vcpus = 1, .bytes_per_vcpu = KVMUF_PAGE_SIZE, .backing = KVMUF_MEM_ANON,
	};
	int ret;

	if (kvmuf_vm_create(&cfg, &keepalive_vm) != KVMUF_CREATE_OK) {
		fprintf(stderr, PROG ": -K: cannot create the idle VM\n");
		return -1;
	}
	if (!b->kv.usable)
		return 0;
	ret = kvmuf_open(&keepalive_k);
	if (!ret)
		ret = kvmuf_attach(keepalive_k, kvmuf_vm_fd(keepalive_vm), 0, 1, KVMUF_MIN_RING_ENTRIES);
	if (ret) {
		fprintf(stderr, PROG ": -K: cannot attach the idle VM: %s\n", kvmuf_strerror(ret));
		return -1;
	}
	return 0;
}

static void keepalive_stop(void)
{
	kvmuf_close(keepalive_k);
	kvmuf_vm_destroy(keepalive_vm);
}

/* ---- main ---- */

static int build_source(struct kvmuf_snap *src, uint64_t npages, uint64_t seed)
{
	size_t size = (size_t)(npages * KVMUF_PAGE_SIZE);
	unsigned char *data;

	data = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (data == MAP_FAILED) {
		fprintf(stderr, PROG ": mmap of %zu bytes for the source pages: %s\n", size,
			strerror(errno));
		return -1;
	}
	memset(src, 0, sizeof(*src));
	memcpy(src->hdr.magic, KVMUF_SNAP_MAGIC, sizeof(src->hdr.magic));
	src->hdr.version = KVMUF_SNAP_VERSION;
	src->hdr.page_size = KVMUF_SNAP_PAGE;
	src->hdr.base_gfn = KVMUF_TEST_GPA >> KVMUF_PAGE_SHIFT;
	src->hdr.npages = npages;
	src->hdr.seed = seed;
	for (uint64_t i = 0; i < npages; i++)
		kvmuf_snap_fill_page(data + i * KVMUF_PAGE_SIZE, src->hdr.base_gfn + i, seed);
	src->data = data;
	src->map = data;
	src->map_size = size;
	return 0;
}

static void decide_modes(struct bench *b)
{
	const struct bench_opts *o = &b->o;

	for (int m = 0; m < NR_MODES; m++) {
		if (!(o->modes & (1u << m)))
			continue;
		if (mode_needs_kvmuf(m) && !b->kv.usable)
			b->skip_why[m] = b->kv.why;
		else if (mode_needs_uffd(m) && !b->uffd.usable)
			b->skip_why[m] = b->uffd.why;
		else if ((m == MODE_UFFD_MINOR || m == MODE_KVMUF_MINOR) &&
			 o->backing != KVMUF_MEM_MEMFD)
			b->skip_why[m] = "needs shmem memory (--backing shmem): its data sits in the page cache beforehand";
		else if (m == MODE_UFFD_MINOR && !b->uffd.minor_shmem)
			b->skip_why[m] = b->uffd.why;
	}
}

const char *thp_name(enum kvmuf_thp t)
{
	return t == KVMUF_THP_SYSTEM ? "as the system's setting" :
	       t == KVMUF_THP_NEVER ? "off (MADV_NOHUGEPAGE)" : "MADV_HUGEPAGE";
}

/* "none", or "vCPUs on 0,1; serving threads on 2". */
const char *pinning_desc(const struct bench_opts *o)
{
	static char buf[2 * MAX_PIN_CPUS * 5 + 64];
	size_t n = 0;

	if (!o->nr_vcpu_cpus && !o->nr_serve_cpus)
		return "none";
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "vCPUs on ");
	for (unsigned int i = 0; i < o->nr_vcpu_cpus; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d", i ? "," : "",
				      o->vcpu_cpus[i]);
	if (o->nr_serve_cpus) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "; serving threads on ");
		for (unsigned int i = 0; i < o->nr_serve_cpus; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d", i ? "," : "",
					      o->serve_cpus[i]);
	}
	return buf;
}

static void print_header(struct bench *b)
{
	const struct bench_opts *o = &b->o;
	unsigned int kvmuf_skipped = 0, runnable = 0;

	printf(PROG ": demand paging with the method of KVM's demand_paging_test\n");
	printf("config: vCPUs ");
	for (unsigned int i = 0; i < o->nr_vcounts; i++)
		printf("%s%u", i ? "," : "", o->vcpus[i]);
	printf(", %llu bytes (%llu pages) per vCPU, %s memory, %s, THP %s, %u %s (median shown)\n",
	       (unsigned long long)o->bytes_per_vcpu, (unsigned long long)b->pages_per_vcpu,
	       o->backing == KVMUF_MEM_MEMFD ? "shmem" : "anon",
	       o->read_mode ? "read" : "write", thp_name(o->thp), o->reps,
	       plural(o->reps, "repetition", "repetitions"));
	printf("        uffd: %s, %u %s%s; kvmuf: %u server %s in total; fetch delay %u us; %s\n",
	       o->one_uffd ? "one for all memory" : "one per vCPU", o->readers,
	       plural(o->readers, "reader", "readers"), o->one_uffd ? "" : " each", o->readers,
	       plural(o->readers, "thread", "threads"), o->delay_us,
	       o->busy_poll ? "serving threads busy-poll" : "serving threads sleep when idle");
	if (o->keepalive)
		printf("        an idle VM%s stays for the whole run (-K)\n",
		       b->kv.usable ? ", attached to kvm-userfault," : "");
	printf("host:   kernel %s, %s, %ld CPUs, %s, pinning: %s\n", b->host.kernel,
	       b->host.cpu_model, b->host.host_cpus,
	       b->host.hypervisor ? "under a hypervisor" : "no hypervisor flag",
	       pinning_desc(o));

	printf("avail:  kvm-userfault: %s; userfaultfd: %s%s%s\n",
	       b->kv.usable ? "yes" : b->kv.why,
	       b->uffd.usable ? "yes" : b->uffd.why,
	       b->uffd.usable ? ", MINOR on shmem: " : "",
	       b->uffd.usable ? (b->uffd.minor_shmem ? "yes" : "no") : "");
	for (int m = 0; m < NR_MODES; m++) {
		if (!(o->modes & (1u << m)))
			continue;
		if (b->skip_why[m] && mode_needs_kvmuf(m) && !b->kv.usable)
			kvmuf_skipped |= 1u << m;
		else if (!b->skip_why[m])
			runnable |= 1u << m;
	}
	if (kvmuf_skipped) {
		const char *sep = "";

		printf("NOTE: kvm-userfault unavailable (%s): skipping ", b->kv.why);
		for (int m = 0; m < NR_MODES; m++)
			if (kvmuf_skipped & (1u << m)) {
				printf("%s%s", sep, mode_name(m));
				sep = ", ";
			}
		printf("; running only the modes that do not need it: ");
		sep = "";
		for (int m = 0; m < NR_MODES; m++)
			if (runnable & (1u << m)) {
				printf("%s%s", sep, mode_name(m));
				sep = ", ";
			}
		printf("%s\n", runnable ? "" : "(none requested)");
	}
	for (int m = 0; m < NR_MODES; m++)
		if (b->skip_why[m] && !(kvmuf_skipped & (1u << m)))
			printf("NOTE: skipping %s: %s\n", mode_name(m), b->skip_why[m]);
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct bench_opts *o = &b.o;
	struct kvmuf_snap src;
	struct lat_rec lat = { 0 };
	unsigned int maxv = 0, nmodes = 0, total, k = 0, nruns = 0, nok = 0;
	char why[256];

	parse_args(argc, argv, o);
	/* An output that cannot be written is a usage error now, not after the whole run. */
	check_writable(o->json_path, "--json");
	check_writable(o->dat_path, "--dat");
	stderr_tty = isatty(STDERR_FILENO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	b.pages_per_vcpu = o->bytes_per_vcpu / KVMUF_PAGE_SIZE;

	if (kvm_usable(why, sizeof(why)) < 0) {
		printf(PROG ": cannot run here: %s\n", why);
		return EXIT_SKIP;
	}
	if (o->baseline_path) {
		char err[512];

		if (baseline_read(o->baseline_path, o->vcpus, o->nr_vcounts, &b.base, err,
				  sizeof(err)) < 0) {
			fprintf(stderr, PROG ": --baseline: %s\n", err);
			return EXIT_USAGE;
		}
		b.have_base = 1;
	}
	host_info(&b.host);
	uffd_probe(&b.uffd);
	kv_probe(&b.kv);
	decide_modes(&b);
	print_header(&b);

	for (int m = 0; m < NR_MODES; m++)
		nmodes += (o->modes & (1u << m)) && !b.skip_why[m];
	if (!nmodes) {
		printf(PROG ": cannot run here: none of the requested modes can run here\n");
		return EXIT_SKIP;
	}
	for (unsigned int i = 0; i < o->nr_vcounts; i++)
		if (o->vcpus[i] > maxv)
			maxv = o->vcpus[i];

	/* Every run's served pages come from here; runs with fewer vCPUs use a prefix. */
	if (build_source(&src, maxv * b.pages_per_vcpu, o->seed) < 0)
		return EXIT_FAILURE;
	lat.cap = (size_t)(maxv * b.pages_per_vcpu) + LAT_SLACK;
	lat.ns = malloc(lat.cap * sizeof(*lat.ns));
	b.cells = calloc((size_t)o->nr_vcounts * NR_MODES, sizeof(*b.cells));
	if (!lat.ns || !b.cells) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_FAILURE;
	}
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(&b, vi, m);

			c->mode = m;
			c->vcpus = o->vcpus[vi];
			c->reps = calloc(o->reps, sizeof(*c->reps));
			if (!c->reps) {
				fprintf(stderr, PROG ": out of memory\n");
				return EXIT_FAILURE;
			}
		}
	signal(SIGALRM, on_alarm);
	if (o->keepalive && keepalive_start(&b) < 0)
		return EXIT_FAILURE;

	/* Modes interleaved within each repetition: slow drifts hit them all alike. */
	total = o->nr_vcounts * o->reps * nmodes;
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		for (unsigned int rep = 0; rep < o->reps; rep++)
			for (int m = 0; m < NR_MODES; m++) {
				struct cell *c = bench_cell(&b, vi, m);
				struct run_result *r = &c->reps[rep];

				if (!(o->modes & (1u << m)) || b.skip_why[m])
					continue;
				k++;
				if (!o->quiet && stderr_tty)
					fprintf(stderr, "\r\033[K[%u/%u] %s v=%u rep %u/%u ...", k,
						total, mode_name(m), c->vcpus, rep + 1, o->reps);
				do_run(&b, c, rep, &src, &lat);
				nruns++;
				nok += r->ok;
				if (!o->quiet && !stderr_tty)
					fprintf(stderr, "[%u/%u] %s v=%u rep %u/%u: %s\n", k, total,
						mode_name(m), c->vcpus, rep + 1, o->reps,
						r->ok ? "ok" : "FAILED");
			}
	progress_clear(o);

	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++) {
		struct cell *uffd = bench_cell(&b, vi, MODE_UFFD_MISSING);
		struct cell *minor = bench_cell(&b, vi, MODE_UFFD_MINOR);

		for (int m = 0; m < NR_MODES; m++)
			cell_summarize(&b, bench_cell(&b, vi, m));
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(&b, vi, m);

			c->vs_uffd = c->nok && uffd->nok ? c->overall_rate / uffd->overall_rate : 0;
			c->vs_minor = c->nok && minor->nok ? c->overall_rate / minor->overall_rate : 0;
		}
	}
	compute_checks(&b);

	printf("\n");
	report_table(&b, stdout);
	printf("per-vCPU pg/s = pages per vCPU / time, overall = that x vCPUs (demand_paging_test's\n"
	       "\"Per-vcpu\" and \"Overall demand paging rate\"); time = release of the vCPU threads until\n"
	       "all are done; vs uffd = overall / uffd-missing's at the same vCPU count. Latency (us):\n"
	       "kvmuf modes from the fault (ring entry time_ns) to the end of the resolve ioctl; uffd\n"
	       "modes from the handler's read() to the end of UFFDIO_COPY/CONTINUE (userfaultfd gives no\n"
	       "fault timestamp: the reader's wakeup is not included). p50/p99 median over the\n"
	       "repetitions, max over all.\n\n");
	report_kstats_table(&b, stdout);
	printf("\n");
	report_stages_table(&b, stdout);
	printf("\n");
	print_overheads(&b);
	print_checks(&b, nruns, nok);

	b.status = b.runs_ok && b.pages_ok && b.verify_ok && b.served_ok ? 0 : 1;
	if (o->json_path && report_json(&b, o->json_path) < 0)
		b.status = 1;
	if (o->dat_path && report_dat(&b, o->dat_path) < 0)
		b.status = 1;
	printf("result: %s%s\n", b.status ? "FAILED" : "OK",
	       b.none_warnings ? " (with warnings)" : "");

	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(&b, vi, m);

			for (unsigned int i = 0; i < o->reps; i++)
				free(c->reps[i].vcpu_seconds);
			free(c->reps);
		}
	free(b.cells);
	free(lat.ns);
	munmap(src.map, src.map_size);
	keepalive_stop();
	return b.status;
}
