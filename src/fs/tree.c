/*
 * tree.c - see tree.h.
 *
 * The table below is the whole tree.  Adding a file is one row (and its read
 * or write function); listing, lookup, inode numbers, modes, paths and the
 * layout dump all follow from the rows.
 */
#include "tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "ctl.h"
#include "parse.h"
#include "render.h"
#include "save.h"

#define M_DIR (S_IFDIR | 0755)
#define RO    (S_IFREG | 0444)
#define RW    (S_IFREG | 0644)

/* A row; read and write are function names (or NULL), kept as text too so
 * the dump shows exactly which handler serves which file. */
#define ROW(name, parent, opens, mode, flags, rd, wr) \
	{ name, parent, opens, mode, flags, rd, #rd, wr, #wr }

/* Region rows must stay together and start with the directory: their order
 * is part of the region inode numbers (see tree.h). */
const struct fs_row fs_rows[] = {
	ROW("",               FS_L_NONE,    FS_L_ROOT,    M_DIR, 0, NULL, NULL),
	ROW("host",           FS_L_ROOT,    FS_L_HOST,    M_DIR, 0, NULL, NULL),
	ROW("tasks",          FS_L_ROOT,    FS_L_TASKS,   M_DIR, 0, NULL, NULL),
	ROW("page_size",      FS_L_HOST,    FS_L_NONE,    RO, 0, fs_read_page_size, NULL),
	ROW("stats",          FS_L_HOST,    FS_L_NONE,    RO, 0, fs_read_host_stats, NULL),
	ROW("save",           FS_L_HOST,    FS_L_NONE,    RW, FS_RESULT, fs_read_save, fs_write_save),
	ROW("ctl",            FS_L_TASKS,   FS_L_NONE,    RW, FS_RESULT,
	    fs_read_tasks_ctl, fs_write_tasks_ctl),
	ROW("last_error",     FS_L_TASKS,   FS_L_NONE,    RO, 0, fs_read_last_error, NULL),
	ROW("<id>",           FS_L_TASKS,   FS_L_TASK,    M_DIR, FS_DYNAMIC, NULL, NULL),
	ROW("ctl",            FS_L_TASK,    FS_L_NONE,    RW, FS_RESULT,
	    fs_read_task_ctl, fs_write_task_ctl),
	ROW("parent",         FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_parent, NULL),
	ROW("status",         FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_status, NULL),
	ROW("last_error",     FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_last_error, NULL),
	ROW("maps",           FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_maps, NULL),
	ROW("maps.json",      FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_maps_json, NULL),
	ROW("mem",            FS_L_TASK,    FS_L_NONE,    RW, FS_DATA, NULL, NULL),
	ROW("remap",          FS_L_TASK,    FS_L_NONE,    RW, FS_RESULT,
	    fs_read_remap, fs_write_remap),
	ROW("regions",        FS_L_TASK,    FS_L_REGIONS, M_DIR, 0, NULL, NULL),
	ROW("<start>",        FS_L_REGIONS, FS_L_REGION,  M_DIR, FS_DYNAMIC, NULL, NULL),
	ROW("start",          FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_start, NULL),
	ROW("end",            FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_end, NULL),
	ROW("size",           FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_size, NULL),
	ROW("protection",     FS_L_REGION,  FS_L_NONE,    RW, 0,
	    fs_read_protection, fs_write_protection),
	ROW("max_protection", FS_L_REGION,  FS_L_NONE,    RW, 0,
	    fs_read_max_protection, fs_write_max_protection),
	ROW("inheritance",    FS_L_REGION,  FS_L_NONE,    RW, 0,
	    fs_read_inheritance, fs_write_inheritance),
	ROW("wired",          FS_L_REGION,  FS_L_NONE,    RW, 0, fs_read_wired, fs_write_wired),
	ROW("attr",           FS_L_REGION,  FS_L_NONE,    RW, 0, fs_read_attr, fs_write_attr),
	ROW("shared",         FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_shared, NULL),
	ROW("share_mode",     FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_share_mode, NULL),
	ROW("object",         FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_object, NULL),
	ROW("offset",         FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_offset, NULL),
	ROW("info",           FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_info, NULL),
};
const size_t fs_nrows = sizeof fs_rows / sizeof fs_rows[0];

/* The task directory's row (rows from it on belong to one task), the first
 * region-level row (the region directory) and the row count of that level;
 * fixed by the table above. */
#define TASK_ROW       8u
#define REGION_ROW     18u
#define REGION_KINDS   14u
#define ALIAS_KIND     15u

_Static_assert(sizeof fs_rows / sizeof fs_rows[0] == REGION_ROW + REGION_KINDS,
               "region rows must end the table");
_Static_assert(REGION_KINDS <= ALIAS_KIND, "region kinds must fit in 4 bits");

int
fs_tree_check(void)
{
	if (fs_rows[TASK_ROW].opens != FS_L_TASK || fs_rows[REGION_ROW].opens != FS_L_REGION)
		return -1;
	for (unsigned r = 0; r < fs_nrows; r++) {
		const struct fs_row *row = &fs_rows[r];
		bool has_task = row->parent >= FS_L_TASK ||
		                (row->parent == FS_L_TASKS && (row->flags & FS_DYNAMIC));

		if ((r >= REGION_ROW) != (row->parent >= FS_L_REGIONS) ||
		    (r >= TASK_ROW) != has_task)
			return -1;
	}
	return 0;
}

/* Is row a region directory or region file? */
static bool
region_level(unsigned row)
{
	return row >= REGION_ROW;
}

struct fs_node
fs_root_node(void)
{
	struct fs_node n = { 0 };

	return n;
}

/* ---- inode numbers -------------------------------------------------- */

#define REGION_BIT     ((uint64_t)1 << 63)
#define TASK_SHIFT     39
#define TASK_BITS      24
#define PAGE_SHIFT_INO 12
#define PAGE_BITS      35

uint64_t
fs_node_ino(const struct fs_node *n)
{
	uint64_t kind;

	if (!region_level(n->row))
		return ((uint64_t)n->task << 8) | (n->row + 1);
	if (n->task >= ((uint64_t)1 << TASK_BITS))
		return 0;
	kind = n->alias ? ALIAS_KIND : n->row - REGION_ROW;
	return REGION_BIT | ((uint64_t)n->task << TASK_SHIFT) |
	       ((n->start >> PAGE_SHIFT_INO) << 4) | kind;
}

int
fs_ino_node(uint64_t ino, struct fs_node *n)
{
	memset(n, 0, sizeof *n);
	if (ino & REGION_BIT) {
		uint64_t kind = ino & 15;

		if (kind >= REGION_KINDS && kind != ALIAS_KIND)
			return -ENOENT;
		n->alias = kind == ALIAS_KIND;
		n->row = REGION_ROW + (n->alias ? 0 : (unsigned)kind);
		n->task = (task_t)((ino >> TASK_SHIFT) & (((uint64_t)1 << TASK_BITS) - 1));
		n->start = ((ino >> 4) & (((uint64_t)1 << PAGE_BITS) - 1)) << PAGE_SHIFT_INO;
		return n->task ? 0 : -ENOENT;
	}
	if ((ino & 0xff) == 0 || (ino & 0xff) > REGION_ROW || (ino >> 8) > UINT32_MAX)
		return -ENOENT;
	n->row = (unsigned)(ino & 0xff) - 1;
	n->task = (task_t)(ino >> 8);
	/* Rows from tasks/<id>/ down need a task; those above must have none. */
	if ((n->row >= TASK_ROW) != (n->task != 0))
		return -ENOENT;
	return 0;
}

/* The row that is the directory of level l. */
static unsigned
dir_row(enum fs_level l)
{
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].opens == l)
			return r;
	return 0;
}

struct fs_node
fs_node_parent(const struct fs_node *n)
{
	struct fs_node p = *n;
	const struct fs_row *row = fs_row_of(n);

	if (row->parent == FS_L_NONE)
		return p;
	p.row = dir_row(row->parent);
	p.alias = false;
	if (!region_level(p.row))
		p.start = 0;
	if (p.row < TASK_ROW)
		p.task = 0;
	return p;
}

/* ---- the generator ------------------------------------------------- */

/* The dynamic row of level l (the one child kind named by a pattern), or -1. */
static int
dynamic_row(enum fs_level l)
{
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].parent == l && (fs_rows[r].flags & FS_DYNAMIC))
			return (int)r;
	return -1;
}

int
fs_region_find(task_t task, vm_address_t start, vm_size_t *size)
{
	vm_address_t a = start;
	vm_prot_t prot, max;
	vm_inherit_t inh;
	boolean_t shared;
	mach_port_t object;
	vm_offset_t offset;

	if (vm_region(task, &a, size, &prot, &max, &inh, &shared, &object, &offset)
	    != KERN_SUCCESS || a != start)
		return -ENOENT;
	return 0;
}

/*
 * The first region of task whose start is >= key: vm_region looks forward
 * from an address but also returns the region holding it, which starts
 * below; then look again from that region's end.  Each round moves past a
 * region, so the loop ends.
 */
static int
region_at_or_after(task_t task, vm_address_t key, vm_address_t *start)
{
	vm_address_t a = key;

	for (;;) {
		vm_size_t size;
		vm_prot_t prot, max;
		vm_inherit_t inh;
		boolean_t shared;
		mach_port_t object;
		vm_offset_t offset;
		kern_return_t kr = vm_region(task, &a, &size, &prot, &max, &inh, &shared,
		                             &object, &offset);

		if (kr != KERN_SUCCESS)
			return -ENOENT;
		if (a >= key) {
			*start = a;
			return 0;
		}
		if (a + size <= a)
			return -ENOENT;
		a += size;
	}
}

/* First id >= key among snap's ids that is still alive. */
static int
task_at_or_after(const struct fs_dirsnap *snap, task_t key, task_t *id)
{
	size_t lo = 0, hi = snap->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (snap->ids[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < snap->count; lo++)
		if (machvm_task_alive(snap->ids[lo])) {
			*id = snap->ids[lo];
			return 0;
		}
	return -ENOENT;
}

int
fs_dirsnap_take(struct fs_dirsnap *snap)
{
	size_t cap = 64;

	snap->ids = NULL;
	snap->count = 0;
	for (;;) {
		task_t *ids = malloc(cap * sizeof *ids);
		size_t count;

		if (!ids)
			return -ENOMEM;
		if (machvm_task_list(ids, cap, &count) != KERN_SUCCESS) {
			free(ids);
			return -EIO;
		}
		if (count <= cap) {
			snap->ids = ids;
			snap->count = count;
			return 0;
		}
		free(ids);
		cap = count + count / 4 + 16;
	}
}

void
fs_dirsnap_free(struct fs_dirsnap *snap)
{
	free(snap->ids);
	snap->ids = NULL;
	snap->count = 0;
}

/* Fills e for the dynamic child of dir with the given key. */
static void
dynamic_entry(const struct fs_node *dir, unsigned row, uint64_t key, struct fs_entry *e)
{
	memset(e, 0, sizeof *e);
	e->node.row = row;
	e->node.task = dir->task;
	if (fs_rows[row].opens == FS_L_TASK) {
		e->node.task = (task_t)key;
		snprintf(e->name, sizeof e->name, "%u", (unsigned)key);
	} else {
		e->node.start = key;
		snprintf(e->name, sizeof e->name, "0x%016llx", (unsigned long long)key);
	}
	e->next = FS_POS_DYN + key + 1;
}

int
fs_gen(const struct fs_node *dir, uint64_t pos, unsigned flags,
       const struct fs_dirsnap *snap, struct fs_entry *e)
{
	enum fs_level level = fs_row_of(dir)->opens;
	uint64_t key;
	int dyn, rc;

	if (level == FS_L_NONE)
		return -ENOTDIR;

	/* Fixed children, in table order. */
	for (uint64_t r = pos; r < fs_nrows && r < FS_POS_DYN; r++) {
		const struct fs_row *row = &fs_rows[r];

		if (row->parent == level && !(row->flags & FS_DYNAMIC)) {
			if ((flags & FS_GEN_EXACT) && r != pos)
				break;
			memset(e, 0, sizeof *e);
			e->node.row = (unsigned)r;
			e->node.task = dir->task;
			e->node.start = region_level((unsigned)r) ? dir->start : 0;
			snprintf(e->name, sizeof e->name, "%s", row->name);
			e->next = r + 1;
			return 0;
		}
		if (flags & FS_GEN_EXACT)
			break;
	}

	/* Then one child per task or region, by key. */
	dyn = dynamic_row(level);
	if (dyn < 0 || ((flags & FS_GEN_EXACT) && pos < FS_POS_DYN))
		return -ENOENT;
	key = pos >= FS_POS_DYN ? pos - FS_POS_DYN : 0;

	if (fs_rows[dyn].opens == FS_L_TASK) {
		task_t id = 0;
		struct fs_dirsnap own = { NULL, 0 };

		if (key > UINT32_MAX)
			return -ENOENT;
		if (flags & FS_GEN_EXACT) {
			if (key == 0 || !machvm_task_alive((task_t)key))
				return -ENOENT;
			id = (task_t)key;
		} else {
			if (!snap) {
				rc = fs_dirsnap_take(&own);
				if (rc)
					return rc;
				snap = &own;
			}
			rc = task_at_or_after(snap, (task_t)key, &id);
			fs_dirsnap_free(&own);
			if (rc)
				return rc;
		}
		dynamic_entry(dir, (unsigned)dyn, id, e);
		return 0;
	} else {
		vm_address_t start;

		rc = region_at_or_after(dir->task, key, &start);
		if (rc)
			return rc;
		if ((flags & FS_GEN_EXACT) && start != key)
			return -ENOENT;
		dynamic_entry(dir, (unsigned)dyn, start, e);
		return 0;
	}
}

/* The position a name stands for in a directory of level l; -ENOENT if none. */
static int
name_pos(enum fs_level l, const char *name, uint64_t *pos, bool *alias)
{
	int dyn = dynamic_row(l);

	*alias = false;
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].parent == l && !(fs_rows[r].flags & FS_DYNAMIC) &&
		    strcmp(fs_rows[r].name, name) == 0) {
			*pos = r;
			return 0;
		}
	if (dyn < 0)
		return -ENOENT;
	if (fs_rows[dyn].opens == FS_L_TASK) {
		task_t id;

		if (fs_parse_task_name(name, &id) != 0)
			return -ENOENT;
		*pos = FS_POS_DYN + id;
	} else {
		vm_address_t start;
		bool canonical;

		if (fs_parse_region_name(name, &start, &canonical) != 0 ||
		    start > MACHVM_USER_MAX)
			return -ENOENT;
		*alias = !canonical;
		*pos = FS_POS_DYN + start;
	}
	return 0;
}

int
fs_lookup(const struct fs_node *dir, const char *name, struct fs_node *child)
{
	enum fs_level level = fs_row_of(dir)->opens;
	struct fs_entry e;
	uint64_t pos;
	bool alias;
	int rc;

	if (level == FS_L_NONE)
		return -ENOTDIR;
	rc = name_pos(level, name, &pos, &alias);
	if (rc)
		return rc;
	rc = fs_gen(dir, pos, FS_GEN_EXACT, NULL, &e);
	if (rc)
		return rc;
	e.node.alias = alias;
	if (fs_node_ino(&e.node) == 0)
		return -EOVERFLOW;
	*child = e.node;
	return 0;
}

int
fs_node_check(const struct fs_node *n)
{
	vm_size_t size;

	if (n->task == TASK_NULL)
		return 0;
	if (!region_level(n->row))
		return machvm_task_alive(n->task) ? 0 : -ENOENT;
	return fs_region_find(n->task, n->start, &size);
}

void
fs_node_path(const struct fs_node *n, char *buf, size_t cap)
{
	const struct fs_row *row = fs_row_of(n);
	struct fs_node parent;
	size_t len;

	if (row->parent == FS_L_NONE) {
		snprintf(buf, cap, ".");
		return;
	}
	parent = fs_node_parent(n);
	if (fs_row_of(&parent)->parent == FS_L_NONE)
		buf[0] = '\0';
	else
		fs_node_path(&parent, buf, cap);
	len = strlen(buf);
	if (len + 1 >= cap)
		return;
	if (len)
		buf[len++] = '/';
	if (row->opens == FS_L_TASK)
		snprintf(buf + len, cap - len, "%u", (unsigned)n->task);
	else if (row->opens == FS_L_REGION)
		snprintf(buf + len, cap - len, "0x%016llx", (unsigned long long)n->start);
	else
		snprintf(buf + len, cap - len, "%s", row->name);
}

/* ---- the layout dump ------------------------------------------------- */

/* The path pattern of a row: "tasks/<id>/regions/<start>/protection". */
static void
row_path(unsigned r, char *buf, size_t cap)
{
	const struct fs_row *row = &fs_rows[r];
	size_t len;

	if (row->parent == FS_L_NONE) {
		snprintf(buf, cap, "/");
		return;
	}
	if (fs_rows[dir_row(row->parent)].parent == FS_L_NONE)
		buf[0] = '\0';
	else
		row_path(dir_row(row->parent), buf, cap);
	len = strlen(buf);
	snprintf(buf + len, cap - len, "%s%s", row->name, row->opens != FS_L_NONE ? "/" : "");
}

/* Writes one line with trailing blanks removed, so the text is stable. */
static void __attribute__((format(printf, 2, 3)))
dump_line(FILE *out, const char *fmt, ...)
{
	char line[256];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	len = strlen(line);
	while (len && line[len - 1] == ' ')
		line[--len] = '\0';
	fprintf(out, "%s\n", line);
}

void
fs_dump_layout(FILE *out)
{
	dump_line(out, "# files: path, mode, read handler, write handler, flags");
	for (unsigned r = 0; r < fs_nrows; r++) {
		const struct fs_row *row = &fs_rows[r];
		char path[96];

		row_path(r, path, sizeof path);
		dump_line(out, "%-42s %04o %-24s %-26s%s%s%s", path,
		          (unsigned)(row->mode & 07777),
		          row->read ? row->read_name : "-",
		          row->write ? row->write_name : "-",
		          row->flags & FS_DYNAMIC ? " dynamic" : "",
		          row->flags & FS_RESULT ? " result" : "",
		          row->flags & FS_DATA ? " data" : "");
	}
	dump_line(out, "# commands: file, verb, argument count, engine call, usage");
	for (size_t i = 0; i < fs_nverbs; i++) {
		const struct fs_verb *v = &fs_verbs[i];
		unsigned min, max;
		char count[16];

		fs_verb_arg_count(v, &min, &max);
		if (min == max)
			snprintf(count, sizeof count, "%u", min);
		else
			snprintf(count, sizeof count, "%u-%u", min, max);
		dump_line(out, "%-15s %-12s %-4s %-21s %s%s%s",
		          v->level == FS_L_TASKS ? "tasks/ctl" : "tasks/<id>/ctl",
		          v->verb, count, v->call, v->verb, v->args[0] ? " " : "", v->args);
	}
}
