/*
 * vm_map.c - address maps.
 *
 * A map is a sorted set of non-overlapping entries; each maps [start, end)
 * to a memory object at an offset, with a current and a maximum protection,
 * an inheritance, a wired count, machine attributes and two flags: is_shared
 * (the object is written through by another mapping too) and needs_copy (the
 * object is shared copy-on-write: the first write gives this entry a shadow).
 * The entries live in vm_map_store's tree, so lookups, clipping and
 * placement are O(log n).
 *
 * Every change of a boundary (a clip, a merge, a moved boundary, an entry
 * made or removed) moves the map's generation and is told to the call's
 * report where it happens, so that the report holds what the engine really
 * did; attribute changes are told by the operation that makes them.
 *
 * A call that changes part of an entry first clips it, so the change applies
 * to whole entries, and afterwards merges equal neighbours again
 * (coalescing), so that a round trip such as protecting a page and
 * protecting it back leaves the map as it was.
 *
 * Fork builds the child's entries in one pass over the parent's and then
 * builds the child's tree from the sorted list in O(n): no page is copied
 * except for wired entries and entries already shared with another mapping,
 * which are copied at once (a copy-on-write copy of an object that someone
 * else writes through would let their writes show in the copy).
 */
#include "host.h"
#include "vm_map.h"
#include "policy.h"

#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * Entries come from a small per-map cache first: clipping and coalescing
 * free and take entries all the time, and reusing the ones just freed keeps
 * that churn in memory the cache already holds.
 */
#define VM_MAP_FREE_MAX 32

static struct vm_map_entry *entry_alloc(struct vm_map *m)
{
	struct vm_map_entry *e = m->free_entries;
	if (e == NULL) {
		/* Cached entries stay charged: only a new one is. */
		if (!vm_mem_take(sizeof *e))
			return NULL;
		if ((e = calloc(1, sizeof *e)) == NULL)
			vm_mem_give(sizeof *e);
		return e;
	}
	m->free_entries = e->next;
	m->nfree--;
	memset(e, 0, sizeof *e);
	return e;
}

static void entry_free(struct vm_map *m, struct vm_map_entry *e)
{
	if (m->nfree >= VM_MAP_FREE_MAX) {
		free(e);
		vm_mem_give(sizeof *e);
		return;
	}
	e->next = m->free_entries;
	m->free_entries = e;
	m->nfree++;
}

/* Copies everything but the linkage and the range. */
static void entry_copy_payload(struct vm_map_entry *to, const struct vm_map_entry *from)
{
	to->object = from->object;
	to->offset = from->offset;
	to->cache_flushes = from->cache_flushes;
	to->dcache_flushes = from->dcache_flushes;
	to->icache_flushes = from->icache_flushes;
	to->wired_count = from->wired_count;
	to->protection = from->protection;
	to->max_protection = from->max_protection;
	to->inheritance = from->inheritance;
	to->flags = from->flags;
}

/* A boundary of m changed: the generation moves and the report hears of it. */
static inline void boundary(struct vm_map *m, machvm_change_kind_t kind,
                            vm_address_t start, vm_address_t end,
                            vm_address_t at, vm_address_t to, uint64_t count)
{
	m->gen++;
	vm_report_map_change(m->task, kind, start, end, at, to, count);
}

/* The host's sums (HOST.totals, host.h): changed only with the map's
 * counters, in the calling thread's shard. */

static struct vm_total_shard *my_shard(void)
{
	static atomic_uint next_shard;
	static _Thread_local unsigned int shard = VM_TOTAL_SHARDS;
	if (shard == VM_TOTAL_SHARDS)
		shard = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
		        VM_TOTAL_SHARDS;
	return &HOST.totals[shard];
}

#define TOTAL_ADD(field, n) \
	atomic_fetch_add_explicit(&my_shard()->field, (n), memory_order_relaxed)
#define TOTAL_SUB(field, n) \
	atomic_fetch_sub_explicit(&my_shard()->field, (n), memory_order_relaxed)

void vm_map_totals(struct vm_map_totals *out)
{
	uint64_t entries = 0, size = 0, wired = 0;
	for (size_t i = 0; i < VM_TOTAL_SHARDS; i++) {
		entries += atomic_load_explicit(&HOST.totals[i].entries, memory_order_relaxed);
		size += atomic_load_explicit(&HOST.totals[i].size, memory_order_relaxed);
		wired += atomic_load_explicit(&HOST.totals[i].wired, memory_order_relaxed);
	}
	out->entries = entries;
	out->size = size;
	out->wired_pages = wired;
}

static inline void size_add(struct vm_map *m, vm_size_t bytes)
{
	m->size += bytes;
	TOTAL_ADD(size, bytes);
}

static inline void size_sub(struct vm_map *m, vm_size_t bytes)
{
	m->size -= bytes;
	TOTAL_SUB(size, bytes);
}

static inline void entries_add(uint64_t n)
{
	TOTAL_ADD(entries, n);
}

static inline void entries_sub(uint64_t n)
{
	TOTAL_SUB(entries, n);
}

/* e's pages leave (sign < 0) or join (sign > 0) the map's wired pages, if e
 * is wired: callers bracket every change of an entry's range or
 * wired_count with the two. */
static inline void wired_account(struct vm_map *m, const struct vm_map_entry *e, int sign)
{
	if (e->wired_count == 0)
		return;
	uint64_t pages = vm_atop(e->end - e->start);
	if (sign < 0) {
		m->wired_pages -= pages;
		TOTAL_SUB(wired, pages);
	} else {
		m->wired_pages += pages;
		TOTAL_ADD(wired, pages);
	}
}

void vm_map_wire_change(struct vm_map *m, const struct vm_map_entry *e, int sign)
{
	wired_account(m, e, sign);
}

/* m's counters and the host's totals take m's entries, with one atomic
 * addition each however many entries there are. */
static void account_sums(struct vm_map *m, vm_size_t size, uint64_t wired)
{
	m->size = size;
	m->wired_pages = wired;
	TOTAL_ADD(size, size);
	TOTAL_ADD(wired, wired);
	entries_add(m->store.nentries);
}

void vm_map_account_built(struct vm_map *m)
{
	vm_size_t size = 0;
	uint64_t wired = 0;
	for (struct vm_map_entry *e = m->store.first; e; e = e->next) {
		size += e->end - e->start;
		if (e->wired_count)
			wired += vm_atop(e->end - e->start);
	}
	account_sums(m, size, wired);
}

static void entry_release(struct vm_map *m, struct vm_map_entry *e)
{
	wired_account(m, e, -1);
	vm_map_store_remove(&m->store, e);
	entries_sub(1);
	size_sub(m, e->end - e->start);
	if (e->object)
		vm_object_deallocate(e->object);
	entry_free(m, e);
}

void vm_map_init(struct vm_map *m)
{
	vm_map_store_init(&m->store, vm_page_size, MACHVM_USER_MAX);
	m->size = 0;
	m->wired_pages = 0;
	m->free_entries = NULL;
	m->nfree = 0;
	m->task = TASK_NULL;
	m->gen = 0;
}

/*
 * Every entry goes at once: the store is emptied first and the entries
 * are then freed along their list, with no tree to rebalance after each
 * (taking them out one by one refigured the tree n times, and cost a
 * terminated task of a million entries several times its fork).
 */
static void map_destroy(struct vm_map *m, bool yield)
{
	struct vm_map_entry *e = m->store.first;
	size_t n = m->store.nentries;

	vm_map_store_init(&m->store, m->store.min, m->store.max);
	/* The counters go down once at the end, not once per entry. */
	uint64_t wired = m->wired_pages;
	vm_size_t size = m->size;
	for (size_t k = 1; e; k++) {
		struct vm_map_entry *next = e->next;
		/* The entries are off the map: nobody else can reach them. */
		if (yield && k % VM_OBJECT_YIELD_EVERY == 0)
			vm_domain_yield();
		if (e->object)
			vm_object_deallocate(e->object);
		free(e);
		e = next;
	}
	vm_mem_give(n * sizeof *e);
	m->wired_pages = 0;
	m->size = 0;
	TOTAL_SUB(wired, wired);
	TOTAL_SUB(size, size);
	entries_sub(n);
	while (m->free_entries) {
		struct vm_map_entry *e = m->free_entries;
		m->free_entries = e->next;
		free(e);
		vm_mem_give(sizeof *e);
	}
	m->nfree = 0;
}

void vm_map_destroy(struct vm_map *m)
{
	map_destroy(m, false);
}

void vm_map_destroy_yielding(struct vm_map *m)
{
	map_destroy(m, true);
}

void vm_map_report_task(struct vm_map *m, machvm_change_kind_t kind)
{
	struct vm_map_store *st = &m->store;
	vm_report_map_change(m->task, kind, st->first ? st->first->start : 0,
	                     st->last ? st->last->end : 0, 0, 0, st->nentries);
}

void vm_map_created(struct vm_map *m, task_t id)
{
	m->task = id;
	m->gen = 1;
	vm_map_report_task(m, MACHVM_CHANGE_TASK_CREATED);
}

kern_return_t vm_map_spares_get(struct vm_map *m, struct vm_map_spares *s)
{
	s->e[0] = entry_alloc(m);
	s->e[1] = entry_alloc(m);
	if (s->e[0] == NULL || s->e[1] == NULL) {
		vm_map_spares_put(m, s);
		return KERN_RESOURCE_SHORTAGE;
	}
	return KERN_SUCCESS;
}

void vm_map_spares_put(struct vm_map *m, struct vm_map_spares *s)
{
	for (int i = 0; i < 2; i++)
		if (s->e[i])
			entry_free(m, s->e[i]);
	s->e[0] = s->e[1] = NULL;
}

static struct vm_map_entry *spare_take(struct vm_map_spares *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->e[i]) {
			struct vm_map_entry *e = s->e[i];
			s->e[i] = NULL;
			memset(e, 0, sizeof *e);
			return e;
		}
	}
	machvm_panic("vm_map: more than two clips in one range operation");
}

/* Splits e at a (strictly inside e): the new entry takes [e->start, a). */
static void clip_start(struct vm_map *m, struct vm_map_entry *e, vm_address_t a,
                       struct vm_map_spares *s)
{
	if (a <= e->start || a >= e->end)
		return;
	boundary(m, MACHVM_CHANGE_SPLIT, e->start, e->end, a, 0, 0);
	struct vm_map_entry *n = spare_take(s);
	entry_copy_payload(n, e);
	n->start = e->start;
	n->end = a;
	e->offset += a - e->start;
	e->start = a;
	vm_map_store_insert_before(&m->store, e, n);   /* no update of e: see there */
	entries_add(1);
	if (n->object)
		vm_object_reference(n->object);
}

/* Splits e at a (strictly inside e): the new entry takes [a, e->end). */
static void clip_end(struct vm_map *m, struct vm_map_entry *e, vm_address_t a,
                     struct vm_map_spares *s)
{
	if (a <= e->start || a >= e->end)
		return;
	boundary(m, MACHVM_CHANGE_SPLIT, e->start, e->end, a, 0, 0);
	struct vm_map_entry *n = spare_take(s);
	entry_copy_payload(n, e);
	n->start = a;
	n->end = e->end;
	n->offset = e->offset + (a - e->start);
	e->end = a;
	vm_map_store_insert_after(&m->store, e, n);    /* no update of e: see there */
	entries_add(1);
	if (n->object)
		vm_object_reference(n->object);
}

void vm_map_clip_range(struct vm_map *m, vm_address_t start, vm_address_t end,
                       struct vm_map_spares *s)
{
	struct vm_map_entry *e = vm_map_store_lookup(&m->store, start);
	if (e)
		clip_start(m, e, start, s);
	e = vm_map_store_lookup(&m->store, end - 1);
	if (e)
		clip_end(m, e, end, s);
}

/* Do a and b (a just before b) agree on everything but their objects? */
static bool same_attributes(const struct vm_map_entry *a, const struct vm_map_entry *b)
{
	return a->end == b->start && a->protection == b->protection &&
	       a->max_protection == b->max_protection && a->inheritance == b->inheritance &&
	       a->wired_count == b->wired_count && a->flags == b->flags &&
	       a->cache_flushes == b->cache_flushes && a->dcache_flushes == b->dcache_flushes &&
	       a->icache_flushes == b->icache_flushes;
}

/* An object only one entry sees: one reference, nothing behind or in
 * front of it.  It may grow over an entry without an object. */
static bool object_private(const struct vm_object *o)
{
	return o->ref_count == 1 && o->shadow == NULL && o->nchildren == 0 && !o->true_share;
}

/* How a and b (a just before b) merge by a rule (policy.h). */
enum merge_how {
	MERGE_NO,
	MERGE_AS_IS,            /* no object, or the same one at contiguous offsets */
	MERGE_GROW_A,           /* b has no object: a's grows over b */
	MERGE_GROW_B,           /* a has no object: b's grows back over a */
};

static enum merge_how merge_how(const struct vm_map_entry *a, const struct vm_map_entry *b,
                                enum vm_merge_rule rule, bool shared)
{
	if (!same_attributes(a, b) || (!shared && (a->flags & VME_IS_SHARED)))
		return MERGE_NO;
	if (a->object == NULL && b->object == NULL)
		return rule == VM_MERGE_SAME_OBJECT ? MERGE_NO : MERGE_AS_IS;
	if (a->object == b->object)
		return a->offset + (a->end - a->start) == b->offset ? MERGE_AS_IS : MERGE_NO;
	if (rule != VM_MERGE_GROW)
		return MERGE_NO;
	if (b->object == NULL && object_private(a->object))
		return MERGE_GROW_A;
	if (a->object == NULL && object_private(b->object) && b->offset >= a->end - a->start)
		return MERGE_GROW_B;
	return MERGE_NO;
}

/* The host's rule. */
static inline enum merge_how mergeable(const struct vm_map_entry *a,
                                       const struct vm_map_entry *b)
{
	const struct vm_policy *p = vm_policy();
	return merge_how(a, b, p->merge_rule, p->merge_shared);
}

/*
 * Lets o (one entry's private object) cover [off, off + len) as fresh zero
 * fill: pages it still holds there (left by an entry deleted before) are
 * freed.  false (nothing changed but those pages) if some could not be.
 */
static bool object_take_window(struct vm_object *o, vm_offset_t off, vm_size_t len)
{
	vm_object_free_window(o, off, len);
	if (vm_object_window_own_pages(o, off, len) != 0)
		return false;
	if (o->size < off + len)
		o->size = off + len;
	return true;
}

/* Merges e's successor into e as how says; true if it did. */
static bool merge_pair(struct vm_map *m, struct vm_map_entry *e, enum merge_how how)
{
	struct vm_map_entry *n = e->next;
	vm_size_t elen = e->end - e->start, nlen = n->end - n->start;
	if (how == MERGE_NO)
		return false;
	if (how == MERGE_GROW_A && !object_take_window(e->object, e->offset + elen, nlen))
		return false;
	if (how == MERGE_GROW_B) {
		if (!object_take_window(n->object, n->offset - elen, elen))
			return false;
		e->object = n->object;  /* n's reference moves to e */
		e->offset = n->offset - elen;
		n->object = NULL;
	}
	boundary(m, MACHVM_CHANGE_MERGED, e->start, n->end, n->start, 0, 0);
	/* entry_release's steps, with n's range going to e in the store's
	 * one step (the map's size stays). */
	wired_account(m, n, -1);
	wired_account(m, e, -1);
	vm_map_store_absorb_next(&m->store, e);
	wired_account(m, e, +1);
	entries_sub(1);
	if (n->object)
		vm_object_deallocate(n->object);   /* n's reference on the shared object */
	entry_free(m, n);
	return true;
}

/* Merges e's successor into e if the host's rule lets them; true if it did. */
static bool merge_next(struct vm_map *m, struct vm_map_entry *e)
{
	return e->next != NULL && merge_pair(m, e, mergeable(e, e->next));
}

void vm_map_coalesce_range(struct vm_map *m, vm_address_t start, vm_address_t end)
{
	struct vm_map_entry *e = vm_map_store_lookup_ge(&m->store, start);
	if (e == NULL)
		e = m->store.last;
	else if (e->prev)
		e = e->prev;
	while (e && e->start <= end) {
		if (!merge_next(m, e))
			e = e->next;
	}
}

void vm_map_coalesce_after(struct vm_map *m, unsigned int call, vm_address_t start,
                           vm_address_t end)
{
	if (vm_policy()->coalesce_after & call)
		vm_map_coalesce_range(m, start, end);
}

/* Tries the boundary move described at vm_map_apply_range. */
static bool shift_boundary(struct vm_map *m, vm_address_t start, vm_address_t end,
                           vm_map_apply_fn fn, const void *arg)
{
	struct vm_map_entry *e = vm_map_store_lookup(&m->store, start);
	if (e == NULL || end > e->end || (e->start == start && e->end == end))
		return false;
	bool suffix = e->end == end;
	struct vm_map_entry *n = suffix ? e->next : e->prev;
	if (n == NULL || (suffix ? n->start != end : n->end != start) ||
	    (!suffix && e->start != start))
		return false;
	struct vm_map_entry piece;
	memset(&piece, 0, sizeof piece);
	entry_copy_payload(&piece, e);
	piece.start = start;
	piece.end = end;
	piece.offset = e->offset + (start - e->start);
	fn(&piece, arg);
	if ((suffix ? mergeable(&piece, n) : mergeable(n, &piece)) != MERGE_AS_IS)
		return false;
	m->gen++;
	if (vm_reporting()) {
		/* The two entries' span, and the boundary's move, then the
		 * piece that changed. */
		vm_report_map_change(m->task, MACHVM_CHANGE_MOVED, suffix ? e->start : n->start,
		                     suffix ? n->end : e->end, suffix ? end : start,
		                     suffix ? start : end, 0);
		vm_report_map_change(m->task, MACHVM_CHANGE_ATTRIBUTES, start, end, 0, 0, 0);
	}
	wired_account(m, e, -1);
	wired_account(m, n, -1);
	if (suffix) {
		e->end = start;
		n->start = start;
		n->offset = piece.offset;
		vm_map_store_update(&m->store, e);
		vm_map_store_update(&m->store, n);
	} else {
		n->end = end;
		e->offset += end - e->start;
		e->start = end;
		vm_map_store_update(&m->store, n);
		vm_map_store_update(&m->store, e);
	}
	wired_account(m, e, +1);
	wired_account(m, n, +1);
	return true;
}

kern_return_t vm_map_apply_range(struct vm_map *m, unsigned int call, vm_address_t start,
                                 vm_address_t end, vm_map_apply_fn fn, const void *arg)
{
	/* The move is a merge: only where the call coalesces. */
	if ((vm_policy()->coalesce_after & call) && shift_boundary(m, start, end, fn, arg))
		return KERN_SUCCESS;
	struct vm_map_spares s;
	kern_return_t kr = vm_map_spares_get(m, &s);
	if (kr != KERN_SUCCESS)
		return kr;
	vm_map_clip_range(m, start, end, &s);
	for (struct vm_map_entry *e = vm_map_store_lookup(&m->store, start); e && e->start < end; e = e->next) {
		wired_account(m, e, -1);
		fn(e, arg);
		wired_account(m, e, +1);
	}
	vm_report_map_change(m->task, MACHVM_CHANGE_ATTRIBUTES, start, end, 0, 0, 0);
	vm_map_coalesce_after(m, call, start, end);
	vm_map_spares_put(m, &s);
	return KERN_SUCCESS;
}

vm_address_t vm_map_first_hole(struct vm_map *m, vm_address_t start, vm_address_t end)
{
	struct vm_map_entry *e = vm_map_store_lookup(&m->store, start);
	vm_address_t at = start;
	while (at < end) {
		if (e == NULL || e->start > at)
			return at;
		at = e->end;
		e = e->next;
	}
	return end;
}

kern_return_t vm_map_enter(struct vm_map *m, vm_address_t start, vm_address_t end)
{
	struct vm_map_entry *e = entry_alloc(m);
	if (e == NULL)
		return KERN_RESOURCE_SHORTAGE;
	e->start = start;
	e->end = end;
	e->protection = VM_PROT_DEFAULT;
	e->max_protection = VM_PROT_ALL;
	e->inheritance = VM_INHERIT_DEFAULT;
	e->flags = VME_CACHE;
	vm_map_store_insert(&m->store, e);
	entries_add(1);
	size_add(m, end - start);
	boundary(m, MACHVM_CHANGE_ADDED, start, end, 0, 0, 1);
	const struct vm_policy *p = vm_policy();
	if (p->enter_grow_limit == 0) {
		vm_map_coalesce_after(m, VM_COALESCE_ALLOCATE, start, end);
	} else if (p->coalesce_after & VM_COALESCE_ALLOCATE) {
		/* Only the entry before grows over the new one, and only while
		 * the two stay under the limit. */
		struct vm_map_entry *prev = e->prev;
		if (prev && prev->end == start &&
		    (prev->end - prev->start) + (end - start) < p->enter_grow_limit)
			(void)merge_pair(m, prev, merge_how(prev, e, VM_MERGE_GROW, false));
	}
	return KERN_SUCCESS;
}

kern_return_t vm_map_delete(struct vm_map *m, vm_address_t start, vm_address_t end)
{
	struct vm_map_spares s;
	kern_return_t kr = vm_map_spares_get(m, &s);
	if (kr != KERN_SUCCESS)
		return kr;
	vm_map_clip_range(m, start, end, &s);
	struct vm_map_entry *e = vm_map_store_lookup_ge(&m->store, start);
	/* Told first, all of them (they join into one change): the objects
	 * their going frees come after. */
	if (vm_reporting())
		for (struct vm_map_entry *x = e; x && x->start < end; x = x->next)
			vm_report_map_change(m->task, MACHVM_CHANGE_REMOVED, x->start, x->end, 0, 0, 1);
	while (e && e->start < end) {
		struct vm_map_entry *next = e->next;
		/*
		 * Pages of a private object that only this map's clipped pieces
		 * refer to (no shadow behind them reads them, no other mapping
		 * shares or copies them) are unreachable once their piece is gone:
		 * free them now rather than when the whole object goes.  Not while
		 * an open batch holds the object: its saved entries may map them.
		 */
		struct vm_object *o = e->object;
		if (o && o->ref_count > 1 && o->nchildren == 0 && !o->true_share && o->pins == 0 &&
		    !(e->flags & (VME_IS_SHARED | VME_NEEDS_COPY)))
			vm_object_free_window(o, e->offset, e->end - e->start);
		m->gen++;
		entry_release(m, e);
		e = next;
	}
	vm_map_spares_put(m, &s);
	return KERN_SUCCESS;
}

kern_return_t vm_map_entry_private_object(struct vm_map_entry *e)
{
	vm_size_t len = e->end - e->start;
	if (e->object == NULL) {
		e->object = vm_object_allocate(len);
		if (e->object == NULL)
			return KERN_RESOURCE_SHORTAGE;
		e->offset = 0;
		e->flags &= ~VME_NEEDS_COPY;
		return KERN_SUCCESS;
	}
	if (e->flags & VME_NEEDS_COPY) {
		/* The last reference needs no copy: nobody else can see a write. */
		if (e->object->ref_count > 1) {
			kern_return_t kr = vm_object_shadow(&e->object, &e->offset, len);
			if (kr != KERN_SUCCESS)
				return kr;
		}
		e->flags &= ~VME_NEEDS_COPY;
	}
	return KERN_SUCCESS;
}

kern_return_t vm_map_entry_shareable(struct vm_map_entry *e)
{
	return vm_map_entry_private_object(e);
}

/*
 * The sharing state of an entry as report.h's ATTRIBUTES means it: its
 * object, its flags, and whether the object is shared by a sharing remap.
 * Fork and remap compare it before and after they touch a source entry.
 */
struct share_state {
	const struct vm_object *object;
	uint8_t flags;
	bool true_share;
};

static inline struct share_state share_state(const struct vm_map_entry *e)
{
	return (struct share_state){ e->object, e->flags, e->object && e->object->true_share };
}

/*
 * e's sharing state before it is touched, read only when reporting: rep is
 * vm_reporting(), which cannot change during a call, read once before the
 * loop over the entries.
 */
static inline struct share_state share_before(const struct vm_map_entry *e, bool rep)
{
	if (rep)
		return share_state(e);
	return (struct share_state){ NULL, 0, false };
}

/* Reports e's ATTRIBUTES if its sharing state is no longer was. */
static inline void report_share_change(struct vm_map *m, const struct vm_map_entry *e,
                                       struct share_state was, bool rep)
{
	if (rep) {
		struct share_state now = share_state(e);
		if (now.object != was.object || now.flags != was.flags ||
		    now.true_share != was.true_share)
			vm_report_map_change(m->task, MACHVM_CHANGE_ATTRIBUTES, e->start, e->end,
			                     0, 0, 0);
	}
}

/* The child's copy of parent entry e under VM_INHERIT_COPY. */
static kern_return_t fork_copy(struct vm_map_entry *e, struct vm_map_entry *n)
{
	if (e->object == NULL)
		return KERN_SUCCESS;            /* both sides stay zero fill */
	if (e->wired_count > 0 || (e->flags & VME_IS_SHARED)) {
		n->object = vm_object_copy_range(e->object, e->offset, e->end - e->start);
		if (n->object == NULL)
			return KERN_RESOURCE_SHORTAGE;
		n->offset = 0;
		n->flags &= ~(VME_NEEDS_COPY | VME_IS_SHARED);
		return KERN_SUCCESS;
	}
	vm_object_reference(e->object);
	e->flags |= VME_NEEDS_COPY;
	n->flags |= VME_NEEDS_COPY;
	return KERN_SUCCESS;
}

/* Whether a fork gives the child a copy of e: not for inheritance none,
 * nor (skip_unreadable, the policy's) for a copy that must be made at once
 * from memory the maximum protection does not let be read.  vm_map_fork
 * and vm_map_fork_cost ask the same question. */
static bool fork_takes(const struct vm_map_entry *e, bool skip_unreadable)
{
	if (e->inheritance == VM_INHERIT_NONE)
		return false;
	return !(skip_unreadable && e->inheritance == VM_INHERIT_COPY && e->object &&
	         (e->wired_count > 0 || (e->flags & VME_IS_SHARED)) &&
	         !(e->max_protection & VM_PROT_READ));
}

kern_return_t vm_map_fork(struct vm_map *parent, struct vm_map *child)
{
	struct vm_map_entry *head = NULL, *tail = NULL;
	size_t n = 0;
	vm_size_t size = 0;
	kern_return_t kr = KERN_SUCCESS;
	bool rep = vm_reporting();

	bool skip_unreadable = vm_policy()->fork_skips_unreadable;
	size_t k = 0;
	for (struct vm_map_entry *e = parent->store.first; e; e = e->next) {
		/* Each entry is copied whole with the object lock held; between
		 * entries others may have it (the parent and the child stay
		 * locked, and the child holds a reference on what it maps). */
		if (++k % VM_OBJECT_YIELD_EVERY == 0)
			vm_domain_yield();
		if (!fork_takes(e, skip_unreadable))
			continue;
		struct vm_map_entry *c = entry_alloc(child);
		if (c == NULL) {
			kr = KERN_RESOURCE_SHORTAGE;
			break;
		}
		struct share_state was = share_before(e, rep);
		if (e->inheritance == VM_INHERIT_SHARE) {
			kr = vm_map_entry_shareable(e);
			if (kr == KERN_SUCCESS) {
				e->flags |= VME_IS_SHARED;
				vm_object_reference(e->object);
			}
		}
		entry_copy_payload(c, e);
		c->start = e->start;
		c->end = e->end;
		c->wired_count = 0;
		if (kr == KERN_SUCCESS && e->inheritance == VM_INHERIT_COPY) {
			c->object = NULL;
			kr = fork_copy(e, c);
			if (kr == KERN_SUCCESS && c->object == NULL && e->object != NULL)
				c->object = e->object;  /* symmetric copy: shares until written */
		}
		report_share_change(parent, e, was, rep);
		if (kr != KERN_SUCCESS) {
			entry_free(child, c);
			break;
		}
		c->next = NULL;
		if (tail)
			tail->next = c;
		else
			head = c;
		tail = c;
		n++;
		size += c->end - c->start;
	}
	if (kr != KERN_SUCCESS) {
		/* Out of memory: undo the child.  Parent entries keep what they got
		 * (an object, a shadow, needs_copy), none of which changes what the
		 * parent reads or writes. */
		while (head) {
			struct vm_map_entry *next = head->next;
			if (head->object)
				vm_object_deallocate(head->object);
			entry_free(child, head);
			head = next;
		}
		return kr;
	}
	vm_map_store_build(&child->store, head, n);
	account_sums(child, size, 0);   /* its entries are unwired */
	/* The child has no owner yet: its merging is not reported. */
	vm_map_coalesce_after(child, VM_COALESCE_FORK, child->store.min, child->store.max);
	vm_map_coalesce_after(parent, VM_COALESCE_FORK, parent->store.min, parent->store.max);
	return KERN_SUCCESS;
}

kern_return_t vm_map_remap_pieces(struct vm_map *target, vm_address_t dst,
                                  struct vm_map *source, vm_address_t src, vm_size_t size,
                                  boolean_t copy, vm_inherit_t inheritance,
                                  vm_prot_t *cur, vm_prot_t *max)
{
	vm_address_t end = src + size;
	size_t npieces = 0;
	for (struct vm_map_entry *e = vm_map_store_lookup(&source->store, src);
	     e && e->start < end; e = e->next)
		npieces++;

	/* Take every entry first, so that memory running out changes nothing. */
	struct vm_map_entry **pieces = calloc(npieces, sizeof *pieces);
	if (pieces == NULL)
		return KERN_RESOURCE_SHORTAGE;
	for (size_t i = 0; i < npieces; i++) {
		pieces[i] = entry_alloc(target);
		if (pieces[i] == NULL) {
			for (size_t j = 0; j < i; j++)
				entry_free(target, pieces[j]);
			free(pieces);
			return KERN_RESOURCE_SHORTAGE;
		}
	}

	vm_prot_t cur_and = VM_PROT_ALL, max_and = VM_PROT_ALL;
	kern_return_t kr = KERN_SUCCESS;
	bool rep = vm_reporting();
	size_t i = 0;
	for (struct vm_map_entry *e = vm_map_store_lookup(&source->store, src);
	     e && e->start < end; e = e->next, i++) {
		vm_address_t ps = e->start > src ? e->start : src;
		vm_address_t pe = e->end < end ? e->end : end;
		struct vm_map_entry *p = pieces[i];
		struct share_state was = share_before(e, rep);
		entry_copy_payload(p, e);
		p->start = dst + (ps - src);
		p->end = dst + (pe - src);
		p->inheritance = (uint8_t)inheritance;
		p->wired_count = 0;
		p->cache_flushes = p->dcache_flushes = p->icache_flushes = 0;
		p->flags &= ~(VME_IS_SHARED | VME_NEEDS_COPY);
		cur_and &= e->protection;
		max_and &= e->max_protection;
		if (copy) {
			p->object = NULL;
			if (e->object != NULL && (e->wired_count > 0 || (e->flags & VME_IS_SHARED))) {
				p->object = vm_object_copy_range(e->object, e->offset + (ps - e->start), pe - ps);
				p->offset = 0;
				if (p->object == NULL)
					kr = KERN_RESOURCE_SHORTAGE;
			} else if (e->object != NULL) {
				vm_object_reference(e->object);
				e->flags |= VME_NEEDS_COPY;
				p->object = e->object;
				p->offset = e->offset + (ps - e->start);
				p->flags |= VME_NEEDS_COPY;
			}
		} else {
			kr = vm_map_entry_shareable(e);
			if (kr == KERN_SUCCESS) {
				e->flags |= VME_IS_SHARED;
				e->object->true_share = true;
				vm_object_reference(e->object);
				p->object = e->object;
				p->offset = e->offset + (ps - e->start);
				p->flags |= VME_IS_SHARED;
			}
		}
		report_share_change(source, e, was, rep);
		if (kr != KERN_SUCCESS)
			break;
	}
	if (kr != KERN_SUCCESS) {
		for (size_t j = 0; j < npieces; j++) {
			if (j < i && pieces[j]->object)
				vm_object_deallocate(pieces[j]->object);
			entry_free(target, pieces[j]);
		}
		free(pieces);
		return kr;
	}
	for (i = 0; i < npieces; i++) {
		vm_map_store_insert(&target->store, pieces[i]);
		entries_add(1);
		size_add(target, pieces[i]->end - pieces[i]->start);
	}
	boundary(target, MACHVM_CHANGE_ADDED, dst, dst + size, 0, 0, npieces);
	free(pieces);
	vm_map_coalesce_after(target, VM_COALESCE_REMAP, dst, dst + size);
	/* Marking source entries shared or needs_copy can make them equal to
	 * their neighbours, in the same task as much as in another. */
	vm_map_coalesce_after(source, VM_COALESCE_REMAP, src, end);
	*cur = cur_and;
	*max = max_and;
	return KERN_SUCCESS;
}

void vm_map_replace(struct vm_map *m, struct vm_map_entry *head, size_t n)
{
	struct vm_map_store *st = &m->store;
	if (st->first) {
		boundary(m, MACHVM_CHANGE_REMOVED, st->first->start, st->last->end, 0, 0,
		         st->nentries);
		while (st->first)
			entry_release(m, st->first);
	}
	vm_map_store_build(st, head, n);
	vm_map_account_built(m);
	if (n > 0)
		boundary(m, MACHVM_CHANGE_ADDED, st->first->start, st->last->end, 0, 0, n);
}

struct vm_map_entry *vm_map_entry_new(void)
{
	if (!vm_mem_take(sizeof(struct vm_map_entry)))
		return NULL;
	struct vm_map_entry *e = calloc(1, sizeof *e);
	if (e == NULL)
		vm_mem_give(sizeof *e);
	return e;
}

void vm_map_entry_dispose(struct vm_map_entry *e)
{
	free(e);
	vm_mem_give(sizeof *e);
}

kern_return_t vm_map_copy_in_place(struct vm_map *m, vm_address_t start, vm_address_t end)
{
	struct vm_map_spares s;
	kern_return_t kr = vm_map_spares_get(m, &s);
	if (kr != KERN_SUCCESS)
		return kr;
	vm_map_clip_range(m, start, end, &s);
	struct vm_map_entry *e;
	for (e = vm_map_store_lookup(&m->store, start); e && e->start < end; e = e->next) {
		/* A shared or wired object is copied now, as a copying remap
		 * does; a private one stays, the copy of itself nobody else
		 * sees (or a copy-on-write copy already). */
		if (e->object && (e->wired_count > 0 || (e->flags & VME_IS_SHARED))) {
			struct vm_object *o = vm_object_copy_range(e->object, e->offset,
			                                           e->end - e->start);
			if (o == NULL) {
				kr = KERN_RESOURCE_SHORTAGE;
				break;
			}
			vm_object_deallocate(e->object);
			e->object = o;
			e->offset = 0;
		}
		m->gen++;
		wired_account(m, e, -1);
		e->wired_count = 0;
		e->flags &= (uint8_t)~VME_IS_SHARED;
		e->max_protection |= VM_PROT_WRITE;
		e->inheritance = VM_INHERIT_DEFAULT;
		wired_account(m, e, +1);
	}
	vm_report_map_change(m->task, MACHVM_CHANGE_ATTRIBUTES, start,
	                     kr != KERN_SUCCESS ? e->end : end, 0, 0, 0);
	vm_map_spares_put(m, &s);
	return kr;
}

/* ---- what calls may take (the memory account, engine.h) -------------- */

/* An object's and a new entry's charge. */
#define OBJECT_COST ((uint64_t)sizeof(struct vm_object))
#define ENTRY_COST  ((uint64_t)sizeof(struct vm_map_entry))

uint64_t vm_map_resident_cost(struct vm_map *m, vm_address_t start, vm_address_t end,
                              bool skip_wired)
{
	uint64_t cost = 0;
	for (struct vm_map_entry *e = vm_map_store_lookup_ge(&m->store, start);
	     e && e->start < end; e = e->next) {
		if (skip_wired && e->wired_count > 0)
			continue;
		vm_address_t ps = e->start > start ? e->start : start;
		vm_address_t pe = e->end < end ? e->end : end;
		uint64_t pages = vm_atop(pe - ps);
		if (e->object == NULL || (e->flags & VME_NEEDS_COPY))
			cost += OBJECT_COST + pages * vm_page_size;
		else
			cost += (pages - vm_object_window_own_pages(e->object, e->offset + (ps - e->start),
			                                            pe - ps)) * vm_page_size;
	}
	return cost;
}

/* An eager copy of [off, off + len) of o: a new object and every page the
 * chain has there. */
static uint64_t eager_copy_cost(struct vm_object *o, vm_offset_t off, vm_size_t len)
{
	uint64_t resident;
	unsigned int depth;
	vm_object_window_report(o, off, len, &resident, &depth, NULL);
	return OBJECT_COST + resident * vm_page_size;
}

uint64_t vm_map_fork_cost(struct vm_map *parent)
{
	/* With no limit to keep, no pass over the entries: the child's
	 * entries only, so that they are not charged one by one. */
	if (vm_mem_limit() == 0)
		return parent->store.nentries * ENTRY_COST;
	uint64_t cost = 0;
	bool skip_unreadable = vm_policy()->fork_skips_unreadable;
	size_t k = 0;
	for (struct vm_map_entry *e = parent->store.first; e; e = e->next) {
		if (++k % VM_OBJECT_YIELD_EVERY == 0)
			vm_domain_yield();
		if (!fork_takes(e, skip_unreadable))
			continue;
		cost += ENTRY_COST;
		if (e->inheritance == VM_INHERIT_SHARE) {
			if (e->object == NULL || (e->flags & VME_NEEDS_COPY))
				cost += OBJECT_COST;
		} else if (e->object && (e->wired_count > 0 || (e->flags & VME_IS_SHARED))) {
			cost += eager_copy_cost(e->object, e->offset, e->end - e->start);
		}
	}
	return cost;
}

uint64_t vm_map_remap_cost(struct vm_map *source, vm_address_t src, vm_size_t size, boolean_t copy)
{
	uint64_t cost = 0;
	vm_address_t end = src + size;
	for (struct vm_map_entry *e = vm_map_store_lookup(&source->store, src);
	     e && e->start < end; e = e->next) {
		vm_address_t ps = e->start > src ? e->start : src;
		vm_address_t pe = e->end < end ? e->end : end;
		cost += ENTRY_COST;
		if (copy) {
			if (e->object && (e->wired_count > 0 || (e->flags & VME_IS_SHARED)))
				cost += eager_copy_cost(e->object, e->offset + (ps - e->start), pe - ps);
		} else if (e->object == NULL || (e->flags & VME_NEEDS_COPY)) {
			cost += OBJECT_COST;
		}
	}
	return cost;
}

/* Does o's chain (o included) hold x? */
static bool chain_holds(const struct vm_object *o, const struct vm_object *x)
{
	for (; o; o = o->shadow)
		if (o == x)
			return true;
	return false;
}

int vm_map_alias_table(struct vm_map *m, struct vm_page_table *aliases)
{
	for (struct vm_map_entry *e = m->store.first; e; e = e->next) {
		for (struct vm_object *o = e->object; o; o = o->shadow) {
			uintptr_t n = (uintptr_t)vm_page_table_remove(aliases, o->id);
			if (vm_page_table_put(aliases, o->id, (void *)(n + 1)) != 0)
				return -1;
		}
	}
	return 0;
}

void vm_map_entry_report(struct vm_map *m, struct vm_map_entry *e,
                         const struct vm_page_table *aliases,
                         vm_region_extended_info_t *info)
{
	memset(info, 0, sizeof *info);
	info->start = e->start;
	info->size = e->end - e->start;
	info->protection = e->protection;
	info->max_protection = e->max_protection;
	info->inheritance = e->inheritance;
	info->shared = (e->flags & VME_IS_SHARED) != 0;
	info->needs_copy = (e->flags & VME_NEEDS_COPY) != 0;
	info->offset = e->offset;
	info->wired_count = e->wired_count;
	info->cache = (e->flags & VME_CACHE) ? MATTR_VAL_ON : MATTR_VAL_OFF;
	info->migrate = (e->flags & VME_MIGRATE) ? MATTR_VAL_ON : MATTR_VAL_OFF;
	info->replicate = (e->flags & VME_REPLICATE) ? MATTR_VAL_ON : MATTR_VAL_OFF;
	info->cache_flushes = e->cache_flushes;
	info->dcache_flushes = e->dcache_flushes;
	info->icache_flushes = e->icache_flushes;

	struct vm_object *top = e->object;
	if (top == NULL) {
		info->share_mode = SM_EMPTY;
		return;
	}
	info->object_id = top->id;
	unsigned int depth;
	uint64_t in_top;
	vm_object_window_report(top, e->offset, e->end - e->start, &info->resident_pages, &depth,
	                        &in_top);
	info->shadow_depth = depth;
	/* What the next write to each page does (vm_map_page_mode): the
	 * top object's pages by the top level's mode, the others cow. */
	switch (vm_map_page_mode(e, 0)) {
	case MACHVM_PAGE_PRIVATE: info->private_pages = in_top; break;
	case MACHVM_PAGE_SHARED: info->shared_pages = in_top; break;
	default: in_top = 0; break;
	}
	info->cow_pages = info->resident_pages - in_top;

	/* XNU's vm_map_region_walk: ref_count and share mode. */
	uint64_t ref = top->ref_count;
	const struct vm_object *o = top->shadow;
	for (unsigned int d = 0; d < depth && o; d++, o = o->shadow)
		ref += o->ref_count - 1;
	info->ref_count = (unsigned int)ref;

	if (depth > 0 || (e->flags & VME_NEEDS_COPY))
		info->share_mode = SM_COW;
	else if (top->ref_count == 1)
		info->share_mode = SM_PRIVATE;
	else if (top->true_share)
		info->share_mode = SM_TRUESHARED;
	else
		info->share_mode = SM_SHARED;

	if (info->share_mode == SM_SHARED) {
		uint64_t mine = 0;
		if (aliases) {
			mine = (uintptr_t)vm_page_table_get(aliases, top->id);
		} else {
			for (struct vm_map_entry *x = m->store.first; x; x = x->next)
				if (chain_holds(x->object, top))
					mine++;
		}
		if (mine == top->ref_count)
			info->share_mode = SM_PRIVATE_ALIASED;
		else if (mine > 1)
			info->share_mode = SM_SHARED_ALIASED;
	}
}

unsigned int vm_map_page_mode(const struct vm_map_entry *e, unsigned int level)
{
	/* A needs_copy entry holding the last reference writes in place
	 * (vm_map_entry_private_object): nobody else could see a write. */
	if (level > 0 || ((e->flags & VME_NEEDS_COPY) && e->object->ref_count > 1))
		return MACHVM_PAGE_COW;
	return e->object->ref_count == 1 ? MACHVM_PAGE_PRIVATE : MACHVM_PAGE_SHARED;
}

const char *vm_map_check(struct vm_map *m)
{
	static _Thread_local char why[256];
	const char *s = vm_map_store_check(&m->store);
	if (s)
		return s;
	vm_size_t size = 0;
	uint64_t wired = 0;
	/* Only mach merges every pair of equal neighbours (policy.h). */
	bool maximal = vm_policy()->personality == MACHVM_PERSONALITY_MACH;
	for (struct vm_map_entry *e = m->store.first; e; e = e->next) {
		const char *bad = NULL;
		if ((e->start | e->end) & (vm_page_size - 1))
			bad = "entry not page aligned";
		else if (e->protection & ~e->max_protection)
			bad = "current protection exceeds maximum";
		else if ((e->protection | e->max_protection) & ~VM_PROT_ALL)
			bad = "protection bits outside rwx";
		else if (e->inheritance > VM_INHERIT_NONE)
			bad = "invalid inheritance";
		else if (e->wired_count && (e->object == NULL || (e->flags & VME_NEEDS_COPY)))
			bad = "wired entry without a private object";
		else if ((e->flags & VME_IS_SHARED) && (e->flags & VME_NEEDS_COPY))
			bad = "shared entry marked needs_copy";
		else if ((e->flags & VME_IS_SHARED) && e->object == NULL)
			bad = "shared entry without an object";
		else if ((e->flags & VME_NEEDS_COPY) && e->object == NULL)
			bad = "needs_copy entry without an object";
		else if (e->object && e->offset + (e->end - e->start) > e->object->size)
			bad = "entry runs past the end of its object";
		else if (maximal && e->next &&
		         merge_how(e, e->next, VM_MERGE_SAME_OR_NONE, true) != MERGE_NO)
			bad = "two equal neighbours not coalesced";
		else if (e->wired_count) {
			uint64_t resident;
			unsigned int depth;
			vm_object_window_report(e->object, e->offset, e->end - e->start, &resident, &depth,
			                        NULL);
			if (resident != vm_atop(e->end - e->start))
				bad = "wired entry with pages not resident";
			for (vm_address_t a = e->start; !bad && a < e->end; a += vm_page_size)
				if (!vm_page_table_get(&e->object->pages, vm_atop(e->offset + (a - e->start))))
					bad = "wired entry page not in its top object";
		}
		if (bad) {
			snprintf(why, sizeof why, "%s: [0x%llx, 0x%llx)", bad,
			         (unsigned long long)e->start, (unsigned long long)e->end);
			return why;
		}
		size += e->end - e->start;
		if (e->wired_count)
			wired += vm_atop(e->end - e->start);
	}
	if (size != m->size)
		return "map size does not match its entries";
	if (wired != m->wired_pages)
		return "map's count of wired pages does not match its entries";
	return NULL;
}
