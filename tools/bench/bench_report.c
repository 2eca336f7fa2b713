// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-bench: summaries and reports (table, JSON, gnuplot .dat) and the
 * --baseline reader.
 *
 * JSON format KVMUF_BENCH_FORMAT ("kvmuf-bench/2"; its JSON Schema is
 * tools/bench/kvmuf-bench.schema.json). The file is valid JSON, laid out so that
 * grep and sed get far; this tool's --baseline parses it as JSON (json-c), so any
 * re-indented copy reads the same. Version 2 differs from 1 in what the first "exits"
 * of a result is (below):
 *
 *   {
 *   "format": "kvmuf-bench/2",
 *   "config": {...},                        one line: options and host
 *   "availability": {...},                  one line
 *   "skipped": [{"mode": M, "reason": R}, ...],      one line
 *   "latency_note": "...",
 *   "rate_note": "...",
 *   "kvm_stats_note": "...", "kvm_stats_error": null | "...",    one line
 *   "results": [
 *   {"mode": "none", "vcpus": 1, "status": "ok", ...summary..., "reps": [...]},
 *   ...                                     one line per (mode, vCPU count):
 *   ],                                      the summary keys come before "reps",
 *   "hook_overhead": [...],                 so the first "overall_rate" of a line
 *   "baseline": {...} | null,               is the median one
 *   "checks": {...},
 *   "ok": true
 *   }
 *
 * Rates are pages/s, times seconds, latencies microseconds; a figure that
 * does not exist (a mode that failed, no latency) is null.
 *
 * KVM's counters (bench_kvmstats.c): every repetition has "kvm_stats": the
 * sums over the vCPUs of exits, pf_taken, pf_fixed, ... (null where absent);
 * every result, just before "reps", "kvm_stats": {"rep", "per_page", "sums"}
 * of its repetition with the median exits.  (So the first "exits" of a result
 * line is now that one, no longer the one of the first repetition's "counts".)
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <json-c/json.h>
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

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, const char *fmt, double v, int valid)
{
	if (!valid || !isfinite(v))
		fputs("null", f);
	else
		fprintf(f, fmt, v);
}

static void json_lat(FILE *f, const struct lat_summary *l)
{
	if (!l->n) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f, \"samples\": %zu}",
		l->p50_us, l->p99_us, l->max_us, l->n);
}

static void json_u64_or_null(FILE *f, uint64_t v)
{
	if (v == UINT64_MAX)
		fputs("null", f);
	else
		fprintf(f, "%llu", (unsigned long long)v);
}

static void json_counts(FILE *f, const struct run_result *r)
{
	const struct serve_counts *c = &r->counts;

	if (!r->served_mode && r->counts.module_faults == UINT64_MAX) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"served\": %llu, \"faults\": %llu, \"duplicates\": %llu, \"eexist\": %llu, "
		"\"out_of_range\": %llu, \"errors\": %llu, \"batches\": %llu, \"exits\": %llu, "
		"\"threads\": %u, \"module_faults\": ",
		(unsigned long long)c->served, (unsigned long long)c->faults,
		(unsigned long long)c->duplicates, (unsigned long long)c->eexist,
		(unsigned long long)c->out_of_range, (unsigned long long)c->errors,
		(unsigned long long)c->batches, (unsigned long long)c->exits, c->threads);
	json_u64_or_null(f, c->module_faults);
	fputs(", \"module_resolved\": ", f);
	json_u64_or_null(f, c->module_resolved);
	fprintf(f, ", \"queue_ns\": %llu, \"serve_ns\": %llu, \"resolve_ns\": %llu, \"timed\": %llu",
		(unsigned long long)c->queue_ns, (unsigned long long)c->serve_ns,
		(unsigned long long)c->resolve_ns, (unsigned long long)c->timed);
	if (c->have_module)
		fprintf(f, ", \"module\": {\"parks\": %llu, \"park_ns\": %llu, \"wake_ns\": %llu, "
			"\"spin_hits\": %llu, \"continued\": %llu, \"clamped\": %llu, \"exits\": %llu}",
			(unsigned long long)c->module.parks, (unsigned long long)c->module.park_ns,
			(unsigned long long)c->module.wake_ns,
			(unsigned long long)c->module.spin_hits,
			(unsigned long long)c->module.continued,
			(unsigned long long)c->module.clamped, (unsigned long long)c->module.exits);
	fputc('}', f);
}

/* {"exits": N, ...}: the sums; an absent statistic is null. */
static void json_kstats_sums(FILE *f, const struct kstats *k)
{
	if (!k->valid) {
		fputs("null", f);
		return;
	}
	fputc('{', f);
	for (int i = 0; i < NR_KSTATS; i++) {
		fprintf(f, "%s\"%s\": ", i ? ", " : "", kstat_names[i]);
		if (k->have & (1u << i))
			fprintf(f, "%llu", (unsigned long long)k->v[i]);
		else
			fputs("null", f);
	}
	fputc('}', f);
}

/* The cell's: {"rep": I, "per_page": {...}, "sums": {...}} of the median repetition. */
static void json_kstats_cell(FILE *f, struct bench *b, const struct cell *c)
{
	const struct kstats *k;
	uint64_t pages = b->pages_per_vcpu * c->vcpus;

	if (c->kst_rep < 0) {
		fputs("null", f);
		return;
	}
	k = &c->reps[c->kst_rep].kst;
	fprintf(f, "{\"rep\": %d, \"per_page\": {", c->kst_rep);
	for (int i = 0; i < NR_KSTATS; i++) {
		fprintf(f, "%s\"%s\": ", i ? ", " : "", kstat_names[i]);
		json_num(f, "%.4f", (double)k->v[i] / (double)pages,
			 (k->have & (1u << i)) && pages);
	}
	fputs("}, \"sums\": ", f);
	json_kstats_sums(f, k);
	fputc('}', f);
}

static void json_rep(FILE *f, struct bench *b, const struct cell *c,
		     const struct run_result *r)
{
	double pv = r->seconds > 0 ? (double)b->pages_per_vcpu / r->seconds : 0;
	int valid = r->ok && r->seconds > 0;

	fputs("{\"ok\": ", f);
	fputs(r->ok ? "true" : "false", f);
	fputs(", \"seconds\": ", f);
	json_num(f, "%.9f", r->seconds, r->seconds > 0);
	fputs(", \"per_vcpu_rate\": ", f);
	json_num(f, "%.1f", pv, valid);
	fputs(", \"overall_rate\": ", f);
	json_num(f, "%.1f", pv * c->vcpus, valid);
	fputs(", \"vcpu_seconds\": [", f);
	for (unsigned int v = 0; v < c->vcpus; v++)
		fprintf(f, "%s%.9f", v ? ", " : "", r->vcpu_seconds ? r->vcpu_seconds[v] : 0.0);
	fprintf(f, "], \"touched\": %llu, \"bad_pages\": %llu, \"counts\": ",
		(unsigned long long)r->touched, (unsigned long long)r->bad_pages);
	json_counts(f, r);
	fputs(", \"latency_us\": ", f);
	json_lat(f, &r->lat);
	fputs(", \"kvm_stats\": ", f);
	json_kstats_sums(f, &r->kst);
	fputs(", \"failure\": ", f);
	if (r->ok)
		fputs("null", f);
	else
		json_str(f, r->fail);
	fputc('}', f);
}

static void json_cell(FILE *f, struct bench *b, const struct cell *c)
{
	int valid = c->nok > 0;
	int first = 1;

	fputs("{\"mode\": ", f);
	json_str(f, mode_name(c->mode));
	fprintf(f, ", \"vcpus\": %u, \"status\": \"%s\", \"pages\": %llu, \"reps_ok\": %u, ",
		c->vcpus, c->ok ? "ok" : "failed",
		(unsigned long long)(b->pages_per_vcpu * c->vcpus), c->nok);
	fputs("\"seconds\": ", f);
	json_num(f, "%.9f", c->seconds, valid);
	fputs(", \"per_vcpu_rate\": ", f);
	json_num(f, "%.1f", c->per_vcpu_rate, valid);
	fputs(", \"overall_rate\": ", f);
	json_num(f, "%.1f", c->overall_rate, valid);
	fputs(", \"per_vcpu_rate_mean\": ", f);
	json_num(f, "%.1f", c->per_vcpu_rate_mean, valid);
	fputs(", \"vs_uffd_missing\": ", f);
	json_num(f, "%.3f", c->vs_uffd, c->vs_uffd > 0);
	fputs(", \"vs_uffd_minor\": ", f);
	json_num(f, "%.3f", c->vs_minor, c->vs_minor > 0);
	fputs(", \"noise_pct\": ", f);
	json_num(f, "%.2f", cell_noise_pct(b, c), valid);
	fputs(", \"stages_us\": ", f);
	if (!c->st.valid)
		fputs("null", f);
	else
		fprintf(f, "{\"queue\": %.3f, \"serve\": %.3f, \"resolve\": %.3f, \"wake\": %.3f, "
			"\"park\": %.3f, \"spun_pct\": %.2f, \"same_exit_pct\": %.2f}",
			c->st.queue_us, c->st.serve_us, c->st.resolve_us, c->st.wake_us,
			c->st.park_us, c->st.spin_pct, c->st.continued_pct);
	fputs(", \"latency_us\": ", f);
	json_lat(f, &c->lat);
	fputs(", \"kvm_stats\": ", f);
	json_kstats_cell(f, b, c);
	fputs(", \"reps\": [", f);
	for (unsigned int i = 0; i < b->o.reps; i++) {
		if (!c->reps[i].done)
			continue;
		if (!first)
			fputs(", ", f);
		first = 0;
		json_rep(f, b, c, &c->reps[i]);
	}
	fputs("]}", f);
}

int report_json(struct bench *b, const char *path)
{
	const struct bench_opts *o = &b->o;
	FILE *f = fopen(path, "w");
	int first;

	if (!f) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	fputs("{\n\"format\": \"" KVMUF_BENCH_FORMAT "\",\n", f);

	fputs("\"config\": {\"method\": \"KVM selftest demand_paging_test\", \"modes\": [", f);
	first = 1;
	for (int m = 0; m < NR_MODES; m++)
		if (o->modes & (1u << m)) {
			fputs(first ? "" : ", ", f);
			json_str(f, mode_name(m));
			first = 0;
		}
	fputs("], \"vcpus\": [", f);
	for (unsigned int i = 0; i < o->nr_vcounts; i++)
		fprintf(f, "%s%u", i ? ", " : "", o->vcpus[i]);
	fprintf(f, "], \"bytes_per_vcpu\": %llu, \"pages_per_vcpu\": %llu, \"page_size\": 4096, "
		"\"backing\": \"%s\", \"access\": \"%s\", \"reps\": %u, \"uffd_per_vcpu\": %s, "
		"\"readers\": %u, \"readers_meaning\": \"per uffd (uffd modes), in total (kvmuf modes)\", "
		"\"delay_us\": %u, \"thp\": \"%s\", \"busy_poll\": %s, \"seed\": \"0x%llx\", ",
		(unsigned long long)o->bytes_per_vcpu, (unsigned long long)b->pages_per_vcpu,
		o->backing == KVMUF_MEM_MEMFD ? "shmem" : "anon",
		o->read_mode ? "read" : "write", o->reps, o->one_uffd ? "false" : "true",
		o->readers, o->delay_us, thp_name(o->thp), o->busy_poll ? "true" : "false",
		(unsigned long long)o->seed);
	fputs("\"kernel\": ", f);
	json_str(f, b->host.kernel);
	fputs(", \"cpu_model\": ", f);
	json_str(f, b->host.cpu_model);
	fprintf(f, ", \"host_cpus\": %ld, \"hypervisor\": %s, \"pinning\": ",
		b->host.host_cpus, b->host.hypervisor ? "true" : "false");
	json_str(f, pinning_desc(o));
	fputs("},\n", f);

	fputs("\"availability\": {\"kvm_userfault\": {\"available\": ", f);
	fputs(b->kv.usable ? "true" : "false", f);
	fputs(", \"reason\": ", f);
	if (b->kv.usable)
		fputs("null", f);
	else
		json_str(f, b->kv.why);
	fputs("}, \"userfaultfd\": {\"available\": ", f);
	fputs(b->uffd.usable ? "true" : "false", f);
	fputs(", \"minor_shmem\": ", f);
	fputs(b->uffd.minor_shmem ? "true" : "false", f);
	fputs(", \"reason\": ", f);
	if (b->uffd.usable && b->uffd.minor_shmem)
		fputs("null", f);
	else
		json_str(f, b->uffd.why);
	fputs("}},\n", f);

	fputs("\"skipped\": [", f);
	first = 1;
	for (int m = 0; m < NR_MODES; m++)
		if (b->skip_why[m]) {
			fputs(first ? "{\"mode\": " : ", {\"mode\": ", f);
			json_str(f, mode_name(m));
			fputs(", \"reason\": ", f);
			json_str(f, b->skip_why[m]);
			fputc('}', f);
			first = 0;
		}
	fputs("],\n", f);

	fputs("\"latency_note\": \"kvmuf modes: from the ring entry's time_ns (CLOCK_MONOTONIC when "
	      "the module raised the fault) to the return of the resolve ioctl that served it. "
	      "uffd modes: from the handler's read() of the uffd message to the return of "
	      "UFFDIO_COPY/CONTINUE; userfaultfd gives no fault timestamp, so the wakeup of the "
	      "reader is not included and the figures are not directly comparable. Summary p50/p99: "
	      "median over the repetitions; max: over all of them. With -d the fetch delay is "
	      "included in both.\",\n", f);
	fputs("\"rate_note\": \"as demand_paging_test: time from before the vCPU threads are "
	      "released until all have finished; per_vcpu_rate = pages per vCPU / time; "
	      "overall_rate = per_vcpu_rate * vCPUs; summary: from the median time over the repetitions; "
	      "per_vcpu_rate_mean = mean over vCPUs of pages / that vCPU's own time\",\n", f);

	fputs("\"kvm_stats_note\": \"KVM's per-vCPU binary statistics (KVM_GET_STATS_FD) summed over "
	      "the vCPUs, from just before the vCPU threads are created until they are joined. "
	      "Per repetition: the sums (null: could not be read; a statistic this kernel lacks: "
	      "null). Per result: the ok repetition with the median exits (rep: its index in "
	      "reps; the lower middle one of an even count), its sums and per_page = sum / pages. "
	      "exits: all VM exits; pf_taken: stage-2 faults handled by KVM's MMU; pf_fixed: "
	      "those that installed a mapping; pf_spurious: those that found it there; insn_emulation: instructions KVM emulated\", ", f);
	fputs("\"kvm_stats_error\": ", f);
	if (b->kst_why[0])
		json_str(f, b->kst_why);
	else
		fputs("null", f);
	fputs(",\n", f);

	fputs("\"results\": [\n", f);
	first = 1;
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(b, vi, m);

			if (!c->ran)
				continue;
			if (!first)
				fputs(",\n", f);
			first = 0;
			json_cell(f, b, c);
		}
	fputs("\n],\n", f);

	fputs("\"hook_overhead\": [", f);
	first = 1;
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		if (b->hook_valid[vi]) {
			fprintf(f, "%s{\"vcpus\": %u, \"pct\": %.2f, \"noise_pct\": %.2f}",
				first ? "" : ", ", o->vcpus[vi], b->hook_pct[vi],
				b->hook_noise_pct[vi]);
			first = 0;
		}
	fputs("],\n\"baseline\": ", f);
	if (!b->have_base) {
		fputs("null", f);
	} else {
		fputs("{\"source\": ", f);
		json_str(f, b->base.desc);
		fputs(", \"none_rate\": [", f);
		first = 1;
		for (unsigned int vi = 0; vi < o->nr_vcounts; vi++) {
			struct cell *att = bench_cell(b, vi, MODE_NONE_ATTACHED);
			struct cell *none = bench_cell(b, vi, MODE_NONE);

			if (b->base.rates[vi] <= 0)
				continue;
			fprintf(f, "%s{\"vcpus\": %u, \"rate\": %.1f, \"hook_overhead_pct\": ",
				first ? "" : ", ", o->vcpus[vi], b->base.rates[vi]);
			json_num(f, "%.2f", (b->base.rates[vi] / att->overall_rate - 1) * 100,
				 att->nok > 0);
			fputs(", \"none_vs_baseline_pct\": ", f);
			json_num(f, "%.2f", (b->base.rates[vi] / none->overall_rate - 1) * 100,
				 none->nok > 0);
			fputc('}', f);
			first = 0;
		}
		fputs("]}", f);
	}
	fprintf(f, ",\n\"checks\": {\"runs\": %s, \"pages\": %s, \"verification\": %s, "
		"\"served\": %s, \"none_fastest_warnings\": %u},\n",
		b->runs_ok ? "true" : "false", b->pages_ok ? "true" : "false",
		b->verify_ok ? "true" : "false", b->served_ok ? "true" : "false",
		b->none_warnings);
	fprintf(f, "\"ok\": %s\n}\n", b->status == 1 ? "false" : "true");
	if (fclose(f) != 0) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
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

/* ---- --baseline ---- */

/* A string member of obj, copied into out (truncated); "?" if absent. */
static void jc_str(struct json_object *obj, const char *key, char *out, size_t len)
{
	struct json_object *v;

	snprintf(out, len, "%s", json_object_object_get_ex(obj, key, &v) &&
		 json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "?");
}

/* A number member of obj (int or double); false if absent or null. */
static bool jc_num(struct json_object *obj, const char *key, double *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		return false;
	*out = json_object_get_double(v);
	return true;
}

/*
 * The `none` rates of an earlier run's JSON, parsed as JSON (json-c): any layout,
 * re-indented or not, of format KVMUF_BENCH_FORMAT or the older kvmuf-bench/1 (whose
 * `none` figures mean the same).
 */
int baseline_read(const char *path, const unsigned int *vcpus, unsigned int n,
		  struct baseline *base, char *err, size_t errlen)
{
	struct json_object *root, *fmt, *config, *results;
	const char *format;
	size_t nres;
	int found = 0;

	memset(base, 0, sizeof(*base));
	root = json_object_from_file(path);
	if (!root) {
		snprintf(err, errlen, "%s: %s", path, json_util_get_last_err() ?: "not JSON");
		return -1;
	}
	format = json_object_object_get_ex(root, "format", &fmt) ? json_object_get_string(fmt) : NULL;
	if (!format || (strcmp(format, KVMUF_BENCH_FORMAT) && strcmp(format, "kvmuf-bench/1"))) {
		snprintf(err, errlen, "%s: not a kvmuf-bench JSON file (format %s)", path,
			 format ?: "missing");
		json_object_put(root);
		return -1;
	}
	if (json_object_object_get_ex(root, "config", &config)) {
		jc_str(config, "backing", base->backing, sizeof(base->backing));
		jc_str(config, "access", base->access, sizeof(base->access));
		jc_str(config, "kernel", base->kernel, sizeof(base->kernel));
		jc_num(config, "bytes_per_vcpu", &base->bytes_per_vcpu);
	}
	if (!json_object_object_get_ex(root, "results", &results) ||
	    !json_object_is_type(results, json_type_array))
		results = NULL;
	nres = results ? json_object_array_length(results) : 0;
	for (size_t r = 0; r < nres; r++) {
		struct json_object *res = json_object_array_get_idx(results, r);
		char mode[32];
		double v, rate;

		jc_str(res, "mode", mode, sizeof(mode));
		if (strcmp(mode, "none") || !jc_num(res, "vcpus", &v) ||
		    !jc_num(res, "overall_rate", &rate))
			continue;	/* "overall_rate": null: that cell failed */
		for (unsigned int i = 0; i < n; i++)
			if ((double)vcpus[i] == v) {
				base->rates[i] = rate;
				found++;
			}
	}
	json_object_put(root);
	snprintf(base->desc, sizeof(base->desc), "%s (%s memory, %s, %.0f bytes per vCPU, kernel %s)",
		 path, base->backing, base->access, base->bytes_per_vcpu, base->kernel);
	if (!found) {
		snprintf(err, errlen, "%s holds no successful 'none' result at these vCPU counts",
			 path);
		return -1;
	}
	return 0;
}
