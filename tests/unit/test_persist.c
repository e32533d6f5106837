/*
 * test_persist.c - machvm_host_export / machvm_import_*: the whole host as
 * plain data and back.
 *
 * The round trip builds a host with forks (copy-on-write chains), shared
 * regions, wired regions, remaps (shared and copied), changed protections,
 * attributes and flush counters, and terminated tasks; exports it into
 * memory, stops the host, imports, and then requires that every region
 * report, every readable byte, every counter and the export itself come
 * back identical, that the next task and object ids are the same, and that
 * later writes still share and copy as before.  Broken data must be
 * refused with KERN_INVALID_ARGUMENT, a reason, and the host stopped.
 */
#include <stdlib.h>
#include <machvm/persist.h>
#include "harness.h"
#include "util.h"

#define RW   (VM_PROT_READ | VM_PROT_WRITE)
#define R    VM_PROT_READ
#define RX   (VM_PROT_READ | VM_PROT_EXECUTE)

/* ---- the export, kept in memory as the list of callbacks made ---------- */

enum ev_kind { EV_HOST, EV_OBJECT, EV_PAGE, EV_TASK, EV_ENTRY };

struct ev {
	enum ev_kind kind;
	machvm_host_desc_t host;
	machvm_object_desc_t object;
	machvm_task_desc_t task;
	machvm_entry_desc_t entry;
	task_t entry_task;
	uint64_t page_object, page_index;
	unsigned char *bytes;           /* owned by the dump */
};

struct dump {
	struct ev *ev;
	size_t n, cap;
	size_t page_size;
	int stop_at;                    /* stop the export at this callback (-1: never) */
};

static struct ev *dump_add(struct dump *d, enum ev_kind kind)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->ev = realloc(d->ev, d->cap * sizeof *d->ev);
		CHECK(d->ev != NULL);
	}
	struct ev *e = &d->ev[d->n++];
	memset(e, 0, sizeof *e);
	e->kind = kind;
	return e;
}

static int stop_here(struct dump *d)
{
	return d->stop_at >= 0 && (size_t)d->stop_at == d->n;
}

static int on_host(void *arg, const machvm_host_desc_t *h)
{
	struct dump *d = arg;
	if (stop_here(d))
		return 1;
	d->page_size = h->page_size;
	dump_add(d, EV_HOST)->host = *h;
	return 0;
}

static int on_object(void *arg, const machvm_object_desc_t *o)
{
	struct dump *d = arg;
	if (stop_here(d))
		return 1;
	dump_add(d, EV_OBJECT)->object = *o;
	return 0;
}

static int on_page(void *arg, uint64_t object, uint64_t index, const void *bytes)
{
	struct dump *d = arg;
	if (stop_here(d))
		return 1;
	struct ev *e = dump_add(d, EV_PAGE);
	e->page_object = object;
	e->page_index = index;
	e->bytes = malloc(d->page_size);
	CHECK(e->bytes != NULL);
	memcpy(e->bytes, bytes, d->page_size);
	return 0;
}

static int on_task(void *arg, const machvm_task_desc_t *t)
{
	struct dump *d = arg;
	if (stop_here(d))
		return 1;
	dump_add(d, EV_TASK)->task = *t;
	return 0;
}

static int on_entry(void *arg, task_t task, const machvm_entry_desc_t *e)
{
	struct dump *d = arg;
	if (stop_here(d))
		return 1;
	struct ev *x = dump_add(d, EV_ENTRY);
	x->entry_task = task;
	x->entry = *e;
	return 0;
}

static const struct machvm_export_ops dump_ops = { on_host, on_object, on_page, on_task, on_entry };

static struct dump dump_take(void)
{
	struct dump d;
	memset(&d, 0, sizeof d);
	d.stop_at = -1;
	CHECK_KR(machvm_host_export(&dump_ops, &d), KERN_SUCCESS);
	CHECK(d.n > 0 && d.ev[0].kind == EV_HOST);
	return d;
}

static void dump_free(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ev[i].bytes);
	free(d->ev);
	memset(d, 0, sizeof *d);
}

/* Feeds events [0, n) of d to the import; returns the first failure, or
 * what machvm_import_end says. */
static kern_return_t replay(const struct ev *ev, size_t n)
{
	CHECK(n > 0 && ev[0].kind == EV_HOST);
	kern_return_t kr = machvm_import_begin(&ev[0].host);
	for (size_t i = 1; i < n && kr == KERN_SUCCESS; i++) {
		const struct ev *e = &ev[i];
		switch (e->kind) {
		case EV_HOST: kr = machvm_import_begin(&e->host); break;
		case EV_OBJECT: kr = machvm_import_object(&e->object); break;
		case EV_PAGE: kr = machvm_import_page(e->page_object, e->page_index, e->bytes); break;
		case EV_TASK: kr = machvm_import_task(&e->task); break;
		case EV_ENTRY: kr = machvm_import_entry(e->entry_task, &e->entry); break;
		}
	}
	if (kr == KERN_SUCCESS)
		kr = machvm_import_end();
	return kr;
}

/* Two exports must be the same, event for event, byte for byte. */
static void dump_compare(const struct dump *a, const struct dump *b)
{
	if (a->n != b->n)
		harness_fail(__FILE__, __LINE__, "export has %zu events, was %zu", b->n, a->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct ev *x = &a->ev[i], *y = &b->ev[i];
		int same = x->kind == y->kind;
		if (same) {
			switch (x->kind) {
			case EV_HOST: same = !memcmp(&x->host, &y->host, sizeof x->host); break;
			case EV_OBJECT: same = !memcmp(&x->object, &y->object, sizeof x->object); break;
			case EV_TASK: same = !memcmp(&x->task, &y->task, sizeof x->task); break;
			case EV_ENTRY:
				same = x->entry_task == y->entry_task &&
				       !memcmp(&x->entry, &y->entry, sizeof x->entry);
				break;
			case EV_PAGE:
				same = x->page_object == y->page_object && x->page_index == y->page_index &&
				       !memcmp(x->bytes, y->bytes, a->page_size);
				break;
			}
		}
		if (!same)
			harness_fail(__FILE__, __LINE__, "export event %zu (kind %d) differs", i, x->kind);
	}
}

/* ---- the observable picture of a host ---------------------------------- */

struct task_pic {
	task_t id;
	machvm_task_stats_t stats;
	util_snap_t snap;
	unsigned char *bytes;           /* every readable region, in order */
	size_t nbytes;
};

struct picture {
	machvm_host_stats_t host;
	struct task_pic *t;
	size_t n;
};

static struct picture picture_take(void)
{
	struct picture p;
	memset(&p, 0, sizeof p);
	p.host = util_host_stats();
	task_t ids[256];
	size_t count = 0;
	CHECK_KR(machvm_task_list(ids, 256, &count), KERN_SUCCESS);
	CHECK(count <= 256);
	p.t = calloc(count ? count : 1, sizeof *p.t);
	p.n = count;
	for (size_t i = 0; i < count; i++) {
		struct task_pic *tp = &p.t[i];
		tp->id = ids[i];
		tp->stats = util_task_stats(ids[i]);
		tp->snap = util_snapshot(ids[i]);
		for (size_t r = 0; r < tp->snap.count; r++) {
			const vm_region_extended_info_t *ri = &tp->snap.regions[r];
			if (!(ri->protection & VM_PROT_READ))
				continue;
			tp->bytes = realloc(tp->bytes, tp->nbytes + ri->size);
			CHECK(tp->bytes != NULL);
			vm_size_t got = 0;
			CHECK_KR(vm_read(ids[i], ri->start, ri->size, tp->bytes + tp->nbytes, &got),
			         KERN_SUCCESS);
			CHECK_EQ(got, ri->size);
			tp->nbytes += ri->size;
		}
	}
	return p;
}

static void picture_free(struct picture *p)
{
	for (size_t i = 0; i < p->n; i++) {
		util_snap_free(&p->t[i].snap);
		free(p->t[i].bytes);
	}
	free(p->t);
	memset(p, 0, sizeof *p);
}

/* Everything observable must be equal; `exact` also compares what depends
 * on the objects' internal shape (object ids, depths, reference counts). */
static void picture_compare(const struct picture *a, const struct picture *b, int exact)
{
	char why[256];
	if (a->n != b->n)
		harness_fail(__FILE__, __LINE__, "%zu tasks, were %zu", b->n, a->n);
#define HOST_FIELD(f) if (a->host.f != b->host.f) \
		harness_fail(__FILE__, __LINE__, "host stats %s %llu -> %llu", #f, \
		             (unsigned long long)a->host.f, (unsigned long long)b->host.f)
	HOST_FIELD(page_size);
	HOST_FIELD(tasks);
	HOST_FIELD(entries);
	HOST_FIELD(wired_pages);
	HOST_FIELD(virtual_size);
	if (exact) {
		HOST_FIELD(objects);
		HOST_FIELD(resident_pages);
		HOST_FIELD(faults);
		HOST_FIELD(zero_fill_faults);
		HOST_FIELD(cow_faults);
		HOST_FIELD(shadows_created);
		HOST_FIELD(collapses);
		HOST_FIELD(bypasses);
		HOST_FIELD(pages_copied);
	}
#undef HOST_FIELD
	for (size_t i = 0; i < a->n; i++) {
		const struct task_pic *x = &a->t[i], *y = &b->t[i];
		if (x->id != y->id)
			harness_fail(__FILE__, __LINE__, "task %zu is %u, was %u", i, y->id, x->id);
		/* The parent stays named; a rebuilt task never takes it for
		 * alive (the file names parents by id only and ids are reused,
		 * docs/semantics.md 5). */
		if (x->stats.parent != y->stats.parent || (y->stats.parent_alive && !x->stats.parent_alive))
			harness_fail(__FILE__, __LINE__, "task %u: parent %u (alive %d) -> %u (alive %d)",
			             x->id, x->stats.parent, x->stats.parent_alive, y->stats.parent,
			             y->stats.parent_alive);
		if (exact) {
			if (util_snap_diff(&x->snap, &y->snap, why, sizeof why))
				harness_fail(__FILE__, __LINE__, "task %u: %s", x->id, why);
		} else {
			if (x->snap.count != y->snap.count)
				harness_fail(__FILE__, __LINE__, "task %u: %zu regions, were %zu",
				             x->id, y->snap.count, x->snap.count);
			for (size_t r = 0; r < x->snap.count; r++) {
				const vm_region_extended_info_t *p = &x->snap.regions[r], *q = &y->snap.regions[r];
				if (p->start != q->start || p->size != q->size ||
				    p->protection != q->protection || p->max_protection != q->max_protection ||
				    p->inheritance != q->inheritance || p->shared != q->shared ||
				    p->wired_count != q->wired_count || p->cache != q->cache ||
				    p->cache_flushes != q->cache_flushes)
					harness_fail(__FILE__, __LINE__, "task %u: region %zu (0x%llx) differs",
					             x->id, r, (unsigned long long)p->start);
			}
		}
		if (x->nbytes != y->nbytes || (x->nbytes && memcmp(x->bytes, y->bytes, x->nbytes)))
			harness_fail(__FILE__, __LINE__, "task %u: the bytes of its readable regions differ",
			             x->id);
	}
}

/* ---- building a host with everything in it ---------------------------- */

/* Byte i of a fill with v: differs from page to page and within a page. */
static unsigned char pattern(unsigned char v, vm_size_t i)
{
	return (unsigned char)(v + i / 4096 * 7 + (i & 0xff));
}

static void fill(task_t t, vm_address_t addr, vm_size_t size, unsigned char v)
{
	unsigned char *b = malloc(size);
	vm_size_t n = 0;
	CHECK(b != NULL);
	for (vm_size_t i = 0; i < size; i++)
		b[i] = pattern(v, i);
	CHECK_KR(vm_write(t, addr, b, size, &n), KERN_SUCCESS);
	CHECK_EQ(n, size);
	free(b);
}

static task_t fork_task(task_t parent)
{
	task_t c = TASK_NULL;
	CHECK_KR(task_create(parent, TRUE, &c), KERN_SUCCESS);
	return c;
}

/* Addresses of the scenario (page size 4096). */
#define A_COW     0x100000ull   /* 8 pages, copied at fork, written on both sides */
#define A_SHARED  0x200000ull   /* 4 pages, inherit share */
#define A_WIRED   0x300000ull   /* 2 pages, wired */
#define A_RO      0x400000ull   /* 3 pages, read only, max r-x, cache off, flushed */
#define A_NONE    0x500000ull   /* 2 pages, inherit none */
#define A_EMPTY   0x600000ull   /* 5 pages, never touched */
#define A_NOREAD  0x700000ull   /* 1 page, written then protected --- */

struct scenario {
	task_t t1, t2, t3, t4, t5, dead_parent_child;
	vm_address_t remap_share, remap_copy;
};

static struct scenario build_host(void)
{
	struct scenario s;
	vm_size_t P = util_page_size();
	CHECK_EQ(P, 4096);
	memset(&s, 0, sizeof s);

	s.t1 = harness_task();
	harness_alloc(s.t1, A_COW, 8 * P);
	fill(s.t1, A_COW, 8 * P, 0x10);
	harness_alloc(s.t1, A_SHARED, 4 * P);
	fill(s.t1, A_SHARED, 4 * P, 0x20);
	CHECK_KR(vm_inherit(s.t1, A_SHARED, 4 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
	harness_alloc(s.t1, A_WIRED, 2 * P);
	fill(s.t1, A_WIRED, P, 0x30);
	CHECK_KR(vm_wire(host_priv_self(), s.t1, A_WIRED, 2 * P, RW), KERN_SUCCESS);
	harness_alloc(s.t1, A_RO, 3 * P);
	fill(s.t1, A_RO + P, P, 0x40);
	CHECK_KR(vm_protect(s.t1, A_RO, 3 * P, TRUE, RX), KERN_SUCCESS);
	CHECK_KR(vm_protect(s.t1, A_RO, 3 * P, FALSE, R), KERN_SUCCESS);
	vm_machine_attribute_val_t v = MATTR_VAL_OFF;
	CHECK_KR(vm_machine_attribute(s.t1, A_RO, 3 * P, MATTR_CACHE, &v), KERN_SUCCESS);
	v = MATTR_VAL_CACHE_FLUSH;
	CHECK_KR(vm_machine_attribute(s.t1, A_RO, 3 * P, MATTR_CACHE, &v), KERN_SUCCESS);
	v = MATTR_VAL_ICACHE_FLUSH;
	CHECK_KR(vm_machine_attribute(s.t1, A_RO, P, MATTR_CACHE, &v), KERN_SUCCESS);
	harness_alloc(s.t1, A_NONE, 2 * P);
	fill(s.t1, A_NONE, 2 * P, 0x50);
	CHECK_KR(vm_inherit(s.t1, A_NONE, 2 * P, VM_INHERIT_NONE), KERN_SUCCESS);
	harness_alloc(s.t1, A_EMPTY, 5 * P);
	harness_alloc(s.t1, A_NOREAD, P);
	fill(s.t1, A_NOREAD, P, 0x60);
	CHECK_KR(vm_protect(s.t1, A_NOREAD, P, FALSE, VM_PROT_NONE), KERN_SUCCESS);

	/* A chain: t2 from t1, t3 from t2, writes on every side. */
	s.t2 = fork_task(s.t1);
	fill(s.t2, A_COW + 2 * P, 2 * P, 0x70);
	fill(s.t1, A_COW + 5 * P, P, 0x80);
	s.t3 = fork_task(s.t2);
	fill(s.t3, A_COW + 3 * P, P, 0x90);
	fill(s.t2, A_COW + 7 * P, P, 0xa0);
	fill(s.t2, A_SHARED + P, 16, 0xb0);   /* shared: t1 sees it too */

	/* Remaps into a fresh task: one shared (true_share), one copied. */
	s.t4 = harness_task();
	vm_prot_t cur, max;
	s.remap_share = 0;
	CHECK_KR(vm_remap(s.t4, &s.remap_share, 2 * P, 0, TRUE, s.t1, A_COW + P, FALSE,
	                  &cur, &max, VM_INHERIT_SHARE), KERN_SUCCESS);
	s.remap_copy = 0x800000;
	CHECK_KR(vm_remap(s.t4, &s.remap_copy, 4 * P, 0, FALSE, s.t3, A_COW + 2 * P, TRUE,
	                  &cur, &max, VM_INHERIT_COPY), KERN_SUCCESS);
	fill(s.t4, s.remap_copy + P, P, 0xc0);

	/* A task whose parent is gone, and ids no live task has. */
	task_t doomed = fork_task(s.t3);
	s.dead_parent_child = fork_task(doomed);
	fill(s.dead_parent_child, A_COW, P, 0xd0);
	CHECK_KR(task_terminate(doomed), KERN_SUCCESS);
	s.t5 = harness_task();
	harness_alloc(s.t5, 0x1000, P);
	task_t last = harness_task();
	CHECK_KR(task_terminate(last), KERN_SUCCESS);
	return s;
}

/* Stops the host and imports d into it; must succeed. */
static void reimport(const struct dump *d)
{
	machvm_host_stop();
	kern_return_t kr = replay(d->ev, d->n);
	if (kr != KERN_SUCCESS)
		harness_fail(__FILE__, __LINE__, "import: %s: %s", kern_return_name(kr),
		             machvm_import_error());
	CHECK_EQ(machvm_import_error()[0], '\0');
}

/* ---- round trips ------------------------------------------------------- */

TEST(export_order_and_content)
{
	build_host();
	struct dump d = dump_take();
	vm_size_t P = util_page_size();
	/* Objects before tasks; a shadow before its object; pages right after
	 * their object, ascending; tasks ascending; entries ascending. */
	uint64_t seen[512];
	size_t nseen = 0;
	uint64_t last_object = 0, last_page = 0, last_task = 0, last_end = 0;
	int phase = 0;
	for (size_t i = 1; i < d.n; i++) {
		const struct ev *e = &d.ev[i];
		switch (e->kind) {
		case EV_HOST:
			CHECK(!"a second host event");
			break;
		case EV_OBJECT:
			CHECK(phase == 0);
			CHECK(nseen < 512);
			if (e->object.shadow) {
				int found = 0;
				for (size_t j = 0; j < nseen; j++)
					found |= seen[j] == e->object.shadow;
				CHECK(found);
			}
			seen[nseen++] = last_object = e->object.id;
			last_page = 0;
			CHECK(e->object.size % P == 0);
			break;
		case EV_PAGE:
			CHECK(phase == 0);
			CHECK_EQ(e->page_object, last_object);
			CHECK(last_page == 0 || e->page_index > last_page - 1);
			last_page = e->page_index + 1;
			break;
		case EV_TASK:
			phase = 1;
			CHECK(e->task.id > last_task);
			last_task = e->task.id;
			last_end = 0;
			break;
		case EV_ENTRY:
			CHECK(phase == 1);
			CHECK_EQ(e->entry_task, last_task);
			CHECK(e->entry.start >= last_end);
			last_end = e->entry.end;
			break;
		}
	}
	CHECK(nseen > 5);
	machvm_host_stats_t h = util_host_stats();
	CHECK_EQ(nseen, h.objects);
	CHECK_EQ(d.ev[0].host.page_size, P);
	CHECK_EQ(d.ev[0].host.faults, h.faults);
	CHECK_EQ(d.ev[0].host.cow_faults, h.cow_faults);
	dump_free(&d);
}

TEST(round_trip_everything_back)
{
	struct scenario s = build_host();
	/* The export first: the picture's reads count faults. */
	struct dump d = dump_take();
	struct picture before = picture_take();
	CHECK(before.n == 6);

	reimport(&d);

	/* The export of the rebuilt host is the export it was built from. */
	struct dump again = dump_take();
	dump_compare(&d, &again);
	dump_free(&again);
	struct picture after = picture_take();
	picture_compare(&before, &after, 1);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
	/* The dead parent is still named, and still dead. */
	machvm_task_stats_t st = util_task_stats(s.dead_parent_child);
	CHECK(st.parent != TASK_NULL && !st.parent_alive);
	picture_free(&before);
	picture_free(&after);
	dump_free(&d);
}

TEST(round_trip_keeps_next_ids)
{
	build_host();
	struct dump d = dump_take();
	uint64_t next_task = d.ev[0].host.next_task_id, next_object = d.ev[0].host.next_object_id;
	/* The last task was terminated: its id is free again, and the next
	 * task takes the lowest free id, after the import as before it. */
	CHECK(!machvm_task_alive((task_t)next_task - 1));
	task_t lowest = 1;
	while (machvm_task_alive(lowest))
		lowest++;
	reimport(&d);
	struct dump d2 = dump_take();
	CHECK_EQ(d2.ev[0].host.next_task_id, next_task);
	dump_free(&d2);
	task_t t = harness_task();
	CHECK_EQ(t, lowest);
	harness_alloc(t, 0x10000, 4096);
	util_write_byte(t, 0x10000, 1);
	CHECK_EQ(util_region(t, 0x10000).object_id, next_object);
	dump_free(&d);
}

/* The same writes on the original and on the rebuilt host read the same. */
static void exercise(const struct scenario *s)
{
	vm_size_t P = 4096;
	vm_size_t n;
	/* Copy-on-write: each side of the chain writes its own copy. */
	fill(s->t3, A_COW, 8 * P, 0x11);
	fill(s->t1, A_COW + 2 * P, P, 0x22);
	fill(s->t2, A_COW + 6 * P, 2 * P, 0x33);
	/* Sharing: t2's write to the shared region shows in t1; t4's to the
	 * shared remap shows in t1. */
	fill(s->t2, A_SHARED, 4 * P, 0x44);
	fill(s->t4, s->remap_share, P, 0x55);
	fill(s->t4, s->remap_copy, 4 * P, 0x66);
	/* Wired pages take no fault. */
	machvm_task_stats_t w0 = util_task_stats(s->t1);
	fill(s->t1, A_WIRED, 2 * P, 0x77);
	machvm_task_stats_t w1 = util_task_stats(s->t1);
	CHECK_EQ(w1.faults, w0.faults);
	/* Protections still hold. */
	unsigned char b = 1;
	CHECK_KR(vm_write(s->t1, A_RO, &b, 1, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_read(s->t1, A_NOREAD, 1, &b, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_protect(s->t1, A_RO, P, FALSE, RW), KERN_PROTECTION_FAILURE);
	/* A fork of the rebuilt host, and a write after it. */
	task_t c = fork_task(s->t1);
	fill(c, A_SHARED + 2 * P, P, 0x88);
	fill(c, A_COW + 4 * P, P, 0x99);
}

TEST(round_trip_then_writes_behave)
{
	struct scenario s = build_host();
	struct dump d = dump_take();
	exercise(&s);
	struct picture want = picture_take();

	reimport(&d);
	exercise(&s);
	struct picture got = picture_take();
	picture_compare(&want, &got, 0);

	/* And the relations by name: t1 sees t2's shared write and t4's write
	 * through the shared remap; t3's copy is its own. */
	CHECK_EQ(util_read_byte(s.t1, A_SHARED), 0x44);
	CHECK_EQ(util_read_byte(s.t1, A_COW + 4096), 0x55);
	CHECK_EQ(util_read_byte(s.t3, A_COW + 2 * 4096 + 5), pattern(0x11, 2 * 4096 + 5));
	CHECK(util_read_byte(s.t1, A_COW) != 0x11);
	CHECK(util_read_byte(s.t2, A_COW) != 0x11);
	picture_free(&want);
	picture_free(&got);
	dump_free(&d);
}

TEST(round_trip_twice_and_other_page_size)
{
	harness_restart(16384);
	task_t a = harness_task();
	harness_alloc(a, 0x40000, 3 * 16384);
	fill(a, 0x40000, 3 * 16384, 0x5a);
	task_t b = fork_task(a);
	fill(b, 0x40000 + 16384, 100, 0x6b);
	struct dump d = dump_take();
	struct picture before = picture_take();
	CHECK_EQ(d.ev[0].host.page_size, 16384);
	reimport(&d);
	struct dump d2 = dump_take();
	dump_compare(&d, &d2);
	reimport(&d2);
	struct picture after = picture_take();
	picture_compare(&before, &after, 1);
	vm_size_t P = 0;
	CHECK_KR(host_page_size(mach_host_self(), &P), KERN_SUCCESS);
	CHECK_EQ(P, 16384);
	picture_free(&before);
	picture_free(&after);
	dump_free(&d);
	dump_free(&d2);
}

TEST(round_trip_empty_host)
{
	task_t t = harness_task();
	CHECK_KR(task_terminate(t), KERN_SUCCESS);
	struct dump d = dump_take();
	CHECK_EQ(d.n, 1);
	CHECK_EQ(d.ev[0].host.next_task_id, 2);
	reimport(&d);
	size_t count = 99;
	CHECK_KR(machvm_task_list(NULL, 0, &count), KERN_SUCCESS);
	CHECK_EQ(count, 0);
	CHECK_EQ(harness_task(), 1);            /* ids are reused */
	dump_free(&d);
}

static unsigned rnd(unsigned long long *x, unsigned n)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((*x >> 33) % n);
}

/* A pseudo-random history of forks, writes, remaps and terminations. */
TEST(round_trip_random_histories)
{
	for (unsigned seed = 1; seed <= 12; seed++) {
		harness_restart(4096);
		unsigned long long x = seed * 0x9E3779B97F4A7C15ull;
#define RND(n) rnd(&x, (n))
		task_t live[16];
		size_t nlive = 0;
		live[nlive++] = harness_task();
		harness_alloc(live[0], 0x10000, 32 * 4096);
		for (int step = 0; step < 120; step++) {
			task_t t = live[RND(nlive)];
			unsigned op = RND(10);
			vm_address_t a = 0x10000 + RND(32) * 4096ull;
			if (op < 4) {
				unsigned char buf[64];
				vm_size_t n;
				memset(buf, (int)RND(256), sizeof buf);
				(void)vm_write(t, a + RND(4000), buf, sizeof buf, &n);
			} else if (op == 4 && nlive < 16) {
				live[nlive++] = fork_task(t);
			} else if (op == 5 && nlive > 1) {
				size_t i = RND(nlive);
				CHECK_KR(task_terminate(live[i]), KERN_SUCCESS);
				live[i] = live[--nlive];
			} else if (op == 6) {
				(void)vm_inherit(t, a, 4096 * (1 + RND(4)),
				                 RND(3) == 0 ? VM_INHERIT_SHARE : VM_INHERIT_COPY);
			} else if (op == 7) {
				vm_address_t to = 0;
				vm_prot_t cur, max;
				(void)vm_remap(live[RND(nlive)], &to, 4096 * (1 + RND(3)), 0, TRUE, t, a,
				               RND(2), &cur, &max, VM_INHERIT_COPY);
			} else if (op == 8) {
				(void)vm_wire(host_priv_self(), t, a, 4096, RND(2) ? RW : VM_PROT_NONE);
			} else {
				(void)vm_protect(t, a, 4096, FALSE, RND(2) ? R : RW);
			}
		}
#undef RND
		struct dump d = dump_take();
		struct picture before = picture_take();
		reimport(&d);
		struct dump again = dump_take();
		dump_compare(&d, &again);
		struct picture after = picture_take();
		picture_compare(&before, &after, 1);
		dump_free(&again);
		dump_free(&d);
		picture_free(&before);
		picture_free(&after);
	}
}

TEST(export_callback_stops_it)
{
	build_host();
	struct dump full = dump_take();
	size_t where[] = { 0, 1, 3, full.n - 1 };
	for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
		struct dump d;
		memset(&d, 0, sizeof d);
		d.stop_at = (int)where[i];
		CHECK_KR(machvm_host_export(&dump_ops, &d), KERN_FAILURE);
		CHECK_EQ(d.n, where[i]);
		dump_free(&d);
	}
	CHECK_KR(machvm_host_export(NULL, NULL), KERN_INVALID_ARGUMENT);
	/* Nothing changed: the host still exports the same. */
	struct dump again = dump_take();
	dump_compare(&full, &again);
	dump_free(&again);
	dump_free(&full);
}

TEST(import_needs_a_stopped_host)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 4096);
	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = 4096;
	h.next_task_id = 1;
	h.next_object_id = 1;
	CHECK_KR(machvm_import_begin(&h), KERN_FAILURE);
	/* The running host is untouched, and no import is in progress. */
	CHECK(machvm_task_alive(t));
	CHECK_EQ(harness_region_count(t), 1);
	machvm_object_desc_t o = { 1, 4096, 0, 0, FALSE };
	CHECK_KR(machvm_import_object(&o), KERN_FAILURE);
	CHECK_KR(machvm_import_end(), KERN_FAILURE);
	CHECK(machvm_task_alive(t));
}

/* ---- broken data ------------------------------------------------------- */

/* The import of ev must fail with want, give a reason holding `says`, and
 * leave the host stopped with no import in progress. */
#define EXPECT_REFUSED(ev, n, want, says) expect_refused(__LINE__, (ev), (n), (want), (says))
static void expect_refused(int line, const struct ev *ev, size_t n, kern_return_t want,
                           const char *says)
{
	kern_return_t kr = replay(ev, n);
	if (kr != want)
		harness_fail(__FILE__, line, "import: got %s, want %s (%s)", kern_return_name(kr),
		             kern_return_name(want), machvm_import_error());
	if (strstr(machvm_import_error(), says) == NULL)
		harness_fail(__FILE__, line, "import error '%s' does not say '%s'",
		             machvm_import_error(), says);
	CHECK_KR(machvm_import_end(), KERN_FAILURE);
	/* Stopped: it starts again (and is empty). */
	CHECK_KR(machvm_host_start(4096), KERN_SUCCESS);
	size_t count = 99;
	CHECK_KR(machvm_task_list(NULL, 0, &count), KERN_SUCCESS);
	CHECK_EQ(count, 0);
	CHECK_EQ(util_host_stats().objects, 0);
	CHECK_EQ(util_host_stats().resident_pages, 0);
	machvm_host_stop();
}

/* A copy of d's events to spoil; the page bytes stay d's. */
static struct ev *copy_events(const struct dump *d, size_t extra)
{
	struct ev *ev = malloc((d->n + extra) * sizeof *ev);
	CHECK(ev != NULL);
	memcpy(ev, d->ev, d->n * sizeof *ev);
	return ev;
}

static size_t find_ev(const struct ev *ev, size_t n, enum ev_kind kind, size_t nth)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].kind == kind && nth-- == 0)
			return i;
	harness_fail(__FILE__, __LINE__, "no event of kind %d", kind);
	return 0;
}

/* The entry of task t starting at a. */
static size_t find_entry(const struct ev *ev, size_t n, task_t t, uint64_t a)
{
	for (size_t i = 0; i < n; i++)
		if (ev[i].kind == EV_ENTRY && ev[i].entry_task == t && ev[i].entry.start == a)
			return i;
	harness_fail(__FILE__, __LINE__, "no entry of task %u at 0x%llx", t, (unsigned long long)a);
	return 0;
}

TEST(import_refuses_broken_data)
{
	struct scenario s = build_host();
	struct dump d = dump_take();
	machvm_host_stop();
	size_t n = d.n, i;
	struct ev *ev;

	/* The host itself. */
	ev = copy_events(&d, 0);
	ev[0].host.page_size = 5000;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "page size");
	ev[0] = d.ev[0];
	ev[0].host.next_task_id = 0;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "next task id");
	ev[0] = d.ev[0];
	ev[0].host.next_task_id = s.t5;         /* below a task's id */
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "next_task_id");
	ev[0] = d.ev[0];
	ev[0].host.next_object_id = 2;          /* below the object ids */
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "next_object_id");
	ev[0] = d.ev[0];
	ev[0].host.next_object_id = (1ull << 53) + 1;   /* a save could not keep counting */
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "next object id 9007199254740993 is not from 1 to 2^53");
	free(ev);

	/* Objects. */
	ev = copy_events(&d, 0);
	i = find_ev(ev, n, EV_OBJECT, 1);
	ev[i].object.id = ev[find_ev(ev, n, EV_OBJECT, 0)].object.id;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "given twice");
	free(ev);

	ev = copy_events(&d, 0);
	for (i = 0; i < n && !(ev[i].kind == EV_OBJECT && ev[i].object.shadow); i++)
		;
	CHECK(i < n);
	ev[i].object.shadow = 999999;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "was not given before it");
	ev[i] = d.ev[i];
	ev[i].object.shadow_offset = ev[i].object.shadow_offset + 1;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "not page aligned");
	ev[i] = d.ev[i];
	ev[i].object.shadow_offset = 1ull << 40;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "runs past the end of its shadow");
	ev[i] = d.ev[i];
	ev[i].object.size = 4095;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "size");
	ev[i] = d.ev[i];
	ev[i].object.size = 0;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "size");
	free(ev);

	/* Pages. */
	ev = copy_events(&d, 1);
	i = find_ev(ev, n, EV_PAGE, 0);
	ev[i].page_index = 1ull << 30;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "outside its");
	ev[i] = d.ev[i];
	ev[i].page_object = 424242;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "no such object");
	ev[i] = d.ev[i];
	memmove(&ev[i + 1], &ev[i], (n - i) * sizeof *ev);      /* the same page twice */
	EXPECT_REFUSED(ev, n + 1, KERN_INVALID_ARGUMENT, "given twice");
	free(ev);

	/* An object nobody uses. */
	ev = copy_events(&d, 1);
	i = find_ev(ev, n, EV_TASK, 0);
	memmove(&ev[i + 1], &ev[i], (n - i) * sizeof *ev);
	memset(&ev[i], 0, sizeof ev[i]);
	ev[i].kind = EV_OBJECT;
	ev[i].object.id = d.ev[0].host.next_object_id - 1;
	ev[i].object.size = 4096;
	for (size_t j = 0; j < i; j++)
		if (ev[j].kind == EV_OBJECT && ev[j].object.id == ev[i].object.id)
			ev[i].object.id = 1000;     /* the last id is taken: use a free one */
	ev[0].host.next_object_id = 1001;
	EXPECT_REFUSED(ev, n + 1, KERN_INVALID_ARGUMENT, "used by no map entry");
	free(ev);

	/* Tasks. */
	ev = copy_events(&d, 0);
	i = find_ev(ev, n, EV_TASK, 1);
	ev[i].task.id = ev[find_ev(ev, n, EV_TASK, 0)].task.id;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "ascending");
	ev[i] = d.ev[i];
	ev[i].task.parent = ev[i].task.id;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "parent");
	free(ev);

	/* Entries. */
	ev = copy_events(&d, 0);
	i = find_entry(ev, n, s.t1, A_RO);
	ev[i].entry.object = 777777;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "object 777777 was not given");
	ev[i] = d.ev[i];
	ev[i].entry.protection = 0x9;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "bits outside rwx");
	ev[i] = d.ev[i];
	ev[i].entry.protection = VM_PROT_ALL;  /* max is r-x */
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "exceeds the maximum");
	ev[i] = d.ev[i];
	ev[i].entry.inheritance = 3;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "inheritance");
	ev[i] = d.ev[i];
	ev[i].entry.start = A_WIRED;            /* into the entry before it */
	ev[i].entry.end = A_WIRED + 0x1000;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "overlaps");
	ev[i] = d.ev[i];
	ev[i].entry.start += 1;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "page-aligned");
	ev[i] = d.ev[i];
	ev[i].entry.end = (1ull << 47) + 0x1000;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "page-aligned");
	ev[i] = d.ev[i];
	ev[i].entry.offset = 1ull << 40;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "runs past the end of object");
	ev[i] = d.ev[i];
	ev[i].entry.wired_count = 70000;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "wired count");
	ev[i] = d.ev[i];
	ev[i].entry_task = 12345;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "no such task");
	ev[i] = d.ev[i];
	free(ev);

	/* Found only once built, by the map checker. */
	ev = copy_events(&d, 0);
	i = find_entry(ev, n, s.t1, A_SHARED);
	ev[i].entry.needs_copy = TRUE;
	EXPECT_REFUSED(ev, n, KERN_INVALID_ARGUMENT, "shared entry marked needs_copy");
	free(ev);
	/* Not refused but mended: an untouched region given as two equal
	 * halves comes back as one region. */
	ev = copy_events(&d, 1);
	i = find_entry(ev, n, s.t1, A_EMPTY);
	memmove(&ev[i + 1], &ev[i], (n - i) * sizeof *ev);
	ev[i].entry.end = A_EMPTY + 0x2000;
	ev[i + 1].entry.start = A_EMPTY + 0x2000;
	CHECK_KR(replay(ev, n + 1), KERN_SUCCESS);
	CHECK_EQ(util_region(s.t1, A_EMPTY).size, 5 * 4096);
	struct dump mended = dump_take();
	dump_compare(&d, &mended);
	dump_free(&mended);
	machvm_host_stop();
	free(ev);

	/* A wired entry whose pages are missing. */
	ev = copy_events(&d, 0);
	i = find_entry(ev, n, s.t1, A_WIRED);
	uint64_t wobj = ev[i].entry.object;
	size_t m = 0;
	for (size_t j = 0; j < n; j++)
		if (!(ev[j].kind == EV_PAGE && ev[j].page_object == wobj && ev[j].page_index == 1))
			ev[m++] = ev[j];
	CHECK_EQ(m, n - 1);
	EXPECT_REFUSED(ev, m, KERN_INVALID_ARGUMENT, "wired entry");
	free(ev);

	/* Calls out of turn. */
	CHECK_KR(machvm_import_page(1, 0, d.ev[find_ev(d.ev, n, EV_PAGE, 0)].bytes), KERN_FAILURE);
	CHECK_KR(machvm_import_task(&d.ev[find_ev(d.ev, n, EV_TASK, 0)].task), KERN_FAILURE);

	/* After all that the good data still imports. */
	CHECK_KR(replay(d.ev, d.n), KERN_SUCCESS);
	CHECK(machvm_task_alive(s.t4));
	dump_free(&d);
}

TEST(import_merges_an_object_only_its_shadow_uses)
{
	/* Object 1 (a page of 0x42s) is used only by object 2, its shadow,
	 * which one entry maps: what a terminating task leaves for a moment. */
	machvm_host_stop();
	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = 4096;
	h.next_task_id = 2;
	h.next_object_id = 3;
	unsigned char page[4096], second[4096];
	memset(page, 0x42, sizeof page);
	memset(second, 0x43, sizeof second);
	machvm_object_desc_t o1 = { 1, 2 * 4096, 0, 0, FALSE };
	machvm_object_desc_t o2 = { 2, 2 * 4096, 1, 0, FALSE };
	machvm_task_desc_t t = { 1, 0, 0, 0, 0 };
	machvm_entry_desc_t e;
	memset(&e, 0, sizeof e);
	e.start = 0x10000;
	e.end = 0x12000;
	e.object = 2;
	e.protection = RW;
	e.max_protection = VM_PROT_ALL;
	e.inheritance = VM_INHERIT_COPY;
	e.cache = TRUE;
	CHECK_KR(machvm_import_begin(&h), KERN_SUCCESS);
	CHECK_KR(machvm_import_object(&o1), KERN_SUCCESS);
	CHECK_KR(machvm_import_page(1, 0, page), KERN_SUCCESS);
	CHECK_KR(machvm_import_page(1, 1, page), KERN_SUCCESS);
	CHECK_KR(machvm_import_object(&o2), KERN_SUCCESS);
	CHECK_KR(machvm_import_page(2, 1, second), KERN_SUCCESS);
	CHECK_KR(machvm_import_task(&t), KERN_SUCCESS);
	CHECK_KR(machvm_import_entry(1, &e), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().objects, 1);
	CHECK_EQ(util_host_stats().resident_pages, 2);
	CHECK_EQ(util_read_byte(1, 0x10000), 0x42);
	CHECK_EQ(util_read_byte(1, 0x11000), 0x43);
	vm_region_extended_info_t r = util_region(1, 0x10000);
	CHECK_EQ(r.object_id, 2);
	CHECK_EQ(r.shadow_depth, 0);
	CHECK_EQ(r.share_mode, SM_PRIVATE);
}

/*
 * A file may say the host had handed out every id (next_task_id is the
 * limit) and name a dead parent above every live task: the import keeps
 * that next id, so the host saves it again and the file loads again.
 */
TEST(import_keeps_next_task_id_at_the_limit)
{
	machvm_host_stop();
	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = 4096;
	h.next_task_id = MACHVM_TASK_ID_LIMIT;
	h.next_object_id = 1;
	CHECK_KR(machvm_import_begin(&h), KERN_SUCCESS);
	machvm_task_desc_t t = { 1, 3, 0, 0, 0 };
	CHECK_KR(machvm_import_task(&t), KERN_SUCCESS);
	CHECK_KR(machvm_import_end(), KERN_SUCCESS);
	struct dump d = dump_take();
	CHECK_EQ(d.ev[0].host.next_task_id, MACHVM_TASK_ID_LIMIT);
	reimport(&d);
	CHECK_EQ(harness_task(), 2);            /* the lowest free id */
	dump_free(&d);
}

TEST(import_abort_stops_the_host)
{
	machvm_host_stop();
	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = 4096;
	h.next_task_id = 5;
	h.next_object_id = 1;
	CHECK_KR(machvm_import_begin(&h), KERN_SUCCESS);
	machvm_task_desc_t t = { 3, 0, 1, 1, 0 };
	CHECK_KR(machvm_import_task(&t), KERN_SUCCESS);
	machvm_import_abort();
	CHECK_KR(machvm_import_end(), KERN_FAILURE);
	CHECK_KR(machvm_host_start(4096), KERN_SUCCESS);
	CHECK_EQ(harness_task(), 1);
}

/* ---- who sees which bytes ----------------------------------------------- */

/* A small host described by hand: objects 1..nobj (each 4 pages, object i
 * shadowing shadow_of[i] at offset 0 if non-zero, page 0 resident), tasks
 * 1..ntasks, and the entries given. */
struct tiny_entry {
	task_t task;
	uint64_t start, pages, object, offset;
	boolean_t shared, needs_copy;
};

static kern_return_t tiny_import(size_t nobj, const uint64_t *shadow_of, size_t ntasks,
                                 const struct tiny_entry *e, size_t ne)
{
	machvm_host_stop();
	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = 4096;
	h.next_task_id = ntasks + 1;
	h.next_object_id = nobj + 1;
	unsigned char page[4096];
	memset(page, 0x5a, sizeof page);
	kern_return_t kr = machvm_import_begin(&h);
	for (size_t i = 1; i <= nobj && kr == KERN_SUCCESS; i++) {
		machvm_object_desc_t o = { i, 4 * 4096, shadow_of ? shadow_of[i] : 0, 0, FALSE };
		kr = machvm_import_object(&o);
		if (kr == KERN_SUCCESS)
			kr = machvm_import_page(i, 0, page);
	}
	for (task_t t = 1; t <= ntasks && kr == KERN_SUCCESS; t++) {
		machvm_task_desc_t td = { t, 0, 0, 0, 0 };
		kr = machvm_import_task(&td);
		for (size_t j = 0; j < ne && kr == KERN_SUCCESS; j++) {
			if (e[j].task != t)
				continue;
			machvm_entry_desc_t d;
			memset(&d, 0, sizeof d);
			d.start = e[j].start;
			d.end = e[j].start + e[j].pages * 4096;
			d.object = e[j].object;
			d.offset = e[j].offset;
			d.protection = RW;
			d.max_protection = VM_PROT_ALL;
			d.inheritance = VM_INHERIT_COPY;
			d.is_shared = e[j].shared;
			d.needs_copy = e[j].needs_copy;
			d.cache = TRUE;
			kr = machvm_import_entry(t, &d);
		}
	}
	if (kr == KERN_SUCCESS)
		kr = machvm_import_end();
	return kr;
}

#define TINY_REFUSED(nobj, shadow_of, ntasks, e, says) do {                          \
	kern_return_t kr_ = tiny_import((nobj), (shadow_of), (ntasks), (e),               \
	                                sizeof (e) / sizeof (e)[0]);                      \
	if (kr_ != KERN_INVALID_ARGUMENT || !strstr(machvm_import_error(), (says)))       \
		harness_fail(__FILE__, __LINE__, "import: %s (%s), wanted a refusal saying '%s'", \
		             kern_return_name(kr_), machvm_import_error(), (says));           \
	CHECK_KR(machvm_host_start(4096), KERN_SUCCESS);                                  \
	CHECK_EQ(harness_task(), 1);    /* stopped, and started again empty */            \
} while (0)

TEST(import_refuses_a_private_object_in_two_tasks)
{
	/* What a write through one task would show in the other. */
	struct tiny_entry e[] = {
		{ 1, 0x10000, 4, 1, 0, FALSE, FALSE },
		{ 2, 0x10000, 4, 1, 0, FALSE, FALSE },
	};
	TINY_REFUSED(1, NULL, 2, e, "object 1, bytes [0x0, 0x4000): task 1 region [0x10000, 0x14000) "
	             "writes them as private (neither shared nor needs_copy), yet task 2 region "
	             "[0x10000, 0x14000) writes them as private too");
	/* Only one page in common is enough; so is one private side. */
	struct tiny_entry part[] = {
		{ 1, 0x10000, 2, 1, 0, FALSE, FALSE },
		{ 2, 0x10000, 2, 1, 0x1000, TRUE, FALSE },
	};
	TINY_REFUSED(1, NULL, 2, part, "bytes [0x1000, 0x2000)");
	/* Twice in one task, overlapping, as clipping never leaves it. */
	struct tiny_entry twice[] = {
		{ 1, 0x10000, 2, 1, 0, FALSE, FALSE },
		{ 1, 0x20000, 2, 1, 0x1000, FALSE, FALSE },
	};
	TINY_REFUSED(1, NULL, 1, twice, "writes them as private too");
}

TEST(import_refuses_a_copy_of_bytes_someone_writes)
{
	/* A shared region's object also mapped copy-on-write. */
	struct tiny_entry cow[] = {
		{ 1, 0x10000, 4, 1, 0, TRUE, FALSE },
		{ 2, 0x10000, 4, 1, 0, FALSE, TRUE },
	};
	TINY_REFUSED(1, NULL, 2, cow, "task 1 region [0x10000, 0x14000) writes them as shared, "
	             "yet task 2 region [0x10000, 0x14000) maps them copy-on-write (needs_copy)");
	/* A private region's object shadowed by another object. */
	uint64_t shadow_of[] = { 0, 0, 1 };
	struct tiny_entry under[] = {
		{ 1, 0x10000, 4, 1, 0, FALSE, FALSE },
		{ 2, 0x10000, 4, 2, 0, FALSE, FALSE },
	};
	TINY_REFUSED(2, shadow_of, 2, under, "object 2, which shadows it, reads them");
	/* needs_copy needs something to copy. */
	struct tiny_entry nothing[] = {
		{ 1, 0x10000, 4, 0, 0, FALSE, TRUE },
	};
	TINY_REFUSED(0, NULL, 1, nothing, "task 1: needs_copy entry without an object");
}

TEST(import_takes_what_the_engine_makes)
{
	/* Each of these is a state the engine itself reaches, so it loads. */
	/* Two tasks sharing, a third with a copy of another window of it. */
	struct tiny_entry shared[] = {
		{ 1, 0x10000, 2, 1, 0, TRUE, FALSE },
		{ 2, 0x10000, 2, 1, 0, TRUE, FALSE },
		{ 3, 0x10000, 2, 1, 0x2000, FALSE, TRUE },
		{ 1, 0x30000, 2, 1, 0x2000, FALSE, TRUE },
	};
	CHECK_KR(tiny_import(1, NULL, 3, shared, 4), KERN_SUCCESS);
	/* A private piece and a piece shared with another task, of one object
	 * (a shared remap of half a clipped region). */
	struct tiny_entry halves[] = {
		{ 1, 0x10000, 2, 1, 0, FALSE, FALSE },
		{ 1, 0x20000, 2, 1, 0x2000, TRUE, FALSE },
		{ 2, 0x10000, 2, 1, 0x2000, TRUE, FALSE },
	};
	CHECK_KR(tiny_import(1, NULL, 2, halves, 3), KERN_SUCCESS);
	/* Copies and shadows over one another: nobody writes the object. */
	uint64_t shadow_of[] = { 0, 0, 1 };
	struct tiny_entry copies[] = {
		{ 1, 0x10000, 4, 2, 0, FALSE, FALSE },
		{ 2, 0x10000, 4, 1, 0, FALSE, TRUE },
		{ 3, 0x10000, 4, 1, 0, FALSE, TRUE },
	};
	CHECK_KR(tiny_import(2, shadow_of, 3, copies, 3), KERN_SUCCESS);
	vm_size_t n;
	CHECK_KR(vm_write(2, 0x10000, "two", 3, &n), KERN_SUCCESS);
	CHECK_EQ(util_read_byte(3, 0x10000), 0x5a);
	CHECK_EQ(util_read_byte(1, 0x10000), 0x5a);
}

TEST(import_merges_a_long_chain_only_shadows_use)
{
	/* 1 <- 2 <- 3 <- 4, each used only by the next, the last by an entry:
	 * they come back as one object with every page. */
	uint64_t shadow_of[] = { 0, 0, 1, 2, 3 };
	struct tiny_entry e[] = { { 1, 0x10000, 4, 4, 0, FALSE, FALSE } };
	CHECK_KR(tiny_import(4, shadow_of, 1, e, 1), KERN_SUCCESS);
	CHECK_EQ(util_host_stats().objects, 1);
	vm_region_extended_info_t r = util_region(1, 0x10000);
	CHECK_EQ(r.object_id, 4);
	CHECK_EQ(r.shadow_depth, 0);
	CHECK_EQ(util_read_byte(1, 0x10000), 0x5a);
}
