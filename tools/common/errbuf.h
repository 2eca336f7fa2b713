/* SPDX-License-Identifier: GPL-2.0 */
/* Error text into a caller's buffer, for functions that report why they failed. */
#ifndef KVMUF_ERRBUF_H
#define KVMUF_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Format into err[len]; nothing if err is NULL or len is 0. */
__attribute__((format(printf, 3, 4)))
static inline void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

#endif /* KVMUF_ERRBUF_H */
