// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-bench: the kvm-userfault modes.
 *
 *   none-attached  the VM is attached to /dev/kvm-userfault and the whole test
 *                  memory added as a range, but no GFN is missing: every fault
 *                  goes through the module's hook and finds nothing to do;
 *   kvmuf-park     all GFNs missing, vCPUs park in the kernel until served
 *                  (beside uffd-missing: the server copies every page in);
 *                  module only (KVMUF_RANGE_MODULE_ONLY);
 *   kvmuf-park+uffd the same with the userfaultfd backstop, as users run it: the
 *                  memory is registered with userfaultfd too, the engine installs
 *                  every page with UFFDIO_COPY then KVMUF_RESOLVE, and serves the
 *                  userfaultfd (which nothing here touches: KVM and the VMM stay
 *                  out of guest memory, so its cost is the install path's);
 *   kvmuf-minor    shmem: the page cache holds every page already, all GFNs
 *                  missing, vCPUs park, the server only resolves (beside
 *                  uffd-minor, which only maps with UFFDIO_CONTINUE);
 *   kvmuf-exit     all GFNs missing, KVM_RUN returns to the VMM, which waits
 *                  with KVMUF_WAIT and re-enters (as tools/vmm/kvmuf_uf.c does).
 *
 * Pages are served in-process by libkvmuf's page engine (kvmuf_server.h)
 * with -r worker threads in total: KVMUF_RESOLVE_COPY from the source pages
 * (anonymous memory and shmem alike: one ioctl allocates, copies and maps the
 * page in the VMM), or with -W for shmem pwrite() into the memfd (a new
 * page-cache page is not zeroed first; a daemon in another process holds the
 * memfd too), then KVMUF_RESOLVE. With -p the workers spin on their rings.
 *
 * Latency: the server's on_served callback gives, per fault, the end of the
 * resolve ioctl that served it; the ring entry's time_ns is CLOCK_MONOTONIC
 * when the module raised the fault.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "kvmuf_backstop.h"
#include "kvmuf_server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES	256		/* a vCPU has one fault outstanding at a time */
#define SERVER_POLL_MS	50
#define WAIT_SLICE_MS	100		/* KVMUF_WAIT per call, server checked between */
#define MAX_LOGGED	16

struct kv_run {
	struct run_ctx *rc;
	struct kvmuf *k;
	struct kvmuf_server *srv;
	void *alias;			/* shmem: the server's mapping of the memfd */
	int uffd;			/* kvmuf-park+uffd: the backstop, else -1 */
	uint64_t size;
	uint64_t base_gfn, npages;
	int exit_mode;
	unsigned int nr_vcpus;
	uint32_t *last_seq;		/* per vCPU, touched by its own thread only */
	atomic_ullong exits;
	atomic_int hook_failed;
	char hook_err[200];		/* first failure of the exit hook */
};

void kv_probe(struct kv_probe *p)
{
	struct kvmuf *k;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = kvmuf_open(&k);
	if (ret < 0) {
		snprintf(p->why, sizeof(p->why), KVMUF_DEVICE_PATH ": %s%s", strerror(-ret),
			 ret == -ENOENT || ret == -ENODEV || ret == -ENXIO ?
			 " (kvm_userfault module not loaded)" : "");
		return;
	}
	ret = kvmuf_api_version(k);
	kvmuf_close(k);
	if (ret != KVMUF_API_VERSION) {
		snprintf(p->why, sizeof(p->why), KVMUF_DEVICE_PATH ": API version %d, this tool speaks %d",
			 ret, KVMUF_API_VERSION);
		return;
	}
	p->usable = 1;
}

__attribute__((format(printf, 2, 3)))
static void hook_fail(struct kv_run *k, const char *fmt, ...)
{
	va_list ap;

	/* The first failure wins; the others are the same story. */
	if (atomic_exchange(&k->hook_failed, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(k->hook_err, sizeof(k->hook_err), fmt, ap);
	va_end(ap);
}

static void on_served(void *opaque, const struct kvmuf_fault *f, uint64_t done_ns)
{
	struct kv_run *k = opaque;

	lat_add(k->rc->lat, done_ns > f->time_ns ? done_ns - f->time_ns : 0);
}

/*
 * Exit mode: KVM_RUN failed with EFAULT (KVM_EXIT_MEMORY_FAULT where the
 * kernel has it, else the ring header's exit record names the GFN).  Wait
 * until the server resolved the GFN, then re-enter.
 */
static enum kvmuf_exit_action exit_hook(struct kvmuf_vm *vm,
					const struct kvmuf_exit_info *in, void *opaque)
{
	struct kv_run *k = opaque;
	uint64_t gfn = 0, ring_gfn;
	uint32_t flags = 0, ring_flags, seq;
	int have = 0;

	(void)vm;
	if (in->run_errno != EFAULT && in->exit_reason != KVM_EXIT_MEMORY_FAULT)
		return KVMUF_EXIT_ERROR;	/* not ours: the library reports it */
	if (in->exit_reason == KVM_EXIT_MEMORY_FAULT) {
		gfn = in->fault_gpa >> KVMUF_PAGE_SHIFT;
		have = 1;
	}
	if (kvmuf_vcpu_exit(k->k, in->vcpu, &ring_gfn, &ring_flags, &seq) == 0 &&
	    seq != k->last_seq[in->vcpu]) {
		k->last_seq[in->vcpu] = seq;
		flags = ring_flags;
		if (!have)
			gfn = ring_gfn;
		have = 1;
	}
	if (!have) {
		hook_fail(k, "vcpu %u: KVM_RUN failed with EFAULT, not for kvm-userfault",
			  in->vcpu);
		return KVMUF_EXIT_ERROR;
	}
	atomic_fetch_add_explicit(&k->exits, 1, memory_order_relaxed);
	if (gfn < k->base_gfn || gfn - k->base_gfn >= k->npages) {
		hook_fail(k, "vcpu %u: kvm-userfault exit for gfn 0x%llx, outside the test memory",
			  in->vcpu, (unsigned long long)gfn);
		return KVMUF_EXIT_ERROR;
	}
	if (flags & KVMUF_EXIT_DETACHED) {
		hook_fail(k, "vcpu %u: gfn 0x%llx: kvm-userfault detached the VM",
			  in->vcpu, (unsigned long long)gfn);
		return KVMUF_EXIT_ERROR;
	}
	for (;;) {
		int ret = kvmuf_wait(k->k, gfn, WAIT_SLICE_MS);

		if (ret == 0)
			return KVMUF_EXIT_RETRY;
		if (ret != -ETIMEDOUT && ret != -EINTR) {
			hook_fail(k, "vcpu %u: KVMUF_WAIT for gfn 0x%llx: %s", in->vcpu,
				  (unsigned long long)gfn, kvmuf_strerror(ret));
			return KVMUF_EXIT_ERROR;
		}
		if (kvmuf_server_done(k->srv)) {
			hook_fail(k, "vcpu %u: gfn 0x%llx still missing and the server stopped",
				  in->vcpu, (unsigned long long)gfn);
			return KVMUF_EXIT_ERROR;
		}
	}
}

int kv_setup(struct run_ctx *rc, struct kv_run **out)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(rc->vm);
	const struct kvmuf_snap *src = rc->src;
	int served = rc->mode != MODE_NONE_ATTACHED;
	struct kv_run *k;
	int ret;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(rc->err, sizeof(rc->err), "out of memory");
		return -1;
	}
	k->uffd = -1;
	*out = k;
	k->rc = rc;
	k->exit_mode = rc->mode == MODE_KVMUF_EXIT;
	k->nr_vcpus = kvmuf_vm_nr_vcpus(rc->vm);
	k->base_gfn = mem->gpa >> KVMUF_PAGE_SHIFT;
	k->npages = mem->size >> KVMUF_PAGE_SHIFT;
	k->size = mem->size;
	k->last_seq = calloc(k->nr_vcpus, sizeof(*k->last_seq));
	if (!k->last_seq) {
		snprintf(rc->err, sizeof(rc->err), "out of memory");
		return -1;
	}

	ret = kvmuf_open(&k->k);
	if (ret < 0) {
		snprintf(rc->err, sizeof(rc->err), KVMUF_DEVICE_PATH ": %s", kvmuf_strerror(ret));
		return -1;
	}
	ret = kvmuf_attach(k->k, kvmuf_vm_fd(rc->vm), k->exit_mode ? KVMUF_ATTACH_EXIT : 0,
			   k->nr_vcpus, RING_ENTRIES);
	if (ret < 0) {
		snprintf(rc->err, sizeof(rc->err), "KVMUF_ATTACH (%u vCPU rings): %s",
			 k->nr_vcpus, kvmuf_strerror(ret));
		return -1;
	}
	if (rc->mode == MODE_KVMUF_PARK_UFFD) {
		ret = kvmuf_backstop_open(&k->uffd);
		if (ret == 0)
			ret = kvmuf_backstop_register(k->uffd, mem->hva, mem->size);
		if (ret < 0) {
			snprintf(rc->err, sizeof(rc->err), "userfaultfd backstop: %s",
				 strerror(-ret));
			return -1;
		}
	}
	/* none-attached: registered, nothing missing: the hook's cost alone. */
	ret = kvmuf_add_range(k->k, k->base_gfn, k->npages,
			      (served ? KVMUF_RANGE_MISSING : 0) |
			      (k->uffd >= 0 ? 0 : KVMUF_RANGE_MODULE_ONLY));
	if (ret < 0) {
		snprintf(rc->err, sizeof(rc->err), "KVMUF_ADD_RANGE gfn 0x%llx, %llu pages: %s",
			 (unsigned long long)k->base_gfn, (unsigned long long)k->npages,
			 kvmuf_strerror(ret));
		return -1;
	}
	if (!served)
		return 0;

	for (unsigned int i = 0; i < k->nr_vcpus; i++)
		kvmuf_vcpu_exit(k->k, i, NULL, NULL, &k->last_seq[i]);
	if (rc->mode == MODE_KVMUF_MINOR && fill_page_cache(rc) < 0)
		return -1;
	/* shmem: the server writes the pages (-W), or only resolves (kvmuf-minor). */
	if (mem->memfd >= 0 && k->uffd < 0 &&
	    (rc->o->shmem_write || rc->mode == MODE_KVMUF_MINOR)) {
		k->alias = mmap(NULL, k->size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->memfd, 0);
		if (k->alias == MAP_FAILED) {
			k->alias = NULL;
			snprintf(rc->err, sizeof(rc->err), "mmap of the memfd for the server: %s",
				 strerror(errno));
			return -1;
		}
	}
	{
		struct kvmuf_server_config sc = {
			.ctx = k->k,
			.nr_threads = rc->o->readers,
			.geom = {
				.snap_base_gfn = src->hdr.base_gfn,
				.snap_npages = src->hdr.npages,
				.mem_base_gfn = k->base_gfn,
				.mem_npages = k->npages,
			},
			.snap_data = src->data,
			.mem = k->alias,	/* NULL for anon: RESOLVE_COPY */
			.use_mem_fd = k->alias != NULL,
			.mem_fd = mem->memfd,
			.data_in_place = rc->mode == MODE_KVMUF_MINOR,
			.populate = 1,	/* as UFFDIO_CONTINUE/COPY: the server maps the PTEs */
			.use_uffd = k->uffd >= 0,
			.uffd = k->uffd,
			.uffd_hva = (uintptr_t)mem->hva,
			.busy_poll = rc->o->busy_poll,
			.cpus = rc->o->serve_cpus,
			.nr_cpus = rc->o->nr_serve_cpus,
			.poll_ms = SERVER_POLL_MS,
			.fetch_delay_us = rc->o->delay_us,
			.log_prefix = PROG ": server",
			.max_logged = MAX_LOGGED,
			.on_served = rc->lat ? on_served : NULL,
			.on_served_opaque = k,
		};

		ret = kvmuf_server_start(&sc, &k->srv);
	}
	if (ret < 0) {
		snprintf(rc->err, sizeof(rc->err), "starting the page server: %s",
			 kvmuf_strerror(ret));
		return -1;
	}
	if (k->exit_mode)
		kvmuf_vm_set_exit_hook(rc->vm, exit_hook, k);
	return 0;
}

int kv_finish(struct run_ctx *rc, struct kv_run *k)
{
	struct serve_counts *c = &rc->counts;
	struct kvmuf_server_stats st = { 0 };
	struct kvmuf_info info;
	int ret = 0;

	*c = (struct serve_counts) {
		.module_faults = UINT64_MAX,
		.module_resolved = UINT64_MAX,
	};
	if (k->srv) {
		kvmuf_server_stop(k->srv, &st);
		k->srv = NULL;
		c->served = st.served;
		c->faults = st.faults;
		c->duplicates = st.duplicates;
		c->out_of_range = st.out_of_range;
		c->errors = st.errors;
		c->batches = st.batches;
		c->threads = st.threads;
	}
	c->exits = atomic_load(&k->exits);
	if (kvmuf_info(k->k, &info) == 0) {
		c->module_faults = info.faults;
		c->module_resolved = info.resolved;
	}
	c->queue_ns = st.queue_ns;
	c->serve_ns = st.serve_ns;
	c->resolve_ns = st.resolve_ns;
	c->timed = st.timed;
	c->have_module = kvmuf_stats(k->k, &c->module) == 0;
	if (atomic_load(&k->hook_failed)) {
		snprintf(rc->err, sizeof(rc->err), "%s", k->hook_err);
		ret = -1;
	} else if (!kvmuf_server_stats_ok(&st)) {
		snprintf(rc->err, sizeof(rc->err),
			 "server: %llu duplicates (first gfn 0x%llx), %llu out-of-range (first gfn 0x%llx), %llu errors",
			 (unsigned long long)st.duplicates, (unsigned long long)st.first_dup_gfn,
			 (unsigned long long)st.out_of_range, (unsigned long long)st.first_oor_gfn,
			 (unsigned long long)st.errors);
		ret = -1;
	} else if (st.detached) {
		snprintf(rc->err, sizeof(rc->err), "server: the device fd detached during the run");
		ret = -1;
	} else if (rc->mode == MODE_NONE_ATTACHED && c->module_faults != UINT64_MAX &&
		   c->module_faults) {
		snprintf(rc->err, sizeof(rc->err),
			 "kvm-userfault reported %llu faults with nothing missing",
			 (unsigned long long)c->module_faults);
		ret = -1;
	}
	return ret;
}

void kv_destroy(struct kv_run *k)
{
	if (!k)
		return;
	if (k->rc && k->exit_mode)
		kvmuf_vm_set_exit_hook(k->rc->vm, NULL, NULL);
	kvmuf_server_stop(k->srv, NULL);
	kvmuf_close(k->k);		/* detach */
	if (k->uffd >= 0)
		close(k->uffd);		/* the VM is gone or every page is in */
	if (k->alias)
		munmap(k->alias, k->size);
	free(k->last_seq);
	free(k);
}
