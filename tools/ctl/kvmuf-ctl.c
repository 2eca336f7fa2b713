// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-ctl: load, unload, inspect and diagnose kvm-userfault.
 *
 *   kvmuf-ctl load [--module FILE] [PARAM=VALUE...]   (libkmod; modprobe-style with kvm)
 *   kvmuf-ctl unload
 *   kvmuf-ctl status                                  module, VMs, counters, histogram
 *   kvmuf-ctl doctor                                  can it work on this machine, why not
 *   kvmuf-ctl version                                 these tools and the module
 *
 * Exit status: 0 success, 1 the command failed (said why), 2 bad usage.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "kvmuf.h"

bool ctl_exists(const char *path)
{
	return !access(path, F_OK);
}

bool ctl_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvmuf-ctl [--help] [--version] COMMAND [ARGS]\n"
		"\n"
		"  load [--module FILE] [PARAM=VALUE...]\n"
		"              load kvm_userfault (with kvm first, as modprobe), or the module\n"
		"              file FILE; print what the module says about this kernel\n"
		"  unload      remove it (refused while VMs are attached)\n"
		"  status      the module, and every VM it holds: counters, park latency\n"
		"  doctor      check what kvm-userfault needs here, one line each\n"
		"  version     these tools' version, and the module's\n"
		"\n"
		"See kvmuf-ctl(8).\n");
}

static int cmd_version(void)
{
	char path[512], version[64], loaded[64];

	printf("kvmuf-ctl %s (libkvmuf %s)\n", KVMUF_TOOLS_VERSION, kvmuf_library_version());
	if (ctl_read_line(CTL_SYSMOD "/version", loaded, sizeof(loaded)))
		printf("module %s %s (loaded)\n", CTL_MODULE, loaded);
	else if (ctl_module_installed(path, sizeof(path), version, sizeof(version)))
		printf("module %s %s (installed at %s, not loaded)\n", CTL_MODULE, version, path);
	else
		printf("module %s: not installed for this kernel\n", CTL_MODULE);
	return 0;
}

/* PARAM=VALUE arguments, as one options string for the kernel. */
static char *join_params(int argc, char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	for (i = 0; i < argc; i++) {
		if (!strchr(argv[i], '=')) {
			fprintf(stderr, "kvmuf-ctl: load: '%s' is not PARAM=VALUE\n", argv[i]);
			free(s);
			exit(2);
		}
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

static int cmd_load(int argc, char **argv)
{
	enum { OPT_MODULE = 256 };	/* long only: -m is --memory in the other tools */
	static const struct option opts[] = {
		{ "module", required_argument, NULL, OPT_MODULE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	char *params;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_MODULE:
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	params = join_params(argc - optind, argv + optind);
	if (!params)
		return 1;
	ret = ctl_load(path, params);
	free(params);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd;
	int c;

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return cmd_version();
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (!strcmp(cmd, "load"))
		return cmd_load(argc - optind, argv + optind);
	if (optind + 1 < argc) {
		fprintf(stderr, "kvmuf-ctl: %s takes no arguments\n", cmd);
		return 2;
	}
	if (!strcmp(cmd, "unload"))
		return ctl_unload();
	if (!strcmp(cmd, "status"))
		return ctl_status();
	if (!strcmp(cmd, "doctor"))
		return ctl_doctor();
	if (!strcmp(cmd, "version"))
		return cmd_version();
	fprintf(stderr, "kvmuf-ctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
