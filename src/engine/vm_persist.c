/*
 * vm_persist.c - the whole host as plain data: export and import.
 *
 * The export holds the task table's lock (no task comes or goes), locks
 * every live task (in the order calls that lock several tasks use), then
 * the open batches' lock if a batch is open.  Every change to a map or an
 * object happens under one of those, so the walk sees one consistent
 * picture without taking any domain's lock (vm_domain_freeze).  It hands out only the objects some map can reach: a task that
 * is being created or terminated while the export runs holds references the
 * walk does not see, and objects only it uses are simply not part of the
 * picture.
 *
 * The import is validate-then-commit.  The machvm_import_*() calls only
 * record what they are given, checking each piece against what came before
 * (ids, ranges, protections, the order).  machvm_import_end() checks the
 * whole (every object used), then builds:
 *  - the tasks through task_create, so the task table is the host's own:
 *    ids come out 1, 2, 3 ...; an id no task of the data has (a task that
 *    had been terminated) is terminated again at once, so the host goes on
 *    handing out the same ids as the exported one;
 *  - under every task lock and their domain (the import makes their
 *    domains one: vm_domain.h): the objects (staged pages
 *    move into them, no copy), reference counts recomputed from the
 *    references the data holds, the map entries;
 *  - then equal neighbours are merged (under mach only: the other
 *    personalities keep the neighbours as the data has them), objects only their shadow uses are
 *    collapsed into it, the counters and the next object id are restored,
 *    and the invariant checker runs over the whole host, in every build: the
 *    data may break any rule the engine keeps (cur within max, wired pages
 *    resident, shared entries not needs_copy, a private entry's bytes seen
 *    by nobody else, a shared entry's bytes under no copy ...), and what it
 *    reports becomes the import's error rather than a panic.
 * A problem found after building tears everything down again and stops the
 * host: a failed import never leaves half a host behind.
 *
 * Neither the export nor the import reports changes (report.h): the
 * task_create and task_terminate calls of the import run with reporting
 * suppressed on this thread, and what the import builds is made directly,
 * outside any call.
 */
#include "policy.h"
#include "host.h"

#include <machvm/persist.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

/* Every id a host hands out is below MACHVM_TASK_ID_LIMIT, so a host's
 * next id is at most that (and a file cannot claim a huge one). */
#define IMPORT_MAX_TASK_ID ((uint64_t)MACHVM_TASK_ID_LIMIT)

/* Object ids are never reused, so a host goes on counting from the next id
 * it was given.  2^53 is more than a host makes in centuries, is exact in
 * every JSON reader, and leaves the count far below what a state file's
 * numbers hold (2^63 - 1): a host loaded near that could not be saved. */
#define IMPORT_MAX_OBJECT_ID ((uint64_t)1 << 53)

/* ---- export ------------------------------------------------------------ */

/* A growable array of pointers. */
struct ptrvec {
	void **v;
	size_t n, cap;
};

static int ptrvec_push(struct ptrvec *pv, void *p)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 64;
		void **v = realloc(pv->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		pv->v = v;
		pv->cap = cap;
	}
	pv->v[pv->n++] = p;
	return 0;
}

static int cmp_object_id(const void *a, const void *b)
{
	const struct vm_object *x = *(struct vm_object *const *)a;
	const struct vm_object *y = *(struct vm_object *const *)b;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct page_ref {
	uint64_t index;
	const void *bytes;
};

static int cmp_page_index(const void *a, const void *b)
{
	const struct page_ref *x = a, *y = b;
	return x->index < y->index ? -1 : x->index > y->index;
}

struct export {
	const struct machvm_export_ops *ops;
	void *arg;
	struct vm_page_table done;      /* ids of the objects handed out */
	struct ptrvec chain;            /* scratch: a chain, top first */
};

/* Hands out one object and its pages, ascending. */
static kern_return_t export_object(struct export *x, struct vm_object *o)
{
	machvm_object_desc_t d;
	memset(&d, 0, sizeof d);
	d.id = o->id;
	d.size = o->size;
	d.shadow = o->shadow ? o->shadow->id : 0;
	d.shadow_offset = o->shadow_offset;
	d.true_share = o->true_share;
	if (x->ops->object(x->arg, &d) != 0)
		return KERN_FAILURE;
	if (o->pages.count == 0)
		return KERN_SUCCESS;
	struct page_ref *pages = malloc(o->pages.count * sizeof *pages);
	if (pages == NULL)
		return KERN_RESOURCE_SHORTAGE;
	size_t n = 0;
	for (size_t s = 0; s < o->pages.cap; s++)
		if (o->pages.vals[s])
			pages[n++] = (struct page_ref){ o->pages.keys[s], o->pages.vals[s] };
	qsort(pages, n, sizeof *pages, cmp_page_index);
	kern_return_t kr = KERN_SUCCESS;
	for (size_t i = 0; i < n && kr == KERN_SUCCESS; i++)
		if (x->ops->page(x->arg, o->id, pages[i].index, pages[i].bytes) != 0)
			kr = KERN_FAILURE;
	free(pages);
	return kr;
}

/* Hands out top and every object behind it not yet handed out, the deepest first. */
static kern_return_t export_chain(struct export *x, struct vm_object *top)
{
	x->chain.n = 0;
	for (struct vm_object *o = top; o && !vm_page_table_get(&x->done, o->id); o = o->shadow)
		if (ptrvec_push(&x->chain, o) != 0)
			return KERN_RESOURCE_SHORTAGE;
	while (x->chain.n > 0) {
		struct vm_object *o = x->chain.v[--x->chain.n];
		if (vm_page_table_put(&x->done, o->id, o) != 0)
			return KERN_RESOURCE_SHORTAGE;
		kern_return_t kr = export_object(x, o);
		if (kr != KERN_SUCCESS)
			return kr;
	}
	return KERN_SUCCESS;
}

static void entry_desc(const struct vm_map_entry *e, machvm_entry_desc_t *d)
{
	memset(d, 0, sizeof *d);
	d->start = e->start;
	d->end = e->end;
	d->object = e->object ? e->object->id : 0;
	d->offset = e->offset;
	d->protection = e->protection;
	d->max_protection = e->max_protection;
	d->inheritance = e->inheritance;
	d->wired_count = e->wired_count;
	d->is_shared = (e->flags & VME_IS_SHARED) != 0;
	d->needs_copy = (e->flags & VME_NEEDS_COPY) != 0;
	d->cache = (e->flags & VME_CACHE) != 0;
	d->migrate = (e->flags & VME_MIGRATE) != 0;
	d->replicate = (e->flags & VME_REPLICATE) != 0;
	d->cache_flushes = e->cache_flushes;
	d->dcache_flushes = e->dcache_flushes;
	d->icache_flushes = e->icache_flushes;
}

/* The walk proper: tasks (locked, ascending), the batches' lock held. */
static kern_return_t export_locked(struct export *x, struct task **tasks, size_t ntasks,
                                   task_t next_task_id)
{
	const struct machvm_export_ops *ops = x->ops;
	struct vm_page_table seen = VM_PAGE_TABLE_INIT;
	struct ptrvec objs = { NULL, 0, 0 };
	kern_return_t kr = KERN_SUCCESS;

	/* The objects the maps reach, by id, so the output is stable. */
	for (size_t i = 0; i < ntasks && kr == KERN_SUCCESS; i++) {
		for (struct vm_map_entry *e = tasks[i]->map.store.first; e && kr == KERN_SUCCESS; e = e->next) {
			for (struct vm_object *o = e->object; o; o = o->shadow) {
				if (vm_page_table_get(&seen, o->id))
					break;  /* and so is the rest of its chain */
				if (vm_page_table_put(&seen, o->id, o) != 0 || ptrvec_push(&objs, o) != 0) {
					kr = KERN_RESOURCE_SHORTAGE;
					break;
				}
			}
		}
	}
	if (kr != KERN_SUCCESS)
		goto out;
	if (objs.n)
		qsort(objs.v, objs.n, sizeof *objs.v, cmp_object_id);

	machvm_host_desc_t h;
	memset(&h, 0, sizeof h);
	h.page_size = vm_page_size;
	h.next_task_id = next_task_id;
	h.next_object_id = vm_object_next_id() + 1;
	h.faults = vm_object_stat(faults.faults);
	h.zero_fill_faults = vm_object_stat(faults.zero_fill_faults);
	h.cow_faults = vm_object_stat(faults.cow_faults);
	h.shadows_created = vm_object_stat(shadows_created);
	h.collapses = vm_object_stat(collapses);
	h.bypasses = vm_object_stat(bypasses);
	h.pages_copied = vm_object_stat(pages_copied);
	h.personality = (uint64_t)machvm_host_personality();
	if (ops->host(x->arg, &h) != 0) {
		kr = KERN_FAILURE;
		goto out;
	}

	for (size_t i = 0; i < objs.n && kr == KERN_SUCCESS; i++)
		kr = export_chain(x, objs.v[i]);

	for (size_t i = 0; i < ntasks && kr == KERN_SUCCESS; i++) {
		struct task *t = tasks[i];
		machvm_task_desc_t td;
		memset(&td, 0, sizeof td);
		td.id = t->id;
		td.parent = t->parent;
		td.faults = t->counts.faults;
		td.zero_fill_faults = t->counts.zero_fill_faults;
		td.cow_faults = t->counts.cow_faults;
		if (ops->task(x->arg, &td) != 0) {
			kr = KERN_FAILURE;
			break;
		}
		for (struct vm_map_entry *e = t->map.store.first; e; e = e->next) {
			machvm_entry_desc_t ed;
			entry_desc(e, &ed);
			if (ops->entry(x->arg, t->id, &ed) != 0) {
				kr = KERN_FAILURE;
				break;
			}
		}
	}
out:
	vm_page_table_destroy(&seen);
	free(objs.v);
	return kr;
}

kern_return_t machvm_host_export(const struct machvm_export_ops *ops, void *arg)
{
	if (ops == NULL || !ops->host || !ops->object || !ops->page || !ops->task || !ops->entry)
		return KERN_INVALID_ARGUMENT;
	/* Every live task, locked (in address order), listed by id. */
	size_t ids = task_table_size(), ntasks = 0;
	struct task **tasks = task_lock_world(&ntasks);
	if (tasks == NULL)
		return KERN_RESOURCE_SHORTAGE;
	bool batches = vm_batch_lock_if_open();
	vm_domain_freeze(true);
	struct export x = { ops, arg, VM_PAGE_TABLE_INIT, { NULL, 0, 0 } };
	kern_return_t kr = export_locked(&x, tasks, ntasks, (task_t)ids);
	vm_page_table_destroy(&x.done);
	free(x.chain.v);
	vm_domain_freeze(false);
	if (batches)
		vm_batch_unlock();
	task_unlock_world(tasks, ntasks);
	return kr;
}

/* ---- import: the staging area ------------------------------------------ */

struct imp_object {
	machvm_object_desc_t d;
	size_t shadow;                  /* its index in imp.objects, or NONE */
	uint64_t refs;                  /* entries mapping it + objects shadowing it */
	struct vm_page_table pages;     /* page index -> staged page (malloc'd) */
	struct vm_object *built;
};

struct imp_entry {
	machvm_entry_desc_t d;
	size_t object;                  /* index in imp.objects, or NONE */
};

struct imp_task {
	machvm_task_desc_t d;
	struct imp_entry *entries;
	size_t nentries, cap;
	struct task *t;                 /* once created */
	bool locked;
};

/* The host's import in progress (struct vm_import, host.h), and why the
 * last one failed. */
#define imp       (HOST.import)
#define imp_error (HOST.import_error)

const char *machvm_import_error(void)
{
	return imp_error;
}

static void __attribute__((format(printf, 1, 2))) imp_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(imp_error, sizeof imp_error, fmt, ap);
	va_end(ap);
}

static void staging_free(void)
{
	for (size_t i = 0; i < imp.nobjects; i++) {
		struct vm_page_table *pt = &imp.objects[i].pages;
		for (size_t s = 0; s < pt->cap; s++)
			free(pt->vals[s]);
		vm_page_table_destroy(pt);
	}
	free(imp.objects);
	for (size_t i = 0; i < imp.ntasks; i++)
		free(imp.tasks[i].entries);
	free(imp.tasks);
	vm_page_table_destroy(&imp.by_id);
	memset(&imp, 0, sizeof imp);
}

/* Ends the import in failure: nothing kept, host stopped.  Returns kr. */
static kern_return_t give_up(kern_return_t kr)
{
	staging_free();
	machvm_host_stop();
	return kr;
}

static kern_return_t __attribute__((format(printf, 2, 3))) reject(kern_return_t kr, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(imp_error, sizeof imp_error, fmt, ap);
	va_end(ap);
	return give_up(kr);
}

void machvm_import_abort(void)
{
	if (imp.active) {
		imp_why("the import was abandoned");
		(void)give_up(KERN_FAILURE);
	}
}

/* A bigger copy of the array arr (*cap elements of elem bytes), *cap
 * updated; NULL (arr untouched) if memory ran out. */
static void *grow(void *arr, size_t *cap, size_t elem)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *v = realloc(arr, c * elem);
	if (v != NULL)
		*cap = c;
	return v;
}

static size_t object_index(uint64_t id)
{
	uintptr_t ix = (uintptr_t)vm_page_table_get(&imp.by_id, id);
	return ix ? (size_t)ix - 1 : NONE;
}

static struct imp_task *task_find(uint64_t id)
{
	if (imp.ntasks && imp.tasks[imp.ntasks - 1].d.id == id)
		return &imp.tasks[imp.ntasks - 1];
	size_t lo = 0, hi = imp.ntasks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (imp.tasks[mid].d.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < imp.ntasks && imp.tasks[lo].d.id == id ? &imp.tasks[lo] : NULL;
}

static bool page_aligned(uint64_t a)
{
	return (a & (vm_page_size - 1)) == 0;
}

/* ---- import: the calls ------------------------------------------------- */

kern_return_t machvm_import_begin(const machvm_host_desc_t *h)
{
	if (imp.active)
		return KERN_FAILURE;
	imp_error[0] = '\0';
	if (h == NULL) {
		imp_why("no host description");
		return KERN_INVALID_ARGUMENT;
	}
	if (h->page_size < 4096 || h->page_size > 65536 || (h->page_size & (h->page_size - 1))) {
		imp_why("page size %llu is not a power of two from 4096 to 65536",
		        (unsigned long long)h->page_size);
		return KERN_INVALID_ARGUMENT;
	}
	if (h->next_task_id == 0 || h->next_task_id > IMPORT_MAX_TASK_ID) {
		imp_why("next task id %llu is not from 1 to %llu", (unsigned long long)h->next_task_id,
		        (unsigned long long)IMPORT_MAX_TASK_ID);
		return KERN_INVALID_ARGUMENT;
	}
	if (h->next_object_id == 0 || h->next_object_id > IMPORT_MAX_OBJECT_ID) {
		imp_why("next object id %llu is not from 1 to 2^53", (unsigned long long)h->next_object_id);
		return KERN_INVALID_ARGUMENT;
	}
	if (h->personality > MACHVM_PERSONALITY_XNU) {
		imp_why("personality %llu is none of mach (0), gnu (1) and xnu (2)",
		        (unsigned long long)h->personality);
		return KERN_INVALID_ARGUMENT;
	}
	kern_return_t kr = machvm_host_start(h->page_size);
	if (kr != KERN_SUCCESS) {
		imp_why("the host is already running");
		return kr;
	}
	/* No task yet: cannot fail. */
	(void)machvm_host_set_personality((machvm_personality_t)h->personality);
	memset(&imp, 0, sizeof imp);
	imp.active = true;
	imp.host = *h;
	return KERN_SUCCESS;
}

kern_return_t machvm_import_object(const machvm_object_desc_t *d)
{
	if (!imp.active)
		return KERN_FAILURE;
	if (d == NULL)
		return reject(KERN_INVALID_ARGUMENT, "no object description");
	unsigned long long id = d->id;
	if (d->id == 0 || d->id >= imp.host.next_object_id)
		return reject(KERN_INVALID_ARGUMENT, "object %llu: id not from 1 to next_object_id - 1 (%llu)",
		              id, (unsigned long long)imp.host.next_object_id - 1);
	if (object_index(d->id) != NONE)
		return reject(KERN_INVALID_ARGUMENT, "object %llu given twice", id);
	if (d->size == 0 || !page_aligned(d->size) || d->size > MACHVM_USER_MAX)
		return reject(KERN_INVALID_ARGUMENT,
		              "object %llu: size %llu is not a multiple of the page size from %llu to 2^47",
		              id, (unsigned long long)d->size, (unsigned long long)vm_page_size);
	size_t shadow = NONE;
	if (d->shadow != 0) {
		shadow = object_index(d->shadow);
		if (shadow == NONE)
			return reject(KERN_INVALID_ARGUMENT, "object %llu: its shadow %llu was not given before it",
			              id, (unsigned long long)d->shadow);
		uint64_t ssize = imp.objects[shadow].d.size;
		if (!page_aligned(d->shadow_offset))
			return reject(KERN_INVALID_ARGUMENT, "object %llu: shadow offset 0x%llx is not page aligned",
			              id, (unsigned long long)d->shadow_offset);
		if (d->shadow_offset > ssize || d->size > ssize - d->shadow_offset)
			return reject(KERN_INVALID_ARGUMENT,
			              "object %llu: its window [0x%llx, 0x%llx) runs past the end of its shadow %llu (size 0x%llx)",
			              id, (unsigned long long)d->shadow_offset,
			              (unsigned long long)(d->shadow_offset + d->size),
			              (unsigned long long)d->shadow, (unsigned long long)ssize);
	}
	/* Without a shadow the offset means nothing (a collapse of the last
	 * backing object leaves it as it was); it is kept, unchecked. */
	if (imp.nobjects == imp.objects_cap) {
		struct imp_object *v = grow(imp.objects, &imp.objects_cap, sizeof *v);
		if (v == NULL)
			return reject(KERN_RESOURCE_SHORTAGE, "out of memory at object %llu", id);
		imp.objects = v;
	}
	if (vm_page_table_put(&imp.by_id, d->id, (void *)(uintptr_t)(imp.nobjects + 1)) != 0)
		return reject(KERN_RESOURCE_SHORTAGE, "out of memory at object %llu", id);
	struct imp_object *o = &imp.objects[imp.nobjects++];
	memset(o, 0, sizeof *o);
	o->d = *d;
	o->d.true_share = d->true_share != 0;
	o->shadow = shadow;
	if (shadow != NONE)
		imp.objects[shadow].refs++;
	return KERN_SUCCESS;
}

kern_return_t machvm_import_page(uint64_t object, uint64_t index, const void *bytes)
{
	if (!imp.active)
		return KERN_FAILURE;
	size_t ix = object_index(object);
	if (ix == NONE)
		return reject(KERN_INVALID_ARGUMENT, "page %llu of object %llu: no such object was given",
		              (unsigned long long)index, (unsigned long long)object);
	struct imp_object *o = &imp.objects[ix];
	if (bytes == NULL)
		return reject(KERN_INVALID_ARGUMENT, "object %llu: page %llu without bytes",
		              (unsigned long long)object, (unsigned long long)index);
	if (index >= vm_atop(o->d.size))
		return reject(KERN_INVALID_ARGUMENT, "object %llu: page %llu is outside its %llu pages",
		              (unsigned long long)object, (unsigned long long)index,
		              (unsigned long long)vm_atop(o->d.size));
	if (vm_page_table_get(&o->pages, index))
		return reject(KERN_INVALID_ARGUMENT, "object %llu: page %llu given twice",
		              (unsigned long long)object, (unsigned long long)index);
	void *p = malloc(vm_page_size);
	if (p == NULL || vm_page_table_put(&o->pages, index, p) != 0) {
		free(p);
		return reject(KERN_RESOURCE_SHORTAGE, "out of memory at page %llu of object %llu",
		              (unsigned long long)index, (unsigned long long)object);
	}
	memcpy(p, bytes, vm_page_size);
	return KERN_SUCCESS;
}

kern_return_t machvm_import_task(const machvm_task_desc_t *d)
{
	if (!imp.active)
		return KERN_FAILURE;
	if (d == NULL)
		return reject(KERN_INVALID_ARGUMENT, "no task description");
	unsigned long long id = d->id;
	if (d->id == 0 || d->id >= imp.host.next_task_id)
		return reject(KERN_INVALID_ARGUMENT, "task %llu: id not from 1 to next_task_id - 1 (%llu)",
		              id, (unsigned long long)imp.host.next_task_id - 1);
	if (imp.ntasks && d->id <= imp.tasks[imp.ntasks - 1].d.id)
		return reject(KERN_INVALID_ARGUMENT, "task %llu: tasks must come in ascending id order (it follows task %llu)",
		              id, (unsigned long long)imp.tasks[imp.ntasks - 1].d.id);
	/* Ids are reused, so a parent may have a higher id than its child. */
	if (d->parent == d->id || d->parent >= imp.host.next_task_id)
		return reject(KERN_INVALID_ARGUMENT, "task %llu: parent %llu is not another id below next_task_id",
		              id, (unsigned long long)d->parent);
	if (imp.ntasks == imp.tasks_cap) {
		struct imp_task *v = grow(imp.tasks, &imp.tasks_cap, sizeof *v);
		if (v == NULL)
			return reject(KERN_RESOURCE_SHORTAGE, "out of memory at task %llu", id);
		imp.tasks = v;
	}
	struct imp_task *t = &imp.tasks[imp.ntasks++];
	memset(t, 0, sizeof *t);
	t->d = *d;
	return KERN_SUCCESS;
}

kern_return_t machvm_import_entry(task_t task, const machvm_entry_desc_t *d)
{
	if (!imp.active)
		return KERN_FAILURE;
	struct imp_task *t = task_find(task);
	if (t == NULL)
		return reject(KERN_INVALID_ARGUMENT, "an entry of task %u: no such task was given", (unsigned)task);
	if (d == NULL)
		return reject(KERN_INVALID_ARGUMENT, "task %u: an entry without a description", (unsigned)task);
	char at[80];
	snprintf(at, sizeof at, "task %u, entry [0x%llx, 0x%llx)", (unsigned)task,
	         (unsigned long long)d->start, (unsigned long long)d->end);
	if (d->start >= d->end || d->start < vm_page_size || d->end > MACHVM_USER_MAX ||
	    !page_aligned(d->start) || !page_aligned(d->end))
		return reject(KERN_INVALID_ARGUMENT, "%s: not a page-aligned range inside [0x%llx, 2^47)",
		              at, (unsigned long long)vm_page_size);
	if (t->nentries && d->start < t->entries[t->nentries - 1].d.end)
		return reject(KERN_INVALID_ARGUMENT,
		              "%s: overlaps or comes before the entry before it, which ends at 0x%llx",
		              at, (unsigned long long)t->entries[t->nentries - 1].d.end);
	if ((d->protection | d->max_protection) & ~(uint64_t)VM_PROT_ALL)
		return reject(KERN_INVALID_ARGUMENT, "%s: protection %llu / %llu has bits outside rwx",
		              at, (unsigned long long)d->protection, (unsigned long long)d->max_protection);
	if (d->protection & ~d->max_protection)
		return reject(KERN_INVALID_ARGUMENT, "%s: current protection %llu exceeds the maximum %llu",
		              at, (unsigned long long)d->protection, (unsigned long long)d->max_protection);
	if (d->inheritance > VM_INHERIT_NONE)
		return reject(KERN_INVALID_ARGUMENT, "%s: inheritance %llu is not share, copy or none",
		              at, (unsigned long long)d->inheritance);
	if (d->wired_count > VM_MAX_WIRE_COUNT)
		return reject(KERN_INVALID_ARGUMENT, "%s: wired count %llu is above %u",
		              at, (unsigned long long)d->wired_count, VM_MAX_WIRE_COUNT);
	if (d->cache_flushes > UINT32_MAX || d->dcache_flushes > UINT32_MAX || d->icache_flushes > UINT32_MAX)
		return reject(KERN_INVALID_ARGUMENT, "%s: a flush counter is above 2^32 - 1", at);
	size_t object = NONE;
	if (d->object != 0) {
		object = object_index(d->object);
		if (object == NONE)
			return reject(KERN_INVALID_ARGUMENT, "%s: object %llu was not given before it",
			              at, (unsigned long long)d->object);
		uint64_t size = imp.objects[object].d.size, len = d->end - d->start;
		if (!page_aligned(d->offset) || d->offset > size || len > size - d->offset)
			return reject(KERN_INVALID_ARGUMENT,
			              "%s: offset 0x%llx is not page aligned or runs past the end of object %llu (size 0x%llx)",
			              at, (unsigned long long)d->offset, (unsigned long long)d->object,
			              (unsigned long long)size);
	} else if (d->is_shared || d->wired_count) {
		return reject(KERN_INVALID_ARGUMENT, "%s: %s without an object", at,
		              d->is_shared ? "shared" : "wired");
	}
	if (t->nentries == t->cap) {
		struct imp_entry *v = grow(t->entries, &t->cap, sizeof *v);
		if (v == NULL)
			return reject(KERN_RESOURCE_SHORTAGE, "out of memory at %s", at);
		t->entries = v;
	}
	struct imp_entry *e = &t->entries[t->nentries++];
	e->d = *d;
	e->object = object;
	if (object != NONE)
		imp.objects[object].refs++;
	return KERN_SUCCESS;
}

/* ---- import: building -------------------------------------------------- */

/*
 * Creates tasks 1 .. the highest id the data has with task_create, keeps
 * the ones the data has and then terminates the rest (all created first:
 * task_create reuses the lowest free id).  Ids from there up to the file's
 * next_task_id are free as any terminated one is, so a file from a host
 * that once had many more tasks costs no more than the tasks it holds.
 * Debug builds check the host once at the end (make_tasks), not after
 * each call: a check walks every id, so a check per call would make
 * loading many tasks quadratic.
 */
static kern_return_t make_tasks_unchecked(void)
{
	uint64_t last = imp.ntasks ? imp.tasks[imp.ntasks - 1].d.id : 0;
	size_t k = 0;
	for (uint64_t id = 1; id <= last; id++) {
		task_t got = TASK_NULL;
		kern_return_t kr = task_create(TASK_NULL, FALSE, &got);
		if (kr != KERN_SUCCESS) {
			imp_why("task_create for task %llu: %s", (unsigned long long)id, kern_return_name(kr));
			return kr;
		}
		if (got != id) {
			imp_why("task_create gave task %u where %llu was due: another call ran during the import",
			        (unsigned)got, (unsigned long long)id);
			return KERN_FAILURE;
		}
		if (k < imp.ntasks && imp.tasks[k].d.id == id)
			imp.tasks[k++].t = task_lookup(got);
	}
	k = 0;
	for (uint64_t id = 1; id <= last; id++) {
		if (k < imp.ntasks && imp.tasks[k].d.id == id) {
			k++;
			continue;
		}
		kern_return_t kr = task_terminate((task_t)id);
		if (kr != KERN_SUCCESS) {
			imp_why("task_terminate of the unused id %llu: %s", (unsigned long long)id,
			        kern_return_name(kr));
			return kr;
		}
	}
	return KERN_SUCCESS;
}

static kern_return_t make_tasks(void)
{
	vm_check_pause(true);
	kern_return_t kr = make_tasks_unchecked();
	vm_check_pause(false);
	/* The one check of the batch (debug builds; nothing in release). */
	vm_call_enter();
	vm_call_exit(true);
	return kr;
}

/* Builds the objects and the maps; every task locked, their domain held. */
static kern_return_t build_locked(void)
{
	/* The objects made here get ids above every id of the file until
	 * they take theirs (vm_object_renumber), so none is taken twice. */
	vm_object_set_next_id(imp.host.next_object_id);
	for (size_t i = 0; i < imp.nobjects; i++) {
		struct imp_object *s = &imp.objects[i];
		struct vm_object *o;
		if (s->shadow == NONE) {
			o = vm_object_allocate(s->d.size);
		} else {
			/* A new object in front of the (already built) shadow. */
			o = imp.objects[s->shadow].built;
			vm_offset_t off = s->d.shadow_offset;
			if (vm_object_shadow(&o, &off, s->d.size) != KERN_SUCCESS)
				o = NULL;
		}
		if (o == NULL) {
			imp_why("out of memory at object %llu", (unsigned long long)s->d.id);
			return KERN_RESOURCE_SHORTAGE;
		}
		s->built = o;
		if (vm_object_renumber(o, s->d.id) != 0) {
			imp_why("out of memory at object %llu", (unsigned long long)s->d.id);
			return KERN_RESOURCE_SHORTAGE;
		}
		o->shadow_offset = s->d.shadow_offset;
		o->true_share = s->d.true_share;
		o->ref_count = (uint32_t)s->refs;
		o->pages = s->pages;            /* the staged pages move in */
		s->pages = (struct vm_page_table)VM_PAGE_TABLE_INIT;
		vm_object_stat_add(resident_pages, o->pages.count);
		vm_mem_force(o->pages.count * vm_page_size);
	}

	for (size_t k = 0; k < imp.ntasks; k++) {
		struct imp_task *it = &imp.tasks[k];
		struct task *t = it->t;
		t->parent = (task_t)it->d.parent;
		/* The file names a parent by id only, and ids are reused: a
		 * rebuilt task's parent is named but never taken for alive. */
		t->parent_serial = 0;
		t->counts.faults = it->d.faults;
		t->counts.zero_fill_faults = it->d.zero_fill_faults;
		t->counts.cow_faults = it->d.cow_faults;
		struct vm_map_entry *head = NULL, *tail = NULL;
		vm_size_t size = 0;
		for (size_t j = 0; j < it->nentries; j++) {
			const struct imp_entry *ie = &it->entries[j];
			struct vm_map_entry *e = calloc(1, sizeof *e);
			if (e == NULL) {
				while (head) {
					struct vm_map_entry *next = head->next;
					free(head);
					vm_mem_give(sizeof *head);
					head = next;
				}
				imp_why("out of memory at the entries of task %u", (unsigned)t->id);
				return KERN_RESOURCE_SHORTAGE;
			}
			vm_mem_force(sizeof *e);
			e->start = ie->d.start;
			e->end = ie->d.end;
			e->object = ie->object == NONE ? NULL : imp.objects[ie->object].built;
			e->offset = ie->d.offset;
			e->cache_flushes = (uint32_t)ie->d.cache_flushes;
			e->dcache_flushes = (uint32_t)ie->d.dcache_flushes;
			e->icache_flushes = (uint32_t)ie->d.icache_flushes;
			e->wired_count = (uint16_t)ie->d.wired_count;
			e->protection = (uint8_t)ie->d.protection;
			e->max_protection = (uint8_t)ie->d.max_protection;
			e->inheritance = (uint8_t)ie->d.inheritance;
			e->flags = (uint8_t)((ie->d.is_shared ? VME_IS_SHARED : 0) |
			                     (ie->d.needs_copy ? VME_NEEDS_COPY : 0) |
			                     (ie->d.cache ? VME_CACHE : 0) |
			                     (ie->d.migrate ? VME_MIGRATE : 0) |
			                     (ie->d.replicate ? VME_REPLICATE : 0));
			e->next = NULL;
			if (tail)
				tail->next = e;
			else
				head = e;
			tail = e;
			size += e->end - e->start;
		}
		vm_map_store_build(&t->map.store, head, it->nentries);
		(void)size;
		vm_map_account_built(&t->map);
	}
	return KERN_SUCCESS;
}

/* An object nothing but the one object shadowing it refers to. */
static bool only_its_shadow_uses(const struct vm_object *o)
{
	return o->ref_count == 1 && o->nchildren == 1;
}

/*
 * Merges objects only their shadow still uses, restores the counters, and
 * runs the invariant checker over the whole host (every map, every object,
 * who sees which bytes); every task locked, their domain held.
 */
static kern_return_t finish_locked(void)
{
	for (size_t k = 0; k < imp.ntasks; k++) {
		struct vm_map *m = &imp.tasks[k].t->map;
		/* Equal neighbours are merged rather than refused: a host saved by
		 * an engine that missed a merge must still load.  The personalities
		 * that leave neighbours apart keep them as they were saved. */
		vm_map_coalesce_after(m, VM_COALESCE_IMPORT, m->store.min, m->store.max);
	}

	/*
	 * What vm_object_deallocate would have done had the export not raced
	 * with a task's termination.  The tops of such chains (objects that
	 * shadow one but are not one themselves) are gathered first: collapsing
	 * a top frees only objects of the chain behind it, never a top, and
	 * makes no new candidate, so one pass does it all.
	 */
	struct ptrvec tops = { NULL, 0, 0 };
	for (struct vm_object *o = HOST.object_all; o; o = o->all_next) {
		if (o->shadow && only_its_shadow_uses(o->shadow) && !only_its_shadow_uses(o) &&
		    ptrvec_push(&tops, o) != 0) {
			free(tops.v);
			imp_why("out of memory merging objects into their shadows");
			return KERN_RESOURCE_SHORTAGE;
		}
	}
	for (size_t i = 0; i < tops.n; i++) {
		struct vm_object *c = tops.v[i];
		if (!vm_object_collapse_unshared(c)) {
			imp_why("out of memory merging object %llu into its shadow",
			        (unsigned long long)c->shadow->id);
			free(tops.v);
			return KERN_RESOURCE_SHORTAGE;
		}
	}
	free(tops.v);

	const machvm_host_desc_t *h = &imp.host;
	vm_object_stat_set(faults.faults, h->faults);
	vm_object_stat_set(faults.zero_fill_faults, h->zero_fill_faults);
	vm_object_stat_set(faults.cow_faults, h->cow_faults);
	vm_object_stat_set(shadows_created, h->shadows_created);
	vm_object_stat_set(collapses, h->collapses);
	vm_object_stat_set(bypasses, h->bypasses);
	vm_object_stat_set(pages_copied, h->pages_copied);
	vm_object_set_next_id(h->next_object_id - 1);

	/* The engine's own rules, in every build: a host that breaks one is
	 * refused, never panicked on. */
	task_t culprit;
	kern_return_t kr = vm_check_all_locked(imp_error, sizeof imp_error, &culprit);
	if (kr == KERN_FAILURE)
		kr = KERN_INVALID_ARGUMENT;
	return kr;
}

/* Undoes build_locked: the maps lose their entries (objects are freed
 * wholesale afterwards by vm_object_reset). */
static void teardown_locked(void)
{
	for (size_t k = 0; k < imp.ntasks; k++) {
		struct task *t = imp.tasks[k].t;
		if (t == NULL || !imp.tasks[k].locked)
			continue;
		for (struct vm_map_entry *e = t->map.store.first; e; e = e->next)
			e->object = NULL;
		vm_map_destroy(&t->map);
	}
}

static kern_return_t import_end(void);

kern_return_t machvm_import_end(void)
{
	vm_report_quiet(true);
	kern_return_t kr = import_end();
	vm_report_quiet(false);
	return kr;
}

static kern_return_t import_end(void)
{
	if (!imp.active)
		return KERN_FAILURE;
	for (size_t i = 0; i < imp.nobjects; i++) {
		const struct imp_object *o = &imp.objects[i];
		if (o->refs == 0)
			return reject(KERN_INVALID_ARGUMENT, "object %llu is used by no map entry and no object",
			              (unsigned long long)o->d.id);
		if (o->refs > UINT32_MAX)
			return reject(KERN_INVALID_ARGUMENT, "object %llu has more than 2^32 - 1 references",
			              (unsigned long long)o->d.id);
	}

	kern_return_t kr = make_tasks();
	if (kr != KERN_SUCCESS)
		return give_up(kr);
	/* Without it a save would write a next_task_id below the ids the
	 * tasks name as parents, and the file would not load again. */
	if (!task_ids_restore((task_t)imp.host.next_task_id)) {
		imp_why("no memory for the free task ids below next_task_id %llu",
		        (unsigned long long)imp.host.next_task_id);
		return give_up(KERN_RESOURCE_SHORTAGE);
	}

	/* The tasks, locked in the engine's order for several (task.h). */
	struct task_ref *refs = malloc((imp.ntasks ? imp.ntasks : 1) * sizeof *refs);
	if (refs == NULL)
		return give_up(KERN_RESOURCE_SHORTAGE);
	size_t nrefs = 0;
	for (size_t k = 0; k < imp.ntasks; k++)
		if (imp.tasks[k].t)
			refs[nrefs++] = (struct task_ref){ imp.tasks[k].t, (task_t)imp.tasks[k].d.id };
	nrefs = task_lock_refs(refs, nrefs);
	/* Both lists are in ascending id order. */
	for (size_t k = 0, r = 0; k < imp.ntasks; k++) {
		struct imp_task *it = &imp.tasks[k];
		if (r < nrefs && refs[r].t == it->t && refs[r].id == (task_t)it->d.id) {
			it->locked = true;
			r++;
		} else if (kr == KERN_SUCCESS) {
			imp_why("task %llu went away during the import", (unsigned long long)it->d.id);
			kr = KERN_FAILURE;
		}
	}
	/* One domain for all of them: the data may share objects between
	 * any two (and the checker wants every task's objects in its own). */
	struct task **ts = NULL;
	if (kr == KERN_SUCCESS && nrefs > 0 && (ts = malloc(nrefs * sizeof *ts)) == NULL) {
		imp_why("out of memory locking the tasks");
		kr = KERN_RESOURCE_SHORTAGE;
	}
	for (size_t r = 0; ts && r < nrefs; r++)
		ts[r] = refs[r].t;
	free(refs);
	if (ts)
		(void)vm_domain_enter_all(ts, nrefs);
	else
		vm_domain_freeze(true);         /* no task: nothing to build */
	if (kr == KERN_SUCCESS)
		kr = build_locked();
	if (kr == KERN_SUCCESS)
		kr = finish_locked();
	if (kr != KERN_SUCCESS)
		teardown_locked();
	if (ts)
		vm_domain_leave();
	else
		vm_domain_freeze(false);
	free(ts);
	if (kr != KERN_SUCCESS)
		vm_object_reset();      /* before the tasks go: no map refers to an object now */
	for (size_t k = imp.ntasks; k-- > 0;)
		if (imp.tasks[k].locked)
			task_unlock(imp.tasks[k].t);
	if (kr != KERN_SUCCESS)
		return give_up(kr);
	staging_free();
	return KERN_SUCCESS;
}
