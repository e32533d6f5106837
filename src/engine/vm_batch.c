/*
 * vm_batch.c - batches: saving the maps of some tasks, and putting them
 * back (see machvm.h).
 *
 * What a batch saves, and why that is enough to undo any run of calls on
 * its tasks:
 *  - a copy of every entry of every saved map, each holding a reference on
 *    its object (and counted in the object's `pins`).  An object mapped when
 *    the batch began therefore stays alive, and no reference it had goes
 *    away while the batch is open, so it is never collapsed into another
 *    object (a collapse needs a reference count of one);
 *  - the sharing flag (true_share) of every object the saved entries map:
 *    a sharing vm_remap sets it;
 *  - for every page a call writes or makes resident in place (noted by the
 *    caller before the call), in an object the saved entries map: its bytes,
 *    or that the object did not hold it.  Pages are only ever written in
 *    place in the top object of a writable entry; the objects behind stay as
 *    they are, and while pinned an object does not bypass its shadow, so a
 *    page the object did not hold reads the same through its chain once the
 *    object gives it back.
 * Everything else a call can do makes new entries and new objects, which
 * the undo drops with the maps they are in.  Objects a call's entries
 * shared with the saved ones (a fork's child, a remap's target) are the
 * caller's: it terminates the tasks it created before the undo.
 *
 * Locks: the saved tasks in address order (task_lock_refs), then their
 * domain: the batch makes the domains of its tasks one when it begins
 * (vm_domain.h) and keeps a reference on it, so that its end finds the
 * objects it saved under one lock.  The list of open batches (the checker
 * counts their references and bytes) has a lock of its own.
 */
#include "host.h"

#include <stdlib.h>
#include <string.h>

#define BATCH_MAX_TASKS 64

struct batch_task {
	struct task *t;
	task_t id;
	uint64_t serial;
	struct vm_map_entry *head;      /* the saved entries, by ->next */
	size_t n;
};

struct batch_object {
	struct vm_object *o;
	bool true_share;
};

/* One page noted: bytes NULL if o did not hold the page. */
struct batch_page {
	struct vm_object *o;
	uint64_t index;
	void *bytes;
};

struct machvm_batch {
	struct machvm_batch *next;      /* open batches (HOST.batch_lock) */
	struct vm_domain *domain;       /* its tasks' (a reference) */
	struct batch_task tasks[BATCH_MAX_TASKS];
	size_t ntasks;
	struct batch_object *objects;   /* sorted by address, distinct */
	size_t nobjects;
	struct batch_page *pages;
	size_t npages, cap;
	uint64_t charged;               /* saved entries and saved pages */
};


static int cmp_object(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct batch_object *)a)->o;
	uintptr_t y = (uintptr_t)((const struct batch_object *)b)->o;
	return x < y ? -1 : x > y;
}

static bool batch_maps(const struct machvm_batch *b, const struct vm_object *o)
{
	size_t lo = 0, hi = b->nobjects;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->objects[mid].o == o)
			return true;
		if ((uintptr_t)b->objects[mid].o < (uintptr_t)o)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Lets go of what b holds but its entries' references (its domain held). */
static void free_pages_saved(struct machvm_batch *b)
{
	for (size_t i = 0; i < b->npages; i++) {
		if (b->pages[i].bytes) {
			free(b->pages[i].bytes);
			vm_mem_give(vm_page_size);
		}
	}
	free(b->pages);
	free(b->objects);
}

/* Drops the saved entries of bt and their references (its domain held). */
static void drop_saved(struct batch_task *bt)
{
	while (bt->head) {
		struct vm_map_entry *e = bt->head;
		bt->head = e->next;
		if (e->object) {
			e->object->pins--;
			vm_object_deallocate(e->object);
		}
		vm_map_entry_dispose(e);
	}
	bt->n = 0;
}

void vm_batch_lock(void)
{
	pthread_mutex_lock(&HOST.batch_lock);
}

void vm_batch_unlock(void)
{
	pthread_mutex_unlock(&HOST.batch_lock);
}

/* The list's head is written atomically (under the lock), so that this
 * can look at it without the lock. */
bool vm_batch_lock_if_open(void)
{
	if (__atomic_load_n(&HOST.open_batches, __ATOMIC_ACQUIRE) == NULL)
		return false;
	vm_batch_lock();
	return true;
}

/* HOST.batch_lock held. */
static void unregister(struct machvm_batch *b)
{
	for (struct machvm_batch **at = &HOST.open_batches; *at; at = &(*at)->next) {
		if (*at == b) {
			__atomic_store_n(at, b->next, __ATOMIC_RELEASE);
			break;
		}
	}
}

/* Whether t is in an open batch (the caller holds t's lock, so that no
 * batch of t's begins or ends meanwhile). */
static bool in_open_batch(const struct task *t)
{
	bool in = false;
	vm_batch_lock();
	for (const struct machvm_batch *b = HOST.open_batches; b && !in; b = b->next)
		for (size_t i = 0; i < b->ntasks; i++)
			if (b->tasks[i].t == t)
				in = true;
	vm_batch_unlock();
	return in;
}

/* Saves t's map into bt (both locks held); false past the limit. */
static bool save_map(struct machvm_batch *b, struct batch_task *bt, struct task *t)
{
	struct vm_map_entry **tail = &bt->head;
	for (struct vm_map_entry *e = t->map.store.first; e; e = e->next) {
		struct vm_map_entry *c = vm_map_entry_new();
		if (c == NULL)
			return false;
		c->start = e->start;
		c->end = e->end;
		c->object = e->object;
		c->offset = e->offset;
		c->cache_flushes = e->cache_flushes;
		c->dcache_flushes = e->dcache_flushes;
		c->icache_flushes = e->icache_flushes;
		c->wired_count = e->wired_count;
		c->protection = e->protection;
		c->max_protection = e->max_protection;
		c->inheritance = e->inheritance;
		c->flags = e->flags;
		if (c->object) {
			vm_object_reference(c->object);
			c->object->pins++;
		}
		*tail = c;
		tail = &c->next;
		bt->n++;
		b->charged += sizeof *c;
	}
	return true;
}

/* The distinct objects the saved entries map, with their sharing flags. */
static bool collect_objects(struct machvm_batch *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->ntasks; i++)
		n += b->tasks[i].n;
	b->objects = malloc((n ? n : 1) * sizeof *b->objects);
	if (b->objects == NULL)
		return false;
	for (size_t i = 0; i < b->ntasks; i++)
		for (struct vm_map_entry *e = b->tasks[i].head; e; e = e->next)
			if (e->object)
				b->objects[b->nobjects++] = (struct batch_object){ e->object,
				                                                   e->object->true_share };
	qsort(b->objects, b->nobjects, sizeof *b->objects, cmp_object);
	size_t k = 0;
	for (size_t i = 0; i < b->nobjects; i++)
		if (k == 0 || b->objects[k - 1].o != b->objects[i].o)
			b->objects[k++] = b->objects[i];
	b->nobjects = k;
	return true;
}

kern_return_t machvm_batch_begin(const task_t *tasks, size_t ntasks, machvm_batch_t **out)
{
	if (tasks == NULL || out == NULL || ntasks == 0 || ntasks > BATCH_MAX_TASKS)
		return KERN_INVALID_ARGUMENT;
	struct machvm_batch *b = calloc(1, sizeof *b);
	if (b == NULL)
		return KERN_RESOURCE_SHORTAGE;
	struct task_ref refs[BATCH_MAX_TASKS];
	size_t n = 0;
	for (size_t i = 0; i < ntasks; i++) {
		bool seen = false;
		for (size_t j = 0; j < n; j++)
			seen |= refs[j].id == tasks[i];
		if (seen)
			continue;
		struct task *t = task_lookup(tasks[i]);
		if (t == NULL) {
			free(b);
			return KERN_INVALID_TASK;
		}
		refs[n++] = (struct task_ref){ t, tasks[i] };
	}
	vm_call_enter();
	size_t locked = task_lock_refs(refs, n);
	if (locked != n) {
		task_unlock_refs(refs, locked);
		vm_call_exit(false);
		free(b);
		return KERN_INVALID_TASK;
	}
	struct task *ts[BATCH_MAX_TASKS];
	for (size_t i = 0; i < n; i++)
		ts[i] = refs[i].t;
	b->domain = vm_domain_enter_all(ts, n);
	vm_domain_hold(b->domain);
	kern_return_t kr = KERN_SUCCESS;
	for (size_t i = 0; i < n && kr == KERN_SUCCESS; i++)
		if (in_open_batch(refs[i].t))
			kr = KERN_FAILURE;
	for (size_t i = 0; i < n && kr == KERN_SUCCESS; i++) {
		struct batch_task *bt = &b->tasks[b->ntasks++];
		bt->t = refs[i].t;
		bt->id = refs[i].id;
		bt->serial = refs[i].t->serial;
		if (!save_map(b, bt, refs[i].t))
			kr = KERN_RESOURCE_SHORTAGE;
	}
	if (kr == KERN_SUCCESS && !collect_objects(b))
		kr = KERN_RESOURCE_SHORTAGE;
	if (kr == KERN_SUCCESS) {
		vm_batch_lock();
		b->next = HOST.open_batches;
		__atomic_store_n(&HOST.open_batches, b, __ATOMIC_RELEASE);
		vm_batch_unlock();
		*out = b;
	} else {
		for (size_t i = 0; i < b->ntasks; i++)
			drop_saved(&b->tasks[i]);
		free(b->objects);
	}
	vm_domain_leave();
	if (kr != KERN_SUCCESS)
		vm_domain_release(b->domain);   /* the tasks hold it too */
	task_unlock_refs(refs, n);
	/* Reference counts moved: checked like any change. */
	vm_call_exit(kr == KERN_SUCCESS);
	if (kr != KERN_SUCCESS)
		free(b);
	return kr;
}

static bool note_page(struct machvm_batch *b, struct vm_object *o, uint64_t index, void *have)
{
	if (b->npages == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct batch_page *v = realloc(b->pages, cap * sizeof *v);
		if (v == NULL)
			return false;
		b->pages = v;
		b->cap = cap;
	}
	void *bytes = NULL;
	if (have) {
		if (!vm_mem_take(vm_page_size))
			return false;
		if ((bytes = malloc(vm_page_size)) == NULL) {
			vm_mem_give(vm_page_size);
			return false;
		}
		memcpy(bytes, have, vm_page_size);
		b->charged += vm_page_size;
	}
	b->pages[b->npages++] = (struct batch_page){ o, index, bytes };
	return true;
}

kern_return_t machvm_batch_note(machvm_batch_t *b, task_t task, vm_address_t address,
                                vm_size_t size, boolean_t bytes)
{
	if (b == NULL)
		return KERN_INVALID_ARGUMENT;
	struct batch_task *bt = NULL;
	for (size_t i = 0; i < b->ntasks; i++)
		if (b->tasks[i].id == task)
			bt = &b->tasks[i];
	if (bt == NULL)
		return KERN_INVALID_ARGUMENT;
	if (size == 0 || address + size < address)
		return KERN_SUCCESS;
	vm_address_t start = vm_trunc_page(address), end = vm_round_page(address + size);
	if (end < address + size || end > MACHVM_USER_MAX)
		end = MACHVM_USER_MAX;
	if (start < vm_page_size)
		start = vm_page_size;
	vm_call_enter();
	if (!task_lock_live(bt->t, bt->id)) {
		vm_call_exit(false);
		return KERN_SUCCESS;    /* gone: nothing of it will be restored */
	}
	(void)vm_domain_enter(bt->t);
	kern_return_t kr = KERN_SUCCESS;
	struct vm_map *m = &bt->t->map;
	for (struct vm_map_entry *e = vm_map_store_lookup_ge(&m->store, start);
	     e && e->start < end && kr == KERN_SUCCESS; e = e->next) {
		/* A needs_copy entry writes into a new shadow, one with no object
		 * into a new object: only an object the batch maps is noted. */
		struct vm_object *o = e->object;
		if (o == NULL || (e->flags & VME_NEEDS_COPY) || !batch_maps(b, o))
			continue;
		vm_address_t ps = e->start > start ? e->start : start;
		vm_address_t pe = e->end < end ? e->end : end;
		for (vm_address_t a = ps; a < pe; a += vm_page_size) {
			uint64_t index = vm_atop(e->offset + (a - e->start));
			void *have = vm_page_table_get(&o->pages, index);
			/* A page held already keeps its residency; it needs saving
			 * only if it is written. */
			if (have && !bytes)
				continue;
			if (!note_page(b, o, index, have)) {
				kr = KERN_RESOURCE_SHORTAGE;
				break;
			}
		}
	}
	vm_domain_leave();
	task_unlock(bt->t);
	vm_call_exit(true);
	return kr;
}

void machvm_batch_undo(machvm_batch_t *b)
{
	if (b == NULL)
		return;
	struct task_ref refs[BATCH_MAX_TASKS];
	for (size_t i = 0; i < b->ntasks; i++)
		refs[i] = (struct task_ref){ b->tasks[i].t, b->tasks[i].id };
	vm_call_enter();
	size_t n = task_lock_refs(refs, b->ntasks);
	(void)vm_domain_enter_ref(b->domain);
	/* Held to the end: with every task of the batch dead, nothing else
	 * keeps the export and the checker off the objects it saved. */
	vm_batch_lock();
	unregister(b);
	/* The maps first, each task with its own report; then the pages and
	 * flags of the objects, which the restored entries hold again. */
	for (size_t i = 0; i < b->ntasks; i++) {
		struct batch_task *bt = &b->tasks[i];
		bool live = false;
		for (size_t j = 0; j < n; j++)
			live |= refs[j].t == bt->t && bt->t->serial == bt->serial;
		if (!live) {
			drop_saved(bt);
			continue;
		}
		struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_BATCH_UNDO);
		if (a)
			a->task = bt->id;
		for (struct vm_map_entry *e = bt->head; e; e = e->next)
			if (e->object)
				e->object->pins--;
		vm_map_replace(&bt->t->map, bt->head, bt->n);
		b->charged -= bt->n * sizeof(struct vm_map_entry);
		bt->head = NULL;
		bt->n = 0;
		vm_report_end_task(KERN_SUCCESS, &bt->t->map);
	}
	for (size_t i = b->npages; i-- > 0;) {
		struct batch_page *p = &b->pages[i];
		if (p->bytes == NULL) {
			vm_object_page_free(p->o, p->index);
			continue;
		}
		void *page = vm_page_table_get(&p->o->pages, p->index);
		if (page)
			memcpy(page, p->bytes, vm_page_size);
	}
	for (size_t i = 0; i < b->nobjects; i++) {
		b->objects[i].o->true_share = b->objects[i].true_share;
		b->objects[i].o->bypass_wanted = false;   /* what it would skip is undone */
	}
	free_pages_saved(b);
	vm_batch_unlock();
	vm_domain_leave();
	vm_domain_release(b->domain);
	task_unlock_refs(refs, n);
	vm_call_exit(true);
	free(b);
}

void machvm_batch_commit(machvm_batch_t *b)
{
	if (b == NULL)
		return;
	/* Its tasks locked too, as any call that changes objects does. */
	struct task_ref refs[BATCH_MAX_TASKS];
	for (size_t i = 0; i < b->ntasks; i++)
		refs[i] = (struct task_ref){ b->tasks[i].t, b->tasks[i].id };
	vm_call_enter();
	size_t n = task_lock_refs(refs, b->ntasks);
	(void)vm_domain_enter_ref(b->domain);
	vm_batch_lock();                /* to the end, as in machvm_batch_undo */
	unregister(b);
	(void)vm_report_begin(MACHVM_CALL_BATCH_COMMIT);
	/* The bypasses the pins held back are tried now, on the objects that
	 * outlive the batch: held meanwhile so that none goes under us. */
	size_t k = 0;
	for (size_t i = 0; i < b->nobjects; i++) {
		struct vm_object *o = b->objects[i].o;
		if (o->bypass_wanted) {
			o->bypass_wanted = false;
			vm_object_reference(o);
			b->objects[k++].o = o;
		}
	}
	for (size_t i = 0; i < b->ntasks; i++)
		drop_saved(&b->tasks[i]);
	for (size_t i = 0; i < k; i++) {
		struct vm_object *o = b->objects[i].o;
		if (o->ref_count > 1 && o->pins == 0)
			vm_object_collapse(o);
		vm_object_deallocate(o);
	}
	free_pages_saved(b);
	vm_report_end_if_changed(KERN_SUCCESS);
	vm_batch_unlock();
	vm_domain_leave();
	vm_domain_release(b->domain);
	task_unlock_refs(refs, n);
	vm_call_exit(true);
	free(b);
}

/* ---- for the checker ------------------------------------------------- */

uint64_t vm_batch_charged(void)
{
	uint64_t n = 0;
	for (const struct machvm_batch *b = HOST.open_batches; b; b = b->next)
		n += b->charged;
	return n;
}

void vm_batch_each_ref(void (*fn)(struct vm_object *o, void *arg), void *arg)
{
	for (const struct machvm_batch *b = HOST.open_batches; b; b = b->next)
		for (size_t i = 0; i < b->ntasks; i++)
			for (const struct vm_map_entry *e = b->tasks[i].head; e; e = e->next)
				if (e->object)
					fn(e->object, arg);
}
