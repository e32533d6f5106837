/*
 * host.c - the host: page size, host ports, the task table, task creation
 * and termination, counters, and the names of codes.
 *
 * Tasks are numbered from 1 and never renumbered, so a stale id can only
 * ever name a dead task.  The table is an array indexed by id.
 */
#include "task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vm_size_t vm_page_size = 4096;
unsigned int vm_page_shift = 12;

#define HOST_PORT       ((host_t)0x48535401u)
#define HOST_PRIV_PORT  ((host_priv_t)0x48535402u)

static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static bool host_running;
static struct task **task_table;        /* index = id; NULL: none or dead */
static size_t task_table_cap;
static task_t next_task_id = 1;
static uint64_t live_tasks;

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

void machvm_host_stop(void)
{
	pthread_mutex_lock(&host_lock);
	bool running = host_running;
	host_running = false;
	size_t cap = task_table_cap;
	pthread_mutex_unlock(&host_lock);
	if (!running)
		return;
	for (size_t id = 1; id < cap; id++)
		(void)task_terminate((task_t)id);
	pthread_mutex_lock(&host_lock);
	free(task_table);
	task_table = NULL;
	task_table_cap = 0;
	pthread_mutex_unlock(&host_lock);
	vm_object_reset();
}

size_t task_table_size(void)
{
	return task_table_cap;
}

struct task *task_table_at(size_t id)
{
	return id < task_table_cap ? task_table[id] : NULL;
}

struct task *task_lookup(task_t id)
{
	struct task *t = NULL;
	pthread_mutex_lock(&host_lock);
	if (id != TASK_NULL && id < task_table_cap && task_table[id] != NULL) {
		t = task_table[id];
		t->refs++;
	}
	pthread_mutex_unlock(&host_lock);
	return t;
}

static void task_free(struct task *t)
{
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void task_release(struct task *t)
{
	pthread_mutex_lock(&host_lock);
	bool last = --t->refs == 0;
	pthread_mutex_unlock(&host_lock);
	if (last)
		task_free(t);
}

bool task_lock_live(struct task *t)
{
	pthread_mutex_lock(&t->lock);
	if (t->dead) {
		pthread_mutex_unlock(&t->lock);
		return false;
	}
	return true;
}

void task_unlock(struct task *t)
{
	pthread_mutex_unlock(&t->lock);
}

bool task_lock_pair(struct task *a, struct task *b)
{
	if (a == b)
		return task_lock_live(a);
	struct task *lo = a->id < b->id ? a : b, *hi = a->id < b->id ? b : a;
	if (!task_lock_live(lo))
		return false;
	if (!task_lock_live(hi)) {
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

/* A new task struct with a reserved id, not yet in the table. */
static struct task *task_reserve(task_t parent)
{
	struct task *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->parent = parent;
	t->refs = 1;            /* the table's */
	vm_map_init(&t->map);
	pthread_mutex_lock(&host_lock);
	if (next_task_id >= task_table_cap) {
		size_t cap = task_table_cap ? task_table_cap * 2 : 64;
		struct task **nt = realloc(task_table, cap * sizeof *nt);
		if (nt == NULL) {
			pthread_mutex_unlock(&host_lock);
			task_free(t);
			return NULL;
		}
		memset(nt + task_table_cap, 0, (cap - task_table_cap) * sizeof *nt);
		task_table = nt;
		task_table_cap = cap;
	}
	t->id = next_task_id++;
	pthread_mutex_unlock(&host_lock);
	return t;
}

static void task_publish(struct task *t)
{
	pthread_mutex_lock(&host_lock);
	task_table[t->id] = t;
	live_tasks++;
	pthread_mutex_unlock(&host_lock);
}

kern_return_t task_create(task_t parent, boolean_t inherit_memory, task_t *child_task)
{
	if (child_task == NULL)
		return KERN_INVALID_ARGUMENT;
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
		if (!task_lock_live(p)) {
			kr = KERN_INVALID_TASK;
		} else {
			vm_object_lock_acquire();
			kr = vm_map_fork(&p->map, &c->map);
			vm_object_lock_release();
			task_unlock(p);
		}
	}
	if (kr != KERN_SUCCESS) {
		task_free(c);
		goto out;
	}
	task_publish(c);
	*child_task = c->id;
out:
	if (p)
		task_release(p);
	vm_call_exit(kr == KERN_SUCCESS);
	return kr;
}

kern_return_t task_terminate(task_t id)
{
	vm_call_enter();
	struct task *t = NULL;
	pthread_mutex_lock(&host_lock);
	if (id != TASK_NULL && id < task_table_cap && task_table[id] != NULL) {
		t = task_table[id];
		task_table[id] = NULL;      /* the table's reference passes to us */
		live_tasks--;
	}
	pthread_mutex_unlock(&host_lock);
	if (t == NULL) {
		vm_call_exit(false);
		return KERN_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&t->lock);
	t->dead = true;
	vm_object_lock_acquire();
	vm_map_destroy(&t->map);
	vm_object_lock_release();
	pthread_mutex_unlock(&t->lock);
	task_release(t);
	vm_call_exit(true);
	return KERN_SUCCESS;
}

boolean_t machvm_task_alive(task_t id)
{
	pthread_mutex_lock(&host_lock);
	boolean_t alive = id != TASK_NULL && id < task_table_cap && task_table[id] != NULL;
	pthread_mutex_unlock(&host_lock);
	return alive;
}

kern_return_t machvm_task_list(task_t *ids, size_t cap, size_t *count)
{
	if (count == NULL || (ids == NULL && cap > 0))
		return KERN_INVALID_ARGUMENT;
	size_t n = 0;
	pthread_mutex_lock(&host_lock);
	for (size_t id = 1; id < task_table_cap; id++) {
		if (task_table[id] == NULL)
			continue;
		if (n < cap)
			ids[n] = (task_t)id;
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
	size_t cap;
	pthread_mutex_lock(&host_lock);
	cap = task_table_cap;
	s->tasks = live_tasks;
	pthread_mutex_unlock(&host_lock);
	for (size_t id = 1; id < cap; id++) {
		struct task *t = task_lookup((task_t)id);
		if (t == NULL)
			continue;
		if (task_lock_live(t)) {
			s->entries += t->map.store.nentries;
			s->virtual_size += t->map.size;
			for (struct vm_map_entry *e = t->map.store.first; e; e = e->next)
				if (e->wired_count)
					s->wired_pages += vm_atop(e->end - e->start);
			task_unlock(t);
		}
		task_release(t);
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

kern_return_t machvm_task_stats(task_t id, machvm_task_stats_t *s)
{
	if (s == NULL)
		return KERN_INVALID_ARGUMENT;
	struct task *t = task_lookup(id);
	if (t == NULL)
		return KERN_INVALID_ARGUMENT;
	memset(s, 0, sizeof *s);
	/* Before the task lock: host_lock is never taken under a task lock. */
	s->parent_alive = t->parent != TASK_NULL && machvm_task_alive(t->parent);
	if (!task_lock_live(t)) {
		task_release(t);
		return KERN_INVALID_ARGUMENT;
	}
	s->id = t->id;
	s->parent = t->parent;
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
		vm_object_window_report(e->object, e->offset, e->end - e->start, &resident, &depth);
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
	task_release(t);
	return KERN_SUCCESS;
}
