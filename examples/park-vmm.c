// SPDX-License-Identifier: MIT
/*
 * A park-mode VMM with kvm-userfault, serving its own memory: the guest runs before its
 * memory is there, and each first touch of a missing page parks the vCPU in the kernel
 * until libkvmuf's page engine installs the page, with no exit to this process.
 *
 *   1. attach the VM (park mode: flags 0), one ring for the one vCPU;
 *   2. guard the memory with a userfaultfd (the backstop) BEFORE marking anything
 *      missing: KVM's emulator, kvmclock or this process touching a missing page must
 *      wait for it too, never see zeros;
 *   3. mark the pages missing and start the engine, which serves the rings and the
 *      userfaultfd from the snapshot, each page once;
 *   4. run the vCPU.
 *
 * Build: cc park-vmm.c $(pkg-config --cflags --libs kvmuf) -o park-vmm
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <kvmuf/kvmuf.h>
#include <kvmuf/kvmuf_backstop.h>
#include <kvmuf/kvmuf_server.h>

#include "tinyvm.h"

int main(void)
{
	struct kvmuf_server_stats st;
	struct kvmuf_server *srv;
	struct tinyvm t;
	struct kvmuf *k;
	unsigned char *snap, sum = 0;
	int uffd, ret;

	if (tinyvm_create(&t))
		return 1;
	snap = aligned_alloc(4096, TINYVM_PAGES * 4096u);	/* the pages' data, "restored" */
	if (!snap)
		return 1;
	for (unsigned int p = 0; p < TINYVM_PAGES; p++)
		snap[p * 4096u] = tinyvm_page_byte(p);

	ret = kvmuf_open(&k);
	if (!ret)
		ret = kvmuf_attach(k, t.vm, 0, 1, 64);
	if (!ret)
		ret = kvmuf_backstop_open(&uffd);
	if (!ret)
		ret = kvmuf_backstop_register(uffd, tinyvm_data(&t), TINYVM_PAGES * 4096u);
	if (!ret)
		ret = kvmuf_add_range(k, TINYVM_DATA_GFN, TINYVM_PAGES, KVMUF_RANGE_MISSING);
	if (ret) {
		fprintf(stderr, "park-vmm: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return 1;
	}
	struct kvmuf_server_config sc = {
		.ctx = k,
		.nr_threads = 1,
		.geom = { TINYVM_DATA_GFN, TINYVM_PAGES, TINYVM_DATA_GFN, TINYVM_PAGES },
		.snap_data = snap,
		.use_uffd = 1,
		.uffd = uffd,
		.uffd_hva = (uintptr_t)tinyvm_data(&t),
		.poll_ms = 10,
	};
	ret = kvmuf_server_start(&sc, &srv);
	if (ret) {
		fprintf(stderr, "park-vmm: page engine: %s\n", kvmuf_strerror(ret));
		return 1;
	}

	/* Missing pages never reach this loop: the vCPU waits for them inside KVM_RUN. */
	for (;;) {
		if (ioctl(t.vcpu, KVM_RUN, 0) < 0) {
			perror("park-vmm: KVM_RUN");
			return 1;
		}
		if (t.run->exit_reason == KVM_EXIT_IO && t.run->io.port == TINYVM_REPORT_PORT)
			sum = *((unsigned char *)t.run + t.run->io.data_offset);
		else if (t.run->exit_reason == KVM_EXIT_HLT)
			break;
		else {
			fprintf(stderr, "park-vmm: unexpected exit %u\n", t.run->exit_reason);
			return 1;
		}
	}
	kvmuf_server_stop(srv, &st);
	printf("park-vmm: the guest summed %u pages it did not have at start: 0x%02x (want 0x%02x); the engine served %llu\n",
	       TINYVM_PAGES, sum, tinyvm_expected_sum(), (unsigned long long)st.served);
	kvmuf_close(k);
	return sum == tinyvm_expected_sum() && st.served == TINYVM_PAGES ? 0 : 1;
}
