// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest thp: huge pages behind guest memory never expose a missing GFN.
 *
 * The test memory is two 2 MiB frames (1024 pages), all missing. In each backing below
 * the host ends up with a huge page behind frame 0 once one page of it was served (the
 * case checks that it really did: otherwise it proves nothing). KVM would then map the
 * whole frame with one 2 MiB SPTE and the guest would read the other 511 pages, zero,
 * without a fault. The case checks that:
 *   - the guest reads every other page of the frame as its own data (guest page sums),
 *     each page after a fault of its own (the module counted one notification per page);
 *   - the guest's writes, to served pages and to missing ones, survive a later install
 *     of the whole memory (a "prefetch"), and every byte on the host equals its source.
 *
 * Backings: anonymous memory with MADV_HUGEPAGE (what QEMU does), anonymous with THP
 * "always" and no madvise (Debian's default), anonymous collapsed by MADV_COLLAPSE after
 * pages were served at 4 KiB, a memfd with shmem huge pages "always" and "advise", and
 * anonymous memory whose memslot toggles dirty logging (7.2 then rebuilds huge SPTEs in
 * place, with no fault at all, unless the module stops it).
 */
#define _GNU_SOURCE
#include "env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "check.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define PAGES		1024	/* two 2 MiB frames */
#define FRAME		512
#define WRITE_SEED	0x77777777deadbeefULL

#define THP_ENABLED	"/sys/kernel/mm/transparent_hugepage/enabled"
#define SHMEM_ENABLED	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

enum thp_case { ANON_MADVISE, ANON_ALWAYS, ANON_COLLAPSE, MEMFD_ALWAYS, MEMFD_ADVISE,
		ANON_DIRTY_LOG };

static const struct {
	const char *name;
	enum kvmuf_backing backing;
	enum kvmuf_thp thp;
	const char *sysfs, *value;	/* THP setting the case needs, or NULL */
} cases[] = {
	[ANON_MADVISE]	 = { "anon, MADV_HUGEPAGE", KVMUF_MEM_ANON, KVMUF_THP_MADVISE,
			     THP_ENABLED, "madvise" },
	[ANON_ALWAYS]	 = { "anon, THP always", KVMUF_MEM_ANON, KVMUF_THP_SYSTEM,
			     THP_ENABLED, "always" },
	[ANON_COLLAPSE]	 = { "anon, MADV_COLLAPSE after 4 KiB installs", KVMUF_MEM_ANON,
			     KVMUF_THP_NEVER, THP_ENABLED, "madvise" },
	[MEMFD_ALWAYS]	 = { "memfd, shmem huge=always", KVMUF_MEM_MEMFD, KVMUF_THP_SYSTEM,
			     SHMEM_ENABLED, "always" },
	[MEMFD_ADVISE]	 = { "memfd, shmem huge=advise + MADV_HUGEPAGE", KVMUF_MEM_MEMFD,
			     KVMUF_THP_MADVISE, SHMEM_ENABLED, "advise" },
	[ANON_DIRTY_LOG] = { "anon, MADV_HUGEPAGE, dirty logging on and off", KVMUF_MEM_ANON,
			     KVMUF_THP_MADVISE, THP_ENABLED, "madvise" },
};

/* Serve a few pages of frame 0 at 4 KiB, then collapse the frame into a huge page. */
static int collapse_frame0(struct ft_env *e)
{
	char *hva = e->mem->hva;

	if (ft_guest_sums(e, "before the collapse", 0, 10) != 0)
		return -1;
	if (ft_huge_kb(e) != 0) {
		fprintf(stderr, "FAIL: a huge page before the collapse\n");
		return -1;
	}
	if (madvise(hva, FRAME * KVMUF_PAGE_SIZE, MADV_HUGEPAGE) ||
	    madvise(hva, FRAME * KVMUF_PAGE_SIZE, MADV_COLLAPSE)) {
		fprintf(stderr, "FAIL: MADV_COLLAPSE of frame 0: %s\n", strerror(errno));
		return -1;
	}
	/* The collapse zapped KVM's 4 KiB mappings: the served pages fault again. */
	return ft_guest_sums(e, "after the collapse, the pages served before", 0, 10) ? -1 : 0;
}

static int toggle_dirty_logging(struct ft_env *e)
{
	int ret = kvmuf_vm_update_test_slot(e->vm, e->mem->gpa, KVM_MEM_LOG_DIRTY_PAGES, 0);

	if (!ret)
		ret = kvmuf_vm_update_test_slot(e->vm, e->mem->gpa, 0, 0);
	if (ret)
		fprintf(stderr, "FAIL: dirty logging on and off: %s\n", strerror(-ret));
	return ret;
}

/* 6.13+ rebuild huge SPTEs in place when dirty logging stops (kvm_mmu_recover_huge_pages). */
static int kernel_recovers_in_place(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return 0;
	return major > 6 || (major == 6 && minor >= 13);
}

static void run_case(enum thp_case c, uint64_t *first_served)
{
	struct ft_config cfg = {
		.backing = cases[c].backing, .thp = cases[c].thp, .pages = PAGES,
	};
	struct kvmuf_stats st, st0;
	char old[128] = "";
	struct ft_env e;
	long huge, bad;
	int before = failures;

	if (ft_sysfs_set(cases[c].sysfs, cases[c].value, old, sizeof(old))) {
		CHECK(0, "%s: cannot set %s to %s", cases[c].name, cases[c].sysfs, cases[c].value);
		return;
	}
	if (ft_env_create(&e, &cfg)) {
		CHECK(0, "%s: setup", cases[c].name);
		goto out_sysfs;
	}

	/* One page of frame 0 in: the host backs the frame with a huge page. */
	if (c == ANON_COLLAPSE) {
		CHECK(collapse_frame0(&e) == 0, "%s: collapse", cases[c].name);
		*first_served = 10;
	} else {
		CHECK(ft_guest_sums(&e, cases[c].name, 0, 1) == 0, "%s: page 0", cases[c].name);
		*first_served = 1;
	}
	huge = ft_huge_kb(&e);
	CHECK(huge >= 2048, "%s: no huge page behind frame 0 (%ld kB): the case proves nothing",
	      cases[c].name, huge);
	if (c == ANON_DIRTY_LOG)
		CHECK(toggle_dirty_logging(&e) == 0, "%s", cases[c].name);
	if (failures != before)
		goto out;

	/* The rest of frame 0: each page its own data, after a fault of its own. */
	CHECK(ft_stats(&e, &st0) == 0, "stats");
	bad = ft_guest_sums(&e, cases[c].name, *first_served, FRAME - *first_served);
	CHECK(bad == 0, "%s: %ld pages of the huge frame read wrong", cases[c].name, bad);
	CHECK(ft_stats(&e, &st) == 0, "stats");
	CHECK(st.faults - st0.faults == FRAME - *first_served,
	      "%s: %llu notifications for the %llu missing pages of frame 0", cases[c].name,
	      (unsigned long long)(st.faults - st0.faults),
	      (unsigned long long)(FRAME - *first_served));
	CHECK(st.clamped > 0, "%s: no fault was held to 4 KiB", cases[c].name);

	/* Writes to present (2, 3) and missing (512, 513) pages, then install everything. */
	CHECK(ft_guest_write(&e, 2, 2, WRITE_SEED) == 0, "%s: write present", cases[c].name);
	CHECK(ft_guest_write(&e, FRAME, 2, WRITE_SEED) == 0, "%s: write missing", cases[c].name);
	CHECK(ft_serve(&e, 0, PAGES) == 0, "%s: install all pages", cases[c].name);
	bad = ft_guest_sums(&e, "after installing all pages", 0, PAGES);
	CHECK(bad == 0, "%s: %ld pages read wrong after installing all", cases[c].name, bad);
	CHECK(ft_host_compare(&e, cases[c].name) == 0, "%s: host memory", cases[c].name);
	CHECK(ft_stats(&e, &st) == 0, "stats");
	CHECK(atomic_load(&e.errors) == 0, "%s: server errors", cases[c].name);
	if (c == ANON_DIRTY_LOG && kernel_recovers_in_place())
		CHECK(st.recoveries_skipped > 0, "%s: the in-place huge-page recovery was not stopped",
		      cases[c].name);
	if (failures == before)
		printf("ok: %s: %ld kB huge behind frame 0; %llu faults, %llu held to 4 KiB, %llu continued in the same exit, %llu huge-page recoveries skipped\n",
		       cases[c].name, huge, (unsigned long long)st.faults,
		       (unsigned long long)st.clamped, (unsigned long long)st.continued,
		       (unsigned long long)st.recoveries_skipped);
out:
	ft_env_destroy(&e);
out_sysfs:
	ft_sysfs_restore(cases[c].sysfs, old);
}

int ft_case_thp(int argc, char **argv)
{
	uint64_t first_served;

	(void)argc;
	(void)argv;
	if (access(THP_ENABLED, W_OK)) {
		printf("SKIP: %s: %s (a kernel without transparent huge pages)\n", THP_ENABLED,
		       strerror(errno));
		return 77;
	}
	for (unsigned int c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		run_case(c, &first_served);
	return failures ? 1 : 0;
}
