/*
 * test_task.c - task_create and task_terminate: empty and forked children,
 * parents, ids, what a terminated task frees and answers, and the fork
 * rules for share / copy / none inheritance.
 */
#include <stdlib.h>
#include "harness.h"
#include "util.h"

#define RW   (VM_PROT_READ | VM_PROT_WRITE)
#define RX   (VM_PROT_READ | VM_PROT_EXECUTE)

/* ---- helpers ----------------------------------------------------------- */


/* The host counters that describe what exists (not event counts). */
struct holdings {
	uint64_t tasks, entries, objects, resident_pages, wired_pages, virtual_size;
};

static struct holdings holdings(void)
{
	machvm_host_stats_t h = util_host_stats();
	struct holdings x = { h.tasks, h.entries, h.objects, h.resident_pages,
	                      h.wired_pages, h.virtual_size };
	return x;
}

#define CHECK_HOLDINGS(x, y)                                            \
	do {                                                            \
		CHECK_EQ((x).tasks, (y).tasks);                         \
		CHECK_EQ((x).entries, (y).entries);                     \
		CHECK_EQ((x).objects, (y).objects);                     \
		CHECK_EQ((x).resident_pages, (y).resident_pages);       \
		CHECK_EQ((x).wired_pages, (y).wired_pages);             \
		CHECK_EQ((x).virtual_size, (y).virtual_size);           \
	} while (0)

/* ---- task_create ------------------------------------------------------- */

TEST(task_create_empty)
{
	task_t t = TASK_NULL;
	CHECK_KR(task_create(TASK_NULL, FALSE, &t), KERN_SUCCESS);
	CHECK(t != TASK_NULL);
	CHECK(machvm_task_alive(t));
	CHECK_EQ(harness_region_count(t), 0);
	vm_address_t addr = 0;
	vm_region_extended_info_t info;
	CHECK_KR(vm_region_extended(t, &addr, &info), KERN_NO_SPACE);
	machvm_task_stats_t s = util_task_stats(t);
	CHECK_EQ(s.id, t);
	CHECK_EQ(s.parent, TASK_NULL);
	CHECK_EQ(s.regions, 0);
	CHECK_EQ(s.virtual_size, 0);
	CHECK_EQ(s.resident_pages, 0);
	CHECK_EQ(s.wired_pages, 0);
	CHECK_EQ(s.objects, 0);
	CHECK_EQ(s.faults, 0);
	size_t n = 0;
	vm_region_extended_info_t *r = NULL;
	CHECK_KR(machvm_region_snapshot(t, &r, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	free(r);
	CHECK_EQ(util_host_stats().tasks, 1);
}

TEST(task_create_without_inherit_is_empty)
{
	/* A parent with memory, but inherit_memory FALSE: the child is empty
	 * and yet records its parent. */
	vm_size_t p = util_page_size();
	task_t par = harness_task();
	harness_alloc(par, 0x100000, 4 * p);
	util_fill(par, 0x100000, 4 * p, 0x11);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(par, FALSE, &c), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(c), 0);
	machvm_task_stats_t s = util_task_stats(c);
	CHECK_EQ(s.parent, par);
	CHECK_EQ(s.parent_alive, TRUE);
	CHECK_EQ(s.virtual_size, 0);
	unsigned char b;
	vm_size_t n;
	CHECK_KR(vm_read(c, 0x100000, 1, &b, &n), KERN_INVALID_ADDRESS);
	/* the parent is untouched by it */
	CHECK_EQ(harness_region_count(par), 1);
	EXPECT_FILL(par, 0x100000, 4 * p, 0x11);
}

TEST(task_parent_recorded)
{
	task_t a = harness_task();
	task_t b = util_fork(a);
	task_t c = util_fork(b);
	machvm_task_stats_t s;
	s = util_task_stats(a);
	CHECK_EQ(s.parent, TASK_NULL);
	s = util_task_stats(b);
	CHECK_EQ(s.id, b);
	CHECK_EQ(s.parent, a);
	CHECK_EQ(s.parent_alive, TRUE);
	s = util_task_stats(c);
	CHECK_EQ(s.parent, b);
	CHECK_EQ(s.parent_alive, TRUE);
	/* the parent's death is reported, the parent id stays */
	CHECK_KR(task_terminate(b), KERN_SUCCESS);
	s = util_task_stats(c);
	CHECK_EQ(s.parent, b);
	CHECK_EQ(s.parent_alive, FALSE);
	CHECK(machvm_task_alive(a));
	CHECK(machvm_task_alive(c));
}

TEST(task_create_dead_parent_invalid_task)
{
	task_t dead = util_dead_task();
	uint64_t tasks = util_host_stats().tasks;
	task_t c = 77;
	CHECK_KR(task_create(dead, TRUE, &c), KERN_INVALID_TASK);
	CHECK_KR(task_create(dead, FALSE, &c), KERN_INVALID_TASK);
	/* never created */
	CHECK_KR(task_create(999, TRUE, &c), KERN_INVALID_TASK);
	CHECK_KR(task_create(999, FALSE, &c), KERN_INVALID_TASK);
	/* no parent, but memory to inherit */
	CHECK_KR(task_create(TASK_NULL, TRUE, &c), KERN_INVALID_TASK);
	CHECK_EQ(util_host_stats().tasks, tasks);
	size_t n = 99;
	CHECK_KR(machvm_task_list(NULL, 0, &n), KERN_SUCCESS);
	CHECK_EQ(n, tasks);
}

TEST(task_ids_start_at_one_lowest_free_reused)
{
	task_t first = harness_task();
	CHECK_EQ(first, 1);
	task_t b = harness_task();
	CHECK_EQ(b, 2);
	task_t c = harness_task();
	CHECK_EQ(c, 3);
	CHECK_KR(task_terminate(b), KERN_SUCCESS);
	CHECK_KR(task_terminate(first), KERN_SUCCESS);
	/* The lowest free id first, by create and by fork alike. */
	task_t d = util_fork(c);
	CHECK_EQ(d, 1);
	CHECK_EQ(harness_task(), 2);
	CHECK_EQ(harness_task(), 4);
	/* The reused id names the new task only: the fork's parent is c. */
	machvm_task_stats_t st;
	CHECK_KR(machvm_task_stats(d, &st), KERN_SUCCESS);
	CHECK_EQ(st.parent, c);
	CHECK(st.parent_alive);
	/* A child whose parent's id was reused sees its parent dead. */
	task_t e = util_fork(d);
	CHECK_EQ(e, 5);
	CHECK_KR(task_terminate(d), KERN_SUCCESS);
	CHECK_EQ(harness_task(), 1);            /* d's id, now someone else */
	CHECK_KR(machvm_task_stats(e, &st), KERN_SUCCESS);
	CHECK_EQ(st.parent, 1);
	CHECK(!st.parent_alive);
	/* the live list stays ascending */
	size_t n = 0;
	task_t ids[8];
	CHECK_KR(machvm_task_list(ids, 8, &n), KERN_SUCCESS);
	CHECK_EQ(n, 5);
	for (size_t i = 1; i < n; i++)
		CHECK(ids[i] > ids[i - 1]);
}

/* Creating and terminating never runs out of ids: far more creations than
 * MACHVM_TASK_ID_LIMIT, with a few tasks alive throughout, keep every id
 * below the number of tasks alive at once. */
TEST(task_ids_never_run_out)
{
	task_t keep[3];
	for (int i = 0; i < 3; i++)
		keep[i] = harness_task();
	task_t highest = 0;
	for (uint64_t i = 0; i < (uint64_t)MACHVM_TASK_ID_LIMIT + 1000; i++) {
		task_t a = TASK_NULL;
		if (i % 2)
			CHECK_KR(task_create(TASK_NULL, FALSE, &a), KERN_SUCCESS);
		else
			CHECK_KR(task_create(keep[i % 3], TRUE, &a), KERN_SUCCESS);
		highest = a > highest ? a : highest;
		CHECK_KR(task_terminate(a), KERN_SUCCESS);
	}
	CHECK_EQ(highest, 4);
	CHECK_EQ(util_host_stats().tasks, 3);
}

/* A pinned id is not reused while pinned, and comes back after the unpin. */
TEST(task_pin_keeps_id_dead)
{
	task_t a = harness_task();
	task_t b = harness_task();
	machvm_task_pin_t *pa = machvm_task_pin(a);
	CHECK(pa != NULL);
	CHECK(machvm_task_pin(0x7777) == NULL);
	CHECK_KR(task_terminate(a), KERN_SUCCESS);
	CHECK(machvm_task_pin(a) == NULL);      /* dead: nothing to pin */
	task_t c = harness_task();
	CHECK_EQ(c, 3);                         /* not a: it is pinned */
	CHECK(!machvm_task_alive(a));
	machvm_task_unpin(pa);
	CHECK_EQ(harness_task(), a);
	/* Pinning a live task does not keep it alive: pins are on ids. */
	machvm_task_pin_t *pb = machvm_task_pin(b);
	machvm_task_pin_t *pb2 = machvm_task_pin(b);
	CHECK(pb != NULL && pb2 != NULL);
	CHECK_KR(task_terminate(b), KERN_SUCCESS);
	CHECK(!machvm_task_alive(b));
	machvm_task_unpin(pb);
	CHECK_EQ(harness_task(), 4);            /* still pinned once */
	machvm_task_unpin(pb2);
	CHECK_EQ(harness_task(), b);
	machvm_task_unpin(NULL);
}

/* ---- task_terminate ------------------------------------------------------ */

TEST(task_terminate_frees_everything)
{
	vm_size_t p = util_page_size();
	struct holdings base = holdings();
	CHECK_EQ(base.tasks, 0);
	CHECK_EQ(base.objects, 0);
	CHECK_EQ(base.resident_pages, 0);

	task_t t = harness_task();
	harness_alloc(t, 0x100000, 8 * p);                  /* touched, copy */
	util_fill(t, 0x100000, 8 * p, 0x21);
	harness_alloc(t, 0x200000, 4 * p);                  /* touched, share */
	util_fill(t, 0x200000, 2 * p, 0x22);
	CHECK_KR(vm_inherit(t, 0x200000, 4 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	harness_alloc(t, 0x300000, 4 * p);                  /* untouched */
	harness_alloc(t, 0x400000, 2 * p);                  /* wired */
	CHECK_KR(vm_wire(host_priv_self(), t, 0x400000, 2 * p, RW), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, 0x100000 + p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);

	task_t c = util_fork(t);
	util_fill(c, 0x100000, p, 0x23);                         /* COW in the child */
	util_fill(t, 0x100000 + 2 * p, p, 0x24);                 /* COW in the parent */
	task_t q = harness_task();
	vm_address_t r = 0;
	vm_prot_t cur, max;
	CHECK_KR(vm_remap(q, &r, 2 * p, 0, TRUE, t, 0x200000, FALSE, &cur, &max, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	CHECK_KR(vm_remap(q, &r, 2 * p, 0, TRUE, t, 0x100000 + 4 * p, TRUE, &cur, &max,
	                  VM_INHERIT_COPY), KERN_SUCCESS);

	struct holdings mid = holdings();
	CHECK_EQ(mid.tasks, 3);
	CHECK(mid.objects > 0);
	CHECK(mid.resident_pages > 0);
	CHECK_EQ(mid.wired_pages, 2);

	/* The parent goes first: the others keep their bytes. */
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	EXPECT_FILL(c, 0x100000, p, 0x23);
	EXPECT_FILL(c, 0x100000 + p, 7 * p, 0x21);
	EXPECT_FILL(c, 0x200000, 2 * p, 0x22);
	EXPECT_FILL(c, 0x400000, 2 * p, 0);
	EXPECT_FILL(q, r, 2 * p, 0x21);
	CHECK_EQ(util_host_stats().wired_pages, 0);
	CHECK_KR(task_terminate(c), KERN_SUCCESS);
	EXPECT_FILL(q, r, 2 * p, 0x21);
	CHECK_KR(task_terminate(q), KERN_SUCCESS);

	struct holdings end = holdings();
	CHECK_HOLDINGS(end, base);
}

TEST(task_terminate_frees_a_forked_family)
{
	/* Baseline with a task that stays; a family of forks comes and goes. */
	vm_size_t p = util_page_size();
	task_t keep = harness_task();
	harness_alloc(keep, 0x100000, 4 * p);
	util_fill(keep, 0x100000, 4 * p, 0x31);
	struct holdings base = holdings();

	task_t c1 = util_fork(keep);
	task_t c2 = util_fork(c1);
	util_fill(c2, 0x100000, p, 0x32);
	util_fill(c1, 0x100000 + p, p, 0x33);
	util_fill(keep, 0x100000 + 2 * p, p, 0x34);
	task_t c3 = util_fork(c2);
	util_fill(c3, 0x100000 + 3 * p, p, 0x35);
	CHECK_KR(task_terminate(c2), KERN_SUCCESS);
	CHECK_KR(task_terminate(c1), KERN_SUCCESS);
	EXPECT_FILL(c3, 0x100000, p, 0x32);
	EXPECT_FILL(c3, 0x100000 + p, 2 * p, 0x31);
	EXPECT_FILL(c3, 0x100000 + 3 * p, p, 0x35);
	CHECK_KR(task_terminate(c3), KERN_SUCCESS);

	/* keep wrote a page meanwhile; it writes one more now, which (at the
	 * latest) merges the backing object nobody else uses into its shadow.
	 * Then one object with four pages is all there is. */
	util_fill(keep, 0x100000, 1, 0x31);
	EXPECT_FILL(keep, 0x100000, 2 * p, 0x31);
	EXPECT_FILL(keep, 0x100000 + 2 * p, p, 0x34);
	EXPECT_FILL(keep, 0x100000 + 3 * p, p, 0x31);
	struct holdings end = holdings();
	CHECK_EQ(end.tasks, base.tasks);
	CHECK_EQ(end.entries, base.entries);
	CHECK_EQ(end.virtual_size, base.virtual_size);
	CHECK_EQ(end.objects, 1);
	CHECK_EQ(end.resident_pages, 4);
}

TEST(task_terminated_calls_invalid)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	harness_alloc(t, 0x100000, 2 * p);
	util_fill(t, 0x100000, 2 * p, 0x41);
	task_t live = harness_task();
	harness_alloc(live, 0x100000, p);
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	CHECK(!machvm_task_alive(t));

	util_snap_t before = util_snapshot(live);
	vm_address_t a = 0x100000;
	unsigned char b[16] = { 0 };
	vm_size_t n;
	vm_prot_t cur, max;
	vm_machine_attribute_val_t v = MATTR_VAL_GET;
	CHECK_KR(vm_allocate(t, &a, p, FALSE), KERN_INVALID_ARGUMENT);
	a = 0;
	CHECK_KR(vm_allocate(t, &a, p, TRUE), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_deallocate(t, 0x100000, p), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_protect(t, 0x100000, p, FALSE, VM_PROT_READ), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_inherit(t, 0x100000, p, VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_map_inherit(t, 0x100000, 0x100000 + p, VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
	a = 0;
	vm_size_t sz;
	vm_prot_t pr, mx;
	vm_inherit_t inh;
	boolean_t sh;
	mach_port_t obj;
	vm_offset_t off;
	CHECK_KR(vm_region(t, &a, &sz, &pr, &mx, &inh, &sh, &obj, &off), KERN_INVALID_ARGUMENT);
	vm_region_extended_info_t info;
	a = 0;
	CHECK_KR(vm_region_extended(t, &a, &info), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_machine_attribute(t, 0x100000, p, MATTR_CACHE, &v), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_read(t, 0x100000, 16, b, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_write(t, 0x100000, b, 16, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_copy(t, 0x100000, 16, 0x100000 + p), KERN_INVALID_ARGUMENT);
	a = 0;
	CHECK_KR(vm_remap(t, &a, p, 0, TRUE, live, 0x100000, FALSE, &cur, &max, VM_INHERIT_COPY),
	         KERN_INVALID_ARGUMENT);
	a = 0;
	CHECK_KR(vm_remap(live, &a, p, 0, TRUE, t, 0x100000, TRUE, &cur, &max, VM_INHERIT_COPY),
	         KERN_INVALID_ARGUMENT);
	machvm_task_stats_t st;
	CHECK_KR(machvm_task_stats(t, &st), KERN_INVALID_ARGUMENT);
	CHECK_KR(task_terminate(t), KERN_INVALID_ARGUMENT);
	/* size 0 does not excuse a dead task: the task is checked first */
	CHECK_KR(vm_deallocate(t, 0x100000, 0), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_protect(t, 0x100000, 0, FALSE, VM_PROT_READ), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_read(t, 0x100000, 0, b, &n), KERN_INVALID_ARGUMENT);
	/* vm_wire: KERN_INVALID_TASK, after the host check */
	CHECK_KR(vm_wire(host_priv_self(), t, 0x100000, p, VM_PROT_READ), KERN_INVALID_TASK);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x100000, p, VM_PROT_NONE), KERN_INVALID_TASK);
	CHECK_KR(vm_wire(mach_host_self(), t, 0x100000, p, VM_PROT_READ), KERN_INVALID_HOST);
	/* task_create from it */
	task_t c;
	CHECK_KR(task_create(t, TRUE, &c), KERN_INVALID_TASK);
	/* nothing came back to life, the live task is untouched */
	CHECK(!machvm_task_alive(t));
	CHECK_UNCHANGED(live, before);
	util_snap_free(&before);

	/* the same for ids never handed out, and TASK_NULL */
	task_t never = 5000;
	CHECK_KR(vm_deallocate(never, 0x100000, p), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_read(never, 0x100000, 16, b, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(task_terminate(never), KERN_INVALID_ARGUMENT);
	CHECK_KR(task_terminate(TASK_NULL), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_wire(host_priv_self(), never, 0x100000, p, VM_PROT_READ), KERN_INVALID_TASK);
}

/* ---- fork by inheritance ------------------------------------------------- */

/*
 * Parent layout used by the fork cases (P = page size):
 *   S  0x100000  2P  share, rw-/rwx, holds 0x51
 *   C  0x200000  2P  copy,  rw-/rwx, holds 0x52
 *   N  0x300000  2P  none,  rw-/rwx, holds 0x53
 *   R  0x400000  1P  copy,  r--/r-x, holds 0x54
 *   X  0x500000  1P  share, r-x/rwx, holds 0x55
 */
#define S_ADDR 0x100000
#define C_ADDR 0x200000
#define N_ADDR 0x300000
#define R_ADDR 0x400000
#define X_ADDR 0x500000

static task_t fork_parent(void)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	harness_alloc(t, S_ADDR, 2 * p);
	harness_alloc(t, C_ADDR, 2 * p);
	harness_alloc(t, N_ADDR, 2 * p);
	harness_alloc(t, R_ADDR, p);
	harness_alloc(t, X_ADDR, p);
	util_fill(t, S_ADDR, 2 * p, 0x51);
	util_fill(t, C_ADDR, 2 * p, 0x52);
	util_fill(t, N_ADDR, 2 * p, 0x53);
	util_fill(t, R_ADDR, p, 0x54);
	util_fill(t, X_ADDR, p, 0x55);
	CHECK_KR(vm_inherit(t, S_ADDR, 2 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, N_ADDR, 2 * p, VM_INHERIT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_inherit(t, X_ADDR, p, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, R_ADDR, p, TRUE, RX), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, R_ADDR, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, X_ADDR, p, FALSE, RX), KERN_SUCCESS);
	return t;
}

TEST(task_fork_share_both_directions)
{
	vm_size_t p = util_page_size();
	task_t t = fork_parent();
	task_t c = util_fork(t);
	EXPECT_FILL(c, S_ADDR, 2 * p, 0x51);
	util_fill(t, S_ADDR, 1, 0x61);               /* parent writes after fork */
	EXPECT_FILL(c, S_ADDR, 1, 0x61);
	util_fill(c, S_ADDR + p + 3, 2, 0x62);       /* child writes after fork */
	EXPECT_FILL(t, S_ADDR + p + 3, 2, 0x62);
	util_fill(c, S_ADDR + p - 1, 2, 0x63);       /* across the page boundary */
	EXPECT_FILL(t, S_ADDR + p - 1, 2, 0x63);
	EXPECT_FILL(t, S_ADDR + 1, p - 2, 0x51);
	/* a grandchild by share joins in */
	task_t g = util_fork(c);
	util_fill(g, S_ADDR + 2 * p - 1, 1, 0x64);
	EXPECT_FILL(t, S_ADDR + 2 * p - 1, 1, 0x64);
	EXPECT_FILL(c, S_ADDR + 2 * p - 1, 1, 0x64);
	/* and the sharing survives the parent */
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	util_fill(c, S_ADDR + 10, 1, 0x65);
	EXPECT_FILL(g, S_ADDR + 10, 1, 0x65);
}

TEST(task_fork_copy_both_directions)
{
	vm_size_t p = util_page_size();
	task_t t = fork_parent();
	task_t c = util_fork(t);
	EXPECT_FILL(c, C_ADDR, 2 * p, 0x52);
	util_fill(t, C_ADDR, 1, 0x71);               /* parent writes after fork */
	EXPECT_FILL(c, C_ADDR, 1, 0x52);
	EXPECT_FILL(t, C_ADDR, 1, 0x71);
	util_fill(c, C_ADDR + p + 3, 2, 0x72);       /* child writes after fork */
	EXPECT_FILL(t, C_ADDR + p + 3, 2, 0x52);
	EXPECT_FILL(c, C_ADDR + p + 3, 2, 0x72);
	util_fill(c, C_ADDR, 1, 0x73);               /* both wrote the same page */
	EXPECT_FILL(t, C_ADDR, 1, 0x71);
	EXPECT_FILL(c, C_ADDR, 1, 0x73);
	EXPECT_FILL(t, C_ADDR + 1, 2 * p - 1, 0x52);
	EXPECT_FILL(c, C_ADDR + 1, p - 1, 0x52);
	/* the child's copy outlives the parent */
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	EXPECT_FILL(c, C_ADDR, 1, 0x73);
	EXPECT_FILL(c, C_ADDR + 1, p + 2, 0x52);
	EXPECT_FILL(c, C_ADDR + p + 3, 2, 0x72);
}

TEST(task_fork_copy_untouched_region)
{
	/* A copy region never touched before the fork: both read zeros, writes
	 * stay private on both sides. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	harness_alloc(t, 0x100000, 2 * p);
	task_t c = util_fork(t);
	EXPECT_FILL(c, 0x100000, 2 * p, 0);
	util_fill(t, 0x100000, p, 0x01);
	util_fill(c, 0x100000 + p, p, 0x02);
	EXPECT_FILL(t, 0x100000 + p, p, 0);
	EXPECT_FILL(c, 0x100000, p, 0);
}

TEST(task_fork_none_leaves_hole)
{
	vm_size_t p = util_page_size();
	task_t t = fork_parent();
	task_t c = util_fork(t);
	unsigned char b;
	vm_size_t n;
	CHECK_KR(vm_read(c, N_ADDR, 1, &b, &n), KERN_INVALID_ADDRESS);
	CHECK_KR(vm_write(c, N_ADDR + p, &b, 1, &n), KERN_INVALID_ADDRESS);
	/* vm_region from inside the hole looks forward to R */
	vm_region_extended_info_t r;
	vm_address_t a = N_ADDR;
	CHECK_KR(vm_region_extended(c, &a, &r), KERN_SUCCESS);
	CHECK_EQ(a, R_ADDR);
	CHECK_EQ(r.start, R_ADDR);
	/* the hole can be allocated in the child; the parent keeps N */
	harness_alloc(c, N_ADDR, 2 * p);
	EXPECT_FILL(c, N_ADDR, 2 * p, 0);
	EXPECT_FILL(t, N_ADDR, 2 * p, 0x53);
	CHECK_EQ(util_task_stats(c).regions, util_task_stats(t).regions);
}

TEST(task_fork_keeps_attributes)
{
	/* Protection, max and inheritance of every child entry are the parent's;
	 * the child maps exactly the parent's ranges except the none ones. */
	vm_size_t p = util_page_size();
	task_t t = fork_parent();
	util_snap_t ps = util_snapshot(t);
	task_t c = util_fork(t);
	util_snap_t cs = util_snapshot(c);
	size_t j = 0;
	for (size_t i = 0; i < ps.count; i++) {
		const vm_region_extended_info_t *x = &ps.regions[i];
		if (x->inheritance == VM_INHERIT_NONE)
			continue;
		CHECK(j < cs.count);
		const vm_region_extended_info_t *y = &cs.regions[j++];
		CHECK_EQ(y->start, x->start);
		CHECK_EQ(y->size, x->size);
		CHECK_EQ(y->protection, x->protection);
		CHECK_EQ(y->max_protection, x->max_protection);
		CHECK_EQ(y->inheritance, x->inheritance);
		CHECK_EQ(y->cache, x->cache);
		CHECK_EQ(y->migrate, x->migrate);
		CHECK_EQ(y->replicate, x->replicate);
	}
	CHECK_EQ(j, cs.count);
	CHECK_EQ(cs.count, 4);
	util_snap_free(&ps);
	util_snap_free(&cs);
	CHECK_REGION(c, R_ADDR, p, VM_PROT_READ, RX);
	CHECK_REGION(c, X_ADDR, p, RX, VM_PROT_ALL);
	CHECK_EQ(util_region(c, X_ADDR).inheritance, VM_INHERIT_SHARE);
	EXPECT_FILL(c, R_ADDR, p, 0x54);
	EXPECT_FILL(c, X_ADDR, p, 0x55);
	/* max is enforced in the child too */
	CHECK_KR(vm_protect(c, R_ADDR, p, FALSE, VM_PROT_WRITE), KERN_PROTECTION_FAILURE);
	unsigned char b = 0;
	vm_size_t n;
	CHECK_KR(vm_write(c, R_ADDR, &b, 1, &n), KERN_PROTECTION_FAILURE);
	/* the child's inheritance governs a further fork */
	task_t g = util_fork(c);
	CHECK_KR(vm_read(g, N_ADDR, 1, &b, &n), KERN_INVALID_ADDRESS);
	util_fill(g, S_ADDR, 1, 0x66);
	EXPECT_FILL(t, S_ADDR, 1, 0x66);
}

TEST(task_fork_none_of_part_of_entry)
{
	/* vm_inherit on a middle page splits the entry; only that page is
	 * missing in the child. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	harness_alloc(t, 0x100000, 3 * p);
	util_fill(t, 0x100000, 3 * p, 0x0a);
	CHECK_KR(vm_inherit(t, 0x100000 + p, p, VM_INHERIT_NONE), KERN_SUCCESS);
	task_t c = util_fork(t);
	unsigned char b;
	vm_size_t n;
	EXPECT_FILL(c, 0x100000, p, 0x0a);
	CHECK_KR(vm_read(c, 0x100000 + p, 1, &b, &n), KERN_INVALID_ADDRESS);
	EXPECT_FILL(c, 0x100000 + 2 * p, p, 0x0a);
	/* a read over the hole is short */
	unsigned char *buf = malloc(3 * p);
	CHECK(buf != NULL);
	CHECK_KR(vm_read(c, 0x100000, 3 * p, buf, &n), KERN_SUCCESS);
	CHECK_EQ(n, p);
	free(buf);
}

TEST(task_fork_child_wired_zero)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	harness_alloc(t, 0x100000, 2 * p);
	harness_alloc(t, 0x200000, 2 * p);
	util_fill(t, 0x100000, 2 * p, 0x81);
	CHECK_KR(vm_inherit(t, 0x200000, 2 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x100000, 2 * p, RW), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x100000, 2 * p, RW), KERN_SUCCESS);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x200000, 2 * p, VM_PROT_READ), KERN_SUCCESS);
	task_t c = util_fork(t);
	CHECK_EQ(util_region(c, 0x100000).wired_count, 0);
	CHECK_EQ(util_region(c, 0x200000).wired_count, 0);
	CHECK_EQ(util_task_stats(c).wired_pages, 0);
	CHECK_EQ(util_region(t, 0x100000).wired_count, 2);
	CHECK_EQ(util_region(t, 0x200000).wired_count, 1);
	CHECK_EQ(util_task_stats(t).wired_pages, 4);
	CHECK_EQ(util_host_stats().wired_pages, 4);
	/* unwiring in the child: its entries are not wired */
	CHECK_KR(vm_wire(host_priv_self(), c, 0x100000, 2 * p, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
}

TEST(task_fork_wired_copied_eagerly)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	harness_alloc(t, 0x100000, 3 * p);
	util_fill(t, 0x100000, 3 * p, 0x91);
	CHECK_KR(vm_wire(host_priv_self(), t, 0x100000, 3 * p, RW), KERN_SUCCESS);
	machvm_host_stats_t h0 = util_host_stats();
	task_t c = util_fork(t);
	machvm_host_stats_t h1 = util_host_stats();
	vm_region_extended_info_t rp = util_region(t, 0x100000), rc = util_region(c, 0x100000);
	CHECK(rc.object_id != 0);
	CHECK(rc.object_id != rp.object_id);
	CHECK_EQ(rc.needs_copy, FALSE);
	CHECK_EQ(rp.needs_copy, FALSE);
	CHECK_EQ(rc.resident_pages, 3);
	CHECK_EQ(rc.wired_count, 0);
	CHECK_EQ(rp.wired_count, 1);
	CHECK_EQ(h1.resident_pages, h0.resident_pages + 3);
	CHECK_EQ(h1.pages_copied, h0.pages_copied + 3);
	CHECK_EQ(h1.objects, h0.objects + 1);

	/* no COW left: neither side faults when writing, and they are separate */
	machvm_task_stats_t sp0 = util_task_stats(t), sc0 = util_task_stats(c);
	util_fill(t, 0x100000, p, 0x92);
	util_fill(c, 0x100000 + p, p, 0x93);
	machvm_task_stats_t sp1 = util_task_stats(t), sc1 = util_task_stats(c);
	CHECK_EQ(sp1.faults, sp0.faults);
	CHECK_EQ(sc1.faults, sc0.faults);
	CHECK_EQ(sc1.cow_faults, sc0.cow_faults);
	EXPECT_FILL(t, 0x100000, p, 0x92);
	EXPECT_FILL(t, 0x100000 + p, 2 * p, 0x91);
	EXPECT_FILL(c, 0x100000, p, 0x91);
	EXPECT_FILL(c, 0x100000 + p, p, 0x93);
	EXPECT_FILL(c, 0x100000 + 2 * p, p, 0x91);
}

TEST(task_fork_is_shared_flags)
{
	vm_size_t p = util_page_size();
	task_t t = fork_parent();
	vm_region_extended_info_t r;
	r = util_region(t, S_ADDR);
	CHECK_EQ(r.shared, FALSE);
	task_t c = util_fork(t);
	CHECK_EQ(util_region(t, S_ADDR).shared, TRUE);
	CHECK_EQ(util_region(c, S_ADDR).shared, TRUE);
	CHECK_EQ(util_region(t, X_ADDR).shared, TRUE);
	CHECK_EQ(util_region(c, X_ADDR).shared, TRUE);
	CHECK_EQ(util_region(t, C_ADDR).shared, FALSE);
	CHECK_EQ(util_region(c, C_ADDR).shared, FALSE);
	CHECK_EQ(util_region(t, N_ADDR).shared, FALSE);
	CHECK_EQ(util_region(t, S_ADDR).object_id, util_region(c, S_ADDR).object_id);
	/* kept when the entry is split, and after the child is gone */
	CHECK_KR(vm_protect(t, S_ADDR, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_EQ(util_region(t, S_ADDR).shared, TRUE);
	CHECK_EQ(util_region(t, S_ADDR + p).shared, TRUE);
	CHECK_KR(task_terminate(c), KERN_SUCCESS);
	CHECK_EQ(util_region(t, S_ADDR + p).shared, TRUE);
}

TEST(task_fork_share_untouched_creates_object)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	harness_alloc(t, 0x100000, 2 * p);
	CHECK_KR(vm_inherit(t, 0x100000, 2 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(util_region(t, 0x100000).object_id, 0);
	task_t c = util_fork(t);
	vm_region_extended_info_t rp = util_region(t, 0x100000), rc = util_region(c, 0x100000);
	CHECK(rp.object_id != 0);
	CHECK_EQ(rc.object_id, rp.object_id);
	CHECK_EQ(util_host_stats().resident_pages, 0);
	util_fill(c, 0x100000 + p, 1, 0xa1);
	EXPECT_FILL(t, 0x100000 + p, 1, 0xa1);
	util_fill(t, 0x100000, 1, 0xa2);
	EXPECT_FILL(c, 0x100000, 1, 0xa2);
}

TEST(task_fork_share_modes)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t e = harness_alloc(t, 0x100000, 2 * p);   /* untouched */
	vm_address_t v = harness_alloc(t, 0x200000, 2 * p);   /* private, copy */
	vm_address_t s = harness_alloc(t, 0x300000, 2 * p);   /* shared */
	vm_address_t one = harness_alloc(t, 0x400000, p);     /* copy, one page */
	util_fill(t, v, 2 * p, 1);
	util_fill(t, s, 2 * p, 2);
	util_fill(t, one, p, 3);
	CHECK_KR(vm_inherit(t, s, 2 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_EQ(util_region(t, e).share_mode, SM_EMPTY);
	CHECK_EQ(util_region(t, v).share_mode, SM_PRIVATE);
	CHECK_EQ(util_region(t, v).ref_count, 1);
	CHECK_EQ(util_region(t, s).share_mode, SM_PRIVATE);

	task_t c = util_fork(t);
	/* copy, before any write: cow on both sides */
	CHECK_EQ(util_region(c, v).share_mode, SM_COW);
	CHECK_EQ(util_region(t, v).share_mode, SM_COW);
	CHECK_EQ(util_region(c, v).needs_copy, TRUE);
	CHECK_EQ(util_region(t, v).needs_copy, TRUE);
	CHECK_EQ(util_region(c, v).ref_count, 2);
	/* share: shared on both sides */
	CHECK_EQ(util_region(c, s).share_mode, SM_SHARED);
	CHECK_EQ(util_region(t, s).share_mode, SM_SHARED);
	CHECK_EQ(util_region(c, s).ref_count, 2);
	/* untouched copy region: still empty in both */
	CHECK_EQ(util_region(c, e).share_mode, SM_EMPTY);
	CHECK_EQ(util_region(t, e).share_mode, SM_EMPTY);
	/* the child writes all of a one-page copy region: its own page now */
	util_fill(c, one, p, 4);
	CHECK_EQ(util_region(c, one).share_mode, SM_PRIVATE);
	CHECK_EQ(util_region(c, one).needs_copy, FALSE);
	/* the child writes half of v: cow still (reads through a shadow) */
	util_fill(c, v, 1, 5);
	CHECK_EQ(util_region(c, v).share_mode, SM_COW);
	CHECK_EQ(util_region(c, v).needs_copy, FALSE);
	/* the child touches its empty region: private */
	util_fill(c, e, 1, 6);
	CHECK_EQ(util_region(c, e).share_mode, SM_PRIVATE);
	CHECK_EQ(util_region(t, e).share_mode, SM_EMPTY);
}
