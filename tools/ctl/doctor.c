// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-ctl doctor: one line per thing kvm-userfault needs from this machine, each OK,
 * WARN or FAIL with what was found, then a verdict naming the first FAIL. Needs no
 * module: it reads what the module would read (BTF, ftrace state) from userspace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ctl.h"
#include "kvmuf.h"

static int fails;
static char first_fail[1100];

__attribute__((format(printf, 3, 4)))
static void check(const char *verdict, const char *what, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("%-4s %-10s %s\n", verdict, what, msg);
	if (!strcmp(verdict, "FAIL") && !fails++)
		snprintf(first_fail, sizeof(first_fail), "%s: %s", what, msg);
}

static void check_kernel(void)
{
	struct utsname u;

	if (uname(&u)) {
		check("FAIL", "kernel", "uname: %s", strerror(errno));
		return;
	}
	if (strcmp(u.machine, "x86_64"))
		check("FAIL", "kernel", "%s on %s: kvm-userfault supports x86-64 only", u.release,
		      u.machine);
	else
		check("OK", "kernel", "%s, x86_64", u.release);
	if (!ctl_exists("/proc/modules"))
		check("FAIL", "modules", "this kernel has no module support (CONFIG_MODULES off, no /proc/modules): kvm_userfault cannot be loaded here");
	else
		check("OK", "modules", "loadable modules supported");
}

static void check_config(void)
{
	static const char *const need[] = {
		"CONFIG_KVM", "CONFIG_KPROBES", "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS",
		"CONFIG_DEBUG_INFO_BTF_MODULES",
	};
	bool found;
	unsigned int i;

	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		const char *v = ctl_kconfig(need[i], &found);

		if (!found) {
			check("WARN", "config", "neither /proc/config.gz nor /boot/config-$(uname -r): CONFIG_* not checked");
			return;
		}
		if (v)
			check("OK", "config", "%s=%s", need[i], v);
		else
			check("FAIL", "config", "%s is not set: kvm-userfault needs it", need[i]);
	}
}

static void check_kvm(void)
{
	bool builtin = ctl_exists("/sys/module/kvm") && !ctl_exists("/sys/module/kvm/refcnt");

	if (!ctl_exists("/dev/kvm"))
		check("FAIL", "kvm", "no /dev/kvm: load kvm and kvm_amd or kvm_intel (modprobe kvm_amd)");
	else if (builtin)
		check("WARN", "kvm", "KVM is built into the kernel: kvm_userfault looks for kvm.ko's BTF and will not find it");
	else
		check("OK", "kvm", "/dev/kvm, kvm loaded with %s", ctl_exists("/sys/module/kvm_amd") ?
		      "kvm_amd" : ctl_exists("/sys/module/kvm_intel") ? "kvm_intel" : "no vendor module");
}

/* The hook the module would use, from BTF; empty if BTF did not say. */
static char hook[64];

static void check_btf(void)
{
	const char *source;
	char out[512];
	char *h;

	if (ctl_btf_layout(out, sizeof(out), &source)) {
		check("FAIL", "btf", "%s: %s (the module would refuse to load, unless given every layout parameter)",
		      source, out);
		return;
	}
	check("OK", "btf", "%s: %s", source, out);
	h = strstr(out, "hooks ");
	if (h)
		sscanf(h, "hooks %63[a-z_]", hook);
}

static void check_ftrace(void)
{
	const char *paths[] = { "/sys/kernel/tracing/enabled_functions",
				"/sys/kernel/debug/tracing/enabled_functions" };
	char line[512], val[16];
	bool loaded = ctl_exists(CTL_SYSMOD), seen = false;
	FILE *f = NULL;
	unsigned int i;

	if (!ctl_read_line("/proc/sys/kernel/ftrace_enabled", val, sizeof(val)))
		check("WARN", "ftrace", "no /proc/sys/kernel/ftrace_enabled (dynamic ftrace off?)");
	else if (strcmp(val, "1"))
		check("FAIL", "ftrace", "kernel.ftrace_enabled=%s: the module refuses to load with ftrace off", val);
	else
		check("OK", "ftrace", "kernel.ftrace_enabled=1");
	if (!hook[0])
		return;
	for (i = 0; i < 2 && !f; i++)
		f = fopen(paths[i], "r");
	if (!f) {
		check("WARN", "hook", "tracefs not readable: cannot see whether another ftrace user (livepatch, BPF) holds %s",
		      hook);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(hook);

		if (strncmp(line, hook, n) || (line[n] != ' ' && line[n] != '\t'))
			continue;
		seen = true;
		if (loaded)
			check("OK", "hook", "%s is traced (kvm_userfault is loaded)", hook);
		else
			check("FAIL", "hook", "another ftrace user holds %s (livepatch, a BPF trampoline or a kprobe): the module refuses to share it: %s",
			      hook, strtok(line, "\n"));
	}
	fclose(f);
	if (!seen)
		check(loaded ? "WARN" : "OK", "hook", "%s%s", hook,
		      loaded ? " is not traced although the module is loaded" : " is free");
}

static void check_module(void)
{
	char path[512], version[64], loaded_version[64] = "", line[512];
	bool installed = ctl_module_installed(path, sizeof(path), version, sizeof(version));
	bool loaded = ctl_exists(CTL_SYSMOD);
	char lockdown[128] = "";

	if (loaded) {
		ctl_read_line(CTL_SYSMOD "/version", loaded_version, sizeof(loaded_version));
		check(strcmp(loaded_version, KVMUF_TOOLS_VERSION) ? "WARN" : "OK", "module",
		      "%s %s loaded (these tools: %s)", CTL_MODULE, loaded_version,
		      KVMUF_TOOLS_VERSION);
	} else if (installed) {
		check("OK", "module", "%s %s installed at %s, not loaded (kvmuf-ctl load)",
		      CTL_MODULE, version, path);
	} else {
		check("WARN", "module", "%s is not installed for this kernel (make install, or DKMS); kvmuf-ctl load --module FILE loads a build",
		      CTL_MODULE);
	}
	if (ctl_read_line("/sys/kernel/security/lockdown", lockdown, sizeof(lockdown)) &&
	    !strstr(lockdown, "[none]"))
		check("WARN", "lockdown", "%s: only signed modules load (DKMS signs with its MOK key: mokutil --import /var/lib/dkms/mok.pub)",
		      lockdown);
	else
		check("OK", "lockdown", "%s", lockdown[0] ? lockdown : "no lockdown LSM");
	if (!loaded && ctl_last_log_line(line, sizeof(line)))
		check("INFO", "last load", "%s", line);
}

static void check_device(void)
{
	struct stat st;

	if (stat("/dev/" KVMUF_DEVICE_NAME, &st)) {
		check(ctl_exists(CTL_SYSMOD) ? "FAIL" : "INFO", "device", "no /dev/%s%s",
		      KVMUF_DEVICE_NAME, ctl_exists(CTL_SYSMOD) ? " although the module is loaded" :
		      " (the module is not loaded)");
		return;
	}
	if (access("/dev/" KVMUF_DEVICE_NAME, R_OK | W_OK))
		check("WARN", "device", "/dev/%s mode %o uid %u gid %u: not usable by uid %u (the udev rule gives group kvm rw: join it)",
		      KVMUF_DEVICE_NAME, st.st_mode & 0777, st.st_uid, st.st_gid, getuid());
	else
		check("OK", "device", "/dev/%s mode %o gid %u, usable by uid %u",
		      KVMUF_DEVICE_NAME, st.st_mode & 0777, st.st_gid, getuid());
}

int ctl_doctor(void)
{
	check_kernel();
	check_config();
	check_kvm();
	check_btf();
	check_ftrace();
	check_module();
	check_device();
	if (fails)
		printf("verdict: kvm-userfault cannot work here: %s\n", first_fail);
	else
		printf("verdict: nothing stops kvm-userfault here\n");
	return fails ? 1 : 0;
}
