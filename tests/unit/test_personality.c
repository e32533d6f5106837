/*
 * test_personality.c - the host's personality: choosing it, and every rule
 * of the table in docs/semantics.md, section 8, under mach, gnu and xnu.
 *
 * Each ROW(name) is one scenario run three times, as name_mach, name_gnu
 * and name_xnu, each in a fresh host of that personality; pick(m, g, x)
 * is the answer the running personality must give.
 */
#include "harness.h"
#include "util.h"

#include <machvm/persist.h>

#define P 0x1000ull
#define TOP MACHVM_USER_MAX
#define R VM_PROT_READ
#define W VM_PROT_WRITE
#define RW (VM_PROT_READ | VM_PROT_WRITE)
#define MAX64 (~(vm_address_t)0)

static machvm_personality_t cur;

static long long pick(long long m, long long g, long long x)
{
	return cur == MACHVM_PERSONALITY_MACH ? m : cur == MACHVM_PERSONALITY_GNU ? g : x;
}

static void use(machvm_personality_t p)
{
	CHECK_KR(machvm_host_set_personality(p), KERN_SUCCESS);
	CHECK_EQ(machvm_host_personality(), p);
	cur = p;
}

#define ROW(name)                                                       \
	static void name(void);                                         \
	TEST(name##_mach) { use(MACHVM_PERSONALITY_MACH); name(); }     \
	TEST(name##_gnu)  { use(MACHVM_PERSONALITY_GNU);  name(); }     \
	TEST(name##_xnu)  { use(MACHVM_PERSONALITY_XNU);  name(); }     \
	static void name(void)

/* A call that must answer want, and change nothing unless it succeeds. */
#define CHECK_KR_PICK(t, expr, m, g, x)                                 \
	do {                                                            \
		kern_return_t w_ = (kern_return_t)pick(m, g, x);        \
		if (w_ == KERN_SUCCESS)                                 \
			CHECK_KR(expr, KERN_SUCCESS);                   \
		else                                                    \
			CHECK_KR_UNCHANGED(t, expr, w_);                \
	} while (0)

static kern_return_t wire(task_t t, vm_address_t a, vm_size_t s, vm_prot_t access)
{
	return vm_wire(host_priv_self(), t, a, s, access);
}

/* Two one-page regions with a one-page hole between: [0x10000, 0x11000)
 * and [0x12000, 0x13000). */
static task_t holed(void)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	return t;
}

static int allocated(task_t t, vm_address_t a)
{
	vm_address_t at = a;
	vm_size_t size;
	vm_prot_t p, m;
	vm_inherit_t i;
	boolean_t sh;
	mach_port_t o;
	vm_offset_t off;
	return vm_region(t, &at, &size, &p, &m, &i, &sh, &o, &off) == KERN_SUCCESS && at <= a;
}

/* ---- choosing it --------------------------------------------------------- */

TEST(default_is_mach)
{
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_MACH);
}

TEST(names_and_parse)
{
	static const char *names[] = { "mach", "gnu", "xnu" };
	for (int i = 0; i < 3; i++) {
		machvm_personality_t p = (machvm_personality_t)-1;
		CHECK(strcmp(machvm_personality_name((machvm_personality_t)i), names[i]) == 0);
		CHECK_KR(machvm_personality_parse(names[i], &p), KERN_SUCCESS);
		CHECK_EQ(p, i);
	}
	machvm_personality_t p = MACHVM_PERSONALITY_GNU;
	CHECK(machvm_personality_name((machvm_personality_t)3) == NULL);
	CHECK_KR(machvm_personality_parse("XNU", &p), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_personality_parse("", &p), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_personality_parse("gnux", &p), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_personality_parse(NULL, &p), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_personality_parse("gnu", NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(p, MACHVM_PERSONALITY_GNU);
}

TEST(set_only_without_tasks)
{
	CHECK_KR(machvm_host_set_personality((machvm_personality_t)3), KERN_INVALID_ARGUMENT);
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_MACH);
	use(MACHVM_PERSONALITY_XNU);
	task_t t = harness_task();
	CHECK_KR(machvm_host_set_personality(MACHVM_PERSONALITY_GNU), KERN_FAILURE);
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_XNU);
	/* With every task gone it may change again. */
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	use(MACHVM_PERSONALITY_GNU);
}

TEST(stop_restores_mach_and_set_before_start)
{
	use(MACHVM_PERSONALITY_GNU);
	machvm_host_stop();
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_MACH);
	/* Before the host starts, and kept by the start. */
	CHECK_KR(machvm_host_set_personality(MACHVM_PERSONALITY_XNU), KERN_SUCCESS);
	CHECK_KR(machvm_host_start(4096), KERN_SUCCESS);
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_XNU);
}

/* The export carries the personality and the import restores it. */
static uint64_t exported_personality;
static int x_host(void *arg, const machvm_host_desc_t *h)
{
	(void)arg;
	exported_personality = h->personality;
	return 0;
}
static int x_object(void *arg, const machvm_object_desc_t *o) { (void)arg; (void)o; return 0; }
static int x_page(void *arg, uint64_t o, uint64_t i, const void *b)
{
	(void)arg; (void)o; (void)i; (void)b;
	return 0;
}
static int x_task(void *arg, const machvm_task_desc_t *t) { (void)arg; (void)t; return 0; }
static int x_entry(void *arg, task_t t, const machvm_entry_desc_t *e)
{
	(void)arg; (void)t; (void)e;
	return 0;
}

TEST(persist_carries_personality)
{
	static const struct machvm_export_ops ops = { x_host, x_object, x_page, x_task, x_entry };
	for (int i = 0; i < 3; i++) {
		harness_restart(4096);
		use((machvm_personality_t)i);
		exported_personality = 99;
		CHECK_KR(machvm_host_export(&ops, NULL), KERN_SUCCESS);
		CHECK_EQ(exported_personality, i);
	}
	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = 4096;
	h.next_task_id = 1;
	h.next_object_id = 1;
	h.personality = MACHVM_PERSONALITY_GNU;
	machvm_host_stop();
	CHECK_KR(machvm_import_begin(&h), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_SUCCESS);
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_GNU);
	/* A description with no personality set is mach; a bad one is refused. */
	machvm_host_stop();
	h.personality = 0;
	CHECK_KR(machvm_import_begin(&h), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_SUCCESS);
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_MACH);
	machvm_host_stop();
	h.personality = 3;
	CHECK_KR(machvm_import_begin(&h), KERN_INVALID_ARGUMENT);
	CHECK(strstr(machvm_import_error(), "personality") != NULL);
	CHECK_KR(machvm_host_start(4096), KERN_SUCCESS);
}

/* ---- the rules ------------------------------------------------------------ */

ROW(protect_holes)
{
	task_t t = holed();
	CHECK_KR_PICK(t, vm_protect(t, 0x10000, 3 * P, FALSE, R),
	              KERN_INVALID_ADDRESS, KERN_SUCCESS, KERN_INVALID_ADDRESS);
	/* An unallocated start too. */
	CHECK_KR_PICK(t, vm_protect(t, 0xf000, 2 * P, FALSE, VM_PROT_NONE),
	              KERN_INVALID_ADDRESS, KERN_SUCCESS, KERN_INVALID_ADDRESS);
	CHECK_EQ(util_region(t, 0x10000).protection, pick(RW, VM_PROT_NONE, RW));
	CHECK_EQ(util_region(t, 0x12000).protection, pick(RW, R, RW));
	CHECK(!allocated(t, 0x11000));
	/* The maximum is still checked in every entry, hole or not. */
	CHECK_KR(vm_protect(t, 0x12000, P, TRUE, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 3 * P, FALSE, RW),
	                   pick(KERN_INVALID_ADDRESS, KERN_PROTECTION_FAILURE, KERN_INVALID_ADDRESS));
}

ROW(inherit_holes)
{
	task_t t = holed();
	CHECK_KR_PICK(t, vm_inherit(t, 0x10000, 3 * P, VM_INHERIT_NONE),
	              KERN_INVALID_ADDRESS, KERN_SUCCESS, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).inheritance,
	         pick(VM_INHERIT_COPY, VM_INHERIT_NONE, VM_INHERIT_NONE));
	CHECK_EQ(util_region(t, 0x12000).inheritance,
	         pick(VM_INHERIT_COPY, VM_INHERIT_NONE, VM_INHERIT_NONE));
	CHECK_KR_PICK(t, vm_map_inherit(t, 0x11000, 0x13000, VM_INHERIT_SHARE),
	              KERN_INVALID_ADDRESS, KERN_SUCCESS, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x12000).inheritance,
	         pick(VM_INHERIT_COPY, VM_INHERIT_SHARE, VM_INHERIT_SHARE));
	CHECK(!allocated(t, 0x11000));
}

ROW(region_past_end)
{
	task_t t = holed();
	vm_address_t a = 0x13000;
	vm_size_t size = 7;
	vm_prot_t p = 9, m = 9;
	vm_inherit_t i = 9;
	boolean_t sh = 9;
	mach_port_t o = 9;
	vm_offset_t off = 9;
	CHECK_KR(vm_region(t, &a, &size, &p, &m, &i, &sh, &o, &off),
	         pick(KERN_NO_SPACE, KERN_NO_SPACE, KERN_INVALID_ADDRESS));
	CHECK_EQ(a, 0x13000);
	CHECK_EQ(size, 7);
	vm_region_extended_info_t info;
	CHECK_KR(vm_region_extended(t, &a, &info),
	         pick(KERN_NO_SPACE, KERN_NO_SPACE, KERN_INVALID_ADDRESS));
	/* Below the last region: found in every personality. */
	a = 0x11000;
	CHECK_KR(vm_region(t, &a, &size, &p, &m, &i, &sh, &o, &off), KERN_SUCCESS);
	CHECK_EQ(a, 0x12000);
}

ROW(wire_stacking)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(wire(t, 0x10000, 2 * P, R), KERN_SUCCESS);
	CHECK_KR(wire(t, 0x10000, 2 * P, RW), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).wired_count, pick(2, 1, 2));
	CHECK_EQ(util_task_stats(t).wired_pages, 2);
	CHECK_KR(wire(t, 0x10000, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).wired_count, pick(1, 0, 1));
	CHECK_EQ(util_task_stats(t).wired_pages, pick(2, 0, 2));
	/* Part of it: gnu clears the wiring of that part only. */
	CHECK_KR(wire(t, 0x10000, 2 * P, R), KERN_SUCCESS);
	CHECK_KR(wire(t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).wired_count, pick(1, 0, 1));
	CHECK_EQ(util_region(t, 0x11000).wired_count, pick(2, 1, 2));
}

ROW(wire_hole)
{
	task_t t = holed();
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 3 * P, R),
	                   pick(KERN_FAILURE, KERN_NO_SPACE, KERN_INVALID_ADDRESS));
	CHECK_KR_UNCHANGED(t, wire(t, 0x11000, 2 * P, R),
	                   pick(KERN_FAILURE, KERN_NO_SPACE, KERN_INVALID_ADDRESS));
	CHECK_KR_UNCHANGED(t, wire(t, 0x13000, P, R),
	                   pick(KERN_FAILURE, KERN_NO_SPACE, KERN_INVALID_ADDRESS));
}

ROW(wire_protection)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 2 * P, RW),
	                   pick(KERN_FAILURE, KERN_NO_SPACE, KERN_PROTECTION_FAILURE));
	CHECK_KR(wire(t, 0x10000, 2 * P, R), KERN_SUCCESS);
}

ROW(unwire_unwired)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_PICK(t, wire(t, 0x10000, 2 * P, VM_PROT_NONE),
	              KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_SUCCESS);
	/* Half wired: the wired half is unwired, the other skipped. */
	CHECK_KR(wire(t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR_PICK(t, wire(t, 0x10000, 2 * P, VM_PROT_NONE),
	              KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).wired_count, pick(1, 0, 0));
	CHECK_EQ(util_region(t, 0x11000).wired_count, 0);
}

ROW(unwire_holes)
{
	task_t t = holed();
	CHECK_KR(wire(t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR(wire(t, 0x12000, P, R), KERN_SUCCESS);
	CHECK_KR_PICK(t, wire(t, 0x10000, 3 * P, VM_PROT_NONE),
	              KERN_FAILURE, KERN_NO_SPACE, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).wired_count, pick(1, 1, 0));
	CHECK_EQ(util_region(t, 0x12000).wired_count, pick(1, 1, 0));
	/* An unallocated start is an error everywhere. */
	CHECK_KR_UNCHANGED(t, wire(t, 0x11000, 2 * P, VM_PROT_NONE),
	                   pick(KERN_FAILURE, KERN_NO_SPACE, KERN_INVALID_ADDRESS));
}

ROW(range_wrap)
{
	task_t t = holed();
	/* address + size overflows. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, MAX64 - 0x8000, FALSE, R),
	                   pick(KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_INVALID_ARGUMENT));
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, 0x10000, MAX64 - 0x8000),
	                   pick(KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_INVALID_ARGUMENT));
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, MAX64 - 0x8000, VM_INHERIT_NONE),
	                   pick(KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_INVALID_ARGUMENT));
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, MAX64 - 0x8000, R),
	                   pick(KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_INVALID_ARGUMENT));
	/* Only the rounding wraps: the end is 2^64 - 1. */
	CHECK_KR_UNCHANGED(t, vm_protect(t, MAX64 - P + 1, P - 1, FALSE, R),
	                   pick(KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_INVALID_ADDRESS));
	CHECK_KR_UNCHANGED(t, vm_deallocate(t, MAX64 - P + 1, P - 1),
	                   pick(KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_INVALID_ARGUMENT));
}

ROW(range_outside)
{
	task_t t = holed();
	/* Ends past 2^47. */
	CHECK_KR_PICK(t, vm_protect(t, 0x10000, TOP, FALSE, R),
	              KERN_INVALID_ADDRESS, KERN_SUCCESS, KERN_INVALID_ADDRESS);
	CHECK_EQ(util_region(t, 0x12000).protection, pick(RW, R, RW));
	CHECK_KR_PICK(t, vm_inherit(t, 0x10000, TOP, VM_INHERIT_SHARE),
	              KERN_INVALID_ADDRESS, KERN_SUCCESS, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x12000).inheritance,
	         pick(VM_INHERIT_COPY, VM_INHERIT_SHARE, VM_INHERIT_SHARE));
	/* Clamped to the user range, the range still has holes for gnu. */
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, TOP, R),
	                   pick(KERN_INVALID_ADDRESS, KERN_NO_SPACE, KERN_INVALID_ADDRESS));
	/* Starts at page 0. */
	CHECK_KR_PICK(t, vm_deallocate(t, 0, 0x11000),
	              KERN_INVALID_ADDRESS, KERN_SUCCESS, KERN_SUCCESS);
	CHECK_EQ(allocated(t, 0x10000), pick(1, 0, 1));
	CHECK(allocated(t, 0x12000));
}

ROW(size_zero)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_protect(t, 0x10800, 0, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).protection, pick(RW, R, RW));
	CHECK_EQ(util_region(t, 0x11000).protection, RW);
	CHECK_KR(vm_inherit(t, 0x11800, 0, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x11000).inheritance,
	         pick(VM_INHERIT_COPY, VM_INHERIT_NONE, VM_INHERIT_COPY));
	CHECK_KR(wire(t, 0x11800, 0, R), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x11000).wired_count, pick(0, 1, 0));
	/* Aligned: an empty range in every personality. */
	util_snap_t before = util_snapshot(t);
	CHECK_KR(vm_protect(t, 0x11000, 0, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(wire(t, 0x10000, 0, R), KERN_SUCCESS);
	CHECK_UNCHANGED(t, before);
	util_snap_free(&before);
}

ROW(data_hole)
{
	task_t t = holed();
	util_fill(t, 0x10000, P, 0xaa);
	char buf[3 * P];
	vm_size_t n = 77;
	CHECK_KR(vm_read(t, 0x10000, 3 * P, buf, &n),
	         pick(KERN_SUCCESS, KERN_INVALID_ADDRESS, KERN_INVALID_ADDRESS));
	CHECK_EQ(n, pick(P, 0, 0));
	memset(buf, 0x55, sizeof buf);
	CHECK_KR_PICK(t, vm_write(t, 0x10000, buf, 3 * P, &n),
	              KERN_SUCCESS, KERN_INVALID_ADDRESS, KERN_INVALID_ADDRESS);
	CHECK_EQ(n, pick(P, 0, 0));
	CHECK_EQ(util_read_byte(t, 0x10000), pick(0x55, 0xaa, 0xaa));
	/* A page without the permission after the first is the same. */
	harness_alloc(t, 0x11000, P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_read(t, 0x10000, 2 * P, buf, &n),
	         pick(KERN_SUCCESS, KERN_PROTECTION_FAILURE, KERN_PROTECTION_FAILURE));
	CHECK_EQ(n, pick(P, 0, 0));
}

ROW(small_copy)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x12000, P, FALSE, W), KERN_SUCCESS);
	char buf[3 * P];
	memset(buf, 1, sizeof buf);
	vm_size_t n;
	/* Under two pages, the first page not writable / readable. */
	/* (gnu: a write of part of a page is refused first: data_aligned.) */
	CHECK_KR_UNCHANGED(t, vm_write(t, 0x10ff8, buf, 16, &n),
	                   pick(KERN_PROTECTION_FAILURE, KERN_INVALID_ARGUMENT,
	                        KERN_INVALID_ADDRESS));
	CHECK_KR_UNCHANGED(t, vm_copy(t, 0x11000, 16, 0x10000),
	                   pick(KERN_PROTECTION_FAILURE, KERN_INVALID_ARGUMENT,
	                        KERN_INVALID_ADDRESS));
	CHECK_KR_UNCHANGED(t, vm_read(t, 0x12000, 16, buf, &n),
	                   pick(KERN_PROTECTION_FAILURE, KERN_PROTECTION_FAILURE,
	                        KERN_INVALID_ADDRESS));
	/* Two pages or more: a protection failure everywhere. */
	CHECK_KR_UNCHANGED(t, vm_write(t, 0x10000, buf, 2 * P, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_copy(t, 0x11000, 2 * P, 0x10000), KERN_PROTECTION_FAILURE);
	CHECK_KR_UNCHANGED(t, vm_read(t, 0x12000, 2 * P, buf, &n), KERN_PROTECTION_FAILURE);
}

ROW(data_wrap)
{
	task_t t = holed();
	char buf[32];
	vm_size_t n = 5;
	CHECK_KR(vm_read(t, MAX64 - 8, 16, buf, &n),
	         pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ADDRESS, KERN_INVALID_ADDRESS));
	CHECK_EQ(n, 0);
	/* (gnu: the unaligned write is refused as such: data_aligned.) */
	CHECK_KR_UNCHANGED(t, vm_write(t, MAX64 - 8, buf, 16, &n),
	                   pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ARGUMENT, KERN_INVALID_ADDRESS));
	CHECK_KR_UNCHANGED(t, vm_copy(t, 0x10000, MAX64 - 0x8000, 0x12000),
	                   pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ADDRESS, KERN_INVALID_ADDRESS));
}

ROW(has_remap)
{
	task_t t = holed();
	util_fill(t, 0x10000, P, 0x42);
	vm_address_t at = 0x20000;
	vm_prot_t c = 0, m = 0;
	CHECK_KR_PICK(t, vm_remap(t, &at, P, 0, FALSE, t, 0x10000, FALSE, &c, &m,
	                          VM_INHERIT_SHARE),
	              KERN_SUCCESS, MIG_BAD_ID, KERN_SUCCESS);
	CHECK_EQ(allocated(t, 0x20000), pick(1, 0, 1));
	if (cur != MACHVM_PERSONALITY_GNU)
		CHECK_EQ(util_read_byte(t, 0x20000), 0x42);
	CHECK(strcmp(kern_return_name(MIG_BAD_ID), "MIG_BAD_ID") == 0);
}

ROW(placement)
{
	/* Regions at pages 1, 3, 7 and 10: holes of 1 page (2), 3 pages
	 * (4-6), 2 pages (8-9), then the rest. */
	task_t t = harness_task();
	harness_alloc(t, 1 * P, P);
	harness_alloc(t, 3 * P, P);
	harness_alloc(t, 7 * P, P);
	harness_alloc(t, 10 * P, P);
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, 2 * P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, pick(4 * P, 8 * P, 4 * P));
	CHECK_KR(vm_allocate(t, &a, P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 2 * P);     /* the lowest hole fits: all agree */
	CHECK_KR(vm_allocate(t, &a, 5 * P, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 11 * P);
}

/* ---- coalescing ----------------------------------------------------------- */

static size_t nregions(task_t t)
{
	size_t n = 0;
	CHECK_KR(machvm_task_region_count(t, &n), KERN_SUCCESS);
	return n;
}

ROW(coalesce_allocate)
{
	task_t t = harness_task();
	/* Untouched, after the one before. */
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x11000, P);
	CHECK_EQ(nregions(t), 1);
	/* After a touched one: its object grows over the new range (gnu,
	 * xnu) or the two stay apart (mach: different objects). */
	harness_alloc(t, 0x20000, P);
	util_fill(t, 0x20000, P, 0x11);
	harness_alloc(t, 0x21000, P);
	CHECK_EQ(nregions(t), pick(3, 2, 2));
	CHECK_EQ(util_read_byte(t, 0x21000), 0);
	CHECK_EQ(util_read_byte(t, 0x20000), 0x11);
	/* Before an untouched one: only xnu leaves it. */
	harness_alloc(t, 0x31000, P);
	harness_alloc(t, 0x30000, P);
	CHECK_EQ(util_region(t, 0x30000).size, pick(2 * P, 2 * P, P));
	/* Together 128 KiB or more: xnu makes a new entry. */
	harness_alloc(t, 0x40000, 30 * P);
	harness_alloc(t, 0x40000 + 30 * P, 2 * P);
	CHECK_EQ(util_region(t, 0x40000).size, pick(32 * P, 32 * P, 30 * P));
	harness_alloc(t, 0x80000, 29 * P);
	harness_alloc(t, 0x80000 + 29 * P, 2 * P);
	CHECK_EQ(util_region(t, 0x80000).size, 31 * P);
}

ROW(coalesce_grow_frees_old_pages)
{
	/* gnu: an object that grows back over a range it once held reads
	 * zeros there. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	util_fill(t, 0x10000, 2 * P, 0x5a);
	CHECK_KR(vm_deallocate(t, 0x11000, P), KERN_SUCCESS);
	harness_alloc(t, 0x11000, P);
	CHECK_EQ(util_region(t, 0x10000).size, pick(P, 2 * P, 2 * P));
	CHECK_EQ(util_read_byte(t, 0x11000), 0);
	CHECK_EQ(util_read_byte(t, 0x10fff), 0x5a);
	/* And backwards (gnu only), over a page the object no longer maps. */
	harness_alloc(t, 0x20000, 2 * P);
	util_fill(t, 0x20000, 2 * P, 0x6b);
	CHECK_KR(vm_deallocate(t, 0x20000, P), KERN_SUCCESS);
	harness_alloc(t, 0x20000, P);
	CHECK_EQ(util_region(t, 0x20000).size, pick(P, 2 * P, P));
	CHECK_EQ(util_read_byte(t, 0x20000), 0);
	CHECK_EQ(util_read_byte(t, 0x21000), 0x6b);
}

ROW(coalesce_protect)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(nregions(t), 3);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, RW), KERN_SUCCESS);
	/* Without an object, xnu's pieces stay apart. */
	CHECK_EQ(nregions(t), pick(1, 1, 3));
	/* With one (the same object, contiguous), every kernel merges. */
	task_t u = harness_task();
	harness_alloc(u, 0x10000, 4 * P);
	util_fill(u, 0x10000, 4 * P, 1);
	CHECK_KR(vm_protect(u, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(u, 0x11000, P, FALSE, RW), KERN_SUCCESS);
	CHECK_EQ(nregions(u), 1);
}

ROW(coalesce_inherit)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_fill(t, 0x10000, 4 * P, 1);
	CHECK_KR(vm_inherit(t, 0x11000, P, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, 0x11000, P, VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_EQ(nregions(t), pick(1, 1, 3));
}

ROW(coalesce_wire)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_fill(t, 0x10000, 4 * P, 1);
	CHECK_KR(wire(t, 0x11000, P, R), KERN_SUCCESS);
	CHECK_EQ(nregions(t), 3);
	CHECK_KR(wire(t, 0x11000, P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_EQ(nregions(t), pick(1, 3, 1));
	CHECK_EQ(util_task_stats(t).wired_pages, 0);
}

ROW(coalesce_kept_by_state)
{
	/* An import keeps equal neighbours apart where the kernel does: two
	 * untouched entries side by side. */
	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = 4096;
	h.next_task_id = 2;
	h.next_object_id = 1;
	h.personality = cur;
	machvm_host_stop();
	CHECK_KR(machvm_import_begin(&h), KERN_SUCCESS);
	machvm_task_desc_t td;
	memset(&td, 0, sizeof td);
	td.id = 1;
	CHECK_KR(machvm_import_task(&td), KERN_SUCCESS);
	machvm_entry_desc_t e;
	memset(&e, 0, sizeof e);
	e.protection = RW;
	e.max_protection = VM_PROT_ALL;
	e.inheritance = VM_INHERIT_COPY;
	e.cache = TRUE;
	e.start = 0x10000;
	e.end = 0x11000;
	CHECK_KR(machvm_import_entry(1, &e), KERN_SUCCESS);
	e.start = 0x11000;
	e.end = 0x12000;
	CHECK_KR(machvm_import_entry(1, &e), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_SUCCESS);
	CHECK_EQ(machvm_host_personality(), cur);
	CHECK_EQ(nregions(1), pick(1, 2, 2));
	CHECK_KR(machvm_check(), KERN_SUCCESS);
}

/* ---- the data path's alignment -------------------------------------------- */

ROW(data_aligned)
{
	task_t t = holed();
	char buf[P];
	memset(buf, 7, sizeof buf);
	vm_size_t n = 0;
	CHECK_KR_PICK(t, vm_write(t, 0x10800, buf, 16, &n),
	              KERN_SUCCESS, KERN_INVALID_ARGUMENT, KERN_SUCCESS);
	CHECK_KR_PICK(t, vm_write(t, 0x10000, buf, 16, &n),
	              KERN_SUCCESS, KERN_INVALID_ARGUMENT, KERN_SUCCESS);
	CHECK_KR(vm_write(t, 0x10000, buf, P, &n), KERN_SUCCESS);
	CHECK_EQ(n, P);
	CHECK_KR_PICK(t, vm_copy(t, 0x10000, 16, 0x12000),
	              KERN_SUCCESS, KERN_INVALID_ARGUMENT, KERN_SUCCESS);
	CHECK_KR(vm_copy(t, 0x10000, P, 0x12000), KERN_SUCCESS);
	CHECK_EQ(util_read_byte(t, 0x12000), 7);
	/* The source is checked before the alignment. */
	CHECK_KR_UNCHANGED(t, vm_copy(t, 0x11000, 16, 0x12000), KERN_INVALID_ADDRESS);
	/* Reading is never aligned. */
	CHECK_KR(vm_read(t, 0x10001, 3, buf, &n), KERN_SUCCESS);
}

/* ---- vm_machine_attribute ------------------------------------------------- */

ROW(machine_attribute)
{
	task_t t = holed();
	vm_machine_attribute_val_t v = MATTR_VAL_GET;
	CHECK_KR(vm_machine_attribute(t, 0x10000, P, MATTR_CACHE, &v),
	         pick(KERN_SUCCESS, KERN_INVALID_ADDRESS, KERN_SUCCESS));
	CHECK_EQ(v, pick(MATTR_VAL_ON, MATTR_VAL_GET, MATTR_VAL_GET));
	v = MATTR_VAL_ON;
	CHECK_KR_PICK(t, vm_machine_attribute(t, 0x10000, P, MATTR_MIGRATE, &v),
	              KERN_SUCCESS, KERN_INVALID_ADDRESS, KERN_INVALID_ADDRESS);
	/* A hole. */
	v = MATTR_VAL_CACHE_FLUSH;
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x10000, 3 * P, MATTR_CACHE, &v),
	                   pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ADDRESS, KERN_FAILURE));
	/* Leaving the user range. */
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, TOP - P, 2 * P, MATTR_CACHE, &v),
	                   pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ARGUMENT, KERN_INVALID_ADDRESS));
	/* Size 0, and a value no attribute takes. */
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x10000, 0, MATTR_CACHE, &v),
	                   pick(KERN_SUCCESS, KERN_INVALID_ADDRESS, KERN_SUCCESS));
	v = 77;
	CHECK_KR_UNCHANGED(t, vm_machine_attribute(t, 0x10000, P, MATTR_CACHE, &v),
	                   pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ADDRESS, KERN_SUCCESS));
	CHECK_EQ(v, 77);
	CHECK_EQ(util_region(t, 0x10000).cache_flushes, 0);
}

/* ---- vm_protect's extra bit, size 0 before the values ---------------------- */

ROW(protect_extra_bit)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_PICK(t, vm_protect(t, 0x10000, P, FALSE, R | 0x10),
	              KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).protection, pick(RW, R, R));
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, P, FALSE, R | 0x20), KERN_INVALID_ARGUMENT);
	/* Past the maximum: only XNU's copy raises it (by write). */
	CHECK_KR(vm_protect(t, 0x11000, P, TRUE, R), KERN_SUCCESS);
	CHECK_KR_PICK(t, vm_protect(t, 0x11000, P, FALSE, RW | 0x10),
	              KERN_INVALID_ARGUMENT, KERN_PROTECTION_FAILURE, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x11000).max_protection, pick(R, R, RW));
	CHECK_EQ(util_region(t, 0x11000).protection, pick(R, R, RW));
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x11000, P, FALSE, VM_PROT_ALL | 0x10),
	                   pick(KERN_INVALID_ARGUMENT, KERN_PROTECTION_FAILURE,
	                        KERN_PROTECTION_FAILURE));
}

ROW(protect_copy_unshares)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	util_fill(t, 0x10000, P, 0x42);
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	task_t c = util_fork(t);
	CHECK_KR_PICK(c, vm_protect(c, 0x10000, P, FALSE, RW | 0x10),
	              KERN_INVALID_ARGUMENT, KERN_SUCCESS, KERN_SUCCESS);
	util_fill(t, 0x10000, P, 0x43);
	/* xnu: the child has its own copy now, no longer shared. */
	CHECK_EQ(util_read_byte(c, 0x10000), pick(0x43, 0x43, 0x42));
	CHECK_EQ(util_region(c, 0x10000).shared, pick(1, 1, 0));
	CHECK_EQ(util_region(c, 0x10000).inheritance,
	         pick(VM_INHERIT_SHARE, VM_INHERIT_SHARE, VM_INHERIT_COPY));
}

ROW(size0_before_values)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, vm_protect(t, 0x10000, 0, FALSE, 0x40),
	                   pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ARGUMENT, KERN_SUCCESS));
	CHECK_KR_UNCHANGED(t, vm_inherit(t, 0x10000, 0, 7),
	                   pick(KERN_INVALID_ARGUMENT, KERN_INVALID_ARGUMENT, KERN_SUCCESS));
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, 0, 0x40),
	                   pick(KERN_INVALID_VALUE, KERN_INVALID_ARGUMENT, KERN_SUCCESS));
}

/* ---- vm_wire -------------------------------------------------------------- */

ROW(wire_bad_access)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR_UNCHANGED(t, wire(t, 0x10000, P, 0x40),
	                   pick(KERN_INVALID_VALUE, KERN_INVALID_ARGUMENT, KERN_INVALID_ARGUMENT));
}

ROW(wire_host_port)
{
	task_t t = harness_task();
	harness_alloc(t, 0x100000, 0x900000);
	CHECK_KR_PICK(t, vm_wire(mach_host_self(), t, 0x100000, 0x800000 - P, R),
	              KERN_INVALID_HOST, KERN_SUCCESS, KERN_INVALID_HOST);
	CHECK_EQ(util_task_stats(t).wired_pages, pick(0, 0x7ff, 0));
	/* gnu: up to 8 MiB wired, counting the size as given. */
	CHECK_KR_PICK(t, vm_wire(mach_host_self(), t, 0x900000, P + 1, R),
	              KERN_INVALID_HOST, KERN_NO_ACCESS, KERN_INVALID_HOST);
	CHECK_KR_PICK(t, vm_wire(mach_host_self(), t, 0x900000, P, R),
	              KERN_INVALID_HOST, KERN_SUCCESS, KERN_INVALID_HOST);
	CHECK_KR_PICK(t, vm_wire(mach_host_self(), t, 0x901000, 1, R),
	              KERN_INVALID_HOST, KERN_NO_ACCESS, KERN_INVALID_HOST);
	/* The privileged port has no cap, and unwiring none. */
	CHECK_KR(wire(t, 0x901000, P, R), KERN_SUCCESS);
	CHECK_KR_PICK(t, vm_wire(mach_host_self(), t, 0x100000, 0x900000, VM_PROT_NONE),
	              KERN_INVALID_HOST, KERN_SUCCESS, KERN_INVALID_HOST);
	CHECK_KR_UNCHANGED(t, vm_wire(MACH_PORT_NULL, t, 0x100000, P, R), KERN_INVALID_HOST);
}

ROW(wire_already_wired)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	CHECK_KR(wire(t, 0x10000, P, RW), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR_PICK(t, wire(t, 0x10000, P, RW),
	              KERN_FAILURE, KERN_NO_SPACE, KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x10000).wired_count, pick(1, 1, 2));
}

/* ---- fork ------------------------------------------------------------------ */

ROW(fork_unreadable_copy)
{
	/* A shared region (copied the slow way) whose maximum lacks read. */
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	util_fill(t, 0x10000, P, 1);
	util_fill(t, 0x12000, P, 2);
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	task_t c1 = util_fork(t);
	CHECK(allocated(c1, 0x10000));
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x10000, P, TRUE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x12000, P, TRUE, VM_PROT_NONE), KERN_SUCCESS);
	task_t c2 = util_fork(t);
	CHECK_EQ(allocated(c2, 0x10000), pick(1, 1, 0));
	/* A private one is copied the quick way, whatever its maximum. */
	CHECK(allocated(c2, 0x12000));
}

ROW(region_object_name)
{
	task_t t = holed();
	util_fill(t, 0x12000, P, 1);
	vm_address_t a = 0x10000;
	vm_size_t size;
	vm_prot_t p, m;
	vm_inherit_t i;
	boolean_t sh;
	mach_port_t o = 99;
	vm_offset_t off;
	CHECK_KR(vm_region(t, &a, &size, &p, &m, &i, &sh, &o, &off), KERN_SUCCESS);
	CHECK_EQ(o, MACH_PORT_NULL);            /* untouched: no object anywhere */
	a = 0x12000;
	CHECK_KR(vm_region(t, &a, &size, &p, &m, &i, &sh, &o, &off), KERN_SUCCESS);
	CHECK_EQ(o, pick((long long)util_region(t, 0x12000).object_id,
	                 (long long)util_region(t, 0x12000).object_id, MACH_PORT_NULL));
	CHECK(util_region(t, 0x12000).object_id != 0);
}
