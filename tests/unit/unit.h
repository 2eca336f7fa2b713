/* SPDX-License-Identifier: GPL-2.0 */
/* Tiny check helpers shared by the unit tests. */
#ifndef KVMUF_UNIT_H
#define KVMUF_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int unit_failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			if (++unit_failures > 20) {                             \
				fprintf(stderr, "too many failures\n");         \
				exit(1);                                        \
			}                                                       \
		}                                                               \
	} while (0)

/* Fatal: later checks make no sense without this. */
#define REQUIRE(cond, ...)                                                      \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "FATAL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			exit(1);                                                \
		}                                                               \
	} while (0)

static inline int unit_result(const char *name)
{
	if (unit_failures) {
		fprintf(stderr, "%s: %d failure(s)\n", name, unit_failures);
		return 1;
	}
	return 0;
}

#endif /* KVMUF_UNIT_H */
