// SPDX-License-Identifier: GPL-2.0
/*
 * kvmuf-faulttest CASE: in-guest tests of the module's fault path against real nested
 * KVM guests (needs kvm_userfault loaded and root):
 *   thp        huge pages behind guest memory never expose a missing GFN
 *   memslot    memslot DELETE / MOVE under a parked vCPU complete
 *   prefault   KVM_PRE_FAULT_MEMORY on a missing GFN does not park
 *   access     with the userfaultfd backstop, KVM's and the VMM's own accesses to
 *              missing pages see their data
 *   teardown   the final close and the reaper never both free a VM state
 *   ringmem    ring memory is charged to the caller's memory cgroup, cleanly refused
 *   fuzz       random ioctls and mmaps while a vCPU faults; the VM completes afterwards
 *   bigbatch   the largest batch stops at a signal
 *   races      RESOLVE, RESOLVE_COPY and SET_MISSING racing keep the counts exact
 *   ringsig    signals during parks and full-ring waits never strand a vCPU
 *   adopt      a new page server adopts the state a dead one left: no fault lost
 * Exit status: 0 pass, 1 fail, 2 usage, 77 skip.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "env.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} ft_cases[] = {
	{ "thp", ft_case_thp },
	{ "memslot", ft_case_memslot },
	{ "prefault", ft_case_prefault },
	{ "access", ft_case_access },
	{ "teardown", ft_case_teardown },
	{ "ringmem", ft_case_ringmem },
	{ "fuzz", ft_case_fuzz },
	{ "bigbatch", ft_case_bigbatch },
	{ "races", ft_case_races },
	{ "ringsig", ft_case_ringsig },
	{ "adopt", ft_case_adopt },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2) {
		for (size_t i = 0; i < sizeof(ft_cases) / sizeof(ft_cases[0]); i++)
			if (!strcmp(argv[1], ft_cases[i].name))
				return ft_cases[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "usage: kvmuf-faulttest thp|memslot|prefault|access|teardown|ringmem|fuzz|bigbatch|races|ringsig|adopt\n");
	return 2;
}
