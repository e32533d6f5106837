/*
 * test_size0.c - the size-0 rule (docs/semantics.md 1.2): a call given an
 * empty range does nothing and succeeds without looking at the address,
 * however close to 2^64 it is; only vm_remap refuses size 0, and
 * vm_allocate answers address 0.  Every call is tried at the addresses of
 * the last page of the address space and around the top of the user range,
 * and must leave the map exactly as it was.
 */
#include "harness.h"
#include "util.h"

#define RW (VM_PROT_READ | VM_PROT_WRITE)

static const vm_address_t tops[] = {
	0xffffffffffffffffull,          /* the last byte of the address space */
	0xfffffffffffff001ull,          /* inside its last page */
	0xfffffffffffff000ull,          /* the last page's start */
	0xffffffffffffe000ull,          /* the page before it */
	0x0000800000000000ull,          /* 2^47, just past the user range */
	0x00007fffffffffffull,          /* the last byte of the user range */
	0,                              /* page 0, never mapped */
};

/* A task with one touched region, so that "unchanged" means something. */
static task_t busy_task(void)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x4000);
	vm_size_t n = 0;
	CHECK_KR(vm_write(t, 0x10000, "x", 1, &n), KERN_SUCCESS);
	return t;
}

TEST(size0_read_write_anywhere)
{
	task_t t = busy_task();
	for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
		util_snap_t before = util_snapshot(t);
		char buf[1] = { 0x5a };
		vm_size_t n = 7;
		CHECK_KR(vm_read(t, tops[i], 0, buf, &n), KERN_SUCCESS);
		CHECK_EQ(n, 0);
		CHECK_EQ((unsigned char)buf[0], 0x5a);
		n = 7;
		CHECK_KR(vm_read(t, tops[i], 0, NULL, &n), KERN_SUCCESS);
		CHECK_EQ(n, 0);
		n = 7;
		CHECK_KR(vm_write(t, tops[i], buf, 0, &n), KERN_SUCCESS);
		CHECK_EQ(n, 0);
		n = 7;
		CHECK_KR(vm_write(t, tops[i], NULL, 0, &n), KERN_SUCCESS);
		CHECK_EQ(n, 0);
		CHECK_UNCHANGED(t, before);
		util_snap_free(&before);
	}
	/* One byte in the last page still wraps when rounded. */
	char b = 0;
	vm_size_t n = 7;
	CHECK_KR(vm_read(t, 0xffffffffffffffffull, 1, &b, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_write(t, 0xfffffffffffff000ull, &b, 1, &n), KERN_INVALID_ARGUMENT);
}

TEST(size0_map_calls_anywhere)
{
	task_t t = busy_task();
	for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
		vm_address_t a = tops[i];
		util_snap_t before = util_snapshot(t);
		CHECK_KR(vm_deallocate(t, a, 0), KERN_SUCCESS);
		CHECK_KR(vm_protect(t, a, 0, FALSE, VM_PROT_READ), KERN_SUCCESS);
		CHECK_KR(vm_protect(t, a, 0, TRUE, VM_PROT_NONE), KERN_SUCCESS);
		CHECK_KR(vm_inherit(t, a, 0, VM_INHERIT_SHARE), KERN_SUCCESS);
		CHECK_KR(vm_map_inherit(t, a, a, VM_INHERIT_NONE), KERN_SUCCESS);
		CHECK_KR(vm_wire(host_priv_self(), t, a, 0, RW), KERN_SUCCESS);
		CHECK_KR(vm_wire(host_priv_self(), t, a, 0, VM_PROT_NONE), KERN_SUCCESS);
		vm_machine_attribute_val_t v = MATTR_VAL_GET;
		CHECK_KR(vm_machine_attribute(t, a, 0, MATTR_CACHE, &v), KERN_SUCCESS);
		CHECK_EQ(v, MATTR_VAL_GET);
		v = MATTR_VAL_OFF;
		CHECK_KR(vm_machine_attribute(t, a, 0, MATTR_CACHE, &v), KERN_SUCCESS);
		CHECK_KR(vm_copy(t, a, 0, 0x10000), KERN_SUCCESS);
		CHECK_KR(vm_copy(t, 0x10000, 0, a), KERN_SUCCESS);
		CHECK_KR(vm_copy(t, a, 0, a), KERN_SUCCESS);
		vm_address_t at = a;
		CHECK_KR(vm_allocate(t, &at, 0, FALSE), KERN_SUCCESS);
		CHECK_EQ(at, 0);
		at = a;
		CHECK_KR(vm_allocate(t, &at, 0, TRUE), KERN_SUCCESS);
		CHECK_EQ(at, 0);
		/* vm_remap is the one call that refuses size 0 (as Mach does). */
		vm_prot_t cur, max;
		at = a;
		CHECK_KR(vm_remap(t, &at, 0, 0, TRUE, t, a, FALSE, &cur, &max, VM_INHERIT_COPY),
		         KERN_INVALID_ARGUMENT);
		CHECK_UNCHANGED(t, before);
		util_snap_free(&before);
	}
}

/* Size 0 does not skip the checks that come before it: the task, then the
 * value arguments. */
TEST(size0_still_checks_task_and_values)
{
	task_t t = busy_task();
	vm_address_t a = 0xffffffffffffffffull;
	char b = 0;
	vm_size_t n;
	CHECK_KR(vm_read(0x7777, a, 0, &b, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_write(0x7777, a, &b, 0, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_read(t, a, 0, &b, NULL), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_protect(t, a, 0, FALSE, 0x10), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_inherit(t, a, 0, 7), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_wire(host_priv_self(), t, a, 0, 0x10), KERN_INVALID_VALUE);
	CHECK_KR(vm_wire(mach_host_self(), t, a, 0, RW), KERN_INVALID_HOST);
	CHECK_KR(vm_copy(0x7777, a, 0, a), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_deallocate(0x7777, a, 0), KERN_INVALID_ARGUMENT);
}
