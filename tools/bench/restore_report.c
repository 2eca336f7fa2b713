// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-restore-bench: the table, the JSON (format RESTORE_FORMAT, schema
 * kvmuf-restore-bench.schema.json) and the gnuplot rows.
 *
 * Times are seconds, latencies microseconds; a figure that does not exist (all memory
 * never present without a sweep, no fault latency without rings) is null in the JSON,
 * "-" in the table and NaN in the .dat.
 */
#define _GNU_SOURCE
#include "restore.h"

#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

/* ---- medians ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of the n values of v that are >= 0; -1 when there are none. */
static double median(double *v, unsigned int n)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		if (v[i] >= 0)
			v[k++] = v[i];
	if (!k)
		return -1;
	qsort(v, k, sizeof(*v), cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

enum field { F_WS, F_PRESENT, F_P50, F_P99, F_DEMAND, F_PREFETCHED, F_REPLAYED, F_FAULTS };

static double field(const struct rb_rep *x, enum field f)
{
	switch (f) {
	case F_WS:		return x->ws_s;
	case F_PRESENT:		return x->all_present_s;
	case F_P50:		return x->p50_us;
	case F_P99:		return x->p99_us;
	case F_DEMAND:		return (double)x->demand;
	case F_PREFETCHED:	return (double)x->prefetched;
	case F_REPLAYED:	return (double)x->replayed;
	case F_FAULTS:		return (double)(x->ring_faults + x->uffd_faults);
	}
	return -1;
}

static double median_of(const struct rb_result *r, enum field f)
{
	double v[MAX_REPS];

	for (unsigned int i = 0; i < r->nreps; i++)
		v[i] = field(&r->reps[i], f);
	return median(v, r->nreps);
}

void rb_median(const struct rb_result *r, struct rb_median *m)
{
	*m = (struct rb_median) {
		.ws_s = median_of(r, F_WS),
		.all_present_s = median_of(r, F_PRESENT),
		.p50_us = median_of(r, F_P50),
		.p99_us = median_of(r, F_P99),
		.demand = median_of(r, F_DEMAND),
		.prefetched = median_of(r, F_PREFETCHED),
		.replayed = median_of(r, F_REPLAYED),
		.faults = median_of(r, F_FAULTS),
	};
}

static const struct rb_result *find(const struct rb_report *rep, enum rb_system s, int replay)
{
	for (int i = 0; i < rep->nres; i++)
		if (rep->res[i].sys == s && rep->res[i].replay == replay && rep->res[i].ran)
			return &rep->res[i];
	return NULL;
}

/* kvmuf / uffd of the median working-set times at this replay setting; -1: not both. */
static double ratio(const struct rb_report *rep, int replay)
{
	const struct rb_result *k = find(rep, SYS_KVMUF, replay), *u = find(rep, SYS_UFFD, replay);
	struct rb_median mk, mu;

	if (!k || !u)
		return -1;
	rb_median(k, &mk);
	rb_median(u, &mu);
	return mu.ws_s > 0 ? mk.ws_s / mu.ws_s : -1;
}

/* ---- table ---- */

/* "%*.*f" of v, or "-" when v < 0. */
static const char *fmt(char *buf, size_t len, double v, int width, int prec)
{
	if (v < 0)
		snprintf(buf, len, "%*s", width, "-");
	else
		snprintf(buf, len, "%*.*f", width, prec, v);
	return buf;
}

void rb_print_table(FILE *f, const struct rb_report *rep)
{
	const struct rb_opts *o = rep->o;
	char a[32], b[32], c[32], d[32], e[32];

	fprintf(f, "restore of %llu pages (%u vCPUs x %llu bytes) from %s (%s), label '%s': guest touches %llu pages (%u%%), %u engine threads, %u prefetch threads%s, readahead %u, %u reps, replay list %zu pages\n",
		(unsigned long long)rep->total_pages, o->vcpus,
		(unsigned long long)o->bytes_per_vcpu, o->source, rep->source_kind, o->label,
		(unsigned long long)rep->ws_pages, o->ws_percent, o->threads, o->prefetch,
		o->prefetch ? " (sweep)" : " (no sweep)", o->readahead, o->reps,
		rep->replay_pages);
	fprintf(f, "%-6s %-6s %-10s %10s %12s %8s %10s %8s %9s %9s %11s\n", "system", "replay",
		"label", "ws_ms", "present_ms", "demand", "prefetched", "faults", "p50_us",
		"p99_us", "ws_kvmuf/uffd");
	for (int i = 0; i < rep->nres; i++) {
		const struct rb_result *r = &rep->res[i];
		struct rb_median m;

		if (!r->ran) {
			fprintf(f, "%-6s %-6s %-10s skipped: %s\n", rb_system_name(r->sys),
				r->replay ? "on" : "off", o->label, r->skip_why);
			continue;
		}
		rb_median(r, &m);
		fprintf(f, "%-6s %-6s %-10s %s %s %8.0f %10.0f %8.0f %s %s %s\n",
			rb_system_name(r->sys), r->replay ? "on" : "off", o->label,
			fmt(a, sizeof(a), m.ws_s * 1e3, 10, 2),
			fmt(b, sizeof(b), m.all_present_s < 0 ? -1 : m.all_present_s * 1e3, 12, 2),
			m.demand, m.prefetched, m.faults,
			fmt(c, sizeof(c), m.p50_us, 9, 1), fmt(d, sizeof(d), m.p99_us, 9, 1),
			fmt(e, sizeof(e), r->sys == SYS_KVMUF ? ratio(rep, r->replay) : -1, 13, 3));
	}
	fprintf(f, "(medians; ws_ms: the guest's time to touch its working set, from the start of the engine; present_ms: until all memory was in, '-' without a prefetch sweep; p50/p99: fault to resolved, ring faults only)\n");
}

/* ---- JSON ---- */

#define ADD(obj, key, val)	json_object_object_add((obj), (key), (val))

/* v printed with fmt, or null when < 0 (does not exist). */
static struct json_object *jfmt(const char *fmt, double v)
{
	char buf[64];

	if (v < 0 || !isfinite(v))
		return NULL;
	snprintf(buf, sizeof(buf), fmt, v);
	return json_object_new_double_s(v, buf);
}

/* Times and latencies. */
static struct json_object *jnum(double v)
{
	return jfmt("%.6f", v);
}

/* A median of page counts: whole, or half way between two. */
static struct json_object *jcount(double v)
{
	return jfmt(v == floor(v) ? "%.0f" : "%.1f", v);
}

static struct json_object *ju64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static struct json_object *json_config(const struct rb_report *rep)
{
	const struct rb_opts *o = rep->o;
	struct json_object *c = json_object_new_object(), *sys = json_object_new_array();
	struct utsname u;

	for (int s = 0; s < NR_SYSTEMS; s++)
		if (o->systems & (1u << s))
			json_object_array_add(sys, json_object_new_string(rb_system_name(s)));
	ADD(c, "source", json_object_new_string(o->source));
	ADD(c, "source_kind", json_object_new_string(rep->source_kind));
	ADD(c, "vcpus", ju64(o->vcpus));
	ADD(c, "bytes_per_vcpu", ju64(o->bytes_per_vcpu));
	ADD(c, "total_pages", ju64(rep->total_pages));
	ADD(c, "working_set_percent", ju64(o->ws_percent));
	ADD(c, "working_set_pages", ju64(rep->ws_pages));
	ADD(c, "threads", ju64(o->threads));
	ADD(c, "prefetch_threads", ju64(o->prefetch));
	ADD(c, "prefetch_rate", ju64(o->prefetch_rate));
	ADD(c, "readahead", ju64(o->readahead));
	ADD(c, "reps", ju64(o->reps));
	ADD(c, "systems", sys);
	ADD(c, "kernel", json_object_new_string(uname(&u) == 0 ? u.release : "?"));
	return c;
}

static struct json_object *json_rep(const struct rb_rep *x)
{
	struct json_object *o = json_object_new_object();

	ADD(o, "working_set_seconds", jnum(x->ws_s));
	ADD(o, "all_present_seconds", jnum(x->all_present_s));
	ADD(o, "demand", ju64(x->demand));
	ADD(o, "readahead", ju64(x->readahead));
	ADD(o, "prefetched", ju64(x->prefetched));
	ADD(o, "replayed", ju64(x->replayed));
	ADD(o, "joined", ju64(x->joined));
	ADD(o, "ring_faults", ju64(x->ring_faults));
	ADD(o, "uffd_faults", ju64(x->uffd_faults));
	ADD(o, "faults", ju64(x->ring_faults + x->uffd_faults));
	ADD(o, "fault_p50_us", jnum(x->p50_us));
	ADD(o, "fault_p99_us", jnum(x->p99_us));
	ADD(o, "pages_checked", ju64(x->pages_checked));
	return o;
}

static struct json_object *json_result(const struct rb_report *rep, const struct rb_result *r)
{
	struct json_object *o = json_object_new_object(), *reps, *m;
	struct rb_median md;

	ADD(o, "system", json_object_new_string(rb_system_name(r->sys)));
	ADD(o, "replay", json_object_new_boolean(r->replay));
	ADD(o, "label", json_object_new_string(rep->o->label));
	ADD(o, "status", json_object_new_string(r->ran ? "ok" : "skipped"));
	ADD(o, "reason", r->ran ? NULL : json_object_new_string(r->skip_why));
	if (!r->ran)
		return o;
	rb_median(r, &md);
	m = json_object_new_object();
	ADD(m, "working_set_seconds", jnum(md.ws_s));
	ADD(m, "all_present_seconds", jnum(md.all_present_s));
	ADD(m, "demand", jcount(md.demand));
	ADD(m, "prefetched", jcount(md.prefetched));
	ADD(m, "replayed", jcount(md.replayed));
	ADD(m, "faults", jcount(md.faults));
	ADD(m, "fault_p50_us", jnum(md.p50_us));
	ADD(m, "fault_p99_us", jnum(md.p99_us));
	ADD(o, "median", m);
	ADD(o, "ws_ratio_kvmuf_over_uffd", jnum(r->sys == SYS_KVMUF ? ratio(rep, r->replay) : -1));
	reps = json_object_new_array();
	for (unsigned int i = 0; i < r->nreps; i++)
		json_object_array_add(reps, json_rep(&r->reps[i]));
	ADD(o, "reps", reps);
	return o;
}

int rb_write_json(const char *path, const struct rb_report *rep)
{
	struct json_object *doc = json_object_new_object(), *res = json_object_new_array();
	const char *text;
	FILE *f;
	int ret = 0;

	ADD(doc, "format", json_object_new_string(RESTORE_FORMAT));
	ADD(doc, "label", json_object_new_string(rep->o->label));
	ADD(doc, "config", json_config(rep));
	ADD(doc, "replay_list_pages", ju64(rep->replay_pages));
	for (int i = 0; i < rep->nres; i++)
		json_object_array_add(res, json_result(rep, &rep->res[i]));
	ADD(doc, "results", res);
	ADD(doc, "ok", json_object_new_boolean(rep->ok));
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
		fprintf(stderr, PROG ": --json %s: cannot write it\n", path);
		ret = -1;
	}
	json_object_put(doc);
	return ret;
}

/* ---- gnuplot ---- */

static void dat_value(FILE *f, double v)
{
	if (v < 0)
		fprintf(f, "\tNaN");
	else
		fprintf(f, "\t%.3f", v * 1e3);
}

/*
 * One row per --label, so that runs at several source latencies build one table:
 * label, then the working-set and all-present times (ms) of kvmuf and uffd, replay off
 * and on. A new file gets the '#' header first.
 */
int rb_append_dat(const char *path, const struct rb_report *rep)
{
	struct stat st;
	int fresh = stat(path, &st) < 0 || st.st_size == 0;
	FILE *f = fopen(path, "a");

	if (!f) {
		fprintf(stderr, PROG ": --dat %s: cannot open it\n", path);
		return -1;
	}
	if (fresh)
		fprintf(f, "# " PROG ": milliseconds, medians; NaN: skipped or never\n"
			"# label\tws_kvmuf\tws_uffd\tws_kvmuf_replay\tws_uffd_replay\t"
			"present_kvmuf\tpresent_uffd\tpresent_kvmuf_replay\tpresent_uffd_replay\n");
	/* Spaces would split the label into columns. */
	fprintf(f, "\"%s\"", rep->o->label[0] ? rep->o->label : "-");
	for (int what = 0; what < 2; what++) {
		for (int replay = 0; replay <= 1; replay++) {
			for (int s = 0; s < NR_SYSTEMS; s++) {
				const struct rb_result *r = find(rep, (enum rb_system)s, replay);
				struct rb_median m;

				if (!r) {
					dat_value(f, -1);
					continue;
				}
				rb_median(r, &m);
				dat_value(f, what ? m.all_present_s : m.ws_s);
			}
		}
	}
	fprintf(f, "\n");
	if (fclose(f) != 0) {
		fprintf(stderr, PROG ": --dat %s: cannot write it\n", path);
		return -1;
	}
	return 0;
}
