// SPDX-License-Identifier: LGPL-2.1-or-later
/* libkvmuf: the userfaultfd backstop, see kvmuf_backstop.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kvmuf_backstop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW	_IO(0xAA, 0x00)	/* /dev/userfaultfd, Linux 6.1 */
#endif

#define UFFD_FLAGS	(O_CLOEXEC | O_NONBLOCK)

static int uffd_create(void)
{
	int fd, dev, err;

#ifdef __NR_userfaultfd
	fd = (int)syscall(__NR_userfaultfd, UFFD_FLAGS);
	if (fd >= 0)
		return fd;
	err = errno;
	if (err != EPERM)
		return -err;
#else
	err = ENOSYS;
#endif
	/* Not allowed to catch kernel faults with the syscall: /dev/userfaultfd may be. */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -err;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, UFFD_FLAGS);
	if (fd < 0)
		fd = -errno;
	close(dev);
	return fd;
}

KVMUF_PUBLIC int kvmuf_backstop_open(int *uffd)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = uffd_create();

	if (fd < 0)
		return fd;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	*uffd = fd;
	return 0;
}

KVMUF_PUBLIC int kvmuf_backstop_register(int uffd, void *hva, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)hva, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (!len || ((uintptr_t)hva | len) & (KVMUF_PAGE_SIZE - 1))
		return -EINVAL;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	/* The engine installs with UFFDIO_COPY and wakes with UFFDIO_WAKE. */
	if ((reg.ioctls & (1ULL << _UFFDIO_COPY)) != (1ULL << _UFFDIO_COPY))
		return -EINVAL;
	return 0;
}

KVMUF_PUBLIC int kvmuf_backstop_wake(int uffd, uint64_t hva, uint64_t len)
{
	struct uffdio_range r = { .start = hva, .len = len };

	if (!len || (hva | len) & (KVMUF_PAGE_SIZE - 1))
		return -EINVAL;
	return ioctl(uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}
