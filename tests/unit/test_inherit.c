/*
 * test_inherit.c - vm_inherit and the map-level vm_map_inherit (which
 * rounds both ends down), and what inheritance does at task creation.
 */
#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define TOP MACHVM_USER_MAX

static vm_inherit_t inh_at(task_t t, vm_address_t a)
{
	return util_region(t, a).inheritance;
}

TEST(set_each_value)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_COPY);
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_SHARE);
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_NONE);
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_COPY);
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_DEFAULT), KERN_SUCCESS);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_COPY);
	/* Inheritance changes nothing else. */
	CHECK_REGION(t, 0x10000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(part_splits_and_round_trip_coalesces)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_snap_t before = util_snapshot(t);
	CHECK_KR(vm_inherit(t, 0x11000, 2 * P, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_COPY);
	CHECK_EQ(inh_at(t, 0x11000), VM_INHERIT_NONE);
	CHECK_EQ(util_region(t, 0x11000).size, 2 * P);
	CHECK_EQ(inh_at(t, 0x13000), VM_INHERIT_COPY);
	CHECK_KR(vm_inherit(t, 0x11000, 2 * P, VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_UNCHANGED(t, before);
	util_snap_free(&before);
}

TEST(round_trip_coalesces_touched)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	util_touch(t, 0x10000, 3 * P, 5);
	util_snap_t before = util_snapshot(t);
	CHECK_KR(vm_inherit(t, 0x11000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_KR(vm_inherit(t, 0x11000, P, VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_UNCHANGED(t, before);
	util_snap_free(&before);
}

TEST(unaligned_range_rounds_out)
{
	/* (0x10ff0, 0x20) covers the pages 0x10000 and 0x11000. */
	task_t t = harness_task();
	harness_alloc(t, 0xf000, 4 * P);
	CHECK_KR(vm_inherit(t, 0x10ff0, 0x20, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_EQ(util_region(t, 0x10000).start, 0x10000);
	CHECK_EQ(util_region(t, 0x10000).size, 2 * P);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_NONE);
	CHECK_EQ(inh_at(t, 0xf000), VM_INHERIT_COPY);
	CHECK_EQ(inh_at(t, 0x12000), VM_INHERIT_COPY);
}

TEST(size_zero)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, 0, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10800, 0, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x40000, 0, VM_INHERIT_SHARE), KERN_SUCCESS);
}

TEST(bad_value_invalid_argument)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	static const vm_inherit_t bad[] = { 3, 4, 100, 0xffffffffu };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, P, bad[i]), KERN_INVALID_ARGUMENT);
		/* Checked before the size-0 short-cut, and before the range. */
		CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, 0, bad[i]), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x40000, P, bad[i]), KERN_INVALID_ARGUMENT);
	}
}

TEST(hole_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	/* Hole in the middle, unallocated start, hole at the end. */
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, 3 * P, VM_INHERIT_SHARE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x11000, 2 * P, VM_INHERIT_SHARE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x12000, 2 * P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x40000, P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	/* Unaligned, reaching the hole by rounding. */
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10fff, 2, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_COPY);
	CHECK_EQ(inh_at(t, 0x12000), VM_INHERIT_COPY);
}

TEST(overflow_invalid_argument)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, ~(vm_size_t)0, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, (vm_address_t)0 - P, 2 * P, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, (vm_address_t)0 - P, P - 1, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(outside_user_range_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, TOP - P, P);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0, 2 * P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0xfff, 2, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, TOP - P, 2 * P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_inherit(t, TOP, P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR(vm_inherit(t, P, P, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, TOP - P, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(inh_at(t, TOP - P), VM_INHERIT_SHARE);
}

TEST(dead_task)
{
	task_t dead = util_dead_task();
	CHECK_KR(vm_inherit(dead, 0x10000, P, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_inherit(TASK_NULL, 0x10000, P, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_map_inherit(dead, 0x10000, 0x11000, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_map_inherit(TASK_NULL, 0x10000, 0x11000, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(inheritance_decides_fork)
{
	task_t parent = harness_task();
	harness_alloc(parent, 0x10000, 3 * P);
	util_touch(parent, 0x10000, 3 * P, 1);
	CHECK_KR(vm_inherit(parent, 0x10000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_KR(vm_inherit(parent, 0x12000, P, VM_INHERIT_NONE), KERN_SUCCESS);
	task_t child = TASK_NULL;
	CHECK_KR(task_create(parent, TRUE, &child), KERN_SUCCESS);
	/* share: one memory; copy: a private copy; none: a hole. */
	CHECK_EQ(harness_region_count(child), 2);
	CHECK_EQ(inh_at(child, 0x10000), VM_INHERIT_SHARE);
	CHECK_EQ(inh_at(child, 0x11000), VM_INHERIT_COPY);
	vm_address_t a = 0x12000;
	vm_region_extended_info_t r;
	CHECK_KR(vm_region_extended(child, &a, &r), KERN_NO_SPACE);
	util_write_byte(child, 0x10000, 0x51);
	util_write_byte(child, 0x11000, 0x52);
	CHECK_EQ(util_read_byte(parent, 0x10000), 0x51);
	CHECK_EQ(util_read_byte(parent, 0x11000), 1);
}

/* ---- vm_map_inherit ---------------------------------------------------- */

TEST(map_inherit_whole_pages)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_map_inherit(t, 0x11000, 0x13000, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_EQ(inh_at(t, 0x11000), VM_INHERIT_SHARE);
	CHECK_EQ(util_region(t, 0x11000).start, 0x11000);
	CHECK_EQ(util_region(t, 0x11000).size, 2 * P);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_COPY);
	CHECK_EQ(inh_at(t, 0x13000), VM_INHERIT_COPY);
	CHECK_KR(vm_map_inherit(t, 0x10000, 0x14000, VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
}

TEST(map_inherit_rounds_both_ends_down)
{
	/* start 0x10fff -> 0x10000, end 0x12fff -> 0x12000: [0x10000, 0x12000) only. */
	task_t t = harness_task();
	harness_alloc(t, 0xf000, 5 * P);
	CHECK_KR(vm_map_inherit(t, 0x10fff, 0x12fff, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.start, 0x10000);
	CHECK_EQ(r.size, 0x2000);
	CHECK_EQ(r.inheritance, VM_INHERIT_NONE);
	CHECK_EQ(inh_at(t, 0xf000), VM_INHERIT_COPY);
	CHECK_EQ(util_region(t, 0xf000).size, P);
	/* The page holding the unrounded end (0x12000) is not covered. */
	CHECK_EQ(inh_at(t, 0x12000), VM_INHERIT_COPY);
	CHECK_EQ(util_region(t, 0x12000).start, 0x12000);
	CHECK_EQ(util_region(t, 0x12000).size, 2 * P);
}

TEST(map_inherit_end_rounded_down_to_an_allocated_end)
{
	/* [0x10000, 0x12000) allocated, hole after: end 0x12fff rounds down to 0x12000, no hole. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_map_inherit(t, 0x10000, 0x12fff, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_SHARE);
	/* vm_inherit with the same span would round up into the hole. */
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, 0x2fff, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
}

TEST(map_inherit_start_rounded_down_into_allocation)
{
	/* start 0x10800 rounds down to 0x10000, which is allocated. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_map_inherit(t, 0x10800, 0x11000, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_EQ(inh_at(t, 0x10000), VM_INHERIT_NONE);
	CHECK_EQ(util_region(t, 0x10000).size, P);
	CHECK_EQ(inh_at(t, 0x11000), VM_INHERIT_COPY);
}

TEST(map_inherit_equal_after_rounding_does_nothing)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x10000, 0x10000, VM_INHERIT_NONE), KERN_SUCCESS);
	/* 0x10fff and 0x10001 both round down to 0x10000. */
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x10001, 0x10fff, VM_INHERIT_NONE), KERN_SUCCESS);
	/* end < start before rounding but equal after: rounding comes first. */
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x10fff, 0x10001, VM_INHERIT_NONE), KERN_SUCCESS);
	/* Also where nothing is allocated. */
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x40000, 0x40000, VM_INHERIT_SHARE), KERN_SUCCESS);
}

TEST(map_inherit_end_below_start)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x12000, 0x11000, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x13000, 0x10fff, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x11000, 0, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(map_inherit_bad_value)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x10000, 0x12000, 3), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x10000, 0x12000, 0xffffffffu), KERN_INVALID_ARGUMENT);
	/* Checked before the empty-range short-cut. */
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x10000, 0x10000, 3), KERN_INVALID_ARGUMENT);
}

TEST(map_inherit_hole_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x10000, 0x13000, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x11000, 0x12000, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	/* Rounding down of the start reaches the hole page 0x11000. */
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0x11fff, 0x13000, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	/* But rounding down of the end keeps [0x12000,0x13000) clear of the hole after it. */
	CHECK_KR(vm_map_inherit(t, 0x12000, 0x13fff, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_EQ(inh_at(t, 0x12000), VM_INHERIT_NONE);
}

TEST(map_inherit_outside_user_range)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, TOP - P, P);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0, 2 * P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, 0xfff, 0x2000, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, TOP - P, TOP + P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_map_inherit(t, TOP, TOP + P, VM_INHERIT_NONE), KERN_INVALID_ADDRESS);
	/* end 2^47 + 0xfff rounds down to 2^47: the last page only, allowed. */
	CHECK_KR(vm_map_inherit(t, TOP - P, TOP + 0xfff, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(inh_at(t, TOP - P), VM_INHERIT_SHARE);
}

TEST(map_inherit_64k_pages)
{
	harness_restart(65536);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x40000);
	/* start 0x1ffff -> 0x10000, end 0x3ffff -> 0x30000. */
	CHECK_KR(vm_map_inherit(t, 0x1ffff, 0x3ffff, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.size, 0x20000);
	CHECK_EQ(r.inheritance, VM_INHERIT_SHARE);
	CHECK_EQ(inh_at(t, 0x30000), VM_INHERIT_COPY);
}
