/*
 * test_fs_events.c - the daemon's events log (src/fs/events.c) alone: the
 * exact line of every call kind, stream sizes, reads at any offset, the
 * missed line and the shift after it, poll and its wake-ups, the end of a
 * task's stream, concurrent records and reads, and the memory bound.
 *
 * Reports are built by hand, so these cases do not depend on the engine's
 * reporting; the engine's host (started by the harness) is not used.
 */
#include "harness.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>

#include "../../src/fs/events.h"
#include "../../src/fs/render.h"

#define N(a) (sizeof (a) / sizeof (a)[0])

#define CHECK_STR(got, want)                                            \
	do { const char *g_ = (got), *w_ = (want);                      \
	     if (strcmp(g_, w_) != 0) harness_fail(__FILE__, __LINE__,  \
	         "\n got: %s\nwant: %s", g_, w_); } while (0)

/* ---- helpers -------------------------------------------------------- */

static struct machvm_report
mk(machvm_call_t call, kern_return_t kr, task_t task)
{
	struct machvm_report r;

	memset(&r, 0, sizeof r);
	r.call = call;
	r.kr = kr;
	r.args.task = task;
	return r;
}

static void
range(struct machvm_report *r, vm_address_t start, vm_address_t end)
{
	r->args.has_range = TRUE;
	r->args.start = start;
	r->args.end = end;
}

static struct machvm_change
ch(machvm_change_kind_t kind, task_t task, vm_address_t start, vm_address_t end)
{
	struct machvm_change c;

	memset(&c, 0, sizeof c);
	c.kind = kind;
	c.task = task;
	c.start = start;
	c.end = end;
	return c;
}

static struct machvm_change
ch_at(machvm_change_kind_t kind, task_t task, vm_address_t at, vm_address_t to)
{
	struct machvm_change c = ch(kind, task, 0, 0);

	c.at = at;
	c.to = to;
	return c;
}

static struct machvm_change
ch_n(machvm_change_kind_t kind, task_t task, vm_address_t start, vm_address_t end,
     uint64_t count)
{
	struct machvm_change c = ch(kind, task, start, end);

	c.count = count;
	return c;
}

static struct machvm_change
ch_obj(machvm_change_kind_t kind, uint64_t object, uint64_t object2)
{
	struct machvm_change c = ch(kind, TASK_NULL, 0, 0);

	c.object = object;
	c.object2 = object2;
	return c;
}

#define SET_CHANGES(r, arr) ((r).changes = (arr), (r).nchanges = N(arr))

/* The bytes a read returns, NUL-terminated (the caller frees). */
static char *
rd_read(struct fs_events_reader *rd, uint64_t off, size_t size, size_t *len)
{
	struct fs_buf b;
	char *s;

	memset(&b, 0, sizeof b);
	CHECK_EQ(fs_events_read(rd, off, size, &b), 0);
	s = malloc(b.len + 1);
	CHECK(s != NULL);
	if (b.len)
		memcpy(s, b.data, b.len);
	s[b.len] = '\0';
	if (len)
		*len = b.len;
	free(b.data);
	return s;
}

/* Everything a fresh reader of stream reads from offset 0. */
static char *
read_all(task_t stream)
{
	struct fs_events_reader *rd = fs_events_open(stream);
	char *s;

	CHECK(rd != NULL);
	s = rd_read(rd, 0, 1 << 24, NULL);
	fs_events_close(rd);
	return s;
}

/* Records r and returns its host line (static buffer). */
static const char *
logged(const struct machvm_report *r)
{
	static char line[8192];
	uint64_t before = fs_events_size(TASK_NULL);
	struct fs_events_reader *rd;
	size_t n;
	char *s;

	fs_events_record(r);
	rd = fs_events_open(TASK_NULL);
	CHECK(rd != NULL);
	s = rd_read(rd, before, 1 << 20, &n);
	fs_events_close(rd);
	CHECK(n < sizeof line);
	CHECK_EQ(n, fs_events_size(TASK_NULL) - before);
	memcpy(line, s, n + 1);
	free(s);
	return line;
}

/* A vm_write line on task t: "<seq> vm_write task=<t> address=0x10000 size=1 count=1 ..." */
static void
rec_write(task_t t)
{
	struct machvm_report r = mk(MACHVM_CALL_VM_WRITE, KERN_SUCCESS, t);
	struct machvm_change c[] = { ch(MACHVM_CHANGE_CONTENTS, t, 0x10000, 0x10001) };

	r.args.address = 0x10000;
	r.args.size = r.args.count = 1;
	SET_CHANGES(r, c);
	fs_events_record(&r);
}

static uint64_t
count_lines(const char *s)
{
	uint64_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The seq of the first line of s. */
static uint64_t
first_seq(const char *s)
{
	return strtoull(s, NULL, 10);
}

/* ---- lines ---------------------------------------------------------- */

TEST(line_task_create)
{
	struct machvm_report r;

	CHECK_EQ(fs_events_init(100), 0);

	r = mk(MACHVM_CALL_TASK_CREATE, KERN_SUCCESS, TASK_NULL);
	r.args.other = 1;
	struct machvm_change c1[] = { ch_n(MACHVM_CHANGE_TASK_CREATED, 1, 0, 0, 0) };
	SET_CHANGES(r, c1);
	CHECK_STR(logged(&r), "1 task_create task=1 parent=none inherit_memory=FALSE "
	          "kr=KERN_SUCCESS changes=task_created:1*0\n");

	/* A fork: in the parent's and the child's stream. */
	r = mk(MACHVM_CALL_TASK_CREATE, KERN_SUCCESS, 1);
	r.args.flag = TRUE;
	r.args.other = 2;
	struct machvm_change c2[] = {
		ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x10000, 0x14000),
		ch_obj(MACHVM_CHANGE_OBJECT_SHADOWED, 4, 3),
		ch_n(MACHVM_CHANGE_TASK_CREATED, 2, 0x10000, 0x20000, 3),
	};
	SET_CHANGES(r, c2);
	CHECK_STR(logged(&r), "2 task_create task=2 parent=1 inherit_memory=TRUE "
	          "kr=KERN_SUCCESS changes=attributes[1]:0x10000-0x14000,"
	          "object_shadowed:4/3,task_created:2*3\n");

	/* A failed fork of a dead parent: no stream state for it. */
	r = mk(MACHVM_CALL_TASK_CREATE, KERN_INVALID_TASK, 9);
	r.args.flag = TRUE;
	CHECK_STR(logged(&r), "3 task_create task=none parent=9 inherit_memory=TRUE "
	          "kr=KERN_INVALID_TASK changes=-\n");
	CHECK_EQ(fs_events_size(9), 0);
	CHECK_EQ(fs_events_streams(), 2);

	char *t1 = read_all(1), *t2 = read_all(2);
	CHECK_STR(t1, "1 task_create task=1 parent=none inherit_memory=FALSE "
	          "kr=KERN_SUCCESS changes=task_created:1*0\n"
	          "2 task_create task=2 parent=1 inherit_memory=TRUE "
	          "kr=KERN_SUCCESS changes=attributes[1]:0x10000-0x14000,"
	          "object_shadowed:4/3,task_created:2*3\n");
	CHECK_STR(t2, "2 task_create task=2 parent=1 inherit_memory=TRUE "
	          "kr=KERN_SUCCESS changes=attributes[1]:0x10000-0x14000,"
	          "object_shadowed:4/3,task_created:2*3\n");
	free(t1);
	free(t2);
	fs_events_fini();
}

TEST(line_task_terminate)
{
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_report r = mk(MACHVM_CALL_TASK_TERMINATE, KERN_SUCCESS, 2);
	struct machvm_change c[] = {
		ch_n(MACHVM_CHANGE_TASK_TERMINATED, 2, 0x10000, 0x20000, 5),
		ch_obj(MACHVM_CHANGE_OBJECT_DESTROYED, 3, 0),
	};
	SET_CHANGES(r, c);
	CHECK_STR(logged(&r), "1 task_terminate task=2 kr=KERN_SUCCESS "
	          "changes=task_terminated:2*5,object_destroyed:3\n");

	r = mk(MACHVM_CALL_TASK_TERMINATE, KERN_INVALID_ARGUMENT, 77);
	CHECK_STR(logged(&r), "2 task_terminate task=77 kr=KERN_INVALID_ARGUMENT changes=-\n");
	/* Both streams are gone: 2 ended unread, 77 never got state. */
	CHECK_EQ(fs_events_streams(), 0);
	fs_events_fini();
}

TEST(line_vm_allocate_deallocate)
{
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_report r = mk(MACHVM_CALL_VM_ALLOCATE, KERN_SUCCESS, 1);
	r.args.address = 0;
	r.args.size = 0x4000;
	r.args.flag = TRUE;
	range(&r, 0x10000, 0x14000);
	struct machvm_change c1[] = { ch_n(MACHVM_CHANGE_ADDED, 1, 0x10000, 0x14000, 1) };
	SET_CHANGES(r, c1);
	CHECK_STR(logged(&r), "1 vm_allocate task=1 address=0x0 size=16384 anywhere=TRUE "
	          "range=0x10000-0x14000 kr=KERN_SUCCESS changes=added:0x10000-0x14000\n");

	r = mk(MACHVM_CALL_VM_ALLOCATE, KERN_NO_SPACE, 1);
	r.args.address = 0x10fff;
	r.args.size = 1;
	range(&r, 0x10000, 0x11000);
	CHECK_STR(logged(&r), "2 vm_allocate task=1 address=0x10fff size=1 anywhere=FALSE "
	          "range=0x10000-0x11000 kr=KERN_NO_SPACE changes=-\n");

	r = mk(MACHVM_CALL_VM_DEALLOCATE, KERN_SUCCESS, 1);
	r.args.address = 0x10800;
	r.args.size = 0x2000;
	range(&r, 0x10000, 0x13000);
	struct machvm_change c2[] = {
		ch_at(MACHVM_CHANGE_SPLIT, 1, 0x13000, 0),
		ch_n(MACHVM_CHANGE_REMOVED, 1, 0x10000, 0x13000, 3),
	};
	SET_CHANGES(r, c2);
	CHECK_STR(logged(&r), "3 vm_deallocate task=1 address=0x10800 size=8192 "
	          "range=0x10000-0x13000 kr=KERN_SUCCESS "
	          "changes=split@0x13000,removed:0x10000-0x13000*3\n");

	/* Failed before rounding (a range that wraps): no range=. */
	r = mk(MACHVM_CALL_VM_DEALLOCATE, KERN_INVALID_ARGUMENT, 1);
	r.args.address = 0xfffffffffffff000ull;
	r.args.size = 0x2000;
	CHECK_STR(logged(&r), "4 vm_deallocate task=1 address=0xfffffffffffff000 size=8192 "
	          "kr=KERN_INVALID_ARGUMENT changes=-\n");
	fs_events_fini();
}

TEST(line_vm_protect_inherit)
{
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_report r = mk(MACHVM_CALL_VM_PROTECT, KERN_SUCCESS, 1);
	r.args.address = 0x11000;
	r.args.size = 0x1000;
	r.args.prot = VM_PROT_READ;
	range(&r, 0x11000, 0x12000);
	struct machvm_change c1[] = {
		ch_at(MACHVM_CHANGE_SPLIT, 1, 0x11000, 0),
		ch_at(MACHVM_CHANGE_SPLIT, 1, 0x12000, 0),
		ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x11000, 0x12000),
	};
	SET_CHANGES(r, c1);
	CHECK_STR(logged(&r), "1 vm_protect task=1 address=0x11000 size=4096 set_maximum=FALSE "
	          "new_protection=r-- range=0x11000-0x12000 kr=KERN_SUCCESS "
	          "changes=split@0x11000,split@0x12000,attributes:0x11000-0x12000\n");

	r.args.flag = TRUE;
	r.args.prot = VM_PROT_ALL;
	struct machvm_change c2[] = {
		ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x11000, 0x12000),
		ch_at(MACHVM_CHANGE_MERGED, 1, 0x11000, 0),
		ch_at(MACHVM_CHANGE_MOVED, 1, 0x12000, 0x13000),
	};
	SET_CHANGES(r, c2);
	CHECK_STR(logged(&r), "2 vm_protect task=1 address=0x11000 size=4096 set_maximum=TRUE "
	          "new_protection=rwx range=0x11000-0x12000 kr=KERN_SUCCESS "
	          "changes=attributes:0x11000-0x12000,merged@0x11000,moved@0x12000>0x13000\n");

	r = mk(MACHVM_CALL_VM_PROTECT, KERN_PROTECTION_FAILURE, 1);
	r.args.address = 0x10000;
	r.args.size = 1;
	r.args.prot = VM_PROT_WRITE | VM_PROT_EXECUTE;
	range(&r, 0x10000, 0x11000);
	CHECK_STR(logged(&r), "3 vm_protect task=1 address=0x10000 size=1 set_maximum=FALSE "
	          "new_protection=-wx range=0x10000-0x11000 kr=KERN_PROTECTION_FAILURE changes=-\n");

	r = mk(MACHVM_CALL_VM_INHERIT, KERN_SUCCESS, 1);
	r.args.address = 0x10000;
	r.args.size = 0x1000;
	r.args.inheritance = VM_INHERIT_SHARE;
	range(&r, 0x10000, 0x11000);
	struct machvm_change c3[] = {
		ch_at(MACHVM_CHANGE_SPLIT, 1, 0x11000, 0),
		ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x10000, 0x11000),
	};
	SET_CHANGES(r, c3);
	CHECK_STR(logged(&r), "4 vm_inherit task=1 address=0x10000 size=4096 "
	          "new_inheritance=share range=0x10000-0x11000 kr=KERN_SUCCESS "
	          "changes=split@0x11000,attributes:0x10000-0x11000\n");

	r = mk(MACHVM_CALL_VM_MAP_INHERIT, KERN_SUCCESS, 1);
	r.args.address = 0x10fff;
	r.args.address2 = 0x12001;
	r.args.inheritance = VM_INHERIT_NONE;
	range(&r, 0x10000, 0x12000);
	struct machvm_change c4[] = { ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x10000, 0x12000) };
	SET_CHANGES(r, c4);
	CHECK_STR(logged(&r), "5 vm_map_inherit task=1 start=0x10fff end=0x12001 "
	          "new_inheritance=none range=0x10000-0x12000 kr=KERN_SUCCESS "
	          "changes=attributes:0x10000-0x12000\n");

	r = mk(MACHVM_CALL_VM_INHERIT, KERN_INVALID_ARGUMENT, 1);
	r.args.address = 0x10000;
	r.args.size = 0x1000;
	r.args.inheritance = 7;
	CHECK_STR(logged(&r), "6 vm_inherit task=1 address=0x10000 size=4096 "
	          "new_inheritance=7 kr=KERN_INVALID_ARGUMENT changes=-\n");
	r.args.inheritance = VM_INHERIT_COPY;
	CHECK_STR(logged(&r), "7 vm_inherit task=1 address=0x10000 size=4096 "
	          "new_inheritance=copy kr=KERN_INVALID_ARGUMENT changes=-\n");
	fs_events_fini();
}

TEST(line_vm_wire_attribute)
{
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_report r = mk(MACHVM_CALL_VM_WIRE, KERN_INVALID_HOST, 1);
	r.args.address = 0x10000;
	r.args.size = 0x1000;
	r.args.prot = VM_PROT_READ | VM_PROT_WRITE;
	CHECK_STR(logged(&r), "1 vm_wire task=1 host_priv=FALSE address=0x10000 size=4096 "
	          "access=rw- kr=KERN_INVALID_HOST changes=-\n");

	r = mk(MACHVM_CALL_VM_WIRE, KERN_SUCCESS, 1);
	r.args.flag = TRUE;
	r.args.address = 0x10000;
	r.args.size = 0x2000;
	r.args.prot = VM_PROT_READ | VM_PROT_EXECUTE;
	range(&r, 0x10000, 0x12000);
	struct machvm_change c1[] = { ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x10000, 0x12000) };
	SET_CHANGES(r, c1);
	CHECK_STR(logged(&r), "2 vm_wire task=1 host_priv=TRUE address=0x10000 size=8192 "
	          "access=r-x range=0x10000-0x12000 kr=KERN_SUCCESS "
	          "changes=attributes:0x10000-0x12000\n");

	r = mk(MACHVM_CALL_VM_MACHINE_ATTRIBUTE, KERN_SUCCESS, 1);
	r.args.address = 0x10000;
	r.args.size = 0x1000;
	r.args.attribute = MATTR_CACHE;
	r.args.value = MATTR_VAL_GET;
	r.args.value_out = MATTR_VAL_ON;
	range(&r, 0x10000, 0x11000);
	CHECK_STR(logged(&r), "3 vm_machine_attribute task=1 address=0x10000 size=4096 "
	          "attribute=cache value=get value_out=on range=0x10000-0x11000 "
	          "kr=KERN_SUCCESS changes=-\n");

	r.args.attribute = MATTR_MIGRATE;
	r.args.value = MATTR_VAL_DCACHE_FLUSH;
	struct machvm_change c2[] = { ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x10000, 0x11000) };
	SET_CHANGES(r, c2);
	CHECK_STR(logged(&r), "4 vm_machine_attribute task=1 address=0x10000 size=4096 "
	          "attribute=migrate value=dcache_flush range=0x10000-0x11000 "
	          "kr=KERN_SUCCESS changes=attributes:0x10000-0x11000\n");

	static const struct { vm_machine_attribute_t a; vm_machine_attribute_val_t v;
	                      const char *text; } names[] = {
		{ MATTR_REPLICATE, MATTR_VAL_OFF, "attribute=replicate value=off" },
		{ MATTR_CACHE, MATTR_VAL_ON, "attribute=cache value=on" },
		{ MATTR_CACHE, MATTR_VAL_CACHE_FLUSH, "attribute=cache value=flush" },
		{ MATTR_CACHE, MATTR_VAL_ICACHE_FLUSH, "attribute=cache value=icache_flush" },
		{ 9, 42, "attribute=9 value=42" },
		{ MATTR_CACHE, -3, "attribute=cache value=-3" },
		{ MATTR_CACHE, 3, "attribute=cache value=3" },
	};
	for (size_t i = 0; i < N(names); i++) {
		char want[256];

		r = mk(MACHVM_CALL_VM_MACHINE_ATTRIBUTE, KERN_INVALID_ARGUMENT, 1);
		r.args.address = 0x10000;
		r.args.size = 0x1000;
		r.args.attribute = names[i].a;
		r.args.value = names[i].v;
		snprintf(want, sizeof want, "%zu vm_machine_attribute task=1 address=0x10000 "
		         "size=4096 %s kr=KERN_INVALID_ARGUMENT changes=-\n", i + 5, names[i].text);
		CHECK_STR(logged(&r), want);
	}
	/* A get that failed shows no value_out. */
	r = mk(MACHVM_CALL_VM_MACHINE_ATTRIBUTE, KERN_INVALID_ADDRESS, 1);
	r.args.size = 0x1000;
	r.args.attribute = MATTR_CACHE;
	r.args.value = MATTR_VAL_GET;
	range(&r, 0, 0x1000);
	CHECK_STR(logged(&r), "12 vm_machine_attribute task=1 address=0x0 size=4096 "
	          "attribute=cache value=get range=0x0-0x1000 kr=KERN_INVALID_ADDRESS changes=-\n");
	fs_events_fini();
}

TEST(line_vm_remap)
{
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_report r = mk(MACHVM_CALL_VM_REMAP, KERN_SUCCESS, 2);
	r.args.other = 1;
	r.args.address = 0;
	r.args.size = 0x2000;
	r.args.mask = 0xfff;
	r.args.flag = TRUE;
	r.args.address2 = 0x10000;
	r.args.inheritance = VM_INHERIT_SHARE;
	r.args.prot = VM_PROT_READ | VM_PROT_WRITE;
	r.args.max_protection = VM_PROT_ALL;
	range(&r, 0x20000, 0x22000);
	r.args.has_src_range = TRUE;
	r.args.src_start = 0x10000;
	r.args.src_end = 0x12000;
	struct machvm_change c[] = {
		ch_at(MACHVM_CHANGE_SPLIT, 1, 0x12000, 0),
		ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x10000, 0x12000),
		ch_n(MACHVM_CHANGE_ADDED, 2, 0x20000, 0x22000, 2),
		ch_obj(MACHVM_CHANGE_OBJECT_CREATED, 5, 0),
	};
	SET_CHANGES(r, c);
	const char *want = "1 vm_remap task=2 address=0x0 size=8192 mask=0xfff anywhere=TRUE "
		"src_task=1 src_address=0x10000 copy=FALSE inheritance=share "
		"range=0x20000-0x22000 src_range=0x10000-0x12000 cur_protection=rw- "
		"max_protection=rwx kr=KERN_SUCCESS changes=split[1]@0x12000,"
		"attributes[1]:0x10000-0x12000,added:0x20000-0x22000*2,object_created:5\n";
	CHECK_STR(logged(&r), want);

	/* The source failed after rounding: src_range only, no protections. */
	r = mk(MACHVM_CALL_VM_REMAP, KERN_INVALID_ADDRESS, 2);
	r.args.other = 1;
	r.args.address = 0x30000;
	r.args.size = 0x1000;
	r.args.address2 = 0x90000;
	r.args.flag2 = TRUE;
	r.args.inheritance = VM_INHERIT_COPY;
	r.args.has_src_range = TRUE;
	r.args.src_start = 0x90000;
	r.args.src_end = 0x91000;
	const char *want2 = "2 vm_remap task=2 address=0x30000 size=4096 mask=0x0 "
		"anywhere=FALSE src_task=1 src_address=0x90000 copy=TRUE inheritance=copy "
		"src_range=0x90000-0x91000 kr=KERN_INVALID_ADDRESS changes=-\n";
	CHECK_STR(logged(&r), want2);

	/* Both lines are in the target's and the source's streams. */
	char *t1 = read_all(1), *t2 = read_all(2), both[2048];
	snprintf(both, sizeof both, "%s%s", want, want2);
	CHECK_STR(t1, both);
	CHECK_STR(t2, both);
	free(t1);
	free(t2);
	fs_events_fini();
}

TEST(line_vm_write_copy)
{
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_report r = mk(MACHVM_CALL_VM_WRITE, KERN_SUCCESS, 1);
	r.args.address = 0x10000;
	r.args.size = 5;
	r.args.count = 5;
	struct machvm_change c1[] = {
		ch_obj(MACHVM_CHANGE_OBJECT_COLLAPSED, 7, 3),
		ch(MACHVM_CHANGE_CONTENTS, 1, 0x10000, 0x10005),
	};
	SET_CHANGES(r, c1);
	CHECK_STR(logged(&r), "1 vm_write task=1 address=0x10000 size=5 count=5 "
	          "kr=KERN_SUCCESS changes=object_collapsed:7/3,contents:0x10000-0x10005\n");

	r = mk(MACHVM_CALL_VM_WRITE, KERN_PROTECTION_FAILURE, 1);
	r.args.address = 0x1ffff;
	r.args.size = 100;
	r.args.count = 1;
	CHECK_STR(logged(&r), "2 vm_write task=1 address=0x1ffff size=100 count=1 "
	          "kr=KERN_PROTECTION_FAILURE changes=-\n");

	r = mk(MACHVM_CALL_VM_COPY, KERN_SUCCESS, 1);
	r.args.address = 0x10000;
	r.args.size = 0x1000;
	r.args.address2 = 0x20000;
	struct machvm_change c2[] = {
		ch_obj(MACHVM_CHANGE_OBJECT_BYPASSED, 7, 3),
		ch(MACHVM_CHANGE_CONTENTS, 1, 0x20000, 0x21000),
	};
	SET_CHANGES(r, c2);
	CHECK_STR(logged(&r), "3 vm_copy task=1 source_address=0x10000 size=4096 "
	          "dest_address=0x20000 kr=KERN_SUCCESS "
	          "changes=object_bypassed:7/3,contents:0x20000-0x21000\n");
	fs_events_fini();
}

TEST(line_many_changes_incomplete_unknown)
{
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_change c[40];
	struct machvm_report r = mk(MACHVM_CALL_VM_DEALLOCATE, KERN_SUCCESS, 1);
	char want[4096];
	size_t n;

	for (size_t i = 0; i < N(c); i++)
		c[i] = ch_at(MACHVM_CHANGE_SPLIT, 1, 0x10000 + 0x1000 * i, 0);
	r.args.address = 0x10000;
	r.args.size = 0x28000;
	range(&r, 0x10000, 0x38000);
	SET_CHANGES(r, c);
	r.incomplete = TRUE;
	n = (size_t)snprintf(want, sizeof want, "1 vm_deallocate task=1 address=0x10000 "
	                     "size=163840 range=0x10000-0x38000 kr=KERN_SUCCESS changes=");
	for (size_t i = 0; i < 32; i++)
		n += (size_t)snprintf(want + n, sizeof want - n, "%ssplit@0x%zx", i ? "," : "",
		                      0x10000 + 0x1000 * i);
	snprintf(want + n, sizeof want - n, ",+8_more,incomplete\n");
	CHECK_STR(logged(&r), want);

	/* Exactly 32: no +N_more. */
	r.nchanges = 32;
	r.incomplete = FALSE;
	want[n] = '\0';
	memcpy(want, "2", 1);
	strcat(want, "\n");
	CHECK_STR(logged(&r), want);

	/* Incomplete with nothing recorded. */
	r = mk(MACHVM_CALL_VM_PROTECT, KERN_SUCCESS, 1);
	r.args.size = 0x1000;
	r.args.prot = VM_PROT_NONE;
	r.incomplete = TRUE;
	CHECK_STR(logged(&r), "3 vm_protect task=1 address=0x0 size=4096 set_maximum=FALSE "
	          "new_protection=--- kr=KERN_SUCCESS changes=incomplete\n");

	/* A call, a change and a code we do not know, and big values. */
	r = mk((machvm_call_t)99, 12345, 4000000000u);
	struct machvm_change u[] = {
		ch((machvm_change_kind_t)99, 1, 0, 0),
		ch_n(MACHVM_CHANGE_REMOVED, 4000000000u, 0, 0xffffffffffffffffull,
		     UINT64_MAX),
		ch_n(MACHVM_CHANGE_ADDED, 4000000000u, 0x1000, 0x2000, 0),
	};
	SET_CHANGES(r, u);
	range(&r, 0, 0xfffffffffffff000ull);
	CHECK_STR(logged(&r), "4 unknown task=4000000000 range=0x0-0xfffffffffffff000 "
	          "kr=KERN_UNKNOWN changes=unknown,removed:0x0-0xffffffffffffffff"
	          "*18446744073709551615,added:0x1000-0x2000*0\n");
	fs_events_fini();
}

/* ---- streams, sizes, reads --------------------------------------- */

TEST(stream_sizes)
{
	CHECK_EQ(fs_events_init(100), 0);
	CHECK_EQ(fs_events_size(TASK_NULL), 0);
	CHECK_EQ(fs_events_size(1), 0);
	CHECK_EQ(fs_events_streams(), 0);
	CHECK_EQ(fs_events_memory(), 0);

	uint64_t l1, l2, l3, l4;
	rec_write(1);
	l1 = fs_events_size(TASK_NULL);
	rec_write(2);
	l2 = fs_events_size(TASK_NULL) - l1;
	/* a remap: target 3, source 1 */
	struct machvm_report r = mk(MACHVM_CALL_VM_REMAP, KERN_SUCCESS, 3);
	r.args.other = 1;
	fs_events_record(&r);
	l3 = fs_events_size(TASK_NULL) - l1 - l2;
	/* a failed call on 2, and one on 4 (no state: it creates none) */
	r = mk(MACHVM_CALL_VM_DEALLOCATE, KERN_INVALID_ADDRESS, 2);
	fs_events_record(&r);
	l4 = fs_events_size(TASK_NULL) - l1 - l2 - l3;
	r = mk(MACHVM_CALL_VM_DEALLOCATE, KERN_INVALID_ARGUMENT, 4);
	fs_events_record(&r);

	CHECK_EQ(l1, strlen("1 vm_write task=1 address=0x10000 size=1 count=1 "
	                    "kr=KERN_SUCCESS changes=contents:0x10000-0x10001\n"));
	CHECK_EQ(l2, l1);
	CHECK_EQ(fs_events_size(1), l1 + l3);
	CHECK_EQ(fs_events_size(2), l2 + l4);
	CHECK_EQ(fs_events_size(3), l3);
	CHECK_EQ(fs_events_size(4), 0);
	CHECK_EQ(fs_events_streams(), 3);

	char *s1 = read_all(1), *s4 = read_all(4);
	CHECK_EQ(strlen(s1), l1 + l3);
	CHECK_EQ(first_seq(s1), 1);
	CHECK_EQ(first_seq(s1 + l1), 3);
	CHECK_STR(s4, "");
	free(s1);
	free(s4);
	/* The reader of 4 made state only while it was open. */
	CHECK_EQ(fs_events_streams(), 3);
	fs_events_fini();
	CHECK_EQ(fs_events_memory(), 0);
}

TEST(read_offsets_midline_eof)
{
	CHECK_EQ(fs_events_init(100), 0);
	rec_write(1);
	rec_write(1);
	char *all = read_all(1);
	size_t len = strlen(all), n;
	CHECK_EQ(len, fs_events_size(1));
	CHECK_EQ(count_lines(all), 2);

	struct fs_events_reader *rd = fs_events_open(1);
	char *s;
	/* Mid-line, inside the first line. */
	s = rd_read(rd, 5, 10, &n);
	CHECK_EQ(n, 10);
	CHECK(memcmp(s, all + 5, 10) == 0);
	free(s);
	/* Across the boundary between the lines. */
	s = rd_read(rd, len / 2 - 3, 6, &n);
	CHECK_EQ(n, 6);
	CHECK(memcmp(s, all + len / 2 - 3, 6) == 0);
	free(s);
	/* From mid-line to the end, asking for more. */
	s = rd_read(rd, len - 7, 100, &n);
	CHECK_EQ(n, 7);
	CHECK_STR(s, all + len - 7);
	free(s);
	/* The last byte, the end, past it. */
	s = rd_read(rd, len - 1, 1, &n);
	CHECK_STR(s, "\n");
	free(s);
	s = rd_read(rd, len, 100, &n);
	CHECK_EQ(n, 0);
	free(s);
	s = rd_read(rd, len + 1000, 100, &n);
	CHECK_EQ(n, 0);
	free(s);
	s = rd_read(rd, UINT64_MAX, 100, &n);
	CHECK_EQ(n, 0);
	free(s);
	/* Size 0 reads nothing. */
	s = rd_read(rd, 0, 0, &n);
	CHECK_EQ(n, 0);
	free(s);
	/* The file grows: the old end now has the new line. */
	rec_write(2);
	rec_write(1);
	s = rd_read(rd, len, 1000, &n);
	CHECK_EQ(n, len / 2);
	CHECK_EQ(first_seq(s), 4);
	free(s);
	fs_events_close(rd);
	free(all);
	fs_events_fini();
}

/* ---- the window and the missed line ------------------------------ */

TEST(missed_sequential_reader)
{
	CHECK_EQ(fs_events_init(10), 0);
	struct fs_events_reader *rd = fs_events_open(TASK_NULL);
	uint64_t off = 0;
	size_t n;
	char *s;

	for (int i = 0; i < 5; i++)
		rec_write(1);
	s = rd_read(rd, off, 1 << 20, &n);
	CHECK_EQ(count_lines(s), 5);
	off += n;
	free(s);
	CHECK_EQ(fs_events_reader_size(rd), off);          /* no shift yet */
	for (int i = 0; i < 25; i++)
		rec_write(1);
	uint64_t size = fs_events_size(TASK_NULL);
	/* Events 6..20 fell out of the window (it holds 21..30). */
	s = rd_read(rd, off, 1 << 20, &n);
	CHECK(strncmp(s, "# missed 15 events\n", 19) == 0);
	CHECK_EQ(first_seq(s + 19), 21);
	CHECK_EQ(count_lines(s), 11);
	CHECK_EQ(fs_events_size(TASK_NULL), size);
	char *window = read_all(TASK_NULL);
	CHECK_STR(s + 19, window + 19);     /* a fresh reader: the same window */
	off += n;
	free(s);
	free(window);
	/* The shift: the next offset is the stream's end. */
	s = rd_read(rd, off, 1 << 20, &n);
	CHECK_EQ(n, 0);
	free(s);
	CHECK_EQ(fs_events_reader_size(rd), off);
	CHECK(off < size);
	rec_write(1);
	s = rd_read(rd, off, 1 << 20, &n);
	CHECK_EQ(n, fs_events_size(TASK_NULL) - size);
	CHECK_EQ(first_seq(s), 31);
	CHECK_EQ(count_lines(s), 1);
	off += n;
	free(s);
	/* A partly read line that falls out counts as missed. */
	s = rd_read(rd, off, 3, &n);
	CHECK_EQ(n, 0);
	free(s);
	rec_write(1);                       /* 32 */
	s = rd_read(rd, off, 10, &n);
	CHECK_EQ(n, 10);
	off += n;
	free(s);
	for (int i = 0; i < 12; i++)        /* 33..44: the window is 35..44 */
		rec_write(1);
	s = rd_read(rd, off, 1 << 20, &n);
	CHECK(strncmp(s, "# missed 3 events\n", 18) == 0);    /* 32, 33, 34 */
	CHECK_EQ(first_seq(s + 18), 35);
	CHECK_EQ(count_lines(s), 11);
	free(s);
	fs_events_close(rd);
	fs_events_fini();
}

TEST(missed_fresh_and_jumping_reader)
{
	CHECK_EQ(fs_events_init(10), 0);
	for (int i = 0; i < 30; i++)
		rec_write(i % 2 ? 2 : 1);
	/* Host: 20 before the window.  Task 1: the window holds 21,23,...,29. */
	char *h = read_all(TASK_NULL), *t1 = read_all(1), *t2 = read_all(2);
	CHECK(strncmp(h, "# missed 20 events\n21 ", 22) == 0);
	CHECK_EQ(count_lines(h), 11);
	CHECK(strncmp(t1, "# missed 10 events\n21 ", 22) == 0);
	CHECK_EQ(count_lines(t1), 6);
	CHECK(strncmp(t2, "# missed 10 events\n22 ", 22) == 0);
	CHECK_EQ(count_lines(t2), 6);

	/* The missed line read a few bytes at a time, then the window. */
	struct fs_events_reader *rd = fs_events_open(1);
	uint64_t off = 0;
	size_t n, total = strlen(t1);
	char got[8192] = "";
	while (off < total) {
		char *s = rd_read(rd, off, 4, &n);

		CHECK(n > 0);
		strcat(got, s);
		off += n;
		free(s);
	}
	CHECK_STR(got, t1);
	/* Offsets inside the missed line still read it. */
	char *s = rd_read(rd, 6, 5, &n);
	CHECK_STR(s, "ed 10");
	free(s);
	/* The window moves on (31..40 are all task 1's); a jump back below it
	 * counts every event before the window (task 1 had 25, 10 are kept). */
	for (int i = 0; i < 10; i++)
		rec_write(1);
	s = rd_read(rd, 19, 100, &n);
	CHECK_EQ(n, 100);
	CHECK(strncmp(s, "# missed 15 events\n31 ", 22) == 0);
	free(s);
	/* A jump inside the window is a plain read at the shifted offset. */
	char *w = read_all(1);
	CHECK(strncmp(w, "# missed 15 events\n31 ", 22) == 0);
	s = rd_read(rd, 19 + 19 + 5, 1 << 20, &n);
	CHECK_STR(s, w + 19 + 5);
	free(s);
	free(w);
	fs_events_close(rd);
	free(h);
	free(t1);
	free(t2);
	fs_events_fini();
}

TEST(byte_window)
{
	/* 100 events, so 25600 bytes: lines of over 1 KiB keep about 20. */
	CHECK_EQ(fs_events_init(100), 0);
	struct machvm_change c[32];
	for (size_t i = 0; i < N(c); i++)
		c[i] = ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x100000000ull + 0x1000 * i,
		          0x100001000ull + 0x1000 * i);
	struct machvm_report r = mk(MACHVM_CALL_VM_PROTECT, KERN_SUCCESS, 1);
	SET_CHANGES(r, c);
	for (int i = 0; i < 199; i++)
		fs_events_record(&r);
	uint64_t before = fs_events_size(TASK_NULL);
	fs_events_record(&r);
	/* Every line of seq 100 to 200 is as long as the last one. */
	uint64_t line = fs_events_size(TASK_NULL) - before;
	char *h = read_all(TASK_NULL);
	CHECK(line > 1000 && line < 1400);
	CHECK(strncmp(h, "# missed ", 9) == 0);
	uint64_t missed = strtoull(h + 9, NULL, 10);
	uint64_t kept = count_lines(h) - 1;
	CHECK_EQ(missed + kept, 200);
	CHECK_EQ(first_seq(strchr(h, '\n') + 1), missed + 1);
	CHECK(strlen(strchr(h, '\n') + 1) <= 25600);
	CHECK(strlen(strchr(h, '\n') + 1) + line > 25600);
	free(h);
	fs_events_fini();
}

/* ---- poll ------------------------------------------------------------ */

static int woken[8], destroyed[8];
static int handles[8];

static void
test_wake(void *ph)
{
	woken[(int *)ph - handles]++;
}

static void
test_destroy(void *ph)
{
	destroyed[(int *)ph - handles]++;
}

TEST(poll_and_wake)
{
	CHECK_EQ(fs_events_init(100), 0);
	memset(woken, 0, sizeof woken);
	memset(destroyed, 0, sizeof destroyed);
	fs_events_set_waker(test_wake, test_destroy);
	rec_write(1);                       /* the streams have state */
	rec_write(2);
	struct fs_events_reader *r1 = fs_events_open(1), *rh = fs_events_open(TASK_NULL),
		*r2 = fs_events_open(2);
	size_t n;
	char *s;

	/* Unread bytes: ready, the handle stays the caller's. */
	CHECK_EQ(fs_events_poll(r1, &handles[7]), POLLIN);
	s = rd_read(r1, 0, 1 << 20, &n);
	free(s);
	s = rd_read(rh, 0, 1 << 20, &n);
	free(s);
	s = rd_read(r2, 0, 1 << 20, &n);
	free(s);
	CHECK_EQ(fs_events_poll(r1, NULL), 0);
	CHECK_EQ(fs_events_poll(r1, &handles[0]), 0);
	CHECK_EQ(fs_events_poll(rh, &handles[1]), 0);
	CHECK_EQ(fs_events_poll(rh, &handles[2]), 0);       /* replaces 1 */
	CHECK_EQ(destroyed[1], 1);
	CHECK_EQ(woken[1], 0);
	CHECK_EQ(fs_events_poll(r2, &handles[3]), 0);
	fs_events_wake();                   /* nothing appended: nothing woken */
	CHECK_EQ(woken[0] + woken[2] + woken[3], 0);

	rec_write(1);
	CHECK_EQ(woken[0] + woken[2], 0);  /* not before fs_events_wake */
	fs_events_wake();
	CHECK_EQ(woken[0], 1);
	CHECK_EQ(destroyed[0], 1);
	CHECK_EQ(woken[2], 1);
	CHECK_EQ(destroyed[2], 1);
	CHECK_EQ(woken[3], 0);
	CHECK_EQ(destroyed[3], 0);
	fs_events_wake();
	rec_write(1);
	fs_events_wake();                   /* each handle once */
	CHECK_EQ(woken[0] + woken[2], 2);
	CHECK_EQ(fs_events_poll(r1, NULL), POLLIN);
	CHECK_EQ(fs_events_poll(rh, NULL), POLLIN);

	/* Read up, keep a handle, close: destroyed, never woken. */
	s = rd_read(r1, fs_events_size(1) - 1, 10, &n);
	CHECK_STR(s, "\n");
	free(s);
	CHECK_EQ(fs_events_poll(r1, &handles[4]), 0);
	fs_events_close(r1);
	CHECK_EQ(destroyed[4], 1);
	CHECK_EQ(woken[4], 0);
	/* A queued handle whose reader closes before the wake: destroyed once. */
	rec_write(2);
	fs_events_close(r2);
	CHECK_EQ(destroyed[3], 1);
	fs_events_wake();
	CHECK_EQ(woken[3], 0);
	CHECK_EQ(destroyed[3], 1);
	CHECK_EQ(woken[7] + destroyed[7], 0);
	fs_events_close(rh);
	fs_events_set_waker(NULL, NULL);
	fs_events_fini();
}

/* ---- the end of a task ------------------------------------------- */

static void
rec_terminate(task_t t)
{
	struct machvm_report r = mk(MACHVM_CALL_TASK_TERMINATE, KERN_SUCCESS, t);
	struct machvm_change c[] = { ch_n(MACHVM_CHANGE_TASK_TERMINATED, t, 0, 0, 0) };

	SET_CHANGES(r, c);
	fs_events_record(&r);
}

TEST(termination_ends_stream)
{
	CHECK_EQ(fs_events_init(100), 0);
	memset(woken, 0, sizeof woken);
	memset(destroyed, 0, sizeof destroyed);
	fs_events_set_waker(test_wake, test_destroy);
	rec_write(5);
	rec_write(6);
	CHECK_EQ(fs_events_streams(), 2);
	size_t base = fs_events_memory();
	struct fs_events_reader *rd = fs_events_open(5), *rd2 = fs_events_open(5);
	size_t n;
	char *s = rd_read(rd, 0, 1 << 20, &n);
	uint64_t off = n;
	free(s);
	CHECK_EQ(fs_events_poll(rd, &handles[0]), 0);

	rec_write(5);
	rec_terminate(5);
	fs_events_wake();
	CHECK_EQ(woken[0], 1);
	uint64_t size = fs_events_size(5);
	/* Nothing is appended after the end, failed calls included. */
	struct machvm_report r = mk(MACHVM_CALL_VM_ALLOCATE, KERN_INVALID_ARGUMENT, 5);
	fs_events_record(&r);
	CHECK_EQ(fs_events_size(5), size);
	/* The rest, then EOF and HUP. */
	CHECK_EQ(fs_events_poll(rd, &handles[1]), POLLIN);
	s = rd_read(rd, off, 1 << 20, &n);
	CHECK_EQ(count_lines(s), 2);
	CHECK(strstr(s, " task_terminate task=5 ") != NULL);
	off += n;
	free(s);
	s = rd_read(rd, off, 1 << 20, &n);
	CHECK_EQ(n, 0);
	free(s);
	CHECK_EQ(fs_events_poll(rd, &handles[1]), POLLIN | POLLHUP);
	CHECK_EQ(destroyed[1], 0);          /* ready: not kept */
	/* The state goes with the last reader. */
	CHECK_EQ(fs_events_streams(), 2);
	fs_events_close(rd);
	CHECK_EQ(fs_events_streams(), 2);
	fs_events_close(rd2);
	CHECK_EQ(fs_events_streams(), 1);
	CHECK_EQ(fs_events_size(5), 0);
	CHECK(fs_events_memory() < base + 2 * 1024);        /* only the window grew */

	/* Unread, a stream is freed at once, and a failed call makes no new one. */
	rec_terminate(6);
	CHECK_EQ(fs_events_streams(), 0);
	r = mk(MACHVM_CALL_VM_PROTECT, KERN_INVALID_ARGUMENT, 6);
	fs_events_record(&r);
	CHECK_EQ(fs_events_streams(), 0);
	CHECK_EQ(fs_events_size(6), 0);
	/* Its lines stay in the host's window. */
	char *h = read_all(TASK_NULL);
	CHECK_EQ(count_lines(h), 7);
	free(h);

	/* A reader opened before the termination sees it (open, then check). */
	rec_write(8);
	rd = fs_events_open(8);
	rec_terminate(8);
	CHECK_EQ(fs_events_poll(rd, NULL), POLLIN);
	s = rd_read(rd, 0, 1 << 20, &n);
	CHECK_EQ(count_lines(s), 2);
	free(s);
	CHECK_EQ(fs_events_poll(rd, NULL), POLLIN | POLLHUP);
	fs_events_close(rd);
	CHECK_EQ(fs_events_streams(), 0);
	fs_events_set_waker(NULL, NULL);
	fs_events_fini();
}

/* ---- threads ---------------------------------------------------------- */

#define WRITERS 4
#define PER_WRITER 20000

static atomic_int writers_done;

static void *
writer(void *arg)
{
	task_t t = (task_t)(uintptr_t)arg;

	for (int i = 0; i < PER_WRITER; i++)
		rec_write(t);
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

struct tail {
	task_t   stream;
	uint64_t lines, missed;
	int      bad;
};

/* Follows a stream like tail -f, to the end once the writers are done. */
static void *
tailer(void *arg)
{
	struct tail *t = arg;
	struct fs_events_reader *rd = fs_events_open(t->stream);
	uint64_t off = 0;
	bool last = false;

	for (;;) {
		struct fs_buf b;
		const char *p, *nl;

		if (!last)
			last = atomic_load(&writers_done) == WRITERS;
		memset(&b, 0, sizeof b);
		if (fs_events_read(rd, off, 4096, &b) != 0) {
			t->bad++;
			break;
		}
		if (b.len == 0 && last) {
			free(b.data);
			break;
		}
		off += b.len;
		/* A missed line comes first in a read; a line cut by it is missed. */
		p = b.data;
		if (b.len && strncmp(p, "# missed ", 9) == 0) {
			t->missed += strtoull(p + 9, NULL, 10);
			p = strchr(p, '\n') + 1;
		}
		/* Count the lines that end in this read (a line cut by a missed
		 * line never ends: it is among the missed). */
		while (p < b.data + b.len && (nl = memchr(p, '\n', (size_t)(b.data + b.len - p)))) {
			t->lines++;
			p = nl + 1;
		}
		free(b.data);
	}
	fs_events_close(rd);
	return NULL;
}

TEST(threads_record_and_read)
{
	pthread_t w[WRITERS], r[2];
	struct tail tails[2] = { { .stream = TASK_NULL }, { .stream = 1 } };

	CHECK_EQ(fs_events_init(64), 0);
	atomic_store(&writers_done, 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&r[i], NULL, tailer, &tails[i]), 0);
	for (int i = 0; i < WRITERS; i++)
		CHECK_EQ(pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)(i + 1)), 0);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	CHECK_EQ(tails[0].bad + tails[1].bad, 0);
	/* Every event either read or counted as missed, exactly. */
	CHECK_EQ(tails[0].lines + tails[0].missed, WRITERS * PER_WRITER);
	CHECK_EQ(tails[1].lines + tails[1].missed, PER_WRITER);
	CHECK(tails[0].lines >= 64);
	/* The seqs: 1..80000, each once, each task's in order. */
	char *h = read_all(TASK_NULL);
	CHECK(strncmp(h, "# missed ", 9) == 0);
	CHECK_EQ(strtoull(h + 9, NULL, 10), WRITERS * PER_WRITER - 64);
	uint64_t seq = WRITERS * PER_WRITER - 63;
	for (const char *p = strchr(h, '\n') + 1; *p; p = strchr(p, '\n') + 1)
		CHECK_EQ(strtoull(p, NULL, 10), seq++);
	CHECK_EQ(seq, WRITERS * PER_WRITER + 1);
	free(h);
	/* Each event went to the host and to one task. */
	uint64_t sum = 0;
	for (task_t t = 1; t <= WRITERS; t++)
		sum += fs_events_size(t);
	CHECK_EQ(sum, fs_events_size(TASK_NULL));
	fs_events_fini();
}

/* ---- memory ---------------------------------------------------------- */

static size_t
bound(size_t keep, size_t streams, size_t readers)
{
	size_t keep_bytes = keep * 256 < 8192 ? 8192 : keep * 256;

	return keep_bytes + 8192 + keep * (64 + 68 * 2) + 256 * streams + 256 +
	       FS_EVENTS_READER_BYTES * readers;
}

/*
 * Records of every length, from a bare line to one of MAX_TOKENS changes,
 * go through the arena many times over (it wraps at a different place each
 * time): every kept line reads back whole, in order, with the changes it
 * was logged with.  First with an arena that holds about a dozen of the
 * longest lines, so that it decides what is kept, then with the one the
 * window needs, where the window decides.
 */
static void
wrap_round(size_t keep)
{
	struct machvm_change c[40];
	uint64_t seq = 0;

	for (int i = 0; i < 20000; i++) {
		struct machvm_report r = mk(MACHVM_CALL_VM_PROTECT, KERN_SUCCESS, 7);
		size_t n = (size_t)(i * 7919) % 41;     /* 0 .. 40 changes */

		for (size_t k = 0; k < n; k++)
			c[k] = ch(k % 2 ? MACHVM_CHANGE_ATTRIBUTES : MACHVM_CHANGE_CONTENTS, 7,
			          0x10000 + 0x2000 * k, 0x11000 + 0x2000 * k);
		r.changes = c;
		r.nchanges = n;
		fs_events_record(&r);
		seq++;
		if (i % 997 != 0 && i < 19990)
			continue;
		char *all = read_all(TASK_NULL), *line = all, *nl;
		uint64_t expect = 0;
		size_t lines = 0;

		if (strncmp(line, "# missed ", 9) == 0)
			line = strchr(line, '\n') + 1;
		while ((nl = strchr(line, '\n')) != NULL) {
			uint64_t got = strtoull(line, NULL, 10);
			size_t changes = 0, want;
			char *p = strstr(line, " changes=");

			CHECK(expect == 0 || got == expect);
			expect = got + 1;
			CHECK(p != NULL && p < nl);
			want = (size_t)((got - 1) * 7919) % 41;
			if (want > 32)
				CHECK(strstr(p, ",+") != NULL && strstr(p, ",+") < nl);
			for (char *q = p; q < nl; q++)
				changes += *q == ':';
			CHECK_EQ(changes, want < 32 ? want : 32);
			lines++;
			line = nl + 1;
		}
		CHECK_EQ(*line, '\0');
		CHECK_EQ(expect, seq + 1);              /* the newest is there */
		CHECK(lines >= 1 && lines <= keep);
		free(all);
	}
}

TEST(arena_wraps_keep_every_line_whole)
{
	CHECK_EQ(fs_events_init_arena(1000, 8191), -EINVAL);
	CHECK_EQ(fs_events_init_arena(1000, 9000), 0);
	wrap_round(1000);
	fs_events_fini();
	CHECK_EQ(fs_events_memory(), 0);

	CHECK_EQ(fs_events_init(40), 0);
	wrap_round(40);
	/* Short lines only: the count window alone decides what is kept. */
	for (int i = 0; i < 500; i++)
		rec_write(7);
	char *all = read_all(TASK_NULL);
	size_t lines = 0;

	for (char *q = all; *q; q++)
		lines += *q == '\n';
	CHECK_EQ(lines, 40 + 1);            /* and the missed line */
	free(all);
	fs_events_fini();
	CHECK_EQ(fs_events_memory(), 0);
}

TEST(memory_bound)
{
	const size_t keep = 1000;
	size_t peak = 0;
	task_t t = 2;

	CHECK_EQ(fs_events_init(keep), 0);
	struct fs_events_reader *rd = fs_events_open(1);
	for (int i = 0; i < 100000; i++) {
		struct machvm_report r;
		int step = i % 100;

		if (step == 0) {
			r = mk(MACHVM_CALL_TASK_CREATE, KERN_SUCCESS, 1);
			r.args.other = t;
			struct machvm_change c[] = { ch_n(MACHVM_CHANGE_TASK_CREATED, t, 0, 0, 0) };
			SET_CHANGES(r, c);
			fs_events_record(&r);
		} else if (step == 99) {
			rec_terminate(t++);
		} else if (step % 3 == 0) {
			/* a remap: two streams */
			r = mk(MACHVM_CALL_VM_REMAP, KERN_SUCCESS, t);
			r.args.other = 1;
			r.args.size = 0x1000;
			struct machvm_change c[] = {
				ch_n(MACHVM_CHANGE_ADDED, t, 0x10000, 0x11000, 1),
				ch(MACHVM_CHANGE_ATTRIBUTES, 1, 0x10000, 0x11000),
			};
			SET_CHANGES(r, c);
			fs_events_record(&r);
		} else if (step % 3 == 1) {
			rec_write(t);
		} else {
			/* failed calls on ids that never lived */
			r = mk(MACHVM_CALL_VM_ALLOCATE, KERN_INVALID_ARGUMENT, 1000000 + i);
			fs_events_record(&r);
		}
		if (fs_events_memory() > peak)
			peak = fs_events_memory();
		if (i % 1000 == 999)
			CHECK(fs_events_memory() <= bound(keep, fs_events_streams(), 1));
		CHECK(fs_events_streams() <= 2);
	}
	CHECK(peak <= bound(keep, 2, 1));
	CHECK_EQ(fs_events_streams(), 1);   /* task 1; every other task ended */
	/* A reader far behind costs nothing more. */
	char *s = rd_read(rd, 0, 100, NULL);
	CHECK(strncmp(s, "# missed ", 9) == 0);
	free(s);
	fs_events_close(rd);
	CHECK(fs_events_memory() <= bound(keep, 1, 0));
	fs_events_fini();
	CHECK_EQ(fs_events_memory(), 0);
}
