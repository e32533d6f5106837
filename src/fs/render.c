/*
 * render.c - see render.h.
 *
 * Formats (fixed by the project brief, described in fs_layout.md): addresses
 * 0x%016llx, sizes and counts in decimal, protections as rwx letters,
 * offsets 0x%llx, every text ending in a newline.  A file's text is built
 * from one engine query, so it is one consistent state; per-region files ask
 * only for their own region (O(log n)), whole-map files take one snapshot.
 */
#include "render.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
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

static const char *
yes_no(boolean_t b)
{
	return b ? "yes" : "no";
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
fs_read_host_stats(const struct fs_node *n, struct fs_buf *out)
{
	machvm_host_stats_t s;

	(void)n;
	if (machvm_host_stats(&s) != KERN_SUCCESS)
		return -EIO;
	fs_buf_printf(out,
	              "tasks %llu\nentries %llu\nobjects %llu\nresident_pages %llu\n"
	              "wired_pages %llu\nvirtual_size %llu\nfaults %llu\n"
	              "zero_fill_faults %llu\ncow_faults %llu\nshadows_created %llu\n"
	              "collapses %llu\nbypasses %llu\npages_copied %llu\n",
	              (unsigned long long)s.tasks, (unsigned long long)s.entries,
	              (unsigned long long)s.objects, (unsigned long long)s.resident_pages,
	              (unsigned long long)s.wired_pages, (unsigned long long)s.virtual_size,
	              (unsigned long long)s.faults, (unsigned long long)s.zero_fill_faults,
	              (unsigned long long)s.cow_faults, (unsigned long long)s.shadows_created,
	              (unsigned long long)s.collapses, (unsigned long long)s.bypasses,
	              (unsigned long long)s.pages_copied);
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

/* The whole map at one instant; -ENOENT for a dead task. */
static int
snapshot(task_t task, vm_region_extended_info_t **regions, size_t *count)
{
	kern_return_t kr = machvm_region_snapshot(task, regions, count);

	if (kr == KERN_RESOURCE_SHORTAGE)
		return -ENOMEM;
	if (kr != KERN_SUCCESS)
		return -ENOENT;
	return 0;
}

/* "none" or the object id in decimal, into buf of 24 bytes. */
static const char *
object_text(uint64_t id, char buf[24])
{
	if (id == 0)
		return "none";
	snprintf(buf, 24, "%llu", (unsigned long long)id);
	return buf;
}

int
fs_read_maps(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t *r;
	size_t count;
	int rc = snapshot(n->task, &r, &count);

	if (rc)
		return rc;
	for (size_t i = 0; i < count; i++) {
		char prot[4], max[4], obj[24];

		fs_prot_letters(r[i].protection, prot);
		fs_prot_letters(r[i].max_protection, max);
		fs_buf_printf(out, "%016llx-%016llx %s/%s %s wired=%u %s shared=%s "
		              "object=%s offset=0x%llx\n",
		              (unsigned long long)r[i].start,
		              (unsigned long long)(r[i].start + r[i].size), prot, max,
		              fs_inherit_name(r[i].inheritance), r[i].wired_count,
		              machvm_share_mode_name(r[i].share_mode), yes_no(r[i].shared),
		              object_text(r[i].object_id, obj),
		              (unsigned long long)r[i].offset);
	}
	free(r);
	return fs_buf_status(out);
}

/* "0x%016llx" as a new JSON string. */
static json_t *
json_address(vm_address_t a)
{
	char text[24];

	snprintf(text, sizeof text, "0x%016llx", (unsigned long long)a);
	return json_string(text);
}

static json_t *
json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

/* One region as a JSON object with the brief's keys in the brief's order;
 * NULL when out of memory. */
static json_t *
region_json(const vm_region_extended_info_t *r)
{
	json_t *o = json_object();
	char prot[4], max[4];
	int bad = 0;

	if (!o)
		return NULL;
	fs_prot_letters(r->protection, prot);
	fs_prot_letters(r->max_protection, max);
	bad |= json_object_set_new(o, "start", json_address(r->start));
	bad |= json_object_set_new(o, "end", json_address(r->start + r->size));
	bad |= json_object_set_new(o, "size", json_u64(r->size));
	bad |= json_object_set_new(o, "protection", json_string(prot));
	bad |= json_object_set_new(o, "max_protection", json_string(max));
	bad |= json_object_set_new(o, "inheritance", json_string(fs_inherit_name(r->inheritance)));
	bad |= json_object_set_new(o, "wired", json_u64(r->wired_count));
	bad |= json_object_set_new(o, "shared", json_boolean(r->shared));
	bad |= json_object_set_new(o, "needs_copy", json_boolean(r->needs_copy));
	bad |= json_object_set_new(o, "share_mode", json_string(machvm_share_mode_name(r->share_mode)));
	bad |= json_object_set_new(o, "object", r->object_id ? json_u64(r->object_id) : json_null());
	bad |= json_object_set_new(o, "offset", json_u64(r->offset));
	bad |= json_object_set_new(o, "shadow_depth", json_u64(r->shadow_depth));
	bad |= json_object_set_new(o, "ref_count", json_u64(r->ref_count));
	bad |= json_object_set_new(o, "resident_pages", json_u64(r->resident_pages));
	bad |= json_object_set_new(o, "cache", json_string(fs_attr_value_name(r->cache)));
	bad |= json_object_set_new(o, "migrate", json_string(fs_attr_value_name(r->migrate)));
	bad |= json_object_set_new(o, "replicate", json_string(fs_attr_value_name(r->replicate)));
	bad |= json_object_set_new(o, "cache_flushes", json_u64(r->cache_flushes));
	bad |= json_object_set_new(o, "dcache_flushes", json_u64(r->dcache_flushes));
	bad |= json_object_set_new(o, "icache_flushes", json_u64(r->icache_flushes));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The whole array, indented by two with keys in insertion order, so the text
 * is byte-stable; followed by a newline like every other file.
 */
int
fs_read_maps_json(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t *r;
	size_t count;
	json_t *arr;
	char *text = NULL;
	int rc = snapshot(n->task, &r, &count);

	if (rc)
		return rc;
	arr = json_array();
	for (size_t i = 0; arr && i < count; i++) {
		if (json_array_append_new(arr, region_json(&r[i])) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	free(r);
	if (arr)
		text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(arr);
	if (!text)
		return -ENOMEM;
	fs_buf_printf(out, "%s\n", text);
	free(text);
	return fs_buf_status(out);
}

/* ---- region level --------------------------------------------------- */

/* What vm_region says of the region starting exactly at n->start. */
struct basic {
	vm_size_t    size;
	vm_prot_t    protection;
	vm_prot_t    max_protection;
	vm_inherit_t inheritance;
	boolean_t    shared;
	vm_offset_t  offset;
};

static int
region_basic(const struct fs_node *n, struct basic *b)
{
	vm_address_t a = n->start;
	mach_port_t object;

	if (vm_region(n->task, &a, &b->size, &b->protection, &b->max_protection,
	              &b->inheritance, &b->shared, &object, &b->offset) != KERN_SUCCESS
	    || a != n->start)
		return -ENOENT;
	return 0;
}

/* The extended report of the region starting exactly at n->start. */
static int
region_ext(const struct fs_node *n, vm_region_extended_info_t *x)
{
	vm_address_t a = n->start;

	if (vm_region_extended(n->task, &a, x) != KERN_SUCCESS || x->start != n->start)
		return -ENOENT;
	return 0;
}

int
fs_read_start(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_buf_printf(out, "0x%016llx\n", (unsigned long long)n->start);
	return fs_buf_status(out);
}

int
fs_read_end(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_buf_printf(out, "0x%016llx\n", (unsigned long long)(n->start + b.size));
	return fs_buf_status(out);
}

int
fs_read_size(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_buf_printf(out, "%llu\n", (unsigned long long)b.size);
	return fs_buf_status(out);
}

int
fs_read_protection(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	char prot[4];
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_prot_letters(b.protection, prot);
	fs_buf_printf(out, "%s\n", prot);
	return fs_buf_status(out);
}

int
fs_read_max_protection(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	char prot[4];
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_prot_letters(b.max_protection, prot);
	fs_buf_printf(out, "%s\n", prot);
	return fs_buf_status(out);
}

int
fs_read_inheritance(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_buf_printf(out, "%s\n", fs_inherit_name(b.inheritance));
	return fs_buf_status(out);
}

int
fs_read_shared(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_buf_printf(out, "%s\n", yes_no(b.shared));
	return fs_buf_status(out);
}

int
fs_read_offset(const struct fs_node *n, struct fs_buf *out)
{
	struct basic b;
	int rc = region_basic(n, &b);

	if (rc)
		return rc;
	fs_buf_printf(out, "0x%llx\n", (unsigned long long)b.offset);
	return fs_buf_status(out);
}

int
fs_read_wired(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t x;
	int rc = region_ext(n, &x);

	if (rc)
		return rc;
	fs_buf_printf(out, "%u\n", x.wired_count);
	return fs_buf_status(out);
}

int
fs_read_attr(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t x;
	int rc = region_ext(n, &x);

	if (rc)
		return rc;
	fs_buf_printf(out, "cache %s\nmigrate %s\nreplicate %s\n",
	              fs_attr_value_name(x.cache), fs_attr_value_name(x.migrate),
	              fs_attr_value_name(x.replicate));
	return fs_buf_status(out);
}

int
fs_read_share_mode(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t x;
	int rc = region_ext(n, &x);

	if (rc)
		return rc;
	fs_buf_printf(out, "%s\n", machvm_share_mode_name(x.share_mode));
	return fs_buf_status(out);
}

/* From the extended report: vm_region's object name is cut to 32 bits. */
int
fs_read_object(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t x;
	char obj[24];
	int rc = region_ext(n, &x);

	if (rc)
		return rc;
	fs_buf_printf(out, "%s\n", object_text(x.object_id, obj));
	return fs_buf_status(out);
}

int
fs_read_info(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t x;
	char prot[4], max[4], obj[24];
	int rc = region_ext(n, &x);

	if (rc)
		return rc;
	fs_prot_letters(x.protection, prot);
	fs_prot_letters(x.max_protection, max);
	fs_buf_printf(out,
	              "start 0x%016llx\nend 0x%016llx\nsize %llu\nprotection %s\n"
	              "max_protection %s\ninheritance %s\nwired %u\nshared %s\n"
	              "needs_copy %s\nshare_mode %s\nobject %s\noffset 0x%llx\n"
	              "shadow_depth %u\nref_count %u\nresident_pages %llu\ncache %s\n"
	              "migrate %s\nreplicate %s\ncache_flushes %llu\n"
	              "dcache_flushes %llu\nicache_flushes %llu\n",
	              (unsigned long long)x.start, (unsigned long long)(x.start + x.size),
	              (unsigned long long)x.size, prot, max, fs_inherit_name(x.inheritance),
	              x.wired_count, yes_no(x.shared), yes_no(x.needs_copy),
	              machvm_share_mode_name(x.share_mode), object_text(x.object_id, obj),
	              (unsigned long long)x.offset, x.shadow_depth, x.ref_count,
	              (unsigned long long)x.resident_pages, fs_attr_value_name(x.cache),
	              fs_attr_value_name(x.migrate), fs_attr_value_name(x.replicate),
	              (unsigned long long)x.cache_flushes,
	              (unsigned long long)x.dcache_flushes,
	              (unsigned long long)x.icache_flushes);
	return fs_buf_status(out);
}
