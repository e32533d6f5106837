/*
 * taskinfo.c - see taskinfo.h.
 *
 * A hash table split into SHARDS independent tables, each with its own mutex
 * and chained buckets that double when the shard's load passes one.  Task ids
 * are dense small integers, so the shard is id % SHARDS and the bucket the
 * rest of the id: consecutive ids spread evenly.
 *
 * Lock legend: every field of a shard and of the records in its chains is
 * guarded by that shard's lock.  No other lock is taken while one is held
 * (the engine is asked for the map's generation before a lock is taken).
 */
#include "taskinfo.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <machvm/machvm.h>

#include "coherence.h"

#define SHARDS 64

struct record {
	struct record *next;
	task_t id;
	uid_t uid;
	gid_t gid;
	bool owner_set;         /* fs_taskinfo_add ran */
	char *last_error;       /* malloc'd; NULL: no failure yet */
	struct fs_starts *starts;       /* NULL, or the list made at starts_gen */
	uint64_t starts_gen;
};

struct shard {
	pthread_mutex_t lock;
	struct record **buckets;
	size_t nbuckets;        /* 0 or a power of two */
	size_t count;
};

static struct shard shards[SHARDS];
static uid_t owner_uid;
static gid_t owner_gid;
static atomic_int creating;     /* tasks between task_create and fs_taskinfo_add */

static struct shard *
shard_of(task_t id)
{
	return &shards[id % SHARDS];
}

static size_t
bucket_of(const struct shard *s, task_t id)
{
	return (id / SHARDS) & (s->nbuckets - 1);
}

/* The record of id in s, or NULL.  Caller holds s->lock. */
static struct record *
find_locked(struct shard *s, task_t id)
{
	if (s->nbuckets == 0)
		return NULL;
	for (struct record *r = s->buckets[bucket_of(s, id)]; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

/* Doubles the bucket array (or makes the first one); on ENOMEM keeps the old
 * one, which stays correct, only slower.  Caller holds s->lock. */
static void
grow_locked(struct shard *s)
{
	size_t n = s->nbuckets ? s->nbuckets * 2 : 16;
	struct record **b = calloc(n, sizeof *b);

	if (!b)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct record *r = s->buckets[i], *next;

		for (; r; r = next) {
			size_t at = (r->id / SHARDS) & (n - 1);

			next = r->next;
			r->next = b[at];
			b[at] = r;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

void
fs_starts_put(struct fs_starts *st)
{
	if (st && atomic_fetch_sub_explicit(&st->refs, 1,
	                                    memory_order_acq_rel) == 1)
		free(st);
}

static void
record_free(struct record *r)
{
	free(r->last_error);
	fs_starts_put(r->starts);
	free(r);
}

/* The record of id, made (owned by the mount user) if missing; NULL when out
 * of memory.  Caller holds s->lock. */
static struct record *
get_locked(struct shard *s, task_t id)
{
	struct record *r = find_locked(s, id);

	if (r)
		return r;
	if (s->count >= s->nbuckets)
		grow_locked(s);
	if (s->nbuckets == 0)
		return NULL;
	r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->id = id;
	r->uid = owner_uid;
	r->gid = owner_gid;
	r->next = s->buckets[bucket_of(s, id)];
	s->buckets[bucket_of(s, id)] = r;
	s->count++;
	return r;
}

void
fs_taskinfo_init(uid_t mount_uid, gid_t mount_gid)
{
	owner_uid = mount_uid;
	owner_gid = mount_gid;
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_init(&shards[i].lock, NULL);
}

void
fs_taskinfo_fini(void)
{
	for (size_t i = 0; i < SHARDS; i++) {
		struct shard *s = &shards[i];

		pthread_mutex_lock(&s->lock);
		for (size_t b = 0; b < s->nbuckets; b++) {
			struct record *r = s->buckets[b], *next;

			for (; r; r = next) {
				next = r->next;
				record_free(r);
			}
		}
		free(s->buckets);
		s->buckets = NULL;
		s->nbuckets = s->count = 0;
		pthread_mutex_unlock(&s->lock);
	}
}

int
fs_taskinfo_add(task_t id, uid_t uid, gid_t gid)
{
	struct shard *s = shard_of(id);
	struct record *r;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	r = get_locked(s, id);
	if (r) {
		r->uid = uid;
		r->gid = gid;
		r->owner_set = true;
	} else {
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void
fs_taskinfo_remove(task_t id)
{
	struct shard *s = shard_of(id);
	struct record **at, *r = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->nbuckets) {
		for (at = &s->buckets[bucket_of(s, id)]; *at; at = &(*at)->next)
			if ((*at)->id == id) {
				r = *at;
				*at = r->next;
				s->count--;
				break;
			}
	}
	pthread_mutex_unlock(&s->lock);
	if (r)
		record_free(r);
}

void
fs_taskinfo_creating(bool begin)
{
	atomic_fetch_add(&creating, begin ? 1 : -1);
}

/*
 * Why the answer is final when no creation is running: the caller saw the
 * task alive, so its task_create had returned; a creation brackets
 * task_create and fs_taskinfo_add, so if none runs now (read before the
 * record), fs_taskinfo_add for this task either ran before the record is
 * read or never will.
 */
bool
fs_taskinfo_owner(task_t id, uid_t *uid, gid_t *gid)
{
	struct shard *s = shard_of(id);
	bool none_making = atomic_load(&creating) == 0;
	struct record *r;
	bool final;

	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	*uid = r ? r->uid : owner_uid;
	*gid = r ? r->gid : owner_gid;
	final = (r && r->owner_set) || none_making;
	pthread_mutex_unlock(&s->lock);
	return final;
}

void
fs_taskinfo_set_error(task_t id, const char *line)
{
	struct shard *s = shard_of(id);
	char *copy = strndup(line, FS_LAST_ERROR_MAX - 1);
	struct record *r;

	if (!copy)
		return;
	pthread_mutex_lock(&s->lock);
	r = get_locked(s, id);
	if (r) {
		char *old = r->last_error;

		r->last_error = copy;
		copy = old;
	}
	pthread_mutex_unlock(&s->lock);
	free(copy);
}

void
fs_taskinfo_get_error(task_t id, char *buf, size_t cap)
{
	struct shard *s = shard_of(id);
	struct record *r;

	if (cap == 0)
		return;
	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	snprintf(buf, cap, "%s", r && r->last_error ? r->last_error : "none");
	pthread_mutex_unlock(&s->lock);
}

/* ---- the region starts ------------------------------------------- */

/* The record of a live task, made if missing; NULL for a dead task or when
 * out of memory.  Checking liveness under the lock means a record made
 * here is never left behind by fs_taskinfo_remove, which runs after the
 * task is dead.  Caller holds s->lock. */
static struct record *
live_record_locked(struct shard *s, task_t id)
{
	struct record *r = find_locked(s, id);

	if (r || !machvm_task_alive(id))
		return r;
	return get_locked(s, id);
}

struct fs_starts *
fs_taskinfo_starts(task_t id, uint64_t *gen)
{
	struct shard *s = shard_of(id);
	struct fs_starts *st = NULL;
	struct record *r;

	*gen = fs_coherence_gen(id);
	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	if (r && r->starts && r->starts_gen == *gen) {
		st = r->starts;
		atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->lock);
	return st;
}

void
fs_taskinfo_starts_keep(task_t id, struct fs_starts *st, uint64_t gen)
{
	struct shard *s = shard_of(id);
	struct fs_starts *old = NULL;
	struct record *r;

	if (gen == 0 || fs_coherence_gen(id) != gen)
		return;
	pthread_mutex_lock(&s->lock);
	r = live_record_locked(s, id);
	if (r) {
		atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
		old = r->starts;
		r->starts = st;
		r->starts_gen = gen;
	}
	pthread_mutex_unlock(&s->lock);
	fs_starts_put(old);
}
