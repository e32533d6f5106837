/*
 * task.h - tasks and the host's task table.
 *
 * Locks (engine.h has the whole order):
 *   host_lock   guards creating tables, the free list of task structs, the
 *               free ids.
 *   task->lock  guards the task's id, map, counters and `dead`.
 * Looking a task up takes no lock: the table's slots are read atomically,
 * and task structs are never freed while the host runs, only recycled for
 * new tasks.  So a caller that looked a task up locks it and then checks,
 * under the lock, that it is still alive and still has the id it asked for.
 */
#ifndef MACHVM_TASK_H
#define MACHVM_TASK_H

#include <pthread.h>
#include "engine.h"
#include "vm_map.h"

struct task {
	task_t id;                      /* lock (changes when recycled) */
	task_t parent;                  /* lock */
	uint64_t serial;                /* lock, read atomically: which life of the
	                                   struct, unique for the host run */
	uint64_t parent_serial;         /* lock: the parent's serial (0: none) */
	pthread_mutex_t lock;
	bool dead;                      /* lock */
	struct vm_map map;              /* lock */
	struct vm_domain *domain;       /* lock: its memory domain (a reference;
	                                   vm_domain.h), NULL while dead */
	struct vm_fault_counts counts;  /* lock */
	uint32_t pins;                  /* lock: machvm_task_pin holds */
	bool retired;                   /* lock: dead, waiting for its last unpin */
	struct task *free_next;         /* host_lock, while on the free list */
	struct task *all_next;          /* host_lock: every struct, for host stop */
};

/* The import: the highest id handed out becomes next - 1 (at least the
 * highest live one), the ids in between free.  false (nothing changed):
 * next is past MACHVM_TASK_ID_LIMIT, or no memory for the free ids. */
bool task_ids_restore(task_t next);

/* How many task structs exist (the memory account's check); every other
 * call shut out. */
uint64_t task_struct_count(void);

/* The task struct in the table for id, or NULL; not locked, maybe dead. */
struct task *task_lookup(task_t id);

/* Locks t; false (and unlocked) unless it is alive and still task `id`. */
bool task_lock_live(struct task *t, task_t id);
void task_unlock(struct task *t);

/*
 * Calls that hold several task locks at once take them in ascending order
 * of the structs' addresses.  A struct keeps its address for the whole
 * host run (recycled, never freed), whatever ids it carries over its
 * lives, so that is one fixed order; ids are reused and give none.
 */

/* Locks two tasks (in address order; once if the same); false if either died. */
bool task_lock_pair(struct task *a, task_t a_id, struct task *b, task_t b_id);
void task_unlock_pair(struct task *a, struct task *b);

/* A task struct and the id the caller expects it to carry. */
struct task_ref {
	struct task *t;
	task_t id;
};

/*
 * Locks the tasks of v[0..n) in address order, each only if alive and
 * still carrying its id; v is left holding the locked ones, in ascending
 * id order, and their number is returned.
 */
size_t task_lock_refs(struct task_ref *v, size_t n);
void task_unlock_refs(struct task_ref *v, size_t n);

/* Every live task of the host, locked (in address order), as a malloc'd
 * list in ascending id order of *n tasks; NULL if out of memory.
 * task_unlock_all unlocks them and frees the list. */
struct task **task_lock_live_all(size_t *n);
void task_unlock_all(struct task **tasks, size_t n);
/*
 * The same with host_lock held until task_unlock_world: no task comes or
 * goes, so with the open batches' lock (vm_batch_lock_if_open) nothing
 * can change a map or an object.  For the export and the checker.
 */
struct task **task_lock_world(size_t *n);
void task_unlock_world(struct task **tasks, size_t n);

/*
 * Debug bracket around every call: the invariant checker runs after calls
 * that changed something, with every other call shut out meanwhile.
 * No-ops in release builds.
 */
void vm_call_enter(void);
void vm_call_exit(bool changed);
/*
 * Pauses (true) or resumes (false) the checks of the calling thread's
 * calls, for a batch of calls that is checked as a whole afterwards (one
 * check per call would cost each call the whole host).  Pauses nest.
 */
void vm_check_pause(bool pause);

/* The task table, for the checker only (every other call shut out). */
size_t task_table_size(void);
struct task *task_table_at(size_t id);

/*
 * The checker proper; the caller has every other call shut out (every live
 * task locked, the batches' lock held, the host frozen: vm_domain_freeze).
 * Changes nothing.  KERN_SUCCESS: every invariant holds.
 * KERN_FAILURE: why (len bytes) says which one does not, naming the task,
 * region or object, and *culprit is the task whose map is at fault
 * (TASK_NULL if none is).  KERN_RESOURCE_SHORTAGE: out of memory.
 */
kern_return_t vm_check_all_locked(char *why, size_t len, task_t *culprit);

/* What the open batches hold (vm_batch.c), for the checker: the bytes they
 * charged, and fn called once per reference their saved entries hold.
 * The host frozen. */
uint64_t vm_batch_charged(void);
void vm_batch_each_ref(void (*fn)(struct vm_object *o, void *arg), void *arg);
/* The open batches' lock: held by a batch's end over all it does, and by
 * whoever walks every object with every task locked (the export, the
 * checker), whom a batch of dead tasks would otherwise not wait for. */
void vm_batch_lock(void);
void vm_batch_unlock(void);
/*
 * With every live task locked: takes the batches' lock if a batch is open
 * (true), and not if none is (false): none can open while every task is
 * locked, so then none can end either, and the caller holds one lock
 * fewer (ThreadSanitizer follows at most 64 at once).
 */
bool vm_batch_lock_if_open(void);

#endif
