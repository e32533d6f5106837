/*
 * ops.c - the FUSE callbacks: each turns a request into tree lookups, one
 * render or one write (ctl.c), and a reply.
 *
 * Caching (cache.h): the kernel keeps entries and attributes for a day and
 * is told when a region directory it holds goes away; text files are
 * opened with direct_io, and a file's text is rendered once at open and
 * kept in the handle, so a reader sees one snapshot however small its
 * reads and every open sees the state of that moment.  st_size is the
 * length of the text an open would read at that moment (rendered to know
 * it; the whole-map texts are then kept for the open that follows), the
 * top of the user range for mem, and the bytes so far for an events file
 * (which reads the log itself, events.c).  A ctl file's size is its
 * usage's: the result of a write is read on that open file, to its end.
 * Sizes that can change are handed out by GETATTR only and invalidated at
 * every change before the change is answered (cache.h).
 *
 * Entries the kernel holds for region directories are counted as held
 * (coherence.h: lookups and readdirplus up, FORGET down) before the reply
 * that hands them out, so a change knows which names to invalidate; every
 * engine call a request makes runs in a scope whose invalidations are sent
 * before the request is answered.
 *
 * Locking: no lock is shared between requests on different open files; the
 * lists of open files are split into stripes.  A handle's lock guards its
 * text pointer, which a write may replace (the result of a ctl write); it
 * is never held across an engine call or a reply (readers take a
 * reference to the text instead).
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <machvm/machvm.h>

#include "cache.h"
#include "coherence.h"
#include "ctl.h"
#include "errors.h"
#include "events.h"
#include "kept.h"
#include "log.h"
#include "node.h"
#include "render.h"
#include "taskinfo.h"

/* Readdir offsets: 1 after ".", 2 after "..", then OFF_BASE + generator position. */
#define OFF_BASE 2

static uid_t mount_uid;
static gid_t mount_gid;
static struct timespec mount_time;

/*
 * Every open file and directory is also on a list, so that handles the
 * kernel never releases (the daemon stopped by a signal while files were
 * open) are freed when the session ends.  The lists are striped by handle
 * address so that opens on different files do not queue on one lock.
 */
struct fs_open_link {
	struct fs_open_link *prev, *next;
};

#define OPEN_STRIPES 16

static struct open_stripe {
	pthread_mutex_t     lock;
	struct fs_open_link files, dirs;        /* list heads */
} stripes[OPEN_STRIPES];

static struct open_stripe *
stripe_of(const void *p)
{
	return &stripes[((uintptr_t)p >> 6) % OPEN_STRIPES];
}

static void
open_list_add(bool dir, struct fs_open_link *l)
{
	struct open_stripe *s = stripe_of(l);
	struct fs_open_link *head = dir ? &s->dirs : &s->files;

	pthread_mutex_lock(&s->lock);
	if (head->next == NULL)
		head->next = head->prev = head;
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
	pthread_mutex_unlock(&s->lock);
}

static void
open_list_del(struct fs_open_link *l)
{
	struct open_stripe *s = stripe_of(l);

	pthread_mutex_lock(&s->lock);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	pthread_mutex_unlock(&s->lock);
}

/* An open file. */
struct fs_handle {
	struct fs_open_link link;       /* first: the list gives back the handle */
	struct fs_node  node;
	pthread_mutex_t lock;
	struct fs_text *text;   /* the snapshot, or the last write's result; NULL: none */
	uint64_t        base;   /* the file offset at which text begins (see fs_read) */
	struct fs_events_reader *events;        /* an events file's reader */
	machvm_task_pin_t *pin; /* a task's file: its id is not reused while open */
};

/* An open directory. */
struct fs_dirhandle {
	struct fs_open_link link;       /* first, as in fs_handle */
	struct fs_node    node;
	struct fs_dirsnap snap;  /* tasks/ only: ids when the listing (re)started */
	bool              have_snap;
	machvm_task_pin_t *pin;  /* as fs_handle's */
};

/*
 * An open file or directory of a task pins the task's id (machvm.h): after
 * the task terminates the id is not reused while the file is open, so the
 * handle, which names the task by id, can only ever find it dead (ESRCH),
 * never a newer task.  At the session's end the host is already stopped
 * and has dropped every pin (unpin false).
 */
static void
handle_free(struct fs_handle *h, bool unpin)
{
	if (unpin)
		machvm_task_unpin(h->pin);
	fs_text_put(h->text);
	if (h->events)
		fs_events_close(h->events);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/*
 * Text buffers of whole-map files are big (a 65,000-region maps is 6 MiB)
 * and live from an open to its release.  Left to malloc's defaults each
 * one is a fresh mapping whose pages fault in as the text is written;
 * kept in the heap, the next open reuses pages already there.  Bulk writes
 * give memory back explicitly (ctl.c).
 */
#define TEXT_HEAP_MAX (32 << 20)

/* The events log wakes pollers through these (it knows nothing of FUSE). */
static void
wake_poller(void *ph)
{
	fuse_lowlevel_notify_poll(ph);
}

static void
drop_poller(void *ph)
{
	fuse_pollhandle_destroy(ph);
}

void
fs_ops_init(uid_t uid, gid_t gid)
{
	mallopt(M_MMAP_THRESHOLD, TEXT_HEAP_MAX);
	mallopt(M_TRIM_THRESHOLD, 2 * TEXT_HEAP_MAX);
	mount_uid = uid;
	mount_gid = gid;
	clock_gettime(CLOCK_REALTIME, &mount_time);
	fs_events_set_waker(wake_poller, drop_poller);
	for (size_t i = 0; i < OPEN_STRIPES; i++)
		pthread_mutex_init(&stripes[i].lock, NULL);
}

void
fs_ops_session(struct fuse_session *se)
{
	fs_cache_set_session(se);
}

void
fs_ops_bench_config(FILE *out)
{
	fprintf(out, "entry_timeout=%g\nattr_timeout=%g\nnegative_timeout=0\n"
	        "direct_io=1\nkeep_cache=0\nnoflush=1\nreaddirplus=1\n"
	        "atomic_o_trunc=1\ntext_size=1\n", FS_CACHE_TIMEOUT, FS_CACHE_TIMEOUT);
}

static struct fs_ctx
ctx_of(fuse_req_t req)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct fs_ctx c = { fc->uid, fc->gid, fc->uid == 0 || fc->uid == mount_uid };

	return c;
}

static bool
is_dir(const struct fs_node *n)
{
	return fs_row_of(n)->opens != FS_L_NONE;
}

/* A task's owner, asked once for many nodes of one task. */
struct owner {
	task_t task;
	bool   known;
	bool   final;
	uid_t  uid;
	gid_t  gid;
};

/*
 * Attributes of n (which is known to exist).  Returns whether they may be
 * cached: always, but for the files of a task still being made, whose
 * owner is not recorded yet.  o, if not NULL, remembers the owner.
 */
static bool
fill_attr(const struct fs_node *n, struct stat *st, struct owner *o)
{
	const struct fs_row *row = fs_row_of(n);
	struct owner own;
	bool final = true;

	memset(st, 0, sizeof *st);
	st->st_ino = fs_node_ino(n);
	st->st_mode = row->mode;
	st->st_nlink = is_dir(n) ? 2 : 1;
	if (n->task != TASK_NULL) {
		if (!o) {
			own.known = false;
			o = &own;
		}
		if (!o->known || o->task != n->task) {
			o->task = n->task;
			o->final = fs_taskinfo_owner(n->task, &o->uid, &o->gid);
			o->known = true;
		}
		st->st_uid = o->uid;
		st->st_gid = o->gid;
		final = o->final;
	} else {
		st->st_uid = mount_uid;
		st->st_gid = mount_gid;
	}
	if (row->flags & FS_DATA)
		st->st_size = (off_t)MACHVM_USER_MAX;
	else if (row->flags & FS_EVENTS)
		st->st_size = (off_t)fs_events_size(n->task);
	else
		st->st_size = 0;        /* a text's: set_size */
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = mount_time;
	return final;
}

static int open_text(const struct fs_node *n, struct fs_text **out);

/*
 * A text file's st_size in st, and the attribute timeout for its reply
 * (final: fill_attr's answer).  getattr: for a GETATTR (or SETATTR) reply,
 * else for a lookup or readdirplus entry, which gives a size that can
 * change as 0 with no timeout (cache.h says why): the stat that follows
 * asks for it.  0 or -errno (the file went away while being rendered).
 */
static int
set_size(const struct fs_node *n, struct stat *st, bool final, bool getattr, double *timeout)
{
	enum fs_size_kind kind = fs_cache_size_kind(n);
	struct fs_text *t;
	int rc;

	*timeout = fs_cache_attr_timeout(n, final);
	if (kind != FS_SIZE_STABLE && kind != FS_SIZE_CHANGING)
		return 0;
	if (kind == FS_SIZE_CHANGING && !getattr) {
		*timeout = 0.0;
		return 0;
	}
	/* Counted before the text is made: a change after it finds the count. */
	if (kind == FS_SIZE_CHANGING && *timeout > 0.0)
		fs_cache_attr_hold(fs_node_ino(n));
	rc = open_text(n, &t);
	if (rc)
		return rc;
	st->st_size = (off_t)t->len;
	fs_text_put(t);
	return 0;
}

/* The node of ino, if it still names something: 0 or -errno. */
static int
node_of(fuse_ino_t ino, struct fs_node *n)
{
	int rc = fs_ino_node(ino, n);

	return rc ? rc : fs_node_check(n);
}

/* Whether ctx may write n: read-only files never; the host's files
 * (host/save) only for root and the mounting user, refused at open so the
 * attempt records nothing (the verb's owner column checks again); task
 * files only for the task's owner (and root); tasks/ctl for everyone.
 * 0 or -EACCES. */
static int
may_write(const struct fs_node *n, const struct fs_ctx *ctx)
{
	const struct fs_row *row = fs_row_of(n);

	if (!row->write && !(row->flags & FS_DATA))
		return -EACCES;
	if (row->parent == FS_L_HOST && !ctx->privileged)
		return -EACCES;
	if (n->task != TASK_NULL && !fs_may_change(n->task, ctx))
		return -EACCES;
	return 0;
}

/*
 * The most pages the kernel puts in one WRITE request: what libfuse asks
 * for (max_write in pages, protocol 7.28 and later) within the kernel's
 * max_pages_limit, or the kernel's fixed 32 before 7.28.
 */
static size_t
kernel_max_pages(const struct fuse_conn_info *conn, size_t page)
{
	size_t pages = 32;
	FILE *f;

	if (conn->proto_minor >= 28) {
		unsigned long cap;

		pages = (conn->max_write - 1) / page + 1;
		f = fopen("/proc/sys/fs/fuse/max_pages_limit", "r");
		if (f) {
			if (fscanf(f, "%lu", &cap) == 1 && cap > 0 && cap < pages)
				pages = cap;
			fclose(f);
		}
	}
	return pages;
}

static void
fs_init(void *userdata, struct fuse_conn_info *conn)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	(void)userdata;
	/* echo > file must arrive as OPEN with O_TRUNC; writes must reach us
	 * at once so a bad value fails the write(2) itself. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* ls -l: names and attributes in one reply; plain ls: names only
	 * after the first batch. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
	/* A ctl write must reach us whole to be a unit (ctl.h). */
	fs_ctl_set_write_limit(conn->max_write, kernel_max_pages(conn, page), page);
	fs_cache_start();
	fs_debug("mounted, protocol %u.%u, max_write %u, ctl writes up to %zu bytes",
	         conn->proto_major, conn->proto_minor, conn->max_write, fs_ctl_write_limit());
}

/* Counts a tracked directory held (coherence.h); false if it is gone. */
static bool
hold_one(const struct fs_node *n, uint64_t gen)
{
	if (fs_row_of(n)->opens == FS_L_OBJECT)
		return fs_coherence_hold_object(n->object);
	return fs_coherence_hold(n->task, &n->start, 1, gen, NULL) != 0;
}

static void
release_one(const struct fs_node *n, uint64_t count)
{
	if (fs_row_of(n)->opens == FS_L_OBJECT)
		fs_coherence_release_object(n->object, count);
	else
		fs_coherence_release(n->task, n->start, count);
}

/*
 * The inode generation of a node: the task's serial below tasks/ (0
 * above).  Task ids are reused, and with them the inode numbers of a
 * task's files; the kernel takes an inode it still has under the same
 * number but another generation for a stale one and never reuses it (an
 * rmdir'd task directory stays dead in the kernel, and would make the
 * newer task's directory unusable).
 */
static uint64_t
generation_of(const struct fs_node *n)
{
	uint64_t serial = 0;

	if (n->task != TASK_NULL)
		(void)machvm_task_serial(n->task, &serial);
	return serial;
}

static void
fs_lookup_op(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_node dir, child;
	struct fuse_entry_param e;
	uint64_t gen = 0;
	bool final, tracked;
	int rc = node_of(parent, &dir);

	if (rc == 0 && fs_row_of(&dir)->opens == FS_L_REGIONS)
		gen = fs_coherence_gen(dir.task);
	if (rc == 0)
		rc = fs_lookup(&dir, name, &child);
	tracked = rc == 0 && fs_cache_tracked(&child);
	if (tracked && !hold_one(&child, gen))
		rc = -ENOENT;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	memset(&e, 0, sizeof e);
	e.ino = fs_node_ino(&child);
	e.generation = generation_of(&child);
	final = fill_attr(&child, &e.attr, NULL);
	rc = set_size(&child, &e.attr, final, false, &e.attr_timeout);
	if (rc) {
		if (tracked)
			release_one(&child, 1);
		fuse_reply_err(req, -rc);
		return;
	}
	e.entry_timeout = fs_cache_entry_timeout(&child, final);
	if (fuse_reply_entry(req, &e) != 0 && tracked)
		release_one(&child, 1);
}

static void
forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_node n;

	if (fs_ino_node(ino, &n) == 0 && fs_cache_tracked(&n))
		release_one(&n, nlookup);
}

static void
fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void
fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/*
 * For requests on an inode rather than a name (getattr, setattr): a
 * terminated task is ESRCH.  A path to it never gets here (its lookup fails
 * with ENOENT first), so these come from open files (fstat, ftruncate),
 * which the kernel does not always mark as such.
 */
static int
inode_node_of(fuse_ino_t ino, struct fs_node *n)
{
	int rc = node_of(ino, n);

	if (rc == -ENOENT && n->task != TASK_NULL && !machvm_task_alive(n->task))
		rc = -ESRCH;
	return rc;
}

static void
fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_node n;
	struct stat st;
	double timeout;
	bool final;
	int rc = inode_node_of(ino, &n);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	final = fill_attr(&n, &st, NULL);
	rc = set_size(&n, &st, final, true, &timeout);
	if (rc == -ENOENT && n.task != TASK_NULL && !machvm_task_alive(n.task))
		rc = -ESRCH;    /* terminated while its text was made */
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* fstat of an open events file: its size in that reader's offsets
	 * (they differ from the stream's after a missed-events line). */
	if (fi && (fs_row_of(&n)->flags & FS_EVENTS)) {
		struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

		if (h && h->events)
			st.st_size = (off_t)fs_events_reader_size(h->events);
	}
	fuse_reply_attr(req, &st, timeout);
}

/*
 * Only truncation (to 0, which `echo >` may send instead of O_TRUNC) of a
 * file one may write, and time stamps (ignored, so touch works); owners and
 * modes are fixed.
 */
static void
fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
           struct fuse_file_info *fi)
{
	struct fs_ctx ctx = ctx_of(req);
	struct fs_node n;
	struct stat st;
	double timeout = 0.0;
	int rc;

	(void)fi;
	rc = inode_node_of(ino, &n);
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = -EPERM;
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		rc = is_dir(&n) ? -EISDIR : may_write(&n, &ctx);
		if (rc == 0 && attr->st_size != 0)
			rc = -EINVAL;
	}
	if (rc == 0)
		rc = set_size(&n, &st, fill_attr(&n, &st, NULL), true, &timeout);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, timeout);
}

/*
 * A file whose read function checks that its task or region still exists
 * (every region file, and the task files that render from the task) need
 * not be checked first: one engine query fewer per open.
 */
static bool
read_checks_itself(const struct fs_node *n)
{
	const struct fs_row *row = fs_row_of(n);

	return row->read && n->task != TASK_NULL && !(row->flags & FS_RESULT);
}

/* The text an open of n reads: rendered now, or kept from the last open
 * and brought up to date (kept.h).  0 or -errno. */
static int
open_text(const struct fs_node *n, struct fs_text **out)
{
	struct fs_buf b;
	int rc;

	if (fs_row_of(n)->flags & FS_KEPT)
		return fs_kept_open(n, out);
	fs_buf_init(&b);
	rc = fs_row_of(n)->read(n, &b);
	if (rc == 0 && !(*out = fs_text_new(&b)))
		rc = -ENOMEM;
	if (rc) {
		fs_buf_free(&b);
		return rc;
	}
	return 0;
}

static void
fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx ctx = ctx_of(req);
	int acc = fi->flags & O_ACCMODE;
	bool writing = acc != O_RDONLY || (fi->flags & O_TRUNC);
	bool render;
	struct fs_handle *h;
	struct fs_node n;
	int rc = fs_ino_node(ino, &n);

	render = rc == 0 && fs_row_of(&n)->read && acc != O_WRONLY;
	if (rc == 0 && (writing || !render || !read_checks_itself(&n)))
		rc = fs_node_check(&n);
	if (rc == 0 && is_dir(&n))
		rc = -EISDIR;
	if (rc == 0 && writing)
		rc = may_write(&n, &ctx);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	h = calloc(1, sizeof *h);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->node = n;
	pthread_mutex_init(&h->lock, NULL);
	if (fs_row_of(&n)->flags & FS_EVENTS) {
		/* The reader first, then the task: a termination after this
		 * check is seen by the reader (events.h). */
		h->events = fs_events_open(n.task);
		rc = !h->events ? -ENOMEM : fs_node_check(&n);
	}
	if (rc == 0 && n.task != TASK_NULL && (h->pin = machvm_task_pin(n.task)) == NULL)
		rc = -ENOENT;   /* terminated since it was checked */
	if (rc == 0 && render)
		rc = open_text(&n, &h->text);
	if (rc) {
		handle_free(h, true);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	open_list_add(false, &h->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The open was interrupted: nobody will release the handle. */
		open_list_del(&h->link);
		handle_free(h, true);
	}
}

static void
fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	(void)ino;
	open_list_del(&h->link);
	handle_free(h, true);
	fuse_reply_err(req, 0);
}

/* A read of mem: vm_read at the file offset; short at a hole or past 2^47. */
static void
mem_read(fuse_req_t req, const struct fs_node *n, size_t size, off_t off)
{
	vm_size_t count = 0;
	kern_return_t kr;
	char *buf;

	if (off < 0 || (uint64_t)off >= MACHVM_USER_MAX) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > MACHVM_USER_MAX - (uint64_t)off)
		size = MACHVM_USER_MAX - (uint64_t)off;
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	kr = vm_read(n->task, (vm_address_t)off, size, buf, &count);
	/* A read counts faults (host/stats, status): their sizes may move. */
	fs_cache_attr_stale();
	if (kr != KERN_SUCCESS) {
		fs_debug("tasks/%u/mem: vm_read(0x%llx, %zu): %s", (unsigned)n->task,
		         (unsigned long long)off, size, kern_return_name(kr));
		fuse_reply_err(req, machvm_task_alive(n->task) ? fs_errno(kr) : ESRCH);
	} else {
		fuse_reply_buf(req, buf, count);
	}
	free(buf);
}

/*
 * An events file reads the log (events.c): a task's stream stays readable
 * after its task is gone, up to its task_terminate line and then the end,
 * so a follower ends cleanly.
 */
static void
events_read(fuse_req_t req, struct fs_handle *h, size_t size, off_t off)
{
	struct fs_buf b;
	int rc;

	fs_buf_init(&b);
	rc = off < 0 ? -EINVAL : fs_events_read(h->events, (uint64_t)off, size, &b);
	if (rc == 0)
		rc = fs_buf_status(&b);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, b.data, b.len);
	fs_buf_free(&b);
}

/*
 * Text files: reads at offsets past base are taken relative to base, where
 * the last write on this open file ended, so `exec 3<>ctl; echo create >&3;
 * read id <&3` reads the result from the start; reads below base are plain
 * offsets into the text (pread at 0 works too).
 */
static void
fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
        struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct fs_text *t;
	uint64_t base;
	size_t n = 0, at = 0;

	(void)ino;
	if (h->events) {
		events_read(req, h, size, off);
		return;
	}
	if (h->node.task != TASK_NULL && !machvm_task_alive(h->node.task)) {
		fuse_reply_err(req, ESRCH);
		return;
	}
	if (fs_row_of(&h->node)->flags & FS_DATA) {
		mem_read(req, &h->node, size, off);
		return;
	}
	pthread_mutex_lock(&h->lock);
	t = h->text;
	if (t)
		atomic_fetch_add(&t->refs, 1);
	base = h->base;
	pthread_mutex_unlock(&h->lock);
	if (t && off >= 0) {
		uint64_t pos = (uint64_t)off >= base ? (uint64_t)off - base : (uint64_t)off;

		if (pos < t->len) {
			at = (size_t)pos;
			n = t->len - at < size ? t->len - at : size;
		}
	}
	fuse_reply_buf(req, n ? t->data + at : NULL, n);
	fs_text_put(t);
}

/* Answers a write once what its calls made stale is out of the kernel:
 * rc < 0 an error, else count bytes written. */
static void
reply_scope(fuse_req_t req, struct fs_scope *scope, int rc, size_t count)
{
	if (rc < 0)
		fs_cache_reply_err(req, &scope->before, -rc);
	else
		fs_cache_reply_write(req, &scope->before, count);
	fs_cache_send(&scope->after);
	fs_scope_free(scope);
}

static void
mem_write(fuse_req_t req, const struct fs_node *n, const char *buf, size_t size,
          off_t off)
{
	struct fs_scope scope;
	vm_size_t count = 0;
	kern_return_t kr;
	char cause[320] = "";
	int rc = 0;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fs_scope_begin(&scope);
	fs_batch_shared_lock();
	kr = vm_write(n->task, (vm_address_t)off, buf, size, &count);
	if (kr != KERN_SUCCESS)
		fs_why_text(cause, sizeof cause);    /* the engine's record, at once */
	fs_batch_shared_unlock();
	fs_scope_end(&scope);
	if (kr != KERN_SUCCESS && !machvm_task_alive(n->task))
		rc = -ESRCH;
	else if (kr != KERN_SUCCESS)
		rc = -fs_fail(n->task, NULL, 0, kr,
		              "tasks/%u/mem: vm_write(task %u, 0x%llx, %zu) failed%s",
		              (unsigned)n->task, (unsigned)n->task, (unsigned long long)off, size,
		              cause);
	reply_scope(req, &scope, rc, count);
}

/* A write is answered once the names it made stale are gone from the
 * kernel (coherence.h). */
static void
fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct fs_ctx ctx = ctx_of(req);
	struct fs_scope scope;
	struct fs_buf result;
	int rc;

	(void)ino;
	if (h->node.task != TASK_NULL && !machvm_task_alive(h->node.task)) {
		fuse_reply_err(req, ESRCH);
		return;
	}
	if (fs_row_of(&h->node)->flags & FS_DATA) {
		mem_write(req, &h->node, buf, size, off);
		return;
	}
	fs_scope_begin(&scope);
	rc = fs_ctl_write(&h->node, &ctx, buf, size, &result, &scope);
	fs_scope_end(&scope);
	if (result.len && (fs_row_of(&h->node)->flags & FS_RESULT)) {
		struct fs_text *t = fs_text_new(&result), *old = NULL;

		if (t) {
			pthread_mutex_lock(&h->lock);
			old = h->text;
			h->text = t;
			h->base = off >= 0 ? (uint64_t)off + size : 0;
			pthread_mutex_unlock(&h->lock);
		}
		fs_text_put(old);
	}
	fs_buf_free(&result);
	reply_scope(req, &scope, rc, size);
}

/*
 * poll(2): an events file is ready when its stream has grown past where
 * this reader last read (events.c keeps the handle to wake it on the next
 * line); every other file is always ready, as regular files are.
 */
static void
fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
        struct fuse_pollhandle *ph)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	unsigned revents = POLLIN | POLLOUT;

	(void)ino;
	if (h->events) {
		revents = fs_events_poll(h->events, ph);
		if (revents == 0)
			ph = NULL;      /* kept by the log until it wakes it */
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, revents);
}

static void
fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_dirhandle *d;
	struct fs_node n;
	int rc = node_of(ino, &n);

	if (rc == 0 && !is_dir(&n))
		rc = -ENOTDIR;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	d = calloc(1, sizeof *d);
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	d->node = n;
	if (n.task != TASK_NULL && (d->pin = machvm_task_pin(n.task)) == NULL) {
		free(d);
		fuse_reply_err(req, ENOENT);
		return;
	}
	fi->fh = (uintptr_t)d;
	open_list_add(true, &d->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		open_list_del(&d->link);
		machvm_task_unpin(d->pin);
		free(d);
	}
}

/* ---- listing ------------------------------------------------------------ */

/* One entry of a batch, before it goes into the reply. */
struct dent {
	struct fs_node node;
	off_t          next;
	size_t         size;            /* bytes it takes in the reply */
	bool           tracked;         /* counted as held (coherence.h) */
	char           name[24];
};

/* The bytes an entry named name takes in a reply, by the length of the
 * name (asked of libfuse once per length). */
static size_t
dirent_size(fuse_req_t req, const char *name, bool plus)
{
	static _Atomic size_t sizes[2][32];
	size_t len = strlen(name), n;

	if (len >= 32)
		return plus ? fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0)
		            : fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	n = atomic_load_explicit(&sizes[plus][len], memory_order_relaxed);
	if (n == 0) {
		n = plus ? fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0)
		         : fuse_add_direntry(req, NULL, 0, name, NULL, 0);
		atomic_store_explicit(&sizes[plus][len], n, memory_order_relaxed);
	}
	return n;
}

/* A batch being filled from the generator. */
struct batch {
	fuse_req_t   req;
	bool         plus;
	size_t       room;              /* bytes left in the reply */
	struct dent *ents;
	size_t       count;
};

static int
batch_add(void *arg, const struct fs_entry *g)
{
	struct batch *b = arg;
	struct dent *e = &b->ents[b->count];

	e->node = g->node;
	e->tracked = false;
	memcpy(e->name, g->name, sizeof e->name);
	e->next = (off_t)(g->next + OFF_BASE);
	e->size = dirent_size(b->req, e->name, b->plus);
	if (e->size > b->room)
		return 1;
	b->room -= e->size;
	b->count++;
	return 0;
}

/*
 * One batch of entries from offset off.  The offset of an entry is where to
 * go on from after it (the generator's position, never an index), so a
 * listing that spans several requests stays right while tasks and regions
 * come and go.  tasks/ takes its list of ids when a listing starts (offset
 * 0) and resumes in it by id.  With plus, entries carry attributes and the
 * region directories among them are counted as held by the kernel.
 */
static void
do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fs_dirhandle *d = (struct fs_dirhandle *)(uintptr_t)fi->fh;
	const struct fs_dirsnap *snap = NULL;
	enum fs_level level = fs_row_of(&d->node)->opens;
	struct batch b = { req, plus, size, NULL, 0 };
	struct owner owner = { 0 };
	struct fuse_entry_param region;
	bool have_region = false;
	size_t used = 0;
	uint64_t gen = 0;
	char *buf;
	int rc = 0;

	if (d->node.task != TASK_NULL && fs_node_check(&d->node) != 0) {
		fuse_reply_err(req, machvm_task_alive(d->node.task) ? ENOENT : ESRCH);
		return;
	}
	if (level == FS_L_TASKS) {
		if (off == 0 || !d->have_snap) {
			fs_dirsnap_free(&d->snap);
			rc = fs_dirsnap_take(&d->snap);
			d->have_snap = rc == 0;
		}
		snap = &d->snap;
	}
	/* Every entry takes at least 32 bytes (24 + a name, 8-aligned). */
	b.ents = malloc((size / 32 + 1) * sizeof *b.ents);
	buf = malloc(size ? size : 1);
	if (rc || !buf || !b.ents) {
		free(b.ents);
		free(buf);
		fuse_reply_err(req, rc ? -rc : ENOMEM);
		return;
	}

	/* The batch: ".", "..", then the generator's entries. */
	while (off >= 0 && off < OFF_BASE) {
		struct dent *e = &b.ents[b.count];

		memset(e, 0, sizeof *e);
		e->node = off == 0 ? d->node : fs_node_parent(&d->node);
		snprintf(e->name, sizeof e->name, "%s", off == 0 ? "." : "..");
		e->next = off + 1;
		e->size = dirent_size(req, e->name, plus);
		if (e->size > b.room)
			break;
		b.room -= e->size;
		b.count++;
		off++;
	}
	if (off >= OFF_BASE && b.room > 0)
		rc = fs_gen(&d->node, (uint64_t)off - OFF_BASE, 0, snap, batch_add, &b, &gen);
	if (rc && rc != -ENOENT && b.count == 0) {
		free(b.ents);
		free(buf);
		fuse_reply_err(req, -rc);
		return;
	}

	/* Count the region directories handed out; if the map changed since
	 * they were found, those gone are left out. */
	if (plus && level == FS_L_REGIONS && b.count > 0) {
		vm_address_t *starts = malloc(b.count * sizeof *starts);
		bool *gone = malloc(b.count * sizeof *gone);
		size_t n = 0;

		if (!starts || !gone)
			abort();        /* a name handed out uncounted could go stale */
		for (size_t i = 0; i < b.count; i++) {
			b.ents[i].tracked = fs_cache_tracked(&b.ents[i].node);
			if (b.ents[i].tracked)
				starts[n++] = b.ents[i].node.start;
		}
		fs_coherence_hold(d->node.task, starts, n, gen, gone);
		for (size_t i = 0, k = 0; i < b.count; i++) {
			if (!b.ents[i].tracked)
				continue;
			if (gone[k++]) {
				b.ents[i].tracked = false;
				b.ents[i].name[0] = '\0';         /* left out */
			}
		}
		free(starts);
		free(gone);
	}
	/* The same for object directories, one by one (their deaths are not
	 * ordered by any generation). */
	if (plus && level == FS_L_OBJECTS)
		for (size_t i = 0; i < b.count; i++) {
			struct dent *e = &b.ents[i];

			if (!fs_cache_tracked(&e->node))
				continue;
			e->tracked = fs_coherence_hold_object(e->node.object);
			if (!e->tracked)
				e->name[0] = '\0';       /* left out */
		}

	for (size_t i = 0; i < b.count; i++) {
		struct dent *e = &b.ents[i];
		struct stat st;

		if (e->name[0] == '\0')
			continue;
		if (plus) {
			struct fuse_entry_param p;
			bool dot = i < 2 && (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0);
			bool region_dir = e->node.row == fs_region_row();

			if (dot) {
				/* No entry for . and ..: nothing to count, nothing cached. */
				memset(&p, 0, sizeof p);
				p.attr.st_ino = fs_node_ino(&e->node);
				p.attr.st_mode = S_IFDIR;
			} else if (region_dir && have_region) {
				/* Region directories differ only in their inode. */
				p = region;
				p.ino = p.attr.st_ino = fs_node_ino(&e->node);
			} else {
				bool final;

				memset(&p, 0, sizeof p);
				final = fill_attr(&e->node, &p.attr, &owner);
				p.ino = p.attr.st_ino;
				p.generation = generation_of(&e->node);
				/* Gone while listed: listed all the same, nothing cached. */
				if (set_size(&e->node, &p.attr, final, false, &p.attr_timeout) != 0)
					final = false;
				p.attr_timeout = final ? p.attr_timeout : 0.0;
				p.entry_timeout = fs_cache_entry_timeout(&e->node, final);
				if (region_dir && !e->node.alias) {
					region = p;
					have_region = true;
				}
			}
			used += fuse_add_direntry_plus(req, buf + used, size - used, e->name, &p,
			                               e->next);
		} else {
			memset(&st, 0, sizeof st);
			st.st_ino = fs_node_ino(&e->node);
			st.st_mode = fs_row_of(&e->node)->mode;
			used += fuse_add_direntry(req, buf + used, size - used, e->name, &st, e->next);
		}
	}
	if (fuse_reply_buf(req, buf, used) != 0 && plus) {
		/* The kernel never saw these entries: take the counts back. */
		for (size_t i = 0; i < b.count; i++)
			if (b.ents[i].tracked)
				release_one(&b.ents[i].node, 1);
	}
	free(b.ents);
	free(buf);
}

static void
fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, false);
}

static void
fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
               struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, true);
}

static void
fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_dirhandle *d = (struct fs_dirhandle *)(uintptr_t)fi->fh;

	(void)ino;
	open_list_del(&d->link);
	machvm_task_unpin(d->pin);
	fs_dirsnap_free(&d->snap);
	free(d);
	fuse_reply_err(req, 0);
}

/* The session is over: stop the notifier, free what the kernel never released. */
static void
fs_destroy(void *userdata)
{
	(void)userdata;
	fs_cache_stop();
	fs_kept_clear();
	for (size_t i = 0; i < OPEN_STRIPES; i++) {
		struct open_stripe *s = &stripes[i];

		pthread_mutex_lock(&s->lock);
		while (s->files.next && s->files.next != &s->files) {
			struct fs_handle *h = (struct fs_handle *)s->files.next;

			s->files.next = h->link.next;
			handle_free(h, false);
		}
		s->files.next = s->files.prev = &s->files;
		while (s->dirs.next && s->dirs.next != &s->dirs) {
			struct fs_dirhandle *d = (struct fs_dirhandle *)s->dirs.next;

			s->dirs.next = d->link.next;
			fs_dirsnap_free(&d->snap);
			free(d);
		}
		s->dirs.next = s->dirs.prev = &s->dirs;
		pthread_mutex_unlock(&s->lock);
	}
}

/* The tree is fixed: nothing is renamed, linked or made by mknod. */
static void
fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
          fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent; (void)name; (void)newparent; (void)newname; (void)flags;
	fuse_reply_err(req, EPERM);
}

static void
fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	fuse_reply_err(req, EPERM);
}

static void
fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent; (void)name;
	fuse_reply_err(req, EPERM);
}

static void
fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EPERM);
}

/*
 * rmdir tasks/<id> terminates the task; no other directory can go.  The
 * kernel drops the task's own entry itself; the names below it that it
 * holds are invalidated too, for a process whose working directory is
 * inside: those under regions/ before the reply, the task's own files
 * after it (the kernel holds the task directory's lock until the reply).
 */
/*
 * rmdir tasks/<id> terminates the task; no other directory can go.  The
 * kernel drops the task's own entry itself; the names below it that it
 * holds are invalidated too (coherence.h), for a process whose working
 * directory is inside: those under regions/ before the reply, the task's
 * own files after it (the kernel holds the task directory's lock until the
 * reply).
 */
static void
fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx ctx = ctx_of(req);
	struct fs_node dir, child;
	struct fs_scope scope;
	kern_return_t kr;
	int rc = node_of(parent, &dir);

	if (rc == 0)
		rc = fs_lookup(&dir, name, &child);
	if (rc == 0 && fs_row_of(&child)->opens != FS_L_TASK)
		rc = is_dir(&child) ? -EPERM : -ENOTDIR;
	if (rc == 0 && !fs_may_change(child.task, &ctx))
		rc = -EACCES;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs_scope_begin(&scope);
	scope.rmdir = true;
	fs_batch_shared_lock();
	kr = task_terminate(child.task);
	fs_batch_shared_unlock();
	fs_scope_end(&scope);
	if (kr == KERN_SUCCESS) {
		fs_debug("tasks/%u: terminated", (unsigned)child.task);
		rc = 0;
	} else {
		/* Lost a race with another rmdir: it is gone all the same. */
		rc = machvm_task_alive(child.task) ? -fs_errno(kr) : -ENOENT;
	}
	fs_cache_reply_err(req, &scope.before, -rc);
	fs_cache_send(&scope.after);
	fs_scope_free(&scope);
}

/* Names are made by the tree, never by users. */
static void
fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EPERM);
}

static void
fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fuse_reply_err(req, EACCES);
}

static void
fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init         = fs_init,
	.destroy      = fs_destroy,
	.rename       = fs_rename,
	.link         = fs_link,
	.symlink      = fs_symlink,
	.mknod        = fs_mknod,
	.lookup       = fs_lookup_op,
	.forget       = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr      = fs_getattr,
	.setattr      = fs_setattr,
	.open         = fs_open,
	.read         = fs_read,
	.write        = fs_write,
	.release      = fs_release,
	.poll         = fs_poll,
	.opendir      = fs_opendir,
	.readdir      = fs_readdir,
	.readdirplus  = fs_readdirplus,
	.releasedir   = fs_releasedir,
	.rmdir        = fs_rmdir,
	.mkdir        = fs_mkdir,
	.create       = fs_create,
	.unlink       = fs_unlink,
};
