/*
 * why.h - why the last call failed, as the engine saw it at that moment.
 *
 * A return code says what kind of failure a call met (KERN_NO_SPACE,
 * KERN_PROTECTION_FAILURE ...) but not where: which entry was in the way,
 * where the hole was, what the maximum protection is.  Looking afterwards
 * (vm_region) can race with other threads changing the map, so the engine
 * says it itself: every call below that fails leaves a record of the cause
 * for the thread that made it, filled while the call still holds its locks.
 *
 * The calls that keep the record: vm_allocate, vm_deallocate, vm_protect,
 * vm_inherit, vm_map_inherit, vm_wire, vm_machine_attribute, vm_remap,
 * vm_read, vm_write and vm_copy.  Each clears this thread's record when it
 * starts and fills it when it fails for one of the reasons listed under
 * machvm_why_kind; a success, or a failure for another reason (a task that
 * is not alive, a bad argument value, memory running out), leaves it
 * MACHVM_WHY_NONE.  Every other engine call (queries, task calls, the
 * snapshots) leaves it as it is, so it can be read right after the call,
 * on the same thread, whatever was asked in between.  Each thread has its
 * own: a call on another thread never changes it.
 */
#ifndef MACHVM_WHY_H
#define MACHVM_WHY_H

#include <machvm/api.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The causes, and the fields of struct machvm_why each fills (every other
 * field is 0).  "The entry" is the map entry (region) [start, end) of task
 * where the call stopped; addresses are page aligned unless said otherwise.
 */
typedef enum machvm_why_kind {
	MACHVM_WHY_NONE = 0,    /* nothing recorded */
	/*
	 * HOLE: the range asked for has a hole: nothing is mapped at address,
	 * the first unmapped address the call met in address order (for
	 * vm_read, vm_write and vm_copy the byte address itself).  [address,
	 * end) is the whole hole: end is the start of the next entry, or
	 * MACHVM_USER_MAX when none follows.  vm_remap: task is the source.
	 */
	MACHVM_WHY_HOLE,
	/*
	 * OVERLAP: a fixed vm_allocate or vm_remap asked for [address, address
	 * + size), but the entry [start, end) of task is already there (the
	 * lowest one in the way).
	 */
	MACHVM_WHY_OVERLAP,
	/*
	 * MAX_PROTECTION: wanted is more than the entry's maximum protection
	 * max_protection allows (vm_protect, with or without set_maximum; a
	 * copying vm_remap, which needs VM_PROT_READ in the source's maximum).
	 * protection is the entry's current protection.
	 */
	MACHVM_WHY_MAX_PROTECTION,
	/*
	 * PROTECTION: the entry's current protection lacks some of wanted:
	 * vm_wire's access; vm_read's VM_PROT_READ, vm_write's VM_PROT_WRITE
	 * and vm_copy's either, for which address is the page (page aligned)
	 * that could not be read or written.  max_protection is the entry's.
	 */
	MACHVM_WHY_PROTECTION,
	/* NOT_WIRED: vm_wire with VM_PROT_NONE (unwire) met the entry, whose
	 * wired count is 0. */
	MACHVM_WHY_NOT_WIRED,
	/* WIRE_LIMIT: vm_wire met the entry wired wired_count times, the most
	 * a count holds (65535). */
	MACHVM_WHY_WIRE_LIMIT,
	/*
	 * OUTSIDE: the page-rounded range [start, end) is not inside the user
	 * range [P, MACHVM_USER_MAX).  vm_remap: task is the source when the
	 * source range is outside.
	 */
	MACHVM_WHY_OUTSIDE,
	/*
	 * NO_ROOM: no free range of size bytes at or above address (and, for
	 * vm_remap, aligned to mask) in task's map: vm_allocate or vm_remap
	 * anywhere.
	 */
	MACHVM_WHY_NO_ROOM,
	/* MASK: a fixed vm_remap's address has bits of mask set. */
	MACHVM_WHY_MASK,
	/* WRAPS: address + size, or its rounding to a page, wraps past 2^64
	 * (address and size as passed). */
	MACHVM_WHY_WRAPS,
	/*
	 * TASK_WIRED, TASK_MAPPED: the call would take task past its limit of
	 * wired or of mapped bytes (machvm_host_set_task_limits): size is what
	 * the call would add, used what the task has now, limit the limit
	 * (bytes; wired ones counted in whole pages).
	 */
	MACHVM_WHY_TASK_WIRED,
	MACHVM_WHY_TASK_MAPPED,
	/*
	 * MEMORY: the host's memory account could not take size more bytes
	 * (what vm_wire, vm_remap or vm_copy reserve before they change
	 * anything): used is the account, limit the host's memory limit
	 * (machvm_host_set_memory_limit).
	 */
	MACHVM_WHY_MEMORY,
} machvm_why_kind_t;

/* "none", "hole", "overlap", "max_protection", "protection", "not_wired",
 * "wire_limit", "outside", "no_room", "mask", "wraps", "task_wired",
 * "task_mapped", "memory"; "unknown" for
 * another value.  A static string. */
MACHVM_API const char *machvm_why_name(machvm_why_kind_t kind);

struct machvm_why {
	machvm_why_kind_t kind;
	kern_return_t kr;               /* what the call returned */
	task_t task;                    /* the task whose map the cause is in */
	vm_address_t address;
	vm_size_t size;
	vm_address_t start, end;
	vm_address_t mask;
	vm_prot_t protection;           /* the entry's current protection */
	vm_prot_t max_protection;       /* the entry's maximum protection */
	vm_prot_t wanted;               /* what the call asked for or needed */
	unsigned int wired_count;
	uint64_t used, limit;           /* TASK_WIRED, TASK_MAPPED, MEMORY */
};

/*
 * Copies this thread's record (see the top) into *why.
 *   KERN_INVALID_ARGUMENT   why is NULL
 *   KERN_SUCCESS            (kind MACHVM_WHY_NONE when nothing is recorded)
 */
MACHVM_API kern_return_t machvm_why_get(struct machvm_why *why);

#ifdef __cplusplus
}
#endif

#endif
