// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-mksnap - write a memory snapshot image for kvmuf-daemon (format and
 * page pattern: snapshot.h), or check one with -C.
 *
 * Exit status: 0 ok, 1 failure (or -C found a bad page), 2 bad arguments.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <getopt.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmuf_snapshot.h"
#include "cli.h"

#define PROG		"kvmuf-mksnap"
#define EXIT_USAGE	2
#define DEFAULT_GFN	0x100000ULL		/* kvmuf-vmm's test memory: 4 GiB */
#define DEFAULT_SEED	0x6b766d7566ULL		/* kvmuf-vmm's default seed */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " -o FILE -n PAGES [-g BASE_GFN] [-s SEED]\n"
		"       " PROG " -C FILE\n"
		"  -o, --output FILE     snapshot to write (truncated): a 4 KiB header, then PAGES pages\n"
		"  -n, --pages PAGES     number of 4 KiB pages, > 0\n"
		"  -g, --base-gfn GFN    GFN of the first page, hex or decimal (default 0x%llx,\n"
		"                        the first page of kvmuf-vmm's test memory)\n"
		"  -s, --seed SEED       64-bit hex seed (default 0x%llx, kvmuf-vmm's default)\n"
		"  -C, --check FILE      check every page of an existing snapshot against the pattern\n"
		"  -h, --help            this help\n"
		"  -V, --version         the version\n"
		"Page i holds gfn = BASE_GFN + i: its first u64 is gpa ^ SEED (gpa = gfn << 12,\n"
		"what kvmuf-vmm -c checks), every other u64 a function of (gpa, offset, SEED).\n",
		DEFAULT_GFN, DEFAULT_SEED);
}

/* Print "PROG: message" and the usage, exit with EXIT_USAGE. */
#define bad_usage(...) cli_bad_usage(PROG, usage, EXIT_USAGE, __VA_ARGS__)

static int verify(const char *path)
{
	struct kvmuf_snap s;
	uint64_t bad = 0, first = 0;
	char msg[160], what[96];
	long off = -1;

	if (kvmuf_snap_open(path, &s, msg, sizeof(msg)) < 0) {
		fprintf(stderr, PROG ": %s\n", msg);
		return EXIT_FAILURE;
	}
	for (uint64_t i = 0; i < s.hdr.npages; i++) {
		const unsigned char *page = s.data + i * KVMUF_SNAP_PAGE;
		long o = kvmuf_snap_check_page(page, s.hdr.base_gfn + i, s.hdr.seed);

		if (o < 0)
			continue;
		if (bad++ == 0) {
			first = s.hdr.base_gfn + i;
			off = o;
			kvmuf_snap_describe(page, s.hdr.seed, what, sizeof(what));
		}
	}
	if (bad)
		printf(PROG ": %s: %llu of %llu pages bad, first gfn 0x%llx at offset %ld (%s)\n",
		       path, (unsigned long long)bad,
		       (unsigned long long)s.hdr.npages,
		       (unsigned long long)first, off, what);
	else
		printf(PROG ": %s: %llu pages from gfn 0x%llx, seed 0x%llx: OK\n",
		       path, (unsigned long long)s.hdr.npages,
		       (unsigned long long)s.hdr.base_gfn,
		       (unsigned long long)s.hdr.seed);
	kvmuf_snap_close(&s);
	return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	uint64_t npages = 0, gfn = DEFAULT_GFN, seed = DEFAULT_SEED;
	const char *out = NULL, *check = NULL;
	char msg[160];
	int c, have_n = 0;

	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "pages", required_argument, NULL, 'n' },
		{ "base-gfn", required_argument, NULL, 'g' },
		{ "seed", required_argument, NULL, 's' },
		{ "check", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "o:n:g:s:C:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'n':
			if (cli_parse_range(optarg, 10, 0, UINT64_MAX, &npages) < 0 || npages == 0)
				bad_usage("-n: need a page count > 0");
			have_n = 1;
			break;
		case 'g':
			if (cli_parse_range(optarg, 0, 0, UINT64_MAX, &gfn) < 0)
				bad_usage("-g: need a GFN (hex with 0x, or decimal)");
			break;
		case 's':
			if (cli_parse_range(optarg, 16, 0, UINT64_MAX, &seed) < 0)
				bad_usage("-s: need a 64-bit hex value");
			break;
		case 'C': check = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': cli_print_version(PROG); return 0;
		default:  usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (check) {
		if (out || have_n)
			bad_usage("-C takes no other option");
		return verify(check);
	}
	if (!out || !have_n)
		bad_usage("-o FILE and -n PAGES are required");

	if (kvmuf_snap_write(out, gfn, npages, seed, msg, sizeof(msg)) < 0) {
		fprintf(stderr, PROG ": %s\n", msg);
		return EXIT_FAILURE;
	}
	printf(PROG ": wrote %s: %llu pages (%.1f MiB) from gfn 0x%llx, seed 0x%llx\n",
	       out, (unsigned long long)npages,
	       (double)npages * KVMUF_SNAP_PAGE / (1024.0 * 1024.0),
	       (unsigned long long)gfn, (unsigned long long)seed);
	return EXIT_SUCCESS;
}
