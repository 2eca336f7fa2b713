/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkvmuf: the userfaultfd backstop.
 *
 * kvm-userfault catches the vCPUs' stage-2 faults on missing GFNs. Every other access to
 * guest memory goes through the host mm: KVM's instruction emulator, its guest page-table
 * walks, pfn caches (kvmclock), gfn_to_hva caches (steal time), kvm_vcpu_map (nested
 * state), the VMM's own device emulation, vhost. On a page that is not there yet those
 * would see a zero page, or write into a fresh one that the later install overwrites.
 * The backstop holds them: the VMM registers its guest memory with userfaultfd (MISSING
 * mode, anonymous and memfd/shmem alike) before the module makes any GFN missing, and
 * the page engine (kvmuf_server.h) serves the userfaultfd next to the rings; a page is
 * installed once (UFFDIO_COPY), whichever way it was asked for.
 *
 * Why MISSING and not MINOR for memfd memory: MINOR faults fire only for pages that are
 * in the page cache but not mapped; a hole (a page never written, which is what a
 * missing page of a restore is) would be filled with zeros without any fault.
 *
 * The userfaultfd must see kernel accesses too, so it is opened without
 * UFFD_USER_MODE_ONLY: that needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd = 1, or
 * access to /dev/userfaultfd (6.1+, whose file mode decides), tried in that order.
 * Not supported: hugetlbfs guest memory (the engine installs 4 KiB pages), and
 * mremap or fork of registered memory while pages are missing.
 */
#ifndef KVMUF_BACKSTOP_H
#define KVMUF_BACKSTOP_H

#include <stdint.h>

#include "kvmuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A userfaultfd on the calling process's memory: non-blocking, close-on-exec, API
 * handshake done. 0 or -errno (-EPERM: not allowed, see above; -ENOSYS: no userfaultfd
 * in this kernel).
 */
KVMUF_PUBLIC int kvmuf_backstop_open(int *uffd);

/*
 * Register [hva, hva + len) of the calling process with @uffd for MISSING faults. hva and
 * len 4 KiB aligned; the range must be anonymous or shmem (memfd) memory. 0 or -errno
 * (-EINVAL: bad alignment or a kind of memory userfaultfd cannot serve, -EBUSY: already
 * registered with another userfaultfd).
 */
KVMUF_PUBLIC int kvmuf_backstop_register(int uffd, void *hva, uint64_t len);

/*
 * Wake every thread waiting in @uffd on [hva, hva + len) of the registered process (hva
 * in that process; 4 KiB aligned). A woken thread whose page is still missing faults
 * again, with a new message. A page server that takes over from one that died must do
 * this once it has the userfaultfd: the messages the dead server read are gone with it,
 * and their threads would wait for ever. 0 or -errno.
 */
KVMUF_PUBLIC int kvmuf_backstop_wake(int uffd, uint64_t hva, uint64_t len);

#ifdef __cplusplus
}
#endif

#endif /* KVMUF_BACKSTOP_H */
