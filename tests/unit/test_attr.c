/*
 * test_attr.c - vm_machine_attribute: every attribute and value, GET,
 * splitting and coalescing, the flush counters, and the errors (all
 * KERN_INVALID_ARGUMENT for this call).
 */
#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define TOP MACHVM_USER_MAX

static kern_return_t attr(task_t t, vm_address_t a, vm_size_t s,
                          vm_machine_attribute_t which, vm_machine_attribute_val_t v)
{
	return vm_machine_attribute(t, a, s, which, &v);
}

/* GET at addr over one page; must succeed. */
static vm_machine_attribute_val_t get(task_t t, vm_address_t a, vm_machine_attribute_t which)
{
	vm_machine_attribute_val_t v = MATTR_VAL_GET;
	CHECK_KR(vm_machine_attribute(t, a, P, which, &v), KERN_SUCCESS);
	CHECK(v == MATTR_VAL_ON || v == MATTR_VAL_OFF);
	return v;
}

static const vm_machine_attribute_t attrs[] = { MATTR_CACHE, MATTR_MIGRATE, MATTR_REPLICATE };
static const vm_machine_attribute_val_t flushes[] = {
	MATTR_VAL_CACHE_FLUSH, MATTR_VAL_DCACHE_FLUSH, MATTR_VAL_ICACHE_FLUSH,
};

TEST(defaults)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_EQ(get(t, 0x10000, MATTR_CACHE), MATTR_VAL_ON);
	CHECK_EQ(get(t, 0x10000, MATTR_MIGRATE), MATTR_VAL_OFF);
	CHECK_EQ(get(t, 0x10000, MATTR_REPLICATE), MATTR_VAL_OFF);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.cache, MATTR_VAL_ON);
	CHECK_EQ(r.migrate, MATTR_VAL_OFF);
	CHECK_EQ(r.replicate, MATTR_VAL_OFF);
}

TEST(get_changes_nothing)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	vm_machine_attribute_val_t v = MATTR_VAL_GET;
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x11000, P, MATTR_CACHE, &v), KERN_SUCCESS);
	CHECK_EQ(v, MATTR_VAL_ON);
	v = MATTR_VAL_GET;
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x10000, 3 * P, MATTR_MIGRATE, &v), KERN_SUCCESS);
	CHECK_EQ(v, MATTR_VAL_OFF);
}

TEST(on_off_every_attribute_whole_region)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	for (size_t i = 0; i < 3; i++) {
		CHECK_KR(attr(t, 0x10000, 2 * P, attrs[i], MATTR_VAL_ON), KERN_SUCCESS);
		CHECK_EQ(get(t, 0x10000, attrs[i]), MATTR_VAL_ON);
		CHECK_EQ(get(t, 0x11000, attrs[i]), MATTR_VAL_ON);
		CHECK_EQ(harness_region_count(t), 1);
	}
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.cache, MATTR_VAL_ON);
	CHECK_EQ(r.migrate, MATTR_VAL_ON);
	CHECK_EQ(r.replicate, MATTR_VAL_ON);
	for (size_t i = 0; i < 3; i++) {
		CHECK_KR(attr(t, 0x10000, 2 * P, attrs[i], MATTR_VAL_OFF), KERN_SUCCESS);
		CHECK_EQ(get(t, 0x10000, attrs[i]), MATTR_VAL_OFF);
	}
	r = util_region(t, 0x10000);
	CHECK_EQ(r.cache, MATTR_VAL_OFF);
	CHECK_EQ(r.migrate, MATTR_VAL_OFF);
	CHECK_EQ(r.replicate, MATTR_VAL_OFF);
	/* Other fields are untouched. */
	CHECK_REGION(t, 0x10000, 2 * P, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(on_off_part_splits_and_get_sees_it)
{
	for (size_t i = 0; i < 3; i++) {
		harness_restart(4096);
		task_t t = harness_task();
		harness_alloc(t, 0x10000, 4 * P);
		util_snap_t before = util_snapshot(t);
		vm_machine_attribute_val_t old = get(t, 0x10000, attrs[i]);
		vm_machine_attribute_val_t flip = old == MATTR_VAL_ON ? MATTR_VAL_OFF : MATTR_VAL_ON;
		CHECK_KR(attr(t, 0x11000, 2 * P, attrs[i], flip), KERN_SUCCESS);
		CHECK_EQ(harness_region_count(t), 3);
		CHECK_EQ(util_region(t, 0x11000).start, 0x11000);
		CHECK_EQ(util_region(t, 0x11000).size, 2 * P);
		CHECK_EQ(get(t, 0x10000, attrs[i]), old);
		CHECK_EQ(get(t, 0x11000, attrs[i]), flip);
		CHECK_EQ(get(t, 0x12000, attrs[i]), flip);
		CHECK_EQ(get(t, 0x13000, attrs[i]), old);
		/* GET reports the value at the start of its range. */
		vm_machine_attribute_val_t v = MATTR_VAL_GET;
		CHECK_KR(vm_machine_attribute(t, 0x10000, 4 * P, attrs[i], &v), KERN_SUCCESS);
		CHECK_EQ(v, old);
		v = MATTR_VAL_GET;
		CHECK_KR(vm_machine_attribute(t, 0x12800, P, attrs[i], &v), KERN_SUCCESS);
		CHECK_EQ(v, flip);
		/* Back again: one region, as before. */
		CHECK_KR(attr(t, 0x11000, 2 * P, attrs[i], old), KERN_SUCCESS);
		CHECK_EQ(harness_region_count(t), 1);
		CHECK_UNCHANGED(t, before);
		util_snap_free(&before);
	}
}

TEST(round_trip_coalesces_touched)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	util_touch(t, 0x10000, 3 * P, 0x3c);
	util_snap_t before = util_snapshot(t);
	CHECK_KR(attr(t, 0x11000, P, MATTR_CACHE, MATTR_VAL_OFF), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_EQ(util_region(t, 0x11000).offset, P);
	CHECK_KR(attr(t, 0x11000, P, MATTR_CACHE, MATTR_VAL_ON), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_UNCHANGED(t, before);
	util_snap_free(&before);
}

TEST(setting_the_current_value_changes_nothing)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR_UNCHANGED(t, attr(t, 0x11000, P, MATTR_CACHE, MATTR_VAL_ON), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, attr(t, 0x11000, P, MATTR_MIGRATE, MATTR_VAL_OFF), KERN_SUCCESS);
}

TEST(unaligned_range_rounds_out)
{
	/* (0x10ff0, 0x20) covers the pages 0x10000 and 0x11000. */
	task_t t = harness_task();
	harness_alloc(t, 0xf000, 4 * P);
	CHECK_KR(attr(t, 0x10ff0, 0x20, MATTR_REPLICATE, MATTR_VAL_ON), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.start, 0x10000);
	CHECK_EQ(r.size, 2 * P);
	CHECK_EQ(r.replicate, MATTR_VAL_ON);
	CHECK_EQ(get(t, 0xf000, MATTR_REPLICATE), MATTR_VAL_OFF);
	CHECK_EQ(get(t, 0x12000, MATTR_REPLICATE), MATTR_VAL_OFF);
	/* GET at an unaligned address looks at its page. */
	vm_machine_attribute_val_t v = MATTR_VAL_GET;
	CHECK_KR(vm_machine_attribute(t, 0x11fff, 1, MATTR_REPLICATE, &v), KERN_SUCCESS);
	CHECK_EQ(v, MATTR_VAL_ON);
}

TEST(get_size_zero_leaves_value)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	/* GET is both the request and, on success, replaced by the value:
	 * with size 0 it stays GET. */
	vm_machine_attribute_val_t v = MATTR_VAL_GET;
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x10000, 0, MATTR_CACHE, &v), KERN_SUCCESS);
	CHECK_EQ(v, MATTR_VAL_GET);
	v = MATTR_VAL_GET;
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x40000, 0, MATTR_MIGRATE, &v), KERN_SUCCESS);
	CHECK_EQ(v, MATTR_VAL_GET);
	/* Also where the attribute is on and the range is an unaligned byte. */
	v = MATTR_VAL_GET;
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x10800, 0, MATTR_CACHE, &v), KERN_SUCCESS);
	CHECK_EQ(v, MATTR_VAL_GET);
}

TEST(size_zero_does_nothing)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	for (size_t i = 0; i < 3; i++) {
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 0, attrs[i], MATTR_VAL_OFF), KERN_SUCCESS);
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 0, attrs[i], MATTR_VAL_ON), KERN_SUCCESS);
	}
	for (size_t i = 0; i < 3; i++)
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 0, MATTR_CACHE, flushes[i]), KERN_SUCCESS);
}

TEST(flush_counts_per_region)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(attr(t, 0x10000, 2 * P, MATTR_CACHE, MATTR_VAL_CACHE_FLUSH), KERN_SUCCESS);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.cache_flushes, 1);
	CHECK_EQ(r.dcache_flushes, 0);
	CHECK_EQ(r.icache_flushes, 0);
	CHECK_KR(attr(t, 0x10000, 2 * P, MATTR_CACHE, MATTR_VAL_DCACHE_FLUSH), KERN_SUCCESS);
	CHECK_KR(attr(t, 0x10000, 2 * P, MATTR_CACHE, MATTR_VAL_DCACHE_FLUSH), KERN_SUCCESS);
	CHECK_KR(attr(t, 0x10000, 2 * P, MATTR_CACHE, MATTR_VAL_ICACHE_FLUSH), KERN_SUCCESS);
	CHECK_KR(attr(t, 0x10000, 2 * P, MATTR_CACHE, MATTR_VAL_ICACHE_FLUSH), KERN_SUCCESS);
	CHECK_KR(attr(t, 0x10000, 2 * P, MATTR_CACHE, MATTR_VAL_ICACHE_FLUSH), KERN_SUCCESS);
	r = util_region(t, 0x10000);
	CHECK_EQ(r.cache_flushes, 1);
	CHECK_EQ(r.dcache_flushes, 2);
	CHECK_EQ(r.icache_flushes, 3);
	/* A flush changes nothing else: cache stays on, the region stays whole. */
	CHECK_EQ(r.cache, MATTR_VAL_ON);
	CHECK_EQ(r.size, 2 * P);
	CHECK_EQ(r.resident_pages, 0);
	CHECK_EQ(harness_region_count(t), 1);
}

TEST(flush_over_several_regions_counts_each_once)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_KR(attr(t, 0x10000, 3 * P, MATTR_CACHE, MATTR_VAL_CACHE_FLUSH), KERN_SUCCESS);
	for (vm_address_t a = 0x10000; a < 0x13000; a += P)
		CHECK_EQ(util_region(t, a).cache_flushes, 1);
	/* Only the regions the range touches. */
	CHECK_KR(attr(t, 0x11000, 2 * P, MATTR_CACHE, MATTR_VAL_ICACHE_FLUSH), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).icache_flushes, 0);
	CHECK_EQ(util_region(t, 0x11000).icache_flushes, 1);
	CHECK_EQ(util_region(t, 0x12000).icache_flushes, 1);
}

TEST(flush_does_not_split)
{
	/* A flush changes nothing: flushing one page of a region counts for the region. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR(attr(t, 0x11000, P, MATTR_CACHE, MATTR_VAL_DCACHE_FLUSH), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.size, 3 * P);
	CHECK_EQ(r.dcache_flushes, 1);
}

TEST(different_flush_counters_do_not_coalesce)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(attr(t, 0x11000, P, MATTR_CACHE, MATTR_VAL_OFF), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_KR(attr(t, 0x10000, P, MATTR_CACHE, MATTR_VAL_CACHE_FLUSH), KERN_SUCCESS);
	CHECK_KR(attr(t, 0x11000, P, MATTR_CACHE, MATTR_VAL_ON), KERN_SUCCESS);
	/* Same attributes now, different flush counters: still two. */
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_EQ(util_region(t, 0x10000).cache_flushes, 1);
	CHECK_EQ(util_region(t, 0x11000).cache_flushes, 0);
	/* Equal counters again: they merge. */
	CHECK_KR(attr(t, 0x11000, P, MATTR_CACHE, MATTR_VAL_CACHE_FLUSH), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.size, 2 * P);
	CHECK_EQ(r.cache_flushes, 1);
}

TEST(flush_only_for_cache)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	for (size_t i = 0; i < 3; i++) {
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, P, MATTR_MIGRATE, flushes[i]), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, P, MATTR_REPLICATE, flushes[i]), KERN_INVALID_ARGUMENT);
	}
}

TEST(bad_attribute)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	static const vm_machine_attribute_t bad[] = { 0, 3, 5, 6, 7, 8, 16, 0xffffffffu };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, P, bad[i], MATTR_VAL_ON), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, P, bad[i], MATTR_VAL_GET), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, P, bad[i], MATTR_VAL_CACHE_FLUSH), KERN_INVALID_ARGUMENT);
		/* Validated before the size-0 short-cut. */
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 0, bad[i], MATTR_VAL_OFF), KERN_INVALID_ARGUMENT);
	}
}

TEST(bad_value)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	static const vm_machine_attribute_val_t bad[] = { -1, 3, 4, 5, 9, 10, 100 };
	for (size_t a = 0; a < 3; a++)
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			CHECK_KR_UNCHANGED(t, attr(t, 0x10000, P, attrs[a], bad[i]), KERN_INVALID_ARGUMENT);
			CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 0, attrs[a], bad[i]), KERN_INVALID_ARGUMENT);
		}
}

TEST(range_not_allocated)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	static const vm_machine_attribute_val_t vals[] = {
		MATTR_VAL_ON, MATTR_VAL_OFF, MATTR_VAL_GET,
		MATTR_VAL_CACHE_FLUSH, MATTR_VAL_DCACHE_FLUSH, MATTR_VAL_ICACHE_FLUSH,
	};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		/* A hole in the middle, an unallocated start, a hole at the end. */
		CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 3 * P, MATTR_CACHE, vals[i]), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, attr(t, 0x11000, 2 * P, MATTR_CACHE, vals[i]), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, attr(t, 0x12000, 2 * P, MATTR_CACHE, vals[i]), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, attr(t, 0x40000, P, MATTR_CACHE, vals[i]), KERN_INVALID_ARGUMENT);
		CHECK_KR_UNCHANGED(t, attr(t, 0x10fff, 2, MATTR_CACHE, vals[i]), KERN_INVALID_ARGUMENT);
	}
	CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 3 * P, MATTR_MIGRATE, MATTR_VAL_ON), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, attr(t, 0x10000, 3 * P, MATTR_REPLICATE, MATTR_VAL_GET), KERN_INVALID_ARGUMENT);
	task_t e = harness_task();
	CHECK_KR_UNCHANGED(e, attr(e, 0x10000, P, MATTR_CACHE, MATTR_VAL_GET), KERN_INVALID_ARGUMENT);
}

TEST(outside_user_range_and_overflow)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, TOP - P, P);
	CHECK_KR_UNCHANGED(t, attr(t, 0, 2 * P, MATTR_CACHE, MATTR_VAL_OFF), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, attr(t, 0x10, 1, MATTR_CACHE, MATTR_VAL_GET), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, attr(t, TOP - P, 2 * P, MATTR_CACHE, MATTR_VAL_OFF), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, attr(t, TOP, P, MATTR_CACHE, MATTR_VAL_CACHE_FLUSH), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, attr(t, P, ~(vm_size_t)0, MATTR_CACHE, MATTR_VAL_OFF), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, attr(t, (vm_address_t)0 - P, 2 * P, MATTR_CACHE, MATTR_VAL_OFF), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, attr(t, (vm_address_t)0 - P, P - 1, MATTR_CACHE, MATTR_VAL_GET), KERN_INVALID_ARGUMENT);
	/* The ends of the user range work. */
	CHECK_KR(attr(t, P, P, MATTR_CACHE, MATTR_VAL_OFF), KERN_SUCCESS);
	CHECK_KR(attr(t, TOP - P, P, MATTR_MIGRATE, MATTR_VAL_ON), KERN_SUCCESS);
	CHECK_EQ(get(t, TOP - P, MATTR_MIGRATE), MATTR_VAL_ON);
}

TEST(dead_task)
{
	task_t dead = util_dead_task();
	vm_machine_attribute_val_t v = MATTR_VAL_GET;
	CHECK_KR(vm_machine_attribute(dead, 0x10000, P, MATTR_CACHE, &v), KERN_INVALID_ARGUMENT);
	v = MATTR_VAL_ON;
	CHECK_KR(vm_machine_attribute(TASK_NULL, 0x10000, P, MATTR_CACHE, &v), KERN_INVALID_ARGUMENT);
	v = MATTR_VAL_CACHE_FLUSH;
	CHECK_KR(vm_machine_attribute(dead + 11, 0x10000, P, MATTR_CACHE, &v), KERN_INVALID_ARGUMENT);
}

TEST(attributes_survive_fork_and_split)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(attr(t, 0x10000, 2 * P, MATTR_MIGRATE, MATTR_VAL_ON), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_EQ(get(t, 0x10000, MATTR_MIGRATE), MATTR_VAL_ON);
	CHECK_EQ(get(t, 0x11000, MATTR_MIGRATE), MATTR_VAL_ON);
	task_t child = TASK_NULL;
	CHECK_KR(task_create(t, TRUE, &child), KERN_SUCCESS);
	CHECK_EQ(get(child, 0x10000, MATTR_MIGRATE), MATTR_VAL_ON);
}

TEST(page_size_64k)
{
	harness_restart(65536);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x30000);
	vm_machine_attribute_val_t v = MATTR_VAL_OFF;
	CHECK_KR(vm_machine_attribute(t, 0x2ffff, 1, MATTR_CACHE, &v), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	vm_region_extended_info_t r = util_region(t, 0x20000);
	CHECK_EQ(r.start, 0x20000);
	CHECK_EQ(r.size, 0x10000);
	CHECK_EQ(r.cache, MATTR_VAL_OFF);
}
