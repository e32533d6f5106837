/*
 * ctl.h - everything a write does: the command table of the ctl files, the
 * parsers of the writable files, and the one routine that runs a write.
 *
 * A write is handled in two passes (validate, then commit): every non-empty
 * line is parsed into a struct fs_cmd first, and only if all of them parse
 * are they run, in order, each as one engine call, stopping at the first
 * that fails.  So input that does not parse changes nothing.
 */
#ifndef MACHVMFS_CTL_H
#define MACHVMFS_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>

#include "parse.h"
#include "tree.h"

/* Who is asking: from the FUSE request. */
struct fs_ctx {
	uid_t uid;
	gid_t gid;
	bool  privileged;   /* root or the mounting user: may wire (host_priv_self) */
};

struct fs_verb;

/* One parsed command: the verb and its arguments, by meaning. */
struct fs_cmd {
	const struct fs_verb *verb;
	bool region;            /* addr/size: the whole region of the file, looked up when run */
	vm_address_t addr;      /* <addr> <start> <source> */
	vm_address_t end;       /* <end> */
	vm_address_t dest;      /* <dest> */
	vm_size_t size;
	vm_prot_t prot;         /* <prot> <access> */
	vm_inherit_t inherit;
	vm_machine_attribute_t attr;
	vm_machine_attribute_val_t value;
	task_t task;            /* <parent> <task> */
	bool anywhere;
	bool set_max;
	struct fs_remap_args remap;
	const char *line;       /* the input line, for messages */
	/* What the call returned, for the result column. */
	task_t out_task;
	vm_address_t out_addr;
	vm_machine_attribute_val_t out_value;
	vm_prot_t out_cur, out_max;
	vm_size_t out_size;
	vm_inherit_t out_inherit;
	boolean_t out_shared;
};

/* What running a command did. */
struct fs_run {
	kern_return_t kr;       /* the engine's answer (KERN_SUCCESS if it was not asked) */
	char call[192];         /* the engine call as made: "vm_protect(task 1, 0x..., ...)" */
	char result[128];       /* the text a read returns after success */
	char why[192];          /* for a failure that is not the engine's: the reason */
	char cause[320];        /* for the engine's failure: ": <cause>" (fs_why_text) or "" */
};

/*
 * Makes a verb's one engine call with c's arguments on n's task, leaving
 * what it returned in c's out_* fields.  Nothing else: checks, locks,
 * coherence, results and messages are the run frame's (ctl.c), driven by
 * the verb's columns.  r is for the rare call that is not the engine's
 * (host/save), to say what it did.
 */
typedef kern_return_t (*fs_call_fn)(const struct fs_node *n, const struct fs_ctx *ctx,
                                    struct fs_cmd *c, struct fs_run *r);
typedef int (*fs_args_fn)(char *const *words, size_t n, struct fs_cmd *c,
                          struct fs_why *why);

/* Whose task a verb needs the caller to own, beyond the file's own. */
enum fs_owner {
	OWN_FILE,           /* only the file's task (checked at open) */
	OWN_TASK_ARG,       /* and the task named (<parent>: fork shares its memory) */
	OWN_SHARE_SOURCE,   /* and a sharing remap's source (it can write it) */
	OWN_MOUNTER,        /* only root or the mounting user (save) */
};

/* The tasks a verb changes, locked around it (see the run frame). */
enum fs_locks {
	LOCK_NONE,
	LOCK_FILE,          /* the file's task */
	LOCK_TASK_ARG,      /* the task named (<parent>, <task>) */
	LOCK_FILE_SOURCE,   /* the file's task and the remap source */
};

/* What a read shows after the command succeeded. */
enum fs_result {
	RES_OK,             /* "ok" */
	RES_TASK,           /* the new task's id (its owner is recorded) */
	RES_ADDRESS,        /* the address the call chose */
	RES_VALUE,          /* an attribute's value for a get, else "ok" */
	RES_REMAP,          /* "address ... cur_protection ... max_protection ..." */
	RES_REGION,         /* "start ... size ... protection ... ..." (vm_region) */
};

/*
 * A row of the command table.  args is both the usage and the grammar:
 * space-separated items, "<type>" a typed argument, "[word]" an optional
 * trailing keyword, any other word a keyword that must be there.  A verb may
 * have several rows (forms); the first that fits the line wins.  A row with
 * a parse function takes its arguments its own way (remap's key=value).
 */
struct fs_verb {
	enum fs_level level;    /* FS_L_TASKS: tasks/ctl; FS_L_TASK: tasks/<id>/ctl; FS_L_HOST: host/save */
	const char *verb;
	const char *args;
	fs_args_fn parse;
	fs_call_fn run;
	const char *call;       /* the engine call it makes */
	enum fs_owner owner;
	enum fs_locks locks;
	enum fs_result result;
};

extern const struct fs_verb fs_verbs[];
extern const size_t fs_nverbs;

/* The first row of verb name in the commands of level, or NULL. */
const struct fs_verb *fs_verb_named(enum fs_level level, const char *name);

/* The fewest and the most arguments a row takes, counted from its args. */
void fs_verb_arg_count(const struct fs_verb *v, unsigned *min, unsigned *max);

/* Whether ctx may change task (root, or the uid that created it). */
bool fs_may_change(task_t task, const struct fs_ctx *ctx);

struct fs_scope;

/*
 * Runs a write of data[0..len) to the writable file n (see the top of this
 * file).  What its engine calls made stale is collected in scope
 * (coherence.h).  On return result holds what a read of the same open file
 * should show next (the last command's result, or the error line); it is
 * left empty when the write held only white space.  0, or -errno.
 */
int fs_ctl_write(const struct fs_node *n, const struct fs_ctx *ctx,
                 const char *data, size_t len, struct fs_buf *result,
                 struct fs_scope *scope);

/*
 * The most bytes one write(2) of a writable text file may hold.  The kernel
 * hands a long write(2) to the daemon as several WRITE requests, each of at
 * most max_write bytes and max_pages pages of the writer's buffer, and no
 * request says whether more of the same write(2) follow; a failure after
 * the first piece only makes the write(2) return short.  Every piece but
 * the last fills one of the two bounds, so it holds at least max_write
 * bytes or more than (max_pages - 1) pages.  A request of at most
 * min(max_write - 1, (max_pages - 1) * page) bytes is therefore a whole
 * write(2), and fs_ctl_write refuses anything longer (EFBIG) before it
 * looks at it: the first piece of a split write fails, so the write(2)
 * fails as a whole and nothing ran.  Set once at mount (ops.c, init) from
 * what the kernel was told; until then, the kernel's default of 32 pages.
 */
void fs_ctl_set_write_limit(size_t max_write, size_t max_pages, size_t page);

/*
 * The batch lock.  A write of several lines to a ctl, region or remap file
 * (a batch, run all or nothing) holds it exclusively from its first line
 * until it is committed or undone; every other write that changes the host
 * (a one-line write, a mem write, an rmdir, a save, the autosave) holds it
 * shared around its call, so nothing changes a batch's tasks under it.
 * Writer-preferring; never taken twice by one thread.
 */
void fs_batch_shared_lock(void);
void fs_batch_shared_unlock(void);
size_t fs_ctl_write_limit(void);

/* The usage texts: what the ctl and remap files read before any write.
 * fs_usage_text: one line per command of level, from the command table. */
int fs_usage_text(enum fs_level level, struct fs_buf *out);
int fs_read_tasks_ctl(const struct fs_node *n, struct fs_buf *out);
int fs_read_task_ctl(const struct fs_node *n, struct fs_buf *out);
int fs_read_remap(const struct fs_node *n, struct fs_buf *out);

/* The parsers of the writable files (the write column of the file table). */
int fs_write_tasks_ctl(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);
int fs_write_task_ctl(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);
int fs_write_remap(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);
int fs_write_protection(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);
int fs_write_max_protection(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);
int fs_write_inheritance(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);
int fs_write_wired(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);
int fs_write_attr(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why);

#endif
