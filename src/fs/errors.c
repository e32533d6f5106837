/*
 * errors.c - see errors.h.
 */
#include "errors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <machvm/machvm.h>

#include "cache.h"
#include "log.h"
#include "render.h"
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
	case MIG_BAD_ID:              return ENOSYS;
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

const char *
fs_why_text(char *buf, size_t cap)
{
	struct machvm_why w;
	unsigned long long a, s, e;
	char prot[4], max[4], wanted[4];
	unsigned task;
	vm_size_t page = 4096;

	buf[0] = '\0';
	if (machvm_why_get(&w) != KERN_SUCCESS || w.kind == MACHVM_WHY_NONE)
		return buf;
	a = w.address;
	s = w.start;
	e = w.end;
	task = (unsigned)w.task;
	fs_prot_letters(w.protection, prot);
	fs_prot_letters(w.max_protection, max);
	fs_prot_letters(w.wanted, wanted);
	switch (w.kind) {
	case MACHVM_WHY_HOLE:
		snprintf(buf, cap, ": nothing is mapped at 0x%llx in task %u (a hole up to 0x%llx)",
		         a, task, e);
		break;
	case MACHVM_WHY_OVERLAP:
		snprintf(buf, cap, ": [0x%llx, 0x%llx) overlaps the region [0x%llx, 0x%llx) of task %u",
		         a, a + (unsigned long long)w.size, s, e, task);
		break;
	case MACHVM_WHY_MAX_PROTECTION:
		snprintf(buf, cap, ": the region [0x%llx, 0x%llx) of task %u has maximum protection "
		         "%s, which does not allow %s", s, e, task, max, wanted);
		break;
	case MACHVM_WHY_PROTECTION:
		snprintf(buf, cap, ": the page 0x%llx of task %u has protection %s (region [0x%llx, "
		         "0x%llx), maximum %s), which does not allow %s", a, task, prot, s, e, max,
		         wanted);
		break;
	case MACHVM_WHY_NOT_WIRED:
		snprintf(buf, cap, ": the region [0x%llx, 0x%llx) of task %u is not wired", s, e, task);
		break;
	case MACHVM_WHY_WIRE_LIMIT:
		snprintf(buf, cap, ": the region [0x%llx, 0x%llx) of task %u is wired %u times, the "
		         "most a count holds", s, e, task, w.wired_count);
		break;
	case MACHVM_WHY_OUTSIDE:
		(void)host_page_size(mach_host_self(), &page);
		snprintf(buf, cap, ": [0x%llx, 0x%llx) is outside the user range [0x%llx, 0x%llx)",
		         s, e, (unsigned long long)page, (unsigned long long)MACHVM_USER_MAX);
		break;
	case MACHVM_WHY_NO_ROOM:
		if (w.mask)
			snprintf(buf, cap, ": task %u has no free range of %llu bytes at or above 0x%llx "
			         "aligned to mask 0x%llx", task, (unsigned long long)w.size, a,
			         (unsigned long long)w.mask);
		else
			snprintf(buf, cap, ": task %u has no free range of %llu bytes at or above 0x%llx",
			         task, (unsigned long long)w.size, a);
		break;
	case MACHVM_WHY_MASK:
		snprintf(buf, cap, ": 0x%llx has bits of the mask 0x%llx set", a,
		         (unsigned long long)w.mask);
		break;
	case MACHVM_WHY_WRAPS:
		snprintf(buf, cap, ": 0x%llx + %llu, rounded to pages, wraps past 2^64", a,
		         (unsigned long long)w.size);
		break;
	case MACHVM_WHY_TASK_WIRED:
	case MACHVM_WHY_TASK_MAPPED:
		snprintf(buf, cap, ": task %u would have %llu bytes %s, past its limit of %llu "
		         "(task_max_%s)", task, (unsigned long long)(w.used + w.size),
		         w.kind == MACHVM_WHY_TASK_WIRED ? "wired" : "mapped",
		         (unsigned long long)w.limit,
		         w.kind == MACHVM_WHY_TASK_WIRED ? "wired" : "mapped");
		break;
	case MACHVM_WHY_MEMORY:
		snprintf(buf, cap, ": the host holds %llu bytes and would need %llu more, past its "
		         "memory limit of %llu (max_memory)", (unsigned long long)w.used,
		         (unsigned long long)w.size, (unsigned long long)w.limit);
		break;
	default:
		snprintf(buf, cap, ": %s", machvm_why_name(w.kind));
		break;
	}
	return buf;
}
