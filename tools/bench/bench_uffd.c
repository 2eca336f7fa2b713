// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-bench: the userfaultfd modes, with the method of the KVM selftest
 * demand_paging_test (tools/testing/selftests/kvm/demand_paging_test.c and
 * lib/userfaultfd_util.c):
 *
 *   one uffd per vCPU region (or one for all memory with -a), each served by
 *   -r reader threads that epoll_wait() on the uffd (EPOLLEXCLUSIVE: one reader
 *   is woken per message, as the selftest's readers), read() one message and
 *   answer it:
 *     uffd-missing: UFFDIO_COPY of the page's source into the faulting page
 *                   (anonymous or shmem memory registered MISSING);
 *     uffd-minor:   UFFDIO_CONTINUE (shmem only: the memfd's page cache was
 *                   filled beforehand through a second mapping, the guest's
 *                   mapping is registered MINOR);
 *   with -d, usleep() in the handler before answering; with -p, each reader
 *   read()s its non-blocking uffd in a loop instead of sleeping in epoll.
 *
 * Latency: from the return of read() to the return of the ioctl.  uffd
 * messages carry no timestamp, so the time between the fault and the
 * reader's wakeup is not included.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE	4096ULL

struct reader {
	struct uffd_run *u;
	unsigned int index;		/* for pinning */
	int uffd;
	pthread_t thread;
	int started;
};

struct uffd_run {
	struct run_ctx *rc;
	int minor;
	char *hva;			/* guest mapping of the test memory */
	uint64_t size;
	uint64_t base_gfn;
	int nr_uffds;
	int *uffds;
	int stop_fd;			/* eventfd: readers quit */
	unsigned int nr_readers;
	struct reader *readers;
	_Atomic uint64_t *served_bits;
	atomic_ullong served, faults, eexist, oor, errors, dup;
	atomic_int first_errno;
	atomic_int fatal;		/* a reader stopped on an error */
	atomic_int stop;		/* busy-polling readers: quit */
};

/* A spin-wait hint to the CPU (x86 PAUSE), nothing elsewhere. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* vm.unprivileged_userfaultfd reads 0. */
static int unprivileged_off(void)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "r");
	int v = -1;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v == 0;
}

/*
 * A userfaultfd for kernel faults too (no UFFD_USER_MODE_ONLY: KVM's GUP
 * takes the faults).  The syscall first; if it is refused (e.g.
 * vm.unprivileged_userfaultfd = 0 without CAP_SYS_PTRACE), /dev/userfaultfd.
 */
static int uffd_open(char *why, size_t len)
{
	const char *hint = "";
	int fd, e, dev;

	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	e = errno;
	if (e == EPERM && unprivileged_off())
		hint = " (vm.unprivileged_userfaultfd = 0 and no CAP_SYS_PTRACE)";
#ifdef USERFAULTFD_IOC_NEW
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd >= 0)
			return fd;
		snprintf(why, len, "userfaultfd(): %s%s; /dev/userfaultfd: %s",
			 strerror(e), hint, strerror(errno));
		return -1;
	}
	snprintf(why, len, "userfaultfd(): %s%s; /dev/userfaultfd: %s", strerror(e), hint,
		 strerror(errno));
#else
	(void)dev;
	snprintf(why, len, "userfaultfd(): %s%s", strerror(e), hint);
#endif
	return -1;
}

void uffd_probe(struct uffd_probe *p)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd;

	memset(p, 0, sizeof(*p));
	fd = uffd_open(p->why, sizeof(p->why));
	if (fd < 0)
		return;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		snprintf(p->why, sizeof(p->why), "UFFDIO_API: %s", strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	p->usable = 1;
	p->minor_shmem = !!(api.features & UFFD_FEATURE_MINOR_SHMEM);
	if (!p->minor_shmem)
		snprintf(p->why, sizeof(p->why),
			 "this kernel's userfaultfd lacks UFFD_FEATURE_MINOR_SHMEM");
}

static void note_error(struct uffd_run *u, int err)
{
	int zero = 0;

	atomic_fetch_add(&u->errors, 1);
	atomic_compare_exchange_strong(&u->first_errno, &zero, err);
}

/* Test-and-set the "served" bit of page @idx: true if it was set already. */
static int mark_served(struct uffd_run *u, uint64_t idx)
{
	uint64_t bit = 1ULL << (idx % 64);

	return (atomic_fetch_or(&u->served_bits[idx / 64], bit) & bit) != 0;
}

/* Answer one page fault. */
static void handle(struct uffd_run *u, int uffd, uint64_t addr, uint64_t t0)
{
	uint64_t off, start = (uint64_t)(uintptr_t)u->hva;
	int ret;

	addr &= ~(PAGE - 1);
	if (addr < start || addr - start >= u->size) {
		/* Cannot happen: only the test memory is registered. */
		atomic_fetch_add(&u->oor, 1);
		return;
	}
	off = addr - start;
	if (u->rc->o->delay_us)
		usleep(u->rc->o->delay_us);	/* stands for fetching the page */
	if (u->minor) {
		struct uffdio_continue cont = {
			.range = { .start = addr, .len = PAGE },
		};

		ret = ioctl(uffd, UFFDIO_CONTINUE, &cont);
	} else {
		struct uffdio_copy copy = {
			.dst = addr,
			.src = (uint64_t)(uintptr_t)(u->rc->src->data + off),
			.len = PAGE,
		};

		ret = ioctl(uffd, UFFDIO_COPY, &copy);
	}
	if (ret == 0) {
		uint64_t t1 = now_ns();

		atomic_fetch_add(&u->served, 1);
		if (mark_served(u, off / PAGE))
			atomic_fetch_add(&u->dup, 1);	/* impossible: EEXIST first */
		if (u->rc->lat)
			lat_add(u->rc->lat, t1 - t0);
		return;
	}
	if (errno == EEXIST) {
		/*
		 * Another reader (or an earlier message for the same page) won:
		 * the page is there.  Wake whoever waits on it, as the selftest
		 * tolerates this case.
		 */
		struct uffdio_range r = { .start = addr, .len = PAGE };

		atomic_fetch_add(&u->eexist, 1);
		if (ioctl(uffd, UFFDIO_WAKE, &r) < 0)
			note_error(u, errno);
		return;
	}
	note_error(u, errno);
}

/*
 * The selftest's reader: its own epoll instance, the uffd added EPOLLEXCLUSIVE (so a
 * message wakes one reader, not all), the stop eventfd added plainly (so it wakes all).
 */
static int reader_epoll(struct reader *r)
{
	struct epoll_event uffd_ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.u32 = 0 };
	struct epoll_event stop_ev = { .events = EPOLLIN, .data.u32 = 1 };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		return -1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, r->uffd, &uffd_ev) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, r->u->stop_fd, &stop_ev) < 0) {
		close(ep);
		return -1;
	}
	return ep;
}

/*
 * Read one message from the (non-blocking) uffd and answer it: 1 if there was one, 0 if
 * there was none (another reader took it), -1 on a read error (noted).
 */
static int read_and_answer(struct reader *r)
{
	struct uffd_run *u = r->u;
	struct uffd_msg msg;
	ssize_t n = read(r->uffd, &msg, sizeof(msg));
	uint64_t t0;

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		note_error(u, errno);
		return -1;
	}
	t0 = now_ns();
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT) {
		note_error(u, EPROTO);
		return 1;
	}
	atomic_fetch_add(&u->faults, 1);
	handle(u, r->uffd, msg.arg.pagefault.address, t0);
	return 1;
}

/* -p: read() the uffd in a loop, never sleep; stop when told. */
static void reader_spin(struct reader *r)
{
	while (!atomic_load_explicit(&r->u->stop, memory_order_relaxed)) {
		int got = read_and_answer(r);

		if (got < 0)
			return;
		if (!got)
			cpu_relax();
	}
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct uffd_run *u = r->u;
	const struct bench_opts *o = u->rc->o;
	int ep;

	if (pin_thread(o->serve_cpus, o->nr_serve_cpus, r->index) < 0)
		note_error(u, EINVAL);
	if (o->busy_poll) {
		reader_spin(r);
		atomic_store(&u->fatal, 1);
		return NULL;
	}
	ep = reader_epoll(r);
	if (ep < 0) {
		note_error(u, errno);
		atomic_store(&u->fatal, 1);
		return NULL;
	}
	for (;;) {
		struct epoll_event ev;
		int got = epoll_wait(ep, &ev, 1, -1);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			note_error(u, errno);
			break;
		}
		if (got == 0)
			continue;
		if (ev.data.u32 == 1)
			break;
		if (ev.events & (EPOLLERR | EPOLLHUP)) {
			note_error(u, EIO);
			break;
		}
		if (read_and_answer(r) < 0)
			break;
	}
	close(ep);
	atomic_store(&u->fatal, 1);
	return NULL;
}

static int register_range(struct uffd_run *u, int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = u->minor ? UFFD_FEATURE_MINOR_SHMEM : 0,
	};
	struct uffdio_register reg = {
		.range = { .start = start, .len = len },
		.mode = u->minor ? UFFDIO_REGISTER_MODE_MINOR : UFFDIO_REGISTER_MODE_MISSING,
	};
	uint64_t need = u->minor ? (1ULL << _UFFDIO_CONTINUE) : (1ULL << _UFFDIO_COPY);

	if (ioctl(uffd, UFFDIO_API, &api) < 0) {
		snprintf(u->rc->err, sizeof(u->rc->err), "UFFDIO_API: %s", strerror(errno));
		return -1;
	}
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		snprintf(u->rc->err, sizeof(u->rc->err), "UFFDIO_REGISTER (%s) of %llu bytes: %s",
			 u->minor ? "MINOR" : "MISSING", (unsigned long long)len,
			 strerror(errno));
		return -1;
	}
	if ((reg.ioctls & need) != need) {
		snprintf(u->rc->err, sizeof(u->rc->err), "UFFDIO_REGISTER: no %s on this memory",
			 u->minor ? "UFFDIO_CONTINUE" : "UFFDIO_COPY");
		return -1;
	}
	return 0;
}

int uffd_setup(struct run_ctx *rc, struct uffd_run **out)
{
	const struct kvmuf_test_mem *mem = kvmuf_vm_test_mem(rc->vm);
	unsigned int nr_vcpus = kvmuf_vm_nr_vcpus(rc->vm);
	uint64_t region = rc->o->bytes_per_vcpu;
	struct uffd_run *u;
	char why[160];

	*out = NULL;
	u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(rc->err, sizeof(rc->err), "out of memory");
		return -1;
	}
	*out = u;
	u->rc = rc;
	u->minor = rc->mode == MODE_UFFD_MINOR;
	u->hva = mem->hva;
	u->size = mem->size;
	u->base_gfn = mem->gpa / PAGE;
	u->stop_fd = -1;
	u->nr_uffds = rc->o->one_uffd ? 1 : (int)nr_vcpus;
	u->uffds = malloc(sizeof(int) * (size_t)u->nr_uffds);
	u->served_bits = calloc((size_t)((u->size / PAGE + 63) / 64), sizeof(uint64_t));
	if (!u->uffds || !u->served_bits) {
		snprintf(rc->err, sizeof(rc->err), "out of memory");
		return -1;
	}
	for (int i = 0; i < u->nr_uffds; i++)
		u->uffds[i] = -1;

	if (u->minor && fill_page_cache(rc) < 0)
		return -1;
	for (int i = 0; i < u->nr_uffds; i++) {
		uint64_t start = (uint64_t)(uintptr_t)u->hva, len = u->size;

		if (!rc->o->one_uffd) {
			start += (uint64_t)i * region;
			len = region;
		}
		u->uffds[i] = uffd_open(why, sizeof(why));
		if (u->uffds[i] < 0) {
			snprintf(rc->err, sizeof(rc->err), "%s", why);
			return -1;
		}
		if (register_range(u, u->uffds[i], start, len) < 0)
			return -1;
	}
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (u->stop_fd < 0) {
		snprintf(rc->err, sizeof(rc->err), "eventfd: %s", strerror(errno));
		return -1;
	}
	u->nr_readers = (unsigned int)u->nr_uffds * rc->o->readers;
	u->readers = calloc(u->nr_readers, sizeof(*u->readers));
	if (!u->readers) {
		snprintf(rc->err, sizeof(rc->err), "out of memory");
		return -1;
	}
	for (unsigned int i = 0; i < u->nr_readers; i++) {
		struct reader *r = &u->readers[i];
		int err;

		r->u = u;
		r->index = i;
		r->uffd = u->uffds[i / rc->o->readers];
		err = pthread_create(&r->thread, NULL, reader_main, r);
		if (err) {
			snprintf(rc->err, sizeof(rc->err), "pthread_create: %s", strerror(err));
			return -1;
		}
		r->started = 1;
	}
	return 0;
}

static void stop_readers(struct uffd_run *u)
{
	uint64_t one = 1;

	atomic_store(&u->stop, 1);
	if (u->stop_fd >= 0 && write(u->stop_fd, &one, sizeof(one)) < 0)
		perror(PROG ": eventfd write");
	for (unsigned int i = 0; i < u->nr_readers; i++)
		if (u->readers[i].started) {
			pthread_join(u->readers[i].thread, NULL);
			u->readers[i].started = 0;
		}
}

int uffd_finish(struct run_ctx *rc, struct uffd_run *u)
{
	struct serve_counts *c = &rc->counts;
	int e;

	stop_readers(u);
	*c = (struct serve_counts) {
		.served = atomic_load(&u->served),
		.faults = atomic_load(&u->faults),
		.duplicates = atomic_load(&u->dup),
		.eexist = atomic_load(&u->eexist),
		.out_of_range = atomic_load(&u->oor),
		.errors = atomic_load(&u->errors),
		.module_faults = UINT64_MAX,
		.module_resolved = UINT64_MAX,
		.threads = u->nr_readers,
	};
	if (c->errors || c->out_of_range) {
		e = atomic_load(&u->first_errno);
		snprintf(rc->err, sizeof(rc->err), "readers: %llu errors (first: %s), %llu out-of-range faults",
			 (unsigned long long)c->errors, e ? strerror(e) : "-",
			 (unsigned long long)c->out_of_range);
		return -1;
	}
	return 0;
}

void uffd_destroy(struct uffd_run *u)
{
	if (!u)
		return;
	if (u->readers)
		stop_readers(u);
	for (int i = 0; u->uffds && i < u->nr_uffds; i++)
		if (u->uffds[i] >= 0)
			close(u->uffds[i]);
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	free(u->uffds);
	free(u->readers);
	free(u->served_bits);
	free(u);
}
