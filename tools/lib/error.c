// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Error text, with what each errno means for /dev/kvm-userfault (see the error list in
 * include/uapi/kvmuf/kvm_userfault.h).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "kvmuf.h"

KVMUF_PUBLIC const char *kvmuf_strerror(int err)
{
	const char *s;

	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case ENOENT:
		return KVMUF_DEVICE_PATH " not found (is the kvm_userfault module loaded?), or, for an adopting attach, no detached state to adopt";
	case EACCES:
		return "permission denied (" KVMUF_DEVICE_PATH ": root, or its group with the udev rule: kvm)";
	case EPERM:
		return "not permitted (attach: only the process that owns the VM may attach it; open: " KVMUF_DEVICE_PATH " is mode 0600)";
	case ENOTTY:
		return "not a KVM VM fd (attach), or not a kvm-userfault fd, or a module older than the call (unknown ioctl)";
	case EBADF:
		return "bad file descriptor (vm_fd is not an open file)";
	case EBUSY:
		return "already attached (this VM or this device fd)";
	case ENODEV:
		return "not attached, or detached (the VM is gone)";
	case ENOSPC:
		return "too many ranges (KVMUF_MAX_RANGES)";
	case EEXIST:
		return "range overlaps a managed range";
	case EINVAL:
		return "invalid argument (flags, sizes, ranges, or reserved fields not zero; an adopting attach must repeat the mode and ring geometry)";
	case EFAULT:
		return "bad address (user pointer, or src of a copy)";
	case ETIMEDOUT:
		return "timed out waiting for the GFN";
	case EINTR:
		return "interrupted by a signal";
	case ENOMEM:
		return "out of memory";
	case EPROTO:
		return "unexpected answer from the module (API version or ring geometry mismatch)";
	case EMSGSIZE:
		return "message too large (more fds or payload than the receive buffer)";
	case EPIPE:
		return "peer closed the socket";
	case ERANGE:
		return "vCPU has no ring of its own";
	}
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	s = strerrordesc_np(err);	/* static, thread-safe */
#else
	s = NULL;
#endif
	return s ? s : "unknown error";
}
