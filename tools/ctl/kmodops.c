// SPDX-License-Identifier: GPL-2.0
/* Loading and removing the module through libkmod, and what it said in the kernel log. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libkmod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/*
 * The kernel log from fd on (/dev/kmsg: one record per read, "PRIO,SEQ,TS,FLAGS;text"):
 * print the module's lines (prefixed by "  kernel: "), or keep only the last in last.
 */
static void kmsg_module_lines(int fd, char *last, size_t len)
{
	char rec[8192];
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		char *text, *nl;

		if (n <= 0)
			continue;	/* EPIPE: records were overwritten; go on */
		rec[n] = 0;
		text = strchr(rec, ';');
		if (!text || !strstr(text, CTL_MODULE ": "))
			continue;
		text++;
		nl = strchr(text, '\n');
		if (nl)
			*nl = 0;
		if (strstr(text, "taints kernel") || strstr(text, "verification failed"))
			continue;
		if (last)
			snprintf(last, len, "%s", text);
		else
			printf("  kernel: %s\n", text);
	}
}

bool ctl_last_log_line(char *buf, size_t len)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	buf[0] = 0;
	if (fd < 0)
		return false;
	kmsg_module_lines(fd, buf, len);
	close(fd);
	return buf[0];
}

static struct kmod_ctx *ctl_kmod(void)
{
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);

	if (!ctx)
		fprintf(stderr, "kvmuf-ctl: libkmod: cannot start\n");
	return ctx;
}

int ctl_load(const char *path, const char *options)
{
	struct kmod_module *mod = NULL;
	struct kmod_list *list = NULL;
	struct kmod_ctx *ctx;
	int err, kmsg;

	ctx = ctl_kmod();
	if (!ctx)
		return 1;
	/* Read the kernel log from now on, to show what the module says about this load. */
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	if (path) {
		err = kmod_module_new_from_path(ctx, path, &mod);
		if (!err)
			err = kmod_module_insert_module(mod, 0, options);
	} else {
		err = kmod_module_new_from_lookup(ctx, CTL_MODULE, &list);
		if (!err && !list)
			err = -ENOENT;
		if (!err) {
			mod = kmod_module_get_module(list);
			/* As modprobe: kvm first, if it is not loaded. */
			err = kmod_module_probe_insert_module(mod, 0, options, NULL, NULL, NULL);
		}
	}
	if (err == -EEXIST)
		printf("%s is already loaded\n", CTL_MODULE);
	else if (err)
		printf("cannot load %s: %s\n", path ? path : CTL_MODULE,
		       err == -ENOENT && !path ? "not installed (make install, or DKMS)" :
		       strerror(-err));
	else
		printf("%s loaded\n", path ? path : CTL_MODULE);
	if (kmsg >= 0) {
		kmsg_module_lines(kmsg, NULL, 0);
		close(kmsg);
	} else if (err && err != -EEXIST) {
		printf("  (the module's reason is in the kernel log: dmesg | grep %s)\n", CTL_MODULE);
	}
	kmod_module_unref(mod);
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	return err && err != -EEXIST;
}

int ctl_unload(void)
{
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx = ctl_kmod();
	int err;

	if (!ctx)
		return 1;
	err = kmod_module_new_from_name(ctx, CTL_MODULE, &mod);
	if (!err)
		err = kmod_module_remove_module(mod, 0);
	if (!err)
		printf("%s unloaded\n", CTL_MODULE);
	else if (err == -ENOENT)
		printf("%s is not loaded\n", CTL_MODULE);
	else if (err == -EBUSY || err == -EAGAIN)
		printf("%s is in use (VMs attached, or device fds open): see kvmuf-ctl status\n",
		       CTL_MODULE);
	else
		printf("cannot unload %s: %s\n", CTL_MODULE, strerror(-err));
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return err && err != -ENOENT;
}

bool ctl_module_installed(char *path, size_t plen, char *version, size_t vlen)
{
	struct kmod_list *list = NULL, *info = NULL, *i;
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	bool found = false;

	snprintf(version, vlen, "?");
	if (ctx && !kmod_module_new_from_lookup(ctx, CTL_MODULE, &list) && list) {
		mod = kmod_module_get_module(list);
		if (kmod_module_get_path(mod)) {
			found = true;
			snprintf(path, plen, "%s", kmod_module_get_path(mod));
			if (kmod_module_get_info(mod, &info) >= 0) {
				kmod_list_foreach(i, info)
					if (!strcmp(kmod_module_info_get_key(i), "version"))
						snprintf(version, vlen, "%s",
							 kmod_module_info_get_value(i));
				kmod_module_info_free_list(info);
			}
		}
	}
	kmod_module_unref(mod);
	kmod_module_unref_list(list);
	kmod_unref(ctx);
	return found;
}
