/*
 * test_limits.c - the memory limit (machvm_host_set_memory_limit): past it
 * a call fails with KERN_RESOURCE_SHORTAGE and changes nothing (vm_write
 * ends short), the host stays usable, and memory_used counts exactly what
 * the host holds (the invariant checker compares it after every call in
 * debug builds).
 */
#include "harness.h"
#include "util.h"

#define RW (VM_PROT_READ | VM_PROT_WRITE)
#define MB ((uint64_t)1 << 20)

static uint64_t used(void)
{
	return util_host_stats().memory_used;
}

/* The attack: a huge allocation (free: no pages) and a wiring of it. */
TEST(limit_wire_huge_range_fails_whole)
{
	task_t t = harness_task();
	CHECK_KR(machvm_host_set_memory_limit(8 * MB), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().memory_limit, 8 * MB);
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, 0x400000000000ull, TRUE), KERN_SUCCESS);
	uint64_t before = used();
	CHECK(before < MB);
	CHECK_KR_UNCHANGED(t, vm_wire(host_priv_self(), t, 0x1000, (vm_size_t)64 << 30, RW),
	                   KERN_RESOURCE_SHORTAGE);
	CHECK_EQ(used(), before);
	CHECK_EQ(util_host_stats().resident_pages, 0);
	/* A part that fits: the limit leaves the call whole. */
	CHECK_KR(vm_wire(host_priv_self(), t, a + 0x10000, 4 * MB, RW), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().wired_pages, 4 * MB / 4096);
	/* Wiring the rest of what is left fails whole again... */
	CHECK_KR_UNCHANGED(t, vm_wire(host_priv_self(), t, a, 8 * MB, RW), KERN_RESOURCE_SHORTAGE);
	/* ...and the host still works. */
	task_t u = harness_task();
	harness_alloc(u, 0x10000, 0x4000);
	util_write_byte(u, 0x10000, 7);
}

TEST(limit_write_ends_short)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 64 * 4096);
	CHECK_KR(machvm_host_set_memory_limit(used() + 4 * 4096 + 2048), KERN_SUCCESS);
	static unsigned char buf[64 * 4096];
	memset(buf, 0xab, sizeof buf);
	vm_size_t n = 0;
	/* The object and three pages fit, not four. */
	CHECK_KR(vm_write(t, 0x10000, buf, sizeof buf, &n), KERN_SUCCESS);
	CHECK(n > 0 && n < sizeof buf && n % 4096 == 0);
	uint64_t at_limit = used();
	/* A write that cannot take its first page changes nothing. */
	CHECK_KR_UNCHANGED(t, vm_write(t, 0x10000 + n, buf, 1, &n), KERN_RESOURCE_SHORTAGE);
	CHECK_EQ(n, 0);
	CHECK_EQ(used(), at_limit);
	/* Pages already there are written whatever the limit. */
	CHECK_KR(vm_write(t, 0x10000, buf, 4096, &n), KERN_SUCCESS);
	CHECK_EQ(n, 4096);
	/* An untouched region cannot even get its object. */
	harness_alloc(t, 0x100000, 4096);
	CHECK_KR_UNCHANGED(t, vm_write(t, 0x100000, buf, 1, &n), KERN_RESOURCE_SHORTAGE);
	/* Freed memory can be used again. */
	CHECK_KR(vm_deallocate(t, 0x10000, 64 * 4096), KERN_SUCCESS);
	CHECK_KR(vm_write(t, 0x100000, buf, 1, &n), KERN_SUCCESS);
	CHECK_KR(machvm_host_set_memory_limit(0), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().memory_limit, 0);
}

TEST(limit_copy_fork_remap_all_or_nothing)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 32 * 4096);
	static unsigned char buf[16 * 4096];
	memset(buf, 0x5c, sizeof buf);
	vm_size_t n = 0;
	CHECK_KR(vm_write(t, 0x10000, buf, sizeof buf, &n), KERN_SUCCESS);
	CHECK_KR(machvm_host_set_memory_limit(used() + 8 * 4096), KERN_SUCCESS);
	/* 16 pages into untouched ones (plus a bounce buffer): too much. */
	CHECK_KR_UNCHANGED(t, vm_copy(t, 0x10000, 16 * 4096, 0x20000), KERN_RESOURCE_SHORTAGE);
	/* A wired entry is copied eagerly by a fork: too much, and the
	 * parent is left as it was. */
	CHECK_KR(machvm_host_set_memory_limit(0), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 16 * 4096, RW), KERN_SUCCESS);
	CHECK_KR(machvm_host_set_memory_limit(used() + 8 * 4096), KERN_SUCCESS);
	uint64_t tasks = util_host_stats().tasks;
	task_t c = 0;
	CHECK_KR_UNCHANGED(t, task_create(t, TRUE, &c), KERN_RESOURCE_SHORTAGE);
	CHECK_EQ(util_host_stats().tasks, tasks);
	/* A copying remap of the wired pages is eager too. */
	task_t u = harness_task();
	vm_address_t at = 0;
	vm_prot_t cur, max;
	CHECK_KR_UNCHANGED(t, vm_remap(u, &at, 16 * 4096, 0, TRUE, t, 0x10000, TRUE, &cur, &max,
	                               VM_INHERIT_COPY), KERN_RESOURCE_SHORTAGE);
	CHECK_EQ(util_host_stats().entries, 2);
	/* Sharing takes no pages: it fits. */
	CHECK_KR(vm_remap(u, &at, 16 * 4096, 0, TRUE, t, 0x10000, FALSE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_SUCCESS);
}

/* Tasks and entries count too: creating tasks or regions past the limit
 * fails, and what terminating gives back can be taken again. */
TEST(limit_tasks_and_entries)
{
	CHECK_KR(machvm_host_set_memory_limit(used() + 64 * 1024), KERN_SUCCESS);
	task_t t = harness_task();
	kern_return_t kr = KERN_SUCCESS;
	int made = 0;
	for (vm_address_t a = 0x10000; kr == KERN_SUCCESS; a += 0x2000, made++) {
		vm_address_t x = a;
		kr = vm_allocate(t, &x, 4096, FALSE);
	}
	CHECK_KR(kr, KERN_RESOURCE_SHORTAGE);
	CHECK(made > 10);
	task_t ids[4096];
	size_t n = 0;
	while (n < 4096 && task_create(TASK_NULL, FALSE, &ids[n]) == KERN_SUCCESS)
		n++;
	CHECK(n < 4096);
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	task_t again;
	CHECK_KR(task_create(TASK_NULL, FALSE, &again), KERN_SUCCESS);
	CHECK_EQ(again, t);
}

/* The limits per task: wired bytes (like RLIMIT_MEMLOCK) and mapped bytes
 * (like RLIMIT_AS).  Past one a call fails whole and changes nothing; the
 * other tasks are not held back by what one has. */
TEST(task_limit_wired)
{
	machvm_task_limits_t l = { .max_wired = 8 * 4096, .max_mapped = 0 };
	CHECK_KR(machvm_host_set_task_limits(&l), KERN_SUCCESS);
	machvm_task_limits_t got;
	CHECK_KR(machvm_host_get_task_limits(&got), KERN_SUCCESS);
	CHECK_EQ(got.max_wired, 8 * 4096);
	CHECK_EQ(got.max_mapped, 0);
	task_t t = harness_task(), u = harness_task();
	harness_alloc(t, 0x10000, 16 * 4096);
	harness_alloc(u, 0x10000, 16 * 4096);
	CHECK_KR_UNCHANGED(t, vm_wire(host_priv_self(), t, 0x10000, 9 * 4096, RW),
	                   KERN_RESOURCE_SHORTAGE);
	CHECK_EQ(util_host_stats().wired_pages, 0);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 6 * 4096, RW), KERN_SUCCESS);
	/* Wiring pages already wired again adds nothing to the count... */
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 8 * 4096, RW), KERN_SUCCESS);
	/* ...new ones past 8 do. */
	CHECK_KR_UNCHANGED(t, vm_wire(host_priv_self(), t, 0x18000, 4096, RW),
	                   KERN_RESOURCE_SHORTAGE);
	/* Another task has its own 8 pages. */
	CHECK_KR(vm_wire(host_priv_self(), u, 0x10000, 8 * 4096, RW), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().wired_pages, 16);
	/* Unwiring gives room back. */
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 4096, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 4096, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x18000, 4096, RW), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().wired_pages, 16);
	/* No limit again: anything goes. */
	l.max_wired = 0;
	CHECK_KR(machvm_host_set_task_limits(&l), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, 16 * 4096, RW), KERN_SUCCESS);
	CHECK_KR(machvm_host_set_task_limits(NULL), KERN_INVALID_ARGUMENT);
}

TEST(task_limit_mapped)
{
	machvm_task_limits_t l = { .max_wired = 0, .max_mapped = 64 * 4096 };
	CHECK_KR(machvm_host_set_task_limits(&l), KERN_SUCCESS);
	task_t t = harness_task(), u = harness_task();
	vm_address_t a = 0;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 65 * 4096, TRUE), KERN_RESOURCE_SHORTAGE);
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 0x400000000000ull, TRUE), KERN_RESOURCE_SHORTAGE);
	a = 0x100000;
	CHECK_KR(vm_allocate(t, &a, 48 * 4096, FALSE), KERN_SUCCESS);
	a = 0x200000;
	CHECK_KR_UNCHANGED(t, vm_allocate(t, &a, 17 * 4096, FALSE), KERN_RESOURCE_SHORTAGE);
	CHECK_KR(vm_allocate(t, &a, 16 * 4096, FALSE), KERN_SUCCESS);
	/* A remap into a full task fails; into another task it fits. */
	vm_address_t at = 0;
	vm_prot_t cur, max;
	CHECK_KR_UNCHANGED(t, vm_remap(t, &at, 4096, 0, TRUE, t, 0x100000, FALSE, &cur, &max,
	                               VM_INHERIT_COPY), KERN_RESOURCE_SHORTAGE);
	CHECK_KR(vm_remap(u, &at, 32 * 4096, 0, TRUE, t, 0x100000, FALSE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_SUCCESS);
	/* Deallocating gives room back; a fork maps what its parent did. */
	CHECK_KR(vm_deallocate(t, 0x200000, 16 * 4096), KERN_SUCCESS);
	a = 0x300000;
	CHECK_KR(vm_allocate(t, &a, 16 * 4096, FALSE), KERN_SUCCESS);
	task_t c;
	CHECK_KR(task_create(t, TRUE, &c), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().virtual_size, (64 + 64 + 32) * 4096);
}
