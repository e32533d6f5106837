/*
 * test_deallocate.c - vm_deallocate: whole and partial removal, holes,
 * rounding, size 0, range errors, wired memory, freeing objects and pages.
 */
#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define TOP MACHVM_USER_MAX

TEST(whole_region)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_deallocate(t, 0x10000, 4 * P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 0);
	machvm_task_stats_t s = util_task_stats(t);
	CHECK_EQ(s.regions, 0);
	CHECK_EQ(s.virtual_size, 0);
	/* The space is free again. */
	harness_alloc(t, 0x10000, 4 * P);
}

TEST(middle_splits)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_deallocate(t, 0x11000, 2 * P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_REGION(t, 0x10000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_REGION(t, 0x13000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	vm_address_t a = 0x11000;
	vm_region_extended_info_t r;
	CHECK_KR(vm_region_extended(t, &a, &r), KERN_SUCCESS);
	CHECK_EQ(a, 0x13000);
}

TEST(middle_of_touched_keeps_data)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	for (int i = 0; i < 4; i++)
		util_write_byte(t, 0x10000 + i * P, (unsigned char)(0x10 + i));
	CHECK_KR(vm_deallocate(t, 0x11000, 2 * P), KERN_SUCCESS);
	CHECK_EQ(util_read_byte(t, 0x10000), 0x10);
	CHECK_EQ(util_read_byte(t, 0x13000), 0x13);
	unsigned char b;
	vm_size_t n = 9;
	CHECK_KR(vm_read(t, 0x11000, 1, &b, &n), KERN_INVALID_ADDRESS);
	CHECK_EQ(util_task_stats(t).resident_pages, 2);
	/* The freed pages really went: the host holds only the two kept pages. */
	CHECK_EQ(util_host_stats().resident_pages, 2);
	/* Reallocating the hole gives zeros, not the old bytes. */
	harness_alloc(t, 0x11000, 2 * P);
	CHECK_EQ(util_read_byte(t, 0x11000), 0);
	CHECK_EQ(util_read_byte(t, 0x12000), 0);
}

TEST(unaligned_range_rounds_out)
{
	/* (0x10ff0, 0x20) covers the pages 0x10000 and 0x11000. */
	task_t t = harness_task();
	harness_alloc(t, 0xf000, 4 * P);
	CHECK_KR(vm_deallocate(t, 0x10ff0, 0x20), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_REGION(t, 0xf000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_REGION(t, 0x12000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	/* One byte removes its whole page. */
	CHECK_KR(vm_deallocate(t, 0x12abc, 1), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
}

TEST(holes_are_skipped)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	harness_alloc(t, 0x15000, 2 * P);
	harness_alloc(t, 0x20000, P);
	util_write_byte(t, 0x12000, 1);
	/* From a hole, across holes, into the middle of the third region. */
	CHECK_KR(vm_deallocate(t, 0xf000, 0x7000), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_REGION(t, 0x16000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_REGION(t, 0x20000, P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(range_with_nothing_is_success)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x20000, 0x10 * P), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, P, 0xf * P), KERN_SUCCESS);
	task_t e = harness_task();
	CHECK_KR_UNCHANGED(e, vm_deallocate(e, P, TOP - P), KERN_SUCCESS);
}

TEST(whole_user_range)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, 0x100000, 3 * P);
	harness_alloc(t, TOP - P, P);
	util_touch(t, 0x100000, 3 * P, 9);
	CHECK_KR(vm_deallocate(t, P, TOP - P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 0);
	machvm_host_stats_t hs = util_host_stats();
	CHECK_EQ(hs.objects, 0);
	CHECK_EQ(hs.resident_pages, 0);
	CHECK_EQ(hs.virtual_size, 0);
}

TEST(size_zero)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x10000, 0), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x10800, 0), KERN_SUCCESS);
	CHECK_REGION(t, 0x10000, 2 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(overflow_is_invalid_argument)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, TOP - P, P);
	/* addr + size overflows. */
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x10000, ~(vm_size_t)0), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, (vm_address_t)0 - P, 2 * P), KERN_INVALID_ARGUMENT);
	/* addr + size fits but the rounded end wraps to 0. */
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, (vm_address_t)0 - P, P - 1), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x10000, (vm_size_t)0 - 0x10000 - 1), KERN_INVALID_ARGUMENT);
}

TEST(outside_user_range_is_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, TOP - P, P);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0, P), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0, 2 * P), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x10, 0x10), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, TOP - P, 2 * P), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, TOP, P), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, (vm_address_t)1 << 62, P), KERN_INVALID_ADDRESS);
	/* Right up to the top is fine. */
	CHECK_KR(vm_deallocate(t, TOP - P, P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
}

TEST(wired_memory_is_removed)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 3 * P, VM_PROT_READ | VM_PROT_WRITE), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 3 * P, VM_PROT_READ), KERN_SUCCESS);
	CHECK_EQ(util_task_stats(t).wired_pages, 3);
	CHECK_KR(vm_deallocate(t, 0x11000, P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_EQ(util_region(t, 0x10000).wired_count, 2);
	CHECK_EQ(util_region(t, 0x12000).wired_count, 2);
	CHECK_EQ(util_task_stats(t).wired_pages, 2);
	CHECK_KR(vm_deallocate(t, 0x10000, 3 * P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 0);
	machvm_host_stats_t hs = util_host_stats();
	CHECK_EQ(hs.wired_pages, 0);
	CHECK_EQ(hs.resident_pages, 0);
	CHECK_EQ(hs.objects, 0);
	/* A new allocation there is a fresh, unwired one. */
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_EQ(util_region(t, 0x10000).wired_count, 0);
	CHECK_EQ(util_region(t, 0x10000).resident_pages, 0);
}

TEST(objects_and_pages_freed_at_once)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	harness_alloc(t, 0x30000, 2 * P);
	util_touch(t, 0x10000, 4 * P, 3);
	util_touch(t, 0x30000, 2 * P, 4);
	machvm_host_stats_t hs = util_host_stats();
	CHECK_EQ(hs.resident_pages, 6);
	CHECK_EQ(hs.objects, 2);
	/* Part of an object: its pages in the range go. */
	CHECK_KR(vm_deallocate(t, 0x12000, 2 * P), KERN_SUCCESS);
	hs = util_host_stats();
	CHECK_EQ(hs.resident_pages, 4);
	CHECK_EQ(hs.objects, 2);
	/* The whole second object. */
	CHECK_KR(vm_deallocate(t, 0x30000, 2 * P), KERN_SUCCESS);
	hs = util_host_stats();
	CHECK_EQ(hs.resident_pages, 2);
	CHECK_EQ(hs.objects, 1);
	CHECK_KR(vm_deallocate(t, 0x10000, 2 * P), KERN_SUCCESS);
	hs = util_host_stats();
	CHECK_EQ(hs.resident_pages, 0);
	CHECK_EQ(hs.objects, 0);
	CHECK_EQ(hs.entries, 0);
}

TEST(shared_object_survives_other_side)
{
	/* A page shared with a child stays while the child still maps it. */
	task_t parent = harness_task();
	harness_alloc(parent, 0x10000, P);
	CHECK_KR(vm_inherit(parent, 0x10000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	util_write_byte(parent, 0x10000, 0x42);
	task_t child = TASK_NULL;
	CHECK_KR(task_create(parent, TRUE, &child), KERN_SUCCESS);
	CHECK_KR(vm_deallocate(parent, 0x10000, P), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(parent), 0);
	CHECK_EQ(util_read_byte(child, 0x10000), 0x42);
	CHECK_EQ(util_host_stats().objects, 1);
	CHECK_KR(vm_deallocate(child, 0x10000, P), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().objects, 0);
	CHECK_EQ(util_host_stats().resident_pages, 0);
}

TEST(other_task_untouched)
{
	task_t a = harness_task(), b = harness_task();
	harness_alloc(a, 0x10000, 2 * P);
	harness_alloc(b, 0x10000, 2 * P);
	util_snap_t before = util_snapshot(b);
	CHECK_KR(vm_deallocate(a, 0x10000, 2 * P), KERN_SUCCESS);
	CHECK_UNCHANGED(b, before);
	util_snap_free(&before);
}

TEST(dead_task)
{
	task_t dead = util_dead_task();
	CHECK_KR(vm_deallocate(dead, 0x10000, P), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_deallocate(TASK_NULL, 0x10000, P), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_deallocate(dead + 77, 0x10000, P), KERN_INVALID_ARGUMENT);
}

TEST(page_size_64k)
{
	harness_restart(65536);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x40000);
	/* One byte at 0x2ffff removes the 64K page [0x20000, 0x30000). */
	CHECK_KR(vm_deallocate(t, 0x2ffff, 1), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_REGION(t, 0x10000, 0x10000, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_REGION(t, 0x30000, 0x20000, VM_PROT_DEFAULT, VM_PROT_ALL);
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x8000, 0x1000), KERN_INVALID_ADDRESS);
}
