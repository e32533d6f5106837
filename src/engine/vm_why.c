/*
 * vm_why.c - this thread's failure record, see vm_why.h and <machvm/why.h>.
 */
#include "vm_why.h"

#include <string.h>

#include "vm_map.h"

_Thread_local struct machvm_why vm_why_rec;

/* Starts a record of kind: every field 0 but the kind, kr and task. */
static struct machvm_why *start(machvm_why_kind_t kind, kern_return_t kr, task_t task)
{
	memset(&vm_why_rec, 0, sizeof vm_why_rec);
	vm_why_rec.kind = kind;
	vm_why_rec.kr = kr;
	vm_why_rec.task = task;
	return &vm_why_rec;
}

kern_return_t vm_why_hole(kern_return_t kr, struct vm_map *m, vm_address_t at)
{
	struct machvm_why *w = start(MACHVM_WHY_HOLE, kr, m->task);
	struct vm_map_entry *next = vm_map_store_lookup_ge(&m->store, at);
	w->address = at;
	w->start = at;
	w->end = next ? next->start : MACHVM_USER_MAX;
	return kr;
}

kern_return_t vm_why_entry(kern_return_t kr, machvm_why_kind_t kind, struct vm_map *m,
                           const struct vm_map_entry *e, vm_address_t address,
                           vm_size_t size, vm_prot_t wanted)
{
	struct machvm_why *w = start(kind, kr, m->task);
	w->address = address;
	w->size = size;
	w->start = e->start;
	w->end = e->end;
	w->protection = e->protection;
	w->max_protection = e->max_protection;
	w->wanted = wanted;
	w->wired_count = e->wired_count;
	return kr;
}

kern_return_t vm_why_outside(kern_return_t kr, task_t task, vm_address_t s, vm_address_t e)
{
	struct machvm_why *w = start(MACHVM_WHY_OUTSIDE, kr, task);
	w->start = s;
	w->end = e;
	return kr;
}

kern_return_t vm_why_space(kern_return_t kr, machvm_why_kind_t kind, task_t task,
                           vm_address_t address, vm_size_t size, vm_address_t mask)
{
	struct machvm_why *w = start(kind, kr, task);
	w->address = address;
	w->size = size;
	w->mask = mask;
	return kr;
}

kern_return_t vm_why_wraps(kern_return_t kr, task_t task, vm_address_t address, vm_size_t size)
{
	struct machvm_why *w = start(MACHVM_WHY_WRAPS, kr, task);
	w->address = address;
	w->size = size;
	return kr;
}

kern_return_t vm_why_limit(kern_return_t kr, machvm_why_kind_t kind, task_t task, uint64_t size,
                           uint64_t used, uint64_t limit)
{
	struct machvm_why *w = start(kind, kr, task);
	w->size = size;
	w->used = used;
	w->limit = limit;
	return kr;
}

kern_return_t machvm_why_get(struct machvm_why *why)
{
	if (why == NULL)
		return KERN_INVALID_ARGUMENT;
	if (vm_why_rec.kind == MACHVM_WHY_NONE)
		memset(why, 0, sizeof *why);
	else
		*why = vm_why_rec;
	return KERN_SUCCESS;
}

const char *machvm_why_name(machvm_why_kind_t kind)
{
	switch (kind) {
	case MACHVM_WHY_NONE:           return "none";
	case MACHVM_WHY_HOLE:           return "hole";
	case MACHVM_WHY_OVERLAP:        return "overlap";
	case MACHVM_WHY_TASK_WIRED:     return "task_wired";
	case MACHVM_WHY_TASK_MAPPED:    return "task_mapped";
	case MACHVM_WHY_MEMORY:         return "memory";
	case MACHVM_WHY_MAX_PROTECTION: return "max_protection";
	case MACHVM_WHY_PROTECTION:     return "protection";
	case MACHVM_WHY_NOT_WIRED:      return "not_wired";
	case MACHVM_WHY_WIRE_LIMIT:     return "wire_limit";
	case MACHVM_WHY_OUTSIDE:        return "outside";
	case MACHVM_WHY_NO_ROOM:        return "no_room";
	case MACHVM_WHY_MASK:           return "mask";
	case MACHVM_WHY_WRAPS:          return "wraps";
	}
	return "unknown";
}
