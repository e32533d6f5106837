/*
 * taskinfo.c - see taskinfo.h.
 *
 * A hash table split into SHARDS independent tables, each with its own mutex
 * and chained buckets that double when the shard's load passes one.  Task ids
 * are dense small integers, so the shard is id % SHARDS and the bucket the
 * rest of the id: consecutive ids spread evenly.
 *
 * Lock legend: every field of a shard and of the records in its chains is
 * guarded by that shard's lock.  No other lock is taken while one is held.
 */
#include "taskinfo.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define SHARDS 64

struct record {
	struct record *next;
	task_t id;
	uid_t uid;
	gid_t gid;
	char *last_error;       /* malloc'd; NULL: no failure yet */
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
				free(r->last_error);
				free(r);
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
	if (r) {
		free(r->last_error);
		free(r);
	}
}

void
fs_taskinfo_owner(task_t id, uid_t *uid, gid_t *gid)
{
	struct shard *s = shard_of(id);
	struct record *r;

	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	*uid = r ? r->uid : owner_uid;
	*gid = r ? r->gid : owner_gid;
	pthread_mutex_unlock(&s->lock);
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
