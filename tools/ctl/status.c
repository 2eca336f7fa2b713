// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-ctl status: the module (loaded, version, API, users) and every VM state it
 * holds, attached or orphaned, with its counters and park-latency histogram, from the
 * module's debugfs file (introspect.c in the module: "NAME VALUE" pairs, one VM a line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "kvmuf.h"

#define VMS_FILE	"/sys/kernel/debug/" KVMUF_DEVICE_NAME "/vms"

/* The value of name in a line of pairs, or NULL. */
static const char *pair(const char *line, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);
	const char *p = line;

	while ((p = strstr(p, name))) {
		if ((p == line || p[-1] == ' ') && p[n] == ' ') {
			size_t v = strcspn(p + n + 1, " \n");

			snprintf(buf, len, "%.*s", (int)v, p + n + 1);
			return buf;
		}
		p += n;
	}
	return NULL;
}

static unsigned long long num(const char *line, const char *name)
{
	char buf[64];

	return pair(line, name, buf, sizeof(buf)) ? strtoull(buf, NULL, 10) : 0;
}

/* One bucket's label: "<1", "1-2", ..., ">=16384" (us). */
static void bucket_label(unsigned int i, char *buf, size_t len)
{
	if (!i)
		snprintf(buf, len, "<1");
	else if (i == KVMUF_PARK_HIST_BUCKETS - 1)
		snprintf(buf, len, ">=%u", 1u << (i - 1));
	else
		snprintf(buf, len, "%u-%u", 1u << (i - 1), 1u << i);
}

static void show_vm(const char *line)
{
	char state[32] = "?", mode[32] = "?", hist[512] = "";
	unsigned long long h[KVMUF_PARK_HIST_BUCKETS] = { 0 }, max = 0, parks;
	unsigned int i = 0;
	char *p, *save = NULL;

	pair(line, "state", state, sizeof(state));
	pair(line, "mode", mode, sizeof(mode));
	parks = num(line, "parks");
	printf("  vm %llu: %s, %s mode, %llu rings x %llu entries; %llu GFNs missing\n",
	       num(line, "vm"), state, mode, num(line, "rings"), num(line, "ring_entries"),
	       num(line, "missing"));
	printf("    faults %llu (deduped %llu), parks %llu, exits %llu, resolved %llu, ring waits %llu, spin hits %llu, same-exit %llu, clamped %llu\n",
	       num(line, "faults"), num(line, "deduped"), parks, num(line, "exits"),
	       num(line, "resolved"), num(line, "ring_waits"), num(line, "spin_hits"),
	       num(line, "continued"), num(line, "clamped"));
	if (parks)
		printf("    park time: mean %.1f us; wake-up after resolve: mean %.1f us\n",
		       num(line, "park_ns") / 1e3 / parks, num(line, "wake_ns") / 1e3 / parks);
	if (!pair(line, "park_hist", hist, sizeof(hist)))
		return;
	for (p = strtok_r(hist, ",", &save); p && i < KVMUF_PARK_HIST_BUCKETS;
	     p = strtok_r(NULL, ",", &save), i++) {
		h[i] = strtoull(p, NULL, 10);
		if (h[i] > max)
			max = h[i];
	}
	if (!max)
		return;
	printf("    park latency (us):\n");
	for (i = 0; i < KVMUF_PARK_HIST_BUCKETS; i++) {
		char label[32];
		int bar;

		if (!h[i])
			continue;
		bucket_label(i, label, sizeof(label));
		bar = (int)(h[i] * 40 / max);
		printf("    %12s %-40.*s %llu\n", label, bar > 0 ? bar : 1,
		       "########################################", h[i]);
	}
}

int ctl_status(void)
{
	char version[64] = "?", refcnt[32] = "?", line[4096];
	unsigned int nr = 0;
	struct kvmuf *k;
	FILE *f;
	int api;

	if (!ctl_exists(CTL_SYSMOD)) {
		printf("module  %s is not loaded (kvmuf-ctl load)\n", CTL_MODULE);
		return 1;
	}
	ctl_read_line(CTL_SYSMOD "/version", version, sizeof(version));
	ctl_read_line(CTL_SYSMOD "/refcnt", refcnt, sizeof(refcnt));
	api = kvmuf_open(&k);
	if (!api) {
		api = kvmuf_api_version(k);
		kvmuf_close(k);
	}
	if (api > 0)
		printf("module  %s %s loaded, API %d, %s users\n", CTL_MODULE, version, api,
		       refcnt);
	else
		printf("module  %s %s loaded, %s users (API unknown: %s)\n", CTL_MODULE, version,
		       refcnt, kvmuf_strerror(api));
	f = fopen(VMS_FILE, "r");
	if (!f) {
		printf("VMs     cannot read %s: %s%s\n", VMS_FILE, strerror(errno),
		       errno == ENOENT ? " (mount -t debugfs none /sys/kernel/debug)" :
		       errno == EACCES ? " (as root)" : "");
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, KVMUF_DEVICE_NAME " ", strlen(KVMUF_DEVICE_NAME) + 1))
			continue;
		if (!nr++)
			printf("VMs\n");
		show_vm(line);
	}
	fclose(f);
	if (!nr)
		printf("VMs     none attached\n");
	return 0;
}
