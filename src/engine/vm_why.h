/*
 * vm_why.h - filling this thread's failure record (<machvm/why.h>).
 *
 * A call that keeps the record clears it first thing (vm_why_clear) and, at
 * the failure it returns, fills it with one of the setters below while it
 * still holds its locks, so what the record says of the map is what the
 * call saw.  Each setter returns the kr it is given, to be used in the
 * return statement itself.  Only failures write more than the kind, so the
 * record costs a successful call one store.
 */
#ifndef MACHVM_VM_WHY_H
#define MACHVM_VM_WHY_H

#include <machvm/why.h>
#include "engine.h"

struct vm_map;
struct vm_map_entry;

extern _Thread_local struct machvm_why vm_why_rec;

static inline void vm_why_clear(void)
{
	vm_why_rec.kind = MACHVM_WHY_NONE;
}

/* HOLE: nothing mapped at `at` in m (which must be a hole of m). */
kern_return_t vm_why_hole(kern_return_t kr, struct vm_map *m, vm_address_t at);

/* A cause about the entry e of m: OVERLAP (address, size: the range asked
 * for), MAX_PROTECTION, PROTECTION (address: the page), NOT_WIRED,
 * WIRE_LIMIT; wanted is what the call asked for or needed. */
kern_return_t vm_why_entry(kern_return_t kr, machvm_why_kind_t kind, struct vm_map *m,
                           const struct vm_map_entry *e, vm_address_t address,
                           vm_size_t size, vm_prot_t wanted);

/* OUTSIDE: [start, end) of task's map leaves the user range. */
kern_return_t vm_why_outside(kern_return_t kr, task_t task, vm_address_t start,
                             vm_address_t end);

/* NO_ROOM (size bytes at or above address, aligned to mask) or MASK
 * (address has bits of mask), in task's map. */
kern_return_t vm_why_space(kern_return_t kr, machvm_why_kind_t kind, task_t task,
                           vm_address_t address, vm_size_t size, vm_address_t mask);

/* A limit: kind TASK_WIRED, TASK_MAPPED or MEMORY (why.h). */
kern_return_t vm_why_limit(kern_return_t kr, machvm_why_kind_t kind, task_t task, uint64_t size,
                           uint64_t used, uint64_t limit);
/* WRAPS: address + size as passed. */
kern_return_t vm_why_wraps(kern_return_t kr, task_t task, vm_address_t address,
                           vm_size_t size);

#endif
