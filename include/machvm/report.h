/*
 * report.h - change reports: what each call changed, told to the caller.
 *
 * A program that keeps anything derived from the host (a filesystem's
 * names, a cache of rendered text, a log of what happened) needs to know
 * exactly what every call changed, without re-deriving the engine's rules
 * (clipping, coalescing, placement, copy-on-write).  The engine tells it:
 * every call that can change the host ends by handing one report to the
 * report hook, successful or failed.
 *
 * The calls that report are task_create, task_terminate, vm_allocate,
 * vm_deallocate, vm_protect, vm_inherit, vm_map_inherit, vm_wire,
 * vm_machine_attribute (a get too, which changes nothing), vm_remap,
 * vm_write and vm_copy, and the batch calls of machvm.h: machvm_batch_undo
 * (one report per task it restores: the exception to "once per call") and
 * machvm_batch_commit (only when it freed or collapsed objects).  Queries (vm_region, vm_region_extended, vm_read,
 * the snapshots and counters), persistence (export, import) and
 * machvm_host_stop (every task goes at once) do not.
 *
 * The hook runs on the thread that made the call, once per call, at its
 * end, while the call still holds the locks of the task(s) it worked on:
 * so for any one task the reports arrive in the order the calls took
 * effect.  It must be quick, and must not call the engine (it would
 * deadlock): it copies what it needs and returns.  The report and its
 * changes are valid only during the hook.  task_create's report comes just
 * before the new task can be named by any call (so before any report about
 * it), a fork's while the parent is still locked.
 *
 * Each task's map has a generation: a number that moves (grows) with every
 * change that makes, moves or removes a region boundary of that map (the
 * SPLIT, MERGED, MOVED, ADDED, REMOVED and TASK_CREATED changes below).
 * A reader that reads the generation, looks at the map, and reads the
 * generation again knows that no boundary moved in between if the two are
 * equal.
 */
#ifndef MACHVM_REPORT_H
#define MACHVM_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <machvm/api.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The call a report is about. */
typedef enum machvm_call {
	MACHVM_CALL_TASK_CREATE = 1,
	MACHVM_CALL_TASK_TERMINATE,
	MACHVM_CALL_VM_ALLOCATE,
	MACHVM_CALL_VM_DEALLOCATE,
	MACHVM_CALL_VM_PROTECT,
	MACHVM_CALL_VM_INHERIT,
	MACHVM_CALL_VM_MAP_INHERIT,
	MACHVM_CALL_VM_WIRE,
	MACHVM_CALL_VM_MACHINE_ATTRIBUTE,
	MACHVM_CALL_VM_REMAP,
	MACHVM_CALL_VM_WRITE,
	MACHVM_CALL_VM_COPY,
	MACHVM_CALL_BATCH_UNDO,
	MACHVM_CALL_BATCH_COMMIT,
} machvm_call_t;

/* "task_create", "vm_protect", ...; "unknown" for another value. */
MACHVM_API const char *machvm_call_name(machvm_call_t call);

/*
 * The arguments of a call as the engine saw them.  Which fields a call
 * fills (every other field is 0):
 *
 *   task_create        task = parent (TASK_NULL for none), flag = inherit_memory,
 *                      other = the new task (TASK_NULL if the call failed)
 *   task_terminate     task
 *   vm_allocate        task, address (as passed), size, flag = anywhere;
 *                      range = the pages allocated (or, fixed, asked for)
 *   vm_deallocate      task, address, size; range
 *   vm_protect         task, address, size, prot = new_protection,
 *                      flag = set_maximum; range
 *   vm_inherit         task, address, size, inheritance; range
 *   vm_map_inherit     task, address = start, address2 = end (as passed),
 *                      inheritance; range (both ends rounded down)
 *   vm_wire            task, address, size, prot = access,
 *                      flag = the host port was the privileged one; range
 *   vm_machine_attribute  task, address, size, attribute, value (as passed),
 *                      value_out (the value returned, for a get); range
 *   vm_remap           task = target, other = source, address = target
 *                      address as passed, address2 = source address, size,
 *                      mask, flag = anywhere, flag2 = copy, inheritance;
 *                      range = the target pages (when placed), src range =
 *                      the source pages; prot, max_protection = what the
 *                      call returned (on success)
 *   vm_write           task, address, size, count = bytes written
 *   vm_copy            task, address = source, address2 = dest, size
 *   machvm_batch_undo  task = the task restored (its REMOVED then ADDED)
 *   machvm_batch_commit  nothing (task TASK_NULL): the objects it let go
 *
 * "range" is [start, end) with has_range set: the page-rounded range the
 * call worked on, set as soon as it is rounded (so also when it then
 * fails: outside the user range, a hole).  A call that failed before it
 * rounded (a bad argument, a dead task, a range that wraps), or had
 * nothing to do (a size of 0, vm_map_inherit's start == end), has
 * has_range FALSE.
 */
struct machvm_call_args {
	task_t task;
	task_t other;
	vm_address_t address;
	vm_address_t address2;
	vm_size_t size;
	vm_address_t mask;
	boolean_t flag;
	boolean_t flag2;
	vm_prot_t prot;
	vm_prot_t max_protection;
	vm_inherit_t inheritance;
	vm_machine_attribute_t attribute;
	vm_machine_attribute_val_t value;
	vm_machine_attribute_val_t value_out;
	vm_size_t count;
	boolean_t has_range;
	vm_address_t start, end;
	boolean_t has_src_range;
	vm_address_t src_start, src_end;
};

/* What one change was. */
typedef enum machvm_change_kind {
	/*
	 * Region boundaries of task's map (each moves its generation):
	 *
	 * SPLIT     the entry [start, end) became [start, at) and [at, end):
	 *           a region now starts at `at`.
	 * MERGED    the entries [start, at) and [at, end) became one entry
	 *           [start, end): no region starts at `at` any more.
	 * MOVED     the boundary between two neighbouring entries moved from
	 *           `at` to `to`, inside [start, end) (the two entries' span):
	 *           no region starts at `at` any more, one starts at `to`.
	 * ADDED     count new entries, all inside [start, end) (vm_allocate:
	 *           one; vm_remap's target: one per source piece).
	 * REMOVED   count entries, every entry that lay inside [start, end),
	 *           were removed (vm_deallocate, after its SPLITs).
	 */
	MACHVM_CHANGE_SPLIT = 1,
	MACHVM_CHANGE_MERGED,
	MACHVM_CHANGE_MOVED,
	MACHVM_CHANGE_ADDED,
	MACHVM_CHANGE_REMOVED,
	/*
	 * Within entries, no boundary moving:
	 *
	 * ATTRIBUTES  something vm_region_extended reports of entries in
	 *           [start, end) changed: protection, maximum, inheritance,
	 *           wired count, machine attributes, flush counts, or the
	 *           sharing state (shared, needs_copy, a new object).
	 * CONTENTS  bytes in [start, end) were written (vm_write, vm_copy).
	 *           The write may also have given the entries there an object
	 *           of their own (first touch, copy-on-write: the OBJECT_*
	 *           changes say which) and changed their resident pages: a
	 *           reader takes CONTENTS as ATTRIBUTES of the range too.
	 *
	 * Neither says anything of other tasks' entries that map the same
	 * objects (what they read, their reference counts, share modes): the
	 * OBJECT_* changes are what a reader learns of those.
	 */
	MACHVM_CHANGE_ATTRIBUTES,
	MACHVM_CHANGE_CONTENTS,
	/*
	 * Tasks:
	 *
	 * TASK_CREATED     task is new; its map holds count entries spanning
	 *                  [start, end) (0 and an empty span for an empty task).
	 *                  The child's own merging during a fork is not
	 *                  reported: count is what it has at the end.
	 * TASK_TERMINATED  task is gone with its count entries spanning
	 *                  [start, end) (no REMOVED for them; its generation
	 *                  stays what it was).
	 */
	MACHVM_CHANGE_TASK_CREATED,
	MACHVM_CHANGE_TASK_TERMINATED,
	/*
	 * Memory objects (task is TASK_NULL):
	 *
	 * OBJECT_CREATED    object is new (a first touch, an eager copy).
	 * OBJECT_SHADOWED   object is a new shadow in front of object2
	 *                   (copy-on-write).  Not also reported as CREATED.
	 * OBJECT_COLLAPSED  object2 was merged into object, its shadow, and is
	 *                   gone.
	 * OBJECT_BYPASSED   object no longer reads through object2, but
	 *                   through what object2 read through.
	 * OBJECT_DESTROYED  object is gone: its last reference was dropped.
	 *                   (A collapsed object is reported as COLLAPSED only.)
	 */
	MACHVM_CHANGE_OBJECT_CREATED,
	MACHVM_CHANGE_OBJECT_SHADOWED,
	MACHVM_CHANGE_OBJECT_COLLAPSED,
	MACHVM_CHANGE_OBJECT_BYPASSED,
	MACHVM_CHANGE_OBJECT_DESTROYED,
} machvm_change_kind_t;

/* "split", "merged", "moved", "added", "removed", "attributes", "contents",
 * "task_created", "task_terminated", "object_created", "object_shadowed",
 * "object_collapsed", "object_bypassed", "object_destroyed"; "unknown". */
MACHVM_API const char *machvm_change_name(machvm_change_kind_t kind);

struct machvm_change {
	machvm_change_kind_t kind;
	task_t task;                    /* TASK_NULL for object changes */
	vm_address_t start, end;
	vm_address_t at, to;            /* SPLIT, MERGED: at; MOVED: at and to */
	uint64_t count;                 /* ADDED, REMOVED, TASK_*: entries */
	uint64_t object, object2;       /* OBJECT_*: ids */
};

/*
 * One call's report.  changes[] is in the order the engine made them.
 * Consecutive changes of one kind on one task are reported as one where
 * that loses nothing a reader needs: ATTRIBUTES and CONTENTS ranges are
 * joined (so the range may take in entries in between that did not
 * change), REMOVED ranges are joined with their counts added.  Every other
 * change is reported one by one.
 *
 * tasks[0..ntasks) are the tasks whose maps the call worked on, that is
 * locked, changed or not (at most 2: vm_remap's target then its source,
 * once if they are the same task; a fork's parent then the child; the new
 * task of a task_create), each with its map generation after the call in
 * gens[].  A call that failed before it locked any task (a dead task, a
 * NULL pointer) has none.
 *
 * incomplete: memory ran out while the call was being recorded, so
 * changes[] holds only the first nchanges changes; a reader must then
 * assume any boundary of tasks[] may have moved.
 */
struct machvm_report {
	machvm_call_t call;
	kern_return_t kr;
	struct machvm_call_args args;
	size_t ntasks;
	task_t tasks[2];
	uint64_t gens[2];
	size_t nchanges;
	const struct machvm_change *changes;
	boolean_t incomplete;
};

/*
 * The hook every report goes to (see the top: when it runs, what it may
 * do); arg is handed back to it.  NULL (the default) turns reporting off,
 * and then the calls record nothing at all.  Set it while no call runs.
 */
typedef void (*machvm_report_hook_t)(void *arg, const struct machvm_report *report);
MACHVM_API void machvm_set_report_hook(machvm_report_hook_t hook, void *arg);

/*
 * The generation of task's map (see the top).  It is kept whether or not a
 * hook is set.  KERN_SUCCESS; KERN_INVALID_ARGUMENT for a task that is not
 * alive or a NULL gen.
 */
MACHVM_API kern_return_t machvm_task_map_gen(task_t task, uint64_t *gen);

#ifdef __cplusplus
}
#endif

#endif
