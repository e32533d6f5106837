/*
 * taskinfo.h - what the daemon keeps about each task beside the engine:
 * who owns it, its last error line, and what the kernel's caches hold of it.
 *
 * The engine knows nothing of users or files, so ownership (the uid and gid
 * that created a task through tasks/ctl) and last_error live here.  So does
 * a copy of the region starts for listing regions/, kept while the map's
 * generation stands still.  Lookups are O(1) under one of 64 striped
 * locks, so readers of different tasks never wait for each other, and no
 * lock is ever held across an engine call (machvm_task_alive, which takes
 * no lock, excepted).
 */
#ifndef MACHVMFS_TASKINFO_H
#define MACHVMFS_TASKINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <machvm/vm_types.h>

/* The longest last_error line kept, terminating NUL included. */
#define FS_LAST_ERROR_MAX 1024

/* Tasks without a record are reported as owned by mount_uid / mount_gid. */
void fs_taskinfo_init(uid_t mount_uid, gid_t mount_gid);
/* Frees every record. */
void fs_taskinfo_fini(void);

/*
 * Brackets task_create ... fs_taskinfo_add: while a task is being made, a
 * task without an owner yet may be that one (see fs_taskinfo_owner).
 */
void fs_taskinfo_creating(bool begin);

/* Records a new task's owner.  0, or -ENOMEM. */
int fs_taskinfo_add(task_t id, uid_t uid, gid_t gid);
/* Forgets a terminated task. */
void fs_taskinfo_remove(task_t id);
/*
 * The owner of a live task.  Returns true when that answer is final: the
 * task was given its owner, or it never will be (no task is being made, so
 * it came from the state file and belongs to the mounting user).  A caller
 * must have seen the task alive before asking.
 */
bool fs_taskinfo_owner(task_t id, uid_t *uid, gid_t *gid);

/*
 * The last error of task id; id 0 is tasks/ctl's.  get copies the line
 * (without newline) into buf, "none" if there was no failure yet.
 */
void fs_taskinfo_set_error(task_t id, const char *line);
void fs_taskinfo_get_error(task_t id, char *buf, size_t cap);

/* ---- a copy of the region starts, for listing regions/ ---------------- */

/* An immutable, shared, ascending list of a task's region starts. */
struct fs_starts {
	_Atomic size_t refs;
	size_t       count;
	vm_address_t start[];
};

/*
 * The task's list if it was made at the map's generation now (a reference
 * the caller drops with fs_starts_put), else NULL; *gen is the generation
 * now (coherence.h).
 */
struct fs_starts *fs_taskinfo_starts(task_t id, uint64_t *gen);
/* Keeps s (taking a reference) as the task's list made at generation gen,
 * unless the map changed since. */
void fs_taskinfo_starts_keep(task_t id, struct fs_starts *s, uint64_t gen);
void fs_starts_put(struct fs_starts *s);

#endif
