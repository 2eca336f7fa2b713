// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-vmm - run the memstress pattern in a tiny KVM guest: N vCPUs, each
 * touching every 4 KiB page of its own region once, and check the result.
 *
 * Exit status: 0 success, 1 failure, 2 bad arguments, 77 /dev/kvm missing.
 */
#define _GNU_SOURCE
#include "kvmuf_vm.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG		"kvmuf-vmm"
#define EXIT_USAGE	2
#define EXIT_SKIP	77
#define MAX_VCPUS	4096		/* KVM's x86 limit */
#define DEFAULT_SEED	0x6b766d7566ULL	/* "kvmuf" */

struct options {
	struct kvmuf_vm_config cfg;
	enum kvmuf_mode mode;
	uint64_t seed;
	int quiet;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [-v NVCPUS] [-b BYTES] [-m anon|memfd] [-w|-r|-c] [-s SEED] [-q]\n"
		"  -v NVCPUS  number of vCPUs, each with its own region (default 1)\n"
		"  -b BYTES   region size per vCPU, suffix K, M or G; multiple of 4K (default 1M)\n"
		"  -m MEM     test memory: anon (private anonymous, default) or memfd (shared)\n"
		"  -w         write mode: guest stores gpa ^ seed in every page (default)\n"
		"  -r         read mode: guest loads every page\n"
		"  -c         verify mode: host pre-fills gpa ^ seed, guest checks every page\n"
		"  -s SEED    64-bit hex seed (default 0x%llx)\n"
		"  -q         quiet: print only the summary line\n"
		"  -h         this help\n"
		"exit status: 0 ok, 1 failure, 2 bad arguments, 77 skipped (no /dev/kvm)\n",
		DEFAULT_SEED);
}

__attribute__((format(printf, 1, 2), noreturn))
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(EXIT_USAGE);
}

/* Strict unsigned parse: no blanks, no sign, no overflow. */
static int parse_u64(const char *s, int base, uint64_t *val, char **end)
{
	unsigned long long v;

	if (isspace((unsigned char)*s) || *s == '+' || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, end, base);
	if (errno || *end == s)
		return -1;
	*val = v;
	return 0;
}

/* "1048576", "64K", "16M", "1G": bytes, binary multiples. */
static int parse_size(const char *s, uint64_t *bytes)
{
	unsigned int shift = 0;
	uint64_t v;
	char *end;

	if (parse_u64(s, 10, &v, &end) < 0)
		return -1;
	switch (*end) {
	case '\0':		break;
	case 'k': case 'K':	shift = 10; break;
	case 'm': case 'M':	shift = 20; break;
	case 'g': case 'G':	shift = 30; break;
	default:		return -1;
	}
	if (shift && end[1] != '\0')
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*bytes = v << shift;
	return 0;
}

static void parse_args(int argc, char **argv, struct options *o)
{
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
	};

	while ((c = getopt(argc, argv, "v:b:m:wrcs:qh")) != -1) {
		switch (c) {
		case 'v':
			if (parse_u64(optarg, 10, &v, &end) < 0 || *end ||
			    v < 1 || v > MAX_VCPUS)
				bad_usage("-v: need a vCPU count from 1 to %d", MAX_VCPUS);
			o->cfg.nr_vcpus = (unsigned int)v;
			break;
		case 'b':
			if (parse_size(optarg, &v) < 0 || v == 0 ||
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
		case 'w': o->mode = KVMUF_MODE_WRITE; break;
		case 'r': o->mode = KVMUF_MODE_READ; break;
		case 'c': o->mode = KVMUF_MODE_VERIFY; break;
		case 's':
			if (parse_u64(optarg, 16, &o->seed, &end) < 0 || *end)
				bad_usage("-s: need a 64-bit hex value");
			break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(0);
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
}

static double rate(uint64_t pages, double seconds)
{
	return seconds > 0 ? (double)pages / seconds : 0;
}

static void print_vcpus(const struct kvmuf_vm *vm,
			const struct kvmuf_vcpu_result *res)
{
	for (unsigned int i = 0; i < kvmuf_vm_nr_vcpus(vm); i++) {
		uint64_t gpa = kvmuf_vm_region_gpa(vm, i);

		printf(PROG ": vcpu %u: gpa 0x%llx-0x%llx, %llu pages, %.6f s, %.0f pages/s%s\n",
		       i, (unsigned long long)gpa,
		       (unsigned long long)(gpa + res[i].pages * KVMUF_PAGE_SIZE - 1),
		       (unsigned long long)res[i].pages, res[i].seconds,
		       rate(res[i].pages, res[i].seconds),
		       res[i].ok ? "" : " (failed)");
	}
}

int main(int argc, char **argv)
{
	struct kvmuf_vcpu_result *res;
	struct kvmuf_vm *vm;
	struct options o;
	uint64_t pages;
	double seconds;
	int ok, ret;

	parse_args(argc, argv, &o);

	ret = kvmuf_vm_create(&o.cfg, &vm);
	if (ret == KVMUF_CREATE_NOKVM) {
		printf(PROG ": SKIP: /dev/kvm: %s\n", strerror(errno));
		return EXIT_SKIP;
	}
	if (ret != KVMUF_CREATE_OK) {
		fprintf(stderr, PROG ": cannot set up the VM\n");
		return EXIT_FAILURE;
	}
	res = calloc(o.cfg.nr_vcpus, sizeof(*res));
	if (!res) {
		perror(PROG ": calloc");
		kvmuf_vm_destroy(vm);
		return EXIT_FAILURE;
	}

	/* A fresh VM holds zeroes: give verify mode something to verify. */
	if (o.mode == KVMUF_MODE_VERIFY)
		kvmuf_vm_fill_pattern(vm, o.seed);

	ok = kvmuf_vm_run(vm, o.mode, o.seed, res, &seconds) == 0 &&
	     kvmuf_vm_check_results(vm, o.mode, o.seed, res) == 0;

	if (!o.quiet)
		print_vcpus(vm, res);
	pages = o.cfg.nr_vcpus * kvmuf_vm_region_pages(vm);
	printf(PROG ": %u vcpus, %llu pages, %.6f s, %.0f pages/s, mode %s, mem %s: %s\n",
	       o.cfg.nr_vcpus, (unsigned long long)pages, seconds,
	       rate(pages, seconds), kvmuf_mode_name(o.mode),
	       kvmuf_backing_name(o.cfg.backing), ok ? "OK" : "FAILED");

	free(res);
	kvmuf_vm_destroy(vm);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
