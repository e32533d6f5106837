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

/*
 * maps and maps.json are written by hand straight into the buffer, room for
 * the whole text reserved first: the text is the answer's size, and
 * formatting each field through printf would cost more than taking the
 * snapshot (tens of thousands of regions).
 */

static char *
put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* Every byte as two lower-case hex digits. */
static const char hex_pairs[513] =
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* v as exactly 16 lower-case hex digits. */
static char *
put_hex16(char *p, uint64_t v)
{
	for (int i = 14; i >= 0; i -= 2) {
		memcpy(p + i, hex_pairs + 2 * (v & 0xff), 2);
		v >>= 8;
	}
	return p + 16;
}

/* v in lower-case hex without leading zeros ("0" for 0). */
static char *
put_hex(char *p, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = hex[v & 15];
		v >>= 4;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *
put_dec(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *
put_prot(char *p, vm_prot_t prot)
{
	p[0] = (prot & VM_PROT_READ) ? 'r' : '-';
	p[1] = (prot & VM_PROT_WRITE) ? 'w' : '-';
	p[2] = (prot & VM_PROT_EXECUTE) ? 'x' : '-';
	return p + 3;
}

/* The longest maps line: two addresses, the fixed words, the longest names
 * and numbers (147 bytes); 192 is well above. */
#define MAPS_LINE_MAX 192

int
fs_read_maps(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t *r;
	size_t count;
	char *p;
	int rc = snapshot(n->task, &r, &count);

	if (rc)
		return rc;
	if (count && !reserve(out, count * MAPS_LINE_MAX)) {
		free(r);
		return -ENOMEM;
	}
	p = out->data + out->len;
	for (size_t i = 0; i < count; i++) {
		p = put_hex16(p, r[i].start);
		*p++ = '-';
		p = put_hex16(p, r[i].start + r[i].size);
		*p++ = ' ';
		p = put_prot(p, r[i].protection);
		*p++ = '/';
		p = put_prot(p, r[i].max_protection);
		*p++ = ' ';
		p = put_str(p, fs_inherit_name(r[i].inheritance));
		p = put_str(p, " wired=");
		p = put_dec(p, r[i].wired_count);
		*p++ = ' ';
		p = put_str(p, machvm_share_mode_name(r[i].share_mode));
		p = put_str(p, r[i].shared ? " shared=yes object=" : " shared=no object=");
		p = r[i].object_id ? put_dec(p, r[i].object_id) : put_str(p, "none");
		p = put_str(p, " offset=0x");
		p = put_hex(p, r[i].offset);
		*p++ = '\n';
	}
	if (count) {
		out->len = (size_t)(p - out->data);
		out->data[out->len] = '\0';
	}
	free(r);
	return fs_buf_status(out);
}

/* One JSON member line: indent, "key": and the value's text (already
 * placed by the caller after the returned pointer). */
static char *
put_key(char *p, const char *key)
{
	p = put_str(p, "    \"");
	p = put_str(p, key);
	return put_str(p, "\": ");
}

static char *
put_json_str(char *p, const char *key, const char *value)
{
	p = put_key(p, key);
	*p++ = '"';
	p = put_str(p, value);
	return put_str(p, "\",\n");
}

static char *
put_json_num(char *p, const char *key, uint64_t value)
{
	p = put_dec(put_key(p, key), value);
	return put_str(p, ",\n");
}

/* The longest object: 21 members, the longest names and 20-digit numbers. */
#define JSON_REGION_MAX 1024

/*
 * The whole array as an indent-2 JSON dump with keys in the order of
 * fs_layout.md (the layout jansson's JSON_INDENT(2) and Python's
 * json.dumps(indent=2) give), then a newline like every other file.
 */
int
fs_read_maps_json(const struct fs_node *n, struct fs_buf *out)
{
	vm_region_extended_info_t *r;
	size_t count;
	char *p;
	int rc = snapshot(n->task, &r, &count);

	if (rc)
		return rc;
	if (count == 0) {
		fs_buf_put(out, "[]\n", 3);
		return fs_buf_status(out);
	}
	if (count > SIZE_MAX / JSON_REGION_MAX || !reserve(out, count * JSON_REGION_MAX + 8)) {
		free(r);
		return -ENOMEM;
	}
	p = out->data + out->len;
	*p++ = '[';
	for (size_t i = 0; i < count; i++) {
		const vm_region_extended_info_t *x = &r[i];
		char prot[4], max[4];

		fs_prot_letters(x->protection, prot);
		fs_prot_letters(x->max_protection, max);
		p = put_str(p, i ? ",\n  {\n" : "\n  {\n");
		p = put_key(p, "start");
		p = put_str(p, "\"0x");
		p = put_hex16(p, x->start);
		p = put_str(p, "\",\n");
		p = put_key(p, "end");
		p = put_str(p, "\"0x");
		p = put_hex16(p, x->start + x->size);
		p = put_str(p, "\",\n");
		p = put_json_num(p, "size", x->size);
		p = put_json_str(p, "protection", prot);
		p = put_json_str(p, "max_protection", max);
		p = put_json_str(p, "inheritance", fs_inherit_name(x->inheritance));
		p = put_json_num(p, "wired", x->wired_count);
		p = put_key(p, "shared");
		p = put_str(p, x->shared ? "true,\n" : "false,\n");
		p = put_key(p, "needs_copy");
		p = put_str(p, x->needs_copy ? "true,\n" : "false,\n");
		p = put_json_str(p, "share_mode", machvm_share_mode_name(x->share_mode));
		if (x->object_id)
			p = put_json_num(p, "object", x->object_id);
		else
			p = put_str(put_key(p, "object"), "null,\n");
		p = put_json_num(p, "offset", x->offset);
		p = put_json_num(p, "shadow_depth", x->shadow_depth);
		p = put_json_num(p, "ref_count", x->ref_count);
		p = put_json_num(p, "resident_pages", x->resident_pages);
		p = put_json_str(p, "cache", fs_attr_value_name(x->cache));
		p = put_json_str(p, "migrate", fs_attr_value_name(x->migrate));
		p = put_json_str(p, "replicate", fs_attr_value_name(x->replicate));
		p = put_json_num(p, "cache_flushes", x->cache_flushes);
		p = put_json_num(p, "dcache_flushes", x->dcache_flushes);
		p = put_dec(put_key(p, "icache_flushes"), x->icache_flushes);
		p = put_str(p, "\n  }");
	}
	p = put_str(p, "\n]\n");
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
	free(r);
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
