/*
 * fields.c - see fields.h.
 *
 * Values are written by hand straight into the buffer (no printf): maps
 * and maps.json of tens of thousands of regions are written field by
 * field, and formatting through printf would cost more than taking the
 * snapshot.  Room for the whole text is reserved first, from the longest
 * a field can be.
 */
#include "fields.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Each field's value as a number, from the engine's report of the region. */
#define GETTER(name, expr) \
	static uint64_t get_##name(const vm_region_extended_info_t *x) { return (uint64_t)(expr); }
GETTER(start, x->start)
GETTER(end, x->start + x->size)
GETTER(size, x->size)
GETTER(protection, x->protection)
GETTER(max_protection, x->max_protection)
GETTER(inheritance, x->inheritance)
GETTER(wired, x->wired_count)
GETTER(shared, x->shared)
GETTER(needs_copy, x->needs_copy)
GETTER(share_mode, x->share_mode)
GETTER(object, x->object_id)
GETTER(offset, x->offset)
GETTER(shadow_depth, x->shadow_depth)
GETTER(ref_count, x->ref_count)
GETTER(resident_pages, x->resident_pages)
GETTER(cache, x->cache == MATTR_VAL_ON)
GETTER(migrate, x->migrate == MATTR_VAL_ON)
GETTER(replicate, x->replicate == MATTR_VAL_ON)
GETTER(cache_flushes, x->cache_flushes)
GETTER(dcache_flushes, x->dcache_flushes)
GETTER(icache_flushes, x->icache_flushes)
GETTER(private_pages, x->private_pages)
GETTER(shared_pages, x->shared_pages)
GETTER(cow_pages, x->cow_pages)

#define FIELD(name, type, extended, shown) { #name, type, extended, shown, get_##name }

/* Order: the order of info and of maps.json's members. */
const struct fs_field fs_fields[] = {
	FIELD(start,          FT_ADDR,       false, FF_FILE),
	FIELD(end,            FT_ADDR,       false, FF_FILE),
	FIELD(size,           FT_COUNT,      false, FF_FILE),
	FIELD(protection,     FT_PROT,       false, FF_FILE),
	FIELD(max_protection, FT_PROT,       false, FF_FILE),
	FIELD(inheritance,    FT_INHERIT,    false, FF_FILE),
	FIELD(wired,          FT_COUNT,      true,  FF_FILE),
	FIELD(shared,         FT_BOOL,       false, FF_FILE),
	FIELD(needs_copy,     FT_BOOL,       true,  FF_FILE),
	FIELD(share_mode,     FT_SHARE_MODE, true,  FF_FILE),
	FIELD(object,         FT_OBJECT,     true,  FF_FILE),
	FIELD(offset,         FT_HEX,        false, FF_FILE),
	FIELD(shadow_depth,   FT_COUNT,      true,  0),
	FIELD(ref_count,      FT_COUNT,      true,  0),
	FIELD(resident_pages, FT_COUNT,      true,  0),
	FIELD(cache,          FT_ONOFF,      true,  FF_ATTR),
	FIELD(migrate,        FT_ONOFF,      true,  FF_ATTR),
	FIELD(replicate,      FT_ONOFF,      true,  FF_ATTR),
	FIELD(cache_flushes,  FT_COUNT,      true,  0),
	FIELD(dcache_flushes, FT_COUNT,      true,  0),
	FIELD(icache_flushes, FT_COUNT,      true,  0),
	/* resident_pages split by what the next write does (objects.h). */
	FIELD(private_pages,  FT_COUNT,      true,  0),
	FIELD(shared_pages,   FT_COUNT,      true,  0),
	FIELD(cow_pages,      FT_COUNT,      true,  0),
};
const size_t fs_nfields = sizeof fs_fields / sizeof fs_fields[0];

/* The longest a value can be written (a 20-digit count, "shared_aliased"). */
#define VALUE_MAX 24

/* ---- writing values ------------------------------------------------- */

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

enum style { S_TEXT, S_JSON, S_MAPS };

/* Field i of x as style wants it; at most VALUE_MAX bytes. */
static char *
put_value(char *p, size_t i, const vm_region_extended_info_t *x, enum style style)
{
	uint64_t v = fs_fields[i].get(x);
	char prot[4];

	switch (fs_fields[i].type) {
	case FT_ADDR:
		if (style == S_MAPS)
			return put_hex16(p, v);
		p = put_str(p, style == S_JSON ? "\"0x" : "0x");
		p = put_hex16(p, v);
		return style == S_JSON ? put_str(p, "\"") : p;
	case FT_COUNT:
		return put_dec(p, v);
	case FT_PROT:
		fs_prot_letters((vm_prot_t)v, prot);
		return style == S_JSON ? put_str(put_str(put_str(p, "\""), prot), "\"")
		                       : put_str(p, prot);
	case FT_INHERIT:
	case FT_SHARE_MODE:
	case FT_ONOFF: {
		const char *s = fs_fields[i].type == FT_INHERIT ? fs_inherit_name((vm_inherit_t)v) :
		                fs_fields[i].type == FT_ONOFF ? (v ? "on" : "off") :
		                machvm_share_mode_name((unsigned)v);

		return style == S_JSON ? put_str(put_str(put_str(p, "\""), s), "\"")
		                       : put_str(p, s);
	}
	case FT_BOOL:
		if (style == S_JSON)
			return put_str(p, v ? "true" : "false");
		return put_str(p, v ? "yes" : "no");
	case FT_OBJECT:
		if (v)
			return put_dec(p, v);
		return put_str(p, style == S_JSON ? "null" : "none");
	case FT_HEX:
		if (style == S_JSON)
			return put_dec(p, v);
		if (style == S_TEXT)
			p = put_str(p, "0x");
		return put_hex(p, v);
	}
	return p;
}

static ssize_t
field_named(const char *name)
{
	for (size_t i = 0; i < fs_nfields; i++)
		if (strcmp(fs_fields[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* ---- one region ---------------------------------------------------- */

int
fs_region_next(task_t task, vm_address_t addr, bool extended, vm_region_extended_info_t *x)
{
	vm_address_t a = addr;
	vm_size_t size;
	vm_prot_t prot, max;
	vm_inherit_t inh;
	boolean_t shared;
	mach_port_t object;
	vm_offset_t offset;

	if (extended)
		return vm_region_extended(task, &a, x) == KERN_SUCCESS ? 0 : -ENOENT;
	if (vm_region(task, &a, &size, &prot, &max, &inh, &shared, &object, &offset)
	    != KERN_SUCCESS)
		return -ENOENT;
	memset(x, 0, sizeof *x);
	x->start = a;
	x->size = size;
	x->protection = prot;
	x->max_protection = max;
	x->inheritance = inh;
	x->shared = shared;
	x->offset = offset;
	return 0;
}

int
fs_region_get(task_t task, vm_address_t start, bool extended, vm_region_extended_info_t *x)
{
	if (fs_region_next(task, start, extended, x) != 0 || x->start != start)
		return -ENOENT;
	return 0;
}

/* Which fields the file named file shows, by FF_* or by its own name. */
static bool
file_shows(const char *file, size_t i)
{
	if (strcmp(file, "info") == 0)
		return true;
	if (strcmp(file, "attr") == 0)
		return fs_fields[i].shown & FF_ATTR;
	return (fs_fields[i].shown & FF_FILE) && strcmp(fs_fields[i].name, file) == 0;
}

/* Whether file shows any field (-1 if none), and whether one needs
 * vm_region_extended (1) or vm_region answers them all (0). */
static int
file_query(const char *file)
{
	int q = -1;

	for (size_t i = 0; i < fs_nfields; i++)
		if (file_shows(file, i) && q < 1)
			q = fs_fields[i].extended;
	return q;
}

const char *
fs_region_read_call(const char *file)
{
	int q = file_query(file);

	return q < 0 ? NULL : q ? "vm_region_extended" : "vm_region";
}

bool
fs_region_fixed_length(const char *file)
{
	ssize_t i = field_named(file);

	return i >= 0 && (fs_fields[i].shown & FF_FILE) &&
	       (fs_fields[i].type == FT_ADDR || fs_fields[i].type == FT_PROT);
}

int
fs_read_region(const struct fs_node *n, struct fs_buf *out)
{
	const char *file = fs_row_of(n)->name;
	int query = file_query(file);
	vm_region_extended_info_t x;
	bool single = field_named(file) >= 0;
	char *p, *at;
	int rc;

	if (query < 0)
		return -EIO;            /* a row with no field: a bug in the tables */
	rc = fs_region_get(n->task, n->start, query == 1, &x);
	if (rc)
		return rc;
	p = at = fs_buf_room(out, fs_nfields * (VALUE_MAX + 32));
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < fs_nfields; i++) {
		if (!file_shows(file, i))
			continue;
		if (!single) {
			p = put_str(p, fs_fields[i].name);
			*p++ = ' ';
		}
		p = put_value(p, i, &x, S_TEXT);
		*p++ = '\n';
	}
	fs_buf_commit(out, (size_t)(p - at));
	return 0;
}

/* ---- whole maps ----------------------------------------------------- */

/* The whole map at one instant; -ENOENT for a dead task. */
int
fs_map_snapshot(task_t task, vm_region_extended_info_t **regions, size_t *count)
{
	kern_return_t kr = machvm_region_snapshot(task, regions, count);

	if (kr == KERN_RESOURCE_SHORTAGE)
		return -ENOMEM;
	if (kr != KERN_SUCCESS)
		return -ENOENT;
	return 0;
}

/*
 * A maps line: the fields named here, each after its literal text.
 *   <start>-<end> <prot>/<max> <inheritance> wired=<n> <share_mode>
 *   shared=<yes|no> object=<id|none> offset=<hex>
 */
static const struct {
	const char *before;
	const char *field;
} maps_line[] = {
	{ "",           "start" },
	{ "-",          "end" },
	{ " ",          "protection" },
	{ "/",          "max_protection" },
	{ " ",          "inheritance" },
	{ " wired=",    "wired" },
	{ " ",          "share_mode" },
	{ " shared=",   "shared" },
	{ " object=",   "object" },
	{ " offset=0x", "offset" },
};
#define MAPS_ITEMS (sizeof maps_line / sizeof maps_line[0])
#define MAPS_LINE_MAX (MAPS_ITEMS * (VALUE_MAX + 12) + 1)

/* The fields of maps_line by index, looked up once. */
static size_t maps_idx[MAPS_ITEMS];
static pthread_once_t maps_idx_once = PTHREAD_ONCE_INIT;
static bool maps_idx_ok;

static void
maps_idx_init(void)
{
	maps_idx_ok = true;
	for (size_t k = 0; k < MAPS_ITEMS; k++) {
		ssize_t i = field_named(maps_line[k].field);

		if (i < 0)
			maps_idx_ok = false;
		else
			maps_idx[k] = (size_t)i;
	}
}

/* One maps line, newline included. */
static char *
put_maps_line(char *p, const vm_region_extended_info_t *x)
{
	for (size_t k = 0; k < MAPS_ITEMS; k++) {
		p = put_str(p, maps_line[k].before);
		p = put_value(p, maps_idx[k], x, S_MAPS);
	}
	*p++ = '\n';
	return p;
}

/* One object: every field a member line, "    \"key\": value". */
#define JSON_REGION_MAX (fs_nfields * (VALUE_MAX + 32) + 16)

/* One region of maps.json: "\n  {" ... "\n  }" (the comma between two
 * is the format's separator). */
static char *
put_json_region(char *p, const vm_region_extended_info_t *x)
{
	p = put_str(p, "\n  {");
	for (size_t f = 0; f < fs_nfields; f++) {
		p = put_str(p, f ? ",\n    \"" : "\n    \"");
		p = put_str(p, fs_fields[f].name);
		p = put_str(p, "\": ");
		p = put_value(p, f, x, S_JSON);
	}
	return put_str(p, "\n  }");
}

/*
 * maps: one line a region, nothing around them.  maps.json: the whole
 * array as an indent-2 JSON dump with members in the order of the fields
 * (the layout jansson's JSON_INDENT(2) and Python's json.dumps(indent=2)
 * give), then a newline like every other file.
 */
const struct fs_mapfmt fs_maps_fmt = { "", "", "", "", MAPS_LINE_MAX, put_maps_line };
const struct fs_mapfmt fs_maps_json_fmt = { "[", ",", "\n]\n", "[]\n", 0, put_json_region };

size_t
fs_mapfmt_max(const struct fs_mapfmt *f)
{
	return f->max ? f->max : JSON_REGION_MAX;
}

bool
fs_mapfmt_ready(void)
{
	pthread_once(&maps_idx_once, maps_idx_init);
	return maps_idx_ok;
}

int
fs_render_map(const vm_region_extended_info_t *r, size_t count, const struct fs_mapfmt *f,
              struct fs_buf *out, uint32_t *offsets)
{
	size_t max = fs_mapfmt_max(f), hl = strlen(f->head), sl = strlen(f->sep);
	char *p, *at;

	if (!fs_mapfmt_ready())
		return -EIO;            /* a field missing: a bug in the tables */
	if (count == 0) {
		fs_buf_put(out, f->empty, strlen(f->empty));
		return fs_buf_status(out);
	}
	p = at = count < (SIZE_MAX - 64) / (max + sl) ?
	         fs_buf_room(out, hl + count * (max + sl) + strlen(f->tail)) : NULL;
	if (!p)
		return -ENOMEM;
	p = put_str(p, f->head);
	for (size_t i = 0; i < count; i++) {
		if (i)
			p = put_str(p, f->sep);
		if (offsets)
			offsets[i] = (uint32_t)(out->len + (size_t)(p - at));
		p = f->put(p, &r[i]);
	}
	p = put_str(p, f->tail);
	fs_buf_commit(out, (size_t)(p - at));
	return 0;
}

static int
read_whole_map(const struct fs_node *n, const struct fs_mapfmt *f, struct fs_buf *out)
{
	vm_region_extended_info_t *r;
	size_t count;
	int rc = fs_map_snapshot(n->task, &r, &count);

	if (rc)
		return rc;
	rc = fs_render_map(r, count, f, out, NULL);
	free(r);
	return rc;
}

int
fs_read_maps(const struct fs_node *n, struct fs_buf *out)
{
	return read_whole_map(n, &fs_maps_fmt, out);
}

int
fs_read_maps_json(const struct fs_node *n, struct fs_buf *out)
{
	return read_whole_map(n, &fs_maps_json_fmt, out);
}
