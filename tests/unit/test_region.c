/*
 * test_region.c - vm_region: looking forward, the address moving down,
 * KERN_NO_SPACE, walking a whole map, object_name, offset, the shared flag;
 * and vm_region_extended, which follows the same lookup rules.
 */
#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define TOP MACHVM_USER_MAX
#define R VM_PROT_READ
#define RW (VM_PROT_READ | VM_PROT_WRITE)

/* Everything vm_region reports, in one place. */
struct reg {
	vm_address_t addr;
	vm_size_t size;
	vm_prot_t prot, max;
	vm_inherit_t inh;
	boolean_t shared;
	mach_port_t obj;
	vm_offset_t off;
};

/* vm_region from addr; the outputs are poisoned first so a missing store shows. */
static kern_return_t region(task_t t, vm_address_t addr, struct reg *r)
{
	r->addr = addr;
	r->size = 0xdead;
	r->prot = r->max = 0x55;
	r->inh = 0x55;
	r->shared = 0x55;
	r->obj = 0xdeadbeef;
	r->off = 0xdead;
	return vm_region(t, &r->addr, &r->size, &r->prot, &r->max, &r->inh,
	                 &r->shared, &r->obj, &r->off);
}

static struct reg region_ok(task_t t, vm_address_t addr)
{
	struct reg r;
	CHECK_KR(region(t, addr, &r), KERN_SUCCESS);
	return r;
}

TEST(reports_every_field)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	struct reg r = region_ok(t, 0x10000);
	CHECK_EQ(r.addr, 0x10000);
	CHECK_EQ(r.size, 3 * P);
	CHECK_EQ(r.prot, RW);
	CHECK_EQ(r.max, VM_PROT_ALL);
	CHECK_EQ(r.inh, VM_INHERIT_COPY);
	CHECK_EQ(r.shared, FALSE);
	CHECK_EQ(r.obj, MACH_PORT_NULL);
	CHECK_EQ(r.off, 0);
	CHECK_KR(vm_protect(t, 0x10000, 3 * P, TRUE, R), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, 0x10000, 3 * P, VM_INHERIT_NONE), KERN_SUCCESS);
	r = region_ok(t, 0x10000);
	CHECK_EQ(r.prot, R);
	CHECK_EQ(r.max, R);
	CHECK_EQ(r.inh, VM_INHERIT_NONE);
}

TEST(address_inside_moves_down)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	struct reg r = region_ok(t, 0x12345);
	CHECK_EQ(r.addr, 0x10000);
	CHECK_EQ(r.size, 4 * P);
	r = region_ok(t, 0x13fff);
	CHECK_EQ(r.addr, 0x10000);
	r = region_ok(t, 0x10000);
	CHECK_EQ(r.addr, 0x10000);
}

TEST(address_in_hole_looks_forward)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x20000, 2 * P);
	struct reg r = region_ok(t, 0);
	CHECK_EQ(r.addr, 0x10000);
	CHECK_EQ(r.size, P);
	r = region_ok(t, 0x11000);
	CHECK_EQ(r.addr, 0x20000);
	CHECK_EQ(r.size, 2 * P);
	r = region_ok(t, 0x1ffff);
	CHECK_EQ(r.addr, 0x20000);
	/* The end of a region is outside it. */
	r = region_ok(t, 0x10000 + P);
	CHECK_EQ(r.addr, 0x20000);
}

TEST(no_space_past_the_last)
{
	task_t t = harness_task();
	struct reg r;
	/* An empty map has nothing at all. */
	CHECK_KR_UNCHANGED(t, region(t, 0, &r), KERN_NO_SPACE);
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR_UNCHANGED(t, region(t, 0x12000, &r), KERN_NO_SPACE);
	CHECK_KR_UNCHANGED(t, region(t, 0x7fff0000, &r), KERN_NO_SPACE);
	CHECK_KR_UNCHANGED(t, region(t, TOP, &r), KERN_NO_SPACE);
	CHECK_KR_UNCHANGED(t, region(t, ~(vm_address_t)0, &r), KERN_NO_SPACE);
	/* The last page of the user range is found. */
	harness_alloc(t, TOP - P, P);
	r = region_ok(t, 0x12000);
	CHECK_EQ(r.addr, TOP - P);
	CHECK_EQ(r.size, P);
	r = region_ok(t, TOP - 1);
	CHECK_EQ(r.addr, TOP - P);
	CHECK_KR(region(t, TOP, &r), KERN_NO_SPACE);
}

TEST(walk_whole_map)
{
	task_t t = harness_task();
	harness_alloc(t, P, P);
	harness_alloc(t, 0x10000, 4 * P);
	harness_alloc(t, 0x20000, P);
	harness_alloc(t, TOP - 2 * P, 2 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, 0x13000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	util_write_byte(t, 0x20000, 1);
	static const struct { vm_address_t start; vm_size_t size; vm_prot_t prot; vm_inherit_t inh; } want[] = {
		{ P, P, RW, VM_INHERIT_COPY },
		{ 0x10000, P, RW, VM_INHERIT_COPY },
		{ 0x11000, P, R, VM_INHERIT_COPY },
		{ 0x12000, P, RW, VM_INHERIT_COPY },
		{ 0x13000, P, RW, VM_INHERIT_SHARE },
		{ 0x20000, P, RW, VM_INHERIT_COPY },
		{ TOP - 2 * P, 2 * P, RW, VM_INHERIT_COPY },
	};
	size_t n = 0;
	vm_address_t addr = 0;
	struct reg r;
	while (region(t, addr, &r) == KERN_SUCCESS) {
		CHECK(n < sizeof want / sizeof want[0]);
		CHECK_EQ(r.addr, want[n].start);
		CHECK_EQ(r.size, want[n].size);
		CHECK_EQ(r.prot, want[n].prot);
		CHECK_EQ(r.inh, want[n].inh);
		n++;
		addr = r.addr + r.size;
	}
	CHECK_EQ(n, sizeof want / sizeof want[0]);
	CHECK_EQ(harness_region_count(t), (int)n);
	/* The walk agrees with the snapshot, region by region. */
	util_snap_t s = util_snapshot(t);
	CHECK_EQ(s.count, n);
	for (size_t i = 0; i < s.count; i++) {
		r = region_ok(t, s.regions[i].start);
		CHECK_EQ(r.addr, s.regions[i].start);
		CHECK_EQ(r.size, s.regions[i].size);
		CHECK_EQ(r.prot, s.regions[i].protection);
		CHECK_EQ(r.max, s.regions[i].max_protection);
		CHECK_EQ(r.inh, s.regions[i].inheritance);
		CHECK_EQ(r.shared, s.regions[i].shared);
		CHECK_EQ(r.obj, (mach_port_t)s.regions[i].object_id);
		CHECK_EQ(r.off, s.regions[i].offset);
	}
	util_snap_free(&s);
}

TEST(object_name_none_before_touch_set_after_write)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_EQ(region_ok(t, 0x10000).obj, MACH_PORT_NULL);
	/* A read does not give it an object. */
	CHECK_EQ(util_read_byte(t, 0x10000), 0);
	CHECK_EQ(region_ok(t, 0x10000).obj, MACH_PORT_NULL);
	util_write_byte(t, 0x11000, 9);
	struct reg r = region_ok(t, 0x10000);
	CHECK(r.obj != MACH_PORT_NULL);
	CHECK_EQ(r.off, 0);
	vm_region_extended_info_t x = util_region(t, 0x10000);
	CHECK(x.object_id != 0);
	CHECK_EQ(r.obj, (mach_port_t)x.object_id);
	/* Another task's allocation has another object. */
	task_t u = harness_task();
	harness_alloc(u, 0x10000, P);
	util_write_byte(u, 0x10000, 1);
	CHECK(region_ok(u, 0x10000).obj != MACH_PORT_NULL);
	CHECK(region_ok(u, 0x10000).obj != r.obj);
}

TEST(offset_of_split_pieces)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_touch(t, 0x10000, 4 * P, 3);
	mach_port_t obj = region_ok(t, 0x10000).obj;
	CHECK(obj != MACH_PORT_NULL);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x13000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 4);
	for (int i = 0; i < 4; i++) {
		struct reg r = region_ok(t, 0x10000 + i * P);
		CHECK_EQ(r.addr, 0x10000 + i * P);
		CHECK_EQ(r.size, P);
		CHECK_EQ(r.obj, obj);
		CHECK_EQ(r.off, i * P);
	}
	/* Removing the first piece leaves the others at their offsets. */
	CHECK_KR(vm_deallocate(t, 0x10000, P), KERN_SUCCESS);
	CHECK_EQ(region_ok(t, 0x10000).addr, 0x11000);
	CHECK_EQ(region_ok(t, 0x10000).off, P);
}

TEST(offset_after_unaligned_query)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 3 * P);
	util_touch(t, 0x10000, 3 * P, 1);
	CHECK_KR(vm_inherit(t, 0x12000, P, VM_INHERIT_NONE), KERN_SUCCESS);
	struct reg r = region_ok(t, 0x12abc);
	CHECK_EQ(r.addr, 0x12000);
	CHECK_EQ(r.off, 2 * P);
	CHECK_EQ(r.inh, VM_INHERIT_NONE);
}

TEST(shared_flag_after_fork_share)
{
	task_t parent = harness_task();
	harness_alloc(parent, 0x10000, 3 * P);
	harness_alloc(parent, 0x20000, P);
	CHECK_KR(vm_inherit(parent, 0x10000, 3 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(region_ok(parent, 0x10000).shared, FALSE);
	task_t child = TASK_NULL;
	CHECK_KR(task_create(parent, TRUE, &child), KERN_SUCCESS);
	/* Both sides of a SHARE entry are shared; the copy entry is not. */
	struct reg pr = region_ok(parent, 0x10000), cr = region_ok(child, 0x10000);
	CHECK_EQ(pr.shared, TRUE);
	CHECK_EQ(cr.shared, TRUE);
	CHECK(pr.obj != MACH_PORT_NULL);
	CHECK_EQ(pr.obj, cr.obj);
	CHECK_EQ(region_ok(parent, 0x20000).shared, FALSE);
	CHECK_EQ(region_ok(child, 0x20000).shared, FALSE);
	/* Kept when the entry is split. */
	CHECK_KR(vm_protect(parent, 0x11000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(parent), 4);
	CHECK_EQ(region_ok(parent, 0x10000).shared, TRUE);
	CHECK_EQ(region_ok(parent, 0x11000).shared, TRUE);
	CHECK_EQ(region_ok(parent, 0x12000).shared, TRUE);
	CHECK_EQ(region_ok(parent, 0x12000).off, 2 * P);
	/* Never cleared, even when the other side is gone. */
	CHECK_KR(task_terminate(child), KERN_SUCCESS);
	CHECK_EQ(region_ok(parent, 0x10000).shared, TRUE);
	CHECK_EQ(region_ok(parent, 0x12000).shared, TRUE);
}

TEST(shared_flag_after_sharing_remap)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	vm_address_t target = 0;
	vm_prot_t cur = 0, max = 0;
	CHECK_KR(vm_remap(t, &target, 2 * P, 0, TRUE, t, 0x10000, FALSE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK(target != 0x10000);
	struct reg src = region_ok(t, 0x10000), dst = region_ok(t, target);
	CHECK_EQ(src.shared, TRUE);
	CHECK_EQ(dst.shared, TRUE);
	CHECK(src.obj != MACH_PORT_NULL);
	CHECK_EQ(src.obj, dst.obj);
	/* A copying remap does not share. */
	task_t u = harness_task();
	harness_alloc(u, 0x10000, P);
	util_write_byte(u, 0x10000, 4);
	target = 0;
	CHECK_KR(vm_remap(u, &target, P, 0, TRUE, u, 0x10000, TRUE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_EQ(region_ok(u, 0x10000).shared, FALSE);
	CHECK_EQ(region_ok(u, target).shared, FALSE);
}

TEST(extended_same_lookup)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	harness_alloc(t, 0x20000, P);
	vm_region_extended_info_t x;
	vm_address_t a = 0x10800;
	CHECK_KR(vm_region_extended(t, &a, &x), KERN_SUCCESS);
	CHECK_EQ(a, 0x10000);
	CHECK_EQ(x.start, 0x10000);
	CHECK_EQ(x.size, 2 * P);
	a = 0x12000;
	CHECK_KR(vm_region_extended(t, &a, &x), KERN_SUCCESS);
	CHECK_EQ(a, 0x20000);
	CHECK_EQ(x.start, 0x20000);
	a = 0x21000;
	CHECK_KR_UNCHANGED(t, vm_region_extended(t, &a, &x), KERN_NO_SPACE);
	a = 0x10000;
	CHECK_KR(vm_region_extended(util_dead_task(), &a, &x), KERN_INVALID_ARGUMENT);
}

TEST(extended_share_mode_and_resident)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	vm_region_extended_info_t x = util_region(t, 0x10000);
	CHECK_EQ(x.share_mode, SM_EMPTY);
	CHECK_EQ(x.resident_pages, 0);
	util_write_byte(t, 0x10000, 1);
	util_write_byte(t, 0x12000, 1);
	x = util_region(t, 0x10000);
	CHECK_EQ(x.share_mode, SM_PRIVATE);
	CHECK_EQ(x.resident_pages, 2);
	CHECK_EQ(x.ref_count, 1);
	CHECK_EQ(x.shadow_depth, 0);
}

TEST(dead_task)
{
	struct reg r;
	task_t dead = util_dead_task();
	CHECK_KR(region(dead, 0, &r), KERN_INVALID_ARGUMENT);
	CHECK_KR(region(TASK_NULL, 0, &r), KERN_INVALID_ARGUMENT);
	CHECK_KR(region(dead + 3, 0x10000, &r), KERN_INVALID_ARGUMENT);
}

TEST(page_size_64k)
{
	harness_restart(65536);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x30000);
	util_touch(t, 0x10000, 0x30000, 2);
	CHECK_KR(vm_protect(t, 0x20000, 1, FALSE, R), KERN_SUCCESS);
	struct reg r = region_ok(t, 0x2ffff);
	CHECK_EQ(r.addr, 0x20000);
	CHECK_EQ(r.size, 0x10000);
	CHECK_EQ(r.off, 0x10000);
	CHECK_EQ(r.prot, R);
	r = region_ok(t, 0x1);
	CHECK_EQ(r.addr, 0x10000);
	CHECK_EQ(r.size, 0x10000);
	CHECK_KR(region(t, 0x40000, &r), KERN_NO_SPACE);
}

TEST(region_count_matches_the_walk)
{
	task_t t = harness_task();
	size_t n = 99;
	CHECK_KR(machvm_task_region_count(t, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_KR(machvm_task_region_count(t, &n), KERN_SUCCESS);
	CHECK_EQ(n, (size_t)harness_region_count(t));
	CHECK_EQ(n, 3);
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	CHECK_KR(machvm_task_region_count(t, &n), KERN_INVALID_ARGUMENT);
}
