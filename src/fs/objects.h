/*
 * objects.h - the texts of objects/<id>/, regions/<start>/chain and
 * tasks/<id>/pagemap: what the engine's objects.h queries answer.
 *
 * Like every renderer (render.h), each makes one engine query (two for a
 * region's chain: the region, then its top object) and returns 0, -ENOENT
 * when the object, region or task is gone, or -ENOMEM.
 */
#ifndef MACHVMFS_OBJECTS_H
#define MACHVMFS_OBJECTS_H

#include "render.h"
#include "tree.h"

/* objects/<id>/<file>: the file named by the node's row. */
int fs_read_object(const struct fs_node *n, struct fs_buf *out);
/* tasks/<id>/regions/<start>/chain: objects/<top>/chain of the region's
 * top object; empty for a region without one. */
int fs_read_region_chain(const struct fs_node *n, struct fs_buf *out);
/* tasks/<id>/pagemap. */
int fs_read_pagemap(const struct fs_node *n, struct fs_buf *out);

/* Parses a canonical object directory name (decimal, no leading zero,
 * not 0): 0 and *id, or -1. */
int fs_parse_object_name(const char *s, uint64_t *id);

#endif
