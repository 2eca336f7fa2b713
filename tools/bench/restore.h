/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvmuf-restore-bench: a snapshot restore from one page source, served by kvm-userfault
 * (module + userfaultfd backstop) or by userfaultfd alone, through the same page engine
 * with the same plan (readahead, prefetch, replay). Shared by kvmuf-restore-bench.c (the
 * runs) and restore_report.c (table, JSON, gnuplot data).
 */
#ifndef KVMUF_RESTORE_H
#define KVMUF_RESTORE_H

#include <stdint.h>
#include <stdio.h>

#define PROG		"kvmuf-restore-bench"
#define RESTORE_FORMAT	"kvmuf-restore-bench/1"
#define MAX_REPS	100

enum rb_system { SYS_KVMUF, SYS_UFFD, NR_SYSTEMS };

struct rb_opts {
	const char *source;		/* file or NBD URI */
	const char *label;		/* e.g. "5ms" */
	const char *json_path, *dat_path;
	unsigned int vcpus;
	uint64_t bytes_per_vcpu;
	unsigned int ws_percent;	/* of each vCPU's region the guest touches */
	unsigned int threads;		/* engine workers */
	unsigned int prefetch;		/* prefetch threads; > 0: a sweep of all memory */
	uint64_t prefetch_rate;		/* pages/s; 0: no limit */
	unsigned int readahead;
	unsigned int reps;
	unsigned int systems;		/* bit per enum rb_system */
	unsigned int timeout_s;		/* per run; 0: none */
	int quiet;
};

/* One run: what the guest and the engine did. */
struct rb_rep {
	double ws_s;			/* release of the vCPUs .. last one done */
	double all_present_s;		/* engine start .. every page in; < 0: never */
	uint64_t demand, readahead, prefetched, replayed, joined;
	uint64_t ring_faults, uffd_faults;
	uint64_t faults_timed;		/* ring faults with a latency (kvmuf) */
	double p50_us, p99_us;		/* < 0 without timed faults */
	uint64_t pages_checked;		/* compared with the snapshot, all equal */
};

/* One (system, replay) row of the table. */
struct rb_result {
	enum rb_system sys;
	int replay;
	int ran;			/* 0: skipped, see skip_why */
	const char *skip_why;
	unsigned int nreps;
	struct rb_rep reps[MAX_REPS];
};

/* Everything the report needs. */
struct rb_report {
	const struct rb_opts *o;
	const char *source_kind;	/* "file" or "nbd" */
	uint64_t total_pages, ws_pages;	/* guest memory; touched by the guest, all vCPUs */
	size_t replay_pages;		/* the recorded working set; 0: none */
	const char *sys_skip[NR_SYSTEMS];	/* why a system cannot run here, or NULL */
	struct rb_result res[NR_SYSTEMS * 2];	/* [sys * 2 + replay] */
	int nres;
	int ok;
};

const char *rb_system_name(enum rb_system s);

/* Medians over a result's reps (all_present/p50/p99: over the reps that have one; < 0: none). */
struct rb_median {
	double ws_s, all_present_s, p50_us, p99_us;
	double demand, prefetched, replayed, faults;
};
void rb_median(const struct rb_result *r, struct rb_median *m);

void rb_print_table(FILE *f, const struct rb_report *rep);
/* 0, or -1 with a message on stderr. */
int rb_write_json(const char *path, const struct rb_report *rep);
int rb_append_dat(const char *path, const struct rb_report *rep);

#endif /* KVMUF_RESTORE_H */
