/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmuf-bench - internal interfaces between the driver (kvmuf-bench.c), the
 * userfaultfd modes (bench_uffd.c), the kvm-userfault modes (bench_kvmuf.c)
 * and the report writers (bench_report.c).  See kvmuf-bench.c for what the
 * tool measures.
 */
#ifndef KVMUF_BENCH_H
#define KVMUF_BENCH_H

#include "kvmuf.h"		/* first: it defines KVMUF_PAGE_SIZE too */
#include "kvmuf_vm.h"
#include "kvmuf_snapshot.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROG		"kvmuf-bench"

enum bench_mode {
	MODE_NONE,		/* plain fresh memory: the cost of a first touch */
	MODE_NONE_ATTACHED,	/* kvm-userfault attached, range added, nothing missing */
	MODE_UFFD_MISSING,	/* userfaultfd MISSING + UFFDIO_COPY */
	MODE_UFFD_MINOR,	/* shmem: userfaultfd MINOR + UFFDIO_CONTINUE */
	MODE_KVMUF_PARK,	/* kvm-userfault, all missing, vCPUs park; the server copies */
	MODE_KVMUF_PARK_UFFD,	/* the same with the userfaultfd backstop: the default set-up */
	MODE_KVMUF_MINOR,	/* shmem: page cache filled beforehand, vCPUs park, resolve only */
	MODE_KVMUF_EXIT,	/* kvm-userfault, all missing, KVM_RUN exits */
	NR_MODES
};

#define MAX_VCOUNTS	32	/* entries of -v */
#define MAX_PIN_CPUS	64	/* entries of each -c list */

struct bench_opts {
	unsigned int modes;		/* bit per enum bench_mode requested */
	unsigned int vcpus[MAX_VCOUNTS];
	unsigned int nr_vcounts;
	uint64_t bytes_per_vcpu;
	unsigned int reps;
	unsigned int readers;		/* -r: per uffd (uffd), in total (kvmuf) */
	unsigned int delay_us;		/* -d */
	int one_uffd;			/* -a */
	int read_mode;			/* -R */
	enum kvmuf_backing backing;	/* -s anon|shmem */
	enum kvmuf_thp thp;		/* -H */
	int busy_poll;			/* -p: serving threads spin, never sleep */
	int shmem_write;		/* -W: kvmuf-park on shmem installs with pwrite + RESOLVE */
	int keepalive;			/* -K: one idle VM (attached) for the whole run */
	int vcpu_cpus[MAX_PIN_CPUS];	/* -c: vCPU i on vcpu_cpus[i % nr_vcpu_cpus] */
	unsigned int nr_vcpu_cpus;	/* 0: not pinned */
	int serve_cpus[MAX_PIN_CPUS];	/* -c .../LIST: serving threads likewise */
	unsigned int nr_serve_cpus;
	const char *json_path;
	const char *dat_path;
	const char *baseline_path;
	int quiet;
	unsigned int timeout_s;		/* per run; 0: none */
	uint64_t seed;
};

/*
 * Latency samples of one run (ns), appended concurrently by the serving
 * threads.  Sized for every page plus slack; samples past the end are
 * counted in `dropped` (they cannot occur in a correct run).
 */
struct lat_rec {
	uint64_t *ns;
	size_t cap;
	atomic_size_t n;
	atomic_ullong dropped;
};

static inline void lat_add(struct lat_rec *l, uint64_t ns)
{
	size_t i = atomic_fetch_add_explicit(&l->n, 1, memory_order_relaxed);

	if (i < l->cap)
		l->ns[i] = ns;
	else
		atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
}

/* Counters a serving backend reports for one run. */
struct serve_counts {
	uint64_t served;	/* pages installed: UFFDIO_COPY/CONTINUE successes,
				 * or the kvm-userfault server's "changed" */
	uint64_t faults;	/* fault messages / ring entries received */
	uint64_t duplicates;	/* a page served twice */
	uint64_t eexist;	/* uffd: the page was there already (another
				 * message for it): woken, not a failure */
	uint64_t out_of_range;	/* fault outside the test memory */
	uint64_t errors;	/* failed ioctls / reads */
	uint64_t batches;	/* kvm-userfault resolve ioctls */
	uint64_t exits;		/* kvm-userfault exit mode: KVM_RUN exits */
	uint64_t module_faults;	/* kvm-userfault: KVMUF_GET_INFO faults (-1 unknown) */
	uint64_t module_resolved;
	unsigned int threads;	/* serving threads that ran */
	/* kvm-userfault: where a missing page's time goes (see struct stages) */
	uint64_t queue_ns, serve_ns, resolve_ns, timed;	/* the server's view */
	struct kvmuf_stats module;	/* the module's counters (valid if have_module) */
	int have_module;
};

/* Mean per missing page, in us, of a kvm-userfault run; see report_stages_table(). */
struct stages {
	int valid;
	double queue_us;	/* fault -> consumed by a server thread */
	double serve_us;	/* consumed -> resolve ioctl started (fetch, install) */
	double resolve_us;	/* the resolve ioctl (RESOLVE_COPY: the copy too) */
	double wake_us;		/* resolve woke the vCPU -> it ran again (park modes) */
	double park_us;		/* the whole park: fault -> running again (park modes) */
	double spin_pct;	/* parks that ended while the vCPU still spun */
	double continued_pct;	/* parks followed by the mapping in the same exit */
};

/* Everything a backend needs for one run. */
struct run_ctx {
	const struct bench_opts *o;
	enum bench_mode mode;
	struct kvmuf_vm *vm;
	const struct kvmuf_snap *src;	/* source pages: the snapshot pattern */
	struct lat_rec *lat;		/* NULL: no latency for this mode */
	struct serve_counts counts;
	char err[256];			/* why setup or finish failed */
};

/* ---- userfaultfd (bench_uffd.c) ---- */

struct uffd_probe {
	int usable;			/* a uffd can be created and UFFDIO_API works */
	int minor_shmem;		/* UFFD_FEATURE_MINOR_SHMEM */
	char why[160];			/* if !usable / !minor_shmem */
};

void uffd_probe(struct uffd_probe *p);

struct uffd_run;
/* Register the test memory and start the readers (before the run). 0 / -1 (rc->err). */
int uffd_setup(struct run_ctx *rc, struct uffd_run **out);
/* Stop the readers, fill rc->counts. 0 / -1 (rc->err). */
int uffd_finish(struct run_ctx *rc, struct uffd_run *u);
void uffd_destroy(struct uffd_run *u);

/* ---- kvm-userfault (bench_kvmuf.c) ---- */

struct kv_probe {
	int usable;
	char why[160];
};

void kv_probe(struct kv_probe *p);

struct kv_run;
/* Attach (none-attached: nothing missing; park/exit: all missing + server). */
int kv_setup(struct run_ctx *rc, struct kv_run **out);
int kv_finish(struct run_ctx *rc, struct kv_run *k);
void kv_destroy(struct kv_run *k);

/* ---- KVM's binary statistics (bench_kvmstats.c) ---- */

/* Per-vCPU statistics looked up by name (kstat_names); summed over the vCPUs. */
enum kstat {
	KS_EXITS,		/* every VM exit */
	KS_PF_TAKEN,		/* page faults handled by KVM's MMU (stage 2 / TDP) */
	KS_PF_FIXED,		/* ... that installed a mapping */
	KS_PF_SPURIOUS,		/* ... that found it there already */
	KS_PF_FAST,		/* ... fixed on the lockless fast path */
	KS_PF_EMULATE,		/* ... that needed instruction emulation */
	KS_HALT_EXITS,
	KS_IO_EXITS,
	KS_MMIO_EXITS,
	KS_SIGNAL_EXITS,
	KS_INSN_EMULATION,	/* instructions KVM emulated */
	NR_KSTATS
};

extern const char *const kstat_names[NR_KSTATS];

struct kstats {
	int valid;		/* read (or computed) successfully */
	unsigned int have;	/* bit per enum kstat: this kernel has it */
	uint64_t v[NR_KSTATS];	/* sums over the vCPUs (0 if absent) */
};

struct kstats_reader;
/* Open every vCPU's stats fd and read the descriptors. 0, or -1 with err. */
int kstats_open(struct kvmuf_vm *vm, struct kstats_reader **out, char *err, size_t len);
/* Snapshot: the sums over the vCPUs now. 0, or -1 with err. */
int kstats_read(struct kstats_reader *r, struct kstats *sum, char *err, size_t len);
void kstats_close(struct kstats_reader *r);
/* d = after - before (invalid unless both are). */
void kstats_delta(const struct kstats *before, const struct kstats *after, struct kstats *d);

/* ---- results and reports (bench_report.c) ---- */

struct lat_summary {
	size_t n;			/* samples; 0: no latency */
	double p50_us, p99_us, max_us;
};

/* One run: one fresh VM for (mode, vCPU count, repetition). */
struct run_result {
	int done;			/* the run was attempted */
	int ok;				/* ran and every check passed */
	int completed;			/* every vCPU finished its pages */
	int guest_ok;			/* kvmuf_vm_check_results() passed */
	double seconds;			/* release .. all vCPUs joined */
	double *vcpu_seconds;		/* per vCPU */
	uint64_t pages;			/* pages of the test memory */
	uint64_t touched;		/* pages the guests report touching */
	uint64_t bad_pages;		/* verification failures */
	int served_mode;		/* the pages were served (uffd / kvmuf) */
	struct serve_counts counts;
	struct lat_summary lat;
	struct kstats kst;		/* KVM's counters over the run (kvmuf_vm_run) */
	char fail[256];			/* first failure, if !ok */
};

/* One (mode, vCPU count): its repetitions and their medians. */
struct cell {
	enum bench_mode mode;
	unsigned int vcpus;
	int ran;			/* at least one repetition attempted */
	int ok;				/* all repetitions ok */
	struct run_result *reps;
	/* medians over the ok repetitions (valid if nok > 0) */
	unsigned int nok;
	double seconds, per_vcpu_rate, overall_rate, per_vcpu_rate_mean;
	struct lat_summary lat;
	struct stages st;		/* medians over the ok repetitions */
	double vs_uffd;			/* overall / uffd-missing overall; 0: n/a */
	double vs_minor;		/* overall / uffd-minor overall; 0: n/a */
	int kst_rep;			/* the ok repetition with the median exits
					 * (the lower one of two); -1: no KVM stats */
};

struct host_info {
	char kernel[128];
	char cpu_model[128];
	long host_cpus;
	int hypervisor;
};

/* What --baseline read from an earlier run's JSON. */
/* The JSON format written, and its version (tools/bench/kvmuf-bench.schema.json). */
#define KVMUF_BENCH_FORMAT	"kvmuf-bench/2"

struct baseline {
	double rates[MAX_VCOUNTS];	/* `none` overall rate per -v entry; 0: absent */
	char backing[16], access[16], kernel[128];
	double bytes_per_vcpu;
	char desc[512];
};

struct bench {
	struct bench_opts o;
	struct host_info host;
	struct uffd_probe uffd;
	struct kv_probe kv;
	uint64_t pages_per_vcpu;
	const char *skip_why[NR_MODES];	/* non-NULL: mode requested but skipped */
	struct cell *cells;		/* [vcount index][mode] */
	/* checks */
	int pages_ok, verify_ok, served_ok, runs_ok;
	unsigned int none_warnings;
	int status;			/* exit status */
	/* none-attached vs none, per -v entry */
	double hook_pct[MAX_VCOUNTS];
	double hook_noise_pct[MAX_VCOUNTS];	/* the larger spread of none / none-attached */
	int hook_valid[MAX_VCOUNTS];
	char kst_why[192];		/* first reason KVM stats could not be read */
	int have_base;			/* --baseline read */
	struct baseline base;
};

static inline struct cell *bench_cell(struct bench *b, unsigned int vi,
				      enum bench_mode m)
{
	return &b->cells[vi * NR_MODES + m];
}

const char *mode_name(enum bench_mode m);
const char *thp_name(enum kvmuf_thp t);
const char *pinning_desc(const struct bench_opts *o);
int mode_is_served(enum bench_mode m);
int mode_needs_kvmuf(enum bench_mode m);
int mode_needs_uffd(enum bench_mode m);

void lat_summarize(struct lat_rec *l, struct lat_summary *s);
void cell_summarize(struct bench *b, struct cell *c);

void report_table(struct bench *b, FILE *f);
/* KVM's counters per page, a second table, with its legend. */
void report_kstats_table(struct bench *b, FILE *f);
/* kvm-userfault modes: where a missing page's time goes, a third table. */
void report_stages_table(struct bench *b, FILE *f);
/* Spread of the ok repetitions' overall rates around the median, in %: (max - min) / 2 / median. */
double cell_noise_pct(const struct bench *b, const struct cell *c);
/* Stage means of one run (valid if it is a kvm-userfault served mode with the counters). */
void run_stages(const struct run_result *r, struct stages *st);

/* Pin the calling thread to cpus[i % n]; n == 0: no-op. 0 or -errno. */
int pin_thread(const int *cpus, unsigned int n, unsigned int i);
/* shmem: fill the memfd's page cache with every source page through a second mapping. */
int fill_page_cache(struct run_ctx *rc);
int report_json(struct bench *b, const char *path);
int report_dat(struct bench *b, const char *path);

/*
 * Read the overall rate of mode `none` at each vCPU count from a JSON file
 * this tool wrote: base->rates[i] for vcpus[i] (0 if absent), and its
 * configuration.  Returns 0, or -1 with a message in err.
 */
int baseline_read(const char *path, const unsigned int *vcpus, unsigned int n,
		  struct baseline *base, char *err, size_t errlen);

#endif /* KVMUF_BENCH_H */
