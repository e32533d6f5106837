/*
 * vm_inspect.c - the queries of objects.h: live objects, one object's
 * chain, shadows, mappings and pages, and a task's page map.
 *
 * Nothing here changes anything or reports.  Locks are taken in the
 * engine's order (engine.h): the task(s), then a domain; an object named
 * by id is read under its own domain's lock (vm_object_find_held).  The
 * figures come from the same places the calls read them (reference
 * counts, shadow links, page tables, the window walk of
 * vm_region_extended), so what these say agrees with vm_region_extended
 * at the same instant.
 */
#include "task.h"

#include <stdlib.h>
#include <string.h>

const char *machvm_page_mode_name(unsigned int mode)
{
	switch (mode) {
	case MACHVM_PAGE_PRIVATE: return "private";
	case MACHVM_PAGE_SHARED: return "shared";
	case MACHVM_PAGE_COW: return "cow";
	default: return "unknown";
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* ---- the list of objects ------------------------------------------------ */

kern_return_t machvm_object_list(uint64_t first, uint64_t *ids, size_t cap, size_t *count)
{
	if (count == NULL || (ids == NULL && cap > 0))
		return KERN_INVALID_ARGUMENT;
	vm_call_enter();
	*count = vm_object_ids(first, ids, cap);
	vm_call_exit(false);
	return KERN_SUCCESS;
}

boolean_t machvm_object_alive(uint64_t id)
{
	if (id == 0)
		return FALSE;
	vm_call_enter();
	boolean_t alive = vm_object_find(id) != NULL;
	vm_call_exit(false);
	return alive;
}

/* ---- one object ----------------------------------------------------------- */

void machvm_object_info_free(machvm_object_info_t *info)
{
	if (info == NULL)
		return;
	free(info->chain);
	free(info->shadowed_by);
	free(info->mapped_by);
	free(info->pages);
	info->chain = NULL;
	info->shadowed_by = NULL;
	info->mapped_by = NULL;
	info->pages = NULL;
	info->nchain = info->nshadowed_by = info->nmapped_by = info->npages = 0;
}

static kern_return_t fill_chain(struct vm_object *o, machvm_object_info_t *info)
{
	size_t n = vm_object_chain_length(o) + 1;
	info->chain = malloc(n * sizeof *info->chain);
	if (info->chain == NULL)
		return KERN_RESOURCE_SHORTAGE;
	vm_offset_t off = 0;
	for (unsigned int d = 0; o != NULL; o = o->shadow, d++) {
		machvm_chain_level_t *l = &info->chain[d];
		l->depth = d;
		l->id = o->id;
		l->offset = off;
		l->resident_pages = o->pages.count;
		off += o->shadow_offset;
	}
	info->nchain = n;
	return KERN_SUCCESS;
}

static kern_return_t fill_shadowed_by(struct vm_object *o, machvm_object_info_t *info)
{
	if (o->nchildren == 0)
		return KERN_SUCCESS;
	info->shadowed_by = malloc(o->nchildren * sizeof *info->shadowed_by);
	if (info->shadowed_by == NULL)
		return KERN_RESOURCE_SHORTAGE;
	size_t n = 0;
	for (struct vm_object *c = o->first_child; c; c = c->sib_next)
		info->shadowed_by[n++] = c->id;
	qsort(info->shadowed_by, n, sizeof *info->shadowed_by, cmp_u64);
	info->nshadowed_by = n;
	return KERN_SUCCESS;
}

/* The entries of the locked tasks whose top object is o, in task order
 * (the tasks are ascending) and address order. */
static kern_return_t fill_mapped_by(struct vm_object *o, struct task **tasks, size_t ntasks,
                                    machvm_object_info_t *info)
{
	size_t n = 0, cap = 0;
	for (size_t k = 0; k < ntasks; k++) {
		for (struct vm_map_entry *e = tasks[k]->map.store.first; e; e = e->next) {
			if (e->object != o)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				machvm_object_mapping_t *m = realloc(info->mapped_by, ncap * sizeof *m);
				if (m == NULL)
					return KERN_RESOURCE_SHORTAGE;
				info->mapped_by = m;
				cap = ncap;
			}
			machvm_object_mapping_t *m = &info->mapped_by[n++];
			m->task = tasks[k]->id;
			m->start = e->start;
			m->end = e->end;
			m->offset = e->offset;
			m->needs_copy = (e->flags & VME_NEEDS_COPY) != 0;
			m->wired_count = e->wired_count;
			info->nmapped_by = n;
		}
	}
	return KERN_SUCCESS;
}

static int cmp_page(const void *a, const void *b)
{
	vm_offset_t x = ((const machvm_object_page_t *)a)->offset;
	vm_offset_t y = ((const machvm_object_page_t *)b)->offset;
	return x < y ? -1 : x > y;
}

/* o's own pages by offset; wired where a wired entry's window (the
 * mappings found) covers them: a wired entry holds its pages in its own
 * top object, so the mappings of o are the only ones that can. */
static kern_return_t fill_pages(struct vm_object *o, machvm_object_info_t *info,
                                const machvm_object_mapping_t *maps, size_t nmaps)
{
	size_t n = o->pages.count;
	if (n == 0)
		return KERN_SUCCESS;
	info->pages = malloc(n * sizeof *info->pages);
	if (info->pages == NULL)
		return KERN_RESOURCE_SHORTAGE;
	size_t k = 0;
	for (size_t s = 0; s < o->pages.cap; s++) {
		if (o->pages.vals[s] == NULL)
			continue;
		machvm_object_page_t *p = &info->pages[k++];
		p->offset = o->pages.keys[s] << vm_page_shift;
		p->wired = FALSE;
		for (size_t m = 0; m < nmaps && !p->wired; m++)
			if (maps[m].wired_count && p->offset >= maps[m].offset &&
			    p->offset - maps[m].offset < maps[m].end - maps[m].start)
				p->wired = TRUE;
	}
	qsort(info->pages, k, sizeof *info->pages, cmp_page);
	info->npages = k;
	return KERN_SUCCESS;
}

kern_return_t machvm_object_info(uint64_t id, unsigned int what, machvm_object_info_t *info)
{
	if (info == NULL)
		return KERN_INVALID_ARGUMENT;
	memset(info, 0, sizeof *info);
	bool all_tasks = (what & (MACHVM_OBJECT_MAPPED_BY | MACHVM_OBJECT_PAGES)) != 0;
	struct task **tasks = NULL;
	size_t ntasks = 0;
	machvm_object_info_t maps = { 0 };
	kern_return_t kr = KERN_SUCCESS;

	vm_call_enter();
	if (all_tasks && (tasks = task_lock_live_all(&ntasks)) == NULL) {
		vm_call_exit(false);
		return KERN_RESOURCE_SHORTAGE;
	}
	struct vm_object *o = id ? vm_object_find_held(id) : NULL;
	if (o == NULL) {
		kr = KERN_INVALID_ARGUMENT;
		goto out_unlocked;
	}
	info->id = o->id;
	info->size = o->size;
	info->resident_pages = o->pages.count;
	info->ref_count = o->ref_count;
	info->shadow = o->shadow ? o->shadow->id : 0;
	info->shadow_offset = o->shadow_offset;
	info->true_share = o->true_share;
	if (what & MACHVM_OBJECT_CHAIN)
		kr = fill_chain(o, info);
	if (kr == KERN_SUCCESS && (what & MACHVM_OBJECT_SHADOWED_BY))
		kr = fill_shadowed_by(o, info);
	/* The pages need the mappings (wiring) even when they are not asked for. */
	if (kr == KERN_SUCCESS && all_tasks)
		kr = fill_mapped_by(o, tasks, ntasks, &maps);
	if (kr == KERN_SUCCESS && (what & MACHVM_OBJECT_PAGES))
		kr = fill_pages(o, info, maps.mapped_by, maps.nmapped_by);
	if (kr == KERN_SUCCESS && (what & MACHVM_OBJECT_MAPPED_BY)) {
		info->mapped_by = maps.mapped_by;
		info->nmapped_by = maps.nmapped_by;
		maps.mapped_by = NULL;
	}
	vm_domain_leave();
out_unlocked:
	if (all_tasks)
		task_unlock_all(tasks, ntasks);
	vm_call_exit(false);
	free(maps.mapped_by);
	if (kr != KERN_SUCCESS) {
		machvm_object_info_free(info);
		memset(info, 0, sizeof *info);
	}
	return kr;
}

/* ---- a task's pages ------------------------------------------------------- */

struct pagemap {
	machvm_page_info_t *v;
	size_t n, cap;
	const struct vm_map_entry *e;
	bool failed;
};

static void pagemap_one(uint64_t i, struct vm_object *o, unsigned int level, void *arg)
{
	struct pagemap *pm = arg;
	if (pm->failed)
		return;
	if (pm->n == pm->cap) {
		size_t ncap = pm->cap ? pm->cap * 2 : 64;
		machvm_page_info_t *v = realloc(pm->v, ncap * sizeof *v);
		if (v == NULL) {
			pm->failed = true;
			return;
		}
		pm->v = v;
		pm->cap = ncap;
	}
	machvm_page_info_t *p = &pm->v[pm->n++];
	p->address = pm->e->start + (i << vm_page_shift);
	p->object_id = o->id;
	p->depth = level;
	p->mode = vm_map_page_mode(pm->e, level);
}

static int cmp_address(const void *a, const void *b)
{
	vm_address_t x = ((const machvm_page_info_t *)a)->address;
	vm_address_t y = ((const machvm_page_info_t *)b)->address;
	return x < y ? -1 : x > y;
}

kern_return_t machvm_task_pagemap(task_t task, machvm_page_info_t **pages, size_t *count)
{
	if (pages == NULL || count == NULL)
		return KERN_INVALID_ARGUMENT;
	vm_call_enter();
	struct task *t = task_lookup(task);
	if (t == NULL || !task_lock_live(t, task)) {
		vm_call_exit(false);
		return KERN_INVALID_ARGUMENT;
	}
	(void)vm_domain_enter(t);
	struct pagemap pm = { NULL, 0, 0, NULL, false };
	for (struct vm_map_entry *e = t->map.store.first; e && !pm.failed; e = e->next) {
		if (e->object == NULL)
			continue;
		size_t from = pm.n;
		pm.e = e;
		vm_object_window_pages(e->object, e->offset, e->end - e->start, pagemap_one, &pm);
		/* Entries come in address order: sorting each one's pages is enough. */
		if (!pm.failed && pm.n - from > 1)
			qsort(pm.v + from, pm.n - from, sizeof *pm.v, cmp_address);
	}
	vm_domain_leave();
	task_unlock(t);
	vm_call_exit(false);
	if (pm.failed) {
		free(pm.v);
		return KERN_RESOURCE_SHORTAGE;
	}
	if (pm.n == 0) {
		free(pm.v);
		pm.v = NULL;
	}
	*pages = pm.v;
	*count = pm.n;
	return KERN_SUCCESS;
}
