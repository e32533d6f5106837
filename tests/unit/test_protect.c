/*
 * test_protect.c - vm_protect: current and maximum protection, rounding,
 * the first problem in address order, coalescing back, what fails changes
 * nothing.
 */
#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define TOP MACHVM_USER_MAX
#define R VM_PROT_READ
#define W VM_PROT_WRITE
#define X VM_PROT_EXECUTE
#define RW (VM_PROT_READ | VM_PROT_WRITE)

TEST(set_current)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, R, VM_PROT_ALL);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, VM_PROT_ALL), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, VM_PROT_ALL, VM_PROT_ALL);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, VM_PROT_NONE, VM_PROT_ALL);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, X), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, X, VM_PROT_ALL);
}

TEST(protection_is_enforced_on_the_data_path)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	util_write_byte(t, 0x10000, 0x11);
	unsigned char b = 0x22;
	vm_size_t n = 0;
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_write(t, 0x10000, &b, 1, &n), KERN_PROTECTION_FAILURE);
	CHECK_EQ(util_read_byte(t, 0x10000), 0x11);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_read(t, 0x10000, 1, &b, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, RW), KERN_SUCCESS);
	util_write_byte(t, 0x10000, 0x33);
	CHECK_EQ(util_read_byte(t, 0x10000), 0x33);
}

TEST(part_of_region_splits)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_protect(t, 0x11000, 2 * P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_REGION(t, 0x10000, P, RW, VM_PROT_ALL);
	CHECK_REGION(t, 0x11000, 2 * P, R, VM_PROT_ALL);
	CHECK_REGION(t, 0x13000, P, RW, VM_PROT_ALL);
}

TEST(unaligned_range_covers_two_pages)
{
	/* (0x1ff0, 0x20): start = trunc(0x1ff0) = 0x1000, end = round(0x2010) = 0x3000. */
	task_t t = harness_task();
	harness_alloc(t, 0x1000, 4 * P);
	CHECK_KR(vm_protect(t, 0x1ff0, 0x20, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_REGION(t, 0x1000, 2 * P, R, VM_PROT_ALL);
	CHECK_REGION(t, 0x3000, 2 * P, RW, VM_PROT_ALL);
	/* One byte protects its whole page. */
	CHECK_KR(vm_protect(t, 0x4fff, 1, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_REGION(t, 0x3000, P, RW, VM_PROT_ALL);
	CHECK_REGION(t, 0x4000, P, VM_PROT_NONE, VM_PROT_ALL);
}

TEST(size_zero_does_nothing)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 0, FALSE, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10800, 0, TRUE, VM_PROT_NONE), KERN_SUCCESS);
	/* Even where nothing is allocated. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x40000, 0, FALSE, R), KERN_SUCCESS);
}

TEST(bad_bits_invalid_argument)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	static const vm_prot_t bad[] = { 8, 0x10, 0xf, 0x80, -1, (vm_prot_t)0x80000000 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, P, FALSE, bad[i]), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, P, TRUE, bad[i]), KERN_INVALID_ARGUMENT);
		/* Validated before the size-0 short-cut. */
		CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 0, FALSE, bad[i]), KERN_INVALID_ARGUMENT);
		/* And before looking at the range. */
		CHECK_KR_UNCHANGED(t, vm_protect(t, 0x40000, P, FALSE, bad[i]), KERN_INVALID_ARGUMENT);
	}
}

TEST(unallocated_start_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0xf000, 2 * P, FALSE, R), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x40000, P, FALSE, R), KERN_INVALID_ADDRESS);
	task_t e = harness_task();
	CHECK_KR_UNCHANGED(e, vm_protect(e, 0x10000, P, FALSE, R), KERN_INVALID_ADDRESS);
}

TEST(hole_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	util_write_byte(t, 0x12000, 1);
	/* A hole in the middle: nothing is changed, not even the first region. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, FALSE, R), KERN_INVALID_ADDRESS);
	/* A hole at the end. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x12000, 2 * P, FALSE, R), KERN_INVALID_ADDRESS);
	/* The same with set_maximum. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, TRUE, R), KERN_INVALID_ADDRESS);
	CHECK_REGION(t, 0x10000, P, RW, VM_PROT_ALL);
	CHECK_REGION(t, 0x12000, P, RW, VM_PROT_ALL);
}

TEST(hole_in_middle_of_one_page_regions_unaligned)
{
	/* An unaligned range whose rounding reaches into a hole. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10ff0, 0x20, FALSE, R), KERN_INVALID_ADDRESS);
}

TEST(max_lacks_bit_protection_failure)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, TRUE, R), KERN_SUCCESS);
	CHECK_REGION(t, 0x11000, P, R, R);
	/* Asking for write where max is r--, as current or as max. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x11000, P, FALSE, RW), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x11000, P, FALSE, X), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x11000, P, TRUE, RW), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x11000, P, TRUE, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
	/* Over the whole range: the first region is fine, the second fails, nothing changes. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, FALSE, RW), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, FALSE, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
	/* What max allows works. */
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, 3 * P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
}

TEST(first_problem_hole_before_protection_failure)
{
	/* [0x10000 rw-/rwx] hole [0x12000 r--/r--]: asking rw- over all meets the hole first. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	CHECK_KR(vm_protect(t, 0x12000, P, TRUE, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, FALSE, RW), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, TRUE, RW), KERN_INVALID_ADDRESS);
	/* Starting in the hole is a hole too. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x11000, 2 * P, FALSE, RW), KERN_INVALID_ADDRESS);
}

TEST(first_problem_protection_failure_before_hole)
{
	/* [0x10000 r--/r--] hole [0x12000 rw-/rwx]: the max failure comes first. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	CHECK_KR(vm_protect(t, 0x10000, P, TRUE, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, FALSE, RW), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, TRUE, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
	/* Without the bad bit, the hole decides. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, FALSE, R), KERN_INVALID_ADDRESS);
}

TEST(set_maximum_lowers_current)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	/* cur rw-, max rwx; max := r-x gives cur := rw- & r-x = r--. */
	CHECK_KR(vm_protect(t, 0x10000, P, TRUE, R | X), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, R, R | X);
	/* Current can now go up to max. */
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R | X), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, R | X, R | X);
	/* max := x-- lowers current to --x. */
	CHECK_KR(vm_protect(t, 0x10000, P, TRUE, X), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, X, X);
	/* max := none. */
	CHECK_KR(vm_protect(t, 0x10000, P, TRUE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, VM_PROT_NONE, VM_PROT_NONE);
	/* Nothing but none is allowed any more. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, P, FALSE, R), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, P, TRUE, VM_PROT_NONE), KERN_SUCCESS);
}

TEST(set_maximum_keeps_current_when_within)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, P, TRUE, RW), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, P, R, RW);
	/* Setting max to the same value is allowed and changes nothing. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, P, TRUE, RW), KERN_SUCCESS);
}

TEST(max_never_raised)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_protect(t, 0x10000, 2 * P, TRUE, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 2 * P, TRUE, RW), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, P, TRUE, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x11000, P, TRUE, R | X), KERN_PROTECTION_FAILURE);
	CHECK_REGION(t, 0x10000, 2 * P, R, R);
}

TEST(mixed_max_over_range)
{
	/* Three regions with max rwx, r--, rw-: lowering max to r-- over all works. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, TRUE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x12000, P, TRUE, RW), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_KR(vm_protect(t, 0x10000, 3 * P, TRUE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_REGION(t, 0x10000, 3 * P, R, R);
}

TEST(round_trip_coalesces_untouched)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_snap_t before = util_snapshot(t);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, RW), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_UNCHANGED(t, before);
	/* First and last page too. */
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x13000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_KR(vm_protect(t, 0x10000, 4 * P, FALSE, RW), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_UNCHANGED(t, before);
	util_snap_free(&before);
}

TEST(round_trip_coalesces_touched)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_touch(t, 0x10000, 4 * P, 0x77);
	util_snap_t before = util_snapshot(t);
	CHECK_EQ(before.count, 1);
	CHECK(before.regions[0].object_id != 0);
	CHECK_KR(vm_protect(t, 0x12000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	/* The pieces map the same object at contiguous offsets. */
	vm_region_extended_info_t mid = util_region(t, 0x12000);
	CHECK_EQ(mid.object_id, before.regions[0].object_id);
	CHECK_EQ(mid.offset, 2 * P);
	CHECK_KR(vm_protect(t, 0x12000, P, FALSE, RW), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	/* Back to exactly what it was (the ref count included). */
	CHECK_UNCHANGED(t, before);
	util_snap_free(&before);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(util_read_byte(t, 0x10000 + i * P), 0x77);
}

TEST(round_trip_set_maximum_does_not_coalesce_different_max)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, TRUE, RW), KERN_SUCCESS);
	/* Current is rw- everywhere but max differs: still three regions. */
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_REGION(t, 0x11000, P, RW, RW);
}

TEST(range_over_several_regions)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x12000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 4);
	/* From the middle of the second region to the middle of the fourth. */
	CHECK_KR(vm_protect(t, 0x11800, 0x2000, FALSE, VM_PROT_ALL), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_REGION(t, 0x10000, P, R, VM_PROT_ALL);
	CHECK_REGION(t, 0x11000, 3 * P, VM_PROT_ALL, VM_PROT_ALL);
}

TEST(wired_stays_wired)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 2 * P, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).wired_count, 1);
	CHECK_EQ(util_region(t, 0x11000).wired_count, 1);
	CHECK_REGION(t, 0x10000, P, R, VM_PROT_ALL);
	CHECK_KR(vm_protect(t, 0x10000, 2 * P, TRUE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.wired_count, 1);
	CHECK_EQ(r.protection, VM_PROT_NONE);
	CHECK_EQ(r.resident_pages, 2);
	CHECK_EQ(util_task_stats(t).wired_pages, 2);
}

TEST(overflow_invalid_argument)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, ~(vm_size_t)0, FALSE, R), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_protect(t, (vm_address_t)0 - P, 2 * P, FALSE, R), KERN_INVALID_ARGUMENT);
	/* addr + size fits, the rounded end wraps. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, (vm_address_t)0 - P, P - 1, FALSE, R), KERN_INVALID_ARGUMENT);
}

TEST(outside_user_range_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, TOP - P, P);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0, 2 * P, FALSE, R), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x800, P, FALSE, R), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, TOP - P, 2 * P, FALSE, R), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, TOP, P, FALSE, R), KERN_INVALID_ADDRESS);
	/* The ends of the user range themselves work. */
	CHECK_KR(vm_protect(t, P, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, TOP - P, P, FALSE, R), KERN_SUCCESS);
	CHECK_REGION(t, TOP - P, P, R, VM_PROT_ALL);
}

TEST(dead_task)
{
	task_t dead = util_dead_task();
	CHECK_KR(vm_protect(dead, 0x10000, P, FALSE, R), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_protect(TASK_NULL, 0x10000, P, FALSE, R), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_protect(dead + 5, 0x10000, P, TRUE, R), KERN_INVALID_ARGUMENT);
}

TEST(page_size_64k)
{
	harness_restart(65536);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x40000);
	/* (0x1fff0, 0x20) covers the pages 0x10000 and 0x20000. */
	CHECK_KR(vm_protect(t, 0x1fff0, 0x20, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_REGION(t, 0x10000, 0x20000, R, VM_PROT_ALL);
	CHECK_REGION(t, 0x30000, 0x20000, RW, VM_PROT_ALL);
	CHECK_KR(vm_protect(t, 0x10000, 0x40000, FALSE, RW), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
}
