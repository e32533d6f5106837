/*
 * test_remap.c - vm_remap: return codes, placement (hint, mask, fixed),
 * source rounding, sharing and copying within and across tasks, sources
 * that span several entries, and sources in special states (untouched,
 * needs_copy after a fork, wired).
 *
 * A failing remap must change nothing: every error case compares the maps
 * of both tasks and the host counters before and after the call.
 */
#include <stdlib.h>
#include "harness.h"
#include "util.h"

#define RW   (VM_PROT_READ | VM_PROT_WRITE)
#define RX   (VM_PROT_READ | VM_PROT_EXECUTE)

/* ---- helpers ----------------------------------------------------------- */

/*
 * The whole observable state around a remap: both maps (with their task
 * counters) and the host counters.
 */
struct world {
	task_t task[2];
	util_snap_t snap[2];
	machvm_host_stats_t host;
};

static void world_take(struct world *w, task_t a, task_t b)
{
	memset(w, 0, sizeof *w);
	w->task[0] = a;
	w->task[1] = b;
	for (int i = 0; i < 2; i++)
		if (machvm_task_alive(w->task[i]))
			w->snap[i] = util_snapshot(w->task[i]);
	w->host = util_host_stats();
}

static void world_free(struct world *w)
{
	for (int i = 0; i < 2; i++)
		util_snap_free(&w->snap[i]);
}

static void world_same(const struct world *before, const char *file, int line)
{
	struct world after;
	char why[256];
	world_take(&after, before->task[0], before->task[1]);
	for (int i = 0; i < 2; i++) {
		if (!machvm_task_alive(before->task[i]))
			continue;
		if (util_snap_diff(&before->snap[i], &after.snap[i], why, sizeof why))
			harness_fail(file, line, "failed vm_remap changed task %u: %s",
			             (unsigned)before->task[i], why);
	}
	const machvm_host_stats_t *x = &before->host, *y = &after.host;
#define HOST_FIELD(f)                                                   \
	if (x->f != y->f)                                               \
		harness_fail(file, line, "failed vm_remap changed host %s: %llu -> %llu", \
		             #f, (unsigned long long)x->f, (unsigned long long)y->f);
	HOST_FIELD(tasks) HOST_FIELD(entries) HOST_FIELD(objects)
	HOST_FIELD(resident_pages) HOST_FIELD(wired_pages) HOST_FIELD(virtual_size)
	HOST_FIELD(faults) HOST_FIELD(zero_fill_faults) HOST_FIELD(cow_faults)
	HOST_FIELD(shadows_created) HOST_FIELD(collapses) HOST_FIELD(bypasses)
	HOST_FIELD(pages_copied)
#undef HOST_FIELD
	world_free(&after);
}

/*
 * vm_remap must return want and leave both tasks and the host exactly as
 * they were.
 */
#define REMAP_FAILS(want, tt, taddr, size, mask, anywhere, st, saddr, copy, inh) \
	remap_fails(__FILE__, __LINE__, (want), (tt), (taddr), (size), (mask), \
	            (anywhere), (st), (saddr), (copy), (inh))
static void remap_fails(const char *file, int line, kern_return_t want,
                        task_t tt, vm_address_t taddr, vm_size_t size,
                        vm_address_t mask, boolean_t anywhere, task_t st,
                        vm_address_t saddr, boolean_t copy, vm_inherit_t inh)
{
	struct world before;
	vm_address_t a = taddr;
	vm_prot_t cur = VM_PROT_NONE, max = VM_PROT_NONE;
	world_take(&before, tt, st);
	kern_return_t kr = vm_remap(tt, &a, size, mask, anywhere, st, saddr, copy,
	                            &cur, &max, inh);
	if (kr != want)
		harness_fail(file, line,
		             "vm_remap(target %u, 0x%llx, size 0x%llx, mask 0x%llx, %s, "
		             "source %u, 0x%llx, %s, inh %u): got %s, want %s",
		             (unsigned)tt, (unsigned long long)taddr,
		             (unsigned long long)size, (unsigned long long)mask,
		             anywhere ? "anywhere" : "fixed", (unsigned)st,
		             (unsigned long long)saddr, copy ? "copy" : "share", inh,
		             kern_return_name(kr), kern_return_name(want));
	world_same(&before, file, line);
	world_free(&before);
}

/* A remap that must succeed; returns the chosen start. */
#define REMAP_OK(tt, taddr, size, mask, anywhere, st, saddr, copy, cur, max, inh) \
	remap_ok(__FILE__, __LINE__, (tt), (taddr), (size), (mask), (anywhere), \
	         (st), (saddr), (copy), (cur), (max), (inh))
static vm_address_t remap_ok(const char *file, int line, task_t tt,
                             vm_address_t taddr, vm_size_t size, vm_address_t mask,
                             boolean_t anywhere, task_t st, vm_address_t saddr,
                             boolean_t copy, vm_prot_t *cur, vm_prot_t *max,
                             vm_inherit_t inh)
{
	vm_address_t a = taddr;
	vm_prot_t c = -1, m = -1;
	kern_return_t kr = vm_remap(tt, &a, size, mask, anywhere, st, saddr, copy,
	                            &c, &m, inh);
	if (kr != KERN_SUCCESS)
		harness_fail(file, line,
		             "vm_remap(target %u, 0x%llx, size 0x%llx, mask 0x%llx, %s, "
		             "source %u, 0x%llx, %s, inh %u): got %s, want KERN_SUCCESS",
		             (unsigned)tt, (unsigned long long)taddr,
		             (unsigned long long)size, (unsigned long long)mask,
		             anywhere ? "anywhere" : "fixed", (unsigned)st,
		             (unsigned long long)saddr, copy ? "copy" : "share", inh,
		             kern_return_name(kr));
	if (cur)
		*cur = c;
	if (max)
		*max = m;
	return a;
}

static int region_count(task_t t)
{
	return (int)util_task_stats(t).regions;
}

/* ---- return codes ------------------------------------------------------ */

TEST(remap_size_zero_invalid_argument)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t src = harness_alloc(s, 0x100000, 4 * p);
	util_fill(s, src, p, 0x11);
	for (int copy = 0; copy < 2; copy++) {
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, 0, 0, TRUE, s, src, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, 0, 0, FALSE, s, src, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, s, 0x200000, 0, 0, FALSE, s, src, copy, VM_INHERIT_SHARE);
	}
	/* Size 0 fails even where every other argument is nonsense-free but the
	 * source start is a hole: size is the first thing decided. */
	REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, 0, 0, TRUE, s, 0x900000, FALSE, VM_INHERIT_COPY);
}

TEST(remap_size_overflow_invalid_argument)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t src = harness_alloc(s, 0x100000, 4 * p);
	/* round_page(size) wraps to 0. */
	REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, ~(vm_size_t)0 - 1, 0, TRUE, s, src, FALSE, VM_INHERIT_COPY);
	REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, ~(vm_size_t)0, 0, TRUE, s, src, TRUE, VM_INHERIT_COPY);
	/* trunc(src) + round(size) overflows. */
	REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, ~(vm_size_t)0 - 2 * p, 0, TRUE, s, src + 4 * p,
	            FALSE, VM_INHERIT_COPY);
}

TEST(remap_bad_inheritance_invalid_argument)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t src = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, src, 2 * p, 0x22);
	vm_inherit_t bad[] = { 3, 4, 0x80000000u, ~0u };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, p, 0, TRUE, s, src, FALSE, bad[i]);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, p, 0, FALSE, s, src, TRUE, bad[i]);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, s, 0x300000, 2 * p, 0, FALSE, s, src, FALSE, bad[i]);
	}
	/* The three valid values are accepted. */
	vm_address_t a = REMAP_OK(t, 0x200000, p, 0, FALSE, s, src, FALSE, NULL, NULL, VM_INHERIT_SHARE);
	CHECK_EQ(util_region(t, a).inheritance, VM_INHERIT_SHARE);
	a = REMAP_OK(t, 0x210000, p, 0, FALSE, s, src, TRUE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_EQ(util_region(t, a).inheritance, VM_INHERIT_COPY);
	a = REMAP_OK(t, 0x220000, p, 0, FALSE, s, src, TRUE, NULL, NULL, VM_INHERIT_NONE);
	CHECK_EQ(util_region(t, a).inheritance, VM_INHERIT_NONE);
}

TEST(remap_dead_tasks_invalid_argument)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t src = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, src, 2 * p, 0x33);
	task_t dead = util_dead_task();
	for (int copy = 0; copy < 2; copy++) {
		/* dead target */
		REMAP_FAILS(KERN_INVALID_ARGUMENT, dead, 0x200000, p, 0, TRUE, s, src, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, dead, 0x200000, p, 0, FALSE, s, src, copy, VM_INHERIT_COPY);
		/* dead source */
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, p, 0, TRUE, dead, src, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, p, 0, FALSE, dead, src, copy, VM_INHERIT_COPY);
		/* never created, and TASK_NULL */
		REMAP_FAILS(KERN_INVALID_ARGUMENT, 4242, 0x200000, p, 0, TRUE, s, src, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, p, 0, TRUE, 4242, src, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, TASK_NULL, 0x200000, p, 0, TRUE, s, src, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, p, 0, TRUE, TASK_NULL, src, copy, VM_INHERIT_COPY);
	}
	/* A source task terminated after it had memory. */
	task_t s2 = harness_task();
	harness_alloc(s2, 0x100000, p);
	util_fill(s2, 0x100000, p, 1);
	CHECK_KR(task_terminate(s2), KERN_SUCCESS);
	REMAP_FAILS(KERN_INVALID_ARGUMENT, t, 0x200000, p, 0, TRUE, s2, 0x100000, FALSE, VM_INHERIT_COPY);
}

TEST(remap_source_hole_invalid_address)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = 0x100000;
	harness_alloc(s, a, p);
	harness_alloc(s, a + 2 * p, p);       /* hole at a+p */
	util_fill(s, a, p, 0x44);
	for (int copy = 0; copy < 2; copy++) {
		/* hole in the middle */
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x200000, 3 * p, 0, TRUE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ADDRESS, s, 0x200000, 3 * p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		/* unallocated start */
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x200000, p, 0, TRUE, s, a + p, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x200000, p, 0, TRUE, s, a - p, copy, VM_INHERIT_COPY);
		/* running off the end of the last entry */
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x200000, 2 * p, 0, TRUE, s, a + 2 * p, copy, VM_INHERIT_COPY);
		/* an empty task */
		REMAP_FAILS(KERN_INVALID_ADDRESS, s, 0x200000, p, 0, TRUE, t, a, copy, VM_INHERIT_COPY);
		/* below the user range, and at its top */
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x200000, p, 0, TRUE, s, 0, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x200000, p, 0, TRUE, s, MACHVM_USER_MAX, copy, VM_INHERIT_COPY);
	}
	/* The first and last pages alone work. */
	REMAP_OK(t, 0x200000, p, 0, FALSE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY);
	REMAP_OK(t, 0x300000, p, 0, FALSE, s, a + 2 * p, TRUE, NULL, NULL, VM_INHERIT_COPY);
}

TEST(remap_copy_needs_max_read)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 3 * p);
	util_fill(s, a, 3 * p, 0x55);
	/* Page 1: max -w-, so cur -w- too. */
	CHECK_KR(vm_protect(s, a + p, p, TRUE, VM_PROT_WRITE), KERN_SUCCESS);
	CHECK_EQ(region_count(s), 3);

	/* Copy of the unreadable page alone, and of a range that only reaches it
	 * in the middle: nothing may be marked needs_copy on the way. */
	REMAP_FAILS(KERN_PROTECTION_FAILURE, t, 0x200000, p, 0, TRUE, s, a + p, TRUE, VM_INHERIT_COPY);
	REMAP_FAILS(KERN_PROTECTION_FAILURE, t, 0x200000, 3 * p, 0, TRUE, s, a, TRUE, VM_INHERIT_COPY);
	REMAP_FAILS(KERN_PROTECTION_FAILURE, s, 0x200000, 2 * p, 0, FALSE, s, a, TRUE, VM_INHERIT_COPY);
	/* max --x and max --- are no better */
	CHECK_KR(vm_protect(s, a + 2 * p, p, TRUE, VM_PROT_EXECUTE), KERN_SUCCESS);
	REMAP_FAILS(KERN_PROTECTION_FAILURE, t, 0x200000, p, 0, TRUE, s, a + 2 * p, TRUE, VM_INHERIT_COPY);
	CHECK_KR(vm_protect(s, a + 2 * p, p, TRUE, VM_PROT_NONE), KERN_SUCCESS);
	REMAP_FAILS(KERN_PROTECTION_FAILURE, t, 0x200000, p, 0, TRUE, s, a + 2 * p, TRUE, VM_INHERIT_COPY);

	/* Sharing needs no read permission: it works and reports the AND. */
	vm_prot_t cur, max;
	vm_address_t b = REMAP_OK(t, 0x200000, 2 * p, 0, FALSE, s, a, FALSE, &cur, &max, VM_INHERIT_COPY);
	CHECK_EQ(b, 0x200000);
	CHECK_EQ(cur, VM_PROT_WRITE);
	CHECK_EQ(max, VM_PROT_WRITE);
}

TEST(remap_copy_with_cur_none_but_max_read)
{
	/* Only max decides for copy: cur --- with max rwx is copyable. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, p);
	util_fill(s, a, p, 0x5a);
	CHECK_KR(vm_protect(s, a, p, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	vm_prot_t cur, max;
	vm_address_t b = REMAP_OK(t, 0x200000, p, 0, TRUE, s, a, TRUE, &cur, &max, VM_INHERIT_COPY);
	CHECK_EQ(cur, VM_PROT_NONE);
	CHECK_EQ(max, VM_PROT_ALL);
	CHECK_REGION(t, b, p, VM_PROT_NONE, VM_PROT_ALL);
	CHECK_KR(vm_protect(t, b, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	EXPECT_FILL(t, b, p, 0x5a);
}

TEST(remap_no_space)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 8 * p);
	util_fill(s, a, 8 * p, 0x66);
	harness_alloc(t, 0x200000, 4 * p);
	util_fill(t, 0x200000, p, 0x77);

	for (int copy = 0; copy < 2; copy++) {
		/* anywhere: nothing fits at or above the hint (no wrap) */
		REMAP_FAILS(KERN_NO_SPACE, t, MACHVM_USER_MAX - p, 2 * p, 0, TRUE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_NO_SPACE, t, MACHVM_USER_MAX, p, 0, TRUE, s, a, copy, VM_INHERIT_COPY);
		/* anywhere: no page-aligned start in the user range has no mask bit */
		REMAP_FAILS(KERN_NO_SPACE, t, 0, p, ~(vm_address_t)0xfff, TRUE, s, a, copy, VM_INHERIT_COPY);
		/* anywhere: the only aligned start at or above the hint is too high */
		REMAP_FAILS(KERN_NO_SPACE, t, MACHVM_USER_MAX - 0x100000, 2 * p,
		            MACHVM_USER_MAX / 2 - 1, TRUE, s, a, copy, VM_INHERIT_COPY);
		/* fixed: overlap, whole or partial, at either end */
		REMAP_FAILS(KERN_NO_SPACE, t, 0x200000, p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_NO_SPACE, t, 0x200000 + 3 * p, 2 * p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_NO_SPACE, t, 0x200000 - p, 2 * p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_NO_SPACE, t, 0x200000 - p, 6 * p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		/* fixed onto the source itself (same task) */
		REMAP_FAILS(KERN_NO_SPACE, s, a + p, p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		/* fixed: free target, but its page has a mask bit set */
		REMAP_FAILS(KERN_NO_SPACE, t, 0x301000, p, 0x1fff, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_NO_SPACE, t, 0x310000, p, 0xffff0000, FALSE, s, a, copy, VM_INHERIT_COPY);
		/* a high mask bit set in the (free) target */
		REMAP_FAILS(KERN_NO_SPACE, t, 0x300000, p, 0x100000, FALSE, s, a, copy, VM_INHERIT_COPY);
	}
	/* The same fixed targets without the offending mask bit work. */
	CHECK_EQ(REMAP_OK(t, 0x302000, p, 0x1fff, FALSE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY), 0x302000);
	/* Mask bits below the page are harmless: the test is trunc(target) & mask. */
	CHECK_EQ(REMAP_OK(t, 0x400000, p, 0xfff, FALSE, s, a, TRUE, NULL, NULL, VM_INHERIT_COPY), 0x400000);
	CHECK_EQ(REMAP_OK(t, 0x500800, p, 0x800, FALSE, s, a, TRUE, NULL, NULL, VM_INHERIT_COPY), 0x500000);
}

TEST(remap_fixed_outside_user_range)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, a, 2 * p, 0x12);
	for (int copy = 0; copy < 2; copy++) {
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0, p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, p - 1, p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, MACHVM_USER_MAX, p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, MACHVM_USER_MAX - p, 2 * p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
		REMAP_FAILS(KERN_INVALID_ADDRESS, t, (vm_address_t)1 << 50, p, 0, FALSE, s, a, copy, VM_INHERIT_COPY);
	}
	/* The very first and very last pages of the user range are fine. */
	CHECK_EQ(REMAP_OK(t, p, p, 0, FALSE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY), p);
	CHECK_EQ(REMAP_OK(t, MACHVM_USER_MAX - 2 * p, 2 * p, 0, FALSE, s, a, TRUE, NULL, NULL, VM_INHERIT_COPY),
	         MACHVM_USER_MAX - 2 * p);
	EXPECT_FILL(t, p, p, 0x12);
	EXPECT_FILL(t, MACHVM_USER_MAX - 2 * p, 2 * p, 0x12);
}

/* ---- share vs copy ----------------------------------------------------- */

/*
 * Source [a, a+3p) in s holds 0xa0 bytes; maps it into t (which may be s)
 * and checks what each side sees of the other's later writes.
 */
static void share_or_copy(task_t s, task_t t, boolean_t copy)
{
	vm_size_t p = util_page_size();
	vm_address_t a = harness_alloc(s, 0x100000, 3 * p);
	util_fill(s, a, 3 * p, 0xa0);
	vm_prot_t cur, max;
	vm_address_t b = REMAP_OK(t, 0x800000, 3 * p, 0, TRUE, s, a, copy, &cur, &max, VM_INHERIT_SHARE);
	CHECK(b >= 0x800000);
	CHECK_EQ(b % p, 0);
	CHECK_EQ(cur, RW);
	CHECK_EQ(max, VM_PROT_ALL);
	CHECK_REGION(t, b, 3 * p, RW, VM_PROT_ALL);
	CHECK_EQ(util_region(t, b).inheritance, VM_INHERIT_SHARE);
	EXPECT_FILL(t, b, 3 * p, 0xa0);

	/* source writes page 0, target writes page 1 (unaligned, crossing into 2) */
	util_fill(s, a, p, 0xb1);
	util_fill(t, b + p + 7, p, 0xc2);
	if (copy) {
		EXPECT_FILL(t, b, p, 0xa0);
		EXPECT_FILL(s, a + p, 3 * p - p, 0xa0);
		EXPECT_FILL(s, a, p, 0xb1);
		EXPECT_FILL(t, b + p, 7, 0xa0);
		EXPECT_FILL(t, b + p + 7, p, 0xc2);
		EXPECT_FILL(t, b + 2 * p + 7, p - 7, 0xa0);
		CHECK_EQ(util_region(t, b).shared, FALSE);
		CHECK_EQ(util_region(s, a).shared, FALSE);
	} else {
		EXPECT_FILL(t, b, p, 0xb1);
		EXPECT_FILL(s, a, p, 0xb1);
		EXPECT_FILL(s, a + p, 7, 0xa0);
		EXPECT_FILL(s, a + p + 7, p, 0xc2);
		EXPECT_FILL(s, a + 2 * p + 7, p - 7, 0xa0);
		CHECK_EQ(util_region(t, b).shared, TRUE);
		CHECK_EQ(util_region(s, a).shared, TRUE);
		CHECK_EQ(util_region(t, b).object_id, util_region(s, a).object_id);
	}
	/* the last page: target first, then source, same bytes */
	util_fill(t, b + 2 * p + p - 1, 1, 0xd3);
	util_fill(s, a + 2 * p + p - 1, 1, 0xe4);
	EXPECT_FILL(s, a + 3 * p - 1, 1, 0xe4);
	EXPECT_FILL(t, b + 3 * p - 1, 1, copy ? 0xd3 : 0xe4);
}

TEST(remap_share_across_tasks)
{
	share_or_copy(harness_task(), harness_task(), FALSE);
}

TEST(remap_copy_across_tasks)
{
	share_or_copy(harness_task(), harness_task(), TRUE);
}

TEST(remap_share_within_task)
{
	task_t s = harness_task();
	share_or_copy(s, s, FALSE);
}

TEST(remap_copy_within_task)
{
	task_t s = harness_task();
	share_or_copy(s, s, TRUE);
}

TEST(remap_copy_then_source_terminated)
{
	/* The copy owns what it needs: the source task may go away. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, a, 2 * p, 0x31);
	vm_address_t b = REMAP_OK(t, 0, 2 * p, 0, TRUE, s, a, TRUE, NULL, NULL, VM_INHERIT_COPY);
	vm_address_t c = REMAP_OK(t, 0, 2 * p, 0, TRUE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_KR(task_terminate(s), KERN_SUCCESS);
	EXPECT_FILL(t, b, 2 * p, 0x31);
	EXPECT_FILL(t, c, 2 * p, 0x31);
	util_fill(t, c, p, 0x32);
	EXPECT_FILL(t, b, p, 0x31);
	EXPECT_FILL(t, c, p, 0x32);
}

/* ---- placement --------------------------------------------------------- */

/*
 * The lowest page-aligned start >= max(trunc(hint), P) with no mask bit set
 * where [start, start+size) is free in t; 0 if none.  Computed from the map
 * snapshot, independently of the engine's placement code.
 */
static vm_address_t expected_fit(task_t t, vm_address_t hint, vm_size_t size,
                                 vm_address_t mask)
{
	vm_size_t p = util_page_size();
	util_snap_t s = util_snapshot(t);
	vm_address_t lo = hint & ~(p - 1);
	if (lo < p)
		lo = p;
	vm_address_t cand = lo;
	for (;;) {
		/* smallest aligned address >= cand with no mask bit: step by pages */
		while (cand < MACHVM_USER_MAX && (cand & mask))
			cand += p;
		if (cand >= MACHVM_USER_MAX || MACHVM_USER_MAX - cand < size) {
			cand = 0;
			break;
		}
		vm_address_t bump = 0;
		for (size_t i = 0; i < s.count; i++) {
			vm_address_t rs = s.regions[i].start, re = rs + s.regions[i].size;
			if (rs < cand + size && cand < re) {
				bump = re;
				break;
			}
		}
		if (!bump)
			break;
		cand = bump;
	}
	util_snap_free(&s);
	return cand;
}

TEST(remap_anywhere_hint_and_mask)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 16 * p);
	util_fill(s, a, 16 * p, 0x4b);
	/* t: [0x100000, 0x103000) and [0x110000, 0x111000) taken */
	harness_alloc(t, 0x100000, 3 * p);
	harness_alloc(t, 0x110000, p);

	struct { vm_address_t hint; vm_size_t size; vm_address_t mask; vm_address_t want; } c[] = {
		{ 0x100000, 2 * p, 0, 0x103000 },        /* first gap after the hint */
		{ 0x100123, 2 * p, 0, 0x103000 },        /* hint truncated */
		{ 0x100000, 0xd000, 0, 0x103000 },       /* exact fit of the gap */
		{ 0x100000, 0xe000, 0, 0x111000 },       /* one page too big for it */
		{ 0x100000, 2 * p, 0xffff, 0x120000 },   /* 64K aligned: 0x100000, 0x110000 taken */
		{ 0x104000, p, 0x1fff, 0x104000 },       /* 8K aligned, hint itself fits */
		{ 0x103000, p, 0x1fff, 0x104000 },       /* hint free but misaligned */
		{ 0, p, 0, 0x1000 },                     /* hint 0: lowest fit at or above P */
		{ 0, p, 0x1fff, 0x2000 },                /* ... and with no mask bit */
		{ 0x5000000, p, 0, 0x5000000 },          /* a hint in empty space is taken as is */
		{ 0x5000000, p, 0x10000, 0x5000000 },    /* mask bits need not be low bits */
		{ 0x5010000, p, 0x10000, 0x5020000 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		CHECK_EQ(expected_fit(t, c[i].hint, c[i].size, c[i].mask), c[i].want);
		for (int copy = 0; copy < 2; copy++) {
			vm_address_t got = REMAP_OK(t, c[i].hint, c[i].size, c[i].mask, TRUE, s, a,
			                            copy, NULL, NULL, VM_INHERIT_COPY);
			if (got != c[i].want)
				harness_fail(__FILE__, __LINE__,
				             "case %zu (hint 0x%llx size 0x%llx mask 0x%llx, %s): "
				             "placed at 0x%llx, want 0x%llx", i,
				             (unsigned long long)c[i].hint, (unsigned long long)c[i].size,
				             (unsigned long long)c[i].mask, copy ? "copy" : "share",
				             (unsigned long long)got, (unsigned long long)c[i].want);
			CHECK_EQ(got & c[i].mask, 0);
			CHECK_REGION(t, got, c[i].size, RW, VM_PROT_ALL);
			EXPECT_FILL(t, got, c[i].size, 0x4b);
			CHECK_KR(vm_deallocate(t, got, c[i].size), KERN_SUCCESS);
		}
	}
}

TEST(remap_anywhere_many_masks_model)
{
	/* Fill t with remaps of varied size, hint and mask; each lands where the
	 * independent first-fit model says. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 8 * p);
	util_fill(s, a, 8 * p, 0x3c);
	unsigned x = 12345;
	for (int i = 0; i < 200; i++) {
		x = x * 1103515245u + 12345u;
		vm_size_t size = (1 + (x >> 8) % 8) * p;
		vm_address_t hint = (vm_address_t)((x >> 12) % 0x400) * 0x1000 + ((x >> 3) & 0xfff);
		vm_address_t mask = (i % 3 == 0) ? 0 : (((vm_address_t)1 << (12 + (x >> 20) % 5)) - 1);
		vm_address_t want = expected_fit(t, hint, size, mask);
		CHECK(want != 0);
		vm_address_t got = REMAP_OK(t, hint, size, mask, TRUE, s, a, i & 1, NULL, NULL, VM_INHERIT_COPY);
		if (got != want)
			harness_fail(__FILE__, __LINE__,
			             "round %d (hint 0x%llx size 0x%llx mask 0x%llx): placed at 0x%llx, want 0x%llx",
			             i, (unsigned long long)hint, (unsigned long long)size,
			             (unsigned long long)mask, (unsigned long long)got,
			             (unsigned long long)want);
		/* free some so later fits land in holes */
		if (i % 4 == 3)
			CHECK_KR(vm_deallocate(t, got, size), KERN_SUCCESS);
	}
}

TEST(remap_fixed_target_truncated)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, a, 2 * p, 0x71);
	vm_address_t b = REMAP_OK(t, 0x200123, 2 * p, 0, FALSE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_EQ(b, 0x200000);
	CHECK_REGION(t, 0x200000, 2 * p, RW, VM_PROT_ALL);
	EXPECT_FILL(t, 0x200000, 2 * p, 0x71);
}

/* ---- source rounding --------------------------------------------------- */

TEST(remap_source_rounding)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 4 * p);
	for (int i = 0; i < 4; i++)
		util_fill(s, a + i * p, p, (unsigned char)(0x10 + i));

	for (int copy = 0; copy < 2; copy++) {
		vm_address_t base = copy ? 0x600000 : 0x400000;
		/* [trunc(src), trunc(src)+round(size)): one page even though the
		 * bytes [src, src+size) reach into the next page. */
		vm_address_t b = REMAP_OK(t, base, p - 0x100, 0, FALSE, s, a + p + 0x123, copy,
		                          NULL, NULL, VM_INHERIT_COPY);
		CHECK_EQ(b, base);
		CHECK_REGION(t, b, p, RW, VM_PROT_ALL);
		EXPECT_FILL(t, b, p, 0x11);
		vm_address_t next = b + p;
		vm_region_extended_info_t r;
		CHECK(vm_region_extended(t, &next, &r) != KERN_SUCCESS || r.start >= b + 2 * p);

		/* size p+1 from an offset: two pages */
		b = REMAP_OK(t, base + 0x10000, p + 1, 0, FALSE, s, a + p + 0x123, copy,
		             NULL, NULL, VM_INHERIT_COPY);
		CHECK_REGION(t, b, 2 * p, RW, VM_PROT_ALL);
		EXPECT_FILL(t, b, p, 0x11);
		EXPECT_FILL(t, b + p, p, 0x12);

		/* size 1 at the last byte of the source: the last page */
		b = REMAP_OK(t, base + 0x20000, 1, 0, TRUE, s, a + 4 * p - 1, copy,
		             NULL, NULL, VM_INHERIT_COPY);
		CHECK_EQ(b % p, 0);
		CHECK_REGION(t, b, p, RW, VM_PROT_ALL);
		EXPECT_FILL(t, b, p, 0x13);
	}
	/* Rounding can run off the end of the source: size p from the middle of
	 * the last page is one page (fine); 2p from there is a hole. */
	REMAP_OK(t, 0x700000, p, 0, FALSE, s, a + 3 * p + 0x800, FALSE, NULL, NULL, VM_INHERIT_COPY);
	REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x710000, p + 1, 0, FALSE, s, a + 3 * p + 0x800, FALSE,
	            VM_INHERIT_COPY);
}

/* ---- multi-entry sources ------------------------------------------------ */

/*
 * Source in s at 0x100000: [0, 2p) rw-/rwx, [2p, 3p) r--/rwx, [3p, 6p) r-x/r-x,
 * page i holding 0x40+i.  The remap takes [p, 5p): pieces of p, p and 2p.
 */
static void multi_entry(boolean_t copy, boolean_t same_task)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = same_task ? s : harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 6 * p);
	for (int i = 0; i < 6; i++)
		util_fill(s, a + i * p, p, (unsigned char)(0x40 + i));
	CHECK_KR(vm_protect(s, a + 2 * p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_KR(vm_protect(s, a + 3 * p, 3 * p, TRUE, RX), KERN_SUCCESS);
	CHECK_KR(vm_protect(s, a + 3 * p, 3 * p, FALSE, RX), KERN_SUCCESS);
	CHECK_EQ(region_count(s), 3);

	vm_prot_t cur, max;
	vm_address_t b = REMAP_OK(t, 0x800000, 4 * p, 0, TRUE, s, a + p, copy, &cur, &max,
	                          VM_INHERIT_NONE);
	CHECK_EQ(b, 0x800000);
	CHECK_EQ(cur, VM_PROT_READ);              /* rw- & r-- & r-x */
	CHECK_EQ(max, RX);                        /* rwx & rwx & r-x */

	/* one entry per piece, contiguous, each keeping its piece's protections */
	util_snap_t ts = util_snapshot(t);
	size_t first = 0;
	while (first < ts.count && ts.regions[first].start < b)
		first++;
	CHECK(first + 3 <= ts.count);
	vm_region_extended_info_t *r = &ts.regions[first];
	CHECK_EQ(r[0].start, b);          CHECK_EQ(r[0].size, p);
	CHECK_EQ(r[1].start, b + p);      CHECK_EQ(r[1].size, p);
	CHECK_EQ(r[2].start, b + 2 * p);  CHECK_EQ(r[2].size, 2 * p);
	CHECK_EQ(r[0].protection, RW);    CHECK_EQ(r[0].max_protection, VM_PROT_ALL);
	CHECK_EQ(r[1].protection, VM_PROT_READ); CHECK_EQ(r[1].max_protection, VM_PROT_ALL);
	CHECK_EQ(r[2].protection, RX);    CHECK_EQ(r[2].max_protection, RX);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(r[i].inheritance, VM_INHERIT_NONE);
		CHECK_EQ(r[i].shared, !copy);
		CHECK_EQ(r[i].wired_count, 0);
	}
	CHECK(first + 3 == ts.count || ts.regions[first + 3].start >= b + 4 * p);
	util_snap_free(&ts);

	/* the source entries are not split; share marks them all shared */
	util_snap_t ss = util_snapshot(s);
	int src_regions = 0;
	for (size_t i = 0; i < ss.count; i++) {
		if (ss.regions[i].start >= a + 6 * p || ss.regions[i].start < a)
			continue;
		src_regions++;
		if (!copy)
			CHECK_EQ(ss.regions[i].shared, TRUE);
		else
			CHECK_EQ(ss.regions[i].shared, FALSE);
	}
	CHECK_EQ(src_regions, 3);
	util_snap_free(&ss);
	CHECK_REGION(s, a, 2 * p, RW, VM_PROT_ALL);
	CHECK_REGION(s, a + 2 * p, p, VM_PROT_READ, VM_PROT_ALL);
	CHECK_REGION(s, a + 3 * p, 3 * p, RX, RX);

	/* the data, page by page */
	for (int i = 0; i < 4; i++)
		EXPECT_FILL(t, b + i * p, p, (unsigned char)(0x41 + i));

	/* the writable piece: writes cross (share) or not (copy) */
	util_fill(t, b, p, 0x99);
	EXPECT_FILL(s, a + p, p, copy ? 0x41 : 0x99);
	util_fill(s, a + p + 5, 1, 0x98);
	EXPECT_FILL(t, b + 5, 1, copy ? 0x99 : 0x98);
	/* read-only pieces refuse writes on the target side */
	unsigned char z = 0;
	vm_size_t n = 0;
	CHECK_KR(vm_write(t, b + p, &z, 1, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_write(t, b + 2 * p, &z, 1, &n), KERN_PROTECTION_FAILURE);
	EXPECT_FILL(t, b + p, p, 0x42);
}

TEST(remap_multi_entry_share)
{
	multi_entry(FALSE, FALSE);
}

TEST(remap_multi_entry_copy)
{
	multi_entry(TRUE, FALSE);
}

TEST(remap_multi_entry_share_same_task)
{
	multi_entry(FALSE, TRUE);
}

TEST(remap_multi_entry_copy_same_task)
{
	multi_entry(TRUE, TRUE);
}

TEST(remap_part_of_entry_does_not_split_source)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 4 * p);
	util_fill(s, a, 4 * p, 0x1e);
	vm_address_t b = REMAP_OK(t, 0, p, 0, TRUE, s, a + p, FALSE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_EQ(region_count(s), 1);
	vm_region_extended_info_t r = util_region(s, a);
	CHECK_EQ(r.size, 4 * p);
	CHECK_EQ(r.shared, TRUE);
	vm_region_extended_info_t rt = util_region(t, b);
	CHECK_EQ(rt.size, p);
	CHECK_EQ(rt.object_id, r.object_id);
	CHECK_EQ(rt.offset, r.offset + p);
	util_fill(t, b, p, 0x1f);
	EXPECT_FILL(s, a + p, p, 0x1f);
	EXPECT_FILL(s, a, p, 0x1e);
	EXPECT_FILL(s, a + 2 * p, 2 * p, 0x1e);

	/* copy: whole source entry marked needs_copy, not split either */
	task_t s2 = harness_task();
	vm_address_t a2 = harness_alloc(s2, 0x100000, 4 * p);
	util_fill(s2, a2, 4 * p, 0x2e);
	b = REMAP_OK(t, 0, p, 0, TRUE, s2, a2 + 2 * p, TRUE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_EQ(region_count(s2), 1);
	r = util_region(s2, a2);
	CHECK_EQ(r.size, 4 * p);
	CHECK_EQ(r.needs_copy, TRUE);
	CHECK_EQ(r.shared, FALSE);
	EXPECT_FILL(t, b, p, 0x2e);
	util_fill(s2, a2 + 2 * p, 1, 0x2f);
	EXPECT_FILL(t, b, p, 0x2e);
}

/* ---- sources in special states ----------------------------------------- */

TEST(remap_share_untouched_source)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 2 * p);
	CHECK_EQ(util_region(s, a).object_id, 0);
	machvm_host_stats_t h0 = util_host_stats();
	vm_address_t b = REMAP_OK(t, 0, 2 * p, 0, TRUE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY);
	vm_region_extended_info_t rs = util_region(s, a), rt = util_region(t, b);
	CHECK(rs.object_id != 0);
	CHECK_EQ(rt.object_id, rs.object_id);
	CHECK_EQ(rs.shared, TRUE);
	CHECK_EQ(rt.shared, TRUE);
	CHECK_EQ(util_host_stats().objects, h0.objects + 1);
	/* nothing touched yet: zeros on both sides, and no pages */
	EXPECT_FILL(s, a, 2 * p, 0);
	EXPECT_FILL(t, b, 2 * p, 0);
	CHECK_EQ(util_host_stats().resident_pages, h0.resident_pages);
	/* writes both ways */
	util_fill(s, a, 1, 0x81);
	EXPECT_FILL(t, b, 1, 0x81);
	util_fill(t, b + 2 * p - 1, 1, 0x82);
	EXPECT_FILL(s, a + 2 * p - 1, 1, 0x82);
	util_fill(t, b + p - 2, 4, 0x83);
	EXPECT_FILL(s, a + p - 2, 4, 0x83);
	EXPECT_FILL(s, a + 1, p - 3, 0);
	CHECK_EQ(util_host_stats().resident_pages, h0.resident_pages + 2);
}

TEST(remap_share_needs_copy_source)
{
	/* s copy-forks c; s's entry is then needs_copy.  Sharing it with t must
	 * give s its own shadow first: s and t see each other, c sees neither. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, a, 2 * p, 0x61);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(s, TRUE, &c), KERN_SUCCESS);
	CHECK_EQ(util_region(s, a).needs_copy, TRUE);
	CHECK_EQ(util_region(c, a).needs_copy, TRUE);

	vm_address_t b = REMAP_OK(t, 0, 2 * p, 0, TRUE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY);
	vm_region_extended_info_t rs = util_region(s, a), rt = util_region(t, b), rc = util_region(c, a);
	CHECK_EQ(rs.needs_copy, FALSE);
	CHECK_EQ(rt.needs_copy, FALSE);
	CHECK_EQ(rs.shared, TRUE);
	CHECK_EQ(rt.shared, TRUE);
	CHECK_EQ(rc.shared, FALSE);
	CHECK_EQ(rs.object_id, rt.object_id);
	CHECK(rs.object_id != rc.object_id);

	EXPECT_FILL(t, b, 2 * p, 0x61);
	util_fill(s, a, p, 0x62);                  /* source writes */
	EXPECT_FILL(t, b, p, 0x62);
	EXPECT_FILL(c, a, p, 0x61);
	util_fill(t, b + p, p, 0x63);              /* target writes */
	EXPECT_FILL(s, a + p, p, 0x63);
	EXPECT_FILL(c, a + p, p, 0x61);
	util_fill(c, a, 2 * p, 0x64);              /* the fork child writes */
	EXPECT_FILL(s, a, p, 0x62);
	EXPECT_FILL(t, b + p, p, 0x63);
	EXPECT_FILL(c, a, 2 * p, 0x64);
}

TEST(remap_share_needs_copy_source_same_task)
{
	/* As above, with the shared alias in the source task itself. */
	vm_size_t p = util_page_size();
	task_t s = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, p);
	util_fill(s, a, p, 0x71);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(s, TRUE, &c), KERN_SUCCESS);
	vm_address_t b = REMAP_OK(s, 0x200000, p, 0, FALSE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_EQ(b, 0x200000);
	util_fill(s, b, 1, 0x72);
	EXPECT_FILL(s, a, 1, 0x72);
	EXPECT_FILL(c, a, p, 0x71);
	util_fill(s, a + 1, 1, 0x73);
	EXPECT_FILL(s, b + 1, 1, 0x73);
	EXPECT_FILL(c, a, p, 0x71);
	util_fill(c, a, 1, 0x74);
	EXPECT_FILL(s, a, 1, 0x72);
	EXPECT_FILL(s, b, 1, 0x72);
}

TEST(remap_copy_needs_copy_source)
{
	/* A copying remap of a needs_copy source (after a fork): three private
	 * copies of the same bytes. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, a, 2 * p, 0x15);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(s, TRUE, &c), KERN_SUCCESS);
	vm_address_t b = REMAP_OK(t, 0, 2 * p, 0, TRUE, s, a, TRUE, NULL, NULL, VM_INHERIT_COPY);
	util_fill(s, a, 1, 0x16);
	util_fill(c, a + 1, 1, 0x17);
	util_fill(t, b + 2, 1, 0x18);
	EXPECT_FILL(s, a, 1, 0x16);  EXPECT_FILL(s, a + 1, 2 * p - 1, 0x15);
	EXPECT_FILL(c, a, 1, 0x15);  EXPECT_FILL(c, a + 1, 1, 0x17);  EXPECT_FILL(c, a + 2, 2 * p - 2, 0x15);
	EXPECT_FILL(t, b, 2, 0x15);  EXPECT_FILL(t, b + 2, 1, 0x18);  EXPECT_FILL(t, b + 3, 2 * p - 3, 0x15);
}

TEST(remap_copy_wired_source)
{
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 3 * p);
	util_fill(s, a, 3 * p, 0x27);
	CHECK_KR(vm_wire(host_priv_self(), s, a, 3 * p, RW), KERN_SUCCESS);
	machvm_host_stats_t h0 = util_host_stats();
	vm_prot_t cur, max;
	vm_address_t b = REMAP_OK(t, 0, 3 * p, 0, TRUE, s, a, TRUE, &cur, &max, VM_INHERIT_COPY);
	CHECK_EQ(cur, RW);
	CHECK_EQ(max, VM_PROT_ALL);
	vm_region_extended_info_t rs = util_region(s, a), rt = util_region(t, b);
	/* copied at once: the target has its own object with every page */
	CHECK(rt.object_id != 0);
	CHECK(rt.object_id != rs.object_id);
	CHECK_EQ(rt.needs_copy, FALSE);
	CHECK_EQ(rt.wired_count, 0);
	CHECK_EQ(rt.resident_pages, 3);
	CHECK_EQ(rs.needs_copy, FALSE);
	CHECK_EQ(rs.wired_count, 1);
	machvm_host_stats_t h1 = util_host_stats();
	CHECK_EQ(h1.resident_pages, h0.resident_pages + 3);
	CHECK_EQ(h1.pages_copied, h0.pages_copied + 3);

	/* the wired source takes no faults, and the sides are independent */
	machvm_task_stats_t st0 = util_task_stats(s);
	util_fill(s, a, 3 * p, 0x28);
	machvm_task_stats_t st1 = util_task_stats(s);
	CHECK_EQ(st1.faults, st0.faults);
	CHECK_EQ(st1.cow_faults, st0.cow_faults);
	EXPECT_FILL(t, b, 3 * p, 0x27);
	util_fill(t, b + p, p, 0x29);
	EXPECT_FILL(s, a, 3 * p, 0x28);
	EXPECT_FILL(t, b, p, 0x27);
	EXPECT_FILL(t, b + p, p, 0x29);
	EXPECT_FILL(t, b + 2 * p, p, 0x27);
}

TEST(remap_share_wired_source)
{
	/* Sharing a wired source: the new entry is not wired, data is shared. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 2 * p);
	util_fill(s, a, 2 * p, 0x37);
	CHECK_KR(vm_wire(host_priv_self(), s, a, 2 * p, RW), KERN_SUCCESS);
	vm_address_t b = REMAP_OK(t, 0, 2 * p, 0, TRUE, s, a, FALSE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_EQ(util_region(t, b).wired_count, 0);
	CHECK_EQ(util_region(s, a).wired_count, 1);
	CHECK_EQ(util_region(t, b).object_id, util_region(s, a).object_id);
	util_fill(t, b, 1, 0x38);
	EXPECT_FILL(s, a, 1, 0x38);
	util_fill(s, a + p, 1, 0x39);
	EXPECT_FILL(t, b + p, 1, 0x39);
}

TEST(remap_shared_region_then_fork_share)
{
	/* Remap share, then fork with SHARE on the alias: the child shares with
	 * both mappings. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, p);
	util_fill(s, a, p, 0x41);
	vm_address_t b = REMAP_OK(t, 0, p, 0, TRUE, s, a, FALSE, NULL, NULL, VM_INHERIT_SHARE);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(t, TRUE, &c), KERN_SUCCESS);
	util_fill(c, b, 1, 0x42);
	EXPECT_FILL(s, a, 1, 0x42);
	EXPECT_FILL(t, b, 1, 0x42);
	util_fill(s, a + 1, 1, 0x43);
	EXPECT_FILL(c, b + 1, 1, 0x43);
	CHECK_EQ(util_region(c, b).shared, TRUE);
}

TEST(remap_result_reported_by_region)
{
	/* vm_region sees the new entries like any other: object name and offset
	 * agree with the source for a share. */
	vm_size_t p = util_page_size();
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 4 * p);
	util_fill(s, a, 4 * p, 0x51);
	vm_address_t b = REMAP_OK(t, 0x300000, 2 * p, 0, FALSE, s, a + 2 * p, FALSE, NULL, NULL,
	                          VM_INHERIT_SHARE);
	vm_address_t addr = b;
	vm_size_t size;
	vm_prot_t prot, max;
	vm_inherit_t inh;
	boolean_t shared;
	mach_port_t obj_t, obj_s;
	vm_offset_t off_t, off_s;
	CHECK_KR(vm_region(t, &addr, &size, &prot, &max, &inh, &shared, &obj_t, &off_t), KERN_SUCCESS);
	CHECK_EQ(addr, b);
	CHECK_EQ(size, 2 * p);
	CHECK_EQ(prot, RW);
	CHECK_EQ(max, VM_PROT_ALL);
	CHECK_EQ(inh, VM_INHERIT_SHARE);
	CHECK_EQ(shared, TRUE);
	addr = a;
	CHECK_KR(vm_region(s, &addr, &size, &prot, &max, &inh, &shared, &obj_s, &off_s), KERN_SUCCESS);
	CHECK_EQ(shared, TRUE);
	CHECK_EQ(inh, VM_INHERIT_COPY);
	CHECK(obj_s != MACH_PORT_NULL);
	CHECK_EQ(obj_t, obj_s);
	CHECK_EQ(off_t, off_s + 2 * p);
}

TEST(remap_page_size_16k)
{
	/* Rounding and placement follow the host page size. */
	harness_restart(16384);
	vm_size_t p = util_page_size();
	CHECK_EQ(p, 16384);
	task_t s = harness_task(), t = harness_task();
	vm_address_t a = harness_alloc(s, 0x100000, 3 * p);
	for (int i = 0; i < 3; i++)
		util_fill(s, a + i * p, p, (unsigned char)(0x70 + i));
	vm_address_t b = REMAP_OK(t, 0x201000, 0x1000, 0, TRUE, s, a + p + 0x3000, FALSE, NULL, NULL,
	                          VM_INHERIT_COPY);
	CHECK_EQ(b, 0x200000);                /* trunc of the hint to 16K */
	CHECK_REGION(t, b, p, RW, VM_PROT_ALL);
	EXPECT_FILL(t, b, p, 0x71);
	REMAP_FAILS(KERN_NO_SPACE, t, 0x208000, p, 0xffff, FALSE, s, a, FALSE, VM_INHERIT_COPY);
	REMAP_FAILS(KERN_INVALID_ADDRESS, t, 0x1000, p, 0, FALSE, s, a, FALSE, VM_INHERIT_COPY);
	b = REMAP_OK(t, 0, p, 0, TRUE, s, a, TRUE, NULL, NULL, VM_INHERIT_COPY);
	CHECK_EQ(b, p);
}
