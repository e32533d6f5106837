/*
 * test_allocate.c - vm_allocate: fixed and anywhere placement, rounding,
 * size 0, range errors, first fit, what a new region looks like.
 */
#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define TOP MACHVM_USER_MAX

TEST(new_region_attributes)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.start, 0x10000);
	CHECK_EQ(r.size, 3 * P);
	CHECK_EQ(r.protection, VM_PROT_READ | VM_PROT_WRITE);
	CHECK_EQ(r.max_protection, VM_PROT_ALL);
	CHECK_EQ(r.inheritance, VM_INHERIT_COPY);
	CHECK_EQ(r.wired_count, 0);
	CHECK_EQ(r.shared, FALSE);
	CHECK_EQ(r.needs_copy, FALSE);
	CHECK_EQ(r.object_id, 0);
	CHECK_EQ(r.resident_pages, 0);
	CHECK_EQ(r.share_mode, SM_EMPTY);
	CHECK_EQ(r.cache, MATTR_VAL_ON);
	CHECK_EQ(r.migrate, MATTR_VAL_OFF);
	CHECK_EQ(r.replicate, MATTR_VAL_OFF);
	CHECK_EQ(r.cache_flushes, 0);
	CHECK_EQ(r.dcache_flushes, 0);
	CHECK_EQ(r.icache_flushes, 0);
	CHECK_EQ(harness_region_count(t), 1);
	machvm_task_stats_t s = util_task_stats(t);
	CHECK_EQ(s.regions, 1);
	CHECK_EQ(s.virtual_size, 3 * P);
	CHECK_EQ(s.resident_pages, 0);
}

TEST(zero_filled)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	unsigned char buf[2 * P];
	memset(buf, 0xaa, sizeof buf);
	vm_size_t n = 0;
	CHECK_KR(vm_read(t, 0x10000, sizeof buf, buf, &n), KERN_SUCCESS);
	CHECK_EQ(n, sizeof buf);
	for (size_t i = 0; i < sizeof buf; i++)
		if (buf[i] != 0)
			harness_fail(__FILE__, __LINE__, "byte %zu of a new allocation is 0x%x", i, buf[i]);
	/* Reading allocates nothing. */
	CHECK_EQ(util_region(t, 0x10000).resident_pages, 0);
}

TEST(fixed_returns_start)
{
	task_t t = harness_task();
	vm_address_t a = 0x20000;
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, 0x20000);
	CHECK_REGION(t, 0x20000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(fixed_rounding_unaligned_is_one_page)
{
	/* start = trunc(0x1ff0) = 0x1000, end = start + round(0x20) = 0x2000. */
	task_t t = harness_task();
	vm_address_t a = 0x1ff0;
	CHECK_KR(vm_allocate(t, &a, 0x20, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, 0x1000);
	CHECK_REGION(t, 0x1000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_EQ(harness_region_count(t), 1);
	/* The page after is free. */
	harness_alloc(t, 0x2000, P);
}

TEST(fixed_rounding_size_up)
{
	task_t t = harness_task();
	vm_address_t a = 0x10000;
	CHECK_KR(vm_allocate(t, &a, 1, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, 0x10000);
	CHECK_REGION(t, 0x10000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	a = 0x20000;
	CHECK_KR(vm_allocate(t, &a, P + 1, FALSE), KERN_SUCCESS);
	CHECK_REGION(t, 0x20000, 2 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(fixed_rounding_64k_pages)
{
	harness_restart(65536);
	task_t t = harness_task();
	vm_address_t a = 0x2fff0;
	CHECK_KR(vm_allocate(t, &a, 0x20, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, 0x20000);
	CHECK_REGION(t, 0x20000, 0x10000, VM_PROT_DEFAULT, VM_PROT_ALL);
	/* The first page is allowed; address 0 is not. */
	a = 0x10000;
	CHECK_KR(vm_allocate(t, &a, 1, FALSE), KERN_SUCCESS);
	a = 0x8000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 1, FALSE), KERN_INVALID_ADDRESS);
}

TEST(size_zero)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	vm_address_t a = 0x30000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 0, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, 0);
	a = 0x30000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 0, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 0);
	/* Even at an address that is taken. */
	a = 0x10000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 0, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, 0);
}

TEST(size_rounding_wraps_is_invalid_argument)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	vm_address_t a = 0x20000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, ~(vm_size_t)0, FALSE), KERN_INVALID_ARGUMENT);
	a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, ~(vm_size_t)0, TRUE), KERN_INVALID_ARGUMENT);
	a = 0x20000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, ~(vm_size_t)0 - P + 2, FALSE), KERN_INVALID_ARGUMENT);
}

TEST(fixed_end_overflow_is_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	/* round(size) is fine, start + round(size) wraps. */
	vm_address_t a = ~(vm_size_t)0 - P + 1;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 2 * P, FALSE), KERN_INVALID_ADDRESS);
	a = 0x20000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, (vm_size_t)0 - P, FALSE), KERN_INVALID_ADDRESS);
}

TEST(fixed_outside_user_range)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	vm_address_t a;
	/* Page 0 is not in the user range. */
	a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, P, FALSE), KERN_INVALID_ADDRESS);
	a = 0x800;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 1, FALSE), KERN_INVALID_ADDRESS);
	a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 4 * P, FALSE), KERN_INVALID_ADDRESS);
	/* Crossing or above the top. */
	a = TOP - P;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 2 * P, FALSE), KERN_INVALID_ADDRESS);
	a = TOP;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, P, FALSE), KERN_INVALID_ADDRESS);
	a = (vm_address_t)1 << 60;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, P, FALSE), KERN_INVALID_ADDRESS);
	/* Both ends of the user range are usable. */
	a = P;
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, P);
	a = TOP - P;
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, TOP - P);
	CHECK_REGION(t, TOP - P, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_EQ(harness_region_count(t), 3);
}

TEST(fixed_overlap_is_no_space)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	util_write_byte(t, 0x10000, 0x5a);
	vm_address_t a;
	a = 0x10000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, P, FALSE), KERN_NO_SPACE);
	a = 0x11000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, P, FALSE), KERN_NO_SPACE);
	/* Overlapping only the last page of the request. */
	a = 0xe000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 3 * P, FALSE), KERN_NO_SPACE);
	/* Overlapping only the first page of the request. */
	a = 0x11000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 4 * P, FALSE), KERN_NO_SPACE);
	/* Covering it entirely. */
	a = 0x8000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 0x20 * P, FALSE), KERN_NO_SPACE);
	/* Unaligned address whose truncated page overlaps. */
	a = 0x11fff;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 1, FALSE), KERN_NO_SPACE);
	/* The contents survived. */
	CHECK_EQ(util_read_byte(t, 0x10000), 0x5a);
	/* Just touching both sides is fine. */
	harness_alloc(t, 0xf000, P);
	harness_alloc(t, 0x12000, P);
}

TEST(adjacent_untouched_allocations_coalesce)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x11000, 2 * P);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_REGION(t, 0x10000, 3 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
	/* Also when the new one goes below the old one. */
	harness_alloc(t, 0xf000, P);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_REGION(t, 0xf000, 4 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
	/* And when it fills a one-page hole between two. */
	harness_alloc(t, 0x14000, P);
	CHECK_EQ(harness_region_count(t), 2);
	harness_alloc(t, 0x13000, P);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_REGION(t, 0xf000, 6 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(anywhere_empty_map_takes_first_page)
{
	task_t t = harness_task();
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, P);
	CHECK_REGION(t, P, P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(anywhere_first_fit)
{
	task_t t = harness_task();
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, 2 * P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, P);
	/* [P,3P) used; B at [5P,6P), so [3P,5P) is a two-page hole. */
	harness_alloc(t, 5 * P, P);
	/* Three pages do not fit the hole: they go after B. */
	a = 0;
	CHECK_KR(vm_allocate(t, &a, 3 * P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 6 * P);
	/* One page goes into the hole, at its bottom. */
	a = 0;
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 3 * P);
	/* The last hole page. */
	a = 0;
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 4 * P);
	/* Now everything up to 9P is used. */
	a = 0;
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 9 * P);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_REGION(t, P, 9 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(anywhere_fills_exact_hole_between_allocations)
{
	task_t t = harness_task();
	harness_alloc(t, P, 4 * P);
	harness_alloc(t, 8 * P, 2 * P);
	/* Touch both so they are distinct regions whatever the coalescing. */
	util_write_byte(t, P, 1);
	util_write_byte(t, 8 * P, 2);
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, 3 * P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 5 * P);
	CHECK_EQ(util_read_byte(t, P), 1);
	CHECK_EQ(util_read_byte(t, 8 * P), 2);
	CHECK_EQ(util_read_byte(t, 5 * P), 0);
}

TEST(anywhere_ignores_address_hint)
{
	/* Anywhere takes the lowest fit at or above P, whatever *address says. */
	task_t t = harness_task();
	vm_address_t a = 0x40000000;
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, P);
	a = 0x123;
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 2 * P);
}

TEST(anywhere_unaligned_size_rounds_up)
{
	task_t t = harness_task();
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, P + 1, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, P);
	CHECK_REGION(t, P, 2 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
	a = 0;
	CHECK_KR(vm_allocate(t, &a, 1, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 3 * P);
}

TEST(anywhere_64k_pages)
{
	harness_restart(65536);
	task_t t = harness_task();
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, 1, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 0x10000);
	a = 0;
	CHECK_KR(vm_allocate(t, &a, 0x10001, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 0x20000);
	CHECK_REGION(t, 0x10000, 0x30000, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(anywhere_no_space)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	vm_address_t a = 0;
	/* The user range is [P, 2^47): 2^47 bytes can never fit. */
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, TOP, TRUE), KERN_NO_SPACE);
	a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, (vm_size_t)1 << 60, TRUE), KERN_NO_SPACE);
	a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, (vm_size_t)0 - P, TRUE), KERN_NO_SPACE);
	/* Everything but one page would fit an empty map, but 0x10000 is taken. */
	a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, TOP - P, TRUE), KERN_NO_SPACE);
}

TEST(anywhere_whole_user_range)
{
	task_t t = harness_task();
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, TOP - P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, P);
	CHECK_REGION(t, P, TOP - P, VM_PROT_DEFAULT, VM_PROT_ALL);
	/* Now the map is full. */
	a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, P, TRUE), KERN_NO_SPACE);
	CHECK_KR(vm_deallocate(t, P, TOP - P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 0);
}

TEST(anywhere_finds_last_page)
{
	/* Fill [P, TOP - P), leaving only the last page free. */
	task_t t = harness_task();
	harness_alloc(t, P, TOP - 2 * P);
	vm_address_t a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 2 * P, TRUE), KERN_NO_SPACE);
	a = 0;
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, TOP - P);
}

TEST(dead_task)
{
	task_t dead = util_dead_task();
	vm_address_t a = 0x10000;
	CHECK_KR(vm_allocate(dead, &a, P, FALSE), KERN_INVALID_ARGUMENT);
	a = 0;
	CHECK_KR(vm_allocate(dead, &a, P, TRUE), KERN_INVALID_ARGUMENT);
	a = 0x10000;
	CHECK_KR(vm_allocate(TASK_NULL, &a, P, FALSE), KERN_INVALID_ARGUMENT);
	a = 0x10000;
	CHECK_KR(vm_allocate(dead + 1000, &a, P, FALSE), KERN_INVALID_ARGUMENT);
	CHECK(!machvm_task_alive(dead));
	machvm_host_stats_t hs = util_host_stats();
	CHECK_EQ(hs.tasks, 0);
	CHECK_EQ(hs.virtual_size, 0);
}

TEST(tasks_are_independent)
{
	task_t a = harness_task(), b = harness_task();
	harness_alloc(a, 0x10000, P);
	/* The same address in another task is free. */
	harness_alloc(b, 0x10000, 2 * P);
	CHECK_REGION(a, 0x10000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_REGION(b, 0x10000, 2 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
	vm_address_t x = 0;
	CHECK_KR(vm_allocate(b, &x, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(x, P);
}

TEST(counters_follow_allocations)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	harness_alloc(t, 0x40000, 2 * P);
	machvm_task_stats_t s = util_task_stats(t);
	CHECK_EQ(s.regions, 2);
	CHECK_EQ(s.virtual_size, 6 * P);
	CHECK_EQ(s.resident_pages, 0);
	CHECK_EQ(s.objects, 0);
	machvm_host_stats_t hs = util_host_stats();
	CHECK_EQ(hs.virtual_size, 6 * P);
	CHECK_EQ(hs.entries, 2);
}
