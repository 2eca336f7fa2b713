/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmuf_uf - kvm-userfault support for the tiny VMM (kvmuf-vmm -u).
 *
 * Attaches a kvmuf_vm to /dev/kvm-userfault (libkvmuf), arms the userfaultfd backstop on
 * the test memory (kvmuf_backstop.h: KVM's own accesses and the VMM's are held until
 * served; module_only turns it off), registers the whole test memslot as one range
 * with every GFN missing, and arranges for the missing pages to be served, either
 *   - by a kvmuf-daemon process: the attached device fd, the guest memfd and the
 *     userfaultfd are handed over a unix socket (kvmuf_handoff.h). The VMM then closes
 *     its own device fd, so that if the daemon dies the module sees the last reference
 *     go, detaches and releases the parked vCPUs; in exit mode it keeps a waiter fd
 *     (KVMUF_WAITER) for KVMUF_WAIT, which then returns -ENODEV. It always keeps its
 *     userfaultfd: closing it would let accesses to missing pages see zeros. If the
 *     daemon dies, a thread of ours may wait in userfaultfd for a page nobody will
 *     serve: the VMM then exits (a VM whose memory source is gone cannot go on, and
 *     must not see zeros).
 *     With takeover_ms the VMM stays the authority over its VM instead: attached with
 *     KVMUF_ATTACH_TAKEOVER, a dead daemon leaves the vCPUs waiting (parked, or in
 *     KVMUF_WAIT) and the VMM's supervisor thread waits up to takeover_ms for a new
 *     daemon at the same socket path, adopts the VM's state (KVMUF_ATTACH_ADOPT: every
 *     fault pending or read and unresolved is delivered again) and hands it over. It
 *     gives up after takeover_ms: then the module detaches and the run fails, as
 *     without takeover;
 *   - or by an in-process server (libkvmuf's page engine) reading a snapshot image,
 *     whose workers serve the rings and the userfaultfd: in exit mode a vCPU thread
 *     blocked in userfaultfd (KVM touching a missing page for it) is served by them.
 * It installs the kvmuf_vm exit hook that handles kvm-userfault exits: KVM_RUN failing
 * with EFAULT (with or without KVM_EXIT_MEMORY_FAULT).
 *
 * Also here: filling and comparing guest memory against a snapshot image.
 *
 * Diagnostics go to stderr, prefixed with "kvmuf-vmm: ".
 */
#ifndef KVMUF_UF_H
#define KVMUF_UF_H

#include "kvmuf.h"		/* first: it defines KVMUF_PAGE_SIZE too */
#include "kvmuf_vm.h"
#include "kvmuf_snapshot.h"

#include <stdint.h>

enum kvmuf_uf_mode {
	KVMUF_UF_OFF,
	KVMUF_UF_PARK,		/* vCPUs sleep in the kernel until resolved */
	KVMUF_UF_EXIT,		/* KVM_RUN returns; the VMM waits and re-enters */
};

struct kvmuf_uf_config {
	enum kvmuf_uf_mode mode;		/* PARK or EXIT */
	uint32_t ring_entries;			/* power of two, 16..65536 */
	int vm_ring_only;			/* no vCPU rings: every vCPU shares
						 * the VM ring (full-ring tests) */
	int module_only;			/* no userfaultfd backstop */
	const char *daemon_path;		/* kvmuf-daemon socket, or NULL */
	const struct kvmuf_snap *snap;		/* in-process server source (no daemon) */
	unsigned int server_threads;		/* in-process server workers */
	int poll_ms;				/* in-process server idle poll */
	unsigned int fetch_delay_us;		/* in-process server: delay per page */
	uint64_t seed;				/* sent to the daemon if send_seed */
	int send_seed;
	unsigned int wait_limit_ms;		/* exit mode: give up on a GFN; 0 never */
	int connect_timeout_ms;			/* keep retrying connect() this long */
	unsigned int takeover_ms;		/* with a daemon: if it dies, keep the
						 * vCPUs waiting this long for a new one
						 * at daemon_path (KVMUF_ATTACH_TAKEOVER);
						 * 0: its death ends the run */
	int verbose;				/* progress lines on stderr */
};

/* kvmuf_uf_setup() results. */
#define KVMUF_UF_SETUP_OK	0
#define KVMUF_UF_SETUP_ERROR	(-1)	/* diagnostic printed */
#define KVMUF_UF_SETUP_SKIP	(-2)	/* no /dev/kvm-userfault; errno says why */

struct kvmuf_uf;

/*
 * Attach @vm, register its test memory as missing, install the exit hook,
 * then hand the fd to the daemon (waiting for its ack) or start the
 * in-process server.  Call before the first run, with nothing touching the
 * test memory in between.
 */
int kvmuf_uf_setup(struct kvmuf_vm *vm, const struct kvmuf_uf_config *cfg,
		   struct kvmuf_uf **out);

/*
 * After the run (and after the host's own checks of guest memory, which the in-process
 * server serves like any other access): stop the in-process server, read the module's
 * counters.
 * Returns 0, or -1 if the in-process server saw duplicates, out-of-range
 * faults or errors (diagnostic printed).
 */
int kvmuf_uf_finish(struct kvmuf_uf *uf);

/* How many times a new daemon took over, and how long the last one took (ms). */
unsigned int kvmuf_uf_takeovers(const struct kvmuf_uf *uf, double *last_ms);

/* kvm-userfault exits taken by vCPU @vcpu in the run. */
uint64_t kvmuf_uf_vcpu_exits(const struct kvmuf_uf *uf, unsigned int vcpu);

/* Print the in-process server's line (if any) on stdout. */
void kvmuf_uf_print(const struct kvmuf_uf *uf);

/*
 * The summary's kvm-userfault part: "uf park", "uf exit, daemon" ... plus
 * "(faults N, deduped N, exits N)" while the VMM holds the device fd.
 */
const char *kvmuf_uf_summary(const struct kvmuf_uf *uf, char *buf, size_t len);

/* Close the daemon socket (the daemon then finishes), the fd; free. NULL ok. */
void kvmuf_uf_destroy(struct kvmuf_uf *uf);

const char *kvmuf_uf_mode_name(enum kvmuf_uf_mode mode);

/* Host side: copy the snapshot pages into the test memory (no kvm-userfault). */
int kvmuf_vm_fill_snapshot(struct kvmuf_vm *vm, const struct kvmuf_snap *snap);

/*
 * Host side: compare every test page (4 KiB) with the snapshot page of its
 * GFN.  Returns the number of bad pages (0: all equal) and names the first
 * one on stderr.
 */
uint64_t kvmuf_vm_compare_snapshot(const struct kvmuf_vm *vm,
				   const struct kvmuf_snap *snap);

#endif /* KVMUF_UF_H */
