/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel definitions module/ring.h and module/ranges.h use, for userspace, so
 * that the unit tests compile the module's very code. Barriers and bit operations are
 * __atomic builtins, which ThreadSanitizer understands:
 *   smp_load_acquire / smp_store_release   acquire / release
 *   READ_ONCE / WRITE_ONCE                 relaxed atomic load / store
 *   set_bit / clear_bit / change_bit       relaxed atomic RMW (the kernel's are unordered)
 *   test_and_set_bit / test_and_clear_bit  sequentially consistent RMW (fully ordered)
 *   test_bit                               relaxed atomic load
 *   atomic_read / atomic_add               relaxed atomic load / RMW (as the kernel's)
 *   atomic_long_{andnot,fetch_or,...}      RMW with the kernel's ordering: the plain and
 *                                          fetch_ forms fully ordered (non-fetch andnot
 *                                          relaxed), _acquire / _release as named
 */
#ifndef KVMUF_KSHIM_H
#define KVMUF_KSHIM_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

#define smp_load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v)		__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define READ_ONCE(x)			__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)		__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define smp_mb()			__atomic_thread_fence(__ATOMIC_SEQ_CST)

#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define BITS_PER_LONG			(sizeof(long) * CHAR_BIT)
#define BIT_WORD(nr)			((nr) / BITS_PER_LONG)
#define BIT_MASK(nr)			(1UL << ((nr) % BITS_PER_LONG))
#define BITS_TO_LONGS(nr)		(((nr) + BITS_PER_LONG - 1) / BITS_PER_LONG)
/* The kernel's clamp under speculation; the tests check the architectural value. */
#define array_index_nospec(i, n)	((i) < (n) ? (i) : 0)

static inline bool test_bit(unsigned long nr, const volatile unsigned long *addr)
{
	return (__atomic_load_n(&addr[BIT_WORD(nr)], __ATOMIC_RELAXED) & BIT_MASK(nr)) != 0;
}

static inline void set_bit(unsigned long nr, volatile unsigned long *addr)
{
	__atomic_fetch_or(&addr[BIT_WORD(nr)], BIT_MASK(nr), __ATOMIC_RELAXED);
}

static inline void clear_bit(unsigned long nr, volatile unsigned long *addr)
{
	__atomic_fetch_and(&addr[BIT_WORD(nr)], ~BIT_MASK(nr), __ATOMIC_RELAXED);
}

static inline void change_bit(unsigned long nr, volatile unsigned long *addr)
{
	__atomic_fetch_xor(&addr[BIT_WORD(nr)], BIT_MASK(nr), __ATOMIC_RELAXED);
}

static inline bool test_and_set_bit(unsigned long nr, volatile unsigned long *addr)
{
	return (__atomic_fetch_or(&addr[BIT_WORD(nr)], BIT_MASK(nr), __ATOMIC_SEQ_CST) &
		BIT_MASK(nr)) != 0;
}

static inline bool test_and_clear_bit(unsigned long nr, volatile unsigned long *addr)
{
	return (__atomic_fetch_and(&addr[BIT_WORD(nr)], ~BIT_MASK(nr), __ATOMIC_SEQ_CST) &
		BIT_MASK(nr)) != 0;
}

typedef struct {
	int counter;
} atomic_t;

static inline int atomic_read(const atomic_t *v)
{
	return __atomic_load_n(&v->counter, __ATOMIC_RELAXED);
}

static inline void atomic_add(int i, atomic_t *v)
{
	__atomic_fetch_add(&v->counter, i, __ATOMIC_RELAXED);
}

typedef struct {
	long counter;
} atomic_long_t;

static inline void atomic_long_andnot(long i, atomic_long_t *v)
{
	__atomic_fetch_and(&v->counter, ~i, __ATOMIC_RELAXED);
}

static inline long atomic_long_fetch_or(long i, atomic_long_t *v)
{
	return __atomic_fetch_or(&v->counter, i, __ATOMIC_SEQ_CST);
}

static inline long atomic_long_fetch_or_acquire(long i, atomic_long_t *v)
{
	return __atomic_fetch_or(&v->counter, i, __ATOMIC_ACQUIRE);
}

static inline long atomic_long_fetch_andnot(long i, atomic_long_t *v)
{
	return __atomic_fetch_and(&v->counter, ~i, __ATOMIC_SEQ_CST);
}

static inline long atomic_long_fetch_andnot_release(long i, atomic_long_t *v)
{
	return __atomic_fetch_and(&v->counter, ~i, __ATOMIC_RELEASE);
}

#define hweight_long(w)			((unsigned int)__builtin_popcountl(w))
#define hweight64(w)			((unsigned int)__builtin_popcountll(w))
#define BITMAP_FIRST_WORD_MASK(start)	(~0UL << ((start) & (BITS_PER_LONG - 1)))
#define BITMAP_LAST_WORD_MASK(nbits)	(~0UL >> (-(nbits) & (BITS_PER_LONG - 1)))

#include <kvmuf/kvm_userfault.h>

#include "ring.h"
#include "ranges.h"
#include "gfnruns.h"

#endif /* KVMUF_KSHIM_H */
