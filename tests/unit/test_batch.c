/*
 * test_batch.c - machvm_batch_begin / note / undo / commit: a batch whose
 * k-th call fails, undone, leaves every task exactly as before (every field
 * of every region, object ids and reference counts included, and every byte
 * any task can read), for every verb failing at every position; a batch
 * that succeeds and is committed leaves what the same calls leave without
 * a batch.  The invariant checker runs after every call (debug builds), so
 * every intermediate state is checked too.
 */
#include <stdbool.h>
#include <stdlib.h>
#include "harness.h"
#include "util.h"

#define RW   (VM_PROT_READ | VM_PROT_WRITE)
#define P    4096u

/* ---- the world: every task's regions and bytes -------------------------- */

#define MAXT 8

struct world {
	size_t n;
	task_t task[MAXT];
	util_snap_t snap[MAXT];
	unsigned char *bytes[MAXT];     /* every readable byte, region by region */
	size_t nbytes[MAXT];
	machvm_host_stats_t host;
};

static void world_take(struct world *w, size_t n, const task_t *tasks)
{
	memset(w, 0, sizeof *w);
	w->n = n;
	for (size_t i = 0; i < n; i++) {
		w->task[i] = tasks[i];
		w->snap[i] = util_snapshot(tasks[i]);
		/* The fault counters count reads and undone work: not state. */
		w->snap[i].stats.faults = w->snap[i].stats.zero_fill_faults = 0;
		w->snap[i].stats.cow_faults = 0;
		size_t total = 0;
		for (size_t r = 0; r < w->snap[i].count; r++)
			if (w->snap[i].regions[r].protection & VM_PROT_READ)
				total += w->snap[i].regions[r].size;
		w->bytes[i] = malloc(total ? total : 1);
		CHECK(w->bytes[i] != NULL);
		for (size_t r = 0; r < w->snap[i].count; r++) {
			const vm_region_extended_info_t *x = &w->snap[i].regions[r];
			vm_size_t got = 0;
			if (!(x->protection & VM_PROT_READ))
				continue;
			CHECK_KR(vm_read(tasks[i], x->start, x->size, w->bytes[i] + w->nbytes[i], &got),
			         KERN_SUCCESS);
			CHECK_EQ(got, x->size);
			w->nbytes[i] += x->size;
		}
	}
	w->host = util_host_stats();
}

static void world_free(struct world *w)
{
	for (size_t i = 0; i < w->n; i++) {
		util_snap_free(&w->snap[i]);
		free(w->bytes[i]);
	}
}

/* exact: object ids, reference counts and share modes too (an undo);
 * else what the regions mean (a committed batch against a plain run, whose
 * objects got other ids). */
static void world_same(const struct world *a, const struct world *b, bool exact,
                       const char *what, const char *file, int line)
{
	char why[256];
	CHECK_EQ(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		util_snap_t x = a->snap[i], y = b->snap[i];
		if (!exact) {
			vm_region_extended_info_t *rx = malloc((x.count + 1) * sizeof *rx);
			vm_region_extended_info_t *ry = malloc((y.count + 1) * sizeof *ry);
			CHECK(rx && ry);
			memcpy(rx, x.regions, x.count * sizeof *rx);
			memcpy(ry, y.regions, y.count * sizeof *ry);
			for (size_t r = 0; r < x.count; r++)
				rx[r].object_id = 0;
			for (size_t r = 0; r < y.count; r++)
				ry[r].object_id = 0;
			x.regions = rx;
			y.regions = ry;
		}
		int d = util_snap_diff(&x, &y, why, sizeof why);
		if (!exact) {
			free(x.regions);
			free(y.regions);
		}
		if (d)
			harness_fail(file, line, "%s: task %u differs: %s", what, (unsigned)a->task[i], why);
		if (a->nbytes[i] != b->nbytes[i] || memcmp(a->bytes[i], b->bytes[i], a->nbytes[i]) != 0)
			harness_fail(file, line, "%s: the bytes of task %u differ", what,
			             (unsigned)a->task[i]);
	}
#define HOST(f) \
	if (a->host.f != b->host.f) \
		harness_fail(file, line, "%s: host %s %llu -> %llu", what, #f, \
		             (unsigned long long)a->host.f, (unsigned long long)b->host.f);
	HOST(tasks)
	HOST(entries)
	HOST(objects)
	HOST(resident_pages)
	HOST(wired_pages)
	HOST(virtual_size)
#undef HOST
}

#define WORLD_SAME(a, b, exact, what) world_same(a, b, exact, what, __FILE__, __LINE__)

/* ---- the calls of a batch -------------------------------------------- */

enum verb { ALLOCATE, DEALLOCATE, PROTECT, INHERIT, MAP_INHERIT, WIRE, ATTR, COPY, REMAP,
            NVERBS };
static const char *const verb_names[NVERBS] = {
	"allocate", "deallocate", "protect", "inherit", "map_inherit", "wire", "attr", "copy",
	"remap",
};

struct op {
	enum verb verb;
	vm_address_t addr, addr2;
	vm_size_t size;
	int arg;                /* prot, inheritance, access; remap: copy */
	bool priv;              /* wire: the privileged port */
	int src;                /* remap: which task of the setup is the source */
	bool anywhere;
};

/* The setup: tasks[0] the batch's task, tasks[1] a remap source, tasks[2]
 * a fork of tasks[0] sharing one region and copying another. */
static task_t tasks[3];

static void setup(void)
{
	task_t a = harness_task(), b = harness_task(), c;
	harness_alloc(a, 0x10000, 4 * P);
	util_fill(a, 0x10000, 4 * P, 0x11);
	harness_alloc(a, 0x20000, 4 * P);               /* untouched: no object */
	harness_alloc(a, 0x30000, 4 * P);
	util_fill(a, 0x30000, 4 * P, 0x33);
	CHECK_KR(vm_inherit(a, 0x30000, 4 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
	harness_alloc(a, 0x40000, 4 * P);
	util_fill(a, 0x40000, 4 * P, 0x44);
	harness_alloc(a, 0x50000, 2 * P);
	util_fill(a, 0x50000, 2 * P, 0x55);
	CHECK_KR(vm_wire(host_priv_self(), a, 0x50000, 2 * P, RW), KERN_SUCCESS);
	CHECK_KR(vm_inherit(a, 0x50000, 2 * P, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_KR(task_create(a, TRUE, &c), KERN_SUCCESS);  /* 0x40000: needs_copy both sides */
	harness_alloc(b, 0x10000, 4 * P);
	util_fill(b, 0x10000, 4 * P, 0x66);
	/* A page of a's private region held nowhere yet (zero fill). */
	harness_alloc(a, 0x80000, 2 * P);
	util_fill(a, 0x80000, P, 0x88);
	tasks[0] = a;
	tasks[1] = b;
	tasks[2] = c;
}

static kern_return_t run_op(const struct op *o)
{
	task_t t = tasks[0];
	vm_address_t addr = o->addr;
	vm_prot_t cur, max;
	switch (o->verb) {
	case ALLOCATE:
		return vm_allocate(t, &addr, o->size, o->anywhere);
	case DEALLOCATE:
		return vm_deallocate(t, o->addr, o->size);
	case PROTECT:
		return vm_protect(t, o->addr, o->size, FALSE, o->arg);
	case INHERIT:
		return vm_inherit(t, o->addr, o->size, o->arg);
	case MAP_INHERIT:
		return vm_map_inherit(t, o->addr, o->addr2, o->arg);
	case WIRE:
		return vm_wire(o->priv ? host_priv_self() : mach_host_self(), t, o->addr, o->size,
		               o->arg);
	case ATTR: {
		vm_machine_attribute_val_t v = MATTR_VAL_OFF;
		return vm_machine_attribute(t, o->addr, o->size, MATTR_CACHE, &v);
	}
	case COPY:
		return vm_copy(t, o->addr, o->size, o->addr2);
	case REMAP:
		return vm_remap(t, &addr, o->size, 0, o->anywhere, tasks[o->src], o->addr2, o->arg,
		                &cur, &max, VM_INHERIT_DEFAULT);
	default:
		return KERN_FAILURE;
	}
}

/* The note a caller makes before a call that writes pages in place. */
static void note_op(machvm_batch_t *b, const struct op *o)
{
	if (o->verb == COPY)
		CHECK_KR(machvm_batch_note(b, tasks[0], o->addr2, o->size, TRUE), KERN_SUCCESS);
	else if (o->verb == WIRE)
		CHECK_KR(machvm_batch_note(b, tasks[0], o->addr, o->size, FALSE), KERN_SUCCESS);
}

/* Calls that succeed, each verb at least once, in an order where each
 * builds on the ones before. */
static const struct op good[] = {
	{ ALLOCATE, 0x60000, 0, 2 * P, 0, false, 0, false },
	{ COPY, 0x10000, 0x30000, 2 * P, 0, false, 0, false },   /* into the shared region */
	{ PROTECT, 0x10000, 0, P, VM_PROT_READ, false, 0, false },
	{ WIRE, 0x40000, 0, 2 * P, RW, true, 0, false },         /* needs_copy: a shadow */
	{ INHERIT, 0x20000, 0, 2 * P, VM_INHERIT_NONE, false, 0, false },
	{ REMAP, 0x70000, 0x10000, 2 * P, FALSE, false, 1, false },  /* share b's pages */
	{ COPY, 0x12000, 0x70000, P, 0, false, 0, false },       /* into b's memory */
	{ WIRE, 0x80000, 0, 2 * P, RW, true, 0, false },         /* pages made resident */
	{ ATTR, 0x10000, 0, 4 * P, 0, false, 0, false },
	{ REMAP, 0, 0x12000, 2 * P, TRUE, false, 1, true },      /* copy of b's, anywhere */
	{ DEALLOCATE, 0x13000, 0, P, 0, false, 0, false },        /* a private page */
	{ MAP_INHERIT, 0x60000, 0x62000, VM_INHERIT_SHARE, false, false, 0, false },
	{ COPY, 0x40000, 0x80000, P, 0, false, 0, false },       /* over a wired page */
	{ WIRE, 0x50000, 0, 2 * P, VM_PROT_NONE, true, 0, false },   /* unwire */
	{ REMAP, 0x90000, 0x30000, 2 * P, FALSE, false, 0, false },  /* share its own */
	{ DEALLOCATE, 0x30000, 0, 4 * P, 0, false, 0, false },
};
#define NGOOD (sizeof good / sizeof good[0])

/* One failing call per verb. */
static const struct op bad[NVERBS] = {
	[ALLOCATE] = { ALLOCATE, 0x10000, 0, P, 0, false, 0, false },          /* taken */
	[DEALLOCATE] = { DEALLOCATE, 0, 0, P, 0, false, 0, false },           /* outside */
	[PROTECT] = { PROTECT, 0xa0000, 0, P, VM_PROT_READ, false, 0, false }, /* a hole */
	[INHERIT] = { INHERIT, 0xa0000, 0, P, VM_INHERIT_NONE, false, 0, false },
	[MAP_INHERIT] = { MAP_INHERIT, 0xa0000, 0xa2000, VM_INHERIT_NONE, false, false, 0, false },
	[WIRE] = { WIRE, 0x10000, 0, P, RW, false, 0, false },                 /* no privilege */
	[ATTR] = { ATTR, 0xa0000, 0, P, 0, false, 0, false },
	[COPY] = { COPY, 0xa0000, 0x20000, P, 0, false, 0, false },
	[REMAP] = { REMAP, 0x10000, 0x10000, P, FALSE, false, 1, false },       /* target taken */
};

static const task_t *all_tasks(void)
{
	return tasks;
}

/* Runs good[0..k) then bad[v] in a batch of tasks[0] and tasks[1]; the
 * failure undoes it all. */
static void fail_at(size_t k, enum verb v)
{
	struct world before, after;
	machvm_batch_t *b = NULL;
	char what[64];

	harness_restart(P);
	setup();
	world_take(&before, 3, all_tasks());
	CHECK_KR(machvm_batch_begin(tasks, 2, &b), KERN_SUCCESS);
	for (size_t i = 0; i < k; i++) {
		note_op(b, &good[i]);
		CHECK_KR(run_op(&good[i]), KERN_SUCCESS);
	}
	note_op(b, &bad[v]);
	CHECK(run_op(&bad[v]) != KERN_SUCCESS);
	machvm_batch_undo(b);
	world_take(&after, 3, all_tasks());
	snprintf(what, sizeof what, "%s failing after %zu calls", verb_names[v], k);
	WORLD_SAME(&before, &after, true, what);
	world_free(&before);
	world_free(&after);
}

TEST(batch_every_verb_failing_at_every_position_is_undone)
{
	for (int v = 0; v < NVERBS; v++)
		for (size_t k = 0; k <= NGOOD; k++)
			fail_at(k, (enum verb)v);
}

/* A committed batch leaves what the same calls leave without one. */
TEST(batch_committed_equals_the_calls_alone)
{
	for (size_t k = 1; k <= NGOOD; k++) {
		struct world plain, batched;
		machvm_batch_t *b = NULL;

		harness_restart(P);
		setup();
		for (size_t i = 0; i < k; i++)
			CHECK_KR(run_op(&good[i]), KERN_SUCCESS);
		world_take(&plain, 3, all_tasks());

		harness_restart(P);
		setup();
		CHECK_KR(machvm_batch_begin(tasks, 2, &b), KERN_SUCCESS);
		for (size_t i = 0; i < k; i++) {
			note_op(b, &good[i]);
			CHECK_KR(run_op(&good[i]), KERN_SUCCESS);
		}
		machvm_batch_commit(b);
		world_take(&batched, 3, all_tasks());
		WORLD_SAME(&plain, &batched, false, "committed batch");
		world_free(&plain);
		world_free(&batched);
	}
}

/* The other task sharing the region sees the old bytes again. */
TEST(batch_copy_into_shared_region_undone)
{
	machvm_batch_t *b = NULL;
	setup();
	CHECK_EQ(util_read_byte(tasks[2], 0x30000), 0x33);
	CHECK_KR(machvm_batch_begin(tasks, 1, &b), KERN_SUCCESS);
	CHECK_KR(machvm_batch_note(b, tasks[0], 0x30000, 2 * P, TRUE), KERN_SUCCESS);
	CHECK_KR(vm_copy(tasks[0], 0x10000, 2 * P, 0x30000), KERN_SUCCESS);
	CHECK_EQ(util_read_byte(tasks[2], 0x30000), 0x11);      /* shared: seen at once */
	CHECK_EQ(util_read_byte(tasks[2], 0x31fff), 0x11);
	machvm_batch_undo(b);
	CHECK_EQ(util_read_byte(tasks[2], 0x30000), 0x33);
	CHECK_EQ(util_read_byte(tasks[2], 0x31fff), 0x33);
	CHECK_EQ(util_read_byte(tasks[0], 0x30000), 0x33);
	/* Still shared after the undo: a write shows on the other side. */
	util_write_byte(tasks[0], 0x30000, 0x99);
	CHECK_EQ(util_read_byte(tasks[2], 0x30000), 0x99);
}

/* Remapping another task's memory (share, then copy) and writing it. */
TEST(batch_remap_from_another_task_undone)
{
	for (int copy = 0; copy < 2; copy++) {
		struct world before, after;
		machvm_batch_t *b = NULL;
		vm_address_t at = 0xb0000;
		vm_prot_t cur, max;

		harness_restart(P);
		setup();
		world_take(&before, 3, all_tasks());
		CHECK_KR(machvm_batch_begin(tasks, 2, &b), KERN_SUCCESS);
		CHECK_KR(vm_remap(tasks[0], &at, 4 * P, 0, FALSE, tasks[1], 0x10000, copy, &cur, &max,
		                  VM_INHERIT_SHARE), KERN_SUCCESS);
		CHECK_KR(machvm_batch_note(b, tasks[0], 0xb0000, P, TRUE), KERN_SUCCESS);
		CHECK_KR(vm_copy(tasks[0], 0x40000, P, 0xb0000), KERN_SUCCESS);
		CHECK_EQ(util_read_byte(tasks[1], 0x10000), copy ? 0x66 : 0x44);
		CHECK_KR(vm_protect(tasks[0], 0xa0000, P, FALSE, VM_PROT_READ), KERN_INVALID_ADDRESS);
		machvm_batch_undo(b);
		world_take(&after, 3, all_tasks());
		WORLD_SAME(&before, &after, true, copy ? "remap copy" : "remap share");
		CHECK_EQ(util_read_byte(tasks[1], 0x10000), 0x66);
		world_free(&before);
		world_free(&after);
	}
}

/* Wiring makes pages resident in the object the map already had: they go
 * again, and a wired region unwired in the batch is wired again. */
TEST(batch_wire_undone)
{
	struct world before, after;
	machvm_batch_t *b = NULL;
	setup();
	world_take(&before, 3, all_tasks());
	CHECK_KR(machvm_batch_begin(tasks, 1, &b), KERN_SUCCESS);
	CHECK_KR(machvm_batch_note(b, tasks[0], 0x80000, 2 * P, FALSE), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), tasks[0], 0x80000, 2 * P, RW), KERN_SUCCESS);
	CHECK_EQ(util_region(tasks[0], 0x80000).resident_pages, 2);
	CHECK_KR(vm_wire(host_priv_self(), tasks[0], 0x50000, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_deallocate(tasks[0], 0x50000, P), KERN_SUCCESS);
	machvm_batch_undo(b);
	world_take(&after, 3, all_tasks());
	WORLD_SAME(&before, &after, true, "wire");
	CHECK_EQ(util_region(tasks[0], 0x80000).resident_pages, 1);
	CHECK_EQ(util_region(tasks[0], 0x50000).wired_count, 1);
	world_free(&before);
	world_free(&after);
}

/* tasks/ctl's batches: forks of a saved parent, terminated before the undo. */
TEST(batch_fork_undone)
{
	struct world before, after;
	machvm_batch_t *b = NULL;
	task_t d = TASK_NULL, e = TASK_NULL, f = TASK_NULL;
	setup();
	world_take(&before, 3, all_tasks());
	CHECK_KR(machvm_batch_begin(tasks, 1, &b), KERN_SUCCESS);
	CHECK_KR(task_create(tasks[0], TRUE, &d), KERN_SUCCESS);
	CHECK_KR(task_create(d, TRUE, &e), KERN_SUCCESS);         /* a fork of the new one */
	CHECK_KR(task_create(TASK_NULL, FALSE, &f), KERN_SUCCESS);
	util_write_byte(d, 0x30000, 0x77);                        /* shared with a and c */
	CHECK_EQ(util_read_byte(tasks[2], 0x30000), 0x77);
	/* The batch fails: what it made goes first, then the maps. */
	CHECK_KR(task_terminate(f), KERN_SUCCESS);
	CHECK_KR(task_terminate(e), KERN_SUCCESS);
	CHECK_KR(task_terminate(d), KERN_SUCCESS);
	machvm_batch_undo(b);
	world_take(&after, 3, all_tasks());
	/* The byte d wrote through the shared region stays: a write to memory
	 * (not a batch line) is not undone. */
	CHECK_EQ(util_read_byte(tasks[2], 0x30000), 0x77);
	util_write_byte(tasks[0], 0x30000, 0x33);
	world_free(&after);
	world_take(&after, 3, all_tasks());
	WORLD_SAME(&before, &after, true, "fork");
	/* The ids are free again, lowest first. */
	task_t g = TASK_NULL;
	CHECK_KR(task_create(TASK_NULL, FALSE, &g), KERN_SUCCESS);
	CHECK_EQ(g, d);
	world_free(&before);
	world_free(&after);
}

/* Past the memory limit: the begin fails whole, and a note fails. */
TEST(batch_memory_limit)
{
	machvm_batch_t *b = NULL;
	machvm_host_stats_t s;
	setup();
	s = util_host_stats();
	CHECK_KR(machvm_host_set_memory_limit(s.memory_used), KERN_SUCCESS);
	CHECK_KR(machvm_batch_begin(tasks, 1, &b), KERN_RESOURCE_SHORTAGE);
	CHECK_EQ(util_host_stats().memory_used, s.memory_used);
	CHECK_KR(machvm_host_set_memory_limit(s.memory_used + 64 * 1024), KERN_SUCCESS);
	CHECK_KR(machvm_batch_begin(tasks, 1, &b), KERN_SUCCESS);
	CHECK_KR(machvm_host_set_memory_limit(util_host_stats().memory_used), KERN_SUCCESS);
	CHECK_KR(machvm_batch_note(b, tasks[0], 0x30000, 2 * P, TRUE), KERN_RESOURCE_SHORTAGE);
	machvm_batch_undo(b);
	CHECK_KR(machvm_host_set_memory_limit(0), KERN_SUCCESS);
	/* The account holds what is there (the map keeps the entries it freed
	 * cached): the checker counts it. */
	CHECK_KR(machvm_check(), KERN_SUCCESS);
}

/* Bad arguments, a dead task, a task in another open batch. */
TEST(batch_arguments)
{
	machvm_batch_t *b = NULL, *b2 = NULL;
	task_t dead = util_dead_task();
	setup();
	CHECK_KR(machvm_batch_begin(NULL, 1, &b), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_batch_begin(tasks, 0, &b), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_batch_begin(&dead, 1, &b), KERN_INVALID_TASK);
	CHECK_KR(machvm_batch_begin(tasks, 2, &b), KERN_SUCCESS);
	CHECK_KR(machvm_batch_begin(&tasks[1], 1, &b2), KERN_FAILURE);
	CHECK_KR(machvm_batch_begin(&tasks[2], 1, &b2), KERN_SUCCESS);
	CHECK_KR(machvm_batch_note(b, tasks[2], 0x10000, P, TRUE), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_batch_note(b, tasks[0], 0, 0, TRUE), KERN_SUCCESS);
	machvm_batch_commit(b2);
	machvm_batch_commit(b);
}
