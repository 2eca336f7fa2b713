// SPDX-License-Identifier: GPL-2.0
/* The running kernel's configuration: /proc/config.gz, else /boot/config-RELEASE. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <zlib.h>

#include "ctl.h"

static char *config;	/* the whole text, read once */

static char *read_config(void)
{
	struct utsname u;
	char path[300], chunk[65536];
	size_t n = 0;
	gzFile f;
	int got;

	f = gzopen("/proc/config.gz", "rb");	/* zlib also reads an uncompressed file */
	if (!f && !uname(&u)) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		f = gzopen(path, "rb");
	}
	if (!f)
		return NULL;
	while ((got = gzread(f, chunk, sizeof(chunk))) > 0) {
		char *nc = realloc(config, n + (size_t)got + 1);

		if (!nc)
			break;
		config = nc;
		memcpy(config + n, chunk, (size_t)got);
		n += (size_t)got;
		config[n] = 0;
	}
	gzclose(f);
	return config;
}

const char *ctl_kconfig(const char *name, bool *found)
{
	char key[128];
	const char *p;

	if (!config && !read_config()) {
		*found = false;
		return NULL;
	}
	*found = true;
	snprintf(key, sizeof(key), "\n%s=", name);
	p = strstr(config, key);
	if (!p)
		return NULL;
	p += strlen(key);
	return *p == 'y' ? "y" : *p == 'm' ? "m" : NULL;
}
