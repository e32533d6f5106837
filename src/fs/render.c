/*
 * render.c - see render.h.
 *
 * Formats (described in fs_layout.md): counts in decimal, every text
 * ending in a newline.  A file's text is built from one engine query, so it
 * is one consistent state.  The region files and the whole-map files are
 * written from the fields table (fields.c).
 */
#include "render.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "taskinfo.h"

/* ---- the buffer ------------------------------------------------------ */

void
fs_buf_init(struct fs_buf *b)
{
	memset(b, 0, sizeof *b);
}

void
fs_buf_free(struct fs_buf *b)
{
	free(b->data);
	fs_buf_init(b);
}

/* Makes room for n more bytes plus a NUL; false (and failed set) if it cannot. */
static bool
reserve(struct fs_buf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (b->failed)
		return false;
	if (n > SIZE_MAX - b->len - 1) {
		b->failed = true;
		return false;
	}
	want = b->len + n + 1;
	if (want <= b->cap)
		return true;
	cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void
fs_buf_put(struct fs_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

char *
fs_buf_room(struct fs_buf *b, size_t n)
{
	return reserve(b, n) ? b->data + b->len : NULL;
}

void
fs_buf_commit(struct fs_buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

void
fs_buf_printf(struct fs_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof small) {
		fs_buf_put(b, small, (size_t)n);
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int
fs_buf_status(const struct fs_buf *b)
{
	return b->failed ? -ENOMEM : 0;
}

/* ---- value names --------------------------------------------------- */

void
fs_prot_letters(vm_prot_t prot, char out[4])
{
	out[0] = (prot & VM_PROT_READ) ? 'r' : '-';
	out[1] = (prot & VM_PROT_WRITE) ? 'w' : '-';
	out[2] = (prot & VM_PROT_EXECUTE) ? 'x' : '-';
	out[3] = '\0';
}

const char *
fs_inherit_name(vm_inherit_t inh)
{
	switch (inh) {
	case VM_INHERIT_SHARE: return "share";
	case VM_INHERIT_COPY:  return "copy";
	case VM_INHERIT_NONE:  return "none";
	default:               return "?";
	}
}

const char *
fs_attr_value_name(int value)
{
	return value == MATTR_VAL_ON ? "on" : "off";
}

/* ---- host and tasks level ------------------------------------------ */

int
fs_read_page_size(const struct fs_node *n, struct fs_buf *out)
{
	vm_size_t ps;

	(void)n;
	if (host_page_size(mach_host_self(), &ps) != KERN_SUCCESS)
		return -EIO;
	fs_buf_printf(out, "%llu\n", (unsigned long long)ps);
	return fs_buf_status(out);
}

int
fs_read_personality(const struct fs_node *n, struct fs_buf *out)
{
	(void)n;
	fs_buf_printf(out, "%s\n", machvm_personality_name(machvm_host_personality()));
	return fs_buf_status(out);
}

int
fs_read_host_stats(const struct fs_node *n, struct fs_buf *out)
{
	machvm_host_stats_t s;
	machvm_task_limits_t l;

	(void)n;
	if (machvm_host_stats(&s) != KERN_SUCCESS || machvm_host_get_task_limits(&l) != KERN_SUCCESS)
		return -EIO;
	fs_buf_printf(out,
	              "tasks %llu\nentries %llu\nobjects %llu\nresident_pages %llu\n"
	              "wired_pages %llu\nvirtual_size %llu\nfaults %llu\n"
	              "zero_fill_faults %llu\ncow_faults %llu\nshadows_created %llu\n"
	              "collapses %llu\nbypasses %llu\npages_copied %llu\n"
	              "memory_used %llu\nmemory_limit %llu\n"
	              "task_max_wired %llu\ntask_max_mapped %llu\n",
	              (unsigned long long)s.tasks, (unsigned long long)s.entries,
	              (unsigned long long)s.objects, (unsigned long long)s.resident_pages,
	              (unsigned long long)s.wired_pages, (unsigned long long)s.virtual_size,
	              (unsigned long long)s.faults, (unsigned long long)s.zero_fill_faults,
	              (unsigned long long)s.cow_faults, (unsigned long long)s.shadows_created,
	              (unsigned long long)s.collapses, (unsigned long long)s.bypasses,
	              (unsigned long long)s.pages_copied,
	              (unsigned long long)s.memory_used, (unsigned long long)s.memory_limit,
	              (unsigned long long)l.max_wired, (unsigned long long)l.max_mapped);
	return fs_buf_status(out);
}

/* tasks/last_error (task 0) and tasks/<id>/last_error. */
int
fs_read_last_error(const struct fs_node *n, struct fs_buf *out)
{
	char line[FS_LAST_ERROR_MAX];

	if (n->task != TASK_NULL && !machvm_task_alive(n->task))
		return -ENOENT;
	fs_taskinfo_get_error(n->task, line, sizeof line);
	fs_buf_printf(out, "%s\n", line);
	return fs_buf_status(out);
}

/* ---- task level ----------------------------------------------------- */

int
fs_read_parent(const struct fs_node *n, struct fs_buf *out)
{
	machvm_task_stats_t s;

	if (machvm_task_stats(n->task, &s) != KERN_SUCCESS)
		return -ENOENT;
	if (s.parent == TASK_NULL)
		fs_buf_printf(out, "none\n");
	else
		fs_buf_printf(out, "%u\n", (unsigned)s.parent);
	return fs_buf_status(out);
}

int
fs_read_status(const struct fs_node *n, struct fs_buf *out)
{
	machvm_task_stats_t s;
	uid_t uid;
	gid_t gid;
	char parent[16];

	if (machvm_task_stats(n->task, &s) != KERN_SUCCESS)
		return -ENOENT;
	fs_taskinfo_owner(n->task, &uid, &gid);
	if (s.parent == TASK_NULL)
		snprintf(parent, sizeof parent, "none");
	else
		snprintf(parent, sizeof parent, "%u", (unsigned)s.parent);
	fs_buf_printf(out,
	              "id %u\nparent %s\nowner %u\nregions %llu\nvirtual_size %llu\n"
	              "resident_pages %llu\nwired_pages %llu\nobjects %llu\n"
	              "max_shadow_depth %llu\nfaults %llu\nzero_fill_faults %llu\n"
	              "cow_faults %llu\n",
	              (unsigned)s.id, parent, (unsigned)uid,
	              (unsigned long long)s.regions, (unsigned long long)s.virtual_size,
	              (unsigned long long)s.resident_pages, (unsigned long long)s.wired_pages,
	              (unsigned long long)s.objects, (unsigned long long)s.max_shadow_depth,
	              (unsigned long long)s.faults, (unsigned long long)s.zero_fill_faults,
	              (unsigned long long)s.cow_faults);
	return fs_buf_status(out);
}
