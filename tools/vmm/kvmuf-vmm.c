// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-vmm - run the memstress pattern in a tiny KVM guest: N vCPUs, each
 * touching every 4 KiB page of its own region once, and check the result.
 *
 * With -u the test memory is demand-paged through kvm-userfault: every page
 * starts missing and is served by kvmuf-daemon (-D) or an in-process server
 * reading a snapshot (-S); see kvmuf_uf.h.
 *
 * Exit status: 0 success, 1 failure, 2 bad arguments, 3 /dev/kvm (or, with
 * -u, /dev/kvm-userfault) missing.
 */
#define _GNU_SOURCE
#include "kvmuf_uf.h"		/* includes kvmuf_vm.h */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define PROG		"kvmuf-vmm"
#define EXIT_USAGE	2
#define EXIT_SKIP	CLI_EXIT_UNAVAILABLE	/* this machine cannot run it */
#define MAX_VCPUS	4096		/* KVM's x86 limit */
#define DEFAULT_SEED	0x6b766d7566ULL	/* "kvmuf" */
#define DEFAULT_RING	256
#define DEFAULT_THREADS	2
#define MAX_THREADS	1024
#define SERVER_POLL_MS	50
#define CONNECT_MS	10000		/* keep retrying to reach the daemon */

struct options {
	struct kvmuf_vm_config cfg;
	enum kvmuf_mode mode;
	int mode_set;			/* -w, -r, -c or -k given */
	uint64_t seed;
	int seed_set;			/* -s given */
	int quiet;
	struct kvmuf_uf_config uf;	/* uf.mode == KVMUF_UF_OFF: no -u */
	const char *snap_path;		/* -S */
	uint64_t vmm_reads;		/* -P: pages the VMM reads itself before the run */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [-v NVCPUS] [-b BYTES] [-O] [-m anon|memfd] [-H THP] [-w|-r|-c|-k] [-s SEED]\n"
		"       [-q]\n"
		"       [-u park|exit [-M] [-R ENTRIES] [-G] [-D SOCKET | -T THREADS [-d USEC]] [-W MS]]\n"
		"       [-S SNAPSHOT]\n"
		"  -v NVCPUS  number of vCPUs, each with its own region (default 1)\n"
		"  -b BYTES   region size per vCPU, suffix K, M or G; multiple of 4K (default 1M)\n"
		"  -O         all vCPUs touch the same region (memory is one region; dedup tests)\n"
		"  -m MEM     test memory: anon (private anonymous, default) or memfd (shared)\n"
		"  -H THP     huge pages for the test memory, mapped 2 MiB aligned: madvise\n"
		"             (MADV_HUGEPAGE, as QEMU does; default), system (no madvise) or\n"
		"             never (MADV_NOHUGEPAGE)\n"
		"  -w         write mode: guest stores gpa ^ seed in every page (default)\n"
		"  -r         read mode: guest loads every page\n"
		"  -c         verify mode: guest checks every page holds gpa ^ seed (the host\n"
		"             pre-fills it, from -S if given; with -u the server provides it)\n"
		"  -k         checksum mode: guest sums all 512 words of every page; the host\n"
		"             compares every sum with its own view of the page\n"
		"  -s SEED    64-bit hex seed (default 0x%llx, or the seed of -S)\n"
		"  -q         quiet: print only the summary line\n"
		"  -u MODE    demand-page the test memory with /dev/kvm-userfault, all of it\n"
		"             missing at start; MODE park (vCPUs sleep in the kernel) or exit\n"
		"             (KVM_RUN returns, the VMM waits with KVMUF_WAIT and re-enters)\n"
		"             The test memory is also registered with userfaultfd (the backstop:\n"
		"             KVM's and the VMM's own accesses to missing pages wait until served)\n"
		"  -M         module only: no userfaultfd backstop (such accesses would see zeros;\n"
		"             this VMM makes none: the guest code touches memory by itself only)\n"
		"  -R ENTRIES ring entries per vCPU ring, power of two 16..65536 (default %d)\n"
		"  -G         no vCPU rings: every vCPU notifies through the shared VM ring\n"
		"  -D SOCKET  hand the device fd (and the memfd, the userfaultfd) to kvmuf-daemon\n"
		"             at SOCKET; in park mode the VMM then closes its own device fd\n"
		"  -T THREADS without -D: threads of the in-process server (default %d)\n"
		"  -d USEC    without -D: in-process server fetch delay per page (default 0)\n"
		"  -W MS      exit mode: fail if a missing page is not served within MS ms\n"
		"             (default: wait as long as the server is there)\n"
		"  --takeover-ms MS  with -D: if the daemon dies, the vCPUs wait up to MS ms\n"
		"             (1..3600000) for a new kvmuf-daemon at SOCKET, which gets the VM's\n"
		"             state with every pending fault (default: its death ends the run)\n"
		"  -S FILE    snapshot image (kvmuf-mksnap): source of the in-process server\n"
		"             (required with -u and no -D), or what the daemon serves; after\n"
		"             the run every page is compared with it.  Implies -c unless -w or\n"
		"             -r is given.  Without -u the host pre-fills memory from it\n"
		"  -P PAGES   before the run the VMM itself reads the first PAGES pages of the\n"
		"             test memory, as device emulation does, and checks them against -S\n"
		"             (with -u they are still missing: the backstop must serve them)\n"
		"  -h         this help\n"
		"  -V         the version\n"
		"Long names: --vcpus --bytes --memory --thp --one-region --write --read --verify\n"
		"--checksum --seed --quiet --userfault --module-only --ring-entries --no-vcpu-rings\n"
		"--daemon --threads --delay-us --wait-ms --snapshot --prefetch-pages --help --version\n"
		"exit status: 0 ok, 1 failure, 2 bad arguments, 3 cannot run here (no /dev/kvm, or\n"
		"no /dev/kvm-userfault with -u)\n",
		DEFAULT_SEED, DEFAULT_RING, DEFAULT_THREADS);
}

/* Print "PROG: message" and the usage, exit with EXIT_USAGE. */
#define bad_usage(...) cli_bad_usage(PROG, usage, EXIT_USAGE, __VA_ARGS__)

static void parse_args(int argc, char **argv, struct options *o)
{
	int ring_set = 0, threads_set = 0;
	uint64_t v;
	char *end;
	int c;

	*o = (struct options) {
		.cfg = {
			.nr_vcpus = 1,
			.bytes_per_vcpu = 1 << 20,
			.backing = KVMUF_MEM_ANON,
		},
		.mode = KVMUF_MODE_WRITE,
		.seed = DEFAULT_SEED,
		.uf = {
			.mode = KVMUF_UF_OFF,
			.ring_entries = DEFAULT_RING,
			.server_threads = DEFAULT_THREADS,
			.poll_ms = SERVER_POLL_MS,
			.connect_timeout_ms = CONNECT_MS,
		},
	};

	enum { OPT_TAKEOVER_MS = 256 };
	static const struct option longopts[] = {
		{ "vcpus", required_argument, NULL, 'v' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "memory", required_argument, NULL, 'm' },
		{ "thp", required_argument, NULL, 'H' },
		{ "one-region", no_argument, NULL, 'O' },
		{ "write", no_argument, NULL, 'w' },
		{ "read", no_argument, NULL, 'r' },
		{ "verify", no_argument, NULL, 'c' },
		{ "checksum", no_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "userfault", required_argument, NULL, 'u' },
		{ "module-only", no_argument, NULL, 'M' },
		{ "ring-entries", required_argument, NULL, 'R' },
		{ "no-vcpu-rings", no_argument, NULL, 'G' },
		{ "daemon", required_argument, NULL, 'D' },
		{ "threads", required_argument, NULL, 'T' },
		{ "delay-us", required_argument, NULL, 'd' },
		{ "wait-ms", required_argument, NULL, 'W' },
		{ "snapshot", required_argument, NULL, 'S' },
		{ "prefetch-pages", required_argument, NULL, 'P' },
		{ "takeover-ms", required_argument, NULL, OPT_TAKEOVER_MS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "v:b:m:H:Owrcks:qu:MR:GD:T:d:W:S:P:hV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'v':
			if (cli_parse_u64(optarg, 10, &v, &end) < 0 || *end ||
			    v < 1 || v > MAX_VCPUS)
				bad_usage("-v: need a vCPU count from 1 to %d", MAX_VCPUS);
			o->cfg.nr_vcpus = (unsigned int)v;
			break;
		case 'b':
			if (cli_parse_size(optarg, &v) < 0 || v == 0 ||
			    v % KVMUF_PAGE_SIZE)
				bad_usage("-b: need a non-zero multiple of 4K, e.g. 64M");
			o->cfg.bytes_per_vcpu = v;
			break;
		case 'm':
			if (!strcmp(optarg, "anon"))
				o->cfg.backing = KVMUF_MEM_ANON;
			else if (!strcmp(optarg, "memfd"))
				o->cfg.backing = KVMUF_MEM_MEMFD;
			else
				bad_usage("-m: need anon or memfd");
			break;
		case 'H':
			if (!strcmp(optarg, "madvise"))
				o->cfg.thp = KVMUF_THP_MADVISE;
			else if (!strcmp(optarg, "system"))
				o->cfg.thp = KVMUF_THP_SYSTEM;
			else if (!strcmp(optarg, "never"))
				o->cfg.thp = KVMUF_THP_NEVER;
			else
				bad_usage("-H: need madvise, system or never");
			break;
		case 'O': o->cfg.shared_region = 1; break;
		case 'w': o->mode = KVMUF_MODE_WRITE; o->mode_set = 1; break;
		case 'r': o->mode = KVMUF_MODE_READ; o->mode_set = 1; break;
		case 'c': o->mode = KVMUF_MODE_VERIFY; o->mode_set = 1; break;
		case 'k': o->mode = KVMUF_MODE_SUM; o->mode_set = 1; break;
		case 's':
			if (cli_parse_u64(optarg, 16, &o->seed, &end) < 0 || *end)
				bad_usage("-s: need a 64-bit hex value");
			o->seed_set = 1;
			break;
		case 'q': o->quiet = 1; break;
		case 'u':
			if (!strcmp(optarg, "park"))
				o->uf.mode = KVMUF_UF_PARK;
			else if (!strcmp(optarg, "exit"))
				o->uf.mode = KVMUF_UF_EXIT;
			else
				bad_usage("-u: need park or exit");
			break;
		case 'R':
			if (cli_parse_u64(optarg, 10, &v, &end) < 0 || *end ||
			    v < KVMUF_MIN_RING_ENTRIES || v > KVMUF_MAX_RING_ENTRIES ||
			    (v & (v - 1)))
				bad_usage("-R: need a power of two from %d to %d",
					  KVMUF_MIN_RING_ENTRIES, KVMUF_MAX_RING_ENTRIES);
			o->uf.ring_entries = (uint32_t)v;
			ring_set = 1;
			break;
		case 'G': o->uf.vm_ring_only = 1; break;
		case 'M': o->uf.module_only = 1; break;
		case 'D': o->uf.daemon_path = optarg; break;
		case 'T':
			if (cli_parse_u64(optarg, 10, &v, &end) < 0 || *end ||
			    v < 1 || v > MAX_THREADS)
				bad_usage("-T: need a thread count from 1 to %d", MAX_THREADS);
			o->uf.server_threads = (unsigned int)v;
			threads_set = 1;
			break;
		case 'd':
			if (cli_parse_u64(optarg, 10, &v, &end) < 0 || *end || v > 10000000)
				bad_usage("-d: need 0..10000000 us");
			o->uf.fetch_delay_us = (unsigned int)v;
			break;
		case 'W':
			if (cli_parse_u64(optarg, 10, &v, &end) < 0 || *end ||
			    v < 1 || v > UINT32_MAX)
				bad_usage("-W: need a time in ms, >= 1");
			o->uf.wait_limit_ms = (unsigned int)v;
			break;
		case 'S': o->snap_path = optarg; break;
		case 'P':
			if (cli_parse_u64(optarg, 10, &v, &end) < 0 || *end || v < 1)
				bad_usage("-P: a page count >= 1");
			o->vmm_reads = v;
			break;
		case OPT_TAKEOVER_MS:
			if (cli_parse_u64(optarg, 10, &v, &end) < 0 || *end ||
			    v < 1 || v > KVMUF_MAX_TAKEOVER_MS)
				bad_usage("--takeover-ms: need 1..%u ms", KVMUF_MAX_TAKEOVER_MS);
			o->uf.takeover_ms = (unsigned int)v;
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': cli_print_version(PROG); exit(0);
		default:  usage(stderr); exit(EXIT_USAGE);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (o->cfg.bytes_per_vcpu >
	    (KVMUF_GPA_LIMIT - KVMUF_TEST_GPA) / o->cfg.nr_vcpus)
		bad_usage("%u x %llu bytes exceeds the %llu GiB of test address space",
			  o->cfg.nr_vcpus, (unsigned long long)o->cfg.bytes_per_vcpu,
			  (KVMUF_GPA_LIMIT - KVMUF_TEST_GPA) >> 30);

	if (o->uf.mode == KVMUF_UF_OFF) {
		if (ring_set || o->uf.daemon_path || threads_set || o->uf.wait_limit_ms ||
		    o->uf.module_only || o->uf.takeover_ms)
			bad_usage("-M, -R, -D, -T, -W and --takeover-ms need -u");
	} else {
		if (!o->uf.daemon_path && !o->snap_path)
			bad_usage("-u without -D serves pages in-process: it needs -S SNAPSHOT");
		if (o->uf.takeover_ms && !o->uf.daemon_path)
			bad_usage("--takeover-ms is for a daemon that may die: it needs -D");
		if (o->uf.daemon_path && threads_set)
			bad_usage("-T is for the in-process server; the daemon has its own -t");
		if (o->uf.wait_limit_ms && o->uf.mode != KVMUF_UF_EXIT)
			bad_usage("-W is for exit mode (-u exit)");
		if (o->cfg.nr_vcpus > KVMUF_MAX_VCPU_RINGS)
			bad_usage("-u supports at most %d vCPUs (one ring each)",
				  KVMUF_MAX_VCPU_RINGS);
	}
	if (o->vmm_reads && !o->snap_path)
		bad_usage("-P checks what the VMM reads against the snapshot: it needs -S");
	if (o->vmm_reads > o->cfg.nr_vcpus * (o->cfg.bytes_per_vcpu / KVMUF_PAGE_SIZE))
		bad_usage("-P: more pages than the test memory holds");
	/* A snapshot's pages hold gpa ^ seed: verify them unless told otherwise. */
	if (o->snap_path && !o->mode_set)
		o->mode = KVMUF_MODE_VERIFY;
}

/*
 * -P: the VMM's own accesses to guest memory (device emulation, say) before the guest
 * runs. With -u the pages are missing: the backstop holds the reads until the server
 * installs them; without it (-M) they would read zeros. 0 if all were right.
 */
static uint64_t vmm_read_pages(struct kvmuf_vm *vm, const struct kvmuf_snap *snap, uint64_t n)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	uint64_t bad;
	char why[192];

	bad = kvmuf_snap_compare(snap, mem->gpa >> KVMUF_PAGE_SHIFT, mem->hva, n, why,
				 sizeof(why));
	if (bad)
		fprintf(stderr, PROG ": the VMM read %llu of the %llu pages it read wrong; first: %s\n",
			(unsigned long long)bad, (unsigned long long)n, why);
	return bad;
}

/* Open -S, and take its seed (or insist that -s matches it). */
static int open_snapshot(struct options *o, struct kvmuf_snap *snap)
{
	char msg[160];

	if (kvmuf_snap_open(o->snap_path, snap, msg, sizeof(msg)) < 0) {
		fprintf(stderr, PROG ": %s\n", msg);
		return -1;
	}
	if (o->seed_set && o->seed != snap->hdr.seed) {
		fprintf(stderr, PROG ": -s 0x%llx, but %s was made with seed 0x%llx\n",
			(unsigned long long)o->seed, o->snap_path,
			(unsigned long long)snap->hdr.seed);
		kvmuf_snap_close(snap);
		return -1;
	}
	o->seed = snap->hdr.seed;
	return 0;
}

static double rate(uint64_t pages, double seconds)
{
	return seconds > 0 ? (double)pages / seconds : 0;
}

static void print_vcpus(const struct kvmuf_vm *vm,
			const struct kvmuf_vcpu_result *res,
			const struct kvmuf_uf *uf, enum kvmuf_uf_mode uf_mode)
{
	for (unsigned int i = 0; i < kvmuf_vm_nr_vcpus(vm); i++) {
		uint64_t gpa = kvmuf_vm_region_gpa(vm, i);
		char exits[48] = "";

		if (uf && uf_mode == KVMUF_UF_EXIT)
			snprintf(exits, sizeof(exits), ", %llu uf exits",
				 (unsigned long long)kvmuf_uf_vcpu_exits(uf, i));
		printf(PROG ": vcpu %u: gpa 0x%llx-0x%llx, %llu pages, %.6f s, %.0f pages/s%s%s\n",
		       i, (unsigned long long)gpa,
		       (unsigned long long)(gpa + res[i].pages * KVMUF_PAGE_SIZE - 1),
		       (unsigned long long)res[i].pages, res[i].seconds,
		       rate(res[i].pages, res[i].seconds), exits,
		       res[i].ok ? "" : " (failed)");
	}
}

int main(int argc, char **argv)
{
	struct kvmuf_vcpu_result *res = NULL;
	struct kvmuf_snap snap = { 0 };
	struct kvmuf_uf *uf = NULL;
	struct kvmuf_vm *vm = NULL;
	struct options o;
	int ok = 0, ret, status = EXIT_FAILURE;
	char ufdesc[256];
	uint64_t pages;
	double seconds = 0;

	parse_args(argc, argv, &o);
	if (o.snap_path && open_snapshot(&o, &snap) < 0)
		return EXIT_USAGE;

	ret = kvmuf_vm_create(&o.cfg, &vm);
	if (ret == KVMUF_CREATE_NOKVM) {
		printf(PROG ": cannot run here: /dev/kvm: %s\n", strerror(errno));
		status = EXIT_SKIP;
		goto out;
	}
	if (ret != KVMUF_CREATE_OK) {
		fprintf(stderr, PROG ": cannot set up the VM\n");
		goto out;
	}
	res = calloc(o.cfg.nr_vcpus, sizeof(*res));
	if (!res) {
		perror(PROG ": calloc");
		goto out;
	}

	if (o.uf.mode != KVMUF_UF_OFF) {
		o.uf.snap = o.snap_path ? &snap : NULL;
		o.uf.seed = o.seed;
		/* The daemon checks its snapshot's seed when the seed matters. */
		o.uf.send_seed = o.mode != KVMUF_MODE_READ && o.mode != KVMUF_MODE_SUM;
		o.uf.verbose = !o.quiet;
		ret = kvmuf_uf_setup(vm, &o.uf, &uf);
		if (ret == KVMUF_UF_SETUP_SKIP) {
			printf(PROG ": cannot run here: " KVMUF_DEVICE_PATH ": %s\n", strerror(errno));
			status = EXIT_SKIP;
			goto out;
		}
		if (ret != KVMUF_UF_SETUP_OK) {
			fprintf(stderr, PROG ": cannot set up kvm-userfault\n");
			goto out;
		}
	}

	/*
	 * Pre-filling.  With -u the host must NOT write the test memory: every
	 * page is missing and its data must come from the server (daemon or
	 * in-process) when the guest first touches it.  Without -u a fresh VM
	 * holds zeroes: load the snapshot if there is one (any mode, so that
	 * the final compare holds), else give verify mode something to verify.
	 */
	if (!uf) {
		if (o.snap_path) {
			if (kvmuf_vm_fill_snapshot(vm, &snap) < 0)
				goto out;
		} else if (o.mode == KVMUF_MODE_VERIFY) {
			kvmuf_vm_fill_pattern(vm, o.seed);
		}
	}

	if (o.vmm_reads && vmm_read_pages(vm, &snap, o.vmm_reads) != 0)
		goto out;
	ok = kvmuf_vm_run(vm, o.mode, o.seed, res, &seconds) == 0;
	/*
	 * The host's checks read guest memory while the pages are still served: with the
	 * backstop a page the guest never touched would wait for its server.
	 */
	if (ok && kvmuf_vm_check_results(vm, o.mode, o.seed, res) < 0)
		ok = 0;
	/* Every page, all 4 KiB of it, must be the snapshot's page of its GFN. */
	if (ok && o.snap_path && kvmuf_vm_compare_snapshot(vm, &snap) != 0)
		ok = 0;
	if (uf && kvmuf_uf_finish(uf) < 0)
		ok = 0;

	if (!o.quiet) {
		print_vcpus(vm, res, uf, o.uf.mode);
		if (uf)
			kvmuf_uf_print(uf);
	}
	pages = o.cfg.nr_vcpus * kvmuf_vm_region_pages(vm);
	printf(PROG ": %u vcpus, %llu pages, %.6f s, %.0f pages/s, mode %s, mem %s, %s: %s\n",
	       o.cfg.nr_vcpus, (unsigned long long)pages, seconds,
	       rate(pages, seconds), kvmuf_mode_name(o.mode),
	       kvmuf_backing_name(o.cfg.backing),
	       kvmuf_uf_summary(uf, ufdesc, sizeof(ufdesc)), ok ? "OK" : "FAILED");
	status = ok ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	fflush(stdout);
	kvmuf_uf_destroy(uf);		/* closes the daemon socket */
	free(res);
	kvmuf_vm_destroy(vm);
	if (o.snap_path)
		kvmuf_snap_close(&snap);
	return status;
}
