/*
 * ops.c - the FUSE callbacks: each turns a request into tree lookups, one
 * render or one write (ctl.c), and a reply.
 *
 * Caching (cache.h): the kernel keeps entries and attributes for a day and
 * is told when a region directory it holds goes away; text files are
 * opened with direct_io, and a file's text is rendered once at open and
 * kept in the handle, so a reader sees one snapshot however small its
 * reads and every open sees the state of that moment.  st_size is 0 for
 * text files (the size is not known before rendering, as in procfs) and
 * the top of the user range for mem.
 *
 * Entries the kernel holds for region directories are counted (lookups and
 * readdirplus up, FORGET down) so a change knows which names to
 * invalidate.  A name is counted before the reply that hands it out, and
 * found again if the task's map changed while it was being looked up (the
 * generation moved): a change either sees the count or is seen by the
 * lookup.  The kernel holds the directory's lock across a lookup or a
 * readdir, and an invalidation takes that lock, so an invalidation that
 * races with the reply lands after the name is in place.
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <machvm/machvm.h>

#include "cache.h"
#include "ctl.h"
#include "errors.h"
#include "log.h"
#include "render.h"
#include "taskinfo.h"
#include "tree.h"

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

/* A text an open file reads from: shared by the handle and the reads in
 * flight, freed with its last reference. */
struct fs_text {
	_Atomic size_t refs;
	size_t         len;
	char          *data;
};

/* A text taking over b's data (b is emptied); NULL when out of memory. */
static struct fs_text *
text_new(struct fs_buf *b)
{
	struct fs_text *t = malloc(sizeof *t);

	if (!t)
		return NULL;
	atomic_init(&t->refs, 1);
	t->len = b->len;
	t->data = b->data;
	fs_buf_init(b);
	return t;
}

static void
text_put(struct fs_text *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
		free(t->data);
		free(t);
	}
}

/* An open file. */
struct fs_handle {
	struct fs_open_link link;       /* first: the list gives back the handle */
	struct fs_node  node;
	pthread_mutex_t lock;
	struct fs_text *text;   /* the snapshot, or the last write's result; NULL: none */
	uint64_t        base;   /* the file offset at which text begins (see fs_read) */
};

/* An open directory. */
struct fs_dirhandle {
	struct fs_open_link link;       /* first, as in fs_handle */
	struct fs_node    node;
	struct fs_dirsnap snap;  /* tasks/ only: ids when the listing (re)started */
	bool              have_snap;
};

static void
handle_free(struct fs_handle *h)
{
	text_put(h->text);
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

void
fs_ops_init(uid_t uid, gid_t gid)
{
	mallopt(M_MMAP_THRESHOLD, TEXT_HEAP_MAX);
	mallopt(M_TRIM_THRESHOLD, 2 * TEXT_HEAP_MAX);
	mount_uid = uid;
	mount_gid = gid;
	clock_gettime(CLOCK_REALTIME, &mount_time);
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
	        "atomic_o_trunc=1\ntext_size=0\n", FS_CACHE_TIMEOUT, FS_CACHE_TIMEOUT);
}

static struct fs_ctx
ctx_of(fuse_req_t req)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct fs_ctx c = { fc->uid, fc->gid, fc->uid == 0 || fc->uid == mount_uid, NULL };

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
	st->st_size = (row->flags & FS_DATA) ? (off_t)MACHVM_USER_MAX : 0;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = mount_time;
	return final;
}

/* The node of ino, if it still names something: 0 or -errno. */
static int
node_of(fuse_ino_t ino, struct fs_node *n)
{
	int rc = fs_ino_node(ino, n);

	return rc ? rc : fs_node_check(n);
}

/* Whether ctx may write n: read-only files never; task files only for the
 * task's owner (and root); tasks/ctl for everyone.  0 or -EACCES. */
static int
may_write(const struct fs_node *n, const struct fs_ctx *ctx)
{
	const struct fs_row *row = fs_row_of(n);

	if (!row->write && !(row->flags & FS_DATA))
		return -EACCES;
	if (n->task != TASK_NULL && !fs_may_change(n->task, ctx))
		return -EACCES;
	return 0;
}

static void
fs_init(void *userdata, struct fuse_conn_info *conn)
{
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
	fs_cache_start();
	fs_debug("mounted, protocol %u.%u", conn->proto_major, conn->proto_minor);
}

/*
 * Counts the kernel's new entry for a region directory (see the top):
 * false if the region went away meanwhile (the count is taken back).
 */
static bool
track_entry(const struct fs_node *n, uint64_t gen_before)
{
	vm_size_t size;

	if (fs_taskinfo_known_add(n->task, &n->start, 1) == gen_before ||
	    fs_region_find(n->task, n->start, &size) == 0)
		return true;
	fs_taskinfo_known_drop(n->task, n->start, 1);
	return false;
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
		gen = fs_taskinfo_gen(dir.task);
	if (rc == 0)
		rc = fs_lookup(&dir, name, &child);
	tracked = rc == 0 && fs_cache_tracked(&child);
	if (tracked && !track_entry(&child, gen))
		rc = -ENOENT;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	memset(&e, 0, sizeof e);
	e.ino = fs_node_ino(&child);
	final = fill_attr(&child, &e.attr, NULL);
	e.attr_timeout = fs_cache_attr_timeout(&child, final);
	e.entry_timeout = fs_cache_entry_timeout(&child, final);
	if (fuse_reply_entry(req, &e) != 0 && tracked)
		fs_taskinfo_known_drop(child.task, child.start, 1);
}

static void
forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_node n;

	if (fs_ino_node(ino, &n) == 0 && fs_cache_tracked(&n))
		fs_taskinfo_known_drop(n.task, n.start, nlookup);
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
	int rc = inode_node_of(ino, &n);

	(void)fi;
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, fs_cache_attr_timeout(&n, fill_attr(&n, &st, NULL)));
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
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, fs_cache_attr_timeout(&n, fill_attr(&n, &st, NULL)));
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

/*
 * The last text of the whole-map files (maps, maps.json), kept while the
 * content generation (cache.h) does not move: reading them again without a
 * change in between costs no snapshot.  A few direct-mapped slots, each
 * holding one task's text, so memory stays bounded.
 */
#define TEXT_SLOTS     16
#define TEXT_SLOT_MAX  (16u << 20)      /* bigger texts are not kept */

static struct text_slot {
	pthread_mutex_t lock;
	task_t          task;
	unsigned        row;
	uint64_t        gen;
	struct fs_text *text;   /* NULL: empty */
} text_slots[TEXT_SLOTS];
static pthread_once_t text_slots_once = PTHREAD_ONCE_INIT;

static void
text_slots_init(void)
{
	for (size_t i = 0; i < TEXT_SLOTS; i++)
		pthread_mutex_init(&text_slots[i].lock, NULL);
}

static bool
text_kept(const struct fs_node *n)
{
	fs_read_fn read = fs_row_of(n)->read;

	return read == fs_read_maps || read == fs_read_maps_json;
}

static struct text_slot *
text_slot_of(const struct fs_node *n)
{
	pthread_once(&text_slots_once, text_slots_init);
	return &text_slots[(n->task * 2 + (fs_row_of(n)->read == fs_read_maps)) % TEXT_SLOTS];
}

/* The kept text of n if it is current (a reference), else NULL. */
static struct fs_text *
text_lookup(const struct fs_node *n, uint64_t gen)
{
	struct text_slot *s = text_slot_of(n);
	struct fs_text *t = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->text && s->task == n->task && s->row == n->row && s->gen == gen) {
		t = s->text;
		atomic_fetch_add(&t->refs, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return t;
}

/* Keeps t as n's text rendered at generation gen. */
static void
text_keep(const struct fs_node *n, struct fs_text *t, uint64_t gen)
{
	struct text_slot *s = text_slot_of(n);
	struct fs_text *old;

	if (t->len > TEXT_SLOT_MAX)
		return;
	atomic_fetch_add(&t->refs, 1);
	pthread_mutex_lock(&s->lock);
	old = s->text;
	s->text = t;
	s->task = n->task;
	s->row = n->row;
	s->gen = gen;
	pthread_mutex_unlock(&s->lock);
	text_put(old);
}

/* The text an open of n reads: rendered now, or kept from the last open
 * when nothing changed since.  0 or -errno. */
static int
open_text(const struct fs_node *n, struct fs_text **out)
{
	uint64_t gen = text_kept(n) ? fs_cache_content_gen() : 0;
	struct fs_buf b;
	int rc;

	if (text_kept(n) && (*out = text_lookup(n, gen)) != NULL)
		return 0;
	fs_buf_init(&b);
	rc = fs_row_of(n)->read(n, &b);
	if (rc == 0 && !(*out = text_new(&b)))
		rc = -ENOMEM;
	if (rc) {
		fs_buf_free(&b);
		return rc;
	}
	if (text_kept(n))
		text_keep(n, *out, gen);
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
	if (render && (rc = open_text(&n, &h->text)) != 0) {
		handle_free(h);
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
		handle_free(h);
	}
}

static void
fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	(void)ino;
	open_list_del(&h->link);
	handle_free(h);
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
	text_put(t);
}

static void
mem_write(fuse_req_t req, const struct fs_node *n, const char *buf, size_t size,
          off_t off)
{
	vm_size_t count = 0;
	kern_return_t kr;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	kr = vm_write(n->task, (vm_address_t)off, buf, size, &count);
	fs_cache_content_changed();     /* pages, objects, share modes */
	if (kr == KERN_SUCCESS) {
		fuse_reply_write(req, count);
	} else if (!machvm_task_alive(n->task)) {
		fuse_reply_err(req, ESRCH);
	} else {
		fuse_reply_err(req, fs_fail(n->task, NULL, 0, kr,
		                            "tasks/%u/mem: vm_write(task %u, 0x%llx, %zu) failed",
		                            (unsigned)n->task, (unsigned)n->task,
		                            (unsigned long long)off, size));
	}
}

/* A write that changes maps is answered once the names it made stale are
 * gone from the kernel (cache.h). */
static void
fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct fs_ctx ctx = ctx_of(req);
	struct fs_inval inval;
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
	fs_inval_init(&inval);
	ctx.inval = &inval;
	rc = fs_ctl_write(&h->node, &ctx, buf, size, &result);
	if (result.len && (fs_row_of(&h->node)->flags & FS_RESULT)) {
		struct fs_text *t = text_new(&result), *old = NULL;

		if (t) {
			pthread_mutex_lock(&h->lock);
			old = h->text;
			h->text = t;
			h->base = off >= 0 ? (uint64_t)off + size : 0;
			pthread_mutex_unlock(&h->lock);
		}
		text_put(old);
	}
	fs_buf_free(&result);
	if (rc)
		fs_cache_reply_err(req, &inval, -rc);
	else
		fs_cache_reply_write(req, &inval, size);
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
	fi->fh = (uintptr_t)d;
	open_list_add(true, &d->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		open_list_del(&d->link);
		free(d);
	}
}

/* ---- listing ------------------------------------------------------------ */

/* One entry of a batch, before it goes into the reply. */
struct dent {
	struct fs_node node;
	off_t          next;
	size_t         size;            /* bytes it takes in the reply */
	bool           tracked;         /* counted in the known set */
	char           name[24];
};

/* The row of region directories (tasks/<id>/regions/<start>/). */
static unsigned
region_dir_row(void)
{
	static unsigned row;

	if (row == 0)
		for (unsigned r = 0; r < fs_nrows; r++)
			if (fs_rows[r].opens == FS_L_REGION)
				row = r;
	return row;
}

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

/* "0x" and 16 lower-case hex digits, as tree.c names region directories. */
static void
region_name(vm_address_t a, char out[24])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t v = a;

	out[0] = '0';
	out[1] = 'x';
	for (int i = 17; i >= 2; i -= 2) {
		out[i] = hex[v & 15];
		out[i - 1] = hex[(v >> 4) & 15];
		v >>= 8;
	}
	out[18] = '\0';
}

/* Every region start of task, by walking the map; NULL on failure. */
static struct fs_starts *
starts_walk(task_t task)
{
	size_t cap = 256;
	struct fs_starts *s = malloc(sizeof *s + cap * sizeof s->start[0]);
	vm_address_t a = 0;

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	s->count = 0;
	for (;;) {
		vm_size_t size;
		vm_prot_t prot, max;
		vm_inherit_t inh;
		boolean_t shared;
		mach_port_t object;
		vm_offset_t offset;

		if (vm_region(task, &a, &size, &prot, &max, &inh, &shared, &object, &offset)
		    != KERN_SUCCESS)
			break;
		if (s->count == cap) {
			struct fs_starts *bigger;

			cap *= 2;
			bigger = realloc(s, sizeof *s + cap * sizeof s->start[0]);
			if (!bigger) {
				free(s);
				return NULL;
			}
			s = bigger;
		}
		s->start[s->count++] = a;
		if (a + size <= a)
			break;
		a += size;
	}
	/* Kept until the map changes: give the slack back. */
	if (s->count < cap) {
		struct fs_starts *fit = realloc(s, sizeof *s + s->count * sizeof s->start[0]);

		if (fit)
			s = fit;
	}
	return s;
}

/*
 * Entries of regions/ from position pos into ents (at most room bytes),
 * from the task's list of starts: taken when a listing starts and kept
 * until the map changes, so listing a big map again costs no engine call
 * per region.  Without a current list in the middle of a listing: 1, the
 * caller walks with the generator.  0 or 1; *gen is the generation the
 * entries were seen at.
 */
static int
gen_regions_from_list(const struct fs_node *dir, uint64_t pos, bool start, bool plus,
                      fuse_req_t req, size_t room, struct dent *ents, size_t *count,
                      uint64_t *gen)
{
	struct fs_starts *s = fs_taskinfo_starts(dir->task, gen);
	uint64_t key = pos >= FS_POS_DYN ? pos - FS_POS_DYN : 0;
	size_t lo = 0, hi, used = 0;

	if (!s) {
		if (!start)
			return 1;
		s = starts_walk(dir->task);
		if (!s)
			return 1;
		fs_taskinfo_starts_keep(dir->task, s, *gen);
	}
	hi = s->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->start[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	*count = 0;
	for (size_t i = lo; i < s->count; i++) {
		struct dent *e = &ents[*count];

		memset(&e->node, 0, sizeof e->node);
		e->tracked = false;
		e->node.row = region_dir_row();
		e->node.task = dir->task;
		e->node.start = s->start[i];
		region_name(s->start[i], e->name);
		e->next = (off_t)(FS_POS_DYN + s->start[i] + 1 + OFF_BASE);
		e->size = dirent_size(req, e->name, plus);
		if (used + e->size > room)
			break;
		used += e->size;
		(*count)++;
	}
	fs_starts_put(s);
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
	struct dent *ents;
	struct owner owner = { 0 };
	struct fuse_entry_param region;
	bool have_region = false;
	size_t count = 0, used = 0, room = size;
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
	ents = malloc((size / 32 + 1) * sizeof *ents);
	buf = malloc(size ? size : 1);
	if (rc || !buf || !ents) {
		free(ents);
		free(buf);
		fuse_reply_err(req, rc ? -rc : ENOMEM);
		return;
	}

	/* The batch: ".", "..", then the generator's (or the list's) entries. */
	while (off >= 0 && off < OFF_BASE) {
		struct dent *e = &ents[count];

		memset(e, 0, sizeof *e);
		e->node = off == 0 ? d->node : fs_node_parent(&d->node);
		snprintf(e->name, sizeof e->name, "%s", off == 0 ? "." : "..");
		e->next = off + 1;
		e->size = dirent_size(req, e->name, plus);
		if (e->size > room)
			break;
		room -= e->size;
		count++;
		off++;
	}
	if (off >= OFF_BASE && room > 0) {
		size_t more = 0;
		int slow = 1;

		if (level == FS_L_REGIONS)
			slow = gen_regions_from_list(&d->node, (uint64_t)off - OFF_BASE,
			                             off == OFF_BASE, plus, req, room,
			                             ents + count, &more, &gen);
		else
			gen = 0;
		if (slow) {
			if (level == FS_L_REGIONS)
				gen = fs_taskinfo_gen(d->node.task);
			while (off >= 0) {
				struct fs_entry g;
				struct dent *e = &ents[count + more];

				rc = fs_gen(&d->node, (uint64_t)off - OFF_BASE, 0, snap, &g);
				if (rc)
					break;
				e->node = g.node;
				e->tracked = false;
				memcpy(e->name, g.name, sizeof e->name);
				e->next = (off_t)(g.next + OFF_BASE);
				e->size = dirent_size(req, e->name, plus);
				if (e->size > room)
					break;
				room -= e->size;
				more++;
				off = e->next;
			}
		}
		count += more;
	}
	if (rc && rc != -ENOENT && count == 0) {
		free(ents);
		free(buf);
		fuse_reply_err(req, -rc);
		return;
	}

	/* Count the region directories handed out; if the map changed since
	 * they were found, keep only those that are still there. */
	if (plus && level == FS_L_REGIONS && count > 0) {
		vm_address_t *starts = malloc(count * sizeof *starts);
		size_t n = 0;

		if (!starts)
			abort();        /* a name handed out uncounted could go stale */
		for (size_t i = 0; i < count; i++) {
			ents[i].tracked = fs_cache_tracked(&ents[i].node);
			if (ents[i].tracked)
				starts[n++] = ents[i].node.start;
		}
		if (n && fs_taskinfo_known_add(d->node.task, starts, n) != gen) {
			for (size_t i = 0; i < count; i++) {
				vm_size_t rsize;

				if (ents[i].tracked &&
				    fs_region_find(d->node.task, ents[i].node.start, &rsize) != 0) {
					fs_taskinfo_known_drop(d->node.task, ents[i].node.start, 1);
					ents[i].tracked = false;
					ents[i].name[0] = '\0';         /* left out */
				}
			}
		}
		free(starts);
	}

	for (size_t i = 0; i < count; i++) {
		struct dent *e = &ents[i];
		struct stat st;

		if (e->name[0] == '\0')
			continue;
		if (plus) {
			struct fuse_entry_param p;
			bool dot = i < 2 && (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0);

			if (dot) {
				/* No entry for . and ..: nothing to count, nothing cached. */
				memset(&p, 0, sizeof p);
				p.attr.st_ino = fs_node_ino(&e->node);
				p.attr.st_mode = S_IFDIR;
			} else if (e->node.row == region_dir_row() && have_region) {
				/* Region directories differ only in their inode. */
				p = region;
				p.ino = p.attr.st_ino = fs_node_ino(&e->node);
			} else {
				bool final;

				memset(&p, 0, sizeof p);
				final = fill_attr(&e->node, &p.attr, &owner);
				p.ino = p.attr.st_ino;
				p.attr_timeout = fs_cache_attr_timeout(&e->node, final);
				p.entry_timeout = fs_cache_entry_timeout(&e->node, final);
				if (e->node.row == region_dir_row() && !e->node.alias) {
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
		for (size_t i = 0; i < count; i++)
			if (ents[i].tracked)
				fs_taskinfo_known_drop(d->node.task, ents[i].node.start, 1);
	}
	free(ents);
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
	for (size_t i = 0; i < TEXT_SLOTS; i++) {
		text_put(text_slots[i].text);
		text_slots[i].text = NULL;
	}
	for (size_t i = 0; i < OPEN_STRIPES; i++) {
		struct open_stripe *s = &stripes[i];

		pthread_mutex_lock(&s->lock);
		while (s->files.next && s->files.next != &s->files) {
			struct fs_handle *h = (struct fs_handle *)s->files.next;

			s->files.next = h->link.next;
			handle_free(h);
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
static void
fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx ctx = ctx_of(req);
	struct fs_node dir, child;
	struct fs_inval inval, later;
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
	kr = task_terminate(child.task);
	fs_cache_content_changed();     /* other tasks' share modes and counts */
	if (kr == KERN_SUCCESS) {
		fs_inval_init(&inval);
		fs_inval_init(&later);
		fs_cache_task_gone(child.task, &inval);
		fs_cache_task_files(child.task, &later);
		fs_taskinfo_remove(child.task);
		fs_debug("tasks/%u: terminated", (unsigned)child.task);
		fs_cache_reply_err(req, &inval, 0);
		fs_cache_send(&later);
	} else {
		/* Lost a race with another rmdir: it is gone all the same. */
		fuse_reply_err(req, machvm_task_alive(child.task) ? fs_errno(kr) : ENOENT);
	}
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
	.opendir      = fs_opendir,
	.readdir      = fs_readdir,
	.readdirplus  = fs_readdirplus,
	.releasedir   = fs_releasedir,
	.rmdir        = fs_rmdir,
	.mkdir        = fs_mkdir,
	.create       = fs_create,
	.unlink       = fs_unlink,
};
