// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-bench: summaries and reports (table, gnuplot .dat); the JSON report and the
 * --baseline reader are bench_json.c.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- summaries ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static uint64_t pct_u64(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

void lat_summarize(struct lat_rec *l, struct lat_summary *s)
{
	size_t n = atomic_load(&l->n);

	memset(s, 0, sizeof(*s));
	if (n > l->cap)
		n = l->cap;
	if (!n)
		return;
	qsort(l->ns, n, sizeof(*l->ns), cmp_u64);
	s->n = n;
	s->p50_us = (double)pct_u64(l->ns, n, 50) / 1e3;
	s->p99_us = (double)pct_u64(l->ns, n, 99) / 1e3;
	s->max_us = (double)l->ns[n - 1] / 1e3;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The ok repetition whose KVM stats have the median exits (the lower middle
 * one of an even count), so that every figure shown comes from one run and
 * they stay consistent with each other; -1 if no ok repetition has stats.
 */
static int kst_median_rep(const struct bench *b, const struct cell *c)
{
	unsigned int reps = b->o.reps, n = 0;
	int idx[reps];

	for (unsigned int i = 0; i < reps; i++) {
		const struct run_result *r = &c->reps[i];
		unsigned int j;

		if (!r->done || !r->ok || r->seconds <= 0 || !r->kst.valid)
			continue;
		/* insertion sort by exits */
		for (j = n; j > 0 && c->reps[idx[j - 1]].kst.v[KS_EXITS] > r->kst.v[KS_EXITS]; j--)
			idx[j] = idx[j - 1];
		idx[j] = (int)i;
		n++;
	}
	return n ? idx[(n - 1) / 2] : -1;
}

void run_stages(const struct run_result *r, struct stages *st)
{
	const struct serve_counts *c = &r->counts;
	const struct kvmuf_stats *k = &c->module;

	memset(st, 0, sizeof(*st));
	if (!c->have_module || !c->timed)
		return;
	st->valid = 1;
	st->queue_us = (double)c->queue_ns / (double)c->timed / 1e3;
	st->serve_us = (double)c->serve_ns / (double)c->timed / 1e3;
	st->resolve_us = (double)c->resolve_ns / (double)c->timed / 1e3;
	if (k->parks) {
		st->wake_us = (double)k->wake_ns / (double)k->parks / 1e3;
		st->park_us = (double)k->park_ns / (double)k->parks / 1e3;
		st->spin_pct = 100.0 * (double)k->spin_hits / (double)k->parks;
		st->continued_pct = 100.0 * (double)k->continued / (double)k->parks;
	}
}

double cell_noise_pct(const struct bench *b, const struct cell *c)
{
	double lo = 0, hi = 0;
	unsigned int n = 0;

	for (unsigned int i = 0; i < b->o.reps; i++) {
		const struct run_result *r = &c->reps[i];
		double rate;

		if (!r->done || !r->ok || r->seconds <= 0)
			continue;
		rate = (double)b->pages_per_vcpu * c->vcpus / r->seconds;
		lo = !n || rate < lo ? rate : lo;
		hi = !n || rate > hi ? rate : hi;
		n++;
	}
	return n && c->overall_rate > 0 ? (hi - lo) / 2 / c->overall_rate * 100 : 0;
}

/* Medians over the ok repetitions of each stage. */
static void cell_stages(struct bench *b, struct cell *c)
{
	unsigned int reps = b->o.reps, n = 0;
	double v[7][reps];

	memset(&c->st, 0, sizeof(c->st));
	for (unsigned int i = 0; i < reps; i++) {
		const struct run_result *r = &c->reps[i];
		struct stages st;

		if (!r->done || !r->ok)
			continue;
		run_stages(r, &st);
		if (!st.valid)
			continue;
		v[0][n] = st.queue_us;
		v[1][n] = st.serve_us;
		v[2][n] = st.resolve_us;
		v[3][n] = st.wake_us;
		v[4][n] = st.park_us;
		v[5][n] = st.spin_pct;
		v[6][n] = st.continued_pct;
		n++;
	}
	if (!n)
		return;
	c->st.valid = 1;
	c->st.queue_us = median(v[0], n);
	c->st.serve_us = median(v[1], n);
	c->st.resolve_us = median(v[2], n);
	c->st.wake_us = median(v[3], n);
	c->st.park_us = median(v[4], n);
	c->st.spin_pct = median(v[5], n);
	c->st.continued_pct = median(v[6], n);
}

void cell_summarize(struct bench *b, struct cell *c)
{
	unsigned int reps = b->o.reps, n = 0, nlat = 0;
	size_t samples = 0;
	double secs[reps], mean[reps], p50[reps], p99[reps], mx = 0;

	c->nok = 0;
	c->ok = c->ran;
	for (unsigned int i = 0; i < reps; i++) {
		struct run_result *r = &c->reps[i];
		double sum = 0;

		if (!r->done)
			continue;
		if (!r->ok || r->seconds <= 0) {
			c->ok = 0;
			continue;
		}
		secs[n] = r->seconds;
		for (unsigned int v = 0; v < c->vcpus; v++)
			sum += r->vcpu_seconds[v] > 0 ?
			       (double)b->pages_per_vcpu / r->vcpu_seconds[v] : 0;
		mean[n] = sum / c->vcpus;
		n++;
		if (r->lat.n) {
			samples += r->lat.n;
			p50[nlat] = r->lat.p50_us;
			p99[nlat] = r->lat.p99_us;
			if (r->lat.max_us > mx)
				mx = r->lat.max_us;
			nlat++;
		}
	}
	c->nok = n;
	c->kst_rep = kst_median_rep(b, c);
	cell_stages(b, c);
	if (!n)
		return;
	/*
	 * The selftest's figures for the median time (with an even count, the
	 * mean of the two middle times), so that time and rates agree.
	 */
	c->seconds = median(secs, n);
	c->per_vcpu_rate = (double)b->pages_per_vcpu / c->seconds;
	c->overall_rate = c->per_vcpu_rate * c->vcpus;
	c->per_vcpu_rate_mean = median(mean, n);
	memset(&c->lat, 0, sizeof(c->lat));
	if (nlat) {
		c->lat.n = samples;	/* over all repetitions */
		c->lat.p50_us = median(p50, nlat);
		c->lat.p99_us = median(p99, nlat);
		c->lat.max_us = mx;
	}
}

/* ---- table ---- */

static void fmt_lat(char *buf, size_t len, size_t n, double us)
{
	if (!n)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", us);
}

void report_table(struct bench *b, FILE *f)
{
	fprintf(f, "%-15s %5s %8s %10s %14s %14s %8s %8s %9s %9s %9s %5s\n",
		"mode", "vCPUs", "pages", "time s", "per-vCPU pg/s", "overall pg/s",
		"vs uffd", "vs minor", "p50 us", "p99 us", "max us", "ok");
	for (unsigned int vi = 0; vi < b->o.nr_vcounts; vi++) {
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(b, vi, m);
			char p50[16], p99[16], mx[16], vs[16], vsm[16], ok[16];
			unsigned int done = 0;

			if (!c->ran)
				continue;
			for (unsigned int i = 0; i < b->o.reps; i++)
				done += c->reps[i].done;
			snprintf(ok, sizeof(ok), "%u/%u", c->nok, done);
			if (!c->nok) {
				fprintf(f, "%-15s %5u %8llu %10s %14s %14s %8s %8s %9s %9s %9s %5s  FAILED\n",
					mode_name(c->mode), c->vcpus,
					(unsigned long long)(b->pages_per_vcpu * c->vcpus),
					"-", "-", "-", "-", "-", "-", "-", "-", ok);
				continue;
			}
			fmt_lat(p50, sizeof(p50), c->lat.n, c->lat.p50_us);
			fmt_lat(p99, sizeof(p99), c->lat.n, c->lat.p99_us);
			fmt_lat(mx, sizeof(mx), c->lat.n, c->lat.max_us);
			if (c->vs_uffd > 0)
				snprintf(vs, sizeof(vs), "%.2fx", c->vs_uffd);
			else
				snprintf(vs, sizeof(vs), "-");
			if (c->vs_minor > 0)
				snprintf(vsm, sizeof(vsm), "%.2fx", c->vs_minor);
			else
				snprintf(vsm, sizeof(vsm), "-");
			fprintf(f, "%-15s %5u %8llu %10.4f %14.0f %14.0f %8s %8s %9s %9s %9s %5s%s\n",
				mode_name(c->mode), c->vcpus,
				(unsigned long long)(b->pages_per_vcpu * c->vcpus),
				c->seconds, c->per_vcpu_rate, c->overall_rate, vs, vsm, p50, p99, mx,
				ok, c->ok ? "" : "  FAILED");
		}
	}
}

static void fmt_per_page(char *buf, size_t len, const struct kstats *k, enum kstat i,
			 uint64_t pages)
{
	if (!k->valid || !(k->have & (1u << i)) || !pages)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.3f", (double)k->v[i] / (double)pages);
}

void report_kstats_table(struct bench *b, FILE *f)
{
	static const enum kstat cols[] = {
		KS_EXITS, KS_PF_TAKEN, KS_PF_FIXED, KS_PF_SPURIOUS, KS_HALT_EXITS,
		KS_INSN_EMULATION,
	};
	int any = 0;

	fprintf(f, "KVM's counters per page (KVM_GET_STATS_FD, summed over the vCPUs):\n");
	fprintf(f, "%-15s %5s %8s %11s %11s %11s %11s %11s %11s\n", "mode", "vCPUs", "pages",
		"exits/pg", "pf_taken/pg", "pf_fixed/pg", "pf_spur/pg", "halt/pg", "emul/pg");
	for (unsigned int vi = 0; vi < b->o.nr_vcounts; vi++) {
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(b, vi, m);
			uint64_t pages = b->pages_per_vcpu * c->vcpus;
			static const struct kstats none;
			const struct kstats *k = &none;
			char v[6][24];

			if (!c->ran)
				continue;
			if (c->kst_rep >= 0) {
				k = &c->reps[c->kst_rep].kst;
				any = 1;
			}
			for (unsigned int i = 0; i < 6; i++)
				fmt_per_page(v[i], sizeof(v[i]), k, cols[i], pages);
			fprintf(f, "%-15s %5u %8llu %11s %11s %11s %11s %11s %11s\n",
				mode_name(c->mode), c->vcpus, (unsigned long long)pages,
				v[0], v[1], v[2], v[3], v[4], v[5]);
		}
	}
	fprintf(f, "exits: all VM exits; pf_taken: stage-2 faults handled by KVM's MMU (pf_fixed: it mapped\n"
		"the page, pf_spur: found it mapped); halt: HLT exits; emul: instructions KVM emulated.\n"
		"Per test page, summed over the vCPUs, over the whole run (with the guest's own few faults\n"
		"and exits), the repetition with the median exits; -: not in this kernel.\n");
	if (!any && b->kst_why[0])
		fprintf(f, "KVM's counters could not be read: %s\n", b->kst_why);
}

void report_stages_table(struct bench *b, FILE *f)
{
	int any = 0;

	for (unsigned int vi = 0; vi < b->o.nr_vcounts && !any; vi++)
		for (int m = 0; m < NR_MODES; m++)
			any |= bench_cell(b, vi, m)->st.valid;
	if (!any)
		return;
	fprintf(f, "Where a missing page's time goes (kvm-userfault modes, mean per page, us):\n");
	fprintf(f, "%-15s %5s %9s %9s %9s %9s %9s %8s %10s\n", "mode", "vCPUs", "queue",
		"serve", "resolve", "wake", "park", "spun %", "same-exit %");
	for (unsigned int vi = 0; vi < b->o.nr_vcounts; vi++)
		for (int m = 0; m < NR_MODES; m++) {
			const struct cell *c = bench_cell(b, vi, m);
			const struct stages *st = &c->st;

			if (!st->valid)
				continue;
			if (m == MODE_KVMUF_EXIT)
				fprintf(f, "%-15s %5u %9.1f %9.1f %9.1f %9s %9s %8s %10s\n",
					mode_name(m), c->vcpus, st->queue_us, st->serve_us,
					st->resolve_us, "-", "-", "-", "-");
			else
				fprintf(f, "%-15s %5u %9.1f %9.1f %9.1f %9.1f %9.1f %8.1f %10.1f\n",
					mode_name(m), c->vcpus, st->queue_us, st->serve_us,
					st->resolve_us, st->wake_us, st->park_us, st->spin_pct,
					st->continued_pct);
		}
	fprintf(f, "queue: the fault (ring entry time_ns) until a server thread consumed it (ring,\n"
		"wakeup of the server); serve: until the resolve ioctl started (fetch, install of\n"
		"shmem pages, batching); resolve: the ioctl (RESOLVE_COPY: copying the page in too;\n"
		"the wake-ups); wake: from the resolve that woke a parked vCPU until it ran again;\n"
		"park: the whole park, fault to running again (the module's KVMUF_GET_STATS); spun:\n"
		"parks that ended while the vCPU still spun (park_spin_ns); same-exit: parks after\n"
		"which KVM mapped the page in the same exit (else the guest faulted again). Medians\n"
		"over the repetitions.\n");
}

/* ---- gnuplot ---- */

int report_dat(struct bench *b, const char *path)
{
	const struct bench_opts *o = &b->o;
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# kvmuf-bench: overall demand paging rate (pages/s), median of %u reps; "
		"%s memory, %s, %llu bytes per vCPU, delay %u us; NaN: skipped or failed\n",
		o->reps, o->backing == KVMUF_MEM_MEMFD ? "shmem" : "anon",
		o->read_mode ? "read" : "write", (unsigned long long)o->bytes_per_vcpu,
		o->delay_us);
	fputs("# vcpus", f);
	for (int m = 0; m < NR_MODES; m++)
		if (o->modes & (1u << m))
			fprintf(f, "\t%s", mode_name(m));
	fputc('\n', f);
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++) {
		fprintf(f, "%u", o->vcpus[vi]);
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(b, vi, m);

			if (!(o->modes & (1u << m)))
				continue;
			if (c->nok && c->ok)
				fprintf(f, "\t%.1f", c->overall_rate);
			else
				fputs("\tNaN", f);
		}
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

