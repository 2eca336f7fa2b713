/* SPDX-License-Identifier: GPL-2.0 */
/* In-guest C tests: CHECK(cond, fmt, ...) reports a failure and counts it. */
#ifndef KVMUF_GUEST_CHECK_H
#define KVMUF_GUEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			failures++;                                          \
		}                                                            \
	} while (0)

#endif /* KVMUF_GUEST_CHECK_H */
