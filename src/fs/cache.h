/*
 * cache.h - what the kernel may cache, and how it is told when that changes.
 *
 * The kernel keeps names (entries) and attributes for FS_CACHE_TIMEOUT
 * seconds.  Attributes never change while a file exists (modes, owners,
 * sizes and times are fixed), so only names can go stale, and only in three
 * ways: a region directory whose start stops being a region start (a
 * merge, a deallocation, a boundary moved), the files of a terminated
 * task, and objects/<id>/ and its files when the object dies.  Which names those are is coherence.c's business, from the
 * engine's change reports; this module sends the invalidations.
 * Everything else is never cached: text is rendered at open (direct I/O),
 * directories are listed afresh, a failed lookup is not remembered, a
 * region directory reached by another spelling of its start is checked
 * every time, and the files of a task still being made are not cached.
 *
 * Invalidations are sent by one notifier thread, never by a request
 * handler (the kernel may hold the locks a notification needs while it
 * waits for that very handler).  A write that needs some hands its reply
 * to the notifier, which sends the invalidations and then answers: the
 * worker thread goes back to serving requests at once, so a notification
 * waiting for a directory lock that a pending lookup holds never waits for
 * itself, with any number of threads (-s included).
 */
#ifndef MACHVMFS_CACHE_H
#define MACHVMFS_CACHE_H

#include "ops.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <machvm/vm_types.h>

#include "tree.h"

/* Seconds the kernel keeps entries and attributes (a day, as passthrough). */
#define FS_CACHE_TIMEOUT 86400.0

/* Names to invalidate: (directory inode, name) pairs. */
struct fs_inval_item {
	fuse_ino_t parent;
	char       name[24];
};

struct fs_inval {
	struct fs_inval_item *items;
	size_t count, cap;
};

void fs_inval_init(struct fs_inval *l);
void fs_inval_free(struct fs_inval *l);
void fs_inval_add(struct fs_inval *l, fuse_ino_t parent, const char *name);

/* The session notifications go to; set once before requests are served. */
void fs_cache_set_session(struct fuse_session *se);
/* Starts the notifier thread (from the init request). */
void fs_cache_start(void);
/* Lets the notifier answer what is queued, and stops it (at the end of the
 * session). */
void fs_cache_stop(void);

/*
 * Answers req once l's invalidations are done: at once when l is empty,
 * else from the notifier.  Takes l over (it is empty afterwards).
 * reply_write answers a write of count bytes, reply_err with err (0: ok).
 */
void fs_cache_reply_write(fuse_req_t req, struct fs_inval *l, size_t count);
void fs_cache_reply_err(fuse_req_t req, struct fs_inval *l, int err);
/* Sends l's invalidations without holding up any reply.  Takes l over. */
void fs_cache_send(struct fs_inval *l);

/*
 * The timeouts for an entry or attributes of n: FS_CACHE_TIMEOUT, or 0 for
 * what may not be cached (see the top).  owner_final: whether the owner in
 * the attributes is final (fs_taskinfo_owner).
 */
double fs_cache_entry_timeout(const struct fs_node *n, bool owner_final);
double fs_cache_attr_timeout(const struct fs_node *n, bool owner_final);

/* Whether n is a region directory under its canonical name, or an object
 * directory (tracked: coherence.h counts them held). */
bool fs_cache_tracked(const struct fs_node *n);

#endif
