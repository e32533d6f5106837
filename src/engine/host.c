/*
 * host.c - the host: page size, host ports, the task table, task creation
 * and termination, counters, and the names of codes.
 *
 * Tasks are numbered from 1 and never renumbered, so a stale id can only
 * ever name a dead task.  The table is an array indexed by id.
 */
#include "task.h"
#include "policy.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vm_size_t vm_page_size = 4096;
unsigned int vm_page_shift = 12;

#define HOST_PORT       ((host_t)0x48535401u)
#define HOST_PRIV_PORT  ((host_priv_t)0x48535402u)

/*
 * The task table: chunks of TASK_CHUNK slots, made as ids grow and kept
 * until the host stops, so a slot's address never changes and can be read
 * without a lock.  At most TASK_CHUNK * TASK_CHUNKS ids per host run.
 */
#define TASK_CHUNK  1024
#define TASK_CHUNKS (MACHVM_TASK_ID_LIMIT / TASK_CHUNK)

typedef struct task *_Atomic task_slot_t;

static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static bool host_running;
static task_slot_t *_Atomic task_chunks[TASK_CHUNKS];
static task_t next_task_id = 1;
static uint64_t live_tasks;
static struct task *task_free_list;     /* terminated, ready for reuse */

static machvm_panic_hook_t panic_hook;

void machvm_set_panic_hook(machvm_panic_hook_t hook)
{
	panic_hook = hook;
}

_Noreturn void machvm_panic(const char *fmt, ...)
{
	static char msg[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (panic_hook)
		panic_hook(msg);
	abort();
}

const char *kern_return_name(kern_return_t kr)
{
	switch (kr) {
	case KERN_SUCCESS: return "KERN_SUCCESS";
	case KERN_INVALID_ADDRESS: return "KERN_INVALID_ADDRESS";
	case KERN_PROTECTION_FAILURE: return "KERN_PROTECTION_FAILURE";
	case KERN_NO_SPACE: return "KERN_NO_SPACE";
	case KERN_INVALID_ARGUMENT: return "KERN_INVALID_ARGUMENT";
	case KERN_FAILURE: return "KERN_FAILURE";
	case KERN_RESOURCE_SHORTAGE: return "KERN_RESOURCE_SHORTAGE";
	case KERN_NO_ACCESS: return "KERN_NO_ACCESS";
	case KERN_INVALID_NAME: return "KERN_INVALID_NAME";
	case KERN_INVALID_TASK: return "KERN_INVALID_TASK";
	case KERN_INVALID_VALUE: return "KERN_INVALID_VALUE";
	case KERN_INVALID_HOST: return "KERN_INVALID_HOST";
	case MIG_BAD_ID: return "MIG_BAD_ID";
	default: return "KERN_UNKNOWN";
	}
}

const char *machvm_share_mode_name(unsigned int share_mode)
{
	switch (share_mode) {
	case SM_COW: return "cow";
	case SM_PRIVATE: return "private";
	case SM_EMPTY: return "empty";
	case SM_SHARED: return "shared";
	case SM_TRUESHARED: return "trueshared";
	case SM_PRIVATE_ALIASED: return "private_aliased";
	case SM_SHARED_ALIASED: return "shared_aliased";
	default: return "unknown";
	}
}

host_t mach_host_self(void)
{
	return HOST_PORT;
}

host_priv_t host_priv_self(void)
{
	return HOST_PRIV_PORT;
}

kern_return_t host_page_size(host_t host, vm_size_t *page_size)
{
	if (host != HOST_PORT && host != HOST_PRIV_PORT)
		return KERN_INVALID_HOST;
	if (page_size == NULL)
		return KERN_INVALID_ARGUMENT;
	*page_size = vm_page_size;
	return KERN_SUCCESS;
}

kern_return_t machvm_host_start(vm_size_t page_size)
{
	if (page_size == 0)
		page_size = 4096;
	if (page_size < 4096 || page_size > 65536 || (page_size & (page_size - 1)))
		return KERN_INVALID_ARGUMENT;
	pthread_mutex_lock(&host_lock);
	if (host_running) {
		pthread_mutex_unlock(&host_lock);
		return KERN_FAILURE;
	}
	vm_page_size = page_size;
	vm_page_shift = (unsigned int)__builtin_ctzll(page_size);
	next_task_id = 1;
	live_tasks = 0;
	host_running = true;
	pthread_mutex_unlock(&host_lock);
	return KERN_SUCCESS;
}

kern_return_t machvm_host_set_personality(machvm_personality_t personality)
{
	if ((unsigned)personality > MACHVM_PERSONALITY_XNU)
		return KERN_INVALID_ARGUMENT;
	pthread_mutex_lock(&host_lock);
	bool busy = host_running && live_tasks > 0;
	if (!busy)
		atomic_store_explicit(&vm_policy_current, &vm_policies[personality],
		                      memory_order_release);
	pthread_mutex_unlock(&host_lock);
	return busy ? KERN_FAILURE : KERN_SUCCESS;
}

void machvm_host_stop(void)
{
	pthread_mutex_lock(&host_lock);
	bool running = host_running;
	host_running = false;
	task_t last = next_task_id;
	pthread_mutex_unlock(&host_lock);
	if (!running)
		return;
	/* The host goes as a whole: its tasks' ends are not reported. */
	vm_report_quiet(true);
	for (task_t id = 1; id < last; id++)
		(void)task_terminate(id);
	vm_report_quiet(false);
	pthread_mutex_lock(&host_lock);
	while (task_free_list) {
		struct task *t = task_free_list;
		task_free_list = t->free_next;
		pthread_mutex_destroy(&t->lock);
		free(t);
	}
	for (size_t c = 0; c < TASK_CHUNKS; c++) {
		free(atomic_load(&task_chunks[c]));
		atomic_store(&task_chunks[c], NULL);
	}
	atomic_store_explicit(&vm_policy_current, &vm_policies[MACHVM_PERSONALITY_MACH],
	                      memory_order_release);
	pthread_mutex_unlock(&host_lock);
	vm_object_reset();
}

static task_slot_t *slot_of(task_t id)
{
	if (id == TASK_NULL || id / TASK_CHUNK >= TASK_CHUNKS)
		return NULL;
	task_slot_t *chunk = atomic_load_explicit(&task_chunks[id / TASK_CHUNK], memory_order_acquire);
	return chunk ? &chunk[id % TASK_CHUNK] : NULL;
}

size_t task_table_size(void)
{
	/* Read without host_lock (the checker and the export hold other
	 * locks): an atomic read of a value only ever written under it. */
	return __atomic_load_n(&next_task_id, __ATOMIC_ACQUIRE);
}

struct task *task_table_at(size_t id)
{
	task_slot_t *slot = slot_of((task_t)id);
	return slot ? atomic_load(slot) : NULL;
}

struct task *task_lookup(task_t id)
{
	task_slot_t *slot = slot_of(id);
	return slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
}

bool task_lock_live(struct task *t, task_t id)
{
	pthread_mutex_lock(&t->lock);
	if (t->dead || t->id != id) {
		pthread_mutex_unlock(&t->lock);
		return false;
	}
	return true;
}

void task_unlock(struct task *t)
{
	pthread_mutex_unlock(&t->lock);
}

bool task_lock_pair(struct task *a, task_t a_id, struct task *b, task_t b_id)
{
	if (a == b)
		return a_id == b_id && task_lock_live(a, a_id);
	bool a_first = a_id < b_id;
	struct task *lo = a_first ? a : b, *hi = a_first ? b : a;
	task_t lo_id = a_first ? a_id : b_id, hi_id = a_first ? b_id : a_id;
	if (!task_lock_live(lo, lo_id))
		return false;
	if (!task_lock_live(hi, hi_id)) {
		task_unlock(lo);
		return false;
	}
	return true;
}

void task_unlock_pair(struct task *a, struct task *b)
{
	task_unlock(a);
	if (a != b)
		task_unlock(b);
}

/*
 * A task struct with a reserved id, not yet in the table: a recycled one if
 * there is one.  Its id is set under its lock, so that a caller still
 * holding the struct from its earlier life sees the id change.
 */
static struct task *task_reserve(task_t parent)
{
	pthread_mutex_lock(&host_lock);
	task_t id = next_task_id;
	if (id / TASK_CHUNK >= TASK_CHUNKS) {
		pthread_mutex_unlock(&host_lock);
		return NULL;
	}
	if (atomic_load(&task_chunks[id / TASK_CHUNK]) == NULL) {
		task_slot_t *chunk = calloc(TASK_CHUNK, sizeof *chunk);
		if (chunk == NULL) {
			pthread_mutex_unlock(&host_lock);
			return NULL;
		}
		atomic_store_explicit(&task_chunks[id / TASK_CHUNK], chunk, memory_order_release);
	}
	struct task *t = task_free_list;
	if (t)
		task_free_list = t->free_next;
	__atomic_store_n(&next_task_id, id + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&host_lock);
	if (t == NULL) {
		t = calloc(1, sizeof *t);
		if (t == NULL)
			return NULL;        /* the id is skipped: ids are never reused anyway */
		pthread_mutex_init(&t->lock, NULL);
	}
	pthread_mutex_lock(&t->lock);
	t->id = id;
	t->parent = parent;
	t->dead = false;
	memset(&t->counts, 0, sizeof t->counts);
	vm_map_init(&t->map);
	pthread_mutex_unlock(&t->lock);
	return t;
}

/* Back on the free list: a reserved task that never went live, or a dead one. */
static void task_recycle(struct task *t)
{
	pthread_mutex_lock(&t->lock);
	t->dead = true;
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&host_lock);
	t->free_next = task_free_list;
	task_free_list = t;
	pthread_mutex_unlock(&host_lock);
}

static void task_publish(struct task *t)
{
	pthread_mutex_lock(&host_lock);
	atomic_store_explicit(slot_of(t->id), t, memory_order_release);
	live_tasks++;
	pthread_mutex_unlock(&host_lock);
}

/* The child is complete: it is reported (its map's TASK_CREATED). */
static void task_created(struct task *c, struct machvm_call_args *a)
{
	vm_map_created(&c->map, c->id);
	vm_report_task(&c->map);
	if (a)
		a->other = c->id;
}

/*
 * The report is handed over before the child is published: nobody can name
 * the child yet, so no report about it can come before this one.  A fork
 * reports while it still holds the parent's lock.
 */
kern_return_t task_create(task_t parent, boolean_t inherit_memory, task_t *child_task)
{
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_TASK_CREATE);
	if (a) {
		a->task = parent;
		a->flag = inherit_memory;
	}
	if (child_task == NULL) {
		vm_report_end(KERN_INVALID_ARGUMENT);
		return KERN_INVALID_ARGUMENT;
	}
	vm_call_enter();
	kern_return_t kr = KERN_SUCCESS;
	struct task *p = NULL, *c = NULL;
	if (parent != TASK_NULL || inherit_memory) {
		p = task_lookup(parent);
		if (p == NULL) {
			kr = KERN_INVALID_TASK;
			goto out;
		}
	}
	c = task_reserve(parent);
	if (c == NULL) {
		kr = KERN_RESOURCE_SHORTAGE;
		goto out;
	}
	if (inherit_memory) {
		if (!task_lock_live(p, parent)) {
			kr = KERN_INVALID_TASK;
		} else {
			vm_object_lock_acquire();
			vm_report_task(&p->map);
			kr = vm_map_fork(&p->map, &c->map);
			if (kr == KERN_SUCCESS)
				task_created(c, a);
			vm_object_lock_release();
			vm_report_end(kr);
			task_unlock(p);
		}
	} else {
		task_created(c, a);
	}
	if (kr != KERN_SUCCESS) {
		task_recycle(c);
		goto out;
	}
	vm_report_end(kr);
	task_publish(c);
	*child_task = c->id;
out:
	vm_report_end(kr);      /* only if not yet: the failures */
	vm_call_exit(kr == KERN_SUCCESS);
	return kr;
}

kern_return_t task_terminate(task_t id)
{
	struct machvm_call_args *a = vm_report_begin(MACHVM_CALL_TASK_TERMINATE);
	if (a)
		a->task = id;
	vm_call_enter();
	struct task *t = NULL;
	pthread_mutex_lock(&host_lock);
	task_slot_t *slot = slot_of(id);
	if (slot && (t = atomic_load(slot)) != NULL) {
		atomic_store(slot, NULL);
		live_tasks--;
	}
	pthread_mutex_unlock(&host_lock);
	if (t == NULL) {
		vm_report_end(KERN_INVALID_ARGUMENT);
		vm_call_exit(false);
		return KERN_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&t->lock);
	t->dead = true;
	vm_object_lock_acquire();
	/* The task's end first, whole; then the objects its entries held. */
	vm_report_task(&t->map);
	vm_map_report_task(&t->map, MACHVM_CHANGE_TASK_TERMINATED);
	vm_map_destroy(&t->map);
	vm_object_lock_release();
	vm_report_end(KERN_SUCCESS);
	pthread_mutex_unlock(&t->lock);
	task_recycle(t);
	vm_call_exit(true);
	return KERN_SUCCESS;
}

boolean_t machvm_task_alive(task_t id)
{
	return task_lookup(id) != NULL;
}

kern_return_t machvm_task_list(task_t *ids, size_t cap, size_t *count)
{
	if (count == NULL || (ids == NULL && cap > 0))
		return KERN_INVALID_ARGUMENT;
	size_t n = 0;
	pthread_mutex_lock(&host_lock);
	for (task_t id = 1; id < next_task_id; id++) {
		if (task_lookup(id) == NULL)
			continue;
		if (n < cap)
			ids[n] = id;
		n++;
	}
	pthread_mutex_unlock(&host_lock);
	*count = n;
	return KERN_SUCCESS;
}

kern_return_t machvm_host_stats(machvm_host_stats_t *s)
{
	if (s == NULL)
		return KERN_INVALID_ARGUMENT;
	memset(s, 0, sizeof *s);
	s->page_size = vm_page_size;
	/* Entries, wired pages and sizes are summed task by task; each task is
	 * consistent in itself. */
	task_t last;
	pthread_mutex_lock(&host_lock);
	last = next_task_id;
	s->tasks = live_tasks;
	pthread_mutex_unlock(&host_lock);
	for (task_t id = 1; id < last; id++) {
		struct task *t = task_lookup(id);
		if (t == NULL)
			continue;
		if (task_lock_live(t, id)) {
			s->entries += t->map.store.nentries;
			s->virtual_size += t->map.size;
			for (struct vm_map_entry *e = t->map.store.first; e; e = e->next)
				if (e->wired_count)
					s->wired_pages += vm_atop(e->end - e->start);
			task_unlock(t);
		}
	}
	vm_object_lock_acquire();
	s->objects = vm_object_stats.objects;
	s->resident_pages = vm_object_stats.resident_pages;
	s->faults = vm_object_stats.faults.faults;
	s->zero_fill_faults = vm_object_stats.faults.zero_fill_faults;
	s->cow_faults = vm_object_stats.faults.cow_faults;
	s->shadows_created = vm_object_stats.shadows_created;
	s->collapses = vm_object_stats.collapses;
	s->bypasses = vm_object_stats.bypasses;
	s->pages_copied = vm_object_stats.pages_copied;
	vm_object_lock_release();
	return KERN_SUCCESS;
}

kern_return_t machvm_task_region_count(task_t id, size_t *count)
{
	if (count == NULL)
		return KERN_INVALID_ARGUMENT;
	struct task *t = task_lookup(id);
	if (t == NULL || !task_lock_live(t, id))
		return KERN_INVALID_ARGUMENT;
	*count = t->map.store.nentries;
	task_unlock(t);
	return KERN_SUCCESS;
}

kern_return_t machvm_task_stats(task_t id, machvm_task_stats_t *s)
{
	if (s == NULL)
		return KERN_INVALID_ARGUMENT;
	struct task *t = task_lookup(id);
	if (t == NULL)
		return KERN_INVALID_ARGUMENT;
	memset(s, 0, sizeof *s);
	if (!task_lock_live(t, id))
		return KERN_INVALID_ARGUMENT;
	s->id = t->id;
	s->parent = t->parent;
	s->parent_alive = t->parent != TASK_NULL && machvm_task_alive(t->parent);
	s->regions = t->map.store.nentries;
	s->virtual_size = t->map.size;
	s->faults = t->counts.faults;
	s->zero_fill_faults = t->counts.zero_fill_faults;
	s->cow_faults = t->counts.cow_faults;
	vm_object_lock_acquire();
	struct vm_page_table seen = VM_PAGE_TABLE_INIT;
	for (struct vm_map_entry *e = t->map.store.first; e; e = e->next) {
		if (e->wired_count)
			s->wired_pages += vm_atop(e->end - e->start);
		if (e->object == NULL)
			continue;
		uint64_t resident;
		unsigned int depth;
		vm_object_window_report(e->object, e->offset, e->end - e->start, &resident, &depth,
		                        NULL);
		s->resident_pages += resident;
		unsigned int chain = vm_object_chain_length(e->object);
		if (chain > s->max_shadow_depth)
			s->max_shadow_depth = chain;
		if (vm_page_table_get(&seen, e->object->id) == NULL &&
		    vm_page_table_put(&seen, e->object->id, e->object) == 0)
			s->objects++;
	}
	vm_page_table_destroy(&seen);
	vm_object_lock_release();
	task_unlock(t);
	return KERN_SUCCESS;
}
