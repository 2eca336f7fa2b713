/* SPDX-License-Identifier: GPL-2.0 */
/* kvmuf-ctl: what its files share. */
#ifndef KVMUF_CTL_H
#define KVMUF_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_MODULE	"kvm_userfault"
#define CTL_SYSMOD	"/sys/module/" CTL_MODULE

/* kmodops.c (libkmod) */
int ctl_load(const char *path, const char *options);	/* 0, or 1 after saying why */
int ctl_unload(void);
/* Where modprobe would find the module, and its version; false if it is not installed. */
bool ctl_module_installed(char *path, size_t plen, char *version, size_t vlen);
/* The module's last kernel-log line (/dev/kmsg), or false. */
bool ctl_last_log_line(char *buf, size_t len);

/* kconfig.c: "y", "m" or NULL for CONFIG_name of the running kernel; *found false if
 * its configuration could not be read at all. */
const char *ctl_kconfig(const char *name, bool *found);

/* btfcheck.c: what the module would find in this kernel's BTF, as its log line would
 * say it (0), or why not (-errno); where it looked. */
int ctl_btf_layout(char *out, size_t len, const char **source);

/* status.c */
int ctl_status(void);

/* doctor.c */
int ctl_doctor(void);

/* Small helpers (kvmuf-ctl.c). */
bool ctl_read_line(const char *path, char *buf, size_t len);
bool ctl_exists(const char *path);

#endif /* KVMUF_CTL_H */
