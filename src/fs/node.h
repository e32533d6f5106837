/*
 * node.h - nodes of the tree: their inode numbers, names, parents and paths,
 * and the one generator that both lists a directory and looks a name up in
 * it, so listing and lookup cannot disagree.
 *
 * Inode numbers are computed from the node, never stored, so any thread can
 * turn an inode back into a node without a lock:
 *
 *   page << 29 | task << 7 | kind
 *
 * page is the region's start >> 12 (0 above the region level: no region
 * starts at 0, so the two halves never meet), task the task id (0 above
 * the task level), and kind says which row: above the regions it is the
 * row + 1 (the root is 1); at the region level 0 is the region directory,
 * 1 the same directory reached by another spelling of its start (a
 * separate inode, so the kernel never sees one directory under two names),
 * and 2 + i the i-th region file.  start < 2^47 with pages of 4096 bytes at
 * least takes 35 bits; the task takes FS_TASK_BITS = 22, every id the
 * engine hands out; the kind 7, room for 126 region files.
 *
 * Under objects/ the task is 0 and the page part holds the object id
 * instead (no region node has task 0, so the two never meet), the kind
 * being row + 1 as above the regions:
 *
 *   object << 29 | kind
 *
 * so object ids below 2^35 (FS_OBJECT_LIMIT) have inode numbers; a larger
 * one is EOVERFLOW.
 */
#ifndef MACHVMFS_NODE_H
#define MACHVMFS_NODE_H

#include "tree.h"

#include <machvm/machvm.h>

#define FS_TASK_BITS  22
#define FS_KIND_BITS  7

_Static_assert(MACHVM_TASK_ID_LIMIT <= ((uint64_t)1 << FS_TASK_BITS),
               "inode numbers must have room for every task id the engine hands out");

#define FS_OBJECT_LIMIT  (UINT64_C(1) << (64 - FS_TASK_BITS - FS_KIND_BITS))

/* Whether row is objects/<object>/ or one of its files. */
bool fs_object_level(unsigned row);

/* The root directory's node. */
struct fs_node fs_root_node(void);

/* The node's inode number; 0 when it cannot be encoded (a task id of
 * 2^FS_TASK_BITS or more). */
uint64_t fs_node_ino(const struct fs_node *n);
/* The node an inode number stands for.  0, or -ENOENT for a number no node has. */
int fs_ino_node(uint64_t ino, struct fs_node *n);
/* The directory holding n (the root for the root). */
struct fs_node fs_node_parent(const struct fs_node *n);
/* The inode number of the directory of level l for task (0 above tasks). */
uint64_t fs_level_ino(enum fs_level l, task_t task);

/* A region directory's listed name: "0x" and 16 lower-case hex digits. */
void fs_region_name(vm_address_t start, char out[24]);

/* The node's path from the mount point, "tasks/3/regions/0x.../protection". */
void fs_node_path(const struct fs_node *n, char *buf, size_t cap);

/* Whether the task or region n names still exists: 0, or -ENOENT. */
int fs_node_check(const struct fs_node *n);

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

/* Fills snap with the ids of the live tasks; 0 or -ENOMEM.  Free with fs_dirsnap_free. */
int fs_dirsnap_take(struct fs_dirsnap *snap);
void fs_dirsnap_free(struct fs_dirsnap *snap);

/* Called for each child in turn: 0 to go on, anything else to stop. */
typedef int (*fs_gen_fn)(void *arg, const struct fs_entry *e);

/* Generator flags. */
#define FS_GEN_EXACT 0x1   /* the child at pos itself, not the first at or after */

/*
 * The children of dir from position pos on, in order, each handed to fn
 * until it stops (with FS_GEN_EXACT: only the child exactly at pos).  For
 * regions/ a listing reads the task's list of region starts, made by
 * walking the map with vm_region and kept until the map's generation
 * moves; an exact position asks vm_region itself.  Either way a child is a
 * region start of the map as it is, so a listing resumed from a position
 * never repeats or skips a region that existed throughout.  snap, if not
 * NULL, supplies the task ids for tasks/.  *gen (if not NULL) is set to
 * the task's map generation the regions were read at.  0 when fn stopped
 * or the children ran out, -ENOENT when there was none at all (EXACT: not
 * there), or another -errno.
 */
int fs_gen(const struct fs_node *dir, uint64_t pos, unsigned flags,
           const struct fs_dirsnap *snap, fs_gen_fn fn, void *arg, uint64_t *gen);

/*
 * Looks name up in dir: turns it into a position and asks fs_gen for the
 * child exactly there.  0 and *child, or -ENOENT, -EOVERFLOW.
 */
int fs_lookup(const struct fs_node *dir, const char *name, struct fs_node *child);

#endif
