/*
 * cache.c - see cache.h.
 *
 * The notifier is one thread and one FIFO of jobs, each a list of names to
 * invalidate and, optionally, a request to answer after them.  Jobs are
 * done in order, so a reply never overtakes the invalidations queued
 * before it.
 *
 * Lock legend: queue_lock guards the queue, stopping and running; nothing
 * else is taken while it is held.
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

#include "log.h"

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

static struct fuse_session *session;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static struct job *queue_head, **queue_tail = &queue_head;
static bool running, stopping;
static pthread_t notifier;

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
	(void)arg;
	pthread_mutex_lock(&queue_lock);
	for (;;) {
		struct job *j = queue_head;

		if (!j) {
			if (stopping)
				break;
			pthread_cond_wait(&queue_cond, &queue_lock);
			continue;
		}
		queue_head = j->next;
		if (!queue_head)
			queue_tail = &queue_head;
		pthread_mutex_unlock(&queue_lock);
		finish(j);
		pthread_mutex_lock(&queue_lock);
	}
	pthread_mutex_unlock(&queue_lock);
	return NULL;
}

void
fs_cache_start(void)
{
	pthread_mutex_lock(&queue_lock);
	if (!running && !stopping) {
		if (pthread_create(&notifier, NULL, notifier_main, NULL) == 0)
			running = true;
		else
			fs_error("cannot start the notifier thread; invalidating from the workers");
	}
	pthread_mutex_unlock(&queue_lock);
}

/*
 * The notifier drains the queue and ends.  It is waited for only so long:
 * once the workers are gone, a notification waiting for a directory lock
 * that a request nobody will answer holds (the mount detached lazily while
 * busy) would wait for ever, and the daemon must still exit.
 */
#define STOP_WAIT_SECONDS 2

void
fs_cache_stop(void)
{
	struct timespec until;
	bool was_running;

	pthread_mutex_lock(&queue_lock);
	stopping = true;
	was_running = running;
	running = false;
	pthread_cond_broadcast(&queue_cond);
	pthread_mutex_unlock(&queue_lock);
	if (!was_running)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STOP_WAIT_SECONDS;
	if (pthread_timedjoin_np(notifier, NULL, &until) != 0)
		fs_error("the notifier did not finish; leaving it behind");
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

	if (!j)
		abort();
	j->req = req;
	j->kind = kind;
	j->count = count;
	j->err = err;
	j->inval = *l;
	fs_inval_init(l);
	pthread_mutex_lock(&queue_lock);
	if (running) {
		*queue_tail = j;
		queue_tail = &j->next;
		pthread_cond_signal(&queue_cond);
		j = NULL;
	}
	pthread_mutex_unlock(&queue_lock);
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
	return fs_row_of(n)->opens == FS_L_REGION && !n->alias;
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
