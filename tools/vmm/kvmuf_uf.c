// SPDX-License-Identifier: GPL-2.0
/* kvmuf_uf - kvm-userfault support for the tiny VMM, see kvmuf_uf.h. */
#define _GNU_SOURCE
#include "kvmuf_uf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kvmuf_backstop.h"
#include "kvmuf_handoff.h"
#include "kvmuf_server.h"

#define PFX			"kvmuf-vmm: "
#define ACK_TIMEOUT_MS		10000
#define WAIT_SLICE_MS		100	/* KVMUF_WAIT per call; the socket is checked between */
#define MAX_LOGGED		16
#define DAEMON_GRACE_MS		2000	/* daemon gone: time for the error paths to end the run */
#define TAKEOVER_MARGIN_MS	200	/* adopt this long before the module's deadline */
#define ADOPT_RETRY_MS		10	/* the dead daemon's fd may not be released yet */
#define TAKEOVER_GRACE_MS	(TAKEOVER_MARGIN_MS + 1000)	/* + the module's reaper period */

struct uf_vcpu {
	uint64_t exits;		/* written by the vCPU's own thread only */
	uint32_t last_seq;	/* exit_seq of its ring header last seen */
};

struct kvmuf_uf {
	struct kvmuf_uf_config cfg;
	struct kvmuf_vm *vm;
	struct kvmuf *k;		/* NULL once handed over in park mode */
	int uffd;			/* the backstop's userfaultfd, or -1 */
	int sock;			/* daemon connection, or -1 */
	atomic_int daemon_eof;
	atomic_int takeover_failed;	/* takeover_ms: nobody took over in time */
	atomic_uint takeovers;		/* new daemons that took over */
	_Atomic double last_takeover_ms;
	pthread_t watchdog;		/* backstop or takeover: see watch_daemon() */
	int have_watchdog;
	int watchdog_pipe[2];		/* closed by finish/destroy: the run is over */
	unsigned int daemon_threads;
	struct kvmuf_server *srv;	/* in-process server, or NULL */
	struct kvmuf_server_stats stats;
	int have_stats;
	struct kvmuf_info info;
	int have_info;
	uint64_t base_gfn, npages;
	unsigned int nr_vcpus;
	struct uf_vcpu *vcpus;
};

__attribute__((format(printf, 1, 2)))
static void uf_err(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, PFX "%s\n", msg);
}

const char *kvmuf_uf_mode_name(enum kvmuf_uf_mode mode)
{
	switch (mode) {
	case KVMUF_UF_OFF:	return "off";
	case KVMUF_UF_PARK:	return "park";
	case KVMUF_UF_EXIT:	return "exit";
	}
	return "?";
}

unsigned int kvmuf_uf_takeovers(const struct kvmuf_uf *uf, double *last_ms)
{
	struct kvmuf_uf *u = (struct kvmuf_uf *)uf;

	if (last_ms)
		*last_ms = atomic_load(&u->last_takeover_ms);
	return atomic_load(&u->takeovers);
}

uint64_t kvmuf_uf_vcpu_exits(const struct kvmuf_uf *uf, unsigned int vcpu)
{
	return vcpu < uf->nr_vcpus ? uf->vcpus[vcpu].exits : 0;
}

/* ---- the daemon connection ---- */

/*
 * True once the daemon has closed its end (it never sends after the ack) and nobody
 * will take over: with takeover_ms only the supervisor thread reads the socket (it
 * replaces it), and a dead daemon is final only once it gave up.
 */
static int daemon_gone(struct kvmuf_uf *uf)
{
	struct pollfd p = { .fd = uf->sock, .events = POLLIN | POLLRDHUP };

	if (uf->cfg.takeover_ms)
		return atomic_load(&uf->takeover_failed);
	if (uf->sock < 0)
		return 0;
	if (atomic_load(&uf->daemon_eof))
		return 1;
	if (poll(&p, 1, 0) > 0 && p.revents) {
		atomic_store(&uf->daemon_eof, 1);
		return 1;
	}
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int connect_daemon(const char *path, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	int waited = 0;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		uf_err("%s: socket path too long", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			uf_err("socket: %s", strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		close(fd);
		/* The daemon may still be starting: retry for a while. */
		if ((errno != ENOENT && errno != ECONNREFUSED) || waited >= timeout_ms) {
			uf_err("connecting to kvmuf-daemon at %s: %s", path,
			       strerror(errno));
			return -1;
		}
		nanosleep(&pause, NULL);
		waited += 50;
	}
}

static uint32_t attach_flags(const struct kvmuf_uf *uf)
{
	return (uf->cfg.mode == KVMUF_UF_EXIT ? KVMUF_ATTACH_EXIT : 0) |
	       (uf->cfg.takeover_ms ? KVMUF_ATTACH_TAKEOVER : 0);
}

/*
 * Hand the daemon connected on @sock the attached fd @k, wait for its ack: 0, or -1
 * (diagnostic printed).
 */
static int send_to_daemon(struct kvmuf_uf *uf, int sock, struct kvmuf *k, int adopted)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(uf->vm);
	struct kvmuf_handoff h = {
		.magic = KVMUF_HANDOFF_MAGIC,
		.version = KVMUF_HANDOFF_VERSION,
		.size = sizeof(h),
		.flags = (mem->memfd >= 0 ? KVMUF_HANDOFF_MEMFD : 0) |
			 (uf->cfg.send_seed ? KVMUF_HANDOFF_SEED : 0) |
			 (uf->uffd >= 0 ? KVMUF_HANDOFF_UFFD : 0) |
			 (adopted ? KVMUF_HANDOFF_ADOPTED : 0),
		.base_gfn = uf->base_gfn,
		.npages = uf->npages,
		.memfd_offset = 0,	/* the memfd backs exactly the test slot */
		.seed = uf->cfg.send_seed ? uf->cfg.seed : 0,
		.nr_vcpus = uf->nr_vcpus,
		.attach_flags = attach_flags(uf),
		.uffd_hva = uf->uffd >= 0 ? (uintptr_t)mem->hva : 0,
	};
	struct kvmuf_handoff_fds fds = { kvmuf_fd(k), mem->memfd, uf->uffd };
	struct kvmuf_handoff_ack ack;
	int ret;

	ret = kvmuf_handoff_send(sock, &h, &fds);
	if (ret < 0) {
		uf_err("handing the device fd to kvmuf-daemon: %s", kvmuf_strerror(ret));
		return -1;
	}
	ret = kvmuf_handoff_ack_recv(sock, &ack, ACK_TIMEOUT_MS);
	if (ret < 0) {
		uf_err("kvmuf-daemon did not acknowledge the handoff: %s",
		       ret == -ETIMEDOUT ? "timed out" :
		       ret == -EPIPE ? "it closed the socket" : kvmuf_strerror(ret));
		return -1;
	}
	if (ack.status < 0) {
		uf_err("kvmuf-daemon refused the VM: %s (%s)", ack.message,
		       kvmuf_strerror(ack.status));
		return -1;
	}
	uf->daemon_threads = ack.threads;
	if (uf->cfg.verbose)
		fprintf(stderr, PFX "handed the VM%s to kvmuf-daemon at %s (%s, %u threads, snapshot gfn 0x%llx, %llu pages)\n",
			adopted ? "'s adopted state" : "", uf->cfg.daemon_path,
			uf->uffd >= 0 ? "userfaultfd backstop" : "module only", ack.threads,
			(unsigned long long)ack.snap_base_gfn,
			(unsigned long long)ack.snap_npages);
	return 0;
}

static int hand_over(struct kvmuf_uf *uf)
{
	int ret;

	uf->sock = connect_daemon(uf->cfg.daemon_path, uf->cfg.connect_timeout_ms);
	if (uf->sock < 0 || send_to_daemon(uf, uf->sock, uf->k, 0) < 0)
		return -1;

	/*
	 * Give up our reference, so the daemon's is the last one: if the daemon dies, the
	 * module detaches and releases parked vCPUs (they get an error exit) instead of
	 * leaving them asleep forever. Exit mode keeps a waiter for KVMUF_WAIT, which does
	 * not keep the VM attached: its WAIT then says -ENODEV.
	 */
	if (uf->cfg.mode == KVMUF_UF_EXIT) {
		struct kvmuf *waiter;

		ret = kvmuf_open_waiter(uf->k, &waiter);
		if (ret < 0) {
			uf_err("KVMUF_WAITER: %s", kvmuf_strerror(ret));
			return -1;
		}
		kvmuf_close(uf->k);
		uf->k = waiter;
	} else {
		kvmuf_close(uf->k);
		uf->k = NULL;
	}
	return 0;
}

static int start_server(struct kvmuf_uf *uf)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(uf->vm);
	const struct kvmuf_snap *snap = uf->cfg.snap;
	struct kvmuf_server_config sc = {
		.ctx = uf->k,
		.nr_threads = uf->cfg.server_threads,
		.geom = {
			.snap_base_gfn = snap->hdr.base_gfn,
			.snap_npages = snap->hdr.npages,
			.mem_base_gfn = uf->base_gfn,
			.mem_npages = uf->npages,
		},
		.snap_data = snap->data,
		/* Backstop: UFFDIO_COPY. Else memfd: write through our own mapping, RESOLVE. */
		.use_uffd = uf->uffd >= 0,
		.uffd = uf->uffd,
		.uffd_hva = (uintptr_t)mem->hva,
		.mem = mem->memfd >= 0 && uf->uffd < 0 ? mem->hva : NULL,
		.poll_ms = uf->cfg.poll_ms,
		.fetch_delay_us = uf->cfg.fetch_delay_us,
		.log_prefix = uf->cfg.verbose ? "kvmuf-vmm: server" : NULL,
		.max_logged = MAX_LOGGED,
	};
	int ret;

	/*
	 * Nobody can detach an in-process server's VM: a vCPU that touched a
	 * page the snapshot lacks would wait forever.  Only exit mode with a
	 * wait limit (-W) may run with a partial snapshot.
	 */
	if ((!kvmuf_snap_page(snap, uf->base_gfn) ||
	     !kvmuf_snap_page(snap, uf->base_gfn + uf->npages - 1)) &&
	    !(uf->cfg.mode == KVMUF_UF_EXIT && uf->cfg.wait_limit_ms)) {
		uf_err("the snapshot (gfn 0x%llx, %llu pages) does not cover the test memory (gfn 0x%llx, %llu pages): the in-process server would leave vCPUs waiting forever (use -u exit -W MS to try anyway)",
		       (unsigned long long)snap->hdr.base_gfn,
		       (unsigned long long)snap->hdr.npages,
		       (unsigned long long)uf->base_gfn, (unsigned long long)uf->npages);
		return -1;
	}
	ret = kvmuf_server_start(&sc, &uf->srv);
	if (ret < 0) {
		uf_err("starting the in-process server: %s", kvmuf_strerror(ret));
		return -1;
	}
	return 0;
}

/* ---- the exit hook ---- */

static int in_test_mem(const struct kvmuf_uf *uf, uint64_t gfn)
{
	return gfn >= uf->base_gfn && gfn - uf->base_gfn < uf->npages;
}

/* Why nobody will serve a missing GFN any more, or NULL if someone may. */
static const char *nobody_serves(struct kvmuf_uf *uf, uint32_t exit_flags)
{
	if (exit_flags & KVMUF_EXIT_DETACHED)
		return "kvm-userfault detached the VM";
	if (daemon_gone(uf))
		return uf->cfg.takeover_ms ? "kvmuf-daemon died and no new one took over in time" :
					     "kvmuf-daemon closed its socket";
	if (uf->srv && kvmuf_server_done(uf->srv))
		return "the in-process server stopped";
	if (!uf->k)
		return "the device fd was detached: kvmuf-daemon is gone";
	return NULL;
}

/*
 * Exit mode: wait until @gfn is resolved, checking between waits that
 * somebody is still there to resolve it.
 */
static enum kvmuf_exit_action wait_for_gfn(struct kvmuf_uf *uf, unsigned int vcpu,
					   uint64_t gfn, unsigned int takeovers)
{
	struct timespec t0;
	const char *why;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int ret = kvmuf_wait(uf->k, gfn, WAIT_SLICE_MS);

		if (ret == 0)
			return KVMUF_EXIT_RETRY;
		if (ret == -ENODEV) {
			uf_err("vcpu %u: gfn 0x%llx still missing and nobody will serve it (kvm-userfault detached the VM)",
			       vcpu, (unsigned long long)gfn);
			return KVMUF_EXIT_ERROR;
		}
		if (ret != -ETIMEDOUT && ret != -EINTR) {
			uf_err("vcpu %u: KVMUF_WAIT for gfn 0x%llx: %s", vcpu,
			       (unsigned long long)gfn, kvmuf_strerror(ret));
			return KVMUF_EXIT_ERROR;
		}
		/*
		 * A new daemon took over since the exit: the dead one may have read this
		 * fault and never resolved it, and the adoption withdrew its notification.
		 * Run the vCPU again: its fault tells the new daemon (or, if the page came
		 * meanwhile, it goes on).
		 */
		if (atomic_load(&uf->takeovers) != takeovers)
			return KVMUF_EXIT_RETRY;
		why = nobody_serves(uf, 0);
		if (why) {
			uf_err("vcpu %u: gfn 0x%llx still missing and nobody will serve it (%s)",
			       vcpu, (unsigned long long)gfn, why);
			return KVMUF_EXIT_ERROR;
		}
		if (uf->cfg.wait_limit_ms && ms_since(&t0) >= uf->cfg.wait_limit_ms) {
			uf_err("vcpu %u: gfn 0x%llx still missing after %u ms: giving up",
			       vcpu, (unsigned long long)gfn, uf->cfg.wait_limit_ms);
			return KVMUF_EXIT_ERROR;
		}
	}
}

static enum kvmuf_exit_action uf_exit_hook(struct kvmuf_vm *vm,
					   const struct kvmuf_exit_info *in,
					   void *opaque)
{
	struct kvmuf_uf *uf = opaque;
	struct uf_vcpu *v = &uf->vcpus[in->vcpu];
	unsigned int takeovers = atomic_load(&uf->takeovers);
	uint64_t gfn = 0, ring_gfn;
	uint32_t flags = 0, ring_flags, seq;
	const char *why;
	int have = 0;

	(void)vm;
	/* Anything else is not ours: the library reports it. */
	if (in->run_errno != EFAULT && in->exit_reason != KVM_EXIT_MEMORY_FAULT)
		return KVMUF_EXIT_ERROR;

	if (in->exit_reason == KVM_EXIT_MEMORY_FAULT) {
		gfn = in->fault_gpa >> KVMUF_PAGE_SHIFT;
		have = 1;
	}
	/* The ring header's exit record is fresh iff exit_seq moved. */
	if (uf->k && kvmuf_vcpu_exit(uf->k, in->vcpu, &ring_gfn, &ring_flags,
				     &seq) == 0 && seq != v->last_seq) {
		v->last_seq = seq;
		flags = ring_flags;
		if (!have)
			gfn = ring_gfn;
		have = 1;
	}
	if (!have) {
		if (uf->k) {
			uf_err("vcpu %u: KVM_RUN failed with EFAULT, not for kvm-userfault (no memory-fault exit, no new exit record)",
			       in->vcpu);
		} else {
			why = nobody_serves(uf, 0);
			uf_err("vcpu %u: KVM_RUN failed with EFAULT: a gfn (unknown: no KVM_EXIT_MEMORY_FAULT on this kernel, and the device fd is with kvmuf-daemon) is still missing and nobody will serve it (%s)",
			       in->vcpu, why ? why : "?");
		}
		return KVMUF_EXIT_ERROR;
	}
	v->exits++;
	if (!in_test_mem(uf, gfn)) {
		uf_err("vcpu %u: kvm-userfault exit for gfn 0x%llx, outside the test memory",
		       in->vcpu, (unsigned long long)gfn);
		return KVMUF_EXIT_ERROR;
	}
	why = nobody_serves(uf, flags);
	if (!why && uf->cfg.mode == KVMUF_UF_PARK)
		why = "a park-mode vCPU was sent back: the VM was detached";
	if (why) {
		uf_err("vcpu %u: gfn 0x%llx still missing and nobody will serve it (%s)",
		       in->vcpu, (unsigned long long)gfn, why);
		return KVMUF_EXIT_ERROR;
	}
	return wait_for_gfn(uf, in->vcpu, gfn, takeovers);
}

/*
 * The daemon died with the VM attached with KVMUF_ATTACH_TAKEOVER: the vCPUs wait. Wait
 * (until shortly before the module's own deadline) for a new daemon to listen at the
 * same path, then adopt the VM's state and hand it over: in that order, so that if
 * nobody comes the module's deadline still ends the wait. 0 (uf->sock is the new
 * daemon's), or -1: nobody took over, the module will detach the VM.
 */
static int take_over(struct kvmuf_uf *uf)
{
	int budget = (int)uf->cfg.takeover_ms - TAKEOVER_MARGIN_MS;
	struct timespec t0;
	struct kvmuf *k;
	int sock, ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	close(uf->sock);
	uf->sock = -1;
	if (budget < ADOPT_RETRY_MS)
		budget = ADOPT_RETRY_MS;
	uf_err("kvmuf-daemon is gone: the vCPUs wait; waiting up to %d ms for a new one at %s",
	       budget, uf->cfg.daemon_path);
	sock = connect_daemon(uf->cfg.daemon_path, budget);
	if (sock < 0)
		return -1;
	ret = kvmuf_open(&k);
	if (ret < 0) {
		uf_err("takeover: %s: %s", KVMUF_DEVICE_PATH, kvmuf_strerror(ret));
		close(sock);
		return -1;
	}
	/* The dead daemon's fd goes when its process is torn down: EBUSY until then. */
	do {
		ret = kvmuf_attach_takeover(k, kvmuf_vm_fd(uf->vm),
					    attach_flags(uf) | KVMUF_ATTACH_ADOPT,
					    uf->cfg.vm_ring_only ? 0 : uf->nr_vcpus,
					    uf->cfg.ring_entries, uf->cfg.takeover_ms);
		if (ret != -EBUSY)
			break;
		usleep(ADOPT_RETRY_MS * 1000);
	} while (ms_since(&t0) < budget);
	if (ret < 0) {
		uf_err("takeover: adopting the VM's state: %s", kvmuf_strerror(ret));
		kvmuf_close(k);
		close(sock);
		return -1;
	}
	/*
	 * Adopted: the vCPUs' next faults go to the new rings. If the handoff fails, our
	 * close starts another takeover wait, which the module ends at its deadline.
	 */
	ret = send_to_daemon(uf, sock, k, 1);
	kvmuf_close(k);
	if (ret < 0) {
		close(sock);
		return -1;
	}
	uf->sock = sock;
	atomic_store(&uf->last_takeover_ms, ms_since(&t0));
	atomic_fetch_add(&uf->takeovers, 1);
	uf_err("a new kvmuf-daemon took over after %.0f ms", ms_since(&t0));
	return 0;
}

/*
 * The daemon's death, seen on its socket. With takeover_ms a new daemon may take over
 * (take_over()), as often as one dies. Otherwise, or when nobody came: with the
 * backstop a thread of ours (a vCPU in KVM's emulator, say) may be waiting in
 * userfaultfd for a page nobody will ever serve, and nothing but our exit ends that
 * wait safely (closing the userfaultfd would hand it a zero page). Parked and
 * exit-mode vCPUs end the run with an error on their own: give them DAEMON_GRACE_MS,
 * then exit.
 */
static void *watch_daemon(void *arg)
{
	struct kvmuf_uf *uf = arg;
	struct pollfd p[2] = {
		{ .fd = uf->sock, .events = POLLRDHUP },
		{ .fd = uf->watchdog_pipe[0], .events = POLLIN },
	};

	for (;;) {
		p[0].fd = uf->sock;
		while (poll(p, 2, -1) < 0 && errno == EINTR)
			;
		if (p[1].revents)
			return NULL;		/* the run is over */
		atomic_store(&uf->daemon_eof, 1);
		if (!uf->cfg.takeover_ms)
			break;
		if (take_over(uf) < 0) {
			atomic_store(&uf->takeover_failed, 1);
			break;
		}
		atomic_store(&uf->daemon_eof, 0);
	}
	/* After a takeover that did not come, the module detaches at its deadline. */
	if (uf->uffd < 0 ||
	    poll(&p[1], 1, DAEMON_GRACE_MS + (uf->cfg.takeover_ms ? TAKEOVER_GRACE_MS : 0)) > 0)
		return NULL;
	uf_err("kvmuf-daemon is gone and the run has not ended: a thread may wait in userfaultfd for a page nobody will serve; exiting");
	_exit(EXIT_FAILURE);
}

static int start_watchdog(struct kvmuf_uf *uf)
{
	if (pipe2(uf->watchdog_pipe, O_CLOEXEC) < 0) {
		uf_err("pipe: %s", strerror(errno));
		return -1;
	}
	if (pthread_create(&uf->watchdog, NULL, watch_daemon, uf) != 0) {
		uf_err("cannot start the daemon watchdog");
		return -1;
	}
	uf->have_watchdog = 1;
	return 0;
}

static void stop_watchdog(struct kvmuf_uf *uf)
{
	if (uf->watchdog_pipe[1] >= 0) {
		close(uf->watchdog_pipe[1]);
		uf->watchdog_pipe[1] = -1;
	}
	if (uf->have_watchdog) {
		pthread_join(uf->watchdog, NULL);
		uf->have_watchdog = 0;
	}
	if (uf->watchdog_pipe[0] >= 0) {
		close(uf->watchdog_pipe[0]);
		uf->watchdog_pipe[0] = -1;
	}
}

/* ---- setup and teardown ---- */

static int attach(struct kvmuf_uf *uf)
{
	int ret;

	ret = kvmuf_attach_takeover(uf->k, kvmuf_vm_fd(uf->vm), attach_flags(uf),
				    uf->cfg.vm_ring_only ? 0 : uf->nr_vcpus,
				    uf->cfg.ring_entries, uf->cfg.takeover_ms);
	if (ret < 0) {
		uf_err("KVMUF_ATTACH (%s mode, %u vCPU rings of %u entries): %s",
		       kvmuf_uf_mode_name(uf->cfg.mode), uf->nr_vcpus,
		       uf->cfg.ring_entries, kvmuf_strerror(ret));
		return -1;
	}
	/*
	 * The backstop goes on before any GFN is missing, so that no access through the
	 * host mm ever finds a missing page unguarded.
	 */
	if (!uf->cfg.module_only) {
		const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(uf->vm);

		ret = kvmuf_backstop_open(&uf->uffd);
		if (ret == 0)
			ret = kvmuf_backstop_register(uf->uffd, mem->hva, mem->size);
		if (ret < 0) {
			uf_err("userfaultfd backstop on the test memory: %s%s", strerror(-ret),
			       ret == -EPERM ? " (needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd; -M runs without it)" : "");
			return -1;
		}
	}
	/* All of the test memory starts missing: every page comes from the server. */
	ret = kvmuf_add_range(uf->k, uf->base_gfn, uf->npages,
			      KVMUF_RANGE_MISSING |
			      (uf->cfg.module_only ? KVMUF_RANGE_MODULE_ONLY : 0));
	if (ret < 0) {
		uf_err("KVMUF_ADD_RANGE gfn 0x%llx, %llu pages: %s%s",
		       (unsigned long long)uf->base_gfn,
		       (unsigned long long)uf->npages, kvmuf_strerror(ret),
		       ret == -EINVAL && !uf->cfg.module_only ?
		       " (the module refuses missing pages that no userfaultfd guards: see the kernel log)" : "");
		return -1;
	}
	for (unsigned int i = 0; i < uf->nr_vcpus; i++)
		kvmuf_vcpu_exit(uf->k, i, NULL, NULL, &uf->vcpus[i].last_seq);
	return 0;
}

int kvmuf_uf_setup(struct kvmuf_vm *vm, const struct kvmuf_uf_config *cfg,
		   struct kvmuf_uf **out)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	struct kvmuf_uf *uf;
	int ret;

	*out = NULL;
	if (cfg->mode != KVMUF_UF_PARK && cfg->mode != KVMUF_UF_EXIT) {
		uf_err("kvm-userfault mode must be park or exit");
		return KVMUF_UF_SETUP_ERROR;
	}
	if (!cfg->daemon_path && !cfg->snap) {
		uf_err("the in-process server needs a snapshot");
		return KVMUF_UF_SETUP_ERROR;
	}
	uf = calloc(1, sizeof(*uf));
	if (!uf)
		return KVMUF_UF_SETUP_ERROR;
	uf->cfg = *cfg;
	uf->vm = vm;
	uf->sock = -1;
	uf->uffd = -1;
	uf->watchdog_pipe[0] = uf->watchdog_pipe[1] = -1;
	uf->nr_vcpus = kvmuf_vm_nr_vcpus(vm);
	uf->base_gfn = mem->gpa >> KVMUF_PAGE_SHIFT;
	uf->npages = mem->size >> KVMUF_PAGE_SHIFT;
	uf->vcpus = calloc(uf->nr_vcpus, sizeof(*uf->vcpus));
	if (!uf->vcpus) {
		free(uf);
		return KVMUF_UF_SETUP_ERROR;
	}

	ret = kvmuf_open(&uf->k);
	if (ret < 0) {
		kvmuf_uf_destroy(uf);
		errno = -ret;
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO)
			return KVMUF_UF_SETUP_SKIP;
		uf_err("%s: %s", KVMUF_DEVICE_PATH, kvmuf_strerror(ret));
		return KVMUF_UF_SETUP_ERROR;
	}
	if (attach(uf) < 0)
		goto fail;
	kvmuf_vm_set_exit_hook(vm, uf_exit_hook, uf);
	if (cfg->daemon_path ? hand_over(uf) < 0 : start_server(uf) < 0)
		goto fail;
	if (cfg->daemon_path && (uf->uffd >= 0 || cfg->takeover_ms) && start_watchdog(uf) < 0)
		goto fail;
	*out = uf;
	return KVMUF_UF_SETUP_OK;
fail:
	kvmuf_vm_set_exit_hook(vm, NULL, NULL);
	kvmuf_uf_destroy(uf);
	return KVMUF_UF_SETUP_ERROR;
}

int kvmuf_uf_finish(struct kvmuf_uf *uf)
{
	int ret = 0;

	stop_watchdog(uf);
	if (uf->srv) {
		kvmuf_server_stop(uf->srv, &uf->stats);
		uf->srv = NULL;
		uf->have_stats = 1;
		if (uf->stats.out_of_range) {
			uf_err("server: %llu out-of-range faults, first gfn 0x%llx",
			       (unsigned long long)uf->stats.out_of_range,
			       (unsigned long long)uf->stats.first_oor_gfn);
			ret = -1;
		}
		if (uf->stats.duplicates) {
			uf_err("server: %llu duplicate faults, first gfn 0x%llx",
			       (unsigned long long)uf->stats.duplicates,
			       (unsigned long long)uf->stats.first_dup_gfn);
			ret = -1;
		}
		if (uf->stats.errors) {
			uf_err("server: %llu failed calls", (unsigned long long)uf->stats.errors);
			ret = -1;
		}
	}
	if (uf->k && kvmuf_info(uf->k, &uf->info) == 0)
		uf->have_info = 1;
	return ret;
}

void kvmuf_uf_print(const struct kvmuf_uf *uf)
{
	const struct kvmuf_server_stats *st = &uf->stats;

	if (!uf->have_stats)
		return;
	printf(PFX "server: served %llu pages in %.3f s by %u threads, through rings %llu, through userfaultfd %llu, %llu batches, duplicates %llu, out-of-range %llu, unchanged %llu, errors %llu\n",
	       (unsigned long long)(st->ring_served + st->uffd_served), st->seconds, st->threads,
	       (unsigned long long)st->ring_served, (unsigned long long)st->uffd_served,
	       (unsigned long long)st->batches, (unsigned long long)st->duplicates,
	       (unsigned long long)st->out_of_range,
	       (unsigned long long)st->unchanged, (unsigned long long)st->errors);
}

const char *kvmuf_uf_summary(const struct kvmuf_uf *uf, char *buf, size_t len)
{
	int n;

	if (!uf) {
		snprintf(buf, len, "uf off");
		return buf;
	}
	n = snprintf(buf, len, "uf %s, %s, %s", kvmuf_uf_mode_name(uf->cfg.mode),
		     uf->cfg.daemon_path ? "daemon" : "in-process server",
		     uf->uffd >= 0 ? "backstop" : "module only");
	if (uf->have_info && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " (faults %llu, deduped %llu, exits %llu, ring waits %llu)",
			      (unsigned long long)uf->info.faults,
			      (unsigned long long)uf->info.deduped,
			      (unsigned long long)uf->info.exits,
			      (unsigned long long)uf->info.ring_waits);
	if (uf->cfg.takeover_ms && n > 0 && (size_t)n < len) {
		double last;
		unsigned int t = kvmuf_uf_takeovers(uf, &last);

		snprintf(buf + n, len - (size_t)n, ", takeovers %u (last %.0f ms)", t, last);
	}
	return buf;
}

void kvmuf_uf_destroy(struct kvmuf_uf *uf)
{
	if (!uf)
		return;
	stop_watchdog(uf);
	kvmuf_server_stop(uf->srv, NULL);
	if (uf->sock >= 0)
		close(uf->sock);	/* the daemon sees EOF and finishes */
	kvmuf_close(uf->k);
	/*
	 * Last: the guest memory stays registered until the VM is gone, or all its
	 * pages are in (the caller destroys the VM right after).
	 */
	if (uf->uffd >= 0)
		close(uf->uffd);
	free(uf->vcpus);
	free(uf);
}

/* ---- snapshot helpers ---- */

int kvmuf_vm_fill_snapshot(struct kvmuf_vm *vm, const struct kvmuf_snap *snap)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	uint64_t base = mem->gpa >> KVMUF_PAGE_SHIFT, n = mem->size >> KVMUF_PAGE_SHIFT;

	for (uint64_t i = 0; i < n; i++) {
		const void *src = kvmuf_snap_page(snap, base + i);

		if (!src) {
			uf_err("snapshot does not hold gfn 0x%llx of the test memory",
			       (unsigned long long)(base + i));
			return -1;
		}
		memcpy((char *)mem->hva + i * KVMUF_PAGE_SIZE, src, KVMUF_PAGE_SIZE);
	}
	return 0;
}

uint64_t kvmuf_vm_compare_snapshot(const struct kvmuf_vm *vm,
				   const struct kvmuf_snap *snap)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(vm);
	uint64_t n = mem->size >> KVMUF_PAGE_SHIFT, bad;
	char why[192];

	bad = kvmuf_snap_compare(snap, mem->gpa >> KVMUF_PAGE_SHIFT, mem->hva, n, why,
				 sizeof(why));
	if (bad)
		uf_err("snapshot check: %llu of %llu pages bad; first: %s",
		       (unsigned long long)bad, (unsigned long long)n, why);
	return bad;
}
