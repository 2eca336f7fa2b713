// SPDX-License-Identifier: MIT
/*
 * An exit-mode VMM with kvm-userfault: on a missing page KVM_RUN returns EFAULT at once
 * and the VMM decides what to do (here: wait for the page engine to install it, then run
 * the vCPU again). The GFN is in the vCPU's ring header (kvmuf_vcpu_exit()), and in
 * kvm_run's memory_fault on kernels that have KVM_EXIT_MEMORY_FAULT.
 *
 * Build: cc exit-vmm.c $(pkg-config --cflags --libs kvmuf) -o exit-vmm
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
	struct kvmuf_server *srv;
	struct tinyvm t;
	struct kvmuf *k;
	unsigned char *snap, sum = 0;
	unsigned int exits = 0;
	int uffd, ret;

	if (tinyvm_create(&t))
		return 1;
	snap = aligned_alloc(4096, TINYVM_PAGES * 4096u);
	if (!snap)
		return 1;
	for (unsigned int p = 0; p < TINYVM_PAGES; p++)
		snap[p * 4096u] = tinyvm_page_byte(p);

	ret = kvmuf_open(&k);
	if (!ret)
		ret = kvmuf_attach(k, t.vm, KVMUF_ATTACH_EXIT, 1, 64);
	if (!ret)
		ret = kvmuf_backstop_open(&uffd);
	if (!ret)
		ret = kvmuf_backstop_register(uffd, tinyvm_data(&t), TINYVM_PAGES * 4096u);
	if (!ret)
		ret = kvmuf_add_range(k, TINYVM_DATA_GFN, TINYVM_PAGES, KVMUF_RANGE_MISSING);
	if (ret) {
		fprintf(stderr, "exit-vmm: kvm-userfault: %s\n", kvmuf_strerror(ret));
		return 1;
	}
	struct kvmuf_server_config sc = {
		.ctx = k, .nr_threads = 1,
		.geom = { TINYVM_DATA_GFN, TINYVM_PAGES, TINYVM_DATA_GFN, TINYVM_PAGES },
		.snap_data = snap, .use_uffd = 1, .uffd = uffd,
		.uffd_hva = (uintptr_t)tinyvm_data(&t), .poll_ms = 10,
	};
	ret = kvmuf_server_start(&sc, &srv);
	if (ret) {
		fprintf(stderr, "exit-vmm: page engine: %s\n", kvmuf_strerror(ret));
		return 1;
	}

	for (;;) {
		if (ioctl(t.vcpu, KVM_RUN, 0) < 0) {
			uint64_t gfn;
			uint32_t flags;

			if (errno != EFAULT || kvmuf_vcpu_exit(k, 0, &gfn, &flags, NULL)) {
				perror("exit-vmm: KVM_RUN");
				return 1;
			}
			if (flags & KVMUF_EXIT_DETACHED) {
				fprintf(stderr, "exit-vmm: gfn 0x%llx: nobody serves it any more\n",
					(unsigned long long)gfn);
				return 1;
			}
			/* The fault is in the ring already: wait for its page, run again. */
			ret = kvmuf_wait(k, gfn, 10000);
			if (ret) {
				fprintf(stderr, "exit-vmm: gfn 0x%llx: %s\n", (unsigned long long)gfn,
					kvmuf_strerror(ret));
				return 1;
			}
			exits++;
			continue;
		}
		if (t.run->exit_reason == KVM_EXIT_IO && t.run->io.port == TINYVM_REPORT_PORT)
			sum = *((unsigned char *)t.run + t.run->io.data_offset);
		else if (t.run->exit_reason == KVM_EXIT_HLT)
			break;
		else {
			fprintf(stderr, "exit-vmm: unexpected exit %u\n", t.run->exit_reason);
			return 1;
		}
	}
	kvmuf_server_stop(srv, NULL);
	printf("exit-vmm: the guest summed %u pages: 0x%02x (want 0x%02x), after %u exits for missing pages\n",
	       TINYVM_PAGES, sum, tinyvm_expected_sum(), exits);
	kvmuf_close(k);
	return sum == tinyvm_expected_sum() && exits > 0 ? 0 : 1;
}
