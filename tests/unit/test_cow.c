/*
 * test_cow.c - copy-on-write: fork-of-fork data isolation, the fault
 * counters, shadow chains kept short over many fork/terminate rounds, and
 * the rules that keep sharing and copying apart (a needs_copy entry gets
 * its own shadow before it is shared; a shared entry is copied eagerly).
 */
#include <stdlib.h>
#include "harness.h"
#include "util.h"

#define RW   (VM_PROT_READ | VM_PROT_WRITE)

/* ---- helpers ----------------------------------------------------------- */


/* The three fault counters of a task, or of the host when t is TASK_NULL. */
struct faults {
	uint64_t all, zero_fill, cow;
};

static struct faults faults_of(task_t t)
{
	struct faults f;
	if (t == TASK_NULL) {
		machvm_host_stats_t h = util_host_stats();
		f.all = h.faults;
		f.zero_fill = h.zero_fill_faults;
		f.cow = h.cow_faults;
	} else {
		machvm_task_stats_t s = util_task_stats(t);
		f.all = s.faults;
		f.zero_fill = s.zero_fill_faults;
		f.cow = s.cow_faults;
	}
	return f;
}

/*
 * Runs one access and checks how each counter of task t (and of the host)
 * moved.  what is the description printed on failure.
 */
#define EXPECT_FAULTS(t, d_all, d_zf, d_cow, what, access)              \
	do {                                                            \
		struct faults t0_ = faults_of(t), h0_ = faults_of(TASK_NULL); \
		access;                                                 \
		struct faults t1_ = faults_of(t), h1_ = faults_of(TASK_NULL); \
		if (t1_.all - t0_.all != (d_all) || t1_.zero_fill - t0_.zero_fill != (d_zf) || \
		    t1_.cow - t0_.cow != (d_cow))                       \
			harness_fail(__FILE__, __LINE__,                \
			             "%s: faults +%llu zero_fill +%llu cow +%llu, " \
			             "want +%d +%d +%d", what,          \
			             (unsigned long long)(t1_.all - t0_.all), \
			             (unsigned long long)(t1_.zero_fill - t0_.zero_fill), \
			             (unsigned long long)(t1_.cow - t0_.cow), \
			             (d_all), (d_zf), (d_cow));         \
		if (h1_.all - h0_.all != t1_.all - t0_.all ||           \
		    h1_.zero_fill - h0_.zero_fill != t1_.zero_fill - t0_.zero_fill || \
		    h1_.cow - h0_.cow != t1_.cow - t0_.cow)             \
			harness_fail(__FILE__, __LINE__,                \
			             "%s: host counters moved differently from the task's", \
			             what);                             \
	} while (0)

static unsigned char rd(task_t t, vm_address_t a)
{
	return util_read_byte(t, a);
}

static void wr(task_t t, vm_address_t a, unsigned char v)
{
	util_write_byte(t, a, v);
}

/* ---- fork of fork --------------------------------------------------------- */

TEST(cow_three_generations)
{
	/* Five pages; page 0 is written before any fork and never again, page 4
	 * is never written at all. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t g1 = harness_task();
	harness_alloc(g1, a, 5 * p);
	util_fill(g1, a, 4 * p, 'A');

	task_t g2 = util_fork(g1);
	util_fill(g2, a + p, p, 'B');                /* g2 writes before forking g3 */
	task_t g3 = util_fork(g2);
	util_fill(g3, a + 2 * p, p, 'C');            /* g3 writes */
	util_fill(g1, a + 3 * p, p, 'a');            /* g1 writes after both forks */
	util_fill(g2, a + 2 * p, p, 'b');            /* g2 writes after forking g3 */
	util_fill(g3, a + 3 * p + 100, 1, 'c');      /* g3 writes where g1 did */

	EXPECT_FILL(g1, a, 3 * p, 'A');
	EXPECT_FILL(g1, a + 3 * p, p, 'a');
	EXPECT_FILL(g2, a, p, 'A');
	EXPECT_FILL(g2, a + p, p, 'B');
	EXPECT_FILL(g2, a + 2 * p, p, 'b');
	EXPECT_FILL(g2, a + 3 * p, p, 'A');
	EXPECT_FILL(g3, a, p, 'A');
	EXPECT_FILL(g3, a + p, p, 'B');
	EXPECT_FILL(g3, a + 2 * p, p, 'C');
	EXPECT_FILL(g3, a + 3 * p, 100, 'A');
	EXPECT_FILL(g3, a + 3 * p + 100, 1, 'c');
	EXPECT_FILL(g3, a + 3 * p + 101, p - 101, 'A');
	task_t all[3] = { g1, g2, g3 };
	for (int i = 0; i < 3; i++)
		EXPECT_FILL(all[i], a + 4 * p, p, 0);

	/* the middle generation goes: the others keep everything */
	CHECK_KR(task_terminate(g2), KERN_SUCCESS);
	EXPECT_FILL(g3, a, p, 'A');
	EXPECT_FILL(g3, a + p, p, 'B');
	EXPECT_FILL(g3, a + 2 * p, p, 'C');
	EXPECT_FILL(g1, a + p, 2 * p, 'A');
	/* and later writes still do not cross */
	util_fill(g3, a, 1, 'x');
	util_fill(g1, a + p, 1, 'y');
	EXPECT_FILL(g1, a, 1, 'A');
	EXPECT_FILL(g3, a + p, 1, 'B');
	/* everything goes back */
	CHECK_KR(task_terminate(g1), KERN_SUCCESS);
	EXPECT_FILL(g3, a + 1, p - 1, 'A');
	CHECK_KR(task_terminate(g3), KERN_SUCCESS);
	machvm_host_stats_t h = util_host_stats();
	CHECK_EQ(h.objects, 0);
	CHECK_EQ(h.resident_pages, 0);
	CHECK_EQ(h.entries, 0);
}

TEST(cow_fork_of_fork_untouched_in_between)
{
	/* Nobody in the middle writes: the grandchild still reads the original,
	 * and a write in the grandparent after that is not seen below it. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t g1 = harness_task();
	harness_alloc(g1, a, 2 * p);
	util_fill(g1, a, 2 * p, 0x10);
	task_t g2 = util_fork(g1);
	task_t g3 = util_fork(g2);
	task_t g4 = util_fork(g3);
	util_fill(g1, a, p, 0x11);
	util_fill(g4, a + p, p, 0x14);
	EXPECT_FILL(g2, a, 2 * p, 0x10);
	EXPECT_FILL(g3, a, 2 * p, 0x10);
	EXPECT_FILL(g4, a, p, 0x10);
	EXPECT_FILL(g1, a + p, p, 0x10);
	CHECK(util_task_stats(g4).max_shadow_depth <= 2);
}

/* ---- fault counters -------------------------------------------------------- */

TEST(cow_fault_counters_zero_fill)
{
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t t = harness_task();
	harness_alloc(t, a, 4 * p);
	struct faults f0 = faults_of(t);
	CHECK_EQ(f0.all, 0);
	CHECK_EQ(f0.zero_fill, 0);
	CHECK_EQ(f0.cow, 0);

	EXPECT_FAULTS(t, 1, 1, 0, "first write of page 0", wr(t, a + 5, 1));
	EXPECT_FAULTS(t, 0, 0, 0, "second write of page 0", wr(t, a + 6, 2));
	EXPECT_FAULTS(t, 0, 0, 0, "read of page 0", rd(t, a + 7));
	EXPECT_FAULTS(t, 1, 1, 0, "read of untouched page 1", CHECK_EQ(rd(t, a + p), 0));
	/* a read allocates nothing, so the next read faults again */
	EXPECT_FAULTS(t, 1, 1, 0, "second read of untouched page 1", CHECK_EQ(rd(t, a + p + 1), 0));
	CHECK_EQ(util_task_stats(t).resident_pages, 1);
	/* one read over pages 0..2: two faults */
	unsigned char buf[3 * 4096];
	vm_size_t n;
	EXPECT_FAULTS(t, 2, 2, 0, "read over pages 0-2",
	              CHECK_KR(vm_read(t, a + p / 2, 2 * p, buf, &n), KERN_SUCCESS));
	/* one write across the page 1/2 boundary: two faults */
	unsigned char three[3] = { 7, 8, 9 };
	EXPECT_FAULTS(t, 2, 2, 0, "write across pages 1-2",
	              CHECK_KR(vm_write(t, a + 2 * p - 1, three, 3, &n), KERN_SUCCESS));
	EXPECT_FAULTS(t, 0, 0, 0, "read of pages 0-2, all resident",
	              CHECK_KR(vm_read(t, a, 3 * p, buf, &n), KERN_SUCCESS));
	CHECK_EQ(util_task_stats(t).resident_pages, 3);
}

TEST(cow_fault_counters_after_fork)
{
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t t = harness_task();
	harness_alloc(t, a, 4 * p);
	util_fill(t, a, 3 * p, 0x21);                 /* pages 0-2 written, page 3 not */
	machvm_host_stats_t h0 = util_host_stats();
	task_t c = util_fork(t);
	struct faults f = faults_of(c);
	CHECK_EQ(f.all, 0);
	CHECK_EQ(f.zero_fill, 0);
	CHECK_EQ(f.cow, 0);
	/* fork itself copies nothing and takes no fault */
	machvm_host_stats_t h1 = util_host_stats();
	CHECK_EQ(h1.pages_copied, h0.pages_copied);
	CHECK_EQ(h1.resident_pages, h0.resident_pages);
	CHECK_EQ(h1.faults, h0.faults);

	/* the child's entry maps the parent's object (needs_copy): reading a
	 * page that is there takes no fault */
	EXPECT_FAULTS(c, 0, 0, 0, "child read of a shared page", CHECK_EQ(rd(c, a), 0x21));
	/* a page that exists nowhere: zero fill, nothing allocated */
	EXPECT_FAULTS(c, 1, 1, 0, "child read of a never-written page", CHECK_EQ(rd(c, a + 3 * p), 0));

	/* first child write: a shadow, one page copied up */
	h0 = util_host_stats();
	EXPECT_FAULTS(c, 1, 0, 1, "child first write", wr(c, a, 0x22));
	h1 = util_host_stats();
	CHECK_EQ(h1.shadows_created, h0.shadows_created + 1);
	CHECK_EQ(h1.pages_copied, h0.pages_copied + 1);
	CHECK_EQ(h1.resident_pages, h0.resident_pages + 1);
	EXPECT_FAULTS(c, 0, 0, 0, "child second write of the same page", wr(c, a + 1, 0x23));
	EXPECT_FAULTS(c, 0, 0, 0, "child read of its own page", CHECK_EQ(rd(c, a + 1), 0x23));
	/* now page 1 is only in the backing object */
	EXPECT_FAULTS(c, 1, 0, 0, "child read through the shadow", CHECK_EQ(rd(c, a + p), 0x21));
	EXPECT_FAULTS(c, 1, 0, 1, "child write of a backing page", wr(c, a + p, 0x24));
	/* a page nowhere in the chain: zero fill, not cow */
	EXPECT_FAULTS(c, 1, 1, 0, "child write of a never-written page", wr(c, a + 3 * p, 0x25));

	/* the parent is needs_copy as well: its first write is a cow fault */
	EXPECT_FAULTS(t, 1, 0, 1, "parent first write after fork", wr(t, a + 2 * p, 0x26));
	EXPECT_FAULTS(t, 0, 0, 0, "parent second write", wr(t, a + 2 * p + 1, 0x27));
	EXPECT_FAULTS(t, 1, 0, 1, "parent write of another page", wr(t, a + p + 9, 0x28));

	/* what each side sees */
	CHECK_EQ(rd(t, a), 0x21);
	CHECK_EQ(rd(t, a + p), 0x21);
	CHECK_EQ(rd(t, a + p + 9), 0x28);
	CHECK_EQ(rd(t, a + 2 * p), 0x26);
	CHECK_EQ(rd(t, a + 3 * p), 0);
	CHECK_EQ(rd(c, a), 0x22);
	CHECK_EQ(rd(c, a + p), 0x24);
	CHECK_EQ(rd(c, a + p + 9), 0x21);
	CHECK_EQ(rd(c, a + 2 * p), 0x21);
	CHECK_EQ(rd(c, a + 3 * p), 0x25);
}

TEST(cow_no_faults_after_wire)
{
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t t = harness_task();
	harness_alloc(t, a, 3 * p);
	util_fill(t, a, p, 0x31);
	CHECK_KR(vm_wire(host_priv_self(), t, a, 3 * p, RW), KERN_SUCCESS);
	CHECK_EQ(util_task_stats(t).resident_pages, 3);
	unsigned char buf[3 * 4096];
	vm_size_t n;
	EXPECT_FAULTS(t, 0, 0, 0, "read of a wired range",
	              CHECK_KR(vm_read(t, a, 3 * p, buf, &n), KERN_SUCCESS));
	EXPECT_FAULTS(t, 0, 0, 0, "write of a wired range", util_fill(t, a + 10, 3 * p - 20, 0x32));

	/* A fork child (copy) that wires its range: COW is resolved by the wiring,
	 * later accesses take no faults and the sides stay apart. */
	vm_address_t b = 0x200000;
	harness_alloc(t, b, 2 * p);
	util_fill(t, b, 2 * p, 0x33);
	task_t c = util_fork(t);
	CHECK_KR(vm_wire(host_priv_self(), c, b, 2 * p, VM_PROT_READ | VM_PROT_WRITE), KERN_SUCCESS);
	EXPECT_FAULTS(c, 0, 0, 0, "child write after wiring", util_fill(c, b, 2 * p, 0x34));
	EXPECT_FILL(t, b, 2 * p, 0x33);
	util_fill(t, b + p, 1, 0x35);
	EXPECT_FILL(c, b + p, 1, 0x34);
	/* the wired range of the parent was copied eagerly into the child */
	EXPECT_FILL(c, a + 10, 1, 0x32);
}

/* ---- keeping chains short ------------------------------------------------ */

#define ROUNDS 1000

TEST(cow_collapse_parent_forks_many_children)
{
	/* A long-lived parent: each round it writes, forks a child, the child
	 * writes, the child is terminated.  Chains must stay short and nothing
	 * may be left behind. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t t = harness_task();
	harness_alloc(t, a, 4 * p);
	util_fill(t, a, 4 * p, 0);
	unsigned char model[4] = { 0, 0, 0, 0 };
	uint64_t deepest = 0;
	for (int i = 0; i < ROUNDS; i++) {
		int pw = i % 4, cw = (i + 1) % 4;
		unsigned char v = (unsigned char)(i * 7 + 1);
		util_fill(t, a + pw * p, p, v);
		model[pw] = v;
		task_t c = util_fork(t);
		util_fill(c, a + cw * p + (i % 64), 1, (unsigned char)~v);
		/* the child sees the parent's bytes, the parent not the child's */
		CHECK_EQ(rd(c, a + pw * p + 5), v);
		CHECK_EQ(rd(c, a + cw * p + (i % 64)), (unsigned char)~v);
		CHECK_EQ(rd(t, a + cw * p + (i % 64)), model[cw]);
		machvm_task_stats_t st = util_task_stats(t), sc = util_task_stats(c);
		if (st.max_shadow_depth > deepest)
			deepest = st.max_shadow_depth;
		if (sc.max_shadow_depth > deepest)
			deepest = sc.max_shadow_depth;
		if (st.max_shadow_depth > 2 || sc.max_shadow_depth > 2)
			harness_fail(__FILE__, __LINE__,
			             "round %d: max_shadow_depth parent %llu child %llu (want <= 2)",
			             i, (unsigned long long)st.max_shadow_depth,
			             (unsigned long long)sc.max_shadow_depth);
		CHECK_KR(task_terminate(c), KERN_SUCCESS);
		machvm_host_stats_t h = util_host_stats();
		if (h.objects > 3 || h.resident_pages > 4 + 2 * 4)
			harness_fail(__FILE__, __LINE__,
			             "round %d: %llu objects, %llu resident pages after the child went",
			             i, (unsigned long long)h.objects,
			             (unsigned long long)h.resident_pages);
	}
	for (int pg = 0; pg < 4; pg++)
		EXPECT_FILL(t, a + pg * p, p, model[pg]);
	/* one task, one entry, four pages of data: one object, four pages */
	machvm_host_stats_t h = util_host_stats();
	CHECK_EQ(h.tasks, 1);
	CHECK_EQ(h.objects, 1);
	CHECK_EQ(h.resident_pages, 4);
	machvm_task_stats_t st = util_task_stats(t);
	CHECK_EQ(st.objects, 1);
	CHECK_EQ(st.resident_pages, 4);
	CHECK(st.max_shadow_depth <= 1);
	CHECK(deepest <= 2);
}

TEST(cow_collapse_chain_of_generations)
{
	/* A fork chain: each generation writes, forks the next, the next writes,
	 * and the older one is terminated (like a shell that execs nothing).
	 * Each generation rewrites the page its parent let it write, so a page
	 * fault alone would not shorten the chain. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t cur = harness_task();
	harness_alloc(cur, a, 4 * p);
	util_fill(cur, a, 4 * p, 0);
	unsigned char model[4] = { 0, 0, 0, 0 };
	for (int i = 0; i < ROUNDS; i++) {
		int w = i % 4, nw = (i + 1) % 4;
		unsigned char v = (unsigned char)(i * 13 + 5);
		util_fill(cur, a + w * p, p, v);
		model[w] = v;
		task_t next = util_fork(cur);
		unsigned char nv = (unsigned char)(v ^ 0x5a);
		util_fill(next, a + nw * p, p, nv);
		CHECK_EQ(rd(cur, a + nw * p), model[nw]);
		model[nw] = nv;
		CHECK_KR(task_terminate(cur), KERN_SUCCESS);
		cur = next;
		machvm_task_stats_t st = util_task_stats(cur);
		if (st.max_shadow_depth > 2)
			harness_fail(__FILE__, __LINE__, "round %d: max_shadow_depth %llu (want <= 2)",
			             i, (unsigned long long)st.max_shadow_depth);
		machvm_host_stats_t h = util_host_stats();
		if (h.objects > 3 || h.resident_pages > 4 + 2 * 4)
			harness_fail(__FILE__, __LINE__,
			             "round %d: %llu objects, %llu resident pages for one task of 4 pages",
			             i, (unsigned long long)h.objects,
			             (unsigned long long)h.resident_pages);
	}
	/* A write of a page not in the top object gives a lazy engine its
	 * chance to collapse too; after it, one object with four pages. */
	int last = (ROUNDS + 1) % 4;
	util_fill(cur, a + last * p, 1, 0xee);
	model[last] = 0xee;
	CHECK_EQ(rd(cur, a + last * p), 0xee);
	for (int pg = 0; pg < 4; pg++) {
		if (pg == last)
			continue;
		EXPECT_FILL(cur, a + pg * p, p, model[pg]);
	}
	machvm_host_stats_t h = util_host_stats();
	CHECK_EQ(h.tasks, 1);
	CHECK_EQ(h.objects, 1);
	CHECK_EQ(h.resident_pages, 4);
	CHECK_EQ(util_task_stats(cur).max_shadow_depth, 0);
}

TEST(cow_collapse_counts_show_work)
{
	/* A backing object left with only its shadow is merged or skipped: the
	 * host counts it. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t t = harness_task();
	harness_alloc(t, a, 2 * p);
	util_fill(t, a, 2 * p, 1);
	machvm_host_stats_t h0 = util_host_stats();
	for (int i = 0; i < 10; i++) {
		task_t c = util_fork(t);
		util_fill(c, a, 1, 2);          /* c: shadow over t's object */
		util_fill(t, a + p, 1, 3);      /* t: shadow too (object has two refs) */
		CHECK_KR(task_terminate(c), KERN_SUCCESS);
		util_fill(t, a, 1, 4);
	}
	machvm_host_stats_t h1 = util_host_stats();
	CHECK(h1.shadows_created > h0.shadows_created);
	CHECK(h1.collapses + h1.bypasses > h0.collapses + h0.bypasses);
	CHECK_EQ(h1.objects, 1);
	CHECK_EQ(h1.resident_pages, 2);
}

/* ---- sharing and copying kept apart -------------------------------------- */

TEST(cow_needs_copy_gets_own_shadow_before_share)
{
	/* P copy-forks C1 (both needs_copy on one object), then makes the range
	 * share and forks C2.  P and C2 must see each other; C1 must not. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t pt = harness_task();
	harness_alloc(pt, a, 2 * p);
	util_fill(pt, a, 2 * p, 0x40);
	task_t c1 = util_fork(pt);
	CHECK_EQ(util_region(pt, a).needs_copy, TRUE);
	CHECK_KR(vm_inherit(pt, a, 2 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	task_t c2 = util_fork(pt);

	vm_region_extended_info_t rp = util_region(pt, a), r1 = util_region(c1, a),
	                          r2 = util_region(c2, a);
	CHECK_EQ(rp.needs_copy, FALSE);
	CHECK_EQ(r2.needs_copy, FALSE);
	CHECK_EQ(rp.shared, TRUE);
	CHECK_EQ(r2.shared, TRUE);
	CHECK_EQ(r1.shared, FALSE);
	CHECK_EQ(rp.object_id, r2.object_id);
	CHECK(rp.object_id != r1.object_id);

	util_fill(c2, a, 1, 0x41);                   /* C2 writes */
	EXPECT_FILL(pt, a, 1, 0x41);
	EXPECT_FILL(c1, a, 1, 0x40);
	util_fill(pt, a + p, 1, 0x42);               /* P writes */
	EXPECT_FILL(c2, a + p, 1, 0x42);
	EXPECT_FILL(c1, a + p, 1, 0x40);
	util_fill(c1, a + 1, 1, 0x43);               /* C1 writes */
	EXPECT_FILL(pt, a + 1, 1, 0x40);
	EXPECT_FILL(c2, a + 1, 1, 0x40);
	EXPECT_FILL(c1, a, 1, 0x40);
	EXPECT_FILL(c1, a + 2, 2 * p - 2, 0x40);
	/* C1 going away changes nothing for the sharers */
	CHECK_KR(task_terminate(c1), KERN_SUCCESS);
	util_fill(c2, a + p + 1, 1, 0x44);
	EXPECT_FILL(pt, a + p + 1, 1, 0x44);
	EXPECT_FILL(pt, a, 1, 0x41);
}

TEST(cow_needs_copy_child_shares_with_grandchild)
{
	/* The same rule from the child's side: C1 (needs_copy after the fork)
	 * sets share and forks G; G and C1 share, P sees neither. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t pt = harness_task();
	harness_alloc(pt, a, p);
	util_fill(pt, a, p, 0x50);
	task_t c1 = util_fork(pt);
	CHECK_KR(vm_inherit(c1, a, p, VM_INHERIT_SHARE), KERN_SUCCESS);
	task_t g = util_fork(c1);
	util_fill(g, a, 1, 0x51);
	EXPECT_FILL(c1, a, 1, 0x51);
	EXPECT_FILL(pt, a, 1, 0x50);
	util_fill(c1, a + 1, 1, 0x52);
	EXPECT_FILL(g, a + 1, 1, 0x52);
	EXPECT_FILL(pt, a + 1, 1, 0x50);
	util_fill(pt, a + 2, 1, 0x53);
	EXPECT_FILL(c1, a + 2, 1, 0x50);
	EXPECT_FILL(g, a + 2, 1, 0x50);
}

TEST(cow_shared_region_copy_fork_is_eager)
{
	/* P shares with C1; then P copy-forks C2.  P's entry is written through
	 * by C1, so C2 must get its own copy at once; P and C1 keep sharing. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t pt = harness_task();
	harness_alloc(pt, a, 3 * p);
	util_fill(pt, a, 3 * p, 0x60);
	CHECK_KR(vm_inherit(pt, a, 3 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	task_t c1 = util_fork(pt);
	CHECK_KR(vm_inherit(pt, a, 3 * p, VM_INHERIT_COPY), KERN_SUCCESS);
	machvm_host_stats_t h0 = util_host_stats();
	task_t c2 = util_fork(pt);
	machvm_host_stats_t h1 = util_host_stats();

	vm_region_extended_info_t rp = util_region(pt, a), r1 = util_region(c1, a),
	                          r2 = util_region(c2, a);
	CHECK_EQ(rp.needs_copy, FALSE);
	CHECK_EQ(r1.needs_copy, FALSE);
	CHECK_EQ(r2.needs_copy, FALSE);
	CHECK_EQ(rp.object_id, r1.object_id);
	CHECK(r2.object_id != 0);
	CHECK(r2.object_id != rp.object_id);
	CHECK_EQ(r2.shared, FALSE);
	CHECK_EQ(r2.resident_pages, 3);
	CHECK_EQ(h1.pages_copied, h0.pages_copied + 3);
	CHECK_EQ(h1.resident_pages, h0.resident_pages + 3);

	EXPECT_FILL(c2, a, 3 * p, 0x60);
	util_fill(pt, a, 1, 0x61);                   /* P writes: C1 sees, C2 not */
	EXPECT_FILL(c1, a, 1, 0x61);
	EXPECT_FILL(c2, a, 1, 0x60);
	util_fill(c1, a + p, 1, 0x62);               /* C1 writes: P sees, C2 not */
	EXPECT_FILL(pt, a + p, 1, 0x62);
	EXPECT_FILL(c2, a + p, 1, 0x60);
	util_fill(c2, a + 2 * p, 1, 0x63);           /* C2 writes: neither sees */
	EXPECT_FILL(pt, a + 2 * p, 1, 0x60);
	EXPECT_FILL(c1, a + 2 * p, 1, 0x60);
	/* C2's pages are its own: writing them takes no cow fault */
	EXPECT_FAULTS(c2, 0, 0, 0, "eager copy child write", wr(c2, a + 5, 0x64));
}

TEST(cow_remap_shared_then_copy_fork_is_eager)
{
	/* Sharing by vm_remap counts too: a copy fork of the shared source gets
	 * its own pages; the remap keeps sharing with the source. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t s = harness_task(), t = harness_task();
	harness_alloc(s, a, 2 * p);
	util_fill(s, a, 2 * p, 0x70);
	vm_address_t b = 0;
	vm_prot_t cur, max;
	CHECK_KR(vm_remap(t, &b, 2 * p, 0, TRUE, s, a, FALSE, &cur, &max, VM_INHERIT_COPY),
	         KERN_SUCCESS);
	task_t c = util_fork(s);
	CHECK_EQ(util_region(s, a).needs_copy, FALSE);
	CHECK(util_region(c, a).object_id != util_region(s, a).object_id);
	util_fill(t, b, 1, 0x71);
	EXPECT_FILL(s, a, 1, 0x71);
	EXPECT_FILL(c, a, 1, 0x70);
	util_fill(s, a + p, 1, 0x72);
	EXPECT_FILL(t, b + p, 1, 0x72);
	EXPECT_FILL(c, a + p, 1, 0x70);
	util_fill(c, a + 1, 1, 0x73);
	EXPECT_FILL(s, a + 1, 1, 0x70);
	EXPECT_FILL(t, b + 1, 1, 0x70);
}

TEST(cow_copy_of_shared_copy_fork_from_sharer)
{
	/* The sharer side (C1, whose entry is is_shared from the share fork)
	 * copy-forks: its child is isolated from both sharers. */
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	task_t pt = harness_task();
	harness_alloc(pt, a, p);
	util_fill(pt, a, p, 0x80);
	CHECK_KR(vm_inherit(pt, a, p, VM_INHERIT_SHARE), KERN_SUCCESS);
	task_t c1 = util_fork(pt);
	CHECK_KR(vm_inherit(c1, a, p, VM_INHERIT_COPY), KERN_SUCCESS);
	task_t g = util_fork(c1);
	util_fill(pt, a, 1, 0x81);
	EXPECT_FILL(c1, a, 1, 0x81);
	EXPECT_FILL(g, a, 1, 0x80);
	util_fill(g, a + 1, 1, 0x82);
	EXPECT_FILL(pt, a + 1, 1, 0x80);
	EXPECT_FILL(c1, a + 1, 1, 0x80);
}
