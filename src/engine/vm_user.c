/*
 * vm_user.c - the Mach VM calls: check the arguments, round the range, lock,
 * validate the whole range, then change it.
 *
 * Every call follows the same shape, so that a failed call changes nothing:
 * a first pass over the range only looks (holes, protections, counts) and
 * the first problem met in address order decides the return code; entries
 * needed for clipping are taken before anything changes; only then does a
 * second pass clip, change and coalesce.
 *
 * Locks: the task's lock, then its domain's (vm_domain.h), for the whole
 * call.  vm_remap locks both tasks (in address order) and makes their
 * domains one first, whatever the call's outcome: it may share objects
 * between them.
 *
 * Reports (vm_report.h): every call that can change the map starts its
 * report first thing, with its arguments as passed, and ends it exactly
 * once on every path: call_end names the task and hands the report over
 * after the domain is left and before the task lock is, so per
 * task the reports come in the order the calls took effect; a call that
 * fails before it locks anything ends it with call_fail.  Queries start no
 * report, so ending one there does nothing.
 *
 * Failure records (vm_why.h): the same calls, and vm_read, clear this
 * thread's record first thing and fill it where they fail for a reason a
 * reader needs to know (a hole, an entry in the way, a protection), under
 * their locks; queries leave it alone.
 */
#include "host.h"
#include "policy.h"
#include "vm_why.h"

#include <stdlib.h>
#include <string.h>

/* Looks up and locks a task for a call. */
static kern_return_t call_begin(task_t id, struct task **tp)
{
	vm_call_enter();
	struct task *t = task_lookup(id);
	if (t == NULL) {
		vm_call_exit(false);
		return KERN_INVALID_ARGUMENT;
	}
	if (!task_lock_live(t, id)) {
		vm_call_exit(false);
		return KERN_INVALID_ARGUMENT;
	}
	(void)vm_domain_enter(t);
	*tp = t;
	return KERN_SUCCESS;
}

static kern_return_t call_end(struct task *t, kern_return_t kr, bool changes)
{
	vm_mem_unreserve();             /* what a reservation of the call has left */
	vm_domain_leave();
	vm_report_end_task(kr, &t->map);
	task_unlock(t);
	vm_call_exit(changes && kr == KERN_SUCCESS);
	return kr;
}

/*
 * The same for a query that reads only the task's map: the task lock and
 * not its domain's, so that it never waits for another task's call.
 * An entry's object cannot go while the task is locked (the entry holds a
 * reference), and an object's id never changes while calls run.
 */
static kern_return_t map_query_begin(task_t id, struct task **tp)
{
	vm_call_enter();
	struct task *t = task_lookup(id);
	if (t == NULL || !task_lock_live(t, id)) {
		vm_call_exit(false);
		return KERN_INVALID_ARGUMENT;
	}
	*tp = t;
	return KERN_SUCCESS;
}

static kern_return_t map_query_end(struct task *t, kern_return_t kr)
{
	task_unlock(t);
	vm_call_exit(false);
	return kr;
}

/* The limits' failures, with their record (why.h). */
static kern_return_t why_mapped(task_t task, const struct vm_map *m, vm_size_t more)
{
	machvm_task_limits_t l;
	(void)machvm_host_get_task_limits(&l);
	return vm_why_limit(KERN_RESOURCE_SHORTAGE, MACHVM_WHY_TASK_MAPPED, task, more, m->size,
	                    l.max_mapped);
}

static kern_return_t why_wired(task_t task, const struct vm_map *m, uint64_t more_pages)
{
	machvm_task_limits_t l;
	(void)machvm_host_get_task_limits(&l);
	return vm_why_limit(KERN_RESOURCE_SHORTAGE, MACHVM_WHY_TASK_WIRED, task,
	                    more_pages * vm_page_size, m->wired_pages * vm_page_size,
	                    l.max_wired);
}

static kern_return_t why_memory(task_t task, uint64_t bytes)
{
	return vm_why_limit(KERN_RESOURCE_SHORTAGE, MACHVM_WHY_MEMORY, task, bytes, vm_mem_used(),
	                    vm_mem_limit());
}

/* A call that failed holding no lock. */
static kern_return_t call_fail(kern_return_t kr)
{
	vm_report_end(kr);
	return kr;
}

/*
 * The standard range conversion: [trunc(addr), round(addr + size)).
 * Overflow or a rounded end that wraps: KERN_INVALID_ARGUMENT.  Outside the
 * user range [P, 2^47): outside_kr.
 */
static kern_return_t range_of(task_t task, vm_address_t addr, vm_size_t size,
                              kern_return_t outside_kr, vm_address_t *start, vm_address_t *end)
{
	if (addr + size < addr)
		return vm_why_wraps(KERN_INVALID_ARGUMENT, task, addr, size);
	vm_address_t e = vm_round_page(addr + size);
	if (e < addr + size)
		return vm_why_wraps(KERN_INVALID_ARGUMENT, task, addr, size);
	*start = vm_trunc_page(addr);
	*end = e;
	if (*start < vm_page_size || *end > MACHVM_USER_MAX)
		return vm_why_outside(outside_kr, task, *start, *end);
	return KERN_SUCCESS;
}

/* range_of for the range the call works on, which its report gets as soon
 * as it is rounded (outside the user range too). */
static inline kern_return_t call_range(task_t task, vm_address_t addr, vm_size_t size,
                                       kern_return_t outside_kr,
                                       vm_address_t *start, vm_address_t *end)
{
	*start = *end = 0;
	kern_return_t kr = range_of(task, addr, size, outside_kr, start, end);
	if (*end != 0)          /* rounded: size > 0 here, so end is never 0 then */
		vm_report_range(*start, *end);
	return kr;
}

/*
 * The range of a map call (call: a VM_POLICY_* bit) by the host's policy
 * (policy.h): call_range, except that a wrapping range is empty where the
 * policy says so, and a range leaving the user range is clamped to it for
 * the calls the policy names.  KERN_SUCCESS with *start == *end: nothing
 * to do.
 */
static kern_return_t map_range(task_t task, unsigned int call, vm_address_t addr, vm_size_t size,
                               vm_address_t *start, vm_address_t *end)
{
	const struct vm_policy *p = vm_policy();
	*start = *end = 0;
	vm_address_t s = vm_trunc_page(addr), e = vm_round_page(addr + size);
	if (addr + size < addr || e < addr + size) {
		if (p->wrap_is_empty)
			return KERN_SUCCESS;
		if (call == VM_POLICY_PROTECT && addr + size >= addr)
			return vm_why_wraps(p->protect_round_wrap, task, addr, size);
		return vm_why_wraps(KERN_INVALID_ARGUMENT, task, addr, size);
	}
	if (s < vm_page_size || e > MACHVM_USER_MAX) {
		if (!(p->clamp_outside & call)) {
			if (e != 0)
				vm_report_range(s, e);
			return vm_why_outside(KERN_INVALID_ADDRESS, task, s, e);
		}
		if (s < vm_page_size)
			s = vm_page_size;
		if (e > MACHVM_USER_MAX)
			e = MACHVM_USER_MAX;
		if (s > e)
			s = e;
	}
	if (e > s)
		vm_report_range(s, e);
	*start = s;
	*end = e;
	return KERN_SUCCESS;
}

/* fn over every allocated piece of [start, end), holes skipped (each run
 * of adjacent entries as one vm_map_apply_range). */
static kern_return_t apply_allocated(struct vm_map *m, unsigned int call, vm_address_t start,
                                     vm_address_t end, vm_map_apply_fn fn, const void *arg)
{
	vm_address_t at = start;
	while (at < end) {
		struct vm_map_entry *e = vm_map_store_lookup_ge(&m->store, at);
		if (e == NULL || e->start >= end)
			break;
		vm_address_t from = e->start > at ? e->start : at, to = e->end;
		while (to < end && e->next && e->next->start == to) {
			e = e->next;
			to = e->end;
		}
		if (to > end)
			to = end;
		kern_return_t kr = vm_map_apply_range(m, call, from, to, fn, arg);
		if (kr != KERN_SUCCESS)
			return kr;
		at = to;
	}
	return KERN_SUCCESS;
}

/*
 * vm_allocate's anywhere placement, by the policy: the lowest hole where
 * size fits, or the lowest hole if size fits there and else the smallest
 * hole it fits in (the lowest of equal ones).
 */
static bool place_anywhere(struct vm_map *m, vm_size_t size, vm_address_t *out)
{
	if (vm_policy()->placement == VM_PLACE_FIRST_FIT)
		return vm_map_store_find_space(&m->store, vm_page_size, size, 0, out);
	vm_address_t lo = m->store.min, best = 0;
	vm_size_t best_size = 0;
	bool first = true;
	for (struct vm_map_entry *e = m->store.first;; e = e->next) {
		vm_address_t hi = e ? e->start : m->store.max;
		if (hi > lo) {
			vm_size_t gap = hi - lo;
			if (first && gap >= size) {
				*out = lo;
				return true;
			}
			first = false;
			if (gap >= size && (best_size == 0 || gap < best_size)) {
				best = lo;
				best_size = gap;
			}
		}
		if (e == NULL)
			break;
		lo = e->end;
	}
	*out = best;
	return best_size != 0;
}

/* ---- vm_allocate / vm_deallocate ------------------------------------- */

kern_return_t vm_allocate(task_t task, vm_address_t *address, vm_size_t size, boolean_t anywhere)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_ALLOCATE);
	if (a) {
		a->task = task;
		a->address = address ? *address : 0;
		a->size = size;
		a->flag = anywhere;
	}
	if (address == NULL)
		return call_fail(KERN_INVALID_ARGUMENT);
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return call_fail(kr);
	if (size == 0) {
		*address = 0;
		return call_end(t, KERN_SUCCESS, false);
	}
	vm_size_t rsize = vm_round_page(size);
	if (rsize < size)
		return call_end(t, vm_why_wraps(KERN_INVALID_ARGUMENT, task, *address, size), false);
	vm_address_t start;
	if (anywhere) {
		if (!place_anywhere(&t->map, rsize, &start))
			return call_end(t, vm_why_space(KERN_NO_SPACE, MACHVM_WHY_NO_ROOM, task,
			                                vm_page_size, rsize, 0), false);
		vm_report_range(start, start + rsize);
	} else {
		start = vm_trunc_page(*address);
		if (start + rsize > start)
			vm_report_range(start, start + rsize);
		if (start + rsize < start)
			return call_end(t, vm_why_wraps(KERN_INVALID_ADDRESS, task, *address, size),
			                false);
		if (start < vm_page_size || start + rsize > MACHVM_USER_MAX)
			return call_end(t, vm_why_outside(KERN_INVALID_ADDRESS, task, start,
			                                  start + rsize), false);
		struct vm_map_entry *e = vm_map_store_lookup_ge(&t->map.store, start);
		if (e && e->start < start + rsize)
			return call_end(t, vm_why_entry(KERN_NO_SPACE, MACHVM_WHY_OVERLAP, &t->map, e,
			                                start, rsize, 0), false);
	}
	if (!vm_task_may_map(&t->map, rsize))
		return call_end(t, why_mapped(task, &t->map, rsize), false);
	kr = vm_map_enter(&t->map, start, start + rsize);
	if (kr == KERN_SUCCESS)
		*address = start;
	return call_end(t, kr, true);
}

kern_return_t vm_deallocate(task_t task, vm_address_t address, vm_size_t size)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_DEALLOCATE);
	if (a) {
		a->task = task;
		a->address = address;
		a->size = size;
	}
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS || size == 0)
		return kr != KERN_SUCCESS ? call_fail(kr) : call_end(t, KERN_SUCCESS, false);
	vm_address_t start, end;
	kr = map_range(task, VM_POLICY_DEALLOCATE, address, size, &start, &end);
	if (kr == KERN_INVALID_ADDRESS && vm_policy()->deallocate_outside_noop) {
		vm_why_clear();
		return call_end(t, KERN_SUCCESS, false);
	}
	if (kr == KERN_SUCCESS && start < end)
		kr = vm_map_delete(&t->map, start, end);
	return call_end(t, kr, true);
}

/* ---- vm_protect ------------------------------------------------------ */

struct protect_arg {
	boolean_t set_maximum;
	uint8_t prot;
};

static void apply_protect(struct vm_map_entry *e, const void *arg)
{
	const struct protect_arg *a = arg;
	if (a->set_maximum) {
		e->max_protection = a->prot;
		e->protection &= a->prot;
	} else {
		e->protection = a->prot;
	}
}

kern_return_t vm_protect(task_t task, vm_address_t address, vm_size_t size,
                         boolean_t set_maximum, vm_prot_t new_protection)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_PROTECT);
	if (a) {
		a->task = task;
		a->address = address;
		a->size = size;
		a->prot = new_protection;
		a->flag = set_maximum;
	}
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return call_fail(kr);
	const struct vm_policy *p = vm_policy();
	if (size == 0 && p->size0_before_values)
		return call_end(t, KERN_SUCCESS, false);
	/* The extra bit (NOTIFY and COPY are both 0x10): NOTIFY is only
	 * taken, COPY first copies the range. */
	vm_prot_t extra = p->protect_extra == VM_PROT_EXTRA_NONE ? 0 : VM_PROT_COPY;
	if (new_protection & ~(VM_PROT_ALL | extra))
		return call_end(t, KERN_INVALID_ARGUMENT, false);
	bool copy = p->protect_extra == VM_PROT_EXTRA_COPY && (new_protection & VM_PROT_COPY);
	new_protection &= VM_PROT_ALL;
	if (size == 0 && !p->size0_touches_page)
		return call_end(t, KERN_SUCCESS, false);
	vm_address_t start, end;
	kr = map_range(task, VM_POLICY_PROTECT, address, size, &start, &end);
	if (kr != KERN_SUCCESS || start == end)
		return call_end(t, kr, false);

	/* In address order: a hole (unless the policy skips them), then an
	 * entry whose maximum is too low. */
	struct vm_map *m = &t->map;
	vm_address_t at = start;
	for (struct vm_map_entry *e = vm_map_store_lookup_ge(&m->store, start);
	     e && e->start < end; at = e->end, e = e->next) {
		if (e->start > at && !p->protect_skips_holes)
			return call_end(t, vm_why_hole(KERN_INVALID_ADDRESS, m, at), false);
		/* The copy's maximum gains write. */
		if (new_protection & ~(e->max_protection | (copy ? VM_PROT_WRITE : 0)))
			return call_end(t, vm_why_entry(KERN_PROTECTION_FAILURE, MACHVM_WHY_MAX_PROTECTION,
			                                m, e, at, 0, new_protection), false);
	}
	if (at < end && !p->protect_skips_holes)
		return call_end(t, vm_why_hole(KERN_INVALID_ADDRESS, m, at), false);
	if (copy) {
		uint64_t cost = vm_map_remap_cost(m, start, end - start, TRUE);
		if (!vm_mem_reserve(cost))
			return call_end(t, why_memory(task, cost), false);
		if ((kr = vm_map_copy_in_place(m, start, end)) != KERN_SUCCESS)
			return call_end(t, kr, true);
	}

	struct protect_arg pa = { set_maximum, (uint8_t)new_protection };
	return call_end(t, apply_allocated(m, VM_COALESCE_PROTECT, start, end, apply_protect, &pa), true);
}

/* ---- vm_inherit / vm_map_inherit ------------------------------------- */

static void apply_inherit(struct vm_map_entry *e, const void *arg)
{
	e->inheritance = *(const uint8_t *)arg;
}

/* Sets the inheritance of [start, end), page aligned, inside the user range. */
static kern_return_t inherit_range(struct task *t, vm_address_t start, vm_address_t end,
                                   vm_inherit_t inheritance)
{
	if (!vm_policy()->inherit_skips_holes) {
		vm_address_t hole = vm_map_first_hole(&t->map, start, end);
		if (hole != end)
			return vm_why_hole(KERN_INVALID_ADDRESS, &t->map, hole);
	}
	uint8_t value = (uint8_t)inheritance;
	return apply_allocated(&t->map, VM_COALESCE_INHERIT, start, end, apply_inherit, &value);
}

kern_return_t vm_inherit(task_t task, vm_address_t address, vm_size_t size,
                         vm_inherit_t new_inheritance)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_INHERIT);
	if (a) {
		a->task = task;
		a->address = address;
		a->size = size;
		a->inheritance = new_inheritance;
	}
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return call_fail(kr);
	if (size == 0 && vm_policy()->size0_before_values)
		return call_end(t, KERN_SUCCESS, false);
	if (new_inheritance > VM_INHERIT_NONE)
		return call_end(t, KERN_INVALID_ARGUMENT, false);
	if (size == 0 && !vm_policy()->size0_touches_page)
		return call_end(t, KERN_SUCCESS, false);
	vm_address_t start, end;
	kr = map_range(task, VM_POLICY_INHERIT, address, size, &start, &end);
	if (kr == KERN_SUCCESS && start < end)
		kr = inherit_range(t, start, end, new_inheritance);
	return call_end(t, kr, true);
}

kern_return_t vm_map_inherit(task_t task, vm_address_t start, vm_address_t end,
                             vm_inherit_t new_inheritance)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_MAP_INHERIT);
	if (a) {
		a->task = task;
		a->address = start;
		a->address2 = end;
		a->inheritance = new_inheritance;
	}
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return call_fail(kr);
	if (new_inheritance > VM_INHERIT_NONE)
		return call_end(t, KERN_INVALID_ARGUMENT, false);
	/* Both ends round down (docs/semantics.md, vm_map_inherit); an empty
	 * range does nothing. */
	start = vm_trunc_page(start);
	end = vm_trunc_page(end);
	if (end < start)
		return call_end(t, KERN_INVALID_ARGUMENT, false);
	if (end == start)
		return call_end(t, KERN_SUCCESS, false);
	vm_report_range(start, end);
	if (start < vm_page_size || end > MACHVM_USER_MAX) {
		if (!(vm_policy()->clamp_outside & VM_POLICY_INHERIT))
			return call_end(t, vm_why_outside(KERN_INVALID_ADDRESS, task, start, end),
			                false);
		start = start < vm_page_size ? vm_page_size : start;
		end = end > MACHVM_USER_MAX ? MACHVM_USER_MAX : end;
		if (start >= end)
			return call_end(t, KERN_SUCCESS, false);
	}
	return call_end(t, inherit_range(t, start, end, new_inheritance), true);
}

/* ---- vm_region ------------------------------------------------------- */

kern_return_t vm_region(task_t task, vm_address_t *address, vm_size_t *size,
                        vm_prot_t *protection, vm_prot_t *max_protection,
                        vm_inherit_t *inheritance, boolean_t *shared,
                        mach_port_t *object_name, vm_offset_t *offset)
{
	if (!address || !size || !protection || !max_protection || !inheritance ||
	    !shared || !object_name || !offset)
		return KERN_INVALID_ARGUMENT;
	struct task *t;
	kern_return_t kr = map_query_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return kr;
	struct vm_map_entry *e = vm_map_store_lookup_ge(&t->map.store, *address);
	if (e == NULL)
		return map_query_end(t, vm_policy()->region_past_end);
	*address = e->start;
	*size = e->end - e->start;
	*protection = e->protection;
	*max_protection = e->max_protection;
	*inheritance = e->inheritance;
	*shared = (e->flags & VME_IS_SHARED) != 0;
	*object_name = e->object && vm_policy()->region_names_object ? (mach_port_t)e->object->id
	                                                              : MACH_PORT_NULL;
	*offset = e->offset;
	return map_query_end(t, KERN_SUCCESS);
}

kern_return_t vm_region_extended(task_t task, vm_address_t *address,
                                 vm_region_extended_info_t *info)
{
	if (address == NULL || info == NULL)
		return KERN_INVALID_ARGUMENT;
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return kr;
	struct vm_map_entry *e = vm_map_store_lookup_ge(&t->map.store, *address);
	if (e == NULL)
		return call_end(t, vm_policy()->region_past_end, false);
	vm_map_entry_report(&t->map, e, NULL, info);
	*address = e->start;
	return call_end(t, KERN_SUCCESS, false);
}

kern_return_t machvm_region_snapshot(task_t task, vm_region_extended_info_t **regions,
                                     size_t *count)
{
	if (regions == NULL || count == NULL)
		return KERN_INVALID_ARGUMENT;
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return kr;
	size_t n = t->map.store.nentries;
	vm_region_extended_info_t *out = NULL;
	struct vm_page_table aliases = VM_PAGE_TABLE_INIT;
	if (n > 0) {
		out = malloc(n * sizeof *out);
		if (out == NULL || vm_map_alias_table(&t->map, &aliases) != 0) {
			free(out);
			vm_page_table_destroy(&aliases);
			return call_end(t, KERN_RESOURCE_SHORTAGE, false);
		}
		size_t i = 0;
		for (struct vm_map_entry *e = t->map.store.first; e; e = e->next)
			vm_map_entry_report(&t->map, e, &aliases, &out[i++]);
	}
	vm_page_table_destroy(&aliases);
	*regions = out;
	*count = n;
	return call_end(t, KERN_SUCCESS, false);
}

/* ---- vm_wire --------------------------------------------------------- */

/* Makes every page of e resident in e's own object, copy-on-write resolved. */
static kern_return_t entry_make_resident(struct task *t, struct vm_map_entry *e)
{
	kern_return_t kr = vm_map_entry_private_object(e);
	if (kr != KERN_SUCCESS)
		return kr;
	for (vm_address_t a = e->start; a < e->end; a += vm_page_size)
		if (vm_object_page_writable(e->object, e->offset + (a - e->start), &t->counts) == NULL)
			return KERN_RESOURCE_SHORTAGE;
	return KERN_SUCCESS;
}

static void apply_unwire(struct vm_map_entry *e, const void *arg)
{
	bool stacks = *(const bool *)arg;
	if (e->wired_count > 0)
		e->wired_count = stacks ? e->wired_count - 1 : 0;
}

kern_return_t vm_wire(host_priv_t host, task_t task, vm_address_t address,
                      vm_size_t size, vm_prot_t access)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_WIRE);
	if (a) {
		a->task = task;
		a->address = address;
		a->size = size;
		a->prot = access;
		a->flag = host == host_priv_self();
	}
	/* The policy is read once: it cannot change while a task lives. */
	const struct vm_policy *p = vm_policy();
	bool unprivileged = host != host_priv_self();
	if (unprivileged && (host != mach_host_self() || p->wire_unprivileged_max == 0))
		return call_fail(KERN_INVALID_HOST);
	struct task *t;
	if (call_begin(task, &t) != KERN_SUCCESS)
		return call_fail(KERN_INVALID_TASK);
	struct vm_map *m = &t->map;
	if (size == 0 && p->size0_before_values)
		return call_end(t, KERN_SUCCESS, false);
	if (access & ~VM_PROT_ALL)
		return call_end(t, p->wire_bad_access, false);
	/* The unprivileged cap counts the size as given, before rounding. */
	if (unprivileged && access != VM_PROT_NONE &&
	    (size > p->wire_unprivileged_max ||
	     m->wired_pages * vm_page_size > p->wire_unprivileged_max - size))
		return call_end(t, KERN_NO_ACCESS, false);
	if (size == 0 && !p->size0_touches_page)
		return call_end(t, KERN_SUCCESS, false);
	vm_address_t start, end;
	kern_return_t kr = map_range(task, VM_POLICY_WIRE, address, size, &start, &end);
	if (kr != KERN_SUCCESS || start == end)
		return call_end(t, kr, false);

	/* In address order, the first problem; holes after an allocated
	 * start are skipped when unwiring if the policy says so. */
	bool wiring = access != VM_PROT_NONE;
	bool skip_holes = !wiring && p->unwire_skips_holes;
	vm_address_t at = start;
	struct vm_map_entry *e = vm_map_store_lookup_ge(&m->store, start);
	uint64_t newly = 0;             /* pages the wiring adds to the map's wired ones */
	for (; e && e->start < end; at = e->end, e = e->next) {
		if (e->start > at && !(skip_holes && at != start))
			return call_end(t, vm_why_hole(p->wire_hole, m, at), false);
		if (wiring && (access & ~e->protection) && !(p->wire_wired_unchecked && e->wired_count))
			return call_end(t, vm_why_entry(p->wire_protection, MACHVM_WHY_PROTECTION, m, e,
			                                at, 0, access), false);
		if (wiring && p->wire_stacks && e->wired_count >= VM_MAX_WIRE_COUNT)
			return call_end(t, vm_why_entry(KERN_FAILURE, MACHVM_WHY_WIRE_LIMIT, m, e, at, 0,
			                                access), false);
		if (!wiring && e->wired_count == 0 && !p->unwire_skips_unwired)
			return call_end(t, vm_why_entry(KERN_INVALID_ARGUMENT, MACHVM_WHY_NOT_WIRED, m, e,
			                                at, 0, access), false);
		if (e->wired_count == 0)
			newly += vm_atop((e->end < end ? e->end : end) - at);
	}
	if (at < end && !(skip_holes && at != start))
		return call_end(t, vm_why_hole(p->wire_hole, m, at), false);
	if (wiring && !vm_task_may_wire(m, newly))
		return call_end(t, why_wired(task, m, newly), false);

	if (!wiring)
		return call_end(t, apply_allocated(m, VM_COALESCE_UNWIRE, start, end, apply_unwire,
		                                     &p->wire_stacks),
		                true);
	/* Everything the wiring may take, before anything changes: past the
	 * memory limit the call fails whole, leaving nothing wired. */
	uint64_t cost = vm_map_resident_cost(m, start, end, true);
	if (!vm_mem_reserve(cost))
		return call_end(t, why_memory(task, cost), false);
	struct vm_map_spares s;
	if ((kr = vm_map_spares_get(m, &s)) != KERN_SUCCESS)
		return call_end(t, kr, false);
	vm_map_clip_range(m, start, end, &s);
	for (e = vm_map_store_lookup(&m->store, start); e && e->start < end; e = e->next) {
		if (e->wired_count == 0 && (kr = entry_make_resident(t, e)) != KERN_SUCCESS)
			break;
		vm_map_wire_change(m, e, -1);
		if (e->wired_count == 0 || p->wire_stacks)
			e->wired_count++;
		vm_map_wire_change(m, e, +1);
	}
	/* On a failure the entries before e are wired and e may have its own
	 * object now. */
	vm_report_map_change(m->task, MACHVM_CHANGE_ATTRIBUTES, start,
	                     kr != KERN_SUCCESS ? e->end : end, 0, 0, 0);
	vm_map_coalesce_after(m, VM_COALESCE_WIRE, start, end);
	vm_map_spares_put(m, &s);
	return call_end(t, kr, true);
}

/* ---- vm_machine_attribute -------------------------------------------- */

static bool attribute_takes(vm_machine_attribute_t attribute, vm_machine_attribute_val_t v)
{
	switch (attribute) {
	case MATTR_CACHE:
		return v == MATTR_VAL_OFF || v == MATTR_VAL_ON || v == MATTR_VAL_GET ||
		       v == MATTR_VAL_CACHE_FLUSH || v == MATTR_VAL_DCACHE_FLUSH ||
		       v == MATTR_VAL_ICACHE_FLUSH;
	case MATTR_MIGRATE:
	case MATTR_REPLICATE:
		return v == MATTR_VAL_OFF || v == MATTR_VAL_ON || v == MATTR_VAL_GET;
	default:
		return false;
	}
}

static uint8_t attribute_flag(vm_machine_attribute_t attribute)
{
	return attribute == MATTR_CACHE ? VME_CACHE :
	       attribute == MATTR_MIGRATE ? VME_MIGRATE : VME_REPLICATE;
}

struct attr_arg {
	uint8_t flag;
	bool on;
};

static void apply_attr(struct vm_map_entry *e, const void *arg)
{
	const struct attr_arg *a = arg;
	if (a->on)
		e->flags |= a->flag;
	else
		e->flags &= (uint8_t)~a->flag;
}

/*
 * vm_machine_attribute by a kernel that keeps nothing (policy.h): GNU Mach
 * on x86 has no attribute at all, XNU only syncs caches.  Neither reads
 * nor writes *value, and nothing changes.
 */
static kern_return_t attribute_unrecorded(struct task *t, vm_address_t address, vm_size_t size,
                                          vm_machine_attribute_t attribute)
{
	bool inside = address >= vm_page_size && address + size >= address &&
	              address + size <= MACHVM_USER_MAX;
	if (vm_policy()->attribute_rule == VM_ATTR_NONE) {
		/* Unrounded, no size-0 short cut. */
		if (!inside)
			return vm_why_outside(KERN_INVALID_ARGUMENT, t->map.task, address,
			                      address + size);
		return KERN_INVALID_ADDRESS;
	}
	if (size == 0)
		return KERN_SUCCESS;
	if (address + size < address)
		return vm_why_wraps(KERN_INVALID_ARGUMENT, t->map.task, address, size);
	vm_address_t start = vm_trunc_page(address), end = vm_round_page(address + size);
	if (end < address + size)
		return vm_why_wraps(KERN_INVALID_ADDRESS, t->map.task, address, size);
	if (start < vm_page_size || end > MACHVM_USER_MAX)
		return vm_why_outside(KERN_INVALID_ADDRESS, t->map.task, start, end);
	if (attribute != MATTR_CACHE)
		return KERN_INVALID_ADDRESS;
	/* Page by page: the pages before a hole are synced, then the hole fails. */
	vm_address_t hole = vm_map_first_hole(&t->map, start, end);
	if (hole != end)
		return vm_why_hole(KERN_FAILURE, &t->map, hole);
	return KERN_SUCCESS;
}

kern_return_t vm_machine_attribute(task_t task, vm_address_t address, vm_size_t size,
                                   vm_machine_attribute_t attribute,
                                   vm_machine_attribute_val_t *value)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_MACHINE_ATTRIBUTE);
	if (a) {
		a->task = task;
		a->address = address;
		a->size = size;
		a->attribute = attribute;
		a->value = value ? *value : 0;
	}
	if (value == NULL)
		return call_fail(KERN_INVALID_ARGUMENT);
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return call_fail(kr);
	if (vm_policy()->attribute_rule != VM_ATTR_RECORD)
		return call_end(t, attribute_unrecorded(t, address, size, attribute), false);
	if (!attribute_takes(attribute, *value))
		return call_end(t, KERN_INVALID_ARGUMENT, false);
	if (size == 0)
		return call_end(t, KERN_SUCCESS, false);
	vm_address_t start, end;
	/* This call's own rule (docs/semantics.md): any range that is not
	 * wholly allocated is an invalid argument, the user range's outside
	 * included. */
	if (call_range(task, address, size, KERN_INVALID_ARGUMENT, &start, &end) != KERN_SUCCESS)
		return call_end(t, KERN_INVALID_ARGUMENT, false);
	vm_address_t hole = vm_map_first_hole(&t->map, start, end);
	if (hole != end)
		return call_end(t, vm_why_hole(KERN_INVALID_ARGUMENT, &t->map, hole), false);

	struct vm_map *m = &t->map;
	uint8_t flag = attribute_flag(attribute);
	struct vm_map_entry *e;
	switch (*value) {
	case MATTR_VAL_GET:
		e = vm_map_store_lookup(&m->store, start);
		*value = (e->flags & flag) ? MATTR_VAL_ON : MATTR_VAL_OFF;
		if (a)
			a->value_out = *value;
		return call_end(t, KERN_SUCCESS, false);
	case MATTR_VAL_CACHE_FLUSH:
	case MATTR_VAL_DCACHE_FLUSH:
	case MATTR_VAL_ICACHE_FLUSH: {
		/* Nothing to flush in a simulated cache: count it on each region,
		 * unclipped, so the regions change whole. */
		e = vm_map_store_lookup(&m->store, start);
		vm_address_t first = e->start, last = end;
		for (; e && e->start < end; e = e->next) {
			if (*value == MATTR_VAL_CACHE_FLUSH)
				e->cache_flushes++;
			else if (*value == MATTR_VAL_DCACHE_FLUSH)
				e->dcache_flushes++;
			else
				e->icache_flushes++;
			last = e->end;
		}
		vm_report_map_change(m->task, MACHVM_CHANGE_ATTRIBUTES, first, last, 0, 0, 0);
		vm_map_coalesce_after(m, VM_COALESCE_ATTRIBUTE, start, end);
		return call_end(t, KERN_SUCCESS, true);
	}
	default: {
		struct attr_arg aa = { flag, *value == MATTR_VAL_ON };
		return call_end(t, vm_map_apply_range(m, VM_COALESCE_ATTRIBUTE, start, end, apply_attr,
		                                         &aa), true);
	}
	}
}

/* ---- vm_remap -------------------------------------------------------- */

kern_return_t vm_remap(task_t target_task, vm_address_t *target_address, vm_size_t size,
                       vm_address_t mask, boolean_t anywhere, task_t src_task,
                       vm_address_t src_address, boolean_t copy, vm_prot_t *cur_protection,
                       vm_prot_t *max_protection, vm_inherit_t inheritance)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_REMAP);
	if (a) {
		a->task = target_task;
		a->other = src_task;
		a->address = target_address ? *target_address : 0;
		a->address2 = src_address;
		a->size = size;
		a->mask = mask;
		a->flag = anywhere;
		a->flag2 = copy;
		a->inheritance = inheritance;
	}
	/* A kernel without the call refuses the message before reading it. */
	if (!vm_policy()->has_remap)
		return call_fail(MIG_BAD_ID);
	if (target_address == NULL || cur_protection == NULL || max_protection == NULL ||
	    size == 0 || inheritance > VM_INHERIT_NONE)
		return call_fail(KERN_INVALID_ARGUMENT);
	vm_call_enter();
	struct task *tt = task_lookup(target_task), *st = task_lookup(src_task);
	kern_return_t kr = KERN_INVALID_ARGUMENT;
	if (tt == NULL || st == NULL || !task_lock_pair(tt, target_task, st, src_task))
		goto out_unlocked;
	struct task *pair[2] = { tt, st };
	(void)vm_domain_enter_all(pair, tt == st ? 1 : 2);
	vm_report_task(&tt->map);
	vm_report_task(&st->map);

	/* The source, as docs/semantics.md says: from the page holding
	 * src_address, size rounded up to whole pages. */
	vm_address_t src = vm_trunc_page(src_address), rsize = vm_round_page(size);
	if (rsize < size || src + rsize < src) {
		kr = vm_why_wraps(KERN_INVALID_ARGUMENT, src_task, src_address, size);
		goto out;
	}
	vm_report_src_range(src, src + rsize);
	if (src < vm_page_size || src + rsize > MACHVM_USER_MAX) {
		kr = vm_why_outside(KERN_INVALID_ADDRESS, src_task, src, src + rsize);
		goto out;
	}
	struct vm_map_entry *e = vm_map_store_lookup(&st->map.store, src);
	for (vm_address_t at = src; at < src + rsize; at = e->end, e = e->next) {
		if (e == NULL || e->start > at) {
			kr = vm_why_hole(KERN_INVALID_ADDRESS, &st->map, at);
			goto out;
		}
		if (copy && !(e->max_protection & VM_PROT_READ)) {
			kr = vm_why_entry(KERN_PROTECTION_FAILURE, MACHVM_WHY_MAX_PROTECTION, &st->map,
			                  e, at, 0, VM_PROT_READ);
			goto out;
		}
	}

	vm_address_t dst;
	if (anywhere) {
		vm_address_t lo = vm_trunc_page(*target_address);
		if (lo < vm_page_size)
			lo = vm_page_size;
		if (!vm_map_store_find_space(&tt->map.store, lo, rsize, mask, &dst)) {
			kr = vm_why_space(KERN_NO_SPACE, MACHVM_WHY_NO_ROOM, target_task, lo, rsize,
			                  mask);
			goto out;
		}
		vm_report_range(dst, dst + rsize);
	} else {
		dst = vm_trunc_page(*target_address);
		if (dst + rsize > dst)
			vm_report_range(dst, dst + rsize);
		if (dst + rsize < dst) {
			kr = vm_why_wraps(KERN_INVALID_ADDRESS, target_task, *target_address, size);
			goto out;
		}
		if (dst < vm_page_size || dst + rsize > MACHVM_USER_MAX) {
			kr = vm_why_outside(KERN_INVALID_ADDRESS, target_task, dst, dst + rsize);
			goto out;
		}
		struct vm_map_entry *o = vm_map_store_lookup_ge(&tt->map.store, dst);
		if (dst & mask) {
			kr = vm_why_space(KERN_NO_SPACE, MACHVM_WHY_MASK, target_task, dst, rsize, mask);
			goto out;
		}
		if (o && o->start < dst + rsize) {
			kr = vm_why_entry(KERN_NO_SPACE, MACHVM_WHY_OVERLAP, &tt->map, o, dst, rsize, 0);
			goto out;
		}
	}
	if (!vm_task_may_map(&tt->map, rsize)) {
		kr = why_mapped(target_task, &tt->map, rsize);
		goto out;
	}
	uint64_t cost = vm_map_remap_cost(&st->map, src, rsize, copy);
	if (!vm_mem_reserve(cost)) {
		kr = why_memory(target_task, cost);
		goto out;
	}
	kr = vm_map_remap_pieces(&tt->map, dst, &st->map, src, rsize, copy, inheritance,
	                         cur_protection, max_protection);
	if (kr == KERN_SUCCESS) {
		*target_address = dst;
		if (a) {
			a->prot = *cur_protection;
			a->max_protection = *max_protection;
		}
	}
out:
	vm_mem_unreserve();
	vm_domain_leave();
	vm_report_end(kr);
	task_unlock_pair(tt, st);
out_unlocked:
	vm_report_end(kr);      /* only if not yet: the failures that locked nothing */
	vm_call_exit(kr == KERN_SUCCESS);
	return kr;
}

/* ---- the data path --------------------------------------------------- */

/* The data path's range check: addr + size, and its page rounding, must not wrap. */
static bool data_range_wraps(vm_address_t addr, vm_size_t size)
{
	return addr + size < addr || vm_round_page(addr + size) < addr + size;
}

static void count_fault(struct task *t, bool zero_fill)
{
	t->counts.faults++;
	vm_object_stat_add(faults.faults, 1);
	if (zero_fill) {
		t->counts.zero_fill_faults++;
		vm_object_stat_add(faults.zero_fill_faults, 1);
	}
}

/*
 * Copies between task memory and buf, page by page, until size bytes or the
 * first hole or page without `need`.  Returns the count moved; *kr is set
 * only when not even the first byte could be moved.  reserved: the caller
 * reserved the memory the whole write may take (vm_copy); else each page
 * reserves its own.
 */
static vm_size_t transfer(struct task *t, vm_address_t addr, vm_size_t size, void *buf,
                          const void *data, vm_prot_t need, bool reserved, kern_return_t *kr)
{
	struct vm_map_entry *e = vm_map_store_lookup(&t->map.store, addr);
	vm_size_t done = 0;
	*kr = KERN_SUCCESS;
	while (done < size) {
		vm_address_t pos = addr + done;
		if (e && pos >= e->end)
			e = e->next;
		if (e == NULL || e->start > pos) {
			if (done == 0)
				*kr = vm_why_hole(KERN_INVALID_ADDRESS, &t->map, pos);
			break;
		}
		if ((e->protection & need) != need) {
			if (done == 0)
				*kr = vm_why_entry(KERN_PROTECTION_FAILURE, MACHVM_WHY_PROTECTION, &t->map,
				                   e, vm_trunc_page(pos), 0, need);
			break;
		}
		vm_size_t in_page = vm_page_size - (pos & (vm_page_size - 1));
		vm_size_t chunk = size - done < in_page ? size - done : in_page;
		vm_size_t at = pos & (vm_page_size - 1);
		if (need == VM_PROT_WRITE) {
			char *p = NULL;
			/* A page that is not yet resident in the entry's own object
			 * may take a page and an object: reserved first, so that a
			 * write past the memory limit ends before it changes the
			 * entry (no object or shadow made for nothing). */
			bool fresh = !reserved && (e->object == NULL || (e->flags & VME_NEEDS_COPY) ||
			             !vm_page_table_get(&e->object->pages,
			                                vm_atop(e->offset + (vm_trunc_page(pos) - e->start))));
			if (fresh && !vm_mem_reserve(vm_map_resident_cost(&t->map, vm_trunc_page(pos),
			                                                  vm_trunc_page(pos) + vm_page_size,
			                                                  false))) {
				if (done == 0)
					*kr = KERN_RESOURCE_SHORTAGE;
				break;
			}
			/* The offset is taken after: a new shadow resets it. */
			if (vm_map_entry_private_object(e) == KERN_SUCCESS)
				p = vm_object_page_writable(e->object,
				        e->offset + (vm_trunc_page(pos) - e->start), &t->counts);
			if (fresh)
				vm_mem_unreserve();
			if (p == NULL) {
				if (done == 0)
					*kr = KERN_RESOURCE_SHORTAGE;
				break;
			}
			memcpy(p + at, (const char *)data + done, chunk);
		} else {
			unsigned int depth = 0;
			vm_offset_t off = e->offset + (vm_trunc_page(pos) - e->start);
			const char *p = e->object ? vm_object_page_lookup(e->object, off, &depth) : NULL;
			if (p == NULL || depth > 0)
				count_fault(t, p == NULL);
			if (p)
				memcpy((char *)buf + done, p + at, chunk);
			else
				memset((char *)buf + done, 0, chunk);
		}
		done += chunk;
	}
	return done;
}

/* The first problem with moving `need` over [addr, addr + size), or SUCCESS. */
static kern_return_t range_accessible(struct task *t, vm_address_t addr, vm_size_t size,
                                      vm_prot_t need)
{
	vm_address_t end = addr + size;
	struct vm_map_entry *e = vm_map_store_lookup(&t->map.store, addr);
	for (vm_address_t at = addr; at < end; at = e->end, e = e->next) {
		if (e == NULL || e->start > at)
			return vm_why_hole(KERN_INVALID_ADDRESS, &t->map, at);
		if ((e->protection & need) != need)
			return vm_why_entry(KERN_PROTECTION_FAILURE, MACHVM_WHY_PROTECTION, &t->map, e,
			                    vm_trunc_page(at), 0, need);
	}
	return KERN_SUCCESS;
}

/* A data call's problem as the policy reports it: a protection problem in
 * a small transfer is an invalid address where the kernel copies small
 * ranges through a buffer. */
static kern_return_t data_problem(kern_return_t kr, vm_size_t size)
{
	unsigned int pages = vm_policy()->small_copy_pages;
	if (kr == KERN_PROTECTION_FAILURE && size < (vm_size_t)pages * vm_page_size)
		return KERN_INVALID_ADDRESS;
	return kr;
}

/* vm_read and vm_write: one transfer between task memory and the caller. */
static kern_return_t data_call(task_t task, vm_address_t address, vm_size_t size, void *buf,
                               const void *data, vm_prot_t need, vm_size_t *count)
{
	if (count == NULL || (buf == NULL && data == NULL && size > 0))
		return call_fail(KERN_INVALID_ARGUMENT);
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return call_fail(kr);
	*count = 0;
	const struct vm_policy *p = vm_policy();
	/* A kernel whose overwrite takes whole pages refuses any other
	 * write before it looks at the range. */
	if (need == VM_PROT_WRITE && p->data_page_aligned && size > 0 &&
	    ((address | size) & (vm_page_size - 1)))
		return call_end(t, KERN_INVALID_ARGUMENT, false);
	/* Size 0 moves nothing and succeeds wherever the address is, as for
	 * every other call (vm.h): only a non-empty range can wrap. */
	if (size > 0 && data_range_wraps(address, size))
		return call_end(t, vm_why_wraps(p->data_wrap, task, address, size), false);
	if (p->data_all_or_nothing && size > 0 &&
	    (kr = range_accessible(t, address, size, need)) != KERN_SUCCESS)
		return call_end(t, data_problem(kr, size), false);
	*count = transfer(t, address, size, buf, data, need, false, &kr);
	kr = data_problem(kr, size);
	/* Only vm_write has a report (vm_read starts none). */
	struct machvm_call_args *a = vm_report_args();
	if (a) {
		a->count = *count;
		if (*count > 0)
			vm_report_map_change(t->map.task, MACHVM_CHANGE_CONTENTS, address,
			                     address + *count, 0, 0, 0);
	}
	return call_end(t, kr, need == VM_PROT_WRITE);
}

kern_return_t vm_read(task_t task, vm_address_t address, vm_size_t size, void *buf,
                      vm_size_t *count)
{
	vm_why_clear();
	return data_call(task, address, size, buf, NULL, VM_PROT_READ, count);
}

kern_return_t vm_write(task_t task, vm_address_t address, const void *data, vm_size_t size,
                       vm_size_t *count)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_WRITE);
	if (a) {
		a->task = task;
		a->address = address;
		a->size = size;
	}
	return data_call(task, address, size, NULL, data, VM_PROT_WRITE, count);
}

kern_return_t vm_copy(task_t task, vm_address_t source_address, vm_size_t size,
                      vm_address_t dest_address)
{
	vm_why_clear();
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_VM_COPY);
	if (a) {
		a->task = task;
		a->address = source_address;
		a->address2 = dest_address;
		a->size = size;
	}
	struct task *t;
	kern_return_t kr = call_begin(task, &t);
	if (kr != KERN_SUCCESS)
		return call_fail(kr);
	if (size == 0)
		return call_end(t, KERN_SUCCESS, false);
	if (vm_policy()->data_page_aligned &&
	    ((source_address | size | dest_address) & (vm_page_size - 1))) {
		/* The copy in comes first (any alignment), then the overwrite
		 * refuses what is not whole pages. */
		vm_address_t s0, s1;
		if (data_range_wraps(source_address, size))
			kr = vm_why_wraps(vm_policy()->data_wrap, task, source_address, size);
		else if ((kr = range_of(task, source_address, size, KERN_INVALID_ADDRESS, &s0,
		                        &s1)) == KERN_SUCCESS &&
		         (kr = range_accessible(t, source_address, size, VM_PROT_READ)) ==
		         KERN_SUCCESS)
			kr = KERN_INVALID_ARGUMENT;
		return call_end(t, data_problem(kr, size), false);
	}
	if (data_range_wraps(source_address, size))
		return call_end(t, vm_why_wraps(vm_policy()->data_wrap, task, source_address, size),
		                false);
	if (data_range_wraps(dest_address, size))
		return call_end(t, vm_why_wraps(vm_policy()->data_wrap, task, dest_address, size),
		                false);
	/* The range conversion comes before the walks: a range leaving the
	 * user range is an invalid address whatever lies inside it. */
	vm_address_t s0, s1, d0, d1;
	if ((kr = range_of(task, source_address, size, KERN_INVALID_ADDRESS, &s0, &s1)) != KERN_SUCCESS ||
	    (kr = range_of(task, dest_address, size, KERN_INVALID_ADDRESS, &d0, &d1)) != KERN_SUCCESS)
		return call_end(t, kr, false);
	if ((kr = range_accessible(t, source_address, size, VM_PROT_READ)) != KERN_SUCCESS ||
	    (kr = range_accessible(t, dest_address, size, VM_PROT_WRITE)) != KERN_SUCCESS)
		return call_end(t, data_problem(kr, size), false);
	/* All or nothing under the memory limit too: the bounce buffer and
	 * every destination page the copy may make resident are reserved
	 * before anything is written (the transfer's own per-page
	 * reservations then find room in it). */
	uint64_t cost = vm_map_resident_cost(&t->map, d0, d1, false);
	if (!vm_mem_reserve(size) || !vm_mem_reserve(cost))
		return call_end(t, why_memory(task, size + cost), false);
	void *buf = malloc(size);
	if (buf == NULL)
		return call_end(t, KERN_RESOURCE_SHORTAGE, false);
	(void)transfer(t, source_address, size, buf, NULL, VM_PROT_READ, false, &kr);
	if (kr == KERN_SUCCESS) {
		vm_size_t done = transfer(t, dest_address, size, NULL, buf, VM_PROT_WRITE, true, &kr);
		if (done > 0)
			vm_report_map_change(t->map.task, MACHVM_CHANGE_CONTENTS, dest_address,
			                     dest_address + done, 0, 0, 0);
	}
	free(buf);
	return call_end(t, kr, true);
}
