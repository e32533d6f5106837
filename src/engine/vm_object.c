/*
 * vm_object.c - memory objects and copy-on-write.
 *
 * A memory object holds pages of real bytes, allocated on first write (reads
 * of a page nobody wrote see zeros and allocate nothing).  Copy-on-write
 * works as in Mach: a copy shares the object and marks both map entries
 * needs_copy; the first write through such an entry puts a new, empty shadow
 * object in front of the shared one and copies just the written page into it.
 * A lookup searches the shadow chain from the top down.
 *
 * Chains must stay short, or every fork-of-fork would make lookups slower and
 * memory grow.  Two rules keep them short:
 *  - collapse: when a backing object is referenced only by the one object
 *    that shadows it, nobody else can see it, so its pages move up into the
 *    shadow (where the shadow lacks them) and it is freed.  This is done the
 *    moment a reference drop makes it possible (vm_object_deallocate), which
 *    is when a forked task terminates or a region goes away.
 *  - bypass: when the shadow already holds every page the backing object
 *    could supply to it, the shadow can skip the backing object and point at
 *    the one behind it.  Tried after copy-on-write faults, with a back-off so
 *    that a shadow filling up page by page does not rescan its backing
 *    object every time.
 * Reference counts count map entries and shadowing objects.  Each object
 * keeps the list of objects that shadow it, so that a drop to one reference
 * can find the shadow that should absorb it.
 *
 * The call's report hears of every object made, shadowed, collapsed,
 * bypassed or freed here, as it happens (vm_report.h).  Objects freed
 * wholesale (vm_object_reset, at host stop) are not reported.
 */
#include "host.h"
#include "vm_report.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* HOST.object_order (host.h): the ids in ascending order, for vm_object_ids. */

static int order_append(uint64_t id)
{
	struct vm_object_order *ord = &HOST.object_order;

	if (ord->n == ord->cap) {
		size_t cap = ord->cap ? ord->cap * 2 : 256;
		uint64_t *v = realloc(ord->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		ord->v = v;
		ord->cap = cap;
	}
	if (ord->n > 0 && id <= ord->v[ord->n - 1])
		ord->unsorted = true;
	ord->v[ord->n++] = id;
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted, each live id once, nothing dead: O(n) (O(n log n) after an import). */
static void order_tidy(void)
{
	struct vm_object_order *ord = &HOST.object_order;
	if (ord->unsorted)
		qsort(ord->v, ord->n, sizeof *ord->v, cmp_id);
	size_t k = 0;
	for (size_t i = 0; i < ord->n; i++) {
		uint64_t id = ord->v[i];
		if ((k > 0 && ord->v[k - 1] == id) || vm_page_table_get(&HOST.objects_by_id, id) == NULL)
			continue;
		ord->v[k++] = id;
	}
	ord->n = k;
	ord->dead = 0;
	ord->unsorted = false;
}


/* The object table's lock: innermost of all (engine.h). */
static void table_lock(void)
{
	pthread_mutex_lock(&HOST.object_table_lock);
}

static void table_unlock(void)
{
	pthread_mutex_unlock(&HOST.object_table_lock);
}

static void child_link(struct vm_object *parent, struct vm_object *child)
{
	child->sib_prev = NULL;
	child->sib_next = parent->first_child;
	if (parent->first_child)
		parent->first_child->sib_prev = child;
	parent->first_child = child;
	parent->nchildren++;
}

static void child_unlink(struct vm_object *parent, struct vm_object *child)
{
	if (child->sib_prev)
		child->sib_prev->sib_next = child->sib_next;
	else
		parent->first_child = child->sib_next;
	if (child->sib_next)
		child->sib_next->sib_prev = child->sib_prev;
	child->sib_prev = child->sib_next = NULL;
	parent->nchildren--;
}

static struct vm_object *object_alloc(vm_size_t size)
{
	vm_domain_assert();
	struct vm_domain *d = vm_domain_current();
	if (d == NULL)
		machvm_panic("an object made outside a domain");
	if (!vm_mem_take(sizeof(struct vm_object)))
		return NULL;
	struct vm_object *o = calloc(1, sizeof *o);
	if (o == NULL) {
		vm_mem_give(sizeof *o);
		return NULL;
	}
	o->ref_count = 1;
	o->size = size;
	o->domain = d;
	table_lock();
	o->id = __atomic_add_fetch(&HOST.object_next_id, 1, __ATOMIC_RELAXED);
	if (order_append(o->id) != 0) {
		table_unlock();
		free(o);
		vm_mem_give(sizeof *o);
		return NULL;
	}
	if (vm_page_table_put(&HOST.objects_by_id, o->id, o) != 0) {
		HOST.object_order.dead++;           /* the id just appended */
		table_unlock();
		free(o);
		vm_mem_give(sizeof *o);
		return NULL;
	}
	o->all_next = HOST.object_all;
	if (HOST.object_all)
		HOST.object_all->all_prev = o;
	HOST.object_all = o;
	table_unlock();
	vm_domain_hold(d);
	vm_object_stat_add(objects, 1);
	return o;
}

struct vm_object *vm_object_allocate(vm_size_t size)
{
	struct vm_object *o = object_alloc(size);
	if (o)
		vm_report_object(MACHVM_CHANGE_OBJECT_CREATED, o->id, 0);
	return o;
}

void vm_object_reference(struct vm_object *o)
{
	vm_domain_assert();
	VM_ASSERT(o->ref_count > 0);
	o->ref_count++;
}

static void free_pages(struct vm_object *o)
{
	for (size_t i = 0; i < o->pages.cap; i++) {
		if (o->pages.vals[i]) {
			free(o->pages.vals[i]);
			vm_object_stat_add(resident_pages, -1);
			vm_mem_give(vm_page_size);
		}
	}
	vm_page_table_destroy(&o->pages);
}

static void object_free(struct vm_object *o)
{
	free_pages(o);
	table_lock();
	(void)vm_page_table_remove(&HOST.objects_by_id, o->id);
	if (++HOST.object_order.dead > 64 && HOST.object_order.dead > HOST.object_order.n / 2)
		order_tidy();
	if (o->all_prev)
		o->all_prev->all_next = o->all_next;
	else
		HOST.object_all = o->all_next;
	if (o->all_next)
		o->all_next->all_prev = o->all_prev;
	table_unlock();
	vm_object_stat_add(objects, -1);
	/* Never the last reference on the domain held: the caller's task
	 * (or batch) holds one on it. */
	vm_domain_release(o->domain);
	free(o);
	vm_mem_give(sizeof *o);
}

void vm_object_deallocate(struct vm_object *o)
{
	vm_domain_assert();
	while (o != NULL) {
		if (o->ref_count == 0)
			machvm_panic("object %llu: reference count below zero",
			             (unsigned long long)o->id);
		if (--o->ref_count > 0) {
			if (o->ref_count == 1 && o->nchildren == 1)
				vm_object_collapse(o->first_child);
			return;
		}
		struct vm_object *backing = o->shadow;
		if (o->nchildren != 0)
			machvm_panic("object %llu freed while shadowed", (unsigned long long)o->id);
		if (backing)
			child_unlink(backing, o);
		vm_report_object(MACHVM_CHANGE_OBJECT_DESTROYED, o->id, 0);
		object_free(o);
		o = backing;    /* drop the reference o held on it */
	}
}

kern_return_t vm_object_shadow(struct vm_object **object, vm_offset_t *offset,
                               vm_size_t length)
{
	vm_domain_assert();
	/* A shadow is reported as such, not also as created. */
	struct vm_object *s = object_alloc(length);
	if (s == NULL)
		return KERN_RESOURCE_SHORTAGE;
	vm_report_object(MACHVM_CHANGE_OBJECT_SHADOWED, s->id, (*object)->id);
	s->shadow = *object;
	s->shadow_offset = *offset;
	child_link(*object, s);
	*object = s;
	*offset = 0;
	vm_object_stat_add(shadows_created, 1);
	return KERN_SUCCESS;
}

void *vm_object_page_lookup(struct vm_object *o, vm_offset_t off, unsigned int *depth)
{
	unsigned int d = 0;
	for (; o != NULL; o = o->shadow, d++) {
		void *p = vm_page_table_get(&o->pages, vm_atop(off));
		if (p) {
			if (depth)
				*depth = d;
			return p;
		}
		off += o->shadow_offset;
	}
	return NULL;
}

void *vm_object_page_writable(struct vm_object *top, vm_offset_t off,
                              struct vm_fault_counts *task)
{
	vm_domain_assert();
	void *p = vm_page_table_get(&top->pages, vm_atop(off));
	if (p)
		return p;
	void *src = NULL;
	if (top->shadow)
		src = vm_object_page_lookup(top->shadow, off + top->shadow_offset, NULL);
	if (!vm_mem_take(vm_page_size))
		return NULL;
	p = malloc(vm_page_size);
	if (p == NULL || vm_page_table_put(&top->pages, vm_atop(off), p) != 0) {
		free(p);
		vm_mem_give(vm_page_size);
		return NULL;
	}
	vm_object_stat_add(resident_pages, 1);
	vm_object_stat_add(faults.faults, 1);
	task->faults++;
	if (src) {
		memcpy(p, src, vm_page_size);
		vm_object_stat_add(faults.cow_faults, 1);
		vm_object_stat_add(pages_copied, 1);
		task->cow_faults++;
		vm_object_collapse(top);
	} else {
		memset(p, 0, vm_page_size);
		vm_object_stat_add(faults.zero_fill_faults, 1);
		task->zero_fill_faults++;
	}
	return p;
}

/*
 * Calls fn(level_object, page_index_in_window, page, arg) for every page of
 * the window [off, off + len) of o's own table, walking whichever is smaller:
 * the window's page indices or the table.
 */
typedef void (*window_fn)(struct vm_object *o, uint64_t i, void *page, void *arg);

static void window_pages(struct vm_object *o, vm_offset_t off, vm_size_t len,
                         window_fn fn, void *arg)
{
	uint64_t first = vm_atop(off), n = vm_atop(len);
	if (n <= o->pages.count) {
		for (uint64_t i = 0; i < n; i++) {
			void *p = vm_page_table_get(&o->pages, first + i);
			if (p)
				fn(o, i, p, arg);
		}
		return;
	}
	for (size_t s = 0; s < o->pages.cap; s++) {
		void *p = o->pages.vals[s];
		uint64_t k = o->pages.keys[s];
		if (p && k >= first && k - first < n)
			fn(o, k - first, p, arg);
	}
}

static void count_one(struct vm_object *o, uint64_t i, void *page, void *arg)
{
	(void)o;
	(void)i;
	(void)page;
	(*(uint64_t *)arg)++;
}

uint64_t vm_object_window_own_pages(struct vm_object *o, vm_offset_t off, vm_size_t len)
{
	uint64_t n = 0;
	window_pages(o, off, len, count_one, &n);
	return n;
}

struct copy_arg {
	struct vm_object *dst;
	bool failed;
};

static void copy_one(struct vm_object *o, uint64_t i, void *page, void *arg)
{
	struct copy_arg *c = arg;
	(void)o;
	if (c->failed || vm_page_table_get(&c->dst->pages, i))
		return;   /* a level above already supplied it */
	if (!vm_mem_take(vm_page_size)) {
		c->failed = true;
		return;
	}
	void *p = malloc(vm_page_size);
	if (p == NULL || vm_page_table_put(&c->dst->pages, i, p) != 0) {
		free(p);
		vm_mem_give(vm_page_size);
		c->failed = true;
		return;
	}
	memcpy(p, page, vm_page_size);
	vm_object_stat_add(resident_pages, 1);
	vm_object_stat_add(pages_copied, 1);
}

struct vm_object *vm_object_copy_range(struct vm_object *top, vm_offset_t off, vm_size_t len)
{
	vm_domain_assert();
	struct vm_object *dst = vm_object_allocate(len);
	if (dst == NULL)
		return NULL;
	struct copy_arg c = { dst, false };
	for (struct vm_object *o = top; o != NULL && !c.failed; o = o->shadow) {
		window_pages(o, off, len, copy_one, &c);
		off += o->shadow_offset;
	}
	if (c.failed) {
		vm_object_deallocate(dst);
		return NULL;
	}
	return dst;
}

struct free_arg {
	uint64_t first;
	uint64_t *keys;
	size_t n;
};

static void note_one(struct vm_object *o, uint64_t i, void *page, void *arg)
{
	struct free_arg *f = arg;
	(void)o;
	(void)page;
	f->keys[f->n++] = f->first + i;
}

void vm_object_page_free(struct vm_object *o, uint64_t idx)
{
	vm_domain_assert();
	void *p = vm_page_table_remove(&o->pages, idx);
	if (p == NULL)
		return;
	free(p);
	vm_object_stat_add(resident_pages, -1);
	vm_mem_give(vm_page_size);
}

void vm_object_free_window(struct vm_object *o, vm_offset_t off, vm_size_t len)
{
	vm_domain_assert();
	if (o->pages.count == 0)
		return;
	/* Collect first: the table cannot change while it is being walked. */
	struct free_arg f = { vm_atop(off), malloc(o->pages.count * sizeof(uint64_t)), 0 };
	if (f.keys == NULL)
		return;         /* the pages stay until the object goes: no harm */
	window_pages(o, off, len, note_one, &f);
	for (size_t i = 0; i < f.n; i++) {
		free(vm_page_table_remove(&o->pages, f.keys[i]));
		vm_object_stat_add(resident_pages, -1);
		vm_mem_give(vm_page_size);
	}
	free(f.keys);
}

/* Does every page that backing holds in o's window also exist in o? */
struct cover_arg {
	struct vm_object *o;
	bool covered;
};

static void cover_one(struct vm_object *b, uint64_t i, void *page, void *arg)
{
	struct cover_arg *c = arg;
	(void)b;
	(void)page;
	if (c->covered && vm_page_table_get(&c->o->pages, i) == NULL)
		c->covered = false;
}

static bool try_collapse_one(struct vm_object *o)
{
	struct vm_object *b = o->shadow;
	if (vm_page_table_reserve(&o->pages, b->pages.count) != 0)
		return false;
	uint64_t first = vm_atop(o->shadow_offset), n = vm_atop(o->size);
	for (size_t s = 0; s < b->pages.cap; s++) {
		void *p = b->pages.vals[s];
		uint64_t k = b->pages.keys[s];
		if (p == NULL)
			continue;
		if (k >= first && k - first < n && vm_page_table_get(&o->pages, k - first) == NULL) {
			/* Cannot fail: room was reserved above. */
			(void)vm_page_table_put(&o->pages, k - first, p);
			b->pages.vals[s] = NULL;
			b->pages.count--;
		}
	}
	/* What is left in b is hidden by o or outside its window: freed below. */
	o->shadow = b->shadow;
	o->shadow_offset += b->shadow_offset;
	child_unlink(b, o);
	if (b->shadow) {
		child_unlink(b->shadow, b);
		child_link(b->shadow, o);   /* b's reference on it passes to o */
	}
	b->shadow = NULL;
	b->ref_count = 0;
	vm_report_object(MACHVM_CHANGE_OBJECT_COLLAPSED, o->id, b->id);
	object_free(b);
	vm_object_stat_add(collapses, 1);
	return true;
}

static bool try_bypass_one(struct vm_object *o)
{
	struct vm_object *b = o->shadow;
	/* An open batch may give o back pages it lacked when the batch began
	 * (vm_batch.c): they must still read through to b then. */
	if (o->pages.count < o->bypass_retry)
		return false;
	if (o->pins > 0) {
		o->bypass_wanted = true;
		return false;
	}
	struct cover_arg c = { o, true };
	window_pages(b, o->shadow_offset, o->size, cover_one, &c);
	if (!c.covered) {
		o->bypass_retry = o->pages.count * 2 + 1;
		return false;
	}
	/* o now reads through to what b read through to. */
	o->shadow = b->shadow;
	o->shadow_offset += b->shadow_offset;
	child_unlink(b, o);
	if (o->shadow) {
		child_link(o->shadow, o);
		o->shadow->ref_count++;
	}
	o->bypass_retry = 0;
	vm_object_stat_add(bypasses, 1);
	vm_report_object(MACHVM_CHANGE_OBJECT_BYPASSED, o->id, b->id);
	vm_object_deallocate(b);
	return true;
}

void vm_object_collapse(struct vm_object *o)
{
	vm_domain_assert();
	while (o->shadow != NULL) {
		struct vm_object *b = o->shadow;
		if (b->ref_count == 1) {
			if (!try_collapse_one(o))
				return;
		} else if (!try_bypass_one(o)) {
			return;
		}
	}
}

bool vm_object_collapse_unshared(struct vm_object *o)
{
	vm_domain_assert();
	while (o->shadow != NULL && o->shadow->ref_count == 1)
		if (!try_collapse_one(o))
			return false;
	return true;
}

struct report_arg {
	struct vm_object *top;
	vm_offset_t top_off;
	unsigned int level;
	uint64_t resident;
	unsigned int deepest;
	vm_object_page_fn fn;
	void *arg;
};

/* A page at some level counts if no level above it has the same page. */
static void report_one(struct vm_object *o, uint64_t i, void *page, void *arg)
{
	struct report_arg *r = arg;
	(void)page;
	vm_offset_t off = r->top_off;
	for (struct vm_object *u = r->top; u != o; u = u->shadow) {
		if (vm_page_table_get(&u->pages, vm_atop(off) + i))
			return;
		off += u->shadow_offset;
	}
	r->resident++;
	if (r->level > r->deepest)
		r->deepest = r->level;
	if (r->fn)
		r->fn(i, o, r->level, r->arg);
}

/* Walks every level of the chain with report_one. */
static void window_walk(struct report_arg *r, vm_offset_t off, vm_size_t len,
                        uint64_t *in_top)
{
	vm_offset_t o_off = off;
	for (struct vm_object *o = r->top; o != NULL; o = o->shadow, r->level++) {
		window_pages(o, o_off, len, report_one, r);
		if (o == r->top && in_top)
			*in_top = r->resident;
		o_off += o->shadow_offset;
	}
}

void vm_object_window_report(struct vm_object *top, vm_offset_t off, vm_size_t len,
                             uint64_t *resident, unsigned int *depth, uint64_t *in_top)
{
	vm_domain_assert();
	struct report_arg r = { top, off, 0, 0, 0, NULL, NULL };
	window_walk(&r, off, len, in_top);
	*resident = r.resident;
	*depth = r.resident < vm_atop(len) ? vm_object_chain_length(top) : r.deepest;
}

void vm_object_window_pages(struct vm_object *top, vm_offset_t off, vm_size_t len,
                            vm_object_page_fn fn, void *arg)
{
	vm_domain_assert();
	struct report_arg r = { top, off, 0, 0, 0, fn, arg };
	window_walk(&r, off, len, NULL);
}

struct vm_object *vm_object_find(uint64_t id)
{
	table_lock();
	struct vm_object *o = vm_page_table_get(&HOST.objects_by_id, id);
	table_unlock();
	return o;
}

/*
 * The object's domain is read under the table lock, where the object
 * cannot go (freeing takes that lock), and held, so that it cannot go
 * while its lock is awaited.  Under the domain's lock the object is
 * looked up again: still there, it stays (only a holder of its domain
 * frees it).  Ids are never reused, so finding it means it is the same.
 */
struct vm_object *vm_object_find_held(uint64_t id)
{
	table_lock();
	struct vm_object *o = vm_page_table_get(&HOST.objects_by_id, id);
	struct vm_domain *d = o ? o->domain : NULL;
	if (d)
		vm_domain_hold(d);
	table_unlock();
	if (d == NULL)
		return NULL;
	(void)vm_domain_enter_ref(d);
	if (vm_object_find(id) != o) {
		vm_domain_leave();
		o = NULL;
	}
	/* The object (if live) or nothing needs d now: a live object holds
	 * its own reference. */
	vm_domain_release(d);
	return o;
}

/* Written under the table lock, read without it (the export holds every
 * task lock, and takes as few more as it can). */
uint64_t vm_object_next_id(void)
{
	return __atomic_load_n(&HOST.object_next_id, __ATOMIC_RELAXED);
}

void vm_object_set_next_id(uint64_t last)
{
	table_lock();
	__atomic_store_n(&HOST.object_next_id, last, __ATOMIC_RELAXED);
	table_unlock();
}

int vm_object_renumber(struct vm_object *o, uint64_t id)
{
	vm_domain_assert();
	table_lock();
	int rc = -1;
	if (vm_page_table_get(&HOST.objects_by_id, id) != NULL)
		goto out;
	if (order_append(id) != 0)
		goto out;
	if (vm_page_table_put(&HOST.objects_by_id, id, o) != 0) {
		HOST.object_order.dead++;
		goto out;
	}
	(void)vm_page_table_remove(&HOST.objects_by_id, o->id);
	HOST.object_order.dead++;           /* the old id */
	o->id = id;
	rc = 0;
out:
	table_unlock();
	return rc;
}

size_t vm_object_ids(uint64_t first, uint64_t *ids, size_t cap)
{
	struct vm_object_order *ord = &HOST.object_order;
	table_lock();
	if (ord->dead > 0 || ord->unsorted)
		order_tidy();
	/* The first id >= first. */
	size_t lo = 0, hi = ord->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ord->v[mid] < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = ord->n - lo;
	if (cap > 0 && n > 0)
		memcpy(ids, ord->v + lo, (n < cap ? n : cap) * sizeof *ids);
	table_unlock();
	return n;
}

bool vm_object_ids_check(void)
{
	struct vm_object_order *ord = &HOST.object_order;
	vm_domain_assert();
	table_lock();
	bool ok = true;
	/* Every live object's id is there (the rest is swept later). */
	size_t found = 0;
	for (size_t i = 0; i < ord->n; i++) {
		struct vm_object *o = vm_page_table_get(&HOST.objects_by_id, ord->v[i]);
		if (o && (i == 0 || ord->unsorted || ord->v[i - 1] != ord->v[i]))
			found++;
		if (!ord->unsorted && i > 0 && ord->v[i - 1] > ord->v[i])
			ok = false;
	}
	ok = ok && found >= HOST.objects_by_id.count;
	table_unlock();
	return ok;
}

unsigned int vm_object_chain_length(const struct vm_object *o)
{
	unsigned int n = 0;
	for (o = o->shadow; o != NULL; o = o->shadow)
		n++;
	return n;
}

void vm_object_reset(void)
{
	/* Only objects no map refers to are left (none, but for a host
	 * stopped with a batch open): no domain is needed to free them. */
	vm_domain_freeze(true);
	for (;;) {
		table_lock();
		struct vm_object *o = HOST.object_all;
		table_unlock();
		if (o == NULL)
			break;
		o->shadow = NULL;
		o->nchildren = 0;
		object_free(o);
	}
	vm_domain_freeze(false);
	table_lock();
	vm_page_table_destroy(&HOST.objects_by_id);
	free(HOST.object_order.v);
	memset(&HOST.object_order, 0, sizeof HOST.object_order);
	memset(&HOST.object_stats, 0, sizeof HOST.object_stats);
	__atomic_store_n(&HOST.object_next_id, 0, __ATOMIC_RELAXED);
	table_unlock();
}
