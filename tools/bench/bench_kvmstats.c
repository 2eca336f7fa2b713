// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-bench: KVM's own per-vCPU counters, from its binary statistics
 * (KVM_GET_STATS_FD on a vCPU fd, Linux 5.14+; Documentation/virt/kvm/api.rst
 * "KVM_GET_STATS_FD").  The file behind the stats fd holds a header, an id
 * string, one descriptor per statistic (struct kvm_stats_desc followed by a
 * name of header.name_size bytes) and a data block of u64s; each descriptor
 * gives its statistic's offset in the data block.
 *
 * The descriptors are read once per vCPU when the reader is opened; a
 * snapshot preads only the data block.  The statistics are looked up by
 * name: a kernel without one of them leaves its bit clear in `have`.
 */
#define _GNU_SOURCE
#include "bench.h"
#include "errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *const kstat_names[NR_KSTATS] = {
	[KS_EXITS]		= "exits",
	[KS_PF_TAKEN]		= "pf_taken",
	[KS_PF_FIXED]		= "pf_fixed",
	[KS_PF_SPURIOUS]	= "pf_spurious",
	[KS_PF_FAST]		= "pf_fast",
	[KS_PF_EMULATE]		= "pf_emulate",
	[KS_HALT_EXITS]		= "halt_exits",
	[KS_IO_EXITS]		= "io_exits",
	[KS_MMIO_EXITS]		= "mmio_exits",
	[KS_SIGNAL_EXITS]	= "signal_exits",
	[KS_INSN_EMULATION]	= "insn_emulation",
};

#ifdef KVM_GET_STATS_FD

struct kstats_vcpu {
	int fd;			/* the stats fd */
	off_t data_offset;	/* of the data block in the file */
	size_t data_size;	/* bytes to read: up to the last stat we use */
	uint64_t *data;
	int64_t off[NR_KSTATS];	/* u64 index in the data block; -1: absent */
};

struct kstats_reader {
	unsigned int nr;
	struct kstats_vcpu *v;
};

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* short file */
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Open vCPU @i's stats fd and find our statistics in its descriptors. */
static int vcpu_open(struct kvmuf_vm *vm, unsigned int i, struct kstats_vcpu *v,
		     char *err, size_t len)
{
	struct kvm_stats_header h;
	size_t desc_size, max_end = 0;
	char *descs = NULL;
	int vfd = kvmuf_vm_vcpu_fd(vm, i);

	for (int k = 0; k < NR_KSTATS; k++)
		v->off[k] = -1;
	v->fd = vfd < 0 ? -1 : ioctl(vfd, KVM_GET_STATS_FD, NULL);
	if (v->fd < 0) {
		set_err(err, len, "KVM_GET_STATS_FD on vCPU %u: %s", i,
			vfd < 0 ? "no vCPU fd" : strerror(errno));
		return -1;
	}
	if (pread_all(v->fd, &h, sizeof(h), 0) < 0) {
		set_err(err, len, "vCPU %u stats header: %s", i, strerror(errno));
		return -1;
	}
	desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	if (h.num_desc == 0 || h.num_desc > 100000 || h.name_size == 0 || h.name_size > 4096) {
		set_err(err, len, "vCPU %u stats header: implausible (%u descriptors, names of %u bytes)",
			i, h.num_desc, h.name_size);
		return -1;
	}
	descs = malloc(desc_size * h.num_desc);
	if (!descs) {
		set_err(err, len, "out of memory");
		return -1;
	}
	if (pread_all(v->fd, descs, desc_size * h.num_desc, h.desc_offset) < 0) {
		set_err(err, len, "vCPU %u stats descriptors: %s", i, strerror(errno));
		free(descs);
		return -1;
	}
	for (uint32_t d = 0; d < h.num_desc; d++) {
		const struct kvm_stats_desc *sd =
			(const struct kvm_stats_desc *)(descs + d * desc_size);
		char name[4097];

		memcpy(name, sd->name, h.name_size);
		name[h.name_size] = '\0';
		if (sd->size < 1 || sd->offset % sizeof(uint64_t))
			continue;
		for (int k = 0; k < NR_KSTATS; k++) {
			size_t end;

			if (strcmp(name, kstat_names[k]))
				continue;
			v->off[k] = sd->offset / sizeof(uint64_t);
			end = sd->offset + sizeof(uint64_t);	/* the first item only */
			if (end > max_end)
				max_end = end;
		}
	}
	free(descs);
	if (!max_end) {
		set_err(err, len, "vCPU %u: none of KVM's statistics exits, pf_taken, ... exist", i);
		return -1;
	}
	v->data_offset = h.data_offset;
	v->data_size = max_end;
	v->data = malloc(max_end);
	if (!v->data) {
		set_err(err, len, "out of memory");
		return -1;
	}
	return 0;
}

int kstats_open(struct kvmuf_vm *vm, struct kstats_reader **out, char *err, size_t len)
{
	struct kstats_reader *r = calloc(1, sizeof(*r));
	unsigned int n = kvmuf_vm_nr_vcpus(vm);

	*out = NULL;
	if (!r || !(r->v = calloc(n, sizeof(*r->v)))) {
		free(r);
		set_err(err, len, "out of memory");
		return -1;
	}
	for (unsigned int i = 0; i < n; i++)
		r->v[i].fd = -1;
	r->nr = n;
	for (unsigned int i = 0; i < n; i++)
		if (vcpu_open(vm, i, &r->v[i], err, len) < 0) {
			kstats_close(r);
			return -1;
		}
	*out = r;
	return 0;
}

int kstats_read(struct kstats_reader *r, struct kstats *sum, char *err, size_t len)
{
	memset(sum, 0, sizeof(*sum));
	sum->have = (1u << NR_KSTATS) - 1;
	for (unsigned int i = 0; i < r->nr; i++) {
		struct kstats_vcpu *v = &r->v[i];

		if (pread_all(v->fd, v->data, v->data_size, v->data_offset) < 0) {
			set_err(err, len, "vCPU %u stats data: %s", i, strerror(errno));
			return -1;
		}
		for (int k = 0; k < NR_KSTATS; k++) {
			if (v->off[k] < 0)
				sum->have &= ~(1u << k);
			else
				sum->v[k] += v->data[v->off[k]];
		}
	}
	for (int k = 0; k < NR_KSTATS; k++)
		if (!(sum->have & (1u << k)))
			sum->v[k] = 0;
	sum->valid = 1;
	return 0;
}

void kstats_close(struct kstats_reader *r)
{
	if (!r)
		return;
	for (unsigned int i = 0; i < r->nr; i++) {
		if (r->v[i].fd >= 0)
			close(r->v[i].fd);
		free(r->v[i].data);
	}
	free(r->v);
	free(r);
}

#else /* !KVM_GET_STATS_FD: uapi headers older than Linux 5.14 */

struct kstats_reader {
	int unused;
};

int kstats_open(struct kvmuf_vm *vm, struct kstats_reader **out, char *err, size_t len)
{
	(void)vm;
	*out = NULL;
	snprintf(err, len, "built without KVM_GET_STATS_FD (uapi headers older than Linux 5.14)");
	return -1;
}

int kstats_read(struct kstats_reader *r, struct kstats *sum, char *err, size_t len)
{
	(void)r;
	memset(sum, 0, sizeof(*sum));
	snprintf(err, len, "built without KVM_GET_STATS_FD");
	return -1;
}

void kstats_close(struct kstats_reader *r)
{
	(void)r;
}

#endif

void kstats_delta(const struct kstats *before, const struct kstats *after, struct kstats *d)
{
	memset(d, 0, sizeof(*d));
	if (!before->valid || !after->valid)
		return;
	d->valid = 1;
	d->have = before->have & after->have;
	for (int k = 0; k < NR_KSTATS; k++)
		if (d->have & (1u << k))
			d->v[k] = after->v[k] - before->v[k];
}
