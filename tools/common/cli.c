// SPDX-License-Identifier: GPL-2.0
/* Command-line helpers shared by the tools (see cli.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cli.h"

int cli_parse_u64(const char *s, int base, uint64_t *val, char **end)
{
	unsigned long long v;

	/* strtoull() would skip blanks and accept a sign (and negate!). */
	if (!isxdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, end, base);
	if (errno || *end == s)
		return -1;
	*val = v;
	return 0;
}

int cli_parse_range(const char *s, int base, uint64_t min, uint64_t max, uint64_t *val)
{
	uint64_t v;
	char *end;

	if (cli_parse_u64(s, base, &v, &end) < 0 || *end || v < min || v > max)
		return -1;
	*val = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *bytes)
{
	unsigned int shift = 0;
	uint64_t v;
	char *end;

	if (cli_parse_u64(s, 10, &v, &end) < 0)
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

void cli_bad_usage(const char *prog, void (*usage)(FILE *f), int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(code);
}

void cli_print_version(const char *prog)
{
	printf("%s %s\n", prog, KVMUF_TOOLS_VERSION);
}
