/*
 * coherence.c - see coherence.h.
 *
 * The held names: a table split into SHARDS by task id, each shard a mutex
 * and chained buckets of per-task sets.  A task's set is its own small hash
 * table: open addressing with linear probing, at most three quarters full,
 * one 64-bit word a slot (the region's start >> 12 above KNOWN_BITS bits of
 * lookup count; 0 is a free slot), deleted by shifting back the entries
 * that follow.  The directories objects/<id>/ held are the set of
 * TASK_NULL (no task has that id), each as if it were the start id << 12
 * (ids below FS_OBJECT_LIMIT fit the slot's 36 bits).
 *
 * Lock legend: a shard's mutex guards its buckets and the sets in them.
 * The report hook runs with engine task locks held and takes a shard
 * mutex inside them; no path holds a shard mutex while it calls the engine
 * (machvm_task_alive, which takes no lock, excepted), so the order is
 * always engine, then shard.  A thread's current scope is its own.
 */
#include "coherence.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "events.h"
#include "fields.h"
#include "kept.h"
#include "log.h"
#include "node.h"
#include "taskinfo.h"

#define SHARDS 64

/*
 * A slot: the region's start >> 12 (never 0: the user range starts at one
 * page) above KNOWN_BITS bits of lookup count.  A count that reaches
 * KNOWN_MAX stays there: the name is then never dropped, which only costs
 * needless invalidations.
 */
#define KNOWN_BITS 28
#define KNOWN_MAX  ((UINT64_C(1) << KNOWN_BITS) - 1)

struct held {
	struct held *next;
	task_t    task;
	uint64_t *slots;
	size_t    cap;          /* a power of two */
	size_t    count;
};

struct shard {
	pthread_mutex_t lock;
	struct held    *chain[64];
};

static struct shard shards[SHARDS];
static _Atomic uint64_t content_gen;
static _Thread_local struct fs_scope *current;

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

static struct shard *
shard_of(task_t task)
{
	return &shards[task % SHARDS];
}

static struct held **
chain_of(struct shard *s, task_t task)
{
	return &s->chain[(task / SHARDS) % 64];
}

/* The task's set, or NULL.  Caller holds s->lock. */
static struct held *
find_locked(struct shard *s, task_t task)
{
	for (struct held *h = *chain_of(s, task); h; h = h->next)
		if (h->task == task)
			return h;
	return NULL;
}

static void
unlink_locked(struct shard *s, struct held *h)
{
	for (struct held **at = chain_of(s, h->task); *at; at = &(*at)->next)
		if (*at == h) {
			*at = h->next;
			break;
		}
	free(h->slots);
	free(h);
}

static size_t
slot_of(vm_address_t start, size_t cap)
{
	uint64_t h = start * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 32) & (cap - 1);
}

/* The slot holding start, or the free slot where it would go. */
static size_t
slot_find(const struct held *h, vm_address_t start)
{
	size_t i = slot_of(start, h->cap);

	while (h->slots[i] != 0 && slot_start(h->slots[i]) != start)
		i = (i + 1) & (h->cap - 1);
	return i;
}

/* Moves the table to cap slots; false when out of memory (kept as it was). */
static bool
resize(struct held *h, size_t cap)
{
	uint64_t *old = h->slots, *table = calloc(cap, sizeof *table);
	size_t oldcap = h->cap;

	if (!table)
		return false;
	h->slots = table;
	h->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			h->slots[slot_find(h, slot_start(old[i]))] = old[i];
	free(old);
	return true;
}

/* Room for more entries at most three quarters full; false when out of memory. */
static bool
reserve(struct held *h, size_t more)
{
	size_t cap = h->cap ? h->cap : 16;

	while ((h->count + more) * 4 > cap * 3)
		cap *= 2;
	return cap == h->cap || resize(h, cap);
}

/*
 * Takes count lookups of start off h (all of them when count is 0).
 * Caller holds the shard's lock.
 */
static void
drop_locked(struct held *h, vm_address_t start, uint64_t count)
{
	size_t hole = slot_find(h, start), mask = h->cap - 1;
	uint64_t *k = &h->slots[hole], have = *k & KNOWN_MAX;

	if (*k == 0)
		return;
	if (count && (have == KNOWN_MAX || have > count)) {
		if (have < KNOWN_MAX)
			*k -= count;
		return;
	}
	/* Remove, then move back every entry of the run after it that may not
	 * stay where it is. */
	h->slots[hole] = 0;
	h->count--;
	for (size_t i = (hole + 1) & mask; h->slots[i]; i = (i + 1) & mask) {
		size_t home = slot_of(slot_start(h->slots[i]), h->cap);

		/* Leave it if its home lies cyclically in (hole, i]. */
		if (hole <= i ? (home > hole && home <= i) : (home > hole || home <= i))
			continue;
		h->slots[hole] = h->slots[i];
		h->slots[i] = 0;
		hole = i;
	}
	/* Give memory back once the kernel has let go of most. */
	if (h->cap > 64 && h->count * 8 < h->cap)
		(void)resize(h, h->cap / 4);
}

/* ---- the reports ----------------------------------------------------- */

static vm_size_t
page_size(void)
{
	static _Atomic vm_size_t ps;
	vm_size_t p = atomic_load_explicit(&ps, memory_order_relaxed);

	if (p == 0) {
		if (host_page_size(mach_host_self(), &p) != KERN_SUCCESS)
			p = 4096;
		atomic_store_explicit(&ps, p, memory_order_relaxed);
	}
	return p;
}

static void
add_name(struct fs_inval *l, task_t task, vm_address_t start)
{
	char name[24];

	fs_region_name(start, name);
	fs_inval_add(l, fs_level_ino(FS_L_REGIONS, task), name);
}

/* Every held region directory of task in [lo, hi) goes to l. */
static void
stale_range(task_t task, vm_address_t lo, vm_address_t hi, struct fs_inval *l)
{
	struct shard *s = shard_of(task);
	struct held *h;

	pthread_mutex_lock(&s->lock);
	h = find_locked(s, task);
	if (h && h->count && lo < hi) {
		vm_size_t ps = page_size();
		uint64_t pages = (hi - lo + ps - 1) / ps;

		if (pages < h->cap) {
			/* A small range: look up each page start in it. */
			for (uint64_t p = 0; p < pages; p++) {
				size_t k = slot_find(h, lo + p * ps);

				if (h->slots[k])
					add_name(l, task, slot_start(h->slots[k]));
			}
		} else {
			for (size_t i = 0; i < h->cap; i++) {
				vm_address_t a = slot_start(h->slots[i]);

				if (h->slots[i] && a >= lo && a < hi)
					add_name(l, task, a);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* The task is gone: every held name of it goes to l, its own files to
 * files and its own name to name (NULL: the kernel drops it itself, an
 * rmdir), and what the daemon kept of it (its owner, its last error) is
 * forgotten.  Its set of held names is kept: the kernel still holds those
 * lookups until it FORGETs them, and task ids are reused, so the counts
 * must stay exact for a newer task with the same id, whose region
 * directories have the same inode numbers (a name held twice only costs
 * a needless invalidation; one not counted could go stale). */
static void
task_gone(task_t task, struct fs_inval *l, struct fs_inval *files, struct fs_inval *name)
{
	char id[24];
	uint64_t dir = fs_level_ino(FS_L_TASK, task);

	stale_range(task, 0, MACHVM_USER_MAX, l);
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].parent == FS_L_TASK && !(fs_rows[r].flags & FS_DYNAMIC))
			fs_inval_add(files, dir, fs_rows[r].name);
	snprintf(id, sizeof id, "%u", (unsigned)task);
	if (name)
		fs_inval_add(name, fs_level_ino(FS_L_TASKS, 0), id);
	fs_taskinfo_remove(task);
}

/* The object directory's node. */
static struct fs_node
object_dir(uint64_t id)
{
	struct fs_node n = { fs_level_row(FS_L_OBJECT), TASK_NULL, 0, false, id };

	return n;
}

/* The names of objects/<id>/ and of its files go to l. */
static void
object_names(uint64_t id, struct fs_inval *l)
{
	struct fs_node dir = object_dir(id);
	uint64_t ino = fs_node_ino(&dir);
	char name[24];

	snprintf(name, sizeof name, "%llu", (unsigned long long)id);
	fs_inval_add(l, fs_level_ino(FS_L_OBJECTS, TASK_NULL), name);
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].parent == FS_L_OBJECT)
			fs_inval_add(l, ino, fs_rows[r].name);
}

/* The object is gone: if the kernel holds its directory, its names go to
 * l and the count is forgotten (ids are never reused). */
static void
object_gone(uint64_t id, struct fs_inval *l)
{
	struct shard *s = shard_of(TASK_NULL);
	struct held *h;
	bool held = false;

	if (id == 0 || id >= FS_OBJECT_LIMIT)
		return;
	pthread_mutex_lock(&s->lock);
	h = find_locked(s, TASK_NULL);
	if (h && h->count && h->slots[slot_find(h, id << 12)]) {
		held = true;
		drop_locked(h, id << 12, 0);
		if (h->count == 0)
			unlink_locked(s, h);
	}
	pthread_mutex_unlock(&s->lock);
	if (held)
		object_names(id, l);
}

/* A report that lost changes: every held object directory may be stale. */
static void
objects_all_stale(struct fs_inval *l)
{
	struct shard *s = shard_of(TASK_NULL);
	struct held *h;

	pthread_mutex_lock(&s->lock);
	h = find_locked(s, TASK_NULL);
	for (size_t i = 0; h && i < h->cap; i++)
		if (h->slots[i])
			object_names(slot_start(h->slots[i]) >> 12, l);
	pthread_mutex_unlock(&s->lock);
}

/*
 * A task was made.  Its id may be a reused one, and the kernel may still
 * hold a negative entry for the name from the earlier task's rmdir (which
 * the kernel keeps as long as it kept the positive one): it goes, before
 * the create is answered.
 */
static void
task_born(task_t task, struct fs_inval *l)
{
	char id[24];

	snprintf(id, sizeof id, "%u", (unsigned)task);
	fs_inval_add(l, fs_level_ino(FS_L_TASKS, 0), id);
}

/*
 * The engine's report hook: runs at the end of every changing call, on the
 * calling thread, with the call's task locks held (report.h).  The starts
 * that vanished are exactly the report's MERGED and MOVED boundaries, its
 * REMOVED ranges and a terminated task's whole map; the objects that died
 * are its OBJECT_DESTROYED objects and the object2 of its OBJECT_COLLAPSED.
 */
static void
report_hook(void *arg, const struct machvm_report *r)
{
	struct fs_scope *s = current;
	struct fs_inval mine, mine_after, *l, *after;

	(void)arg;
	atomic_fetch_add(&content_gen, 1);
	fs_kept_report(r);
	fs_events_record(r);
	if (s) {
		s->changed = true;
		s->report = *r;
		s->report.changes = NULL;
		s->report.nchanges = 0;
		s->have_report = true;
		l = &s->before;
		after = &s->after;
	} else {
		fs_inval_init(&mine);
		fs_inval_init(&mine_after);
		l = &mine;
		after = &mine_after;
	}
	if (r->incomplete) {
		for (size_t i = 0; i < r->ntasks; i++)
			stale_range(r->tasks[i], 0, MACHVM_USER_MAX, l);
		objects_all_stale(l);
	}
	for (size_t i = 0; i < r->nchanges; i++) {
		const struct machvm_change *c = &r->changes[i];

		switch (c->kind) {
		case MACHVM_CHANGE_MERGED:
		case MACHVM_CHANGE_MOVED:
			stale_range(c->task, c->at, c->at + 1, l);
			break;
		case MACHVM_CHANGE_REMOVED:
			stale_range(c->task, c->start, c->end, l);
			break;
		case MACHVM_CHANGE_TASK_CREATED:
			task_born(c->task, l);
			break;
		case MACHVM_CHANGE_TASK_TERMINATED:
			if (s && s->rmdir)
				task_gone(c->task, l, after, NULL);
			else
				task_gone(c->task, l, l, l);
			break;
		case MACHVM_CHANGE_OBJECT_DESTROYED:
			object_gone(c->object, l);
			break;
		case MACHVM_CHANGE_OBJECT_COLLAPSED:
			object_gone(c->object2, l);
			break;
		default:
			break;
		}
	}
	if (!s) {
		fs_cache_send(&mine);
		fs_cache_send(&mine_after);
		fs_cache_attr_stale();
	}
}

void
fs_coherence_init(void)
{
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_init(&shards[i].lock, NULL);
	machvm_set_report_hook(report_hook, NULL);
}

void
fs_coherence_fini(void)
{
	machvm_set_report_hook(NULL, NULL);
	for (size_t i = 0; i < SHARDS; i++) {
		struct shard *s = &shards[i];

		pthread_mutex_lock(&s->lock);
		for (size_t b = 0; b < 64; b++)
			while (s->chain[b])
				unlink_locked(s, s->chain[b]);
		pthread_mutex_unlock(&s->lock);
	}
}

void
fs_scope_begin(struct fs_scope *s)
{
	memset(s, 0, sizeof *s);
	fs_inval_init(&s->before);
	fs_inval_init(&s->after);
	s->outer = current;
	current = s;
}

void
fs_scope_end(struct fs_scope *s)
{
	current = s->outer;
	fs_events_wake();
	if (s->changed)
		fs_cache_attr_stale();
}

void
fs_scope_free(struct fs_scope *s)
{
	fs_inval_free(&s->before);
	fs_inval_free(&s->after);
}

void
fs_coherence_touch(void)
{
	atomic_fetch_add(&content_gen, 1);
}

uint64_t
fs_coherence_content_gen(void)
{
	return atomic_load(&content_gen);
}

uint64_t
fs_coherence_gen(task_t task)
{
	uint64_t gen;

	return machvm_task_map_gen(task, &gen) == KERN_SUCCESS ? gen : 0;
}

/* ---- what the kernel holds -------------------------------------------- */

/*
 * When a set cannot grow, a name handed out uncounted could go stale
 * unseen: out of memory the daemon aborts instead.
 */
static void
hold_locked(struct shard *s, task_t task, const vm_address_t *starts, size_t n)
{
	struct held *h = find_locked(s, task);

	if (!h) {
		h = calloc(1, sizeof *h);
		if (!h)
			abort();
		h->task = task;
		h->next = *chain_of(s, task);
		*chain_of(s, task) = h;
	}
	if (!reserve(h, n))
		abort();
	for (size_t i = 0; i < n; i++) {
		uint64_t *k = &h->slots[slot_find(h, starts[i])];

		if (*k == 0) {
			*k = slot_make(starts[i], 0);
			h->count++;
		}
		if ((*k & KNOWN_MAX) < KNOWN_MAX)
			(*k)++;
	}
}

size_t
fs_coherence_hold(task_t task, const vm_address_t *starts, size_t n, uint64_t gen,
                  bool *gone)
{
	struct shard *s = shard_of(task);
	size_t kept = n;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	/* Counted even for a task that died meanwhile: the check below takes
	 * them back, and what it takes back must have been counted. */
	hold_locked(s, task, starts, n);
	pthread_mutex_unlock(&s->lock);
	if (gen != 0 && fs_coherence_gen(task) == gen) {
		if (gone)
			memset(gone, 0, n * sizeof *gone);
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		vm_region_extended_info_t x;
		bool lost = gen == 0 || fs_region_get(task, starts[i], false, &x) != 0;

		if (gone)
			gone[i] = lost;
		if (lost) {
			fs_coherence_release(task, starts[i], 1);
			kept--;
		}
	}
	return kept;
}

void
fs_coherence_release(task_t task, vm_address_t start, uint64_t count)
{
	struct shard *s = shard_of(task);
	struct held *h;

	pthread_mutex_lock(&s->lock);
	h = find_locked(s, task);
	if (h && h->cap) {
		drop_locked(h, start, count ? count : 1);
		if (h->count == 0)
			unlink_locked(s, h);
	}
	pthread_mutex_unlock(&s->lock);
}

size_t
fs_coherence_held(task_t task)
{
	struct shard *s = shard_of(task);
	struct held *h;
	size_t n;

	pthread_mutex_lock(&s->lock);
	h = find_locked(s, task);
	n = h ? h->count : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool
fs_coherence_hold_object(uint64_t id)
{
	struct shard *s = shard_of(TASK_NULL);
	vm_address_t key = id << 12;

	if (id == 0 || id >= FS_OBJECT_LIMIT)
		return false;
	pthread_mutex_lock(&s->lock);
	hold_locked(s, TASK_NULL, &key, 1);
	pthread_mutex_unlock(&s->lock);
	/* Held first, then looked for: either this sees the death, or the
	 * death's report sees the count. */
	if (machvm_object_alive(id))
		return true;
	fs_coherence_release_object(id, 1);
	return false;
}

void
fs_coherence_release_object(uint64_t id, uint64_t count)
{
	if (id != 0 && id < FS_OBJECT_LIMIT)
		fs_coherence_release(TASK_NULL, id << 12, count);
}
