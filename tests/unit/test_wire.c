/*
 * test_wire.c - vm_wire: the privileged host port, argument order, counted
 * wiring and unwiring, the 65535 limit, residency, protection and holes.
 */
#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define TOP MACHVM_USER_MAX
#define R VM_PROT_READ
#define W VM_PROT_WRITE
#define X VM_PROT_EXECUTE
#define RW (VM_PROT_READ | VM_PROT_WRITE)

static kern_return_t wire(task_t t, vm_address_t a, vm_size_t s, vm_prot_t access)
{
	return vm_wire(host_priv_self(), t, a, s, access);
}

static unsigned int wired_at(task_t t, vm_address_t a)
{
	return util_region(t, a).wired_count;
}

TEST(wire_and_unwire)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(wire(t, 0x10000, 2 * P, RW), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 1);
	CHECK_EQ(util_task_stats(t).wired_pages, 2);
	CHECK_EQ(util_host_stats().wired_pages, 2);
	CHECK_KR(wire(t, 0x10000, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 0);
	CHECK_EQ(util_task_stats(t).wired_pages, 0);
	CHECK_EQ(util_host_stats().wired_pages, 0);
	CHECK_EQ(harness_region_count(t), 1);
}

TEST(every_access_value)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, VM_PROT_ALL), KERN_SUCCESS);
	for (vm_prot_t a = 1; a <= VM_PROT_ALL; a++)
		CHECK_KR(wire(t, 0x10000, P, a), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 7);
	for (int i = 0; i < 7; i++)
		CHECK_KR(wire(t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 0);
}

TEST(counted_wiring)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(wire(t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR(wire(t, 0x10000, P, RW), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 2);
	/* Unwire once: still wired. */
	CHECK_KR(wire(t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 1);
	CHECK_EQ(util_task_stats(t).wired_pages, 1);
	/* Unwire again: unwired. */
	CHECK_KR(wire(t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 0);
	CHECK_EQ(util_task_stats(t).wired_pages, 0);
	/* Once more: not wired. */
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(unwire_never_wired)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 2 * P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
	util_touch(t, 0x10000, 2 * P, 1);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(unwire_partly_wired)
{
	/* [0x10000 wired][0x11000 not]: unwiring both fails and changes nothing. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(wire(t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 2 * P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
	/* And the other way round. */
	CHECK_KR(wire(t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 0);
	CHECK_KR(wire(t, 0x11000, P, R), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 0);
	CHECK_EQ(wired_at(t, 0x11000), 1);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 2 * P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(part_of_region_splits_and_coalesces_back)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(wire(t, 0x11000, 2 * P, RW), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_EQ(wired_at(t, 0x10000), 0);
	CHECK_EQ(wired_at(t, 0x11000), 1);
	CHECK_EQ(util_region(t, 0x11000).size, 2 * P);
	CHECK_EQ(wired_at(t, 0x13000), 0);
	CHECK_EQ(util_task_stats(t).wired_pages, 2);
	CHECK_KR(wire(t, 0x11000, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
	/* Only the wired pieces got an object, so how far they coalesce with
	 * their untouched neighbours is not fixed; the wired counts are. */
	for (vm_address_t a = 0x10000; a < 0x14000; a += P)
		CHECK_EQ(wired_at(t, a), 0);
	CHECK_EQ(util_task_stats(t).wired_pages, 0);
}

TEST(round_trip_coalesces_touched)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	util_touch(t, 0x10000, 3 * P, 8);
	util_snap_t before = util_snapshot(t);
	CHECK_KR(wire(t, 0x11000, P, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	CHECK_KR(wire(t, 0x11000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 1);
	CHECK_UNCHANGED(t, before);
	util_snap_free(&before);
}

TEST(unaligned_range_rounds_out)
{
	/* (0x10ff0, 0x20) wires the pages 0x10000 and 0x11000. */
	task_t t = harness_task();
	harness_alloc(t, 0xf000, 4 * P);
	CHECK_KR(wire(t, 0x10ff0, 0x20, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 3);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.start, 0x10000);
	CHECK_EQ(r.size, 2 * P);
	CHECK_EQ(r.wired_count, 1);
	CHECK_EQ(r.resident_pages, 2);
	CHECK_EQ(wired_at(t, 0xf000), 0);
	CHECK_EQ(wired_at(t, 0x12000), 0);
	/* Unwiring one byte unwires its page only. */
	CHECK_KR(wire(t, 0x11fff, 1, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 1);
	CHECK_EQ(util_region(t, 0x10000).size, P);
	CHECK_EQ(wired_at(t, 0x11000), 0);
	CHECK_EQ(util_task_stats(t).wired_pages, 1);
}

TEST(wiring_makes_pages_resident)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_write_byte(t, 0x11000, 0x31);
	CHECK_EQ(util_region(t, 0x10000).resident_pages, 1);
	CHECK_KR(wire(t, 0x10000, 4 * P, R), KERN_SUCCESS);
	vm_region_extended_info_t r = util_region(t, 0x10000);
	CHECK_EQ(r.size, 4 * P);
	CHECK_EQ(r.resident_pages, 4);
	CHECK(r.object_id != 0);
	machvm_task_stats_t s = util_task_stats(t);
	CHECK_EQ(s.resident_pages, 4);
	CHECK_EQ(s.wired_pages, 4);
	/* The data is what it was: zeros and the one written byte. */
	CHECK_EQ(util_read_byte(t, 0x10000), 0);
	CHECK_EQ(util_read_byte(t, 0x11000), 0x31);
	CHECK_EQ(util_read_byte(t, 0x13fff), 0);
}

TEST(wired_range_takes_no_faults)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(wire(t, 0x10000, 4 * P, RW), KERN_SUCCESS);
	machvm_task_stats_t before = util_task_stats(t);
	unsigned char buf[4 * P];
	vm_size_t n = 0;
	CHECK_KR(vm_read(t, 0x10000, sizeof buf, buf, &n), KERN_SUCCESS);
	CHECK_EQ(n, sizeof buf);
	memset(buf, 0x6b, sizeof buf);
	CHECK_KR(vm_write(t, 0x10000, buf, sizeof buf, &n), KERN_SUCCESS);
	CHECK_EQ(n, sizeof buf);
	CHECK_KR(vm_read(t, 0x10000, sizeof buf, buf, &n), KERN_SUCCESS);
	machvm_task_stats_t after = util_task_stats(t);
	CHECK_EQ(after.faults, before.faults);
	CHECK_EQ(after.zero_fill_faults, before.zero_fill_faults);
	CHECK_EQ(after.cow_faults, before.cow_faults);
	CHECK_EQ(util_read_byte(t, 0x12345), 0x6b);
	/* The same accesses on an unwired allocation do fault: the counter is live. */
	harness_alloc(t, 0x20000, P);
	util_write_byte(t, 0x20000, 1);
	CHECK(util_task_stats(t).faults > after.faults);
}

TEST(wiring_resolves_copy_on_write)
{
	task_t parent = harness_task();
	harness_alloc(parent, 0x10000, 2 * P);
	util_touch(parent, 0x10000, 2 * P, 0x41);
	task_t child = TASK_NULL;
	CHECK_KR(task_create(parent, TRUE, &child), KERN_SUCCESS);
	CHECK_KR(wire(child, 0x10000, 2 * P, RW), KERN_SUCCESS);
	vm_region_extended_info_t r = util_region(child, 0x10000);
	CHECK_EQ(r.wired_count, 1);
	CHECK_EQ(r.needs_copy, FALSE);
	CHECK_EQ(r.resident_pages, 2);
	machvm_task_stats_t before = util_task_stats(child);
	util_write_byte(child, 0x10000, 0x42);
	util_write_byte(child, 0x11000, 0x43);
	machvm_task_stats_t after = util_task_stats(child);
	CHECK_EQ(after.faults, before.faults);
	CHECK_EQ(after.cow_faults, before.cow_faults);
	/* The parent keeps its bytes. */
	CHECK_EQ(util_read_byte(parent, 0x10000), 0x41);
	CHECK_EQ(util_read_byte(parent, 0x11000), 0x41);
	CHECK_EQ(util_read_byte(child, 0x10000), 0x42);
}

TEST(wire_protection_failure)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	/* Write access on an r-- entry, alone and in a longer range. */
	CHECK_KR_UNCHANGED(t, wire(t, 0x11000, P, RW), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, W), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, X), KERN_FAILURE);
	/* Current protection counts, not max. */
	CHECK_KR(vm_protect(t, 0x10000, 3 * P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, R), KERN_FAILURE);
	/* What the protection allows works. */
	CHECK_KR(vm_protect(t, 0x10000, 3 * P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(wire(t, 0x10000, 3 * P, R), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 1);
	CHECK_EQ(util_region(t, 0x10000).resident_pages, 3);
}

TEST(wire_over_hole_fails)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, R), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0x11000, 2 * P, R), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0x12000, 2 * P, R), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0x40000, P, R), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10fff, 2, R), KERN_FAILURE);
	CHECK_EQ(wired_at(t, 0x10000), 0);
	CHECK_EQ(util_region(t, 0x10000).resident_pages, 0);
}

TEST(unwire_over_hole_fails)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	CHECK_KR(wire(t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR(wire(t, 0x12000, P, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, VM_PROT_NONE), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0x40000, P, VM_PROT_NONE), KERN_FAILURE);
	CHECK_EQ(wired_at(t, 0x10000), 1);
	CHECK_EQ(wired_at(t, 0x12000), 1);
}

TEST(unwire_first_problem_hole_before_unwired)
{
	/* [0x10000 wired] hole [0x12000 not wired]: the hole comes first. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	CHECK_KR(wire(t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, VM_PROT_NONE), KERN_FAILURE);
}

TEST(unwire_first_problem_unwired_before_hole)
{
	/* [0x10000 not wired] hole [0x12000 wired]: the unwired entry comes first. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	CHECK_KR(wire(t, 0x12000, P, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(wire_count_limit)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	for (unsigned int i = 0; i < 65535; i++) {
		kern_return_t kr = wire(t, 0x10000, P, R);
		if (kr != KERN_SUCCESS)
			harness_fail(__FILE__, __LINE__, "wiring number %u: %s", i + 1, kern_return_name(kr));
	}
	CHECK_EQ(wired_at(t, 0x10000), 65535);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, P, R), KERN_FAILURE);
	CHECK_KR(wire(t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 65534);
	CHECK_KR(wire(t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 65535);
	/* A range whose first entry is at the limit fails as a whole. */
	harness_alloc(t, 0x11000, P);
	CHECK_EQ(harness_region_count(t), 2);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 2 * P, R), KERN_FAILURE);
	CHECK_KR_UNCHANGED(t, wire(t, 0xf000, 0, R), KERN_SUCCESS);
	/* Removing wired memory at the limit is fine. */
	CHECK_KR(vm_deallocate(t, 0x10000, 2 * P), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().wired_pages, 0);
}

TEST(wire_count_limit_later_entry)
{
	/* [0x10000 count 0][0x11000 count 65535]: the first must not be wired either. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	for (unsigned int i = 0; i < 65535; i++) {
		kern_return_t kr = wire(t, 0x11000, P, R);
		if (kr != KERN_SUCCESS)
			harness_fail(__FILE__, __LINE__, "wiring number %u: %s", i + 1, kern_return_name(kr));
	}
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 2 * P, R), KERN_FAILURE);
	CHECK_EQ(wired_at(t, 0x10000), 0);
	CHECK_EQ(util_region(t, 0x10000).resident_pages, 0);
}

TEST(host_port_must_be_privileged)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK(mach_host_self() != host_priv_self());
	CHECK_KR_UNCHANGED(t, vm_wire(mach_host_self(), t, 0x10000, P, R), KERN_INVALID_HOST);
	CHECK_KR_UNCHANGED(t, vm_wire(mach_host_self(), t, 0x10000, P, VM_PROT_NONE), KERN_INVALID_HOST);
	host_priv_t bogus = 4242;
	while (bogus == mach_host_self() || bogus == host_priv_self())
		bogus++;
	CHECK_KR_UNCHANGED(t, vm_wire(bogus, t, 0x10000, P, R), KERN_INVALID_HOST);
	if (host_priv_self() != MACH_PORT_NULL)
		CHECK_KR_UNCHANGED(t, vm_wire(MACH_PORT_NULL, t, 0x10000, P, R), KERN_INVALID_HOST);
	/* A task port is not the host port. */
	if (t != host_priv_self())
		CHECK_KR_UNCHANGED(t, vm_wire(t, t, 0x10000, P, R), KERN_INVALID_HOST);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 1);
}

TEST(dead_task_invalid_task)
{
	task_t dead = util_dead_task();
	CHECK_KR(wire(dead, 0x10000, P, R), KERN_INVALID_TASK);
	CHECK_KR(wire(dead, 0x10000, P, VM_PROT_NONE), KERN_INVALID_TASK);
	CHECK_KR(wire(TASK_NULL, 0x10000, P, R), KERN_INVALID_TASK);
	CHECK_KR(wire(dead + 9, 0x10000, P, R), KERN_INVALID_TASK);
	/* Even with size 0. */
	CHECK_KR(wire(dead, 0x10000, 0, R), KERN_INVALID_TASK);
}

TEST(bad_access_invalid_value)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	static const vm_prot_t bad[] = { 8, 0x10, 0xf, -1, (vm_prot_t)0x80000000 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_KR_UNCHANGED(t, wire(t, 0x10000, P, bad[i]), KERN_INVALID_VALUE);
		CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 0, bad[i]), KERN_INVALID_VALUE);
		CHECK_KR_UNCHANGED(t, wire(t, 0x40000, P, bad[i]), KERN_INVALID_VALUE);
	}
}

TEST(argument_check_order)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	task_t dead = util_dead_task();
	/* host before task before access before the range. */
	CHECK_KR(vm_wire(mach_host_self(), dead, 0x10000, P, 8), KERN_INVALID_HOST);
	CHECK_KR(vm_wire(host_priv_self(), dead, 0x10000, P, 8), KERN_INVALID_TASK);
	CHECK_KR_UNCHANGED(t, vm_wire(host_priv_self(), t, 0x40000, P, 8), KERN_INVALID_VALUE);
	CHECK_KR_UNCHANGED(t, vm_wire(host_priv_self(), t, 0, ~(vm_size_t)0, 8), KERN_INVALID_VALUE);
}

TEST(size_zero)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 0, RW), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 0, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x40000, 0, R), KERN_SUCCESS);
}

TEST(overflow_invalid_argument)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, ~(vm_size_t)0, R), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, wire(t, (vm_address_t)0 - P, 2 * P, R), KERN_INVALID_ARGUMENT);
	CHECK_KR_UNCHANGED(t, wire(t, (vm_address_t)0 - P, P - 1, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(outside_user_range_invalid_address)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, TOP - P, P);
	CHECK_KR_UNCHANGED(t, wire(t, 0, 2 * P, R), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10, 1, R), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, wire(t, TOP - P, 2 * P, R), KERN_INVALID_ADDRESS);
	CHECK_KR_UNCHANGED(t, wire(t, TOP, P, VM_PROT_NONE), KERN_INVALID_ADDRESS);
	CHECK_KR(wire(t, P, P, R), KERN_SUCCESS);
	CHECK_KR(wire(t, TOP - P, P, R), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, TOP - P), 1);
}

TEST(protect_after_wire_keeps_wiring)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(wire(t, 0x10000, P, RW), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 1);
	/* Unwiring needs no protection. */
	CHECK_KR(wire(t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(wired_at(t, 0x10000), 0);
}

TEST(fork_child_not_wired)
{
	task_t parent = harness_task();
	harness_alloc(parent, 0x10000, 2 * P);
	util_touch(parent, 0x10000, 2 * P, 0x12);
	CHECK_KR(wire(parent, 0x10000, 2 * P, RW), KERN_SUCCESS);
	task_t child = TASK_NULL;
	CHECK_KR(task_create(parent, TRUE, &child), KERN_SUCCESS);
	CHECK_EQ(wired_at(parent, 0x10000), 1);
	CHECK_EQ(wired_at(child, 0x10000), 0);
	CHECK_EQ(util_task_stats(child).wired_pages, 0);
	CHECK_KR_UNCHANGED(child, wire(child, 0x10000, 2 * P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
	/* Wired parent memory was copied at once: the parent writes take no faults. */
	machvm_task_stats_t before = util_task_stats(parent);
	util_write_byte(parent, 0x10000, 0x13);
	CHECK_EQ(util_task_stats(parent).faults, before.faults);
	CHECK_EQ(util_read_byte(child, 0x10000), 0x12);
}

TEST(page_size_64k)
{
	harness_restart(65536);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x30000);
	CHECK_KR(wire(t, 0x2ffff, 1, R), KERN_SUCCESS);
	vm_region_extended_info_t r = util_region(t, 0x20000);
	CHECK_EQ(r.start, 0x20000);
	CHECK_EQ(r.size, 0x10000);
	CHECK_EQ(r.wired_count, 1);
	CHECK_EQ(r.resident_pages, 1);
	CHECK_EQ(util_task_stats(t).wired_pages, 1);
}
