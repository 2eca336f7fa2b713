/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvm-userfault: the ABI of /dev/kvm-userfault.
 *
 * The module lets a VMM, or a separate daemon it hands the device fd to, serve the
 * first touch of guest pages without userfaultfd: KVM stage-2 faults on GFNs marked
 * missing are reported through per-vCPU rings and resolved with batched ioctls.
 *
 * Life of an attachment
 *   fd = open("/dev/kvm-userfault")
 *   ioctl(fd, KVMUF_ATTACH, {vm_fd, mode, rings})   one VM per device fd
 *   ioctl(fd, KVMUF_ADD_RANGE, {gfn, npages})       the GFNs this VM may have missing
 *   ioctl(fd, KVMUF_SET_MISSING, batch)             (or KVMUF_RANGE_MISSING at add time)
 *   mmap(fd, 0, info.ring_stride * info.nr_rings)   the rings, read/write
 *   ... the fd may now be passed (SCM_RIGHTS) to a daemon, which polls it, reads
 *   ... ring entries and answers with KVMUF_RESOLVE / KVMUF_RESOLVE_COPY.
 *   close(fd)                                       detach (when the last reference goes)
 *
 * A VMM that hands the device fd to a daemon and closes its own keeps, if it needs to
 * wait for GFNs (exit mode), a waiter fd: waiter = ioctl(fd, KVMUF_WAITER, 0) returns a
 * new fd (close-on-exec) on which KVMUF_WAIT, KVMUF_GET_INFO and KVMUF_GET_STATS work,
 * and nothing else. It does not keep the VM attached: when the daemon's last reference
 * goes (it exits or dies), the VM detaches and KVMUF_WAIT on the waiter returns -ENODEV.
 *
 * Detach releases every parked vCPU. GFNs still missing then stay missing: a vCPU that
 * touches one gets an error exit naming the GFN (below), never a zero-filled page. The
 * VM's owner can then hand the state to a new page server: ATTACH with
 * KVMUF_ATTACH_ADOPT on a new device fd (below) brings back the same missing GFNs, with
 * every fault that was pending, or read from a ring but never resolved, due again.
 *
 * Only GFNs KVM has not mapped yet can fault: mark a GFN missing before the VM first
 * touches it, or discard its backing page afterwards (MADV_DONTNEED, hole punch) so KVM's
 * mapping is zapped.
 *
 * Life of a GFN of a managed range (each step one atomic operation on the GFN's bits;
 * the counts each ioctl returns say which step it took for how many GFNs):
 *
 *   present  --SET_MISSING, ADD_RANGE(MISSING)------------------------>  missing
 *   missing  --first vCPU fault: one ring entry----------------------->  notified
 *            (later faults on it, any vCPU: no entry, counted "deduped")
 *   notified --the entry could not be pushed (signal in a full-ring
 *              wait), or SET_MISSING again: parked vCPUs fault again-->  missing
 *   missing, notified --RESOLVE_COPY claims it--------------------->  installing
 *   installing --its copy done: data in, then the bit cleared--------->  present
 *   installing --its copy failed (-EFAULT): parked vCPUs fault again-->  missing
 *   missing, notified --RESOLVE (the caller put the data in place)--->  present
 *   notified --detach (or a takeover wait), then ATTACH(ADOPT): the rings get a new entry
 *              at the next fault on it------------------------------->  missing
 *
 *   SET_MISSING on a missing GFN, RESOLVE(_COPY) on a present one: "unchanged".
 *   RESOLVE(_COPY) on an installing GFN: "busy", left to the copy that holds it (its
 *   data may be half copied; that copy ends it either way).
 *   A vCPU on a missing or notified GFN parks (or exits) until it is present; making a
 *   GFN present wakes exactly the vCPUs parked on it, with the data visible to them.
 *   Who may move a GFN: ATTACH's caller and whoever holds the device fd (below).
 *
 * With the userfaultfd backstop (KVMUF_ADD_RANGE below) a page is installed with
 * UFFDIO_COPY (which never overwrites a present page) before RESOLVE, so "present" here
 * always means the page holds its data, and a page installed through userfaultfd first
 * is resolved without a copy.
 *
 * Versioning: KVMUF_GET_API_VERSION returns KVMUF_API_VERSION. A change that breaks the
 * layout of anything here bumps it. Additions use the reserved fields and flags, which
 * must be zero today (the module returns -EINVAL otherwise), so old binaries keep
 * working. Every struct has a fixed size and no implicit padding.
 *
 * Errors: -EINVAL bad flags, sizes or ranges; -EFAULT bad user pointers; -EBADF vm_fd
 * is not an open file; -ENOTTY unknown ioctl, or vm_fd is not a KVM VM; -EBUSY the VM or
 * the device fd is already attached; -ENODEV not attached (or detached); -ENOSPC too
 * many ranges; -EEXIST overlapping ranges; -EPERM ATTACH by a process that does not own
 * the VM; -ENOENT ATTACH(ADOPT) with no detached state to adopt; -EINTR a batch or an
 * adoption stopped by a signal.
 *
 * Authority: only the process that owns a VM (the one that created it, whose memory it
 * maps) may attach it, as KVM refuses VM ioctls from any other. The attached device fd
 * is then the capability: whoever holds it (a page server it was handed to) may
 * resolve, install and read the rings of that VM, and nothing else.
 */
#ifndef _UAPI_LINUX_KVM_USERFAULT_H
#define _UAPI_LINUX_KVM_USERFAULT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KVMUF_DEVICE_NAME	"kvm-userfault"
#define KVMUF_API_VERSION	1

#define KVMUF_PAGE_SHIFT	12	/* one bit of the missing bitmap per 4 KiB GFN */
#define KVMUF_PAGE_SIZE		(1ULL << KVMUF_PAGE_SHIFT)

/* Limits. */
#define KVMUF_MAX_RANGES	64	/* KVMUF_ADD_RANGE calls per VM */
#define KVMUF_MAX_BATCH		1024	/* elements per batched ioctl */
#define KVMUF_MIN_RING_ENTRIES	16
#define KVMUF_MAX_RING_ENTRIES	65536
#define KVMUF_MAX_VCPU_RINGS	4096
/* Ring memory per attach, all rings: KVMUF_RING_STRIDE(entries) * (nr_vcpu_rings + 1). */
#define KVMUF_MAX_RING_BYTES	(256ULL << 20)

/* ---- ioctls ------------------------------------------------------------------- */

/*
 * ioctl type byte. ioctl-number.rst gives 0xAF 00-1F to linux/fsl_hypervisor.h; the
 * numbers only have to be unique per file type, and ours are only valid on this device.
 */
#define KVMUF_IO		0xAF

/* Returns KVMUF_API_VERSION (>= 1) as the ioctl's return value; arg must be 0. */
#define KVMUF_GET_API_VERSION	_IO(KVMUF_IO, 0x00)
#define KVMUF_ATTACH		_IOW(KVMUF_IO, 0x01, struct kvmuf_attach)
#define KVMUF_GET_INFO		_IOR(KVMUF_IO, 0x02, struct kvmuf_info)
#define KVMUF_ADD_RANGE		_IOW(KVMUF_IO, 0x03, struct kvmuf_range)
#define KVMUF_SET_MISSING	_IOWR(KVMUF_IO, 0x04, struct kvmuf_batch)
#define KVMUF_RESOLVE		_IOWR(KVMUF_IO, 0x05, struct kvmuf_batch)
#define KVMUF_RESOLVE_COPY	_IOWR(KVMUF_IO, 0x06, struct kvmuf_copy_batch)
#define KVMUF_WAIT		_IOW(KVMUF_IO, 0x07, struct kvmuf_wait)
#define KVMUF_GET_STATS		_IOR(KVMUF_IO, 0x08, struct kvmuf_stats)
#define KVMUF_WAITER		_IO(KVMUF_IO, 0x09)
#define KVMUF_GET_MISSING	_IOWR(KVMUF_IO, 0x0a, struct kvmuf_missing_query)

/*
 * KVMUF_ATTACH: attach the device fd to a KVM VM.
 *
 * The caller must hold the VM fd (that is the authority); the module checks it is a
 * KVM VM file and holds a reference to the VM until detach. The mode decides what a
 * vCPU does on a missing GFN:
 *   park (default)   the fault is pushed to the vCPU's ring and the vCPU waits in the
 *                    kernel (a short adaptive spin, then asleep) until the GFN is
 *                    resolved; KVM then maps the page in the same exit (it faults again
 *                    only if the memslots changed meanwhile);
 *   KVMUF_ATTACH_EXIT the fault is pushed and KVM_RUN returns to the VMM at once (see
 *                    "Exits" below); the VMM resolves, or KVMUF_WAITs, and re-enters:
 *                    the guest faults again, so a missing page costs two exits.
 * Prefetch faults (KVM_PRE_FAULT_MEMORY, async page-fault completion) never wait: they
 * push the entry as a hint and fail with EAGAIN.
 *
 * Huge pages: while any GFN of a 2 MiB (1 GiB) frame of guest physical memory is
 * missing, KVM maps that frame with 4 KiB (2 MiB) pages only, even where the VMM's memory
 * is a transparent or hugetlb huge page, so the guest cannot reach a missing GFN without
 * a fault. Once the frame is complete, new faults may map it huge again.
 * vCPU i (KVM's vcpu_idx, i.e. creation order) uses ring i + 1 if i < nr_vcpu_rings,
 * else the shared VM ring 0.
 *
 * The ring memory (at most KVMUF_MAX_RING_BYTES, else -EINVAL) is charged to the memory
 * cgroup of the attaching task: an attach it cannot afford fails with -ENOMEM.
 *
 *   KVMUF_ATTACH_ADOPT take over the state the VM's last attachment left behind when its
 *                    device fd went with GFNs still missing (its page server died):
 *                    same ranges, same missing GFNs, same counters and the same rings,
 *                    so the mode and ring geometry must be the old ones (-EINVAL
 *                    otherwise). Entries the old consumer never read are still in the
 *                    rings (from the head it left); every notification is withdrawn,
 *                    so each missing GFN gets a new entry at the next fault on it, even
 *                    if its old one was read and never resolved. A GFN may so be
 *                    reported twice (resolving a present GFN changes nothing); none is
 *                    lost. No copy can be half done (a RESOLVE_COPY holds its fd).
 *                    Waiter fds of the old attachment wait again; but an exit-mode
 *                    vCPU waiting in KVMUF_WAIT across the adoption must be run again
 *                    once it is done (bound each KVMUF_WAIT): the fault it waits on may
 *                    be one the old consumer read, whose notification is withdrawn, and
 *                    only its next fault reports it. -ENOENT if the VM
 *                    has no such state, -EBUSY if it is attached; the VM's owner only,
 *                    as ATTACH.
 *
 *   KVMUF_ATTACH_TAKEOVER with takeover_ms: when the device fd's last reference goes
 *                    with GFNs still missing (the page server died), the VM does not
 *                    detach at once: for takeover_ms milliseconds vCPUs stay parked on
 *                    missing GFNs and new faults park too (exit mode: KVMUF_WAIT keeps
 *                    waiting), for a new page server that an ATTACH(ADOPT) brings in.
 *                    Without one in time, the VM detaches as it would have at once
 *                    (error exits). Checked at the module's reaper period
 *                    (reap_interval_ms, 1 s by default). An adoption repeats the flag
 *                    and gives the next takeover_ms.
 */
#define KVMUF_ATTACH_EXIT	(1U << 0)
#define KVMUF_ATTACH_ADOPT	(1U << 1)
#define KVMUF_ATTACH_TAKEOVER	(1U << 2)

struct kvmuf_attach {
	__s32 vm_fd;
	__u32 flags;		/* KVMUF_ATTACH_* */
	__u32 nr_vcpu_rings;	/* 0..KVMUF_MAX_VCPU_RINGS */
	__u32 ring_entries;	/* power of two, MIN..MAX_RING_ENTRIES */
	__u32 takeover_ms;	/* KVMUF_ATTACH_TAKEOVER: 1..KVMUF_MAX_TAKEOVER_MS; else 0 */
	__u32 reserved0;	/* must be zero */
	__u64 reserved[3];	/* must be zero */
};

#define KVMUF_MAX_TAKEOVER_MS	3600000U	/* an hour */

/*
 * KVMUF_GET_INFO: geometry of the rings and counters, for an attached fd. The counters
 * are also in struct kvmuf_stats, with more.
 */
struct kvmuf_info {
	__u32 api_version;
	__u32 flags;		/* the attach flags */
	__u32 nr_rings;		/* nr_vcpu_rings + 1 */
	__u32 ring_entries;
	__u64 ring_stride;	/* bytes from one ring to the next in the mapping */
	__u64 mmap_size;	/* nr_rings * ring_stride */
	__u64 nr_missing;	/* GFNs currently missing */
	__u64 faults;		/* notifications pushed to rings */
	__u64 deduped;		/* faults on a GFN already notified: no new entry */
	__u64 parks;		/* vCPU waits for a GFN (park mode) */
	__u64 exits;		/* KVM_RUN returns for a missing GFN */
	__u64 resolved;		/* GFNs turned present by RESOLVE / RESOLVE_COPY */
	__u64 ring_waits;	/* times a vCPU waited for room in a full ring */
	__u64 reserved[5];
};

#define KVMUF_PARK_HIST_BUCKETS	16

/*
 * KVMUF_GET_STATS: every counter of an attached fd, cumulative since attach. Times are
 * sums over all parks, in ns of CLOCK_MONOTONIC: divide by `parks` for a mean.
 */
struct kvmuf_stats {
	__u64 faults;		/* notifications pushed to rings */
	__u64 deduped;		/* faults on a GFN already notified: no new entry */
	__u64 parks;		/* vCPU waits for a GFN (park mode) */
	__u64 exits;		/* KVM_RUN returns for a missing GFN */
	__u64 resolved;		/* GFNs turned present by RESOLVE / RESOLVE_COPY */
	__u64 ring_waits;	/* times a vCPU waited for room in a full ring */
	__u64 park_ns;		/* time vCPUs spent parked (spinning or asleep) */
	__u64 wake_ns;		/* time from the resolve that woke a parked vCPU until it ran */
	__u64 spin_hits;	/* parks that ended while the vCPU was still spinning */
	__u64 continued;	/* parks after which KVM mapped the page in the same exit */
	__u64 clamped;		/* faults mapped at 4 KiB (or 2 MiB) because a GFN of their
				 * 2 MiB (1 GiB) frame was missing */
	__u64 recoveries_skipped; /* in-place huge-page recoveries of a memslot skipped
				   * because GFNs of it were missing (7.2) */
	/*
	 * Parks by how long they lasted, powers of two of microseconds: [0] under 1 us,
	 * [i] from 2^(i-1) to 2^i us, [KVMUF_PARK_HIST_BUCKETS - 1] 2^14 us (16 ms) and more.
	 */
	__u64 park_hist[KVMUF_PARK_HIST_BUCKETS];
	__u64 reserved[4];
};

/*
 * KVMUF_ADD_RANGE: declare GFNs [gfn, gfn + npages) as managed; the module keeps one
 * bit per GFN. Ranges may not overlap; any memslot layout works (a range need not match
 * a memslot). With KVMUF_RANGE_MISSING every GFN of the range starts missing.
 *
 * What is guaranteed, and by whom. The module holds the vCPUs' stage-2 faults on missing
 * GFNs (and never lets KVM map a huge page over one). Everything else that reaches guest
 * memory goes through the VMM's page tables: KVM's instruction emulator (string I/O,
 * MMIO to or from RAM), its walks of the guest's page tables, its pfn caches (kvmclock,
 * Xen pages), gfn_to_hva caches (steal time, async PF, PV EOI), kvm_vcpu_map (nested
 * state), SMM, and the VMM's own device emulation and vhost. Those are guarded by a
 * userfaultfd on the guest memory (the backstop: libkvmuf's kvmuf_backstop.h and page
 * engine), so:
 *   - by default a range must be backed by memory registered with userfaultfd (MISSING,
 *     or MINOR for shmem/hugetlbfs whose page cache holds every page): ADD_RANGE and
 *     SET_MISSING check every memslot page of the GFNs they make missing, and refuse
 *     with -EINVAL (and a kernel log line naming the memslot and address) if one is
 *     not. GFNs that no memslot backs at that time are not checked: a VMM that adds or
 *     moves a memslot under a range registers it first. The check is made then; a VMM
 *     that unregisters later loses the guarantee.
 *     Every access to a missing page then waits until the page is installed (with
 *     UFFDIO_COPY, which never overwrites a present page, then KVMUF_RESOLVE): nobody
 *     sees anything but the page's data.
 *   - KVMUF_RANGE_MODULE_ONLY: no such check. Only vCPU stage-2 faults are held; any
 *     other access to a missing page sees a zero page (reads) or writes into a fresh
 *     one that the later install overwrites. For a VMM that can show none of the paths
 *     above touches missing memory (no PV MSRs, no emulated access to RAM, no device
 *     emulation on it), and for benchmarks.
 */
#define KVMUF_RANGE_MISSING	(1U << 0)
#define KVMUF_RANGE_MODULE_ONLY	(1U << 1)	/* no userfaultfd backstop: see above */

struct kvmuf_range {
	__u64 gfn;
	__u64 npages;		/* > 0 */
	__u32 flags;		/* KVMUF_RANGE_* */
	__u32 reserved0;	/* must be zero */
	__u64 reserved[2];	/* must be zero */
};

/*
 * KVMUF_SET_MISSING / KVMUF_RESOLVE: a batch of GFN ranges, each inside a managed
 * range. RESOLVE clears the bits and wakes exactly the vCPUs parked on them (the
 * caller has installed the data already, e.g. written it through its own MAP_SHARED
 * mapping of the guest memfd). A GFN already in the requested state is harmless: it is
 * counted in `unchanged`.
 *
 * KVMUF_RESOLVE_POPULATE (RESOLVE only): before the bits are cleared, map the pages in
 * the VMM's page tables (writable where its mapping is shared and writable), as
 * UFFDIO_CONTINUE does: the woken vCPU then finds them mapped, and that work is done by
 * the resolving thread (the daemon's CPU) rather than the vCPU. A page that cannot be
 * mapped now is still resolved; the vCPU maps it itself.
 */
#define KVMUF_RESOLVE_POPULATE	(1U << 0)
struct kvmuf_gfn_range {
	__u64 gfn;
	__u64 npages;
};

struct kvmuf_batch {
	__u64 ranges;		/* user pointer to struct kvmuf_gfn_range[nr] */
	__u32 nr;		/* 1..KVMUF_MAX_BATCH */
	__u32 flags;		/* RESOLVE: KVMUF_RESOLVE_*; SET_MISSING: zero */
	__u64 changed;		/* out: GFNs whose state changed */
	__u64 unchanged;	/* out: GFNs already in that state */
	__u64 busy;		/* out: RESOLVE: GFNs a RESOLVE_COPY holds (left to it) */
	__u64 reserved[1];	/* must be zero */
};

/*
 * KVMUF_RESOLVE_COPY: the UFFDIO_COPY equivalent for anonymous guest memory. For each
 * element, if the GFNs are still missing, copy npages * 4 KiB from the caller's buffer
 * `src` into the VM's memory at gfn (the VMM's address space, allocating the pages),
 * then resolve them. src must be 4 KiB aligned. GFNs not missing are left untouched
 * (never overwritten) and counted in `unchanged`. Module-only ranges: on memory
 * registered with userfaultfd the copy fails with -EFAULT (it cannot wait in
 * userfaultfd); under the backstop, install with UFFDIO_COPY, then KVMUF_RESOLVE.
 */
struct kvmuf_copy {
	__u64 gfn;
	__u64 npages;
	__u64 src;		/* user address in the caller's process */
};

struct kvmuf_copy_batch {
	__u64 copies;		/* user pointer to struct kvmuf_copy[nr] */
	__u32 nr;		/* 1..KVMUF_MAX_BATCH */
	__u32 flags;		/* must be zero */
	__u64 changed;		/* out: GFNs copied and resolved */
	__u64 unchanged;	/* out: GFNs that were not missing (nothing copied) */
	__u64 busy;		/* out: GFNs another RESOLVE_COPY holds (left to it) */
	__u64 reserved[1];	/* must be zero */
};

/*
 * KVMUF_WAIT: sleep until `gfn` is not missing (returns 0), the timeout expires
 * (-ETIMEDOUT), a signal arrives (-EINTR) or the fd detaches (-ENODEV). For exit mode:
 * the VMM waits for the daemon before re-entering KVM_RUN.
 */
struct kvmuf_wait {
	__u64 gfn;
	__u32 timeout_ms;	/* 0: no timeout */
	__u32 flags;		/* must be zero */
	__u64 reserved[2];	/* must be zero */
};

/*
 * KVMUF_GET_MISSING: which GFNs of [gfn, gfn + npages) are missing now, for a page server
 * that must not fetch what is there already: one that took over from another
 * (KVMUF_ATTACH_ADOPT), or prefetches. The range must lie inside one managed range
 * (-EINVAL otherwise; npages >= 1). Bit i of the answer (bit i % 64 of the u64 at
 * bitmap + 8 * (i / 64), in the caller's memory: (npages + 63) / 64 of them) is set if
 * GFN gfn + i is missing; `missing` counts them. A snapshot: a GFN reported missing may
 * be resolved meanwhile (its install then changes nothing), one reported present stays
 * so unless the VMM makes it missing again (KVMUF_SET_MISSING). Large queries are
 * preemptible and interruptible (-EINTR, nothing reported). Also on a waiter fd.
 */
struct kvmuf_missing_query {
	__u64 gfn;
	__u64 npages;
	__u64 bitmap;		/* user address, 8-byte aligned */
	__u64 missing;		/* out: GFNs reported missing */
	__u64 reserved[2];	/* must be zero */
};

/* ---- rings -------------------------------------------------------------------- */

/*
 * The mapping at offset 0 of the device fd holds nr_rings rings, ring_stride bytes
 * apart: ring 0 is the VM ring, ring i + 1 belongs to vCPU i. Each ring is one header
 * page followed by ring_entries entries.
 *
 * Indexes are free-running __u32 counters; the entry of index n is entries[n & (size-1)].
 * The kernel produces: it writes an entry, then store-releases `tail`. The consumer
 * load-acquires `tail`, reads entries [head, tail), then store-releases `head`, which
 * gives the slots back. A vCPU ring has one producer (its vCPU) and must have one
 * consumer thread at a time; the VM ring has many producers (serialised in the kernel)
 * and one consumer. A full ring makes the faulting vCPU wait (until a resolve or
 * detach), it never drops a fault.
 *
 * Wakeups: poll()/epoll on the device fd reports EPOLLIN when a ring holds entries,
 * and EPOLLHUP once the VM has no other user (the VMM is gone). Producers only wake a
 * consumer that went to sleep in poll() (the kernel's need-wakeup flag, shown in
 * `need_wakeup` of ring 0), so a consumer that busy-polls the rings takes no wakeups.
 */
#define KVMUF_VM_RING		0xffffffffU	/* kvmuf_ring_header.vcpu of ring 0 */

struct kvmuf_ring_header {
	__u32 head;		/* consumer index: written by userspace */
	__u32 pad0[15];		/* head and tail on separate cache lines */
	__u32 tail;		/* producer index: written by the kernel */
	__u32 entries;		/* ring size, power of two */
	__u32 vcpu;		/* vCPU index of this ring, or KVMUF_VM_RING */
	__u32 need_wakeup;	/* ring 0 only: a consumer sleeps in poll() */
	/*
	 * Exits: when a missing GFN makes this vCPU's KVM_RUN return, KVM_RUN fails with
	 * EFAULT and kvm_run has exit_reason KVM_EXIT_MEMORY_FAULT (39) and memory_fault
	 * {flags, gpa, size}: KVM fills it on 6.8+, the module on older kernels (same
	 * layout, at the start of kvm_run's exit union). The module also writes the GFN
	 * here before returning (then increments exit_seq).
	 * KVMUF_EXIT_DETACHED tells that nobody will resolve the GFN any more. vCPUs
	 * without a ring of their own share ring 0's record, which then only names the
	 * latest such exit: read kvm_run.memory_fault for them where the kernel has it.
	 */
	__u64 exit_gfn;
	__u32 exit_flags;	/* KVMUF_FAULT_* | KVMUF_EXIT_DETACHED */
	__u32 exit_seq;
	__u32 pad1[8];
};

/* kvmuf_fault.flags and kvmuf_ring_header.exit_flags */
#define KVMUF_FAULT_READ	(1U << 0)
#define KVMUF_FAULT_WRITE	(1U << 1)
#define KVMUF_FAULT_EXEC	(1U << 2)
#define KVMUF_EXIT_DETACHED	(1U << 8)

struct kvmuf_fault {
	__u64 gfn;
	__u64 time_ns;		/* CLOCK_MONOTONIC when the fault was raised */
	__u32 vcpu;		/* vCPU index, or KVMUF_VM_RING */
	__u32 flags;		/* KVMUF_FAULT_* */
	__u64 reserved;
};

#define KVMUF_RING_HEADER_SIZE	4096ULL
/* Bytes one ring takes in the mapping (4 KiB pages; the module uses PAGE_SIZE == 4 KiB). */
#define KVMUF_RING_STRIDE(entries) \
	(KVMUF_RING_HEADER_SIZE + \
	 ((((__u64)(entries)) * sizeof(struct kvmuf_fault) + 4095ULL) & ~4095ULL))

#endif /* _UAPI_LINUX_KVM_USERFAULT_H */
