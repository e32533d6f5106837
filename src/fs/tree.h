/*
 * tree.h - the shape of the filesystem: one table row per kind of file.
 *
 * A row says where a file or directory appears, what it is, how it is read
 * and written and which engine calls that makes.  Everything else follows
 * from the rows: listing and lookup (node.c), inode numbers, modes, paths,
 * the layout dump.  Adding a file is one row here (and, for a region file,
 * a field in fields.c when it shows a new value).
 *
 * A node is (row, task, region start, object): row says what kind of
 * file or directory it is, task and start (or, under objects/, the object
 * id) say which one.  Nodes hold no state and
 * no reference: the engine is asked afresh whether a task or region exists
 * every time a node is used, so a node can outlive what it names and simply
 * stops resolving (ENOENT).
 */
#ifndef MACHVMFS_TREE_H
#define MACHVMFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <machvm/vm_types.h>

/* The directories of the tree, by what they contain. */
enum fs_level {
	FS_L_NONE,      /* for a file row: it opens no level */
	FS_L_ROOT,      /* host/ tasks/ */
	FS_L_HOST,      /* host/page_size, host/stats, ... */
	FS_L_OBJECTS,   /* objects/<object>/ */
	FS_L_OBJECT,    /* objects/<object>/{size,...} */
	FS_L_TASKS,     /* tasks/ctl, tasks/last_error, tasks/<id>/ */
	FS_L_TASK,      /* tasks/<id>/{ctl,...,regions/} */
	FS_L_REGIONS,   /* tasks/<id>/regions/<start>/ */
	FS_L_REGION,    /* tasks/<id>/regions/<start>/{start,...} */
};

struct fs_node {
	unsigned     row;       /* index in fs_rows */
	task_t       task;      /* 0 above the task level */
	vm_address_t start;     /* region start; 0 above the region level */
	bool         alias;     /* region directory named by another spelling */
	uint64_t     object;    /* memory object id at the object level, else 0 */
};

struct fs_buf;
struct fs_cmd;
struct fs_why;

/* Renders a file's text (at open).  0, or -errno (ENOENT: it is gone). */
typedef int (*fs_read_fn)(const struct fs_node *n, struct fs_buf *out);
/*
 * Parses one trimmed, non-empty input line of a writable file into a
 * command; nothing is changed yet.  0, or -1 with *why saying what is wrong.
 */
typedef int (*fs_write_fn)(const struct fs_node *n, char *line,
                           struct fs_cmd *cmd, struct fs_why *why);

/* Row flags. */
#define FS_DYNAMIC  0x1   /* the name is a pattern: one child per task / region / object */
#define FS_RESULT   0x2   /* after a write, reads on that open file show its result */
#define FS_DATA     0x4   /* raw memory: read and write go to vm_read / vm_write */
#define FS_KEPT     0x8   /* a whole-map text, kept between opens (kept.h) */
#define FS_EVENTS   0x10  /* a growing log of events (events.c) */

struct fs_row {
	const char   *name;     /* "<id>" / "<start>" for FS_DYNAMIC rows */
	enum fs_level parent;   /* the directory the row appears in */
	enum fs_level opens;    /* a directory: the level it is; a file: FS_L_NONE */
	mode_t        mode;     /* S_IFDIR | 0755, S_IFREG | 0444 or 0644 */
	unsigned      flags;
	fs_read_fn    read;     /* NULL: nothing to render (directories, mem, events) */
	const char   *read_name;
	fs_write_fn   write;    /* NULL: read-only (EACCES on writing) */
	const char   *write_name;
	const char   *verb;     /* a region file: the ctl verb its value runs as */
	const char   *calls;    /* the engine calls it makes; NULL: derived (see the dump) */
};

extern const struct fs_row fs_rows[];
extern const size_t fs_nrows;

static inline const struct fs_row *
fs_row_of(const struct fs_node *n)
{
	return &fs_rows[n->row];
}

/* The first row of the region level (the region directory): rows from it
 * on are the region directory and its files. */
unsigned fs_region_row(void);

/* The row of the directory of level l. */
unsigned fs_level_row(enum fs_level l);

/*
 * Checks that the table keeps the order node.c relies on (rows of a task
 * after the rows above them, region rows last, each region file showing a
 * field or running a verb, not too many rows for the inode numbers).
 * 0, or -1 with why: a bug in fs_rows.
 */
int fs_tree_check(const char **why);

/* Prints the tables (machvmfs --dump-layout). */
void fs_dump_layout(FILE *out);

#endif
