/*
 * save.h - host/save: writing "save" writes the whole host to the state
 * file now (the one given with -o state=FILE), as the unmount does; and
 * -o autosave=SECONDS, a thread that does the same every SECONDS.
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

/*
 * Starts the autosave thread: every `seconds` it saves the host to the
 * state file if anything that is saved has changed since its last save.
 * A failure is logged (stderr and syslog, once per reason) and tried again
 * next period.  Nothing without a state file or with seconds 0.  Call after
 * fuse_daemonize (a thread does not survive the fork) and after
 * fs_coherence_init.  0, or -1 if the thread cannot be started.
 */
int fs_autosave_start(unsigned seconds);

/* Stops the autosave thread, waiting for a save in progress; before the
 * final save and before fs_coherence_fini.  Nothing if none was started. */
void fs_autosave_stop(void);

#endif
