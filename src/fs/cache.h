/*
 * cache.h - what the kernel may cache, and how it is told when that changes.
 *
 * The kernel keeps names (entries) and attributes for FS_CACHE_TIMEOUT
 * seconds.  Modes, owners and times never change while a file exists; a
 * name can go stale in three ways: a region directory whose start stops
 * being a region start (a merge, a deallocation, a boundary moved), the
 * files of a terminated task, and objects/<id>/ and its files when the
 * object dies.  Which names those are is coherence.c's business, from the
 * engine's change reports; this module sends the invalidations.
 *
 * Sizes (st_size of a text file is the length of the text an open would
 * read now) come in three kinds (fs_cache_size_kind).  A text whose length
 * never changes while the file exists (the usage of a ctl file, page_size,
 * parent, a region file of one fixed-width field such as protection) is
 * cached like the rest.  Any other text's length may change with any
 * change of the host: its attributes are handed out with a timeout only by
 * GETATTR (a lookup or readdirplus gives them with none), and the inode is
 * then counted as holding a size (fs_cache_attr_hold, before the text is
 * rendered); every change (an engine call's report, a read of mem, which
 * counts faults, a new last_error) invalidates the attributes of every
 * inode so counted (fs_cache_attr_stale) before its request is answered.
 * Only GETATTR hands such sizes out because the kernel then already has
 * the inode: an invalidation that overtakes the reply makes the kernel
 * drop the reply's attributes (its attribute version moved), where a
 * lookup's reply could create the inode after the invalidation found none.
 *
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
 * the attributes is final (fs_taskinfo_owner).  The attribute timeout is
 * that of a GETATTR reply; a lookup's is 0 for FS_SIZE_CHANGING files.
 */
double fs_cache_entry_timeout(const struct fs_node *n, bool owner_final);
double fs_cache_attr_timeout(const struct fs_node *n, bool owner_final);

/* How st_size of a node is found. */
enum fs_size_kind {
	FS_SIZE_NONE,           /* 0: a directory */
	FS_SIZE_MEM,            /* the top of the user range */
	FS_SIZE_EVENTS,         /* the bytes of the stream so far (asked every time) */
	FS_SIZE_STABLE,         /* the text's length, which never changes */
	FS_SIZE_CHANGING,       /* the text's length, which any change may change */
};

enum fs_size_kind fs_cache_size_kind(const struct fs_node *n);

/*
 * The kernel is being handed the size of a FS_SIZE_CHANGING file with a
 * timeout: counts inode ino as holding one.  Call before the text is
 * rendered, so a change after the rendering finds the count.
 */
void fs_cache_attr_hold(uint64_t ino);
/*
 * Something changed: invalidates the attributes of every inode counted by
 * fs_cache_attr_hold since the last time, from the calling thread (an
 * attribute invalidation waits for no lock a request could hold), and
 * returns once they are all out, those of a concurrent call included.
 */
void fs_cache_attr_stale(void);

/* Whether n is a region directory under its canonical name, or an object
 * directory (tracked: coherence.h counts them held). */
bool fs_cache_tracked(const struct fs_node *n);

#endif
