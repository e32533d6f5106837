/*
 * engine.h - what the engine's modules share and nobody outside sees:
 * the page size, rounding, panics and the counters.
 *
 * Lock order (outermost first), see also host.c, vm_domain.h, vm_object.h:
 *   1. host_lock          the task table (host.c)
 *   2. task->lock         one task's map and counters; when a call needs
 *                         several tasks it takes them in ascending order of
 *                         the structs' addresses (task.h)
 *   3. a domain's lock    every memory object the domain's tasks can reach:
 *                         reference counts, pages, shadow links
 *                         (vm_domain.h); one at a time, but for a merge,
 *                         which takes two in address order
 *   4. the open batches' lock: the list of open batches (vm_batch.c);
 *                         a batch's end holds it over all it does
 *   5. the object table's lock: every live object by id (vm_object.c);
 *                         held for the few steps of a lookup, or of
 *                         making or freeing an object
 * No lock is taken while a lower-numbered one is wanted: a call holding a
 * task lock never takes host_lock.  Debug builds check this order at
 * every lock taken (host.c, vm_domain.c): a thread that takes one against
 * it panics at once, naming the rule, instead of deadlocking some day.
 * The host's event counters and memory account are atomic.
 *
 * How long each is held: vm_region takes its task's lock and no domain's.
 * Calls on tasks of two domains share no lock but the object table's
 * (taken when an object is made or freed).  A fork and task_terminate
 * hold their domain over every entry of a map, but hand it to waiting
 * calls every VM_OBJECT_YIELD_EVERY entries (vm_domain_yield), each entry
 * done whole in between; the task locks they hold stay held.
 */
#ifndef MACHVM_ENGINE_H
#define MACHVM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <machvm/machvm.h>
#include <machvm/report.h>

/*
 * The calling thread's host (host.h has the whole struct): the one it chose
 * with machvm_host_use, else the process's default host.  Its first
 * member, the head, holds what the modules' inline functions read.
 */
struct vm_policy;
struct vm_host_head {
	vm_size_t page_size;            /* P, fixed while the host runs */
	unsigned int page_shift;        /* log2(P) */
	const struct vm_policy *_Atomic policy;         /* policy.h */
	_Atomic(machvm_report_hook_t) report_hook;      /* vm_report.h */
};
struct machvm_host;
extern struct machvm_host vm_host_default;
extern _Thread_local struct machvm_host *vm_host_current;

/* Never NULL: every thread starts on the default host. */
static inline struct machvm_host *vm_host(void)
{
	return vm_host_current;
}

static inline struct vm_host_head *vm_host_head(void)
{
	return (struct vm_host_head *)vm_host();        /* its first member */
}

#define vm_page_size  (vm_host_head()->page_size)
#define vm_page_shift (vm_host_head()->page_shift)

static inline vm_address_t vm_trunc_page(vm_address_t a)
{
	return a & ~(vm_page_size - 1);
}

/* Wraps to 0 when a is within P of 2^64: callers check. */
static inline vm_address_t vm_round_page(vm_address_t a)
{
	return (a + vm_page_size - 1) & ~(vm_page_size - 1);
}

static inline uint64_t vm_atop(vm_address_t a)
{
	return a >> vm_page_shift;
}

/* A broken invariant: calls the panic hook with the message, then abort(). */
_Noreturn void machvm_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fault counts kept per task and for the host. */
struct vm_fault_counts {
	uint64_t faults;
	uint64_t zero_fill_faults;
	uint64_t cow_faults;
};

/*
 * The memory account (host.c): every byte the engine holds for what grows
 * with use - P per resident page, and one struct per memory object, map
 * entry (cached spares included) and task - is charged here when it is
 * allocated and given back when it is freed, so that the host can refuse
 * to grow past machvm_host_set_memory_limit().  The count is one atomic
 * word: any thread may charge, holding any locks or none.
 *
 * A call that must not fail part way reserves first what it may take at
 * most (vm_mem_reserve, before it changes anything); vm_mem_take then
 * draws from the calling thread's reservation before it charges anew, and
 * vm_mem_unreserve gives back what the call did not use.  A reservation
 * lives within one call: it is given back before the call returns.
 */
/* Takes bytes for a new allocation: from this thread's reservation, else
 * charged if the limit allows.  false: over the limit, nothing taken. */
bool vm_mem_take(uint64_t bytes);
/* Charges bytes whatever the limit (the import rebuilding a host). */
void vm_mem_force(uint64_t bytes);
/* Gives back bytes that were freed. */
void vm_mem_give(uint64_t bytes);
/* Reserves bytes for this thread's call; false (nothing reserved) over the limit. */
bool vm_mem_reserve(uint64_t bytes);
/* Gives back what this thread's reservation has left. */
void vm_mem_unreserve(void);
/* Bytes charged now, reservations included. */
uint64_t vm_mem_used(void);
uint64_t vm_mem_limit(void);             /* 0: none */

/* The limits per task (machvm_host_set_task_limits): may the map of a
 * task take `more` bytes of mappings, `more_pages` more wired pages? */
struct vm_map;
bool vm_task_may_map(const struct vm_map *m, vm_size_t more);
bool vm_task_may_wire(const struct vm_map *m, uint64_t more_pages);


#ifdef MACHVM_DEBUG
#define VM_ASSERT(c) do { if (!(c)) machvm_panic("assertion %s failed at %s:%d", #c, __FILE__, __LINE__); } while (0)
#else
#define VM_ASSERT(c) do { (void)sizeof(c); } while (0)
#endif

/*
 * size bytes of zeros in cache lines of their own (free() frees them), or
 * NULL: for what threads working on different tasks write on every call
 * (a task's lock and map, a domain's lock), which malloc would otherwise
 * place side by side in one cache line when they are made one after the
 * other, so that two CPUs would pass that line back and forth.
 */
#define VM_CACHE_LINE 64
static inline void *vm_zalloc_lines(size_t size)
{
	size_t n = (size + VM_CACHE_LINE - 1) & ~(size_t)(VM_CACHE_LINE - 1);
	void *p = aligned_alloc(VM_CACHE_LINE, n);
	if (p)
		memset(p, 0, n);
	return p;
}

#endif
