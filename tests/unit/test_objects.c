/*
 * test_objects.c - looking inside (objects.h): the live objects, one
 * object's figures, chain, shadows, mappings and pages, a task's page map,
 * and the private / shared / cow counts of vm_region_extended, through a
 * fork, a copy-on-write write, a collapse, a sharing remap and wiring.
 * Every step also checks that the page map and the counts agree.
 */
#include <stdlib.h>
#include "harness.h"
#include "util.h"

#define RW   (VM_PROT_READ | VM_PROT_WRITE)
#define A    ((vm_address_t)0x10000)
#define P    ((vm_address_t)4096)

static machvm_object_info_t info_of(uint64_t id)
{
	machvm_object_info_t i;
	CHECK_KR(machvm_object_info(id, MACHVM_OBJECT_CHAIN | MACHVM_OBJECT_SHADOWED_BY |
	                            MACHVM_OBJECT_MAPPED_BY | MACHVM_OBJECT_PAGES, &i),
	         KERN_SUCCESS);
	return i;
}

/* The live object ids, into ids (at most cap); returns how many. */
static size_t live_objects(uint64_t *ids, size_t cap)
{
	size_t n;
	CHECK_KR(machvm_object_list(0, ids, cap, &n), KERN_SUCCESS);
	CHECK(n <= cap);
	return n;
}

/* One page of the task's page map, by address; fails the test if absent. */
static machvm_page_info_t page_at(task_t t, vm_address_t a)
{
	machvm_page_info_t *v, found = { 0, 0, 0, 0 };
	size_t n;
	CHECK_KR(machvm_task_pagemap(t, &v, &n), KERN_SUCCESS);
	for (size_t i = 0; i < n; i++)
		if (v[i].address == a)
			found = v[i];
	free(v);
	if (found.address != a)
		harness_fail(__FILE__, __LINE__, "no page map line for 0x%llx",
		             (unsigned long long)a);
	return found;
}

static size_t pagemap_count(task_t t)
{
	machvm_page_info_t *v;
	size_t n;
	CHECK_KR(machvm_task_pagemap(t, &v, &n), KERN_SUCCESS);
	free(v);
	return n;
}

/*
 * The page map and the regions agree: lines in address order, each inside
 * a region, its object in that region's chain at its depth, the modes
 * adding up to each region's private / shared / cow counts and those to
 * resident_pages.
 */
static void check_agree(task_t t)
{
	machvm_page_info_t *v;
	vm_region_extended_info_t *r;
	size_t n, nr, k = 0;
	CHECK_KR(machvm_task_pagemap(t, &v, &n), KERN_SUCCESS);
	CHECK_KR(machvm_region_snapshot(t, &r, &nr), KERN_SUCCESS);
	for (size_t i = 1; i < n; i++)
		CHECK(v[i - 1].address < v[i].address);
	for (size_t j = 0; j < nr; j++) {
		uint64_t mode[4] = { 0, 0, 0, 0 };
		CHECK_EQ(r[j].private_pages + r[j].shared_pages + r[j].cow_pages,
		         r[j].resident_pages);
		for (; k < n && v[k].address < r[j].start + r[j].size; k++) {
			CHECK(v[k].address >= r[j].start);
			CHECK(v[k].mode >= MACHVM_PAGE_PRIVATE && v[k].mode <= MACHVM_PAGE_COW);
			mode[v[k].mode]++;
			machvm_object_info_t top = info_of(r[j].object_id);
			CHECK(v[k].depth < top.nchain);
			CHECK_EQ(top.chain[v[k].depth].id, v[k].object_id);
			machvm_object_info_free(&top);
		}
		CHECK_EQ(mode[MACHVM_PAGE_PRIVATE], r[j].private_pages);
		CHECK_EQ(mode[MACHVM_PAGE_SHARED], r[j].shared_pages);
		CHECK_EQ(mode[MACHVM_PAGE_COW], r[j].cow_pages);
	}
	CHECK_EQ(k, n);
	free(v);
	free(r);
}

TEST(objects_none_before_first_touch)
{
	task_t t = harness_task();
	harness_alloc(t, A, 64 * P);
	CHECK_EQ(live_objects(NULL, 0), 0);
	CHECK_EQ(pagemap_count(t), 0);
	CHECK_EQ(machvm_object_alive(0), FALSE);
	check_agree(t);
}

TEST(objects_one_written_region)
{
	task_t t = harness_task();
	harness_alloc(t, A, 4 * P);
	util_write_byte(t, A, 1);
	util_write_byte(t, A + 2 * P, 2);
	uint64_t ids[4];
	CHECK_EQ(live_objects(ids, 4), 1);
	uint64_t x = util_region(t, A).object_id;
	CHECK_EQ(ids[0], x);
	CHECK(machvm_object_alive(x));

	machvm_object_info_t i = info_of(x);
	CHECK_EQ(i.id, x);
	CHECK_EQ(i.size, 4 * P);
	CHECK_EQ(i.resident_pages, 2);
	CHECK_EQ(i.ref_count, 1);
	CHECK_EQ(i.shadow, 0);
	CHECK_EQ(i.nchain, 1);
	CHECK_EQ(i.chain[0].id, x);
	CHECK_EQ(i.chain[0].depth, 0);
	CHECK_EQ(i.chain[0].resident_pages, 2);
	CHECK_EQ(i.nshadowed_by, 0);
	CHECK_EQ(i.nmapped_by, 1);
	CHECK_EQ(i.mapped_by[0].task, t);
	CHECK_EQ(i.mapped_by[0].start, A);
	CHECK_EQ(i.mapped_by[0].end, A + 4 * P);
	CHECK_EQ(i.mapped_by[0].offset, 0);
	CHECK_EQ(i.npages, 2);
	CHECK_EQ(i.pages[0].offset, 0);
	CHECK_EQ(i.pages[1].offset, 2 * P);
	CHECK(!i.pages[0].wired && !i.pages[1].wired);
	machvm_object_info_free(&i);

	machvm_page_info_t p = page_at(t, A + 2 * P);
	CHECK_EQ(p.object_id, x);
	CHECK_EQ(p.depth, 0);
	CHECK_EQ(p.mode, MACHVM_PAGE_PRIVATE);
	CHECK_EQ(pagemap_count(t), 2);
	vm_region_extended_info_t r = util_region(t, A);
	CHECK_EQ(r.private_pages, 2);
	CHECK_EQ(r.cow_pages, 0);
	check_agree(t);
}

/* Fork, a copy-on-write write in the child, then the child's end: the
 * shadow goes, and so does the parent's needs_copy sharing. */
TEST(objects_fork_cow_write_and_child_end)
{
	task_t t = harness_task();
	harness_alloc(t, A, 4 * P);
	util_write_byte(t, A, 1);
	util_write_byte(t, A + 2 * P, 2);
	uint64_t x = util_region(t, A).object_id;
	task_t c = util_fork(t);

	machvm_object_info_t i = info_of(x);
	CHECK_EQ(i.ref_count, 2);
	CHECK_EQ(i.nmapped_by, 2);
	CHECK_EQ(i.mapped_by[0].task, t);
	CHECK_EQ(i.mapped_by[1].task, c);
	CHECK(i.mapped_by[0].needs_copy && i.mapped_by[1].needs_copy);
	machvm_object_info_free(&i);
	CHECK_EQ(page_at(c, A).mode, MACHVM_PAGE_COW);
	CHECK_EQ(page_at(t, A).mode, MACHVM_PAGE_COW);
	CHECK_EQ(util_region(t, A).cow_pages, 2);
	check_agree(t);
	check_agree(c);

	/* The child writes page 1: a shadow in front of x, one page in it. */
	util_write_byte(c, A + P, 3);
	uint64_t y = util_region(c, A).object_id;
	CHECK(y != x);
	uint64_t ids[4];
	CHECK_EQ(live_objects(ids, 4), 2);
	CHECK_EQ(ids[0], x);
	CHECK_EQ(ids[1], y);
	i = info_of(y);
	CHECK_EQ(i.shadow, x);
	CHECK_EQ(i.shadow_offset, 0);
	CHECK_EQ(i.resident_pages, 1);
	CHECK_EQ(i.ref_count, 1);
	CHECK_EQ(i.nchain, 2);
	CHECK_EQ(i.chain[1].id, x);
	CHECK_EQ(i.chain[1].depth, 1);
	CHECK_EQ(i.chain[1].resident_pages, 2);
	CHECK_EQ(i.nmapped_by, 1);
	CHECK_EQ(i.mapped_by[0].task, c);
	CHECK(!i.mapped_by[0].needs_copy);
	CHECK_EQ(i.npages, 1);
	CHECK_EQ(i.pages[0].offset, P);
	machvm_object_info_free(&i);
	i = info_of(x);
	CHECK_EQ(i.ref_count, 2);       /* the parent's entry and y */
	CHECK_EQ(i.nshadowed_by, 1);
	CHECK_EQ(i.shadowed_by[0], y);
	CHECK_EQ(i.nmapped_by, 1);
	CHECK_EQ(i.mapped_by[0].task, t);
	machvm_object_info_free(&i);

	machvm_page_info_t p = page_at(c, A);
	CHECK_EQ(p.object_id, x);
	CHECK_EQ(p.depth, 1);
	CHECK_EQ(p.mode, MACHVM_PAGE_COW);
	p = page_at(c, A + P);
	CHECK_EQ(p.object_id, y);
	CHECK_EQ(p.depth, 0);
	CHECK_EQ(p.mode, MACHVM_PAGE_PRIVATE);
	CHECK_EQ(pagemap_count(c), 3);
	vm_region_extended_info_t r = util_region(c, A);
	CHECK_EQ(r.private_pages, 1);
	CHECK_EQ(r.cow_pages, 2);
	CHECK_EQ(pagemap_count(t), 2);
	check_agree(t);
	check_agree(c);

	/* The child goes: y with it; x is the parent's alone again. */
	CHECK_KR(task_terminate(c), KERN_SUCCESS);
	CHECK(!machvm_object_alive(y));
	CHECK_KR(machvm_object_info(y, 0, &i), KERN_INVALID_ARGUMENT);
	CHECK_EQ(live_objects(ids, 4), 1);
	i = info_of(x);
	CHECK_EQ(i.ref_count, 1);
	CHECK_EQ(i.nshadowed_by, 0);
	machvm_object_info_free(&i);
	/* Still needs_copy, but a write would copy nothing: private. */
	CHECK(util_region(t, A).needs_copy);
	CHECK_EQ(page_at(t, A).mode, MACHVM_PAGE_PRIVATE);
	CHECK_EQ(util_region(t, A).private_pages, 2);
	check_agree(t);
	util_write_byte(t, A, 7);
	CHECK_EQ(util_region(t, A).object_id, x);    /* written in place */
	check_agree(t);
}

/* Both sides write after a fork, then the child ends: its shadow goes, the
 * shared object has one reference left, from the parent's shadow, and is
 * collapsed into it. */
TEST(objects_collapse_after_child_end)
{
	task_t t = harness_task();
	harness_alloc(t, A, 4 * P);
	util_write_byte(t, A, 1);
	util_write_byte(t, A + 2 * P, 2);
	uint64_t x = util_region(t, A).object_id;
	task_t c = util_fork(t);
	util_write_byte(c, A + P, 3);
	util_write_byte(t, A + 3 * P, 4);
	uint64_t y = util_region(c, A).object_id, z = util_region(t, A).object_id;
	CHECK(x != y && x != z && y != z);

	machvm_object_info_t i = info_of(x);
	CHECK_EQ(i.ref_count, 2);
	CHECK_EQ(i.nshadowed_by, 2);
	CHECK_EQ(i.shadowed_by[0], y);
	CHECK_EQ(i.shadowed_by[1], z);
	CHECK_EQ(i.nmapped_by, 0);      /* only shadows refer to it */
	machvm_object_info_free(&i);
	CHECK_EQ(page_at(t, A).depth, 1);
	CHECK_EQ(page_at(t, A + 3 * P).depth, 0);
	check_agree(t);
	check_agree(c);

	CHECK_KR(task_terminate(c), KERN_SUCCESS);
	CHECK(!machvm_object_alive(x));
	CHECK(!machvm_object_alive(y));
	uint64_t ids[4];
	CHECK_EQ(live_objects(ids, 4), 1);
	CHECK_EQ(ids[0], z);
	i = info_of(z);
	CHECK_EQ(i.shadow, 0);
	CHECK_EQ(i.nchain, 1);
	CHECK_EQ(i.resident_pages, 3);  /* pages 0 and 2 came up from x */
	machvm_object_info_free(&i);
	for (vm_address_t a = A; a < A + 4 * P; a += P) {
		if (a == A + P)
			continue;
		machvm_page_info_t p = page_at(t, a);
		CHECK_EQ(p.object_id, z);
		CHECK_EQ(p.depth, 0);
		CHECK_EQ(p.mode, MACHVM_PAGE_PRIVATE);
	}
	CHECK_EQ(pagemap_count(t), 3);
	check_agree(t);
}

/* A sharing remap: two tasks' entries map one object, writes in place are
 * shared; wiring marks the pages of the wired window. */
TEST(objects_remap_share_and_wire)
{
	task_t a = harness_task(), b = harness_task();
	harness_alloc(a, A, 4 * P);
	util_write_byte(a, A, 1);
	vm_address_t at = 0x40000;
	vm_prot_t cur, max;
	CHECK_KR(vm_remap(b, &at, 2 * P, 0, FALSE, a, A, FALSE, &cur, &max, VM_INHERIT_SHARE),
	         KERN_SUCCESS);
	uint64_t x = util_region(a, A).object_id;
	CHECK_EQ(util_region(b, at).object_id, x);

	machvm_object_info_t i = info_of(x);
	CHECK_EQ(i.ref_count, 2);
	CHECK(i.true_share);
	CHECK_EQ(i.nmapped_by, 2);
	CHECK_EQ(i.mapped_by[0].task, a);
	CHECK_EQ(i.mapped_by[1].task, b);
	CHECK_EQ(i.mapped_by[1].start, at);
	CHECK_EQ(i.mapped_by[1].end, at + 2 * P);
	CHECK_EQ(i.mapped_by[1].offset, 0);
	machvm_object_info_free(&i);
	CHECK_EQ(page_at(a, A).mode, MACHVM_PAGE_SHARED);
	machvm_page_info_t p = page_at(b, at);
	CHECK_EQ(p.object_id, x);
	CHECK_EQ(p.mode, MACHVM_PAGE_SHARED);
	CHECK_EQ(util_region(b, at).shared_pages, 1);
	check_agree(a);
	check_agree(b);

	/* Wire b's two pages: they become resident, and wired. */
	CHECK_KR(vm_wire(host_priv_self(), b, at, 2 * P, RW), KERN_SUCCESS);
	i = info_of(x);
	CHECK_EQ(i.npages, 2);
	CHECK(i.pages[0].wired && i.pages[1].wired);
	machvm_object_info_free(&i);
	/* The rest of a's region is not wired, and a write there is not. */
	util_write_byte(a, A + 3 * P, 9);
	i = info_of(util_region(a, A + 3 * P).object_id);
	CHECK(i.npages >= 1);
	CHECK(!i.pages[i.npages - 1].wired);
	machvm_object_info_free(&i);
	check_agree(a);
	check_agree(b);
}

/* A huge untouched region costs no page map line; bad arguments are
 * refused with nothing filled. */
TEST(objects_bad_arguments)
{
	task_t t = harness_task();
	harness_alloc(t, A, (vm_size_t)1 << 36);
	util_write_byte(t, A + ((vm_size_t)1 << 35), 1);
	CHECK_EQ(pagemap_count(t), 1);
	check_agree(t);

	machvm_object_info_t i;
	size_t n;
	machvm_page_info_t *v;
	CHECK_KR(machvm_object_info(0, 0, &i), KERN_INVALID_ARGUMENT);
	CHECK(i.chain == NULL && i.id == 0);
	CHECK_KR(machvm_object_info(12345, MACHVM_OBJECT_PAGES, &i), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_object_info(1, 0, NULL), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_object_list(0, NULL, 0, NULL), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_object_list(0, NULL, 1, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_task_pagemap(util_dead_task(), &v, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_task_pagemap(t, NULL, &n), KERN_INVALID_ARGUMENT);
	uint64_t id = util_region(t, A).object_id;
	CHECK_KR(machvm_object_list(id + 1, NULL, 0, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	CHECK_KR(machvm_object_list(id, NULL, 0, &n), KERN_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK(strcmp(machvm_page_mode_name(MACHVM_PAGE_COW), "cow") == 0);
	CHECK(strcmp(machvm_page_mode_name(0), "unknown") == 0);
}

/*
 * The list of objects in batches, as a directory listing reads it, while
 * most objects die: every live id once, ascending, and the count of those
 * at or above `first` exact.  2,000 regions with a page each make 2,000
 * objects; every third region goes.
 */
TEST(objects_list_in_batches)
{
	task_t t = harness_task();
	enum { N = 2000 };
	for (int i = 0; i < N; i++) {
		vm_address_t a = A + (vm_address_t)i * 2 * P;
		unsigned char b = (unsigned char)i;
		vm_size_t n;
		CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_SUCCESS);
		CHECK_KR(vm_write(t, a, &b, 1, &n), KERN_SUCCESS);
	}
	for (int i = 0; i < N; i += 3)
		CHECK_KR(vm_deallocate(t, A + (vm_address_t)i * 2 * P, P), KERN_SUCCESS);
	uint64_t *all = malloc(N * sizeof *all);
	CHECK(all != NULL);
	size_t live = live_objects(all, N);
	CHECK_EQ(live, N - (N + 2) / 3);
	for (size_t i = 1; i < live; i++)
		CHECK(all[i - 1] < all[i]);
	/* In batches of 7 from each last id + 1. */
	uint64_t first = 0, batch[7];
	size_t seen = 0;
	for (;;) {
		size_t n;
		CHECK_KR(machvm_object_list(first, batch, 7, &n), KERN_SUCCESS);
		CHECK_EQ(n, live - seen);
		size_t got = n < 7 ? n : 7;
		for (size_t i = 0; i < got; i++)
			CHECK_EQ(batch[i], all[seen + i]);
		seen += got;
		if (n <= 7)
			break;
		first = batch[6] + 1;
	}
	CHECK_EQ(seen, live);
	/* Past the last: none. */
	size_t n;
	CHECK_KR(machvm_object_list(all[live - 1] + 1, NULL, 0, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	free(all);
}
