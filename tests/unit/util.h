/*
 * util.h - small helpers shared by the engine's unit tests.
 *
 * Everything here is static inline so each test program takes only what it
 * uses.  The main promise is CHECK_KR_UNCHANGED: a call that fails must leave
 * the map exactly as it was (every field of every region, and the task's
 * counters), which is checked by comparing whole-map snapshots.
 */
#ifndef MACHVM_TEST_UTIL_H
#define MACHVM_TEST_UTIL_H

#include <stdlib.h>
#include "harness.h"

/* A whole-map snapshot plus the task's counters, taken at one moment. */
typedef struct util_snap {
	vm_region_extended_info_t *regions;
	size_t count;
	machvm_task_stats_t stats;
} util_snap_t;

static inline util_snap_t util_snapshot(task_t t)
{
	util_snap_t s;
	memset(&s, 0, sizeof s);
	CHECK_KR(machvm_region_snapshot(t, &s.regions, &s.count), KERN_SUCCESS);
	CHECK(s.count == 0 || s.regions != NULL);
	CHECK_KR(machvm_task_stats(t, &s.stats), KERN_SUCCESS);
	return s;
}

static inline void util_snap_free(util_snap_t *s)
{
	free(s->regions);
	s->regions = NULL;
	s->count = 0;
}

/*
 * Compares two snapshots field by field.  Returns 0 if they are equal, else
 * 1 with a description of the first difference in why.
 */
static inline int util_snap_diff(const util_snap_t *a, const util_snap_t *b,
                                 char *why, size_t len)
{
	if (a->count != b->count) {
		snprintf(why, len, "region count %zu -> %zu", a->count, b->count);
		return 1;
	}
	for (size_t i = 0; i < a->count; i++) {
		const vm_region_extended_info_t *x = &a->regions[i], *y = &b->regions[i];
#define UTIL_FIELD(f)                                                   \
		if ((unsigned long long)x->f != (unsigned long long)y->f) {      \
			snprintf(why, len, "region %zu (start 0x%llx): %s 0x%llx -> 0x%llx", \
			         i, (unsigned long long)x->start, #f,            \
			         (unsigned long long)x->f, (unsigned long long)y->f); \
			return 1;                                               \
		}
		UTIL_FIELD(start)
		UTIL_FIELD(size)
		UTIL_FIELD(protection)
		UTIL_FIELD(max_protection)
		UTIL_FIELD(inheritance)
		UTIL_FIELD(shared)
		UTIL_FIELD(needs_copy)
		UTIL_FIELD(object_id)
		UTIL_FIELD(offset)
		UTIL_FIELD(share_mode)
		UTIL_FIELD(shadow_depth)
		UTIL_FIELD(ref_count)
		UTIL_FIELD(resident_pages)
		UTIL_FIELD(wired_count)
		UTIL_FIELD(cache)
		UTIL_FIELD(migrate)
		UTIL_FIELD(replicate)
		UTIL_FIELD(cache_flushes)
		UTIL_FIELD(dcache_flushes)
		UTIL_FIELD(icache_flushes)
#undef UTIL_FIELD
	}
	const machvm_task_stats_t *p = &a->stats, *q = &b->stats;
#define UTIL_STAT(f)                                                    \
	if (p->f != q->f) {                                             \
		snprintf(why, len, "task stats %s %llu -> %llu", #f,       \
		         (unsigned long long)p->f, (unsigned long long)q->f); \
		return 1;                                               \
	}
	UTIL_STAT(regions)
	UTIL_STAT(virtual_size)
	UTIL_STAT(resident_pages)
	UTIL_STAT(wired_pages)
	UTIL_STAT(objects)
	UTIL_STAT(max_shadow_depth)
	UTIL_STAT(faults)
	UTIL_STAT(zero_fill_faults)
	UTIL_STAT(cow_faults)
#undef UTIL_STAT
	return 0;
}

/* Fails the case if the map of t differs from the snapshot before. */
#define CHECK_UNCHANGED(t, before)                                      \
	do {                                                            \
		util_snap_t after_ = util_snapshot(t);                  \
		char why_[256];                                         \
		if (util_snap_diff(&(before), &after_, why_, sizeof why_)) \
			harness_fail(__FILE__, __LINE__, "map of task %u changed: %s", \
			             (unsigned)(t), why_);               \
		util_snap_free(&after_);                                \
	} while (0)

/* expr must return want and leave the map of t (and its counters) as it was. */
#define CHECK_KR_UNCHANGED(t, expr, want)                               \
	do {                                                            \
		util_snap_t before_ = util_snapshot(t);                 \
		CHECK_KR(expr, want);                                   \
		CHECK_UNCHANGED(t, before_);                            \
		util_snap_free(&before_);                               \
	} while (0)

/* The page size of the running host. */
static inline vm_size_t util_page_size(void)
{
	vm_size_t p = 0;
	CHECK_KR(host_page_size(mach_host_self(), &p), KERN_SUCCESS);
	return p;
}

/* The region holding (or first above) addr; the call must succeed. */
static inline vm_region_extended_info_t util_region(task_t t, vm_address_t addr)
{
	vm_region_extended_info_t info;
	memset(&info, 0, sizeof info);
	CHECK_KR(vm_region_extended(t, &addr, &info), KERN_SUCCESS);
	CHECK_EQ(addr, info.start);
	return info;
}

/* Writes one byte; it must succeed. */
static inline void util_write_byte(task_t t, vm_address_t addr, unsigned char v)
{
	vm_size_t n = 0;
	CHECK_KR(vm_write(t, addr, &v, 1, &n), KERN_SUCCESS);
	CHECK_EQ(n, 1);
}

/* Reads one byte; it must succeed. */
static inline unsigned char util_read_byte(task_t t, vm_address_t addr)
{
	unsigned char v = 0xee;
	vm_size_t n = 0;
	CHECK_KR(vm_read(t, addr, 1, &v, &n), KERN_SUCCESS);
	CHECK_EQ(n, 1);
	return v;
}

/* Writes one byte v into every page of [addr, addr+size), touching each page. */
static inline void util_touch(task_t t, vm_address_t addr, vm_size_t size, unsigned char v)
{
	vm_size_t p = util_page_size();
	for (vm_address_t a = addr; a < addr + size; a += p)
		util_write_byte(t, a, v);
}

static inline machvm_task_stats_t util_task_stats(task_t t)
{
	machvm_task_stats_t s;
	memset(&s, 0, sizeof s);
	CHECK_KR(machvm_task_stats(t, &s), KERN_SUCCESS);
	return s;
}

static inline machvm_host_stats_t util_host_stats(void)
{
	machvm_host_stats_t s;
	memset(&s, 0, sizeof s);
	CHECK_KR(machvm_host_stats(&s), KERN_SUCCESS);
	return s;
}

/* A task that existed and was terminated. */
static inline task_t util_dead_task(void)
{
	task_t t = harness_task();
	/* Pinned, so that no later task_create reuses the id: it stays dead
	 * for the case (the pin goes with the host at the case's end). */
	CHECK(machvm_task_pin(t) != NULL);
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	CHECK(!machvm_task_alive(t));
	return t;
}

/* Checks the basic attributes of the region at exactly [start, start+size). */
#define CHECK_REGION(t, start_, size_, prot_, max_)                     \
	do {                                                            \
		vm_region_extended_info_t r_ = util_region((t), (start_)); \
		CHECK_EQ(r_.start, (start_));                           \
		CHECK_EQ(r_.size, (size_));                             \
		CHECK_EQ(r_.protection, (prot_));                       \
		CHECK_EQ(r_.max_protection, (max_));                    \
	} while (0)

/* Fills [addr, addr + size) of t with v, which must all be writable. */
static inline void util_fill(task_t t, vm_address_t addr, vm_size_t size, unsigned char v)
{
	unsigned char *b = malloc(size);
	vm_size_t n = 0;
	CHECK(b != NULL);
	memset(b, v, size);
	CHECK_KR(vm_write(t, addr, b, size, &n), KERN_SUCCESS);
	CHECK_EQ(n, size);
	free(b);
}

#define EXPECT_FILL(t, addr, size, v) util_expect_fill(__FILE__, __LINE__, (t), (addr), (size), (v))
static inline void util_expect_fill(const char *file, int line, task_t t, vm_address_t addr,
                        vm_size_t size, unsigned char v)
{
	unsigned char *b = malloc(size);
	vm_size_t n = 0;
	CHECK(b != NULL);
	kern_return_t kr = vm_read(t, addr, size, b, &n);
	if (kr != KERN_SUCCESS || n != size)
		harness_fail(file, line, "vm_read(task %u, 0x%llx, 0x%llx): %s, count 0x%llx",
		             (unsigned)t, (unsigned long long)addr, (unsigned long long)size,
		             kern_return_name(kr), (unsigned long long)n);
	for (vm_size_t i = 0; i < size; i++)
		if (b[i] != v)
			harness_fail(file, line, "task %u byte at 0x%llx is 0x%02x, want 0x%02x",
			             (unsigned)t, (unsigned long long)(addr + i), b[i], v);
	free(b);
}

/* A child of parent by task_create(inherit_memory). */
static inline task_t util_fork(task_t parent)
{
	task_t c = TASK_NULL;
	CHECK_KR(task_create(parent, TRUE, &c), KERN_SUCCESS);
	CHECK(c != TASK_NULL);
	CHECK(c != parent);
	return c;
}

#endif
