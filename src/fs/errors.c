/*
 * errors.c - see errors.h.
 */
#include "errors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "cache.h"
#include "log.h"
#include "taskinfo.h"

int
fs_errno(kern_return_t kr)
{
	switch (kr) {
	case KERN_SUCCESS:            return 0;
	case KERN_INVALID_ADDRESS:    return EFAULT;
	case KERN_PROTECTION_FAILURE: return EACCES;
	case KERN_NO_SPACE:           return ENOSPC;
	case KERN_INVALID_ARGUMENT:   return EINVAL;
	case KERN_INVALID_VALUE:      return EINVAL;
	case KERN_FAILURE:            return EIO;
	case KERN_RESOURCE_SHORTAGE:  return ENOMEM;
	case KERN_INVALID_HOST:       return EPERM;
	case KERN_NO_ACCESS:          return EPERM;
	case KERN_INVALID_TASK:       return ESRCH;
	default:                      return EIO;
	}
}

int
fs_fail(task_t task, char *out, size_t cap, kern_return_t kr, const char *fmt, ...)
{
	char line[FS_LAST_ERROR_MAX];
	int n = snprintf(line, sizeof line, "%s: ", kern_return_name(kr));
	va_list ap;

	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	/* Parts of the line echo user input: keep it one line of printable
	 * ASCII whatever bytes came in. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	fs_taskinfo_set_error(task, line);
	fs_cache_attr_stale();          /* last_error's size */
	if (out && cap)
		snprintf(out, cap, "%s", line);
	fs_debug("%s", line);
	return fs_errno(kr);
}
