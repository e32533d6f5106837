/*
 * vm_report.h - recording a call's change report (see <machvm/report.h>).
 *
 * A reporting call starts its report at its entry (vm_report_begin), the
 * map and object layers append what they change as they change it, and the
 * call hands the report to the hook at its end (vm_report_end), still
 * holding its task locks.  Calls do not nest, so the report being recorded
 * is one per thread: vm_report_cur, NULL whenever nothing is recorded (no
 * hook, no call running, a query, an import).
 *
 * With no hook set, recording must cost the engine nothing it can measure:
 * a call tests the hook once, at its start, and every append below is
 * inline and starts with one branch on vm_report_cur, which is NULL then;
 * the arguments are only computed behind it.  Where a loop would test it
 * per entry (fork, remap), it is read once before the loop.
 *
 * Locking: the record is the thread's own.  Appending needs whatever lock
 * guards the thing that changed (the task lock for a map, the domain's lock for
 * an object), which the caller holds anyway.
 */
#ifndef MACHVM_VM_REPORT_H
#define MACHVM_VM_REPORT_H

#include <stdatomic.h>
#include <machvm/report.h>
#include "engine.h"

struct vm_map;

/* The report of the call running on this thread. */
struct vm_report_rec {
	struct machvm_report r;         /* changes, nchanges: set at the end */
	struct vm_map *maps[2];         /* the maps of r.tasks[] */
	struct machvm_change *buf;      /* this thread's change buffer, reused */
	size_t n, cap;
};

/* The host's hook is vm_host_head()->report_hook, set while no call runs. */
/*
 * Built into an executable (-fPIE, or no PIC at all) the record's address
 * is a fixed offset from the thread pointer: the test is one load, not two
 * through the GOT, which engine_bench can see.  A shared-library build
 * keeps the default model.
 */
#if defined(__PIE__) || !defined(__PIC__)
extern _Thread_local struct vm_report_rec *vm_report_cur
	__attribute__((tls_model("local-exec")));
#else
extern _Thread_local struct vm_report_rec *vm_report_cur;
#endif

static inline bool vm_reporting(void)
{
	return __builtin_expect(vm_report_cur != NULL, 0);
}

struct machvm_call_args *vm_report_begin_hooked(machvm_call_t call);
void vm_report_end_hooked(kern_return_t kr);
void vm_report_add(machvm_change_kind_t kind, task_t task, vm_address_t start,
                   vm_address_t end, vm_address_t at, vm_address_t to, uint64_t count,
                   uint64_t object, uint64_t object2);
void vm_report_add_map(struct vm_map *m);

/*
 * Starts this thread's report of call.  Returns the arguments to fill in
 * (every field 0 so far), or NULL when nothing is recorded.
 */
static inline struct machvm_call_args *vm_report_begin(machvm_call_t call)
{
	if (__builtin_expect(atomic_load_explicit(&vm_host_head()->report_hook,
	                                          memory_order_relaxed) != NULL, 0))
		return vm_report_begin_hooked(call);
	return NULL;
}

/* The arguments of the report being recorded, or NULL. */
static inline struct machvm_call_args *vm_report_args(void)
{
	return vm_reporting() ? &vm_report_cur->r.args : NULL;
}

/*
 * Ends the report with kr and hands it to the hook.  Once per call: after
 * the first, the thread records nothing, so a later end on another path of
 * the same call does nothing.
 */
static inline void vm_report_end(kern_return_t kr)
{
	if (vm_reporting())
		vm_report_end_hooked(kr);
}

/* The rounded range the call works on (the target's, for vm_remap). */
static inline void vm_report_range(vm_address_t start, vm_address_t end)
{
	if (vm_reporting()) {
		struct machvm_call_args *a = &vm_report_cur->r.args;
		a->has_range = TRUE;
		a->start = start;
		a->end = end;
	}
}

/* vm_remap's source pages. */
static inline void vm_report_src_range(vm_address_t start, vm_address_t end)
{
	if (vm_reporting()) {
		struct machvm_call_args *a = &vm_report_cur->r.args;
		a->has_src_range = TRUE;
		a->src_start = start;
		a->src_end = end;
	}
}

/* The call works on map m (locked): it goes in tasks[], once. */
static inline void vm_report_task(struct vm_map *m)
{
	if (vm_reporting())
		vm_report_add_map(m);
}

/* vm_report_task(m) and vm_report_end(kr) at once: one test, not two, on
 * the path of every one-task call. */
static inline void vm_report_end_task(kern_return_t kr, struct vm_map *m)
{
	if (vm_reporting()) {
		vm_report_add_map(m);
		vm_report_end_hooked(kr);
	}
}

/* A change to the map of task (nothing if task is TASK_NULL: a map being
 * built, such as a fork's child, is reported whole when it is done). */
static inline void vm_report_map_change(task_t task, machvm_change_kind_t kind,
                                        vm_address_t start, vm_address_t end,
                                        vm_address_t at, vm_address_t to, uint64_t count)
{
	if (vm_reporting() && task != TASK_NULL)
		vm_report_add(kind, task, start, end, at, to, count, 0, 0);
}

/* A change to a memory object (id2: the other object, or 0). */
static inline void vm_report_object(machvm_change_kind_t kind, uint64_t id, uint64_t id2)
{
	if (vm_reporting())
		vm_report_add(kind, TASK_NULL, 0, 0, 0, 0, 0, id, id2);
}

/* Ends the report as vm_report_end does if it holds a change, else drops it
 * unseen (false). */
bool vm_report_end_if_changed(kern_return_t kr);

/*
 * Suppresses reporting on this thread while on (nestable): the calls that
 * machvm_host_stop and the import make on the host's behalf report nothing.
 */
void vm_report_quiet(bool on);

#endif
