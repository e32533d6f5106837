/*
 * tree.h - the shape of the filesystem: one table row per kind of file, and
 * one generator that both lists a directory and looks a name up in it.
 *
 * A node is (row, task, region start): row says what kind of file or
 * directory it is, task and start say which one.  Nodes hold no state and no
 * reference: the engine is asked afresh whether a task or region exists every
 * time a node is used, so a node can outlive what it names and simply stops
 * resolving (ENOENT).
 *
 * Inode numbers are computed from the node, never stored, so any thread can
 * turn an inode back into a node without a lock:
 *
 *   above the regions:  (task << 8) | (row + 1)                 the root is 1
 *   region level:       1 << 63 | task << 39 | (start >> 12) << 4 | kind
 *
 * where kind is the row's place among the region rows (0 the directory,
 * 1-13 its files) or 15 for a region directory reached by another spelling
 * of its start (a separate inode, so the kernel never sees one directory
 * under two names).  start < 2^47 and pages are at least 4096 bytes, so
 * start >> 12 takes 35 bits; that leaves 24 bits for the task, so regions of
 * tasks with ids of 2^24 and above cannot be reached (EOVERFLOW).
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
	FS_L_HOST,      /* host/page_size, host/stats */
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
#define FS_DYNAMIC  0x1   /* the name is a pattern: one child per task / region */
#define FS_RESULT   0x2   /* after a write, reads on that open file show its result */
#define FS_DATA     0x4   /* raw memory: read and write go to vm_read / vm_write */

struct fs_row {
	const char   *name;     /* "<id>" / "<start>" for FS_DYNAMIC rows */
	enum fs_level parent;   /* the directory the row appears in */
	enum fs_level opens;    /* a directory: the level it is; a file: FS_L_NONE */
	mode_t        mode;     /* S_IFDIR | 0755, S_IFREG | 0444 or 0644 */
	unsigned      flags;
	fs_read_fn    read;     /* NULL: nothing to render (directories, mem) */
	const char   *read_name;
	fs_write_fn   write;    /* NULL: read-only (EACCES on writing) */
	const char   *write_name;
};

extern const struct fs_row fs_rows[];
extern const size_t fs_nrows;

static inline const struct fs_row *
fs_row_of(const struct fs_node *n)
{
	return &fs_rows[n->row];
}

/*
 * Checks that the table keeps the order the inode numbers rely on (task rows
 * after the rows above them, region rows last).  0, or -1: a bug in fs_rows.
 */
int fs_tree_check(void);

/* The root directory's node. */
struct fs_node fs_root_node(void);

/* ---- inode numbers -------------------------------------------------- */

/* The node's inode number; 0 when it cannot be encoded (task id >= 2^24 at the region level). */
uint64_t fs_node_ino(const struct fs_node *n);
/* The node an inode number stands for.  0, or -ENOENT for a number no node has. */
int fs_ino_node(uint64_t ino, struct fs_node *n);
/* The directory holding n (the root for the root). */
struct fs_node fs_node_parent(const struct fs_node *n);

/* ---- the generator ------------------------------------------------- */

/*
 * Positions inside a directory.  Fixed children (rows) sit at their row
 * index; dynamic children at FS_POS_DYN + key, key being the task id or the
 * region start.  So a position says where to go on from, whatever was added
 * or removed since it was handed out.
 */
#define FS_POS_DYN 256u

struct fs_entry {
	struct fs_node node;
	uint64_t       next;        /* the position just after this entry */
	char           name[24];
};

/* A listing's ids of the live tasks, taken when it starts (for tasks/). */
struct fs_dirsnap {
	task_t *ids;
	size_t  count;
};

/* Generator flags. */
#define FS_GEN_EXACT 0x1   /* the child at pos itself, not the first at or after */

/*
 * The first child of dir at or after position pos (with FS_GEN_EXACT: the
 * child at pos exactly).  For regions/ that is the first region whose start
 * is >= the key, found with vm_region, so a listing resumed from a position
 * never repeats or skips a region that existed throughout.  snap, if not
 * NULL, supplies the task ids for tasks/.  0 and *e filled, -ENOENT when
 * there is none, or another -errno.
 */
int fs_gen(const struct fs_node *dir, uint64_t pos, unsigned flags,
           const struct fs_dirsnap *snap, struct fs_entry *e);

/*
 * Looks name up in dir: turns it into a position and asks fs_gen for the
 * child exactly there, so lookup and listing cannot disagree.  0 and *child,
 * or -ENOENT, -EOVERFLOW.
 */
int fs_lookup(const struct fs_node *dir, const char *name, struct fs_node *child);

/* Whether the task or region n names still exists: 0, or -ENOENT. */
int fs_node_check(const struct fs_node *n);

/* Fills snap with the ids of the live tasks; 0 or -ENOMEM.  Free with fs_dirsnap_free. */
int fs_dirsnap_take(struct fs_dirsnap *snap);
void fs_dirsnap_free(struct fs_dirsnap *snap);

/* The node's path from the mount point, "tasks/3/regions/0x.../protection". */
void fs_node_path(const struct fs_node *n, char *buf, size_t cap);

/* The region's basic facts by exact start: 0, or -ENOENT. */
int fs_region_find(task_t task, vm_address_t start, vm_size_t *size);

/* Prints the table and the command table (machvmfs --dump-layout). */
void fs_dump_layout(FILE *out);

#endif
