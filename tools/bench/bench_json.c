// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-bench: the JSON report and the --baseline reader.
 *
 * Format KVMUF_BENCH_FORMAT ("kvmuf-bench/2"; its JSON Schema is
 * tools/bench/kvmuf-bench.schema.json), written and read with json-c. Each value is
 * built as a json-c object; the top-level keys and the results are written one per
 * line, so that grep and sed still get far, but --baseline parses the file as JSON: any
 * re-indented copy reads the same. Version 2 differs from 1 in what the first "exits"
 * of a result is (below), and in the spacing json-c gives ("{ "mode": ... }"):
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
 *   { "mode": "none", "vcpus": 1, "status": "ok", ...summary..., "reps": [...] },
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
#include <string.h>

/* A number printed with fmt, or null when it does not exist. */
static struct json_object *jnum(const char *fmt, double v, bool valid)
{
	char buf[64];

	if (!valid || !isfinite(v))
		return NULL;
	snprintf(buf, sizeof(buf), fmt, v);
	return json_object_new_double_s(v, buf);
}

static struct json_object *ju64(uint64_t v)
{
	return json_object_new_uint64(v);
}

/* UINT64_MAX: not known (null). */
static struct json_object *ju64_or_null(uint64_t v)
{
	return v == UINT64_MAX ? NULL : json_object_new_uint64(v);
}

static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *jbool(bool b)
{
	return json_object_new_boolean(b);
}

#define ADD(obj, key, val)	json_object_object_add((obj), (key), (val))

static struct json_object *json_lat(const struct lat_summary *l)
{
	struct json_object *o;

	if (!l->n)
		return NULL;
	o = json_object_new_object();
	ADD(o, "p50", jnum("%.3f", l->p50_us, true));
	ADD(o, "p99", jnum("%.3f", l->p99_us, true));
	ADD(o, "max", jnum("%.3f", l->max_us, true));
	ADD(o, "samples", ju64(l->n));
	return o;
}

static struct json_object *json_counts(const struct run_result *r)
{
	const struct serve_counts *c = &r->counts;
	struct json_object *o, *m;

	if (!r->served_mode && r->counts.module_faults == UINT64_MAX)
		return NULL;
	o = json_object_new_object();
	ADD(o, "served", ju64(c->served));
	ADD(o, "faults", ju64(c->faults));
	ADD(o, "duplicates", ju64(c->duplicates));
	ADD(o, "eexist", ju64(c->eexist));
	ADD(o, "out_of_range", ju64(c->out_of_range));
	ADD(o, "errors", ju64(c->errors));
	ADD(o, "batches", ju64(c->batches));
	ADD(o, "exits", ju64(c->exits));
	ADD(o, "threads", ju64(c->threads));
	ADD(o, "module_faults", ju64_or_null(c->module_faults));
	ADD(o, "module_resolved", ju64_or_null(c->module_resolved));
	ADD(o, "queue_ns", ju64(c->queue_ns));
	ADD(o, "serve_ns", ju64(c->serve_ns));
	ADD(o, "resolve_ns", ju64(c->resolve_ns));
	ADD(o, "timed", ju64(c->timed));
	if (c->have_module) {
		m = json_object_new_object();
		ADD(m, "parks", ju64(c->module.parks));
		ADD(m, "park_ns", ju64(c->module.park_ns));
		ADD(m, "wake_ns", ju64(c->module.wake_ns));
		ADD(m, "spin_hits", ju64(c->module.spin_hits));
		ADD(m, "continued", ju64(c->module.continued));
		ADD(m, "clamped", ju64(c->module.clamped));
		ADD(m, "exits", ju64(c->module.exits));
		ADD(o, "module", m);
	}
	return o;
}

/* {"exits": N, ...}: the sums; an absent statistic is null. */
static struct json_object *json_kstats_sums(const struct kstats *k)
{
	struct json_object *o;

	if (!k->valid)
		return NULL;
	o = json_object_new_object();
	for (int i = 0; i < NR_KSTATS; i++)
		ADD(o, kstat_names[i], (k->have & (1u << i)) ? ju64(k->v[i]) : NULL);
	return o;
}

/* The cell's {"rep": I, "per_page": {...}, "sums": {...}} of the median repetition. */
static struct json_object *json_kstats_cell(struct bench *b, const struct cell *c)
{
	uint64_t pages = b->pages_per_vcpu * c->vcpus;
	struct json_object *o, *pp;
	const struct kstats *k;

	if (c->kst_rep < 0)
		return NULL;
	k = &c->reps[c->kst_rep].kst;
	o = json_object_new_object();
	pp = json_object_new_object();
	ADD(o, "rep", json_object_new_int(c->kst_rep));
	for (int i = 0; i < NR_KSTATS; i++)
		ADD(pp, kstat_names[i], jnum("%.4f", (double)k->v[i] / (double)pages,
					     (k->have & (1u << i)) && pages));
	ADD(o, "per_page", pp);
	ADD(o, "sums", json_kstats_sums(k));
	return o;
}

static struct json_object *json_rep(struct bench *b, const struct cell *c,
				    const struct run_result *r)
{
	double pv = r->seconds > 0 ? (double)b->pages_per_vcpu / r->seconds : 0;
	bool valid = r->ok && r->seconds > 0;
	struct json_object *o = json_object_new_object(), *vs = json_object_new_array();

	ADD(o, "ok", jbool(r->ok));
	ADD(o, "seconds", jnum("%.9f", r->seconds, r->seconds > 0));
	ADD(o, "per_vcpu_rate", jnum("%.1f", pv, valid));
	ADD(o, "overall_rate", jnum("%.1f", pv * c->vcpus, valid));
	for (unsigned int v = 0; v < c->vcpus; v++)
		json_object_array_add(vs, jnum("%.9f", r->vcpu_seconds ? r->vcpu_seconds[v] : 0.0,
					       true));
	ADD(o, "vcpu_seconds", vs);
	ADD(o, "touched", ju64(r->touched));
	ADD(o, "bad_pages", ju64(r->bad_pages));
	ADD(o, "counts", json_counts(r));
	ADD(o, "latency_us", json_lat(&r->lat));
	ADD(o, "kvm_stats", json_kstats_sums(&r->kst));
	ADD(o, "failure", r->ok ? NULL : jstr(r->fail));
	return o;
}

static struct json_object *json_cell(struct bench *b, const struct cell *c)
{
	struct json_object *o = json_object_new_object(), *reps = json_object_new_array(), *st;
	bool valid = c->nok > 0;

	ADD(o, "mode", jstr(mode_name(c->mode)));
	ADD(o, "vcpus", ju64(c->vcpus));
	ADD(o, "status", jstr(c->ok ? "ok" : "failed"));
	ADD(o, "pages", ju64(b->pages_per_vcpu * c->vcpus));
	ADD(o, "reps_ok", ju64(c->nok));
	ADD(o, "seconds", jnum("%.9f", c->seconds, valid));
	ADD(o, "per_vcpu_rate", jnum("%.1f", c->per_vcpu_rate, valid));
	ADD(o, "overall_rate", jnum("%.1f", c->overall_rate, valid));
	ADD(o, "per_vcpu_rate_mean", jnum("%.1f", c->per_vcpu_rate_mean, valid));
	ADD(o, "vs_uffd_missing", jnum("%.3f", c->vs_uffd, c->vs_uffd > 0));
	ADD(o, "vs_uffd_minor", jnum("%.3f", c->vs_minor, c->vs_minor > 0));
	ADD(o, "noise_pct", jnum("%.2f", cell_noise_pct(b, c), valid));
	st = NULL;
	if (c->st.valid) {
		st = json_object_new_object();
		ADD(st, "queue", jnum("%.3f", c->st.queue_us, true));
		ADD(st, "serve", jnum("%.3f", c->st.serve_us, true));
		ADD(st, "resolve", jnum("%.3f", c->st.resolve_us, true));
		ADD(st, "wake", jnum("%.3f", c->st.wake_us, true));
		ADD(st, "park", jnum("%.3f", c->st.park_us, true));
		ADD(st, "spun_pct", jnum("%.2f", c->st.spin_pct, true));
		ADD(st, "same_exit_pct", jnum("%.2f", c->st.continued_pct, true));
	}
	ADD(o, "stages_us", st);
	ADD(o, "latency_us", json_lat(&c->lat));
	ADD(o, "kvm_stats", json_kstats_cell(b, c));
	for (unsigned int i = 0; i < b->o.reps; i++)
		if (c->reps[i].done)
			json_object_array_add(reps, json_rep(b, c, &c->reps[i]));
	ADD(o, "reps", reps);
	return o;
}

static struct json_object *json_config(struct bench *b)
{
	const struct bench_opts *o = &b->o;
	struct json_object *c = json_object_new_object(), *modes = json_object_new_array();
	struct json_object *vcpus = json_object_new_array();
	char seed[32];

	ADD(c, "method", jstr("KVM selftest demand_paging_test"));
	for (int m = 0; m < NR_MODES; m++)
		if (o->modes & (1u << m))
			json_object_array_add(modes, jstr(mode_name(m)));
	ADD(c, "modes", modes);
	for (unsigned int i = 0; i < o->nr_vcounts; i++)
		json_object_array_add(vcpus, ju64(o->vcpus[i]));
	ADD(c, "vcpus", vcpus);
	ADD(c, "bytes_per_vcpu", ju64(o->bytes_per_vcpu));
	ADD(c, "pages_per_vcpu", ju64(b->pages_per_vcpu));
	ADD(c, "page_size", ju64(4096));
	ADD(c, "backing", jstr(o->backing == KVMUF_MEM_MEMFD ? "shmem" : "anon"));
	ADD(c, "access", jstr(o->read_mode ? "read" : "write"));
	ADD(c, "reps", ju64(o->reps));
	ADD(c, "uffd_per_vcpu", jbool(!o->one_uffd));
	ADD(c, "readers", ju64(o->readers));
	ADD(c, "readers_meaning", jstr("per uffd (uffd modes), in total (kvmuf modes)"));
	ADD(c, "delay_us", ju64(o->delay_us));
	ADD(c, "thp", jstr(thp_name(o->thp)));
	ADD(c, "busy_poll", jbool(o->busy_poll));
	snprintf(seed, sizeof(seed), "0x%llx", (unsigned long long)o->seed);
	ADD(c, "seed", jstr(seed));
	ADD(c, "kernel", jstr(b->host.kernel));
	ADD(c, "cpu_model", jstr(b->host.cpu_model));
	ADD(c, "host_cpus", json_object_new_int64(b->host.host_cpus));
	ADD(c, "hypervisor", jbool(b->host.hypervisor));
	ADD(c, "pinning", jstr(pinning_desc(o)));
	return c;
}

static struct json_object *json_availability(struct bench *b)
{
	struct json_object *a = json_object_new_object(), *k = json_object_new_object();
	struct json_object *u = json_object_new_object();

	ADD(k, "available", jbool(b->kv.usable));
	ADD(k, "reason", b->kv.usable ? NULL : jstr(b->kv.why));
	ADD(u, "available", jbool(b->uffd.usable));
	ADD(u, "minor_shmem", jbool(b->uffd.minor_shmem));
	ADD(u, "reason", b->uffd.usable && b->uffd.minor_shmem ? NULL : jstr(b->uffd.why));
	ADD(a, "kvm_userfault", k);
	ADD(a, "userfaultfd", u);
	return a;
}

static struct json_object *json_baseline(struct bench *b)
{
	struct json_object *o, *rates;

	if (!b->have_base)
		return NULL;
	o = json_object_new_object();
	rates = json_object_new_array();
	ADD(o, "source", jstr(b->base.desc));
	for (unsigned int vi = 0; vi < b->o.nr_vcounts; vi++) {
		struct cell *att = bench_cell(b, vi, MODE_NONE_ATTACHED);
		struct cell *none = bench_cell(b, vi, MODE_NONE);
		struct json_object *r;

		if (b->base.rates[vi] <= 0)
			continue;
		r = json_object_new_object();
		ADD(r, "vcpus", ju64(b->o.vcpus[vi]));
		ADD(r, "rate", jnum("%.1f", b->base.rates[vi], true));
		ADD(r, "hook_overhead_pct",
		    jnum("%.2f", (b->base.rates[vi] / att->overall_rate - 1) * 100, att->nok > 0));
		ADD(r, "none_vs_baseline_pct",
		    jnum("%.2f", (b->base.rates[vi] / none->overall_rate - 1) * 100, none->nok > 0));
		json_object_array_add(rates, r);
	}
	ADD(o, "none_rate", rates);
	return o;
}

#define JSON_FLAGS	(JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

/* "key": VALUE on a line of its own (then put, to free it); comma unless last. */
static void put_line(FILE *f, const char *key, struct json_object *v, bool last)
{
	fprintf(f, "\"%s\": %s%s\n", key, v ? json_object_to_json_string_ext(v, JSON_FLAGS) :
		"null", last ? "" : ",");
	json_object_put(v);
}

static const char latency_note[] =
	"kvmuf modes: from the ring entry's time_ns (CLOCK_MONOTONIC when the module raised "
	"the fault) to the return of the resolve ioctl that served it. uffd modes: from the "
	"handler's read() of the uffd message to the return of UFFDIO_COPY/CONTINUE; "
	"userfaultfd gives no fault timestamp, so the wakeup of the reader is not included and "
	"the figures are not directly comparable. Summary p50/p99: median over the "
	"repetitions; max: over all of them. With -d the fetch delay is included in both.";
static const char rate_note[] =
	"as demand_paging_test: time from before the vCPU threads are released until all have "
	"finished; per_vcpu_rate = pages per vCPU / time; overall_rate = per_vcpu_rate * vCPUs; "
	"summary: from the median time over the repetitions; per_vcpu_rate_mean = mean over "
	"vCPUs of pages / that vCPU's own time";
static const char kvm_stats_note[] =
	"KVM's per-vCPU binary statistics (KVM_GET_STATS_FD) summed over the vCPUs, from just "
	"before the vCPU threads are created until they are joined. Per repetition: the sums "
	"(null: could not be read; a statistic this kernel lacks: null). Per result: the ok "
	"repetition with the median exits (rep: its index in reps; the lower middle one of an "
	"even count), its sums and per_page = sum / pages. exits: all VM exits; pf_taken: "
	"stage-2 faults handled by KVM's MMU; pf_fixed: those that installed a mapping; "
	"pf_spurious: those that found it there; insn_emulation: instructions KVM emulated";

int report_json(struct bench *b, const char *path)
{
	const struct bench_opts *o = &b->o;
	struct json_object *skipped = json_object_new_array(), *hook = json_object_new_array();
	struct json_object *checks = json_object_new_object();
	FILE *f = fopen(path, "w");
	bool first = true;

	if (!f) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		json_object_put(skipped);
		json_object_put(hook);
		json_object_put(checks);
		return -1;
	}
	fputs("{\n", f);
	put_line(f, "format", jstr(KVMUF_BENCH_FORMAT), false);
	put_line(f, "config", json_config(b), false);
	put_line(f, "availability", json_availability(b), false);
	for (int m = 0; m < NR_MODES; m++)
		if (b->skip_why[m]) {
			struct json_object *s = json_object_new_object();

			ADD(s, "mode", jstr(mode_name(m)));
			ADD(s, "reason", jstr(b->skip_why[m]));
			json_object_array_add(skipped, s);
		}
	put_line(f, "skipped", skipped, false);
	put_line(f, "latency_note", jstr(latency_note), false);
	put_line(f, "rate_note", jstr(rate_note), false);
	put_line(f, "kvm_stats_note", jstr(kvm_stats_note), false);
	put_line(f, "kvm_stats_error", b->kst_why[0] ? jstr(b->kst_why) : NULL, false);

	/* One result a line. */
	fputs("\"results\": [\n", f);
	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		for (int m = 0; m < NR_MODES; m++) {
			struct cell *c = bench_cell(b, vi, m);
			struct json_object *r;

			if (!c->ran)
				continue;
			r = json_cell(b, c);
			fprintf(f, "%s%s", first ? "" : ",\n", json_object_to_json_string_ext(r, JSON_FLAGS));
			json_object_put(r);
			first = false;
		}
	fputs("\n],\n", f);

	for (unsigned int vi = 0; vi < o->nr_vcounts; vi++)
		if (b->hook_valid[vi]) {
			struct json_object *h = json_object_new_object();

			ADD(h, "vcpus", ju64(o->vcpus[vi]));
			ADD(h, "pct", jnum("%.2f", b->hook_pct[vi], true));
			ADD(h, "noise_pct", jnum("%.2f", b->hook_noise_pct[vi], true));
			json_object_array_add(hook, h);
		}
	put_line(f, "hook_overhead", hook, false);
	put_line(f, "baseline", json_baseline(b), false);
	ADD(checks, "runs", jbool(b->runs_ok));
	ADD(checks, "pages", jbool(b->pages_ok));
	ADD(checks, "verification", jbool(b->verify_ok));
	ADD(checks, "served", jbool(b->served_ok));
	ADD(checks, "none_fastest_warnings", ju64(b->none_warnings));
	put_line(f, "checks", checks, false);
	put_line(f, "ok", jbool(b->status != 1), true);
	fputs("}\n", f);
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
