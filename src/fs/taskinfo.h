/*
 * taskinfo.h - what the daemon keeps about each task beside the engine:
 * who owns it and its last error line.
 *
 * The engine knows nothing of users or files, so ownership (the uid and gid
 * that created a task through tasks/ctl) and last_error live here.  Lookups
 * are O(1) under one of 64 striped locks, so readers of different tasks never
 * wait for each other, and no lock is ever held across an engine call.
 */
#ifndef MACHVMFS_TASKINFO_H
#define MACHVMFS_TASKINFO_H

#include <stddef.h>
#include <sys/types.h>
#include <machvm/vm_types.h>

/* The longest last_error line kept, terminating NUL included. */
#define FS_LAST_ERROR_MAX 512

/* Tasks without a record are reported as owned by mount_uid / mount_gid. */
void fs_taskinfo_init(uid_t mount_uid, gid_t mount_gid);
/* Frees every record. */
void fs_taskinfo_fini(void);

/* Records a new task's owner.  0, or -ENOMEM. */
int fs_taskinfo_add(task_t id, uid_t uid, gid_t gid);
/* Forgets a terminated task. */
void fs_taskinfo_remove(task_t id);
void fs_taskinfo_owner(task_t id, uid_t *uid, gid_t *gid);

/*
 * The last error of task id; id 0 is tasks/ctl's.  get copies the line
 * (without newline) into buf, "none" if there was no failure yet.
 */
void fs_taskinfo_set_error(task_t id, const char *line);
void fs_taskinfo_get_error(task_t id, char *buf, size_t cap);

#endif
