/*
 * node.c - see node.h.
 */
#include "node.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "coherence.h"
#include "fields.h"
#include "objects.h"
#include "parse.h"
#include "taskinfo.h"

#define PAGE_SHIFT_INO 12
#define PAGE_SHIFT     (FS_TASK_BITS + FS_KIND_BITS)
#define KIND_MASK      ((UINT64_C(1) << FS_KIND_BITS) - 1)
#define TASK_MASK      ((UINT64_C(1) << FS_TASK_BITS) - 1)
#define ALIAS_KIND     1u

_Static_assert(PAGE_SHIFT + 47 - PAGE_SHIFT_INO <= 64, "region starts must fit an inode number");

/* Is row a region directory or region file? */
static bool
region_level(unsigned row)
{
	return row >= fs_region_row();
}

/* The first row that belongs to one task (the task directory). */
static unsigned
task_row(void)
{
	return fs_level_row(FS_L_TASK);
}

bool
fs_object_level(unsigned row)
{
	return fs_rows[row].parent == FS_L_OBJECTS || fs_rows[row].parent == FS_L_OBJECT;
}

struct fs_node
fs_root_node(void)
{
	struct fs_node n = { 0 };

	return n;
}

/* ---- inode numbers -------------------------------------------------- */

uint64_t
fs_node_ino(const struct fs_node *n)
{
	uint64_t kind;

	if (n->task > TASK_MASK)
		return 0;
	if (fs_object_level(n->row))
		return n->object == 0 || n->object >= FS_OBJECT_LIMIT ? 0 :
		       (n->object << PAGE_SHIFT) | (n->row + 1);
	if (!region_level(n->row))
		return ((uint64_t)n->task << FS_KIND_BITS) | (n->row + 1);
	if (n->row == fs_region_row())
		kind = n->alias ? ALIAS_KIND : 0;
	else
		kind = n->row - fs_region_row() + 1;
	return ((n->start >> PAGE_SHIFT_INO) << PAGE_SHIFT) |
	       ((uint64_t)n->task << FS_KIND_BITS) | kind;
}

int
fs_ino_node(uint64_t ino, struct fs_node *n)
{
	uint64_t page = ino >> PAGE_SHIFT, kind = ino & KIND_MASK;

	memset(n, 0, sizeof *n);
	n->task = (task_t)((ino >> FS_KIND_BITS) & TASK_MASK);
	if (page == 0) {
		if (kind == 0 || kind > fs_region_row())
			return -ENOENT;
		n->row = (unsigned)kind - 1;
		/* Rows from tasks/<id>/ down need a task; those above have none;
		 * rows under objects/ need an object. */
		if (fs_object_level(n->row))
			return -ENOENT;
		return (n->row >= task_row()) == (n->task != 0) ? 0 : -ENOENT;
	}
	if (n->task == 0) {
		/* Under objects/: the page part is the object id. */
		if (kind == 0 || kind > fs_nrows || !fs_object_level((unsigned)kind - 1))
			return -ENOENT;
		n->row = (unsigned)kind - 1;
		n->object = page;
		return 0;
	}
	n->start = page << PAGE_SHIFT_INO;
	n->alias = kind == ALIAS_KIND;
	n->row = fs_region_row() + (kind <= ALIAS_KIND ? 0 : (unsigned)kind - 1);
	return n->row < fs_nrows ? 0 : -ENOENT;
}

struct fs_node
fs_node_parent(const struct fs_node *n)
{
	struct fs_node p = *n;
	const struct fs_row *row = fs_row_of(n);

	if (row->parent == FS_L_NONE)
		return p;
	p.row = fs_level_row(row->parent);
	p.alias = false;
	if (fs_rows[p.row].opens != FS_L_OBJECT)
		p.object = 0;
	if (!region_level(p.row))
		p.start = 0;
	if (p.row < task_row())
		p.task = 0;
	return p;
}

uint64_t
fs_level_ino(enum fs_level l, task_t task)
{
	struct fs_node n = { fs_level_row(l), task, 0, false, 0 };

	return fs_node_ino(&n);
}

void
fs_region_name(vm_address_t a, char out[24])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t v = a;

	out[0] = '0';
	out[1] = 'x';
	for (int i = 17; i >= 2; i--) {
		out[i] = hex[v & 15];
		v >>= 4;
	}
	out[18] = '\0';
}

/* The name of n in its directory. */
static void
node_name(const struct fs_node *n, char out[24])
{
	const struct fs_row *row = fs_row_of(n);

	if (row->opens == FS_L_TASK)
		snprintf(out, 24, "%u", (unsigned)n->task);
	else if (row->opens == FS_L_OBJECT)
		snprintf(out, 24, "%llu", (unsigned long long)n->object);
	else if (row->opens == FS_L_REGION)
		fs_region_name(n->start, out);
	else
		snprintf(out, 24, "%s", row->name);
}

void
fs_node_path(const struct fs_node *n, char *buf, size_t cap)
{
	const struct fs_row *row = fs_row_of(n);
	struct fs_node parent;
	char name[24];
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
	node_name(n, name);
	snprintf(buf + len, cap - len, "%s", name);
}

int
fs_node_check(const struct fs_node *n)
{
	vm_region_extended_info_t x;

	if (n->object != 0)
		return machvm_object_alive(n->object) ? 0 : -ENOENT;
	if (n->task == TASK_NULL)
		return 0;
	if (!region_level(n->row))
		return machvm_task_alive(n->task) ? 0 : -ENOENT;
	return fs_region_get(n->task, n->start, false, &x);
}

/* ---- task ids --------------------------------------------------------- */

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

/* The index of the first id >= key in snap. */
static size_t
snap_search(const struct fs_dirsnap *snap, task_t key)
{
	size_t lo = 0, hi = snap->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (snap->ids[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- region starts ----------------------------------------------------- */

/* Every region start of task, by walking the map; NULL on failure. */
static struct fs_starts *
starts_walk(task_t task)
{
	size_t cap = 256;
	struct fs_starts *s = malloc(sizeof *s + cap * sizeof s->start[0]);
	vm_address_t a = 0;

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	s->count = 0;
	for (;;) {
		vm_region_extended_info_t x;

		if (fs_region_next(task, a, false, &x) != 0)
			break;
		if (s->count == cap) {
			struct fs_starts *bigger;

			cap *= 2;
			bigger = realloc(s, sizeof *s + cap * sizeof s->start[0]);
			if (!bigger) {
				free(s);
				return NULL;
			}
			s = bigger;
		}
		s->start[s->count++] = x.start;
		if (x.start + x.size <= x.start)
			break;
		a = x.start + x.size;
	}
	/* Kept until the map changes: give the slack back. */
	if (s->count < cap) {
		struct fs_starts *fit = realloc(s, sizeof *s + s->count * sizeof s->start[0]);

		if (fit)
			s = fit;
	}
	return s;
}

/* The task's list of region starts as of generation *gen: the kept one if
 * the map has not changed since it was made, else a new walk (kept for the
 * next listing).  NULL when out of memory. */
static struct fs_starts *
starts_current(task_t task, uint64_t *gen)
{
	struct fs_starts *s = fs_taskinfo_starts(task, gen);

	if (s)
		return s;
	s = starts_walk(task);
	if (s)
		fs_taskinfo_starts_keep(task, s, *gen);
	return s;
}

/* ---- the generator ---------------------------------------------------- */

/* The dynamic row of level l (the one child kind named by a pattern), or -1. */
static int
dynamic_row(enum fs_level l)
{
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].parent == l && (fs_rows[r].flags & FS_DYNAMIC))
			return (int)r;
	return -1;
}

/* Fills e for the child of dir in row with the given key (dynamic) or none. */
static void
entry_of(const struct fs_node *dir, unsigned row, uint64_t key, struct fs_entry *e)
{
	memset(e, 0, sizeof *e);
	e->node.row = row;
	e->node.task = dir->task;
	e->node.start = region_level(row) ? dir->start : 0;
	e->node.object = fs_object_level(row) ? dir->object : 0;
	if (!(fs_rows[row].flags & FS_DYNAMIC)) {
		e->next = row + 1;
	} else {
		if (fs_rows[row].opens == FS_L_TASK)
			e->node.task = (task_t)key;
		else if (fs_rows[row].opens == FS_L_OBJECT)
			e->node.object = key;
		else
			e->node.start = key;
		e->next = FS_POS_DYN + key + 1;
	}
	node_name(&e->node, e->name);
}

/*
 * objects/: the live objects by id.  A batch asks the engine for the ids
 * from key on, so a listing resumed at a position never repeats an id nor
 * misses one that lived throughout.
 */
#define OBJECT_BATCH 256

static int
gen_objects(const struct fs_node *dir, unsigned row, uint64_t key, unsigned flags,
            fs_gen_fn fn, void *arg)
{
	uint64_t ids[OBJECT_BATCH];
	struct fs_entry e;
	int rc = -ENOENT;

	if (flags & FS_GEN_EXACT) {
		if (!machvm_object_alive(key))
			return -ENOENT;
		entry_of(dir, row, key, &e);
		fn(arg, &e);
		return 0;
	}
	for (;;) {
		size_t count, n;

		if (machvm_object_list(key, ids, OBJECT_BATCH, &count) != KERN_SUCCESS)
			return rc == 0 ? 0 : -ENOMEM;
		n = count < OBJECT_BATCH ? count : OBJECT_BATCH;
		for (size_t i = 0; i < n; i++) {
			entry_of(dir, row, ids[i], &e);
			rc = 0;
			if (fn(arg, &e))
				return 0;
		}
		if (count <= OBJECT_BATCH)
			return rc;
		key = ids[n - 1] + 1;
	}
}

/* The dynamic children: tasks by id, regions by start, objects by id. */
static int
gen_dynamic(const struct fs_node *dir, unsigned row, uint64_t key, unsigned flags,
            const struct fs_dirsnap *snap, fs_gen_fn fn, void *arg, uint64_t *gen)
{
	struct fs_entry e;
	int rc = -ENOENT;

	if (fs_rows[row].opens == FS_L_OBJECT)
		return gen_objects(dir, row, key, flags, fn, arg);
	if (fs_rows[row].opens == FS_L_TASK) {
		struct fs_dirsnap own = { NULL, 0 };

		if (key > UINT32_MAX)
			return -ENOENT;
		if (flags & FS_GEN_EXACT) {
			if (key == 0 || !machvm_task_alive((task_t)key))
				return -ENOENT;
			entry_of(dir, row, key, &e);
			fn(arg, &e);
			return 0;
		}
		if (!snap) {
			rc = fs_dirsnap_take(&own);
			if (rc)
				return rc;
			snap = &own;
		}
		rc = -ENOENT;
		for (size_t i = snap_search(snap, (task_t)key); i < snap->count; i++) {
			if (!machvm_task_alive(snap->ids[i]))
				continue;
			entry_of(dir, row, snap->ids[i], &e);
			rc = 0;
			if (fn(arg, &e))
				break;
		}
		fs_dirsnap_free(&own);
		return rc;
	}

	/* Regions. */
	if (flags & FS_GEN_EXACT) {
		vm_region_extended_info_t x;

		if (gen)
			*gen = fs_coherence_gen(dir->task);
		if (fs_region_get(dir->task, key, false, &x) != 0)
			return -ENOENT;
		entry_of(dir, row, key, &e);
		fn(arg, &e);
		return 0;
	} else {
		uint64_t g;
		struct fs_starts *s = starts_current(dir->task, &g);
		size_t lo = 0, hi;

		if (gen)
			*gen = g;
		if (!s)
			return machvm_task_alive(dir->task) ? -ENOMEM : -ENOENT;
		hi = s->count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->start[mid] < key)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo; i < s->count; i++) {
			entry_of(dir, row, s->start[i], &e);
			rc = 0;
			if (fn(arg, &e))
				break;
		}
		fs_starts_put(s);
		return rc;
	}
}

int
fs_gen(const struct fs_node *dir, uint64_t pos, unsigned flags,
       const struct fs_dirsnap *snap, fs_gen_fn fn, void *arg, uint64_t *gen)
{
	enum fs_level level = fs_row_of(dir)->opens;
	struct fs_entry e;
	bool any = false;
	int dyn;

	if (level == FS_L_NONE)
		return -ENOTDIR;

	/* Fixed children, in table order. */
	for (uint64_t r = pos; r < fs_nrows && r < FS_POS_DYN; r++) {
		const struct fs_row *row = &fs_rows[r];

		if (row->parent == level && !(row->flags & FS_DYNAMIC)) {
			entry_of(dir, (unsigned)r, 0, &e);
			if (fn(arg, &e) || (flags & FS_GEN_EXACT))
				return 0;
			any = true;
		} else if (flags & FS_GEN_EXACT) {
			return -ENOENT;
		}
	}

	/* Then one child per task or region, by key. */
	dyn = dynamic_row(level);
	if (dyn < 0 || ((flags & FS_GEN_EXACT) && pos < FS_POS_DYN))
		return any ? 0 : -ENOENT;
	{
		int rc = gen_dynamic(dir, (unsigned)dyn, pos >= FS_POS_DYN ? pos - FS_POS_DYN : 0,
		                     flags, snap, fn, arg, gen);

		return rc == -ENOENT && any ? 0 : rc;
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
	if (fs_rows[dyn].opens == FS_L_OBJECT) {
		uint64_t id;

		if (fs_parse_object_name(name, &id) != 0 || id > UINT64_MAX - FS_POS_DYN - 1)
			return -ENOENT;
		*pos = FS_POS_DYN + id;
	} else if (fs_rows[dyn].opens == FS_L_TASK) {
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

static int
take_one(void *arg, const struct fs_entry *e)
{
	*(struct fs_entry *)arg = *e;
	return 1;
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
	rc = fs_gen(dir, pos, FS_GEN_EXACT, NULL, take_one, &e, NULL);
	if (rc)
		return rc;
	e.node.alias = alias;
	if (fs_node_ino(&e.node) == 0)
		return -EOVERFLOW;
	*child = e.node;
	return 0;
}
