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
 *
 * The known set of a record is its own small hash table: open addressing
 * with linear probing, at most three quarters full, one 64-bit word a slot
 * (the region's page number and its lookup count), deleted by shifting
 * back the entries that follow.
 */
#include "taskinfo.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <machvm/machvm.h>

#define SHARDS 64

/*
 * A known-set slot: the region's start >> 12 (never 0: the user range starts
 * at one page) above KNOWN_BITS bits of lookup count; 0 is a free slot.  A
 * count that reaches KNOWN_MAX stays there: the name is then never
 * dropped, which only costs needless checks.
 */
#define KNOWN_BITS 28
#define KNOWN_MAX  ((UINT64_C(1) << KNOWN_BITS) - 1)

static vm_address_t
slot_start(uint64_t slot)
{
	return (vm_address_t)(slot >> KNOWN_BITS) << 12;
}

static uint64_t
slot_make(vm_address_t start, uint64_t count)
{
	return ((uint64_t)start >> 12) << KNOWN_BITS | count;
}

struct record {
	struct record *next;
	task_t id;
	uid_t uid;
	gid_t gid;
	bool owner_set;         /* fs_taskinfo_add ran */
	char *last_error;       /* malloc'd; NULL: no failure yet */
	uint64_t gen;           /* bumped by every change to the map */
	uint64_t *known;        /* slots */
	size_t known_cap;       /* 0 or a power of two */
	size_t known_count;
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
	free(r->known);
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

/* ---- what the kernel holds ------------------------------------------- */

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

static size_t
slot_of(vm_address_t start, size_t cap)
{
	uint64_t h = start * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 32) & (cap - 1);
}

/* The slot holding start, or the free slot where it would go. */
static size_t
known_find(const struct record *r, vm_address_t start)
{
	size_t i = slot_of(start, r->known_cap);

	while (r->known[i] != 0 && slot_start(r->known[i]) != start)
		i = (i + 1) & (r->known_cap - 1);
	return i;
}

/* Moves the table to cap slots (a power of two, room for every entry);
 * false when out of memory (the old table is kept). */
static bool
known_resize(struct record *r, size_t cap)
{
	uint64_t *old = r->known, *table = calloc(cap, sizeof *table);
	size_t oldcap = r->known_cap;

	if (!table)
		return false;
	r->known = table;
	r->known_cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			r->known[known_find(r, slot_start(old[i]))] = old[i];
	free(old);
	return true;
}

/* Keeps the table at most three quarters full; false when out of memory. */
static bool
known_reserve(struct record *r, size_t more)
{
	size_t cap = r->known_cap ? r->known_cap : 16;

	while ((r->known_count + more) * 4 > cap * 3)
		cap *= 2;
	return cap == r->known_cap || known_resize(r, cap);
}

uint64_t
fs_taskinfo_gen(task_t id)
{
	struct shard *s = shard_of(id);
	struct record *r;
	uint64_t gen;

	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	gen = r ? r->gen : 0;
	pthread_mutex_unlock(&s->lock);
	return gen;
}

/*
 * When the table cannot grow, an entry is still counted in the slots there
 * are (an old one is kept counted): missing an entry could leave the kernel
 * with a stale name, so out of memory the daemon aborts instead.
 */
uint64_t
fs_taskinfo_known_add(task_t id, const vm_address_t *starts, size_t n)
{
	struct shard *s = shard_of(id);
	struct record *r;
	uint64_t gen = 0;

	pthread_mutex_lock(&s->lock);
	r = live_record_locked(s, id);
	if (r) {
		if (!known_reserve(r, n))
			abort();
		for (size_t i = 0; i < n; i++) {
			uint64_t *k = &r->known[known_find(r, starts[i])];

			if (*k == 0) {
				*k = slot_make(starts[i], 0);
				r->known_count++;
			}
			if ((*k & KNOWN_MAX) < KNOWN_MAX)
				(*k)++;
		}
		gen = r->gen;
	}
	pthread_mutex_unlock(&s->lock);
	return gen;
}

size_t
fs_taskinfo_known_count(task_t id)
{
	struct shard *s = shard_of(id);
	struct record *r;
	size_t n;

	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	n = r ? r->known_count : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void
fs_taskinfo_known_drop(task_t id, vm_address_t start, uint64_t count)
{
	struct shard *s = shard_of(id);
	struct record *r;

	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	if (r && r->known_cap) {
		size_t hole = known_find(r, start), mask = r->known_cap - 1;
		uint64_t *k = &r->known[hole], have = *k & KNOWN_MAX;

		if (*k != 0 && (have == KNOWN_MAX || have > count)) {
			if (have < KNOWN_MAX)
				*k -= count;
		} else if (*k != 0) {
			/* Remove, then move back every entry of the run after it
			 * that may not stay where it is. */
			r->known[hole] = 0;
			r->known_count--;
			for (size_t i = (hole + 1) & mask; r->known[i]; i = (i + 1) & mask) {
				size_t home = slot_of(slot_start(r->known[i]), r->known_cap);

				/* Leave it if its home lies cyclically in (hole, i]. */
				if (hole <= i ? (home > hole && home <= i) : (home > hole || home <= i))
					continue;
				r->known[hole] = r->known[i];
				r->known[i] = 0;
				hole = i;
			}
			/* Give memory back once the kernel has let go of most. */
			if (r->known_count == 0) {
				free(r->known);
				r->known = NULL;
				r->known_cap = 0;
			} else if (r->known_cap > 64 && r->known_count * 8 < r->known_cap) {
				(void)known_resize(r, r->known_cap / 4);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
}

size_t
fs_taskinfo_changed(task_t id, vm_address_t lo, vm_address_t hi, vm_size_t page,
                    vm_address_t **out)
{
	struct shard *s = shard_of(id);
	vm_address_t *found = NULL;
	struct record *r;
	size_t n = 0;

	*out = NULL;
	pthread_mutex_lock(&s->lock);
	r = live_record_locked(s, id);
	if (r) {
		r->gen++;
		if (r->known_count && lo <= hi) {
			uint64_t pages = (hi - lo) / page + 1;

			found = malloc((pages < r->known_count ? pages : r->known_count) *
			               sizeof *found);
			if (!found)
				abort();        /* see fs_taskinfo_known_add */
			if (pages < r->known_cap) {
				/* A small window: look up each page start in it. */
				for (uint64_t p = 0; p < pages; p++) {
					size_t k = known_find(r, lo + p * page);

					if (r->known[k])
						found[n++] = slot_start(r->known[k]);
				}
			} else {
				for (size_t i = 0; i < r->known_cap; i++) {
					vm_address_t a = slot_start(r->known[i]);

					if (r->known[i] && a >= lo && a <= hi)
						found[n++] = a;
				}
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (n == 0) {
		free(found);
		return 0;
	}
	*out = found;
	return n;
}

struct fs_starts *
fs_taskinfo_starts(task_t id, uint64_t *gen)
{
	struct shard *s = shard_of(id);
	struct fs_starts *st = NULL;
	struct record *r;

	pthread_mutex_lock(&s->lock);
	r = find_locked(s, id);
	*gen = r ? r->gen : 0;
	if (r && r->starts && r->starts_gen == r->gen) {
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

	pthread_mutex_lock(&s->lock);
	r = live_record_locked(s, id);
	if (r && r->gen == gen) {
		atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
		old = r->starts;
		r->starts = st;
		r->starts_gen = gen;
	}
	pthread_mutex_unlock(&s->lock);
	fs_starts_put(old);
}
