/*
 * host.c - the host: page size, host ports, the task table, task creation
 * and termination, counters, and the names of codes.
 *
 * Tasks are numbered from 1; a task_create takes the lowest id free, so ids
 * are reused after termination and a host that creates and terminates
 * tasks forever never runs out of them.  An id is free once its task
 * terminated and no pin (machvm_task_pin) holds it: a holder of a stale,
 * pinned id only ever finds a dead task.  The table is an array indexed
 * by id.
 */
#include "host.h"
#include "policy.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hosts (host.h) ----------------------------------------------------- */

/* The host of every thread that chose none. */
struct machvm_host vm_host_default = {
	.head = { .page_size = 4096, .page_shift = 12,
	          .policy = &vm_policies[MACHVM_PERSONALITY_MACH] },
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.next_task_id = 1,
	.object_table_lock = PTHREAD_MUTEX_INITIALIZER,
	.batch_lock = PTHREAD_MUTEX_INITIALIZER,
	.objects_by_id = VM_PAGE_TABLE_INIT,
	.call_gate = PTHREAD_RWLOCK_INITIALIZER,
	.import = { .by_id = VM_PAGE_TABLE_INIT },
};

_Thread_local struct machvm_host *vm_host_current = &vm_host_default;

bool vm_host_init(struct machvm_host *h)
{
	memset(h, 0, sizeof *h);
	h->head.page_size = 4096;
	h->head.page_shift = 12;
	atomic_init(&h->head.policy, &vm_policies[MACHVM_PERSONALITY_MACH]);
	h->next_task_id = 1;
	h->objects_by_id = (struct vm_page_table)VM_PAGE_TABLE_INIT;
	h->import.by_id = (struct vm_page_table)VM_PAGE_TABLE_INIT;
	if (pthread_mutex_init(&h->lock, NULL) != 0)
		return false;
	if (pthread_mutex_init(&h->object_table_lock, NULL) != 0) {
		pthread_mutex_destroy(&h->lock);
		return false;
	}
	if (pthread_mutex_init(&h->batch_lock, NULL) != 0) {
		pthread_mutex_destroy(&h->object_table_lock);
		pthread_mutex_destroy(&h->lock);
		return false;
	}
	if (pthread_rwlock_init(&h->call_gate, NULL) != 0) {
		pthread_mutex_destroy(&h->batch_lock);
		pthread_mutex_destroy(&h->object_table_lock);
		pthread_mutex_destroy(&h->lock);
		return false;
	}
	return true;
}

kern_return_t machvm_host_create(machvm_host_t *host)
{
	if (host == NULL)
		return KERN_INVALID_ARGUMENT;
	struct machvm_host *h = malloc(sizeof *h);
	if (h == NULL || !vm_host_init(h)) {
		free(h);
		return KERN_RESOURCE_SHORTAGE;
	}
	*host = h;
	return KERN_SUCCESS;
}

machvm_host_t machvm_host_use(machvm_host_t host)
{
	struct machvm_host *was = vm_host_current;
	vm_host_current = host ? host : &vm_host_default;
	return was == &vm_host_default ? NULL : was;
}

kern_return_t machvm_host_destroy(machvm_host_t host)
{
	if (host == NULL || host == &vm_host_default)
		return KERN_INVALID_ARGUMENT;
	struct machvm_host *was = machvm_host_use(host);
	machvm_import_abort();          /* an import left half done: its staging */
	machvm_host_stop();
	machvm_host_use(was == host ? NULL : was);
	pthread_rwlock_destroy(&host->call_gate);
	pthread_mutex_destroy(&host->batch_lock);
	pthread_mutex_destroy(&host->object_table_lock);
	pthread_mutex_destroy(&host->lock);
	free(host);
	return KERN_SUCCESS;
}

#define HOST_PORT       ((host_t)0x48535401u)
#define HOST_PRIV_PORT  ((host_priv_t)0x48535402u)

/*
 * The lock-order check of debug builds (engine.h has the order): what
 * the calling thread holds, and a panic naming the rule the moment a lock
 * is taken against it.  Release builds take the locks and nothing else.
 */
#ifdef MACHVM_DEBUG
static _Thread_local struct {
	bool host;                      /* host_lock */
	size_t tasks;                   /* task locks */
	uintptr_t top;                  /* the highest task struct address among them */
} held;
#endif

static void host_lock_take(void)
{
#ifdef MACHVM_DEBUG
	if (vm_domain_mine())
		machvm_panic("lock order: host_lock taken with a domain lock held");
	if (held.tasks)
		machvm_panic("lock order: host_lock taken with a task lock held");
	if (held.host)
		machvm_panic("lock order: host_lock taken twice");
#endif
	pthread_mutex_lock(&HOST.lock);
#ifdef MACHVM_DEBUG
	held.host = true;
#endif
}

static void host_lock_drop(void)
{
#ifdef MACHVM_DEBUG
	held.host = false;
#endif
	pthread_mutex_unlock(&HOST.lock);
}

static void task_mutex_take(struct task *t)
{
#ifdef MACHVM_DEBUG
	if (vm_domain_mine())
		machvm_panic("lock order: a task lock taken with a domain lock held");
	/* Below the top: an inversion.  The top itself again is a struct
	 * dropped and taken again (task_lock_refs: a struct listed twice
	 * whose first try found it dead); taking one held would deadlock
	 * anyway. */
	if (held.tasks && (uintptr_t)t < held.top)
		machvm_panic("lock order: task locks taken out of address order");
#endif
	pthread_mutex_lock(&t->lock);
#ifdef MACHVM_DEBUG
	held.tasks++;
	if ((uintptr_t)t > held.top)
		held.top = (uintptr_t)t;
#endif
}

static void task_mutex_drop(struct task *t)
{
#ifdef MACHVM_DEBUG
	/* Conservative: the top stays until the last task lock goes (locks
	 * are taken in one run and dropped together). */
	if (held.tasks == 0)
		machvm_panic("lock order: a task lock dropped that was not taken");
	if (--held.tasks == 0)
		held.top = 0;
#endif
	pthread_mutex_unlock(&t->lock);
}

static machvm_panic_hook_t panic_hook;         /* the process's, not a host's */

/* ---- the memory account (engine.h) ----------------------------------- */

static _Thread_local uint64_t mem_reserved;     /* this thread's call's reservation */

/* Charges bytes unless that would pass the limit. */
static bool mem_charge(uint64_t bytes)
{
	uint64_t limit = atomic_load_explicit(&HOST.mem_limit, memory_order_relaxed);
	uint64_t used = atomic_load_explicit(&HOST.mem_used, memory_order_relaxed);
	do {
		if (limit != 0 && (used + bytes < used || used + bytes > limit))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&HOST.mem_used, &used, used + bytes,
	                                                memory_order_relaxed, memory_order_relaxed));
	return true;
}

bool vm_mem_take(uint64_t bytes)
{
	if (mem_reserved >= bytes) {
		mem_reserved -= bytes;
		return true;
	}
	return mem_charge(bytes);
}

void vm_mem_force(uint64_t bytes)
{
	atomic_fetch_add_explicit(&HOST.mem_used, bytes, memory_order_relaxed);
}

void vm_mem_give(uint64_t bytes)
{
	atomic_fetch_sub_explicit(&HOST.mem_used, bytes, memory_order_relaxed);
}

bool vm_mem_reserve(uint64_t bytes)
{
	if (!mem_charge(bytes))
		return false;
	mem_reserved += bytes;
	return true;
}

void vm_mem_unreserve(void)
{
	if (mem_reserved) {
		vm_mem_give(mem_reserved);
		mem_reserved = 0;
	}
}

uint64_t vm_mem_limit(void)
{
	return atomic_load_explicit(&HOST.mem_limit, memory_order_relaxed);
}

uint64_t vm_mem_used(void)
{
	return atomic_load_explicit(&HOST.mem_used, memory_order_relaxed);
}

kern_return_t machvm_host_set_memory_limit(uint64_t bytes)
{
	atomic_store(&HOST.mem_limit, bytes);
	return KERN_SUCCESS;
}

/* ---- limits per task (engine.h) ---------------------------------------- */

kern_return_t machvm_host_set_task_limits(const machvm_task_limits_t *limits)
{
	if (limits == NULL)
		return KERN_INVALID_ARGUMENT;
	atomic_store(&HOST.task_max_wired, limits->max_wired);
	atomic_store(&HOST.task_max_mapped, limits->max_mapped);
	return KERN_SUCCESS;
}

kern_return_t machvm_host_get_task_limits(machvm_task_limits_t *limits)
{
	if (limits == NULL)
		return KERN_INVALID_ARGUMENT;
	limits->max_wired = atomic_load(&HOST.task_max_wired);
	limits->max_mapped = atomic_load(&HOST.task_max_mapped);
	return KERN_SUCCESS;
}

bool vm_task_may_map(const struct vm_map *m, vm_size_t more)
{
	uint64_t max = atomic_load_explicit(&HOST.task_max_mapped, memory_order_relaxed);
	return max == 0 || (m->size + more >= m->size && m->size + more <= max);
}

bool vm_task_may_wire(const struct vm_map *m, uint64_t more_pages)
{
	uint64_t max = atomic_load_explicit(&HOST.task_max_wired, memory_order_relaxed);
	uint64_t pages = m->wired_pages + more_pages;
	return max == 0 || (pages >= more_pages && pages <= max >> vm_page_shift);
}

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
	host_lock_take();
	if (HOST.running) {
		host_lock_drop();
		return KERN_FAILURE;
	}
	vm_page_size = page_size;
	vm_page_shift = (unsigned int)__builtin_ctzll(page_size);
	HOST.next_task_id = 1;
	HOST.live_tasks = 0;
	HOST.nfree_ids = 0;
	HOST.task_serial = 0;
	atomic_store(&HOST.mem_limit, 0);
	atomic_store(&HOST.task_max_wired, 0);
	atomic_store(&HOST.task_max_mapped, 0);
	HOST.running = true;
	host_lock_drop();
	return KERN_SUCCESS;
}

kern_return_t machvm_host_set_personality(machvm_personality_t personality)
{
	if ((unsigned)personality > MACHVM_PERSONALITY_XNU)
		return KERN_INVALID_ARGUMENT;
	host_lock_take();
	bool busy = HOST.running && HOST.live_tasks > 0;
	if (!busy)
		atomic_store_explicit(&vm_host_head()->policy, &vm_policies[personality],
		                      memory_order_release);
	host_lock_drop();
	return busy ? KERN_FAILURE : KERN_SUCCESS;
}

void machvm_host_stop(void)
{
	host_lock_take();
	bool running = HOST.running;
	HOST.running = false;
	task_t last = HOST.next_task_id;
	host_lock_drop();
	if (!running)
		return;
	/* The host goes as a whole: its tasks' ends are not reported. */
	vm_report_quiet(true);
	for (task_t id = 1; id < last; id++)
		(void)task_terminate(id);
	vm_report_quiet(false);
	host_lock_take();
	/* Every struct goes, the pinned ones of dead tasks too: pins left
	 * now are dropped with the host (machvm.h). */
	while (HOST.task_all) {
		struct task *t = HOST.task_all;
		HOST.task_all = t->all_next;
		vm_map_destroy(&t->map);        /* its cached spare entries */
		pthread_mutex_destroy(&t->lock);
		free(t);
		vm_mem_give(sizeof *t);
	}
	HOST.task_free_list = NULL;
	HOST.task_structs = 0;
	free(HOST.free_ids);
	HOST.free_ids = NULL;
	HOST.nfree_ids = HOST.free_ids_cap = 0;
	for (size_t c = 0; c < TASK_CHUNKS; c++) {
		free(atomic_load(&HOST.task_chunks[c]));
		atomic_store(&HOST.task_chunks[c], NULL);
	}
	atomic_store_explicit(&vm_host_head()->policy, &vm_policies[MACHVM_PERSONALITY_MACH],
	                      memory_order_release);
	host_lock_drop();
	vm_object_reset();
}

static task_slot_t *slot_of(task_t id)
{
	if (id == TASK_NULL || id / TASK_CHUNK >= TASK_CHUNKS)
		return NULL;
	task_slot_t *chunk = atomic_load_explicit(&HOST.task_chunks[id / TASK_CHUNK], memory_order_acquire);
	return chunk ? &chunk[id % TASK_CHUNK] : NULL;
}

uint64_t task_struct_count(void)
{
	return __atomic_load_n(&HOST.task_structs, __ATOMIC_ACQUIRE);
}

size_t task_table_size(void)
{
	/* Read without host_lock (the checker and the export hold other
	 * locks): an atomic read of a value only ever written under it. */
	return __atomic_load_n(&HOST.next_task_id, __ATOMIC_ACQUIRE);
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
	task_mutex_take(t);
	if (t->dead || t->id != id) {
		task_mutex_drop(t);
		return false;
	}
	return true;
}

void task_unlock(struct task *t)
{
	task_mutex_drop(t);
}

bool task_lock_pair(struct task *a, task_t a_id, struct task *b, task_t b_id)
{
	if (a == b)
		return a_id == b_id && task_lock_live(a, a_id);
	bool a_first = (uintptr_t)a < (uintptr_t)b;
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

static int cmp_ref_address(const void *x, const void *y)
{
	uintptr_t a = (uintptr_t)((const struct task_ref *)x)->t;
	uintptr_t b = (uintptr_t)((const struct task_ref *)y)->t;
	return a < b ? -1 : a > b;
}

static int cmp_ref_id(const void *x, const void *y)
{
	task_t a = ((const struct task_ref *)x)->id, b = ((const struct task_ref *)y)->id;
	return a < b ? -1 : a > b;
}

size_t task_lock_refs(struct task_ref *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_ref_address);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		/* The same struct twice: the id it carries is at most one of them. */
		if (k > 0 && v[k - 1].t == v[i].t)
			continue;
		if (task_lock_live(v[i].t, v[i].id))
			v[k++] = v[i];
	}
	qsort(v, k, sizeof *v, cmp_ref_id);
	return k;
}

struct task **task_lock_live_all(size_t *n)
{
	size_t ids = task_table_size(), k = 0;
	struct task_ref *v = malloc((ids ? ids : 1) * sizeof *v);
	struct task **tasks = NULL;
	*n = 0;
	if (v == NULL)
		return NULL;
	for (size_t id = 1; id < ids; id++) {
		struct task *t = task_lookup((task_t)id);
		if (t)
			v[k++] = (struct task_ref){ t, (task_t)id };
	}
	/* Allocated before any lock is taken: nothing to undo after. */
	tasks = malloc((k ? k : 1) * sizeof *tasks);
	if (tasks != NULL) {
		*n = task_lock_refs(v, k);
		for (size_t i = 0; i < *n; i++)
			tasks[i] = v[i].t;
	}
	free(v);
	return tasks;
}

void task_unlock_all(struct task **tasks, size_t n)
{
	while (n > 0)
		task_unlock(tasks[--n]);
	free(tasks);
}

/*
 * host_lock is taken first and kept: no task is made, published or
 * ended meanwhile.  Without it a fork's child published between the
 * listing and the locking would be left out, and could change objects
 * it shares with a listed task while the caller reads them.  Nothing
 * holds a task lock while it waits for host_lock (the lock order), so
 * waiting for task locks with host_lock held cannot deadlock.
 */
struct task **task_lock_world(size_t *n)
{
	host_lock_take();
	struct task **tasks = task_lock_live_all(n);
	if (tasks == NULL)
		host_lock_drop();
	return tasks;
}

void task_unlock_world(struct task **tasks, size_t n)
{
	task_unlock_all(tasks, n);
	host_lock_drop();
}

void task_unlock_refs(struct task_ref *v, size_t n)
{
	while (n > 0)
		task_unlock(v[--n].t);
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
static void ids_push(task_t id)
{
	size_t i = HOST.nfree_ids++;
	while (i > 0 && HOST.free_ids[(i - 1) / 2] > id) {
		HOST.free_ids[i] = HOST.free_ids[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	HOST.free_ids[i] = id;
}

static task_t ids_pop(void)
{
	task_t top = HOST.free_ids[0], last = HOST.free_ids[--HOST.nfree_ids];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= HOST.nfree_ids)
			break;
		if (c + 1 < HOST.nfree_ids && HOST.free_ids[c + 1] < HOST.free_ids[c])
			c++;
		if (HOST.free_ids[c] >= last)
			break;
		HOST.free_ids[i] = HOST.free_ids[c];
		i = c;
	}
	if (HOST.nfree_ids)
		HOST.free_ids[i] = last;
	return top;
}

/* The lowest free id, or TASK_NULL when none is left or memory ran out.
 * host_lock held. */
/* Room in the free ids for every id below next; false if memory ran out. */
static bool ids_room(task_t next)
{
	if (HOST.free_ids_cap >= next)
		return true;
	size_t cap = HOST.free_ids_cap ? HOST.free_ids_cap : TASK_CHUNK;
	while (cap < next)
		cap *= 2;
	task_t *v = realloc(HOST.free_ids, cap * sizeof *v);
	if (v == NULL)
		return false;
	HOST.free_ids = v;
	HOST.free_ids_cap = cap;
	return true;
}

static task_t id_take(void)
{
	bool fresh = HOST.nfree_ids == 0;
	task_t id = fresh ? HOST.next_task_id : HOST.free_ids[0];
	if (id / TASK_CHUNK >= TASK_CHUNKS || (fresh && !ids_room(id)))
		return TASK_NULL;
	if (atomic_load(&HOST.task_chunks[id / TASK_CHUNK]) == NULL) {
		task_slot_t *chunk = calloc(TASK_CHUNK, sizeof *chunk);
		if (chunk == NULL)
			return TASK_NULL;
		atomic_store_explicit(&HOST.task_chunks[id / TASK_CHUNK], chunk, memory_order_release);
	}
	if (fresh)
		__atomic_store_n(&HOST.next_task_id, id + 1, __ATOMIC_RELEASE);
	else
		(void)ids_pop();
	return id;
}

bool task_ids_restore(task_t next)
{
	bool ok = true;
	host_lock_take();
	if (next > HOST.next_task_id) {
		/* Every id is below the limit, so next may be the limit itself. */
		ok = next <= MACHVM_TASK_ID_LIMIT && ids_room(next);
		if (ok) {
			/* Ascending pushes onto a min-heap never move: O(1) each. */
			for (task_t id = HOST.next_task_id; id < next; id++)
				ids_push(id);
			__atomic_store_n(&HOST.next_task_id, next, __ATOMIC_RELEASE);
		}
	}
	host_lock_drop();
	return ok;
}

static struct task *task_reserve(task_t parent)
{
	host_lock_take();
	task_t id = id_take();
	if (id == TASK_NULL) {
		host_lock_drop();
		return NULL;
	}
	struct task *t = HOST.task_free_list;
	if (t) {
		HOST.task_free_list = t->free_next;
	} else if (!vm_mem_take(sizeof *t)) {
		ids_push(id);
		host_lock_drop();
		return NULL;
	} else if ((t = vm_zalloc_lines(sizeof *t)) == NULL) {
		vm_mem_give(sizeof *t);
		ids_push(id);
		host_lock_drop();
		return NULL;
	} else {
		pthread_mutex_init(&t->lock, NULL);
		t->all_next = HOST.task_all;
		HOST.task_all = t;
		HOST.task_structs++;
	}
	uint64_t serial = ++HOST.task_serial;
	host_lock_drop();
	task_mutex_take(t);
	t->id = id;
	__atomic_store_n(&t->serial, serial, __ATOMIC_RELEASE);
	t->parent = parent;
	t->parent_serial = 0;
	/* Dead until published (task_publish): a caller still holding the
	 * struct from an earlier life with the same id finds nothing while
	 * the new task is built. */
	t->dead = true;
	t->domain = NULL;
	memset(&t->counts, 0, sizeof t->counts);
	vm_map_init(&t->map);
	task_mutex_drop(t);
	return t;
}

/* Back on the free list with its id: a reserved task that never went
 * live, or a dead one nobody pins.  Spare entries its map cached go. */
static void task_recycle(struct task *t)
{
	task_mutex_take(t);
	t->dead = true;
	vm_map_destroy(&t->map);
	vm_domain_release(t->domain);
	t->domain = NULL;
	task_mutex_drop(t);
	host_lock_take();
	t->free_next = HOST.task_free_list;
	HOST.task_free_list = t;
	ids_push(t->id);
	host_lock_drop();
}

kern_return_t machvm_task_serial(task_t id, uint64_t *serial)
{
	if (serial == NULL)
		return KERN_INVALID_ARGUMENT;
	struct task *t = task_lookup(id);
	if (t == NULL || !task_lock_live(t, id))
		return KERN_INVALID_ARGUMENT;
	*serial = t->serial;
	task_unlock(t);
	return KERN_SUCCESS;
}

machvm_task_pin_t *machvm_task_pin(task_t id)
{
	struct task *t = task_lookup(id);
	if (t == NULL || !task_lock_live(t, id))
		return NULL;
	t->pins++;
	task_unlock(t);
	return (machvm_task_pin_t *)t;
}

void machvm_task_unpin(machvm_task_pin_t *pin)
{
	struct task *t = (struct task *)pin;
	if (t == NULL)
		return;
	task_mutex_take(t);
	bool last = --t->pins == 0 && t->retired;
	if (last)
		t->retired = false;
	task_mutex_drop(t);
	if (last)
		task_recycle(t);
}

static void task_publish(struct task *t)
{
	task_mutex_take(t);
	t->dead = false;
	task_mutex_drop(t);
	host_lock_take();
	atomic_store_explicit(slot_of(t->id), t, memory_order_release);
	HOST.live_tasks++;
	host_lock_drop();
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
	if (c && p)
		c->parent_serial = __atomic_load_n(&p->serial, __ATOMIC_ACQUIRE);
	if (c == NULL) {
		kr = KERN_RESOURCE_SHORTAGE;
		goto out;
	}
	/* A task made empty starts a domain of its own; a fork's child
	 * joins its parent's (below).  Nobody can lock c before it is
	 * published, so c->domain is set without its lock. */
	if (!inherit_memory && (c->domain = vm_domain_create()) == NULL) {
		task_recycle(c);
		kr = KERN_RESOURCE_SHORTAGE;
		goto out;
	}
	if (inherit_memory) {
		if (!task_lock_live(p, parent)) {
			kr = KERN_INVALID_TASK;
		} else {
			struct vm_domain *d = vm_domain_enter(p);
			vm_domain_hold(d);
			c->domain = d;
			vm_report_task(&p->map);
			/* The child and the copies, reserved whole: past the
			 * memory limit the fork fails before it touches the
			 * parent. */
			if (!vm_mem_reserve(vm_map_fork_cost(&p->map)))
				kr = KERN_RESOURCE_SHORTAGE;
			else
				kr = vm_map_fork(&p->map, &c->map);
			vm_mem_unreserve();
			if (kr == KERN_SUCCESS)
				task_created(c, a);
			vm_domain_leave();
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
	host_lock_take();
	task_slot_t *slot = slot_of(id);
	if (slot && (t = atomic_load(slot)) != NULL) {
		atomic_store(slot, NULL);
		HOST.live_tasks--;
	}
	host_lock_drop();
	if (t == NULL) {
		vm_report_end(KERN_INVALID_ARGUMENT);
		vm_call_exit(false);
		return KERN_INVALID_ARGUMENT;
	}
	task_mutex_take(t);
	t->dead = true;
	(void)vm_domain_enter(t);
	/* The task's end first, whole; then the objects its entries held. */
	vm_report_task(&t->map);
	vm_map_report_task(&t->map, MACHVM_CHANGE_TASK_TERMINATED);
	vm_map_destroy_yielding(&t->map);
	vm_domain_leave();
	vm_domain_release(t->domain);       /* after the lock: it may be the last */
	t->domain = NULL;
	vm_report_end(KERN_SUCCESS);
	/* A pinned task keeps its id (and struct) until the last unpin. */
	bool pinned = t->pins > 0;
	t->retired = pinned;
	task_mutex_drop(t);
	if (!pinned)
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
	host_lock_take();
	for (task_t id = 1; id < HOST.next_task_id; id++) {
		if (task_lookup(id) == NULL)
			continue;
		if (n < cap)
			ids[n] = id;
		n++;
	}
	host_lock_drop();
	*count = n;
	return KERN_SUCCESS;
}

kern_return_t machvm_host_stats(machvm_host_stats_t *s)
{
	if (s == NULL)
		return KERN_INVALID_ARGUMENT;
	memset(s, 0, sizeof *s);
	s->page_size = vm_page_size;
	/* O(1) whatever the number of tasks: the maps keep the host's sums
	 * (vm_map_totals) as they change.  Each figure is exact when no call
	 * is running; one taken while calls run may mix their moments. */
	host_lock_take();
	s->tasks = HOST.live_tasks;
	host_lock_drop();
	struct vm_map_totals tot;
	vm_map_totals(&tot);
	s->entries = tot.entries;
	s->virtual_size = tot.size;
	s->wired_pages = tot.wired_pages;
	s->objects = vm_object_stat(objects);
	s->resident_pages = vm_object_stat(resident_pages);
	s->faults = vm_object_stat(faults.faults);
	s->zero_fill_faults = vm_object_stat(faults.zero_fill_faults);
	s->cow_faults = vm_object_stat(faults.cow_faults);
	s->shadows_created = vm_object_stat(shadows_created);
	s->collapses = vm_object_stat(collapses);
	s->bypasses = vm_object_stat(bypasses);
	s->pages_copied = vm_object_stat(pages_copied);
	s->memory_used = vm_mem_used();
	s->memory_limit = atomic_load(&HOST.mem_limit);
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
	/* Alive and still the same task: the id may have been reused. */
	struct task *pt = t->parent != TASK_NULL ? task_lookup(t->parent) : NULL;
	s->parent_alive = pt != NULL &&
	                  __atomic_load_n(&pt->serial, __ATOMIC_ACQUIRE) == t->parent_serial;
	s->regions = t->map.store.nentries;
	s->virtual_size = t->map.size;
	s->faults = t->counts.faults;
	s->zero_fill_faults = t->counts.zero_fill_faults;
	s->cow_faults = t->counts.cow_faults;
	(void)vm_domain_enter(t);
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
	vm_domain_leave();
	task_unlock(t);
	return KERN_SUCCESS;
}
