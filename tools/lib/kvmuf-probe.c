// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kvmuf-probe: is /dev/kvm-userfault there, and does it speak our API version?
 * Exit status: 0 yes, 3 no device (module not loaded), 1 any other error.
 * Also the static-link check of libkvmuf.a (make check).
 */
#include <errno.h>
#include <stdio.h>

#include "kvmuf.h"

int main(void)
{
	struct kvmuf *k;
	int ret;

	ret = kvmuf_open(&k);
	if (ret) {
		printf("kvmuf-probe: open: %s\n", kvmuf_strerror(ret));
		return ret == -ENOENT ? 3 : 1;
	}
	ret = kvmuf_api_version(k);
	kvmuf_close(k);
	if (ret < 0) {
		printf("kvmuf-probe: version ioctl: %s\n", kvmuf_strerror(ret));
		return 1;
	}
	printf("kvmuf-probe: %s: API version %d (library built for %d)\n", KVMUF_DEVICE_PATH,
	       ret, KVMUF_API_VERSION);
	return ret == KVMUF_API_VERSION ? 0 : 1;
}
