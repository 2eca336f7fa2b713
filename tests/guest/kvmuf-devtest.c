// SPDX-License-Identifier: GPL-2.0
/*
 * In-guest test: /dev/kvm-userfault answers its version ioctl and rejects what it does
 * not know with the documented errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <kvmuf/kvm_userfault.h>

#include "check.h"

int main(void)
{
	int fd = open("/dev/" KVMUF_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		fprintf(stderr, "FAIL: open /dev/%s: %s\n", KVMUF_DEVICE_NAME, strerror(errno));
		return 1;
	}

	ret = ioctl(fd, KVMUF_GET_API_VERSION, 0);
	CHECK(ret == KVMUF_API_VERSION, "API version %d, expected %d", ret, KVMUF_API_VERSION);

	errno = 0;
	ret = ioctl(fd, KVMUF_GET_API_VERSION, 1);
	CHECK(ret == -1 && errno == EINVAL, "version ioctl with an argument: %d errno %d", ret, errno);

	errno = 0;
	ret = ioctl(fd, _IO(KVMUF_IO, 0xff), 0);
	CHECK(ret == -1 && errno == ENOTTY, "unknown ioctl: %d errno %d", ret, errno);

	close(fd);
	if (failures)
		return 1;
	printf("api version %d, error paths ok\n", KVMUF_API_VERSION);
	return 0;
}
