/*
 * errors.h - the one place where kern_return_t becomes errno, and where a
 * failed call becomes a task's last_error line.
 */
#ifndef MACHVMFS_ERRORS_H
#define MACHVMFS_ERRORS_H

#include <stddef.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>

/*
 * fs_layout.md's table: INVALID_ADDRESS EFAULT, PROTECTION_FAILURE EACCES,
 * NO_SPACE ENOSPC, INVALID_ARGUMENT and INVALID_VALUE EINVAL, FAILURE EIO,
 * RESOURCE_SHORTAGE ENOMEM, INVALID_HOST and NO_ACCESS EPERM, INVALID_TASK
 * ESRCH; anything else EIO.  KERN_SUCCESS is 0.
 */
int fs_errno(kern_return_t kr);

/*
 * Records "KERN_NAME: <text>" as the last error of task (0: the last error of
 * tasks/ctl), logs it with -d, and copies the line into out (cap bytes) when
 * out is not NULL.  Returns fs_errno(kr).
 */
/*
 * The cause the engine recorded for the call this thread made last (see
 * <machvm/why.h>), as ": <cause>" in buf, or "" when it recorded none.
 * Read it right after the failed call, before any other call of the kind
 * that keeps the record.  Returns buf.
 */
const char *fs_why_text(char *buf, size_t cap);

int fs_fail(task_t task, char *out, size_t cap, kern_return_t kr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
