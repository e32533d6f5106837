/*
 * save.h - host/save: writing "save" writes the whole host to the state
 * file now (the one given with -o state=FILE), as the unmount does.
 */
#ifndef MACHVMFS_SAVE_H
#define MACHVMFS_SAVE_H

#include "ctl.h"
#include "render.h"
#include "tree.h"

/* The state file (an absolute path), or NULL when the mount has none.
 * Called once, before the mount serves requests. */
void fs_save_init(const char *state_path);

/* The usage, "save\n"; a read after a write shows its result instead. */
int fs_read_save(const struct fs_node *n, struct fs_buf *out);

/* The save verb's call (the command table's host/save row): writes the
 * host to the state file. */
kern_return_t fs_call_save(const struct fs_node *n, const struct fs_ctx *ctx,
                           struct fs_cmd *c, struct fs_run *r);

/* Parses a write: "save", and only with a state file. */
int fs_write_save(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);

#endif
