/* SPDX-License-Identifier: GPL-2.0 */
/* Command-line helpers shared by the tools: strict number parsing and usage errors. */
#ifndef KVMUF_CLI_H
#define KVMUF_CLI_H

#include <stdint.h>
#include <stdio.h>

/*
 * Strict unsigned parse in @base (0: C prefixes): @s must start with a digit (no blanks,
 * no sign), no overflow; *end is set as by strtoull(). 0 or -1.
 */
int cli_parse_u64(const char *s, int base, uint64_t *val, char **end);

/* All of @s is a number in [min, max]. 0 or -1. */
int cli_parse_range(const char *s, int base, uint64_t min, uint64_t max, uint64_t *val);

/* "1048576", "64K", "16M", "1G": bytes, binary multiples. 0 or -1. */
int cli_parse_size(const char *s, uint64_t *bytes);

/*
 * Conventions of every kvm-userfault tool: GNU long options beside the short ones,
 * --help (-h) prints the usage on stdout and exits 0, --version (-V) prints
 * "PROG VERSION" and exits 0; exit status 0 success, 1 failure, 2 bad usage, and 3 when
 * this machine cannot run it at all (no /dev/kvm, no /dev/kvm-userfault where needed).
 */
#define CLI_EXIT_USAGE		2
#define CLI_EXIT_UNAVAILABLE	3

/* --version: "PROG VERSION" on stdout. */
void cli_print_version(const char *prog);

/* "PROG: message", then the usage text on stderr, then exit(code). */
__attribute__((format(printf, 4, 5), noreturn))
void cli_bad_usage(const char *prog, void (*usage)(FILE *f), int code, const char *fmt, ...);

#endif /* KVMUF_CLI_H */
