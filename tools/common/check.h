/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The check macros of every C test in the tree: the host unit tests (tests/unit), the
 * tools' own tests (test_daemon, test_kvmuf_vm) and the in-guest programs (tests/guest).
 *
 *   CHECK(cond, fmt, ...)            count it; on failure print "FAIL file:line: why"
 *                                    and go on
 *   CHECK_OR_RETURN(cond, fmt, ...)  the same, then return from the (void) function:
 *                                    what follows needs it
 *   REQUIRE(cond, fmt, ...)          on failure print "FATAL file:line: why" and exit(1):
 *                                    the rest of the program needs it
 *   check_summary(name)              "NAME: N checks, M failed: PASS|FAIL"; the exit status
 *
 * Failures and checks are counted in `failures` and `checks`, one pair per program.
 * Reports go to stderr, so that a test's stdout stays its own.
 */
#ifndef KVMUF_CHECK_H
#define KVMUF_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int failures, checks;

#define CHECK_REPORT(tag, ...)							\
	do {									\
		fprintf(stderr, tag " %s:%d: ", __FILE__, __LINE__);		\
		fprintf(stderr, __VA_ARGS__);					\
		fputc('\n', stderr);						\
	} while (0)

#define CHECK(cond, ...)							\
	do {									\
		checks++;							\
		if (!(cond)) {							\
			CHECK_REPORT("FAIL", __VA_ARGS__);			\
			failures++;						\
		}								\
	} while (0)

#define CHECK_OR_RETURN(cond, ...)						\
	do {									\
		checks++;							\
		if (!(cond)) {							\
			CHECK_REPORT("FAIL", __VA_ARGS__);			\
			failures++;						\
			return;							\
		}								\
	} while (0)

#define REQUIRE(cond, ...)							\
	do {									\
		checks++;							\
		if (!(cond)) {							\
			CHECK_REPORT("FATAL", __VA_ARGS__);			\
			exit(1);						\
		}								\
	} while (0)

static inline int check_summary(const char *name)
{
	fprintf(failures ? stderr : stdout, "%s: %d checks, %d failed: %s\n", name, checks,
		failures, failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}

#endif /* KVMUF_CHECK_H */
