/*
 * test_why.c - the failure record (<machvm/why.h>): each cause with the
 * fields it fills, cleared by the next call that keeps it, left alone by
 * queries, and kept per thread.
 */
#include <pthread.h>

#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define R VM_PROT_READ
#define W VM_PROT_WRITE
#define RW (VM_PROT_READ | VM_PROT_WRITE)

static struct machvm_why why(void)
{
	struct machvm_why w;
	memset(&w, 0xa5, sizeof w);
	CHECK_KR(machvm_why_get(&w), KERN_SUCCESS);
	return w;
}

TEST(why_null_is_invalid)
{
	CHECK_KR(machvm_why_get(NULL), KERN_INVALID_ARGUMENT);
}

TEST(why_names)
{
	CHECK(strcmp(machvm_why_name(MACHVM_WHY_NONE), "none") == 0);
	CHECK(strcmp(machvm_why_name(MACHVM_WHY_HOLE), "hole") == 0);
	CHECK(strcmp(machvm_why_name(MACHVM_WHY_NOT_WIRED), "not_wired") == 0);
	CHECK(strcmp(machvm_why_name(MACHVM_WHY_WRAPS), "wraps") == 0);
	CHECK(strcmp(machvm_why_name((machvm_why_kind_t)999), "unknown") == 0);
}

TEST(why_success_records_none)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_NONE);
	CHECK_EQ(w.kr, 0);
	CHECK_EQ(w.address, 0);
	CHECK_EQ(w.start, 0);
}

TEST(why_allocate_overlap_names_the_entry)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	vm_address_t a = 0x12000;
	CHECK_KR(vm_allocate(t, &a, 4 * P, FALSE), KERN_NO_SPACE);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_OVERLAP);
	CHECK_EQ(w.kr, KERN_NO_SPACE);
	CHECK_EQ(w.task, t);
	CHECK_EQ(w.address, 0x12000);
	CHECK_EQ(w.size, 4 * P);
	CHECK_EQ(w.start, 0x10000);
	CHECK_EQ(w.end, 0x14000);
}

TEST(why_allocate_overlap_lowest_entry_in_the_way)
{
	task_t t = harness_task();
	harness_alloc(t, 0x12000, P);
	harness_alloc(t, 0x14000, P);
	vm_address_t a = 0x11000;
	CHECK_KR(vm_allocate(t, &a, 8 * P, FALSE), KERN_NO_SPACE);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_OVERLAP);
	CHECK_EQ(w.start, 0x12000);
	CHECK_EQ(w.end, 0x13000);
}

TEST(why_allocate_outside_and_no_room)
{
	task_t t = harness_task();
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_INVALID_ADDRESS);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_OUTSIDE);
	CHECK_EQ(w.start, 0);
	CHECK_EQ(w.end, P);
	a = 0;
	CHECK_KR(vm_allocate(t, &a, MACHVM_USER_MAX, TRUE), KERN_NO_SPACE);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_NO_ROOM);
	CHECK_EQ(w.size, MACHVM_USER_MAX);
	CHECK_EQ(w.address, P);
}

TEST(why_protect_hole_names_its_address_and_end)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x13000, P);
	CHECK_KR(vm_protect(t, 0x10000, 4 * P, FALSE, R), KERN_INVALID_ADDRESS);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_HOLE);
	CHECK_EQ(w.kr, KERN_INVALID_ADDRESS);
	CHECK_EQ(w.task, t);
	CHECK_EQ(w.address, 0x11000);
	CHECK_EQ(w.start, 0x11000);
	CHECK_EQ(w.end, 0x13000);
	/* A hole with nothing after it runs to the top of the user range. */
	CHECK_KR(vm_protect(t, 0x900000, P, FALSE, R), KERN_INVALID_ADDRESS);
	w = why();
	CHECK_EQ(w.address, 0x900000);
	CHECK_EQ(w.end, MACHVM_USER_MAX);
}

TEST(why_protect_above_max_names_the_max)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, TRUE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, 2 * P, FALSE, RW), KERN_PROTECTION_FAILURE);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_MAX_PROTECTION);
	CHECK_EQ(w.kr, KERN_PROTECTION_FAILURE);
	CHECK_EQ(w.start, 0x11000);
	CHECK_EQ(w.end, 0x12000);
	CHECK_EQ(w.max_protection, R);
	CHECK_EQ(w.protection, R);
	CHECK_EQ(w.wanted, RW);
	/* Raising the maximum is the same cause. */
	CHECK_KR(vm_protect(t, 0x11000, P, TRUE, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_MAX_PROTECTION);
	CHECK_EQ(w.wanted, VM_PROT_ALL);
}

TEST(why_unwire_of_unwired_memory)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 2 * P, VM_PROT_NONE),
	         KERN_INVALID_ARGUMENT);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_NOT_WIRED);
	CHECK_EQ(w.start, 0x11000);
	CHECK_EQ(w.end, 0x12000);
	CHECK_EQ(w.wired_count, 0);
}

TEST(why_wire_protection_hole_and_limit)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, RW), KERN_FAILURE);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_PROTECTION);
	CHECK_EQ(w.protection, R);
	CHECK_EQ(w.wanted, RW);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 2 * P, R), KERN_FAILURE);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_HOLE);
	CHECK_EQ(w.address, 0x11000);
	for (int i = 0; i < 65535; i++)
		CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, R), KERN_FAILURE);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_WIRE_LIMIT);
	CHECK_EQ(w.wired_count, 65535);
	for (int i = 0; i < 65535; i++)
		CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
}

TEST(why_write_names_the_page_and_its_protection)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_protect(t, 0x12000, P, FALSE, R), KERN_SUCCESS);
	vm_size_t n = 99;
	CHECK_KR(vm_write(t, 0x12345, "x", 1, &n), KERN_PROTECTION_FAILURE);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_PROTECTION);
	CHECK_EQ(w.kr, KERN_PROTECTION_FAILURE);
	CHECK_EQ(w.address, 0x12000);
	CHECK_EQ(w.protection, R);
	CHECK_EQ(w.wanted, W);
	CHECK_EQ(w.start, 0x12000);
	CHECK_EQ(w.end, 0x13000);
	CHECK_KR(vm_write(t, 0x20010, "x", 1, &n), KERN_INVALID_ADDRESS);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_HOLE);
	CHECK_EQ(w.address, 0x20010);
	/* A short write is not a failure: nothing recorded. */
	CHECK_KR(vm_write(t, 0x11ffe, "abcd", 4, &n), KERN_SUCCESS);
	CHECK_EQ(n, 2);
	CHECK_EQ(why().kind, MACHVM_WHY_NONE);
	/* vm_read keeps the record too. */
	char buf[4];
	CHECK_KR(vm_protect(t, 0x13000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_read(t, 0x13000, 4, buf, &n), KERN_PROTECTION_FAILURE);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_PROTECTION);
	CHECK_EQ(w.wanted, R);
}

TEST(why_copy_and_attribute)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_copy(t, 0x10000, P, 0x11000), KERN_PROTECTION_FAILURE);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_PROTECTION);
	CHECK_EQ(w.address, 0x11000);
	CHECK_EQ(w.wanted, W);
	CHECK_KR(vm_copy(t, 0x10000, 4 * P, 0x10000), KERN_INVALID_ADDRESS);
	CHECK_EQ(why().kind, MACHVM_WHY_HOLE);
	CHECK_EQ(why().address, 0x12000);
	vm_machine_attribute_val_t v = MATTR_VAL_OFF;
	CHECK_KR(vm_machine_attribute(t, 0x11000, 4 * P, MATTR_CACHE, &v), KERN_INVALID_ARGUMENT);
	CHECK_EQ(why().kind, MACHVM_WHY_HOLE);
	CHECK_EQ(why().address, 0x12000);
}

TEST(why_inherit_hole)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(vm_inherit(t, 0x10000, 3 * P, VM_INHERIT_SHARE), KERN_INVALID_ADDRESS);
	CHECK_EQ(why().kind, MACHVM_WHY_HOLE);
	CHECK_EQ(why().address, 0x11000);
	CHECK_KR(vm_map_inherit(t, 0x8000, 0x11000, VM_INHERIT_SHARE), KERN_INVALID_ADDRESS);
	CHECK_EQ(why().address, 0x8000);
	CHECK_EQ(why().end, 0x10000);
}

TEST(why_remap_source_and_target)
{
	task_t src = harness_task(), dst = harness_task();
	harness_alloc(src, 0x10000, P);
	harness_alloc(dst, 0x40000, 2 * P);
	vm_address_t a = 0x40000;
	vm_prot_t cur, max;
	CHECK_KR(vm_remap(dst, &a, 2 * P, 0, FALSE, src, 0x10000, FALSE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_INVALID_ADDRESS);
	struct machvm_why w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_HOLE);
	CHECK_EQ(w.task, src);
	CHECK_EQ(w.address, 0x11000);
	CHECK_KR(vm_remap(dst, &a, P, 0, FALSE, src, 0x10000, FALSE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_NO_SPACE);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_OVERLAP);
	CHECK_EQ(w.task, dst);
	CHECK_EQ(w.start, 0x40000);
	CHECK_EQ(w.end, 0x42000);
	a = 0x51000;
	CHECK_KR(vm_remap(dst, &a, P, 0xffff, FALSE, src, 0x10000, FALSE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_NO_SPACE);
	CHECK_EQ(why().kind, MACHVM_WHY_MASK);
	CHECK_EQ(why().mask, 0xffff);
	CHECK_KR(vm_protect(src, 0x10000, P, TRUE, W), KERN_SUCCESS);
	a = 0;
	CHECK_KR(vm_remap(dst, &a, P, 0, TRUE, src, 0x10000, TRUE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_PROTECTION_FAILURE);
	w = why();
	CHECK_EQ(w.kind, MACHVM_WHY_MAX_PROTECTION);
	CHECK_EQ(w.task, src);
	CHECK_EQ(w.max_protection, W);
	CHECK_EQ(w.wanted, R);
}

TEST(why_cleared_by_next_call_kept_by_queries)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(vm_protect(t, 0x900000, P, FALSE, R), KERN_INVALID_ADDRESS);
	/* Queries and task calls leave it. */
	vm_address_t a = 0;
	vm_region_extended_info_t info;
	CHECK_KR(vm_region_extended(t, &a, &info), KERN_SUCCESS);
	CHECK(machvm_task_alive(t));
	machvm_task_stats_t st;
	CHECK_KR(machvm_task_stats(t, &st), KERN_SUCCESS);
	CHECK_EQ(why().kind, MACHVM_WHY_HOLE);
	CHECK_EQ(why().address, 0x900000);
	/* A failure for a reason it does not cover records none. */
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, 0x40), KERN_INVALID_ARGUMENT);
	CHECK_EQ(why().kind, MACHVM_WHY_NONE);
	CHECK_KR(vm_protect(t, 0x900000, P, FALSE, R), KERN_INVALID_ADDRESS);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(why().kind, MACHVM_WHY_NONE);
}

static void *other_thread(void *arg)
{
	task_t t = *(task_t *)arg;
	vm_address_t a = 0x10000;
	static struct machvm_why seen;
	/* Its own record starts empty and its failure stays its own. */
	CHECK_KR(machvm_why_get(&seen), KERN_SUCCESS);
	CHECK_EQ(seen.kind, MACHVM_WHY_NONE);
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_NO_SPACE);
	CHECK_KR(machvm_why_get(&seen), KERN_SUCCESS);
	CHECK_EQ(seen.kind, MACHVM_WHY_OVERLAP);
	return NULL;
}

TEST(why_is_per_thread)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(vm_protect(t, 0x900000, P, FALSE, R), KERN_INVALID_ADDRESS);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, other_thread, &t), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(why().kind, MACHVM_WHY_HOLE);
	CHECK_EQ(why().address, 0x900000);
}
