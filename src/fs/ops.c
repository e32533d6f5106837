/*
 * ops.c - the FUSE callbacks: each turns a request into tree lookups, one
 * render or one write (ctl.c), and a reply.
 *
 * Caching: none yet.  Entry and attribute timeouts are 0 and every file is
 * opened with direct_io, so the kernel asks again on each access and never
 * serves stale text; a file's text is rendered once at open and kept in the
 * handle, so a reader sees one snapshot however small its reads.  st_size is
 * 0 for text files (the size is not known before rendering, as in procfs)
 * and the top of the user range for mem.
 *
 * Locking: no lock is shared between requests on different open files.  A
 * handle's lock guards its text, which a write may replace (the result of a
 * ctl write); it is never held across an engine call or a reply.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <machvm/machvm.h>

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

/* An open file. */
/*
 * Every open file and directory is also on a list, so that handles the
 * kernel never releases (the daemon stopped by a signal while files were
 * open) are freed when the session ends.
 */
struct fs_open_link {
	struct fs_open_link *prev, *next;
};

static pthread_mutex_t open_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_open_link open_files, open_dirs;   /* list heads */

static void open_list_add(struct fs_open_link *head, struct fs_open_link *l)
{
	pthread_mutex_lock(&open_list_lock);
	if (head->next == NULL)
		head->next = head->prev = head;
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
	pthread_mutex_unlock(&open_list_lock);
}

static void open_list_del(struct fs_open_link *l)
{
	pthread_mutex_lock(&open_list_lock);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	pthread_mutex_unlock(&open_list_lock);
}

struct fs_handle {
	struct fs_open_link link;       /* first: the list gives back the handle */
	struct fs_node  node;
	pthread_mutex_t lock;
	char           *text;   /* the snapshot, or the last write's result */
	size_t          len;
	uint64_t        base;   /* the file offset at which text begins (see fs_read) */
};

/* An open directory. */
struct fs_dirhandle {
	struct fs_open_link link;       /* first, as in fs_handle */
	struct fs_node    node;
	struct fs_dirsnap snap;  /* tasks/ only: ids when the listing (re)started */
	bool              have_snap;
};

void
fs_ops_init(uid_t uid, gid_t gid)
{
	mount_uid = uid;
	mount_gid = gid;
	clock_gettime(CLOCK_REALTIME, &mount_time);
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

/* Attributes of n (which is known to exist). */
static void
fill_attr(const struct fs_node *n, struct stat *st)
{
	const struct fs_row *row = fs_row_of(n);

	memset(st, 0, sizeof *st);
	st->st_ino = fs_node_ino(n);
	st->st_mode = row->mode;
	st->st_nlink = is_dir(n) ? 2 : 1;
	if (n->task != TASK_NULL) {
		fs_taskinfo_owner(n->task, &st->st_uid, &st->st_gid);
	} else {
		st->st_uid = mount_uid;
		st->st_gid = mount_gid;
	}
	st->st_size = (row->flags & FS_DATA) ? (off_t)MACHVM_USER_MAX : 0;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = mount_time;
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
	fs_debug("mounted, protocol %u.%u", conn->proto_major, conn->proto_minor);
}

static void
fs_lookup_op(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_node dir, child;
	struct fuse_entry_param e;
	int rc = node_of(parent, &dir);

	if (rc == 0)
		rc = fs_lookup(&dir, name, &child);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	memset(&e, 0, sizeof e);
	e.ino = fs_node_ino(&child);
	e.attr_timeout = 0.0;
	e.entry_timeout = 0.0;
	fill_attr(&child, &e.attr);
	fuse_reply_entry(req, &e);
}

static void
fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Nodes are computed from inode numbers, nothing to release. */
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void
fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
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
	fill_attr(&n, &st);
	fuse_reply_attr(req, &st, 0.0);
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
	fill_attr(&n, &st);
	fuse_reply_attr(req, &st, 0.0);
}

static void
fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx ctx = ctx_of(req);
	int acc = fi->flags & O_ACCMODE;
	bool writing = acc != O_RDONLY || (fi->flags & O_TRUNC);
	struct fs_handle *h;
	struct fs_node n;
	int rc = node_of(ino, &n);

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
	if (fs_row_of(&n)->read && acc != O_WRONLY) {
		struct fs_buf b;

		fs_buf_init(&b);
		rc = fs_row_of(&n)->read(&n, &b);
		if (rc) {
			fs_buf_free(&b);
			pthread_mutex_destroy(&h->lock);
			free(h);
			fuse_reply_err(req, -rc);
			return;
		}
		h->text = b.data;
		h->len = b.len;
	}
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	open_list_add(&open_files, &h->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The open was interrupted: nobody will release the handle. */
		open_list_del(&h->link);
		free(h->text);
		pthread_mutex_destroy(&h->lock);
		free(h);
	}
}

static void
fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	(void)ino;
	open_list_del(&h->link);
	free(h->text);
	pthread_mutex_destroy(&h->lock);
	free(h);
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
	char *slice = NULL;
	size_t n = 0;

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
	if (off >= 0) {
		uint64_t at = (uint64_t)off >= h->base ? (uint64_t)off - h->base : (uint64_t)off;

		if (at < h->len) {
			n = h->len - at < size ? h->len - at : size;
			slice = malloc(n);
			if (slice)
				memcpy(slice, h->text + at, n);
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (n && !slice)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, slice, n);
	free(slice);
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

static void
fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct fs_ctx ctx = ctx_of(req);
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
	rc = fs_ctl_write(&h->node, &ctx, buf, size, &result);
	if (result.len && (fs_row_of(&h->node)->flags & FS_RESULT)) {
		char *old;

		pthread_mutex_lock(&h->lock);
		old = h->text;
		h->text = result.data;
		h->len = result.len;
		h->base = off >= 0 ? (uint64_t)off + size : 0;
		pthread_mutex_unlock(&h->lock);
		free(old);
	} else {
		fs_buf_free(&result);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
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
	open_list_add(&open_dirs, &d->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		open_list_del(&d->link);
		free(d);
	}
}

/*
 * One batch of entries from offset off.  The offset of an entry is where to
 * go on from after it (the generator's position, never an index), so a
 * listing that spans several requests stays right while tasks and regions
 * come and go.  tasks/ takes its list of ids when a listing starts (offset
 * 0) and resumes in it by id.
 */
static void
fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
	struct fs_dirhandle *d = (struct fs_dirhandle *)(uintptr_t)fi->fh;
	const struct fs_dirsnap *snap = NULL;
	size_t used = 0;
	char *buf;
	int rc = 0;

	(void)ino;
	if (d->node.task != TASK_NULL && fs_node_check(&d->node) != 0) {
		fuse_reply_err(req, machvm_task_alive(d->node.task) ? ENOENT : ESRCH);
		return;
	}
	if (fs_row_of(&d->node)->opens == FS_L_TASKS) {
		if (off == 0 || !d->have_snap) {
			fs_dirsnap_free(&d->snap);
			rc = fs_dirsnap_take(&d->snap);
			d->have_snap = rc == 0;
		}
		snap = &d->snap;
	}
	buf = malloc(size);
	if (rc || !buf) {
		free(buf);
		fuse_reply_err(req, rc ? -rc : ENOMEM);
		return;
	}
	while (off >= 0) {
		struct stat st;
		struct fs_entry e;
		struct fs_node dot;
		const char *name;
		off_t next;
		size_t want;

		memset(&st, 0, sizeof st);
		if (off < OFF_BASE) {
			dot = off == 0 ? d->node : fs_node_parent(&d->node);
			name = off == 0 ? "." : "..";
			st.st_ino = fs_node_ino(&dot);
			st.st_mode = S_IFDIR;
			next = off + 1;
		} else {
			rc = fs_gen(&d->node, (uint64_t)off - OFF_BASE, 0, snap, &e);
			if (rc)
				break;
			name = e.name;
			st.st_ino = fs_node_ino(&e.node);
			st.st_mode = fs_row_of(&e.node)->mode;
			next = (off_t)(e.next + OFF_BASE);
		}
		want = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
		if (want > size - used)
			break;
		used += want;
		off = next;
	}
	if (rc && rc != -ENOENT && used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
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

/* The session is over: free what the kernel never released. */
static void
fs_destroy(void *userdata)
{
	(void)userdata;
	pthread_mutex_lock(&open_list_lock);
	while (open_files.next && open_files.next != &open_files) {
		struct fs_handle *h = (struct fs_handle *)open_files.next;
		open_files.next = h->link.next;
		free(h->text);
		pthread_mutex_destroy(&h->lock);
		free(h);
	}
	open_files.next = open_files.prev = &open_files;
	while (open_dirs.next && open_dirs.next != &open_dirs) {
		struct fs_dirhandle *d = (struct fs_dirhandle *)open_dirs.next;
		open_dirs.next = d->link.next;
		fs_dirsnap_free(&d->snap);
		free(d);
	}
	open_dirs.next = open_dirs.prev = &open_dirs;
	pthread_mutex_unlock(&open_list_lock);
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

/* rmdir tasks/<id> terminates the task; no other directory can go. */
static void
fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx ctx = ctx_of(req);
	struct fs_node dir, child;
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
	if (kr == KERN_SUCCESS) {
		fs_taskinfo_remove(child.task);
		fs_debug("tasks/%u: terminated", (unsigned)child.task);
		fuse_reply_err(req, 0);
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
	.releasedir   = fs_releasedir,
	.rmdir        = fs_rmdir,
	.mkdir        = fs_mkdir,
	.create       = fs_create,
	.unlink       = fs_unlink,
};
