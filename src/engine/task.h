/*
 * task.h - tasks and the host's task table.
 *
 * Locks (engine.h has the whole order):
 *   host_lock   guards the task table, every task's `refs`, and the ids.
 *   task->lock  guards the task's map, counters and `dead`.
 * A task struct stays allocated while refs > 0, so a caller that looked a
 * task up can lock it and then find it dead (terminated meanwhile).
 */
#ifndef MACHVM_TASK_H
#define MACHVM_TASK_H

#include <pthread.h>
#include "engine.h"
#include "vm_map.h"

struct task {
	task_t id;                      /* immutable */
	task_t parent;                  /* immutable; TASK_NULL if none */
	uint32_t refs;                  /* host_lock */
	pthread_mutex_t lock;
	bool dead;                      /* lock (written with host_lock held too) */
	struct vm_map map;              /* lock */
	struct vm_fault_counts counts;  /* lock */
};

/* Finds a live task and takes a reference; NULL if there is none. */
struct task *task_lookup(task_t id);
void task_release(struct task *t);

/* Locks a looked-up task; false (and unlocked) if it died meanwhile. */
bool task_lock_live(struct task *t);
void task_unlock(struct task *t);

/* Locks two tasks (lower id first; once if the same); false if either died. */
bool task_lock_pair(struct task *a, struct task *b);
void task_unlock_pair(struct task *a, struct task *b);

/*
 * Debug bracket around every call: the invariant checker runs after calls
 * that changed something, with every other call shut out meanwhile.
 * No-ops in release builds.
 */
void vm_call_enter(void);
void vm_call_exit(bool changed);

/* The task table, for the checker only (every other call shut out). */
size_t task_table_size(void);
struct task *task_table_at(size_t id);

/* The checker proper; caller has every other call shut out. */
kern_return_t vm_check_all_locked(void);

#endif
