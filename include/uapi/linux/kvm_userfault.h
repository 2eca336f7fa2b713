/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvm-userfault: the ABI of /dev/kvm-userfault.
 *
 * The module lets a VMM (or a separate daemon it hands the device fd to) serve the first
 * touch of guest pages without userfaultfd: KVM stage-2 faults on GFNs marked missing are
 * reported through per-vCPU rings and resolved with batched ioctls.
 *
 * Versioning: KVMUF_GET_API_VERSION returns KVMUF_API_VERSION. A change that breaks the
 * layout of anything below bumps it; additions use reserved fields and flags, which must
 * be zero today (the module returns -EINVAL otherwise), so old binaries keep working.
 */
#ifndef _UAPI_LINUX_KVM_USERFAULT_H
#define _UAPI_LINUX_KVM_USERFAULT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KVMUF_DEVICE_NAME	"kvm-userfault"
#define KVMUF_API_VERSION	1

/* ioctl type byte; 0xAF is unused in Documentation/userspace-api/ioctl/ioctl-number.rst */
#define KVMUF_IO		0xAF

/* Returns KVMUF_API_VERSION (>= 1) as the ioctl's return value. */
#define KVMUF_GET_API_VERSION	_IO(KVMUF_IO, 0x00)

#endif /* _UAPI_LINUX_KVM_USERFAULT_H */
