/*
 * cache.c - see cache.h.
 *
 * A notifier is one thread and one FIFO of jobs, each a list of names to
 * invalidate and, optionally, a request to answer after them; a request is
 * answered only once its own names are out.  There are two (see lanes
 * below).
 *
 * Lock legend: a lane's lock guards its queue and running; nothing else is
 * taken while it is held.  attr_send_lock is held by the one thread
 * sending attribute invalidations, across the sends; it takes attr_lock,
 * which guards the set of inodes holding a size, inside it.  Neither is
 * held across an engine call.
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <machvm/machvm.h>

#include "fields.h"
#include "log.h"
#include "node.h"
#include "render.h"

/*
 * The inodes whose size the kernel may hold: a set of inode numbers (open
 * addressing, 0 a free slot, at most three quarters full), emptied as a
 * whole by each change.
 */
static pthread_mutex_t attr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t attr_send_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *attr_slots;
static size_t attr_cap, attr_count;

/* ---- lists ---------------------------------------------------------- */

void
fs_inval_init(struct fs_inval *l)
{
	memset(l, 0, sizeof *l);
}

void
fs_inval_free(struct fs_inval *l)
{
	free(l->items);
	fs_inval_init(l);
}

/* Out of memory the daemon aborts: a lost invalidation is a stale name. */
void
fs_inval_add(struct fs_inval *l, fuse_ino_t parent, const char *name)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct fs_inval_item *items = realloc(l->items, cap * sizeof *items);

		if (!items)
			abort();
		l->items = items;
		l->cap = cap;
	}
	l->items[l->count].parent = parent;
	snprintf(l->items[l->count].name, sizeof l->items[0].name, "%s", name);
	l->count++;
}

/* ---- the notifier ----------------------------------------------------- */

enum reply_kind { R_NONE, R_WRITE, R_ERR };

struct job {
	struct job     *next;
	fuse_req_t      req;
	enum reply_kind kind;
	size_t          count;
	int             err;
	struct fs_inval inval;
};

/*
 * Two lanes, each one thread and one FIFO.  A name in tasks/ (a task
 * terminated through tasks/ctl, or made with an id used before), or the
 * file of a terminated task (see lane_of), can only be invalidated while no rmdir in
 * tasks/ is running: the kernel holds tasks/ locked until that rmdir is
 * answered.  An rmdir's answer never waits for such a name (the kernel
 * drops the removed name itself), but in one FIFO it could wait behind a
 * job that does, which waits for the rmdir: so those jobs have a lane of
 * their own, and the rmdir's answer is never queued behind them.
 */
enum { LANE_MAIN, LANE_TASKS, LANES };

static struct lane {
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	struct job     *head, **tail;
	bool            running;
	pthread_t       thread;
} lanes[LANES] = {
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &lanes[0].head, false, 0 },
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &lanes[1].head, false, 0 },
};
static _Atomic bool stopping;
static struct fuse_session *session;

void
fs_cache_set_session(struct fuse_session *se)
{
	session = se;
}

static void
send_all(const struct fs_inval *l)
{
	for (size_t i = 0; i < l->count; i++) {
		const struct fs_inval_item *it = &l->items[i];
		int rc = fuse_lowlevel_notify_inval_entry(session, it->parent, it->name,
		                                          strlen(it->name));

		/* ENOENT: the kernel holds no such name, nothing to do. */
		if (rc != 0 && rc != -ENOENT)
			fs_debug("invalidating %s in inode %llu: %s", it->name,
			         (unsigned long long)it->parent, strerror(-rc));
	}
}

static void
finish(struct job *j)
{
	if (session)
		send_all(&j->inval);
	if (j->kind == R_WRITE)
		fuse_reply_write(j->req, j->count);
	else if (j->kind == R_ERR)
		fuse_reply_err(j->req, j->err);
	fs_inval_free(&j->inval);
	free(j);
}

static void *
notifier_main(void *arg)
{
	struct lane *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct job *j = q->head;

		if (!j) {
			if (atomic_load(&stopping))
				break;
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		q->head = j->next;
		if (!q->head)
			q->tail = &q->head;
		pthread_mutex_unlock(&q->lock);
		finish(j);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

void
fs_cache_start(void)
{
	for (size_t i = 0; i < LANES; i++) {
		struct lane *q = &lanes[i];

		pthread_mutex_lock(&q->lock);
		if (!q->running && !atomic_load(&stopping)) {
			if (pthread_create(&q->thread, NULL, notifier_main, q) == 0)
				q->running = true;
			else
				fs_error("cannot start a notifier thread; invalidating from the workers");
		}
		pthread_mutex_unlock(&q->lock);
	}
}

/*
 * The notifiers drain their queues and end.  They are waited for only so
 * long: once the workers are gone, a notification waiting for a directory
 * lock that a request nobody will answer holds (the mount detached lazily
 * while busy) would wait for ever, and the daemon must still exit.
 */
#define STOP_WAIT_SECONDS 2

void
fs_cache_stop(void)
{
	struct timespec until;

	atomic_store(&stopping, true);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT_SECONDS;
	for (size_t i = 0; i < LANES; i++) {
		struct lane *q = &lanes[i];
		bool was_running;

		pthread_mutex_lock(&q->lock);
		was_running = q->running;
		q->running = false;
		pthread_cond_broadcast(&q->cond);
		pthread_mutex_unlock(&q->lock);
		if (was_running && pthread_timedjoin_np(q->thread, NULL, &until) != 0)
			fs_error("a notifier did not finish; leaving it behind");
	}
	pthread_mutex_lock(&attr_lock);
	free(attr_slots);
	attr_slots = NULL;
	attr_cap = attr_count = 0;
	pthread_mutex_unlock(&attr_lock);
}

/*
 * The lane of a list: LANE_TASKS if it names anything in tasks/ or in a
 * task's directory (the files of a terminated task).  Task ids are reused,
 * and a task directory's inode number with them: the files of a task that
 * is gone, invalidated after its rmdir was answered, may meet the
 * directory of a newer task with the same id locked by that task's own
 * rmdir, so they too must never hold up an rmdir's answer.
 */
static struct lane *
lane_of(const struct fs_inval *l)
{
	uint64_t tasks = fs_level_ino(FS_L_TASKS, 0);

	for (size_t i = 0; i < l->count; i++) {
		struct fs_node n;

		if (l->items[i].parent == tasks ||
		    (fs_ino_node(l->items[i].parent, &n) == 0 && n.row == fs_level_row(FS_L_TASK)))
			return &lanes[LANE_TASKS];
	}
	return &lanes[LANE_MAIN];
}

/*
 * Queues a job; without a notifier (it could not start, or the session is
 * ending) the job is done here: without one, that is the only way to get
 * the invalidations out at all.
 */
static void
enqueue(fuse_req_t req, enum reply_kind kind, size_t count, int err, struct fs_inval *l)
{
	struct job *j = calloc(1, sizeof *j);
	struct lane *q = lane_of(l);

	if (!j)
		abort();
	j->req = req;
	j->kind = kind;
	j->count = count;
	j->err = err;
	j->inval = *l;
	fs_inval_init(l);
	pthread_mutex_lock(&q->lock);
	if (q->running) {
		*q->tail = j;
		q->tail = &j->next;
		pthread_cond_signal(&q->cond);
		j = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	if (j)
		finish(j);
}

void
fs_cache_reply_write(fuse_req_t req, struct fs_inval *l, size_t count)
{
	if (l->count == 0) {
		fs_inval_free(l);
		fuse_reply_write(req, count);
		return;
	}
	enqueue(req, R_WRITE, count, 0, l);
}

void
fs_cache_reply_err(fuse_req_t req, struct fs_inval *l, int err)
{
	if (l->count == 0) {
		fs_inval_free(l);
		fuse_reply_err(req, err);
		return;
	}
	enqueue(req, R_ERR, 0, err, l);
}

void
fs_cache_send(struct fs_inval *l)
{
	if (l->count == 0) {
		fs_inval_free(l);
		return;
	}
	enqueue(NULL, R_NONE, 0, 0, l);
}

/* ---- timeouts ----------------------------------------------------------- */

bool
fs_cache_tracked(const struct fs_node *n)
{
	return (fs_row_of(n)->opens == FS_L_REGION && !n->alias) ||
	       fs_row_of(n)->opens == FS_L_OBJECT;
}

double
fs_cache_entry_timeout(const struct fs_node *n, bool owner_final)
{
	if (!owner_final || (fs_row_of(n)->opens == FS_L_REGION && n->alias))
		return 0.0;
	return FS_CACHE_TIMEOUT;
}

double
fs_cache_attr_timeout(const struct fs_node *n, bool owner_final)
{
	/* An events file grows: its size is asked afresh (tail -f reads it). */
	if (fs_row_of(n)->flags & FS_EVENTS)
		return 0.0;
	return owner_final ? FS_CACHE_TIMEOUT : 0.0;
}

/* ---- sizes ------------------------------------------------------------- */

enum fs_size_kind
fs_cache_size_kind(const struct fs_node *n)
{
	const struct fs_row *row = fs_row_of(n);

	if (row->opens != FS_L_NONE || (!row->read && !(row->flags & (FS_DATA | FS_EVENTS))))
		return FS_SIZE_NONE;
	if (row->flags & FS_DATA)
		return FS_SIZE_MEM;
	if (row->flags & FS_EVENTS)
		return FS_SIZE_EVENTS;
	/* A ctl file's text, before a write on the open file, is its usage. */
	if ((row->flags & FS_RESULT) || row->read == fs_read_page_size ||
	    row->read == fs_read_parent ||
	    (row->read == fs_read_region && fs_region_fixed_length(row->name)))
		return FS_SIZE_STABLE;
	return FS_SIZE_CHANGING;
}

static size_t
attr_slot(const uint64_t *slots, size_t cap, uint64_t ino)
{
	size_t i = (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 32) & (cap - 1);

	while (slots[i] != 0 && slots[i] != ino)
		i = (i + 1) & (cap - 1);
	return i;
}

/* A size handed out uncounted could go stale unseen: out of memory the
 * daemon aborts. */
void
fs_cache_attr_hold(uint64_t ino)
{
	uint64_t *k;

	if (ino == 0)
		return;
	pthread_mutex_lock(&attr_lock);
	if ((attr_count + 1) * 4 > attr_cap * 3) {
		size_t cap = attr_cap ? attr_cap * 2 : 64;
		uint64_t *slots = calloc(cap, sizeof *slots);

		if (!slots)
			abort();
		for (size_t i = 0; i < attr_cap; i++)
			if (attr_slots[i])
				slots[attr_slot(slots, cap, attr_slots[i])] = attr_slots[i];
		free(attr_slots);
		attr_slots = slots;
		attr_cap = cap;
	}
	k = &attr_slots[attr_slot(attr_slots, attr_cap, ino)];
	if (*k == 0) {
		*k = ino;
		attr_count++;
	}
	pthread_mutex_unlock(&attr_lock);
}

void
fs_cache_attr_stale(void)
{
	uint64_t *slots = NULL;
	size_t cap = 0;

	/* Held across the sends: a change answered after this returns must
	 * not overtake the invalidations another change is still sending. */
	pthread_mutex_lock(&attr_send_lock);
	pthread_mutex_lock(&attr_lock);
	if (attr_count) {
		slots = attr_slots;
		cap = attr_cap;
		attr_slots = NULL;
		attr_cap = attr_count = 0;
	}
	pthread_mutex_unlock(&attr_lock);
	for (size_t i = 0; i < cap; i++) {
		int rc;

		if (!slots[i] || !session)
			continue;
		/* A negative offset: the attributes only (no pages are cached). */
		rc = fuse_lowlevel_notify_inval_inode(session, slots[i], -1, 0);
		if (rc != 0 && rc != -ENOENT)
			fs_debug("invalidating the attributes of inode %llu: %s",
			         (unsigned long long)slots[i], strerror(-rc));
	}
	pthread_mutex_unlock(&attr_send_lock);
	free(slots);
}
