/*
 * test_report.c - change reports (<machvm/report.h>): for every call that
 * can change the host, the exact report: call, code, arguments (the rounded
 * range included), tasks and their generations, and every change in order,
 * through clipping, coalescing, boundary moves, fork, remap, wiring,
 * copy-on-write and collapse; failed calls; no hook; threads.
 *
 * The hook deep-copies every report it gets; take() hands back the one
 * report a call must have made.  Object ids are predictable: a case starts
 * a fresh host, whose objects are numbered 1, 2, 3 ... as they are made.
 */
#include <pthread.h>
#include <stdlib.h>
#include <machvm/persist.h>
#include <machvm/report.h>

#include "harness.h"
#include "util.h"

#define P 0x1000ull
#define R VM_PROT_READ
#define RW (VM_PROT_READ | VM_PROT_WRITE)
#define MAX_REPORTS 64

/* ---- recording ---------------------------------------------------------- */

struct copy {
	struct machvm_report r;         /* r.changes points at ch */
	struct machvm_change *ch;
};

static struct copy got[MAX_REPORTS];
static int ngot;
static int overflow;

static void clear(void)
{
	for (int i = 0; i < ngot; i++)
		free(got[i].ch);
	ngot = 0;
	overflow = 0;
}

static void copy_hook(void *arg, const struct machvm_report *r)
{
	CHECK(arg == &got);
	if (ngot == MAX_REPORTS) {
		overflow++;
		return;
	}
	struct copy *c = &got[ngot++];
	c->r = *r;
	c->ch = NULL;
	if (r->nchanges) {
		c->ch = malloc(r->nchanges * sizeof *c->ch);
		CHECK(c->ch != NULL);
		memcpy(c->ch, r->changes, r->nchanges * sizeof *c->ch);
	}
	c->r.changes = c->ch;
}

static void rec_on(void)
{
	clear();
	machvm_set_report_hook(copy_hook, &got);
}

static void rec_off(void)
{
	machvm_set_report_hook(NULL, NULL);
	clear();
}

/* The one report since the last take(): of call.  Forgets it afterwards
 * (its copy stays valid until the next take or clear). */
static struct copy last;

#define TAKE(call) take(__FILE__, __LINE__, (call))
static const struct machvm_report *take(const char *file, int line, machvm_call_t call)
{
	if (ngot != 1 || overflow)
		harness_fail(file, line, "%d reports (%d lost), want exactly 1", ngot, overflow);
	free(last.ch);
	last = got[0];
	ngot = 0;
	if (last.r.call != call)
		harness_fail(file, line, "report of %s, want %s", machvm_call_name(last.r.call),
		             machvm_call_name(call));
	return &last.r;
}

#define CHECK_NONE() do { if (ngot != 0) harness_fail(__FILE__, __LINE__, \
	"%d reports, want none (first: %s)", ngot, machvm_call_name(got[0].r.call)); } while (0)

/* ---- expectations ------------------------------------------------------- */

static void check_args(const char *file, int line, const struct machvm_call_args *g,
                       const struct machvm_call_args *w)
{
#define ARG(f) if ((unsigned long long)g->f != (unsigned long long)w->f)     \
		harness_fail(file, line, "args.%s: got 0x%llx, want 0x%llx", #f, \
		             (unsigned long long)g->f, (unsigned long long)w->f)
	ARG(task); ARG(other); ARG(address); ARG(address2); ARG(size); ARG(mask);
	ARG(flag); ARG(flag2); ARG(prot); ARG(max_protection); ARG(inheritance);
	ARG(attribute); ARG(value); ARG(value_out); ARG(count);
	ARG(has_range); ARG(start); ARG(end);
	ARG(has_src_range); ARG(src_start); ARG(src_end);
#undef ARG
}

/* The arguments must be exactly these (every other field 0). */
#define CHECK_ARGS(r, ...) do {                                         \
		const struct machvm_call_args w_ = { __VA_ARGS__ };       \
		check_args(__FILE__, __LINE__, &(r)->args, &w_);          \
	} while (0)

static void check_tasks(const char *file, int line, const struct machvm_report *r, size_t n,
                        task_t t0, uint64_t g0, task_t t1, uint64_t g1)
{
	if (r->ntasks != n)
		harness_fail(file, line, "ntasks %zu, want %zu", r->ntasks, n);
	task_t t[2] = { t0, t1 };
	uint64_t g[2] = { g0, g1 };
	for (size_t i = 0; i < n; i++)
		if (r->tasks[i] != t[i] || r->gens[i] != g[i])
			harness_fail(file, line, "tasks[%zu] = %u gen %llu, want %u gen %llu", i,
			             (unsigned)r->tasks[i], (unsigned long long)r->gens[i],
			             (unsigned)t[i], (unsigned long long)g[i]);
}

#define CHECK_TASKS0(r) check_tasks(__FILE__, __LINE__, (r), 0, 0, 0, 0, 0)
#define CHECK_TASKS1(r, t, g) check_tasks(__FILE__, __LINE__, (r), 1, (t), (g), 0, 0)
#define CHECK_TASKS2(r, t, g, u, h) check_tasks(__FILE__, __LINE__, (r), 2, (t), (g), (u), (h))

static void show_change(char *buf, size_t len, const struct machvm_change *c)
{
	snprintf(buf, len, "%s task %u [0x%llx, 0x%llx) at 0x%llx to 0x%llx count %llu obj %llu/%llu",
	         machvm_change_name(c->kind), (unsigned)c->task, (unsigned long long)c->start,
	         (unsigned long long)c->end, (unsigned long long)c->at, (unsigned long long)c->to,
	         (unsigned long long)c->count, (unsigned long long)c->object,
	         (unsigned long long)c->object2);
}

static void check_changes(const char *file, int line, const struct machvm_report *r,
                          const struct machvm_change *w, size_t n)
{
	char all[4096] = "", one[200];
	size_t used = 0;
	for (size_t i = 0; i < r->nchanges && used < sizeof all - 256; i++) {
		show_change(one, sizeof one, &r->changes[i]);
		used += (size_t)snprintf(all + used, sizeof all - used, "\n    %zu: %s", i, one);
	}
	if (r->incomplete)
		harness_fail(file, line, "report incomplete");
	if (r->nchanges != n)
		harness_fail(file, line, "%zu changes, want %zu:%s", r->nchanges, n, all);
	for (size_t i = 0; i < n; i++) {
		const struct machvm_change *g = &r->changes[i];
		if (g->kind != w[i].kind || g->task != w[i].task || g->start != w[i].start ||
		    g->end != w[i].end || g->at != w[i].at || g->to != w[i].to ||
		    g->count != w[i].count || g->object != w[i].object || g->object2 != w[i].object2) {
			show_change(one, sizeof one, &w[i]);
			harness_fail(file, line, "change %zu differs, want %s; got:%s", i, one, all);
		}
	}
}

#define CHANGE(k, t, s, e, a, b, n, o, o2) \
	{ .kind = MACHVM_CHANGE_##k, .task = (t), .start = (s), .end = (e), .at = (a), \
	  .to = (b), .count = (n), .object = (o), .object2 = (o2) }
#define SPLIT(t, s, e, a)       CHANGE(SPLIT, t, s, e, a, 0, 0, 0, 0)
#define MERGED(t, s, e, a)      CHANGE(MERGED, t, s, e, a, 0, 0, 0, 0)
#define MOVED(t, s, e, a, b)    CHANGE(MOVED, t, s, e, a, b, 0, 0, 0)
#define ADDED(t, s, e, n)       CHANGE(ADDED, t, s, e, 0, 0, n, 0, 0)
#define REMOVED(t, s, e, n)     CHANGE(REMOVED, t, s, e, 0, 0, n, 0, 0)
#define ATTRS(t, s, e)          CHANGE(ATTRIBUTES, t, s, e, 0, 0, 0, 0, 0)
#define CONTENTS(t, s, e)       CHANGE(CONTENTS, t, s, e, 0, 0, 0, 0, 0)
#define TCREATED(t, s, e, n)    CHANGE(TASK_CREATED, t, s, e, 0, 0, n, 0, 0)
#define TTERMINATED(t, s, e, n) CHANGE(TASK_TERMINATED, t, s, e, 0, 0, n, 0, 0)
#define OCREATED(o)             CHANGE(OBJECT_CREATED, TASK_NULL, 0, 0, 0, 0, 0, o, 0)
#define OSHADOWED(o, b)         CHANGE(OBJECT_SHADOWED, TASK_NULL, 0, 0, 0, 0, 0, o, b)
#define OCOLLAPSED(o, b)        CHANGE(OBJECT_COLLAPSED, TASK_NULL, 0, 0, 0, 0, 0, o, b)
#define OBYPASSED(o, b)         CHANGE(OBJECT_BYPASSED, TASK_NULL, 0, 0, 0, 0, 0, o, b)
#define ODESTROYED(o)           CHANGE(OBJECT_DESTROYED, TASK_NULL, 0, 0, 0, 0, 0, o, 0)

#define CHECK_CHANGES(r, ...) do {                                      \
		const struct machvm_change w_[] = { __VA_ARGS__ };        \
		check_changes(__FILE__, __LINE__, (r), w_, sizeof w_ / sizeof w_[0]); \
	} while (0)
#define CHECK_NO_CHANGES(r) check_changes(__FILE__, __LINE__, (r), NULL, 0)

static uint64_t gen_of(task_t t)
{
	uint64_t g = 0;
	CHECK_KR(machvm_task_map_gen(t, &g), KERN_SUCCESS);
	return g;
}

/* A task made with the hook off; its generation is 1. */
static task_t quiet_task(void)
{
	machvm_set_report_hook(NULL, NULL);
	task_t t = harness_task();
	machvm_set_report_hook(copy_hook, &got);
	CHECK_EQ(gen_of(t), 1);
	return t;
}

/* ---- names -------------------------------------------------------------- */

TEST(names)
{
	static const char *calls[] = { NULL, "task_create", "task_terminate", "vm_allocate",
		"vm_deallocate", "vm_protect", "vm_inherit", "vm_map_inherit", "vm_wire",
		"vm_machine_attribute", "vm_remap", "vm_write", "vm_copy" };
	for (int i = 1; i <= MACHVM_CALL_VM_COPY; i++)
		CHECK(strcmp(machvm_call_name((machvm_call_t)i), calls[i]) == 0);
	CHECK(strcmp(machvm_call_name((machvm_call_t)0), "unknown") == 0);
	CHECK(strcmp(machvm_call_name((machvm_call_t)99), "unknown") == 0);
	static const char *kinds[] = { NULL, "split", "merged", "moved", "added", "removed",
		"attributes", "contents", "task_created", "task_terminated", "object_created",
		"object_shadowed", "object_collapsed", "object_bypassed", "object_destroyed" };
	for (int i = 1; i <= MACHVM_CHANGE_OBJECT_DESTROYED; i++)
		CHECK(strcmp(machvm_change_name((machvm_change_kind_t)i), kinds[i]) == 0);
	CHECK(strcmp(machvm_change_name((machvm_change_kind_t)0), "unknown") == 0);
	CHECK(strcmp(machvm_change_name((machvm_change_kind_t)15), "unknown") == 0);
}

/* ---- task_create, vm_allocate ------------------------------------------- */

TEST(create_plain)
{
	rec_on();
	task_t t = TASK_NULL;
	CHECK_KR(task_create(TASK_NULL, FALSE, &t), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = TASK_NULL, .flag = FALSE, .other = t);
	CHECK_TASKS1(r, t, 1);
	CHECK_CHANGES(r, TCREATED(t, 0, 0, 0));
	CHECK_EQ(gen_of(t), 1);

	/* A plain child of a live parent: the parent is not worked on. */
	task_t c = TASK_NULL;
	CHECK_KR(task_create(t, FALSE, &c), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_ARGS(r, .task = t, .other = c);
	CHECK_TASKS1(r, c, 1);
	CHECK_CHANGES(r, TCREATED(c, 0, 0, 0));
	rec_off();
}

TEST(allocate_fixed_anywhere_and_merge)
{
	rec_on();
	task_t t = quiet_task();
	vm_address_t a = 0x10000;
	CHECK_KR(vm_allocate(t, &a, 4 * P, FALSE), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .size = 4 * P, .flag = FALSE,
	           .has_range = TRUE, .start = 0x10000, .end = 0x14000);
	CHECK_TASKS1(r, t, 2);
	CHECK_CHANGES(r, ADDED(t, 0x10000, 0x14000, 1));

	/* Next to an equal neighbour: added, then merged into it. */
	a = 0x14800;
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_SUCCESS);
	CHECK_EQ(a, 0x14000);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x14800, .size = P,
	           .has_range = TRUE, .start = 0x14000, .end = 0x15000);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, ADDED(t, 0x14000, 0x15000, 1), MERGED(t, 0x10000, 0x15000, 0x14000));
	CHECK_EQ(harness_region_count(t), 1);

	/* Anywhere: the address passed is reported as passed, the range is
	 * where the pages went (first fit from P), the size rounded up. */
	a = 0x12345;
	CHECK_KR(vm_allocate(t, &a, 2 * P + 1, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, P);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x12345, .size = 2 * P + 1, .flag = TRUE,
	           .has_range = TRUE, .start = P, .end = 4 * P);
	CHECK_TASKS1(r, t, 5);
	CHECK_CHANGES(r, ADDED(t, P, 4 * P, 1));

	/* Size 0: nothing to do, no range. */
	a = 0x40000;
	CHECK_KR(vm_allocate(t, &a, 0, FALSE), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x40000);
	CHECK_TASKS1(r, t, 5);
	CHECK_NO_CHANGES(r);

	/* Fixed over an allocated page: the asked-for range, no change. */
	a = 0x11000;
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_NO_SPACE);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_EQ(r->kr, KERN_NO_SPACE);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = P,
	           .has_range = TRUE, .start = 0x11000, .end = 0x12000);
	CHECK_TASKS1(r, t, 5);
	CHECK_NO_CHANGES(r);

	/* Fixed below the user range: rounded, then refused. */
	a = 0x800;
	CHECK_KR(vm_allocate(t, &a, P, FALSE), KERN_INVALID_ADDRESS);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x800, .size = P, .has_range = TRUE, .start = 0, .end = P);
	CHECK_NO_CHANGES(r);

	/* A size that wraps when rounded: no range. */
	a = 0x10000;
	CHECK_KR(vm_allocate(t, &a, ~0ull, FALSE), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .size = ~0ull);
	CHECK_TASKS1(r, t, 5);
	CHECK_NO_CHANGES(r);

	/* No out-pointer: reported before any lock, with no task. */
	CHECK_KR(vm_allocate(t, NULL, P, TRUE), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_EQ(r->kr, KERN_INVALID_ARGUMENT);
	CHECK_ARGS(r, .task = t, .size = P, .flag = TRUE);
	CHECK_TASKS0(r);
	CHECK_NO_CHANGES(r);
	CHECK_EQ(gen_of(t), 5);
	rec_off();
}

/* ---- vm_protect: clipping, merging back, moved boundaries --------------- */

TEST(protect_middle_and_back)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 4 * P);
	clear();
	CHECK_KR(vm_protect(t, 0x11000, 2 * P, FALSE, R), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = 2 * P, .prot = R,
	           .has_range = TRUE, .start = 0x11000, .end = 0x13000);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x14000, 0x11000), SPLIT(t, 0x11000, 0x14000, 0x13000),
	              ATTRS(t, 0x11000, 0x13000));

	/* Back: the middle entry changes whole and merges with both sides. */
	CHECK_KR(vm_protect(t, 0x11000, 2 * P, FALSE, RW), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = 2 * P, .prot = RW,
	           .has_range = TRUE, .start = 0x11000, .end = 0x13000);
	CHECK_TASKS1(r, t, 6);
	CHECK_CHANGES(r, ATTRS(t, 0x11000, 0x13000), MERGED(t, 0x10000, 0x13000, 0x11000),
	              MERGED(t, 0x10000, 0x14000, 0x13000));
	CHECK_EQ(harness_region_count(t), 1);

	/* set_maximum, an unaligned range: rounded out to whole pages. */
	CHECK_KR(vm_protect(t, 0x13ff0, 0x10, TRUE, RW), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_ARGS(r, .task = t, .address = 0x13ff0, .size = 0x10, .prot = RW, .flag = TRUE,
	           .has_range = TRUE, .start = 0x13000, .end = 0x14000);
	CHECK_TASKS1(r, t, 7);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x14000, 0x13000), ATTRS(t, 0x13000, 0x14000));
	rec_off();
}

TEST(protect_moves_boundary)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 4 * P);
	clear();
	/* A prefix of the only entry: a split, no neighbour to move into. */
	CHECK_KR(vm_protect(t, 0x10000, 2 * P, FALSE, R), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_TASKS1(r, t, 3);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x14000, 0x12000), ATTRS(t, 0x10000, 0x12000));

	/* A prefix of the right entry that becomes equal to the left one:
	 * the boundary moves from 0x12000 to 0x13000. */
	CHECK_KR(vm_protect(t, 0x12000, P, FALSE, R), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_ARGS(r, .task = t, .address = 0x12000, .size = P, .prot = R,
	           .has_range = TRUE, .start = 0x12000, .end = 0x13000);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, MOVED(t, 0x10000, 0x14000, 0x12000, 0x13000), ATTRS(t, 0x12000, 0x13000));
	CHECK_REGION(t, 0x10000, 3 * P, R, VM_PROT_ALL);

	/* A suffix of the left entry that becomes equal to the right one. */
	CHECK_KR(vm_protect(t, 0x12000, P, FALSE, RW), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_TASKS1(r, t, 5);
	CHECK_CHANGES(r, MOVED(t, 0x10000, 0x14000, 0x13000, 0x12000), ATTRS(t, 0x12000, 0x13000));
	CHECK_REGION(t, 0x12000, 2 * P, RW, VM_PROT_ALL);
	CHECK_EQ(harness_region_count(t), 2);
	rec_off();
}

/* ---- vm_deallocate ------------------------------------------------------- */

TEST(deallocate_clips_and_joins)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 6 * P);
	util_fill(t, 0x10000, 6 * P, 0x5a);             /* object 1 under all of it */
	CHECK_KR(vm_protect(t, 0x12000, 2 * P, FALSE, R), KERN_SUCCESS);
	harness_alloc(t, 0x18000, P);
	clear();
	CHECK_EQ(gen_of(t), 5);

	/* [0x11000, 0x15000): clipped at both ends, three entries go, joined
	 * into one change; object 1 stays (the outer pieces keep it). */
	CHECK_KR(vm_deallocate(t, 0x11000, 4 * P), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = 4 * P,
	           .has_range = TRUE, .start = 0x11000, .end = 0x15000);
	CHECK_TASKS1(r, t, 10);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x12000, 0x11000), SPLIT(t, 0x14000, 0x16000, 0x15000),
	              REMOVED(t, 0x11000, 0x15000, 3));

	/* Across the hole: two entries, the range joined over the hole, then
	 * the object whose last mapping went. */
	CHECK_KR(vm_deallocate(t, 0x10000, 6 * P), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_TASKS1(r, t, 12);
	CHECK_CHANGES(r, REMOVED(t, 0x10000, 0x16000, 2), ODESTROYED(1));

	/* Nothing there: a range, no change, the generation stays. */
	CHECK_KR(vm_deallocate(t, 0x30000, P), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x30000, .size = P,
	           .has_range = TRUE, .start = 0x30000, .end = 0x31000);
	CHECK_TASKS1(r, t, 12);
	CHECK_NO_CHANGES(r);

	/* Size 0; a range that wraps; one outside the user range. */
	CHECK_KR(vm_deallocate(t, 0x18000, 0), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x18000);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_deallocate(t, ~0ull - 10, 100), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_ARGS(r, .task = t, .address = ~0ull - 10, .size = 100);
	CHECK_TASKS1(r, t, 12);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_deallocate(t, 0x10, P), KERN_INVALID_ADDRESS);
	r = TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_ARGS(r, .task = t, .address = 0x10, .size = P, .has_range = TRUE, .start = 0, .end = 2 * P);
	CHECK_NO_CHANGES(r);
	CHECK_EQ(harness_region_count(t), 1);
	rec_off();
}

/* ---- vm_inherit, vm_map_inherit ----------------------------------------- */

TEST(inherit_and_map_inherit)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 4 * P);
	clear();
	CHECK_KR(vm_inherit(t, 0x13000, P, VM_INHERIT_NONE), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_INHERIT);
	CHECK_ARGS(r, .task = t, .address = 0x13000, .size = P, .inheritance = VM_INHERIT_NONE,
	           .has_range = TRUE, .start = 0x13000, .end = 0x14000);
	CHECK_TASKS1(r, t, 3);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x14000, 0x13000), ATTRS(t, 0x13000, 0x14000));

	/* Both ends round down; the boundary at 0x13000 moves to 0x12000. */
	CHECK_KR(vm_map_inherit(t, 0x12800, 0x13800, VM_INHERIT_NONE), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_MAP_INHERIT);
	CHECK_ARGS(r, .task = t, .address = 0x12800, .address2 = 0x13800,
	           .inheritance = VM_INHERIT_NONE, .has_range = TRUE, .start = 0x12000, .end = 0x13000);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, MOVED(t, 0x10000, 0x14000, 0x13000, 0x12000), ATTRS(t, 0x12000, 0x13000));

	/* An empty range does nothing; end below start is refused. */
	CHECK_KR(vm_map_inherit(t, 0x12800, 0x12900, VM_INHERIT_SHARE), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_MAP_INHERIT);
	CHECK_ARGS(r, .task = t, .address = 0x12800, .address2 = 0x12900);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_map_inherit(t, 0x13000, 0x12000, VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_MAP_INHERIT);
	CHECK_EQ(r->kr, KERN_INVALID_ARGUMENT);
	CHECK_ARGS(r, .task = t, .address = 0x13000, .address2 = 0x12000);
	CHECK_NO_CHANGES(r);
	/* A bad inheritance is refused before any rounding. */
	CHECK_KR(vm_inherit(t, 0x10000, P, 7), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_INHERIT);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .size = P, .inheritance = 7);
	CHECK_TASKS1(r, t, 4);
	CHECK_NO_CHANGES(r);
	rec_off();
}

/* ---- fork ---------------------------------------------------------------- */

TEST(fork_share_copy_none)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 5 * P);
	CHECK_KR(vm_inherit(t, 0x10000, 2 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, 0x14000, P, VM_INHERIT_NONE), KERN_SUCCESS);
	harness_alloc(t, 0x16000, P);
	clear();
	/* The first write makes object 1 for [0x12000, 0x14000). */
	util_write_byte(t, 0x12000, 1);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_ARGS(r, .task = t, .address = 0x12000, .size = 1, .count = 1);
	CHECK_TASKS1(r, t, 5);
	CHECK_CHANGES(r, OCREATED(1), CONTENTS(t, 0x12000, 0x12001));

	/* Fork: the shared entry gets an object (2) and is_shared, the copied
	 * one needs_copy: one joined ATTRIBUTES; the none entry and the copied
	 * entry without an object do not change.  The child has 3 entries. */
	task_t c = TASK_NULL;
	CHECK_KR(task_create(t, TRUE, &c), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .flag = TRUE, .other = c);
	CHECK_TASKS2(r, t, 5, c, 1);
	CHECK_CHANGES(r, OCREATED(2), ATTRS(t, 0x10000, 0x14000), TCREATED(c, 0x10000, 0x17000, 3));
	CHECK_EQ(harness_region_count(c), 3);
	CHECK_EQ(gen_of(c), 1);

	/* A second fork changes nothing of the parent's entries. */
	task_t d = TASK_NULL;
	CHECK_KR(task_create(t, TRUE, &d), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_TASKS2(r, t, 5, d, 1);
	CHECK_CHANGES(r, TCREATED(d, 0x10000, 0x17000, 3));

	/* An empty parent: an empty child. */
	task_t e = quiet_task(), f = TASK_NULL;
	CHECK_KR(task_create(e, TRUE, &f), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_TASKS2(r, e, 1, f, 1);
	CHECK_CHANGES(r, TCREATED(f, 0, 0, 0));
	rec_off();
}

TEST(fork_child_merging_not_reported)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 2 * P);
	util_fill(t, 0x10000, 2 * P, 7);
	CHECK_KR(vm_inherit(t, 0x10000, 2 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
	clear();
	/* Wiring the second page splits it off; its pages are there already. */
	CHECK_KR(vm_wire(host_priv_self(), t, 0x11000, P, R), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_WIRE);
	CHECK_TASKS1(r, t, 3);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x12000, 0x11000), ATTRS(t, 0x11000, 0x12000));
	/* The child's copies are not wired: they merge into one, silently. */
	task_t c = util_fork(t);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_TASKS2(r, t, 3, c, 1);
	CHECK_CHANGES(r, ATTRS(t, 0x10000, 0x12000), TCREATED(c, 0x10000, 0x12000, 1));
	CHECK_EQ(harness_region_count(c), 1);
	CHECK_EQ(harness_region_count(t), 2);
	rec_off();
}

/* ---- copy-on-write: shadows, bypass, collapse ---------------------------- */

TEST(write_cow_and_collapse)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 2 * P);
	clear();
	/* Across a page boundary: one object for the entry, one change. */
	unsigned char b[3] = { 1, 2, 3 };
	vm_size_t n = 0;
	CHECK_KR(vm_write(t, 0x10ffe, b, 3, &n), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .address = 0x10ffe, .size = 3, .count = 3);
	CHECK_TASKS1(r, t, 2);
	CHECK_CHANGES(r, OCREATED(1), CONTENTS(t, 0x10ffe, 0x11001));

	task_t c = util_fork(t);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_CHANGES(r, ATTRS(t, 0x10000, 0x12000), TCREATED(c, 0x10000, 0x12000, 1));

	/* The child's first write: a shadow (2) in front of object 1, which
	 * still holds a page the shadow lacks, so no bypass. */
	util_write_byte(c, 0x10000, 9);
	r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_ARGS(r, .task = c, .address = 0x10000, .size = 1, .count = 1);
	CHECK_TASKS1(r, c, 1);
	CHECK_CHANGES(r, OSHADOWED(2, 1), CONTENTS(c, 0x10000, 0x10001));
	/* The parent's: its own shadow (3). */
	util_write_byte(t, 0x10000, 8);
	r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_CHANGES(r, OSHADOWED(3, 1), CONTENTS(t, 0x10000, 0x10001));

	/* The child goes: its object 2 with it; object 1 is then only object
	 * 3's, which absorbs it. */
	CHECK_KR(task_terminate(c), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_TASK_TERMINATE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = c);
	CHECK_TASKS1(r, c, 1);
	CHECK_CHANGES(r, TTERMINATED(c, 0x10000, 0x12000, 1), ODESTROYED(2), OCOLLAPSED(3, 1));
	EXPECT_FILL(t, 0x11000, 1, 3);
	rec_off();
}

TEST(write_bypass)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 2 * P);
	util_write_byte(t, 0x10000, 1);                 /* object 1: page 0 only */
	task_t c = util_fork(t);
	clear();
	/* The child's shadow (2) now holds every page object 1 has: it reads
	 * through object 1 no more. */
	util_write_byte(c, 0x10000, 2);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_TASKS1(r, c, 1);
	CHECK_CHANGES(r, OSHADOWED(2, 1), OBYPASSED(2, 1), CONTENTS(c, 0x10000, 0x10001));
	CHECK_EQ(util_read_byte(t, 0x10000), 1);
	rec_off();
}

TEST(vm_copy_contents)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 4 * P);
	util_fill(t, 0x10000, 0x100, 0x33);
	clear();
	CHECK_KR(vm_copy(t, 0x10000, 0x100, 0x12080), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_COPY);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .address2 = 0x12080, .size = 0x100);
	CHECK_TASKS1(r, t, 2);
	CHECK_CHANGES(r, CONTENTS(t, 0x12080, 0x12180));
	EXPECT_FILL(t, 0x12080, 0x100, 0x33);

	/* Into a read-only page: nothing written, nothing reported. */
	CHECK_KR(vm_protect(t, 0x13000, P, FALSE, R), KERN_SUCCESS);
	clear();
	CHECK_KR(vm_copy(t, 0x10000, 0x10, 0x13000), KERN_PROTECTION_FAILURE);
	r = TAKE(MACHVM_CALL_VM_COPY);
	CHECK_EQ(r->kr, KERN_PROTECTION_FAILURE);
	CHECK_NO_CHANGES(r);
	/* Size 0. */
	CHECK_KR(vm_copy(t, 0x10000, 0, 0x11000), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_COPY);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .address2 = 0x11000);
	CHECK_NO_CHANGES(r);
	rec_off();
}

/* ---- vm_remap ------------------------------------------------------------ */

TEST(remap_copy_and_share)
{
	rec_on();
	task_t s = quiet_task(), d = quiet_task();
	harness_alloc(s, 0x10000, 2 * P);
	util_write_byte(s, 0x10000, 0x41);              /* object 1 */
	harness_alloc(d, 0x20000, P);
	harness_alloc(s, 0x30000, P);                   /* untouched */
	clear();

	/* Copy: the source entry becomes needs_copy; one piece, no merge (the
	 * neighbour has no object). */
	vm_address_t a = 0x21000;
	vm_prot_t cur = 0, max = 0;
	CHECK_KR(vm_remap(d, &a, 2 * P, 0, FALSE, s, 0x10000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = d, .other = s, .address = 0x21000, .address2 = 0x10000,
	           .size = 2 * P, .flag = FALSE, .flag2 = TRUE, .inheritance = VM_INHERIT_COPY,
	           .has_range = TRUE, .start = 0x21000, .end = 0x23000,
	           .has_src_range = TRUE, .src_start = 0x10000, .src_end = 0x12000,
	           .prot = RW, .max_protection = VM_PROT_ALL);
	CHECK_TASKS2(r, d, 3, s, 3);
	CHECK_CHANGES(r, ATTRS(s, 0x10000, 0x12000), ADDED(d, 0x21000, 0x23000, 1));

	/* Copy of an untouched page next to an equal one: added, merged; the
	 * source does not change. */
	a = 0x1f000;
	CHECK_KR(vm_remap(d, &a, P, 0, FALSE, s, 0x30000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_TASKS2(r, d, 5, s, 3);
	CHECK_CHANGES(r, ADDED(d, 0x1f000, 0x20000, 1), MERGED(d, 0x1f000, 0x21000, 0x20000));

	/* Share, anywhere above 0x40000: the source gets an object (2). */
	a = 0x40000;
	CHECK_KR(vm_remap(d, &a, P, 0, TRUE, s, 0x30800, FALSE, &cur, &max, VM_INHERIT_SHARE),
	         KERN_SUCCESS);
	CHECK_EQ(a, 0x40000);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_ARGS(r, .task = d, .other = s, .address = 0x40000, .address2 = 0x30800,
	           .size = P, .flag = TRUE, .flag2 = FALSE, .inheritance = VM_INHERIT_SHARE,
	           .has_range = TRUE, .start = 0x40000, .end = 0x41000,
	           .has_src_range = TRUE, .src_start = 0x30000, .src_end = 0x31000,
	           .prot = RW, .max_protection = VM_PROT_ALL);
	CHECK_TASKS2(r, d, 6, s, 3);
	CHECK_CHANGES(r, OCREATED(2), ATTRS(s, 0x30000, 0x31000), ADDED(d, 0x40000, 0x41000, 1));
	rec_off();
}

TEST(remap_pieces_whole_entries_and_source_merge)
{
	rec_on();
	task_t s = quiet_task(), d = quiet_task();
	harness_alloc(s, 0x10000, 4 * P);
	CHECK_KR(vm_protect(s, 0x12000, 2 * P, FALSE, R), KERN_SUCCESS);
	clear();
	/* Sharing [0x11000, 0x13000): two pieces of two entries; each source
	 * entry, whole, gets an object. */
	vm_address_t a = 0x50000;
	vm_prot_t cur = 0, max = 0;
	CHECK_KR(vm_remap(d, &a, 2 * P, 0, FALSE, s, 0x11000, FALSE, &cur, &max, VM_INHERIT_SHARE),
	         KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_EQ(r->args.prot, R);
	CHECK_EQ(r->args.max_protection, VM_PROT_ALL);
	CHECK_TASKS2(r, d, 2, s, 3);
	CHECK_CHANGES(r, OCREATED(1), ATTRS(s, 0x10000, 0x12000), OCREATED(2),
	              ATTRS(s, 0x12000, 0x14000), ADDED(d, 0x50000, 0x52000, 2));

	/* Two pieces of one object that differ in needs_copy only merge when
	 * the second becomes needs_copy too (a copy of it). */
	task_t u = quiet_task();
	harness_alloc(u, 0x10000, 2 * P);
	util_fill(u, 0x10000, 2 * P, 1);                /* object 3 */
	CHECK_KR(vm_protect(u, 0x10000, P, FALSE, R), KERN_SUCCESS);
	a = 0x60000;
	CHECK_KR(vm_remap(d, &a, P, 0, FALSE, u, 0x10000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	CHECK_KR(vm_protect(u, 0x10000, P, FALSE, RW), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(u), 2);
	clear();
	a = 0x70000;
	CHECK_KR(vm_remap(d, &a, P, 0, FALSE, u, 0x11000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_TASKS2(r, d, 4, u, 4);
	CHECK_CHANGES(r, ATTRS(u, 0x11000, 0x12000), ADDED(d, 0x70000, 0x71000, 1),
	              MERGED(u, 0x10000, 0x12000, 0x11000));
	CHECK_EQ(harness_region_count(u), 1);
	rec_off();
}

TEST(remap_same_task)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, P);
	clear();
	/* Right after itself: the copy merges with its source; the task is
	 * in the report once. */
	vm_address_t a = 0x11000;
	vm_prot_t cur = 0, max = 0;
	CHECK_KR(vm_remap(t, &a, P, 0, FALSE, t, 0x10000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_ARGS(r, .task = t, .other = t, .address = 0x11000, .address2 = 0x10000,
	           .size = P, .flag2 = TRUE, .inheritance = VM_INHERIT_COPY,
	           .has_range = TRUE, .start = 0x11000, .end = 0x12000,
	           .has_src_range = TRUE, .src_start = 0x10000, .src_end = 0x11000,
	           .prot = RW, .max_protection = VM_PROT_ALL);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, ADDED(t, 0x11000, 0x12000, 1), MERGED(t, 0x10000, 0x12000, 0x11000));

	/* Sharing a written page with itself: no merge (offsets differ). */
	util_write_byte(t, 0x10000, 5);                 /* object 1 */
	clear();
	a = 0x12000;
	CHECK_KR(vm_remap(t, &a, P, 0, FALSE, t, 0x10000, FALSE, &cur, &max, VM_INHERIT_SHARE),
	         KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_TASKS1(r, t, 5);
	CHECK_CHANGES(r, ATTRS(t, 0x10000, 0x12000), ADDED(t, 0x12000, 0x13000, 1));

	/* A fixed target that is taken: ranges, no change. */
	a = 0x11000;
	CHECK_KR(vm_remap(t, &a, P, 0, FALSE, t, 0x10000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_NO_SPACE);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_EQ(r->kr, KERN_NO_SPACE);
	CHECK_ARGS(r, .task = t, .other = t, .address = 0x11000, .address2 = 0x10000,
	           .size = P, .flag2 = TRUE, .inheritance = VM_INHERIT_COPY,
	           .has_range = TRUE, .start = 0x11000, .end = 0x12000,
	           .has_src_range = TRUE, .src_start = 0x10000, .src_end = 0x11000);
	CHECK_TASKS1(r, t, 5);
	CHECK_NO_CHANGES(r);
	/* A source hole: the source range only. */
	a = 0x20000;
	CHECK_KR(vm_remap(t, &a, 2 * P, 0, FALSE, t, 0x12000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_INVALID_ADDRESS);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_EQ(r->args.has_range, FALSE);
	CHECK_EQ(r->args.has_src_range, TRUE);
	CHECK_EQ(r->args.src_start, 0x12000);
	CHECK_EQ(r->args.src_end, 0x14000);
	CHECK_NO_CHANGES(r);
	rec_off();
}

/* ---- vm_wire ------------------------------------------------------------- */

TEST(wire_and_unwire)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 4 * P);
	clear();
	CHECK_KR(vm_wire(host_priv_self(), t, 0x11000, 2 * P, RW), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_WIRE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = 2 * P, .prot = RW, .flag = TRUE,
	           .has_range = TRUE, .start = 0x11000, .end = 0x13000);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x14000, 0x11000), SPLIT(t, 0x11000, 0x14000, 0x13000),
	              OCREATED(1), ATTRS(t, 0x11000, 0x13000));

	/* Wired again: the count only. */
	CHECK_KR(vm_wire(host_priv_self(), t, 0x11000, 2 * P, R), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_WIRE);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, ATTRS(t, 0x11000, 0x13000));

	/* Unwired twice: attributes only, no boundary moves (the entry has
	 * an object, its neighbours none). */
	for (int i = 0; i < 2; i++) {
		CHECK_KR(vm_wire(host_priv_self(), t, 0x11000, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
		r = TAKE(MACHVM_CALL_VM_WIRE);
		CHECK_ARGS(r, .task = t, .address = 0x11000, .size = 2 * P, .flag = TRUE,
		           .has_range = TRUE, .start = 0x11000, .end = 0x13000);
		CHECK_TASKS1(r, t, 4);
		CHECK_CHANGES(r, ATTRS(t, 0x11000, 0x13000));
	}
	CHECK_EQ(gen_of(t), 4);

	/* Unwiring what is not wired; the unprivileged host port. */
	CHECK_KR(vm_wire(host_priv_self(), t, 0x11000, P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_WIRE);
	CHECK_EQ(r->kr, KERN_INVALID_ARGUMENT);
	CHECK_EQ(r->args.has_range, TRUE);
	CHECK_TASKS1(r, t, 4);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_wire(mach_host_self(), t, 0x11000, P, R), KERN_INVALID_HOST);
	r = TAKE(MACHVM_CALL_VM_WIRE);
	CHECK_EQ(r->kr, KERN_INVALID_HOST);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = P, .prot = R, .flag = FALSE);
	CHECK_TASKS0(r);
	CHECK_NO_CHANGES(r);
	rec_off();
}

/* ---- vm_machine_attribute ------------------------------------------------ */

TEST(attribute_flush_get_set)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 2 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	clear();
	CHECK_EQ(gen_of(t), 3);

	/* A flush counts on whole entries (no clipping): the range covers the
	 * entry it touches; nothing merges, the generation stays. */
	vm_machine_attribute_val_t v = MATTR_VAL_CACHE_FLUSH;
	CHECK_KR(vm_machine_attribute(t, 0x11800, 0x10, MATTR_CACHE, &v), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	CHECK_ARGS(r, .task = t, .address = 0x11800, .size = 0x10, .attribute = MATTR_CACHE,
	           .value = MATTR_VAL_CACHE_FLUSH, .has_range = TRUE, .start = 0x11000, .end = 0x12000);
	CHECK_TASKS1(r, t, 3);
	CHECK_CHANGES(r, ATTRS(t, 0x11000, 0x12000));

	/* Back to RW: still apart (flush counts differ): attributes only. */
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, RW), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_TASKS1(r, t, 3);
	CHECK_CHANGES(r, ATTRS(t, 0x11000, 0x12000));
	CHECK_EQ(harness_region_count(t), 2);

	/* Flushing the other one makes them equal: merged. */
	CHECK_KR(vm_machine_attribute(t, 0x10000, 1, MATTR_CACHE, &v), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, ATTRS(t, 0x10000, 0x11000), MERGED(t, 0x10000, 0x12000, 0x11000));

	/* A flush across the one entry, partly: the whole entry. */
	v = MATTR_VAL_DCACHE_FLUSH;
	CHECK_KR(vm_machine_attribute(t, 0x11000, P, MATTR_CACHE, &v), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	CHECK_EQ(r->args.start, 0x11000);
	CHECK_CHANGES(r, ATTRS(t, 0x10000, 0x12000));

	/* Get: the value returned, no change. */
	v = MATTR_VAL_GET;
	CHECK_KR(vm_machine_attribute(t, 0x10000, P, MATTR_CACHE, &v), KERN_SUCCESS);
	CHECK_EQ(v, MATTR_VAL_ON);
	r = TAKE(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .size = P, .attribute = MATTR_CACHE,
	           .value = MATTR_VAL_GET, .value_out = MATTR_VAL_ON,
	           .has_range = TRUE, .start = 0x10000, .end = 0x11000);
	CHECK_TASKS1(r, t, 4);
	CHECK_NO_CHANGES(r);

	/* Set: clips like vm_protect. */
	v = MATTR_VAL_ON;
	CHECK_KR(vm_machine_attribute(t, 0x10000, P, MATTR_MIGRATE, &v), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .size = P, .attribute = MATTR_MIGRATE,
	           .value = MATTR_VAL_ON, .has_range = TRUE, .start = 0x10000, .end = 0x11000);
	CHECK_TASKS1(r, t, 5);
	CHECK_CHANGES(r, SPLIT(t, 0x10000, 0x12000, 0x11000), ATTRS(t, 0x10000, 0x11000));

	/* A hole is an invalid argument here, after rounding. */
	v = MATTR_VAL_CACHE_FLUSH;
	CHECK_KR(vm_machine_attribute(t, 0x11000, 2 * P, MATTR_CACHE, &v), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	CHECK_EQ(r->kr, KERN_INVALID_ARGUMENT);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = 2 * P, .attribute = MATTR_CACHE,
	           .value = MATTR_VAL_CACHE_FLUSH, .has_range = TRUE, .start = 0x11000, .end = 0x13000);
	CHECK_NO_CHANGES(r);
	/* A NULL value: nothing locked. */
	CHECK_KR(vm_machine_attribute(t, 0x10000, P, MATTR_CACHE, NULL), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .size = P, .attribute = MATTR_CACHE);
	CHECK_TASKS0(r);
	rec_off();
}

/* ---- task_terminate ------------------------------------------------------ */

TEST(terminate_reports_the_task_whole)
{
	rec_on();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, 2 * P);
	harness_alloc(t, 0x20000, P);
	util_write_byte(t, 0x20000, 1);                 /* object 1 */
	CHECK_KR(vm_protect(t, 0x10000, P, FALSE, R), KERN_SUCCESS);
	clear();
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	const struct machvm_report *r = TAKE(MACHVM_CALL_TASK_TERMINATE);
	CHECK_EQ(r->kr, KERN_SUCCESS);
	CHECK_ARGS(r, .task = t);
	CHECK_TASKS1(r, t, 4);
	CHECK_CHANGES(r, TTERMINATED(t, 0x10000, 0x21000, 3), ODESTROYED(1));
	uint64_t g = 0;
	CHECK_KR(machvm_task_map_gen(t, &g), KERN_INVALID_ARGUMENT);

	/* Again: a dead task. */
	CHECK_KR(task_terminate(t), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_TASK_TERMINATE);
	CHECK_EQ(r->kr, KERN_INVALID_ARGUMENT);
	CHECK_ARGS(r, .task = t);
	CHECK_TASKS0(r);
	CHECK_NO_CHANGES(r);

	/* An empty task. */
	task_t e = quiet_task();
	CHECK_KR(task_terminate(e), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_TASK_TERMINATE);
	CHECK_TASKS1(r, e, 1);
	CHECK_CHANGES(r, TTERMINATED(e, 0, 0, 0));
	rec_off();
}

/* ---- failures ------------------------------------------------------------ */

TEST(failed_calls_report_once)
{
	rec_on();
	task_t dead = util_dead_task();
	task_t t = quiet_task();
	harness_alloc(t, 0x10000, P);
	harness_alloc(t, 0x12000, P);
	clear();
	const struct machvm_report *r;
	vm_address_t a = 0x10000;
	vm_size_t n = 77;
	vm_prot_t cur, max;
	unsigned char b = 0;

	/* A dead task: nothing locked, nothing rounded. */
	CHECK_KR(vm_protect(dead, 0x10000, P, FALSE, R), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_EQ(r->kr, KERN_INVALID_ARGUMENT);
	CHECK_ARGS(r, .task = dead, .address = 0x10000, .size = P, .prot = R);
	CHECK_TASKS0(r);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_allocate(dead, &a, P, FALSE), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_ARGS(r, .task = dead, .address = 0x10000, .size = P);
	CHECK_TASKS0(r);
	CHECK_KR(vm_deallocate(dead, 0x10000, P), KERN_INVALID_ARGUMENT);
	(void)TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_KR(vm_inherit(dead, 0x10000, P, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	(void)TAKE(MACHVM_CALL_VM_INHERIT);
	CHECK_KR(vm_map_inherit(dead, 0x10000, 0x11000, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
	(void)TAKE(MACHVM_CALL_VM_MAP_INHERIT);
	CHECK_KR(vm_wire(host_priv_self(), dead, 0x10000, P, R), KERN_INVALID_TASK);
	r = TAKE(MACHVM_CALL_VM_WIRE);
	CHECK_EQ(r->kr, KERN_INVALID_TASK);
	CHECK_TASKS0(r);
	CHECK_KR(vm_write(dead, 0x10000, &b, 1, &n), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_ARGS(r, .task = dead, .address = 0x10000, .size = 1);
	CHECK_TASKS0(r);
	CHECK_KR(vm_copy(dead, 0x10000, P, 0x12000), KERN_INVALID_ARGUMENT);
	(void)TAKE(MACHVM_CALL_VM_COPY);
	CHECK_KR(vm_remap(t, &a, P, 0, TRUE, dead, 0x10000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_EQ(r->kr, KERN_INVALID_ARGUMENT);
	CHECK_TASKS0(r);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_remap(t, NULL, P, 0, TRUE, t, 0x10000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_REMAP);
	CHECK_ARGS(r, .task = t, .other = t, .address2 = 0x10000, .size = P, .flag = TRUE,
	           .flag2 = TRUE, .inheritance = VM_INHERIT_COPY);
	CHECK_TASKS0(r);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(dead, TRUE, &c), KERN_INVALID_TASK);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_EQ(r->kr, KERN_INVALID_TASK);
	CHECK_ARGS(r, .task = dead, .flag = TRUE);
	CHECK_TASKS0(r);
	CHECK_NO_CHANGES(r);
	CHECK_KR(task_create(t, TRUE, NULL), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_ARGS(r, .task = t, .flag = TRUE);
	CHECK_TASKS0(r);

	/* Ranges that wrap: locked, not rounded. */
	CHECK_KR(vm_protect(t, ~0ull - P, 2 * P, FALSE, R), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_ARGS(r, .task = t, .address = ~0ull - P, .size = 2 * P, .prot = R);
	CHECK_TASKS1(r, t, 3);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_write(t, ~0ull - 1, &b, 1, &n), KERN_INVALID_ARGUMENT);
	r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_ARGS(r, .task = t, .address = ~0ull - 1, .size = 1);
	CHECK_TASKS1(r, t, 3);
	CHECK_NO_CHANGES(r);

	/* A hole: rounded, refused, nothing changed. */
	CHECK_KR(vm_protect(t, 0x10000, 3 * P, FALSE, R), KERN_INVALID_ADDRESS);
	r = TAKE(MACHVM_CALL_VM_PROTECT);
	CHECK_EQ(r->kr, KERN_INVALID_ADDRESS);
	CHECK_ARGS(r, .task = t, .address = 0x10000, .size = 3 * P, .prot = R,
	           .has_range = TRUE, .start = 0x10000, .end = 0x13000);
	CHECK_TASKS1(r, t, 3);
	CHECK_NO_CHANGES(r);
	CHECK_KR(vm_write(t, 0x11000, &b, 1, &n), KERN_INVALID_ADDRESS);
	r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_ARGS(r, .task = t, .address = 0x11000, .size = 1);
	CHECK_NO_CHANGES(r);
	/* A write that stops at a hole: what was written. */
	unsigned char big[P + 8];
	memset(big, 0x11, sizeof big);
	CHECK_KR(vm_write(t, 0x10ff8, big, 16, &n), KERN_SUCCESS);
	CHECK_EQ(n, 8);
	r = TAKE(MACHVM_CALL_VM_WRITE);
	CHECK_ARGS(r, .task = t, .address = 0x10ff8, .size = 16, .count = 8);
	CHECK_CHANGES(r, OCREATED(1), CONTENTS(t, 0x10ff8, 0x11000));
	CHECK_EQ(gen_of(t), 3);

	/* Queries and reads report nothing. */
	vm_region_extended_info_t info;
	a = 0;
	CHECK_KR(vm_region_extended(t, &a, &info), KERN_SUCCESS);
	CHECK_KR(vm_read(t, 0x10000, 1, &b, &n), KERN_SUCCESS);
	(void)harness_region_count(t);
	util_snap_t snap = util_snapshot(t);
	util_snap_free(&snap);
	CHECK_NONE();
	rec_off();
}

/* ---- no hook, generations ------------------------------------------------ */

TEST(no_hook_records_nothing)
{
	rec_on();
	machvm_set_report_hook(NULL, NULL);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_KR(vm_protect(t, 0x11000, P, FALSE, R), KERN_SUCCESS);
	util_write_byte(t, 0x10000, 1);
	task_t c = util_fork(t);
	CHECK_KR(task_terminate(c), KERN_SUCCESS);
	CHECK_KR(vm_deallocate(t, 0x10000, 4 * P), KERN_SUCCESS);
	CHECK_NONE();
	/* The generation is kept all the same: 1, +1 added, +2 splits,
	 * +3 removed. */
	CHECK_EQ(gen_of(t), 7);
	/* With the hook back, the next call reports, alone. */
	machvm_set_report_hook(copy_hook, &got);
	harness_alloc(t, 0x10000, P);
	const struct machvm_report *r = TAKE(MACHVM_CALL_VM_ALLOCATE);
	CHECK_TASKS1(r, t, 8);
	CHECK_CHANGES(r, ADDED(t, 0x10000, 0x11000, 1));
	rec_off();
}

TEST(generation_moves_with_boundaries_only)
{
	task_t t = harness_task();
	CHECK_EQ(gen_of(t), 1);
	harness_alloc(t, 0x10000, 4 * P);
	CHECK_EQ(gen_of(t), 2);
	CHECK_KR(vm_protect(t, 0x11000, 2 * P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(gen_of(t), 4);
	/* Whole entries, nothing merging: attributes only. */
	CHECK_KR(vm_protect(t, 0x11000, 2 * P, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, 0x10000, P, VM_INHERIT_SHARE), KERN_SUCCESS);
	vm_machine_attribute_val_t v = MATTR_VAL_ICACHE_FLUSH;
	CHECK_KR(vm_machine_attribute(t, 0x13000, P, MATTR_CACHE, &v), KERN_SUCCESS);
	util_write_byte(t, 0x10000, 1);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, R), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x10000, P, VM_PROT_NONE), KERN_SUCCESS);
	task_t c = util_fork(t);
	CHECK_EQ(gen_of(t), 4);
	CHECK_EQ(gen_of(c), 1);
	/* A failed call changes nothing. */
	CHECK_KR(vm_protect(t, 0x10000, 8 * P, FALSE, R), KERN_INVALID_ADDRESS);
	CHECK_EQ(gen_of(t), 4);
	/* Added, split, moved, merged: one step each. */
	harness_alloc(t, 0x20000, 3 * P);
	CHECK_EQ(gen_of(t), 5);
	CHECK_KR(vm_protect(t, 0x20000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(gen_of(t), 6);
	CHECK_KR(vm_protect(t, 0x21000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(gen_of(t), 7);
	CHECK_EQ(harness_region_count(t), 5);
	CHECK_KR(vm_protect(t, 0x22000, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(gen_of(t), 8);
	CHECK_EQ(harness_region_count(t), 4);
	uint64_t g = 0;
	CHECK_KR(machvm_task_map_gen(t, NULL), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_task_map_gen(TASK_NULL, &g), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_task_map_gen(util_dead_task(), &g), KERN_INVALID_ARGUMENT);
	CHECK_KR(machvm_task_map_gen(9999, &g), KERN_INVALID_ARGUMENT);
}

/* ---- a big report -------------------------------------------------------- */

TEST(big_fork_report)
{
	rec_on();
	machvm_set_report_hook(NULL, NULL);
	task_t t = harness_task();
	/* 300 entries told apart by protection, all shared, none touched. */
	harness_alloc(t, 0x100000, 300 * P);
	CHECK_KR(vm_inherit(t, 0x100000, 300 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
	for (int i = 1; i < 300; i += 2)
		CHECK_KR(vm_protect(t, 0x100000 + i * P, P, FALSE, R), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(t), 300);
	machvm_set_report_hook(copy_hook, &got);
	/* Each entry gets an object and is_shared: 600 changes + the child. */
	task_t c = util_fork(t);
	const struct machvm_report *r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_EQ(r->nchanges, 601);
	CHECK(!r->incomplete);
	for (size_t i = 0; i < 300; i++) {
		const struct machvm_change *o = &r->changes[2 * i], *a = &r->changes[2 * i + 1];
		CHECK_EQ(o->kind, MACHVM_CHANGE_OBJECT_CREATED);
		CHECK_EQ(o->object, i + 1);
		CHECK_EQ(a->kind, MACHVM_CHANGE_ATTRIBUTES);
		CHECK_EQ(a->start, 0x100000 + i * P);
		CHECK_EQ(a->end, 0x100000 + (i + 1) * P);
	}
	CHECK_EQ(r->changes[600].kind, MACHVM_CHANGE_TASK_CREATED);
	CHECK_EQ(r->changes[600].count, 300);
	/* And a small call after it. */
	CHECK_KR(vm_deallocate(c, 0x100000, 300 * P), KERN_SUCCESS);
	r = TAKE(MACHVM_CALL_VM_DEALLOCATE);
	CHECK_CHANGES(r, REMOVED(c, 0x100000, 0x100000 + 300 * P, 300));
	rec_off();
}

/* ---- persistence --------------------------------------------------------- */

#define MAX_SAVED 16

static struct {
	machvm_host_desc_t host;
	machvm_object_desc_t obj[MAX_SAVED];
	int nobj;
	uint64_t page_obj[MAX_SAVED], page_ix[MAX_SAVED];
	unsigned char *page[MAX_SAVED];
	int npage;
	machvm_task_desc_t task[MAX_SAVED];
	int ntask;
	task_t entry_task[MAX_SAVED];
	machvm_entry_desc_t entry[MAX_SAVED];
	int nentry;
} saved;

static int save_host(void *arg, const machvm_host_desc_t *h)
{
	(void)arg;
	saved.host = *h;
	return 0;
}

static int save_object(void *arg, const machvm_object_desc_t *o)
{
	(void)arg;
	CHECK(saved.nobj < MAX_SAVED);
	saved.obj[saved.nobj++] = *o;
	return 0;
}

static int save_page(void *arg, uint64_t object, uint64_t index, const void *bytes)
{
	(void)arg;
	CHECK(saved.npage < MAX_SAVED);
	saved.page_obj[saved.npage] = object;
	saved.page_ix[saved.npage] = index;
	saved.page[saved.npage] = malloc(P);
	CHECK(saved.page[saved.npage] != NULL);
	memcpy(saved.page[saved.npage++], bytes, P);
	return 0;
}

static int save_task(void *arg, const machvm_task_desc_t *t)
{
	(void)arg;
	CHECK(saved.ntask < MAX_SAVED);
	saved.task[saved.ntask++] = *t;
	return 0;
}

static int save_entry(void *arg, task_t task, const machvm_entry_desc_t *e)
{
	(void)arg;
	CHECK(saved.nentry < MAX_SAVED);
	saved.entry_task[saved.nentry] = task;
	saved.entry[saved.nentry++] = *e;
	return 0;
}

TEST(export_and_import_report_nothing)
{
	rec_on();
	machvm_set_report_hook(NULL, NULL);
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 2 * P);
	util_write_byte(t, 0x10000, 0x77);
	CHECK_KR(task_terminate(util_fork(t)), KERN_SUCCESS);   /* a gap in the ids */
	task_t c = util_fork(t);
	machvm_set_report_hook(copy_hook, &got);

	static const struct machvm_export_ops ops = { save_host, save_object, save_page,
	                                              save_task, save_entry };
	memset(&saved, 0, sizeof saved);
	CHECK_KR(machvm_host_export(&ops, NULL), KERN_SUCCESS);
	CHECK_NONE();
	machvm_host_stop();             /* stops quietly too */
	CHECK_NONE();

	CHECK_KR(machvm_import_begin(&saved.host), KERN_SUCCESS);
	for (int i = 0; i < saved.nobj; i++)
		CHECK_KR(machvm_import_object(&saved.obj[i]), KERN_SUCCESS);
	for (int i = 0; i < saved.npage; i++) {
		CHECK_KR(machvm_import_page(saved.page_obj[i], saved.page_ix[i], saved.page[i]),
		         KERN_SUCCESS);
		free(saved.page[i]);
	}
	for (int i = 0; i < saved.ntask; i++)
		CHECK_KR(machvm_import_task(&saved.task[i]), KERN_SUCCESS);
	for (int i = 0; i < saved.nentry; i++)
		CHECK_KR(machvm_import_entry(saved.entry_task[i], &saved.entry[i]), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_SUCCESS);
	CHECK_NONE();
	CHECK(machvm_task_alive(t) && machvm_task_alive(c));
	EXPECT_FILL(c, 0x10000, 1, 0x77);
	CHECK_NONE();

	/* An import with no tasks creates and terminates every id, quietly. */
	machvm_host_stop();
	CHECK_KR(machvm_import_begin(&saved.host), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_SUCCESS);
	CHECK_NONE();
	CHECK(!machvm_task_alive(t));
	/* A failed import (an object nobody uses) reports nothing either. */
	machvm_host_stop();
	CHECK_KR(machvm_import_begin(&saved.host), KERN_SUCCESS);
	CHECK_KR(machvm_import_object(&saved.obj[0]), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_INVALID_ARGUMENT);
	CHECK_NONE();
	CHECK_KR(machvm_host_start(4096), KERN_SUCCESS);

	/* And the imported host reports as any other. */
	task_t n = harness_task();
	const struct machvm_report *r = TAKE(MACHVM_CALL_TASK_CREATE);
	CHECK_CHANGES(r, TCREATED(n, 0, 0, 0));
	rec_off();
}

/* ---- threads ------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 300

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	task_t task;
	uint64_t reports, last_gen;
	int out_of_order;
} per[THREADS];
static int strays;

static void count_hook(void *arg, const struct machvm_report *r)
{
	(void)arg;
	pthread_mutex_lock(&count_lock);
	int hit = 0;
	for (int i = 0; i < THREADS; i++) {
		if (r->ntasks == 1 && r->tasks[0] == per[i].task) {
			per[i].reports++;
			if (r->gens[0] < per[i].last_gen)
				per[i].out_of_order++;
			per[i].last_gen = r->gens[0];
			hit = 1;
		}
	}
	if (!hit)
		strays++;
	pthread_mutex_unlock(&count_lock);
}

static void *thread_main(void *arg)
{
	task_t t = *(task_t *)arg;
	for (int i = 0; i < ROUNDS; i++) {
		vm_address_t a = 0x10000;
		if (vm_allocate(t, &a, 4 * P, FALSE) != KERN_SUCCESS ||
		    vm_protect(t, 0x11000, P, FALSE, R) != KERN_SUCCESS ||
		    vm_deallocate(t, 0x10000, 4 * P) != KERN_SUCCESS)
			return (void *)1;
		unsigned char b = (unsigned char)i;
		vm_size_t n = 0;
		if (vm_read(t, 0x10000, 1, &b, &n) != KERN_INVALID_ADDRESS)
			return (void *)1;
	}
	return NULL;
}

TEST(threads_report_once_per_call)
{
	memset(per, 0, sizeof per);
	strays = 0;
	for (int i = 0; i < THREADS; i++)
		per[i].task = harness_task();
	machvm_set_report_hook(count_hook, NULL);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, thread_main, &per[i].task) == 0);
	for (int i = 0; i < THREADS; i++) {
		void *ret = NULL;
		CHECK(pthread_join(th[i], &ret) == 0);
		CHECK(ret == NULL);
	}
	machvm_set_report_hook(NULL, NULL);
	for (int i = 0; i < THREADS; i++) {
		CHECK_EQ(per[i].reports, 3 * ROUNDS);
		CHECK_EQ(per[i].out_of_order, 0);
		/* 1 + per round: added, 2 splits, 3 removed. */
		CHECK_EQ(per[i].last_gen, 1 + 6 * ROUNDS);
		CHECK_EQ(gen_of(per[i].task), 1 + 6 * ROUNDS);
	}
	CHECK_EQ(strays, 0);
}
