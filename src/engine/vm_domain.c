/*
 * vm_domain.c - memory domains (vm_domain.h): making, merging, locking and
 * freeing them.
 */
#include "host.h"

#include <sched.h>
#include <stdlib.h>

/* The domain the calling thread holds locked, if any. */
static _Thread_local struct vm_domain *domain_held;
/* How many times the calling thread froze the host (vm_domain_freeze). */
static _Thread_local unsigned int frozen;

struct vm_domain *vm_domain_create(void)
{
	if (!vm_mem_take(sizeof(struct vm_domain)))
		return NULL;
	struct vm_domain *d = vm_zalloc_lines(sizeof *d);
	if (d == NULL || pthread_mutex_init(&d->lock, NULL) != 0) {
		free(d);
		vm_mem_give(sizeof(struct vm_domain));
		return NULL;
	}
	atomic_init(&d->into, NULL);
	atomic_init(&d->refs, 1);
	atomic_fetch_add_explicit(&HOST.domains, 1, memory_order_relaxed);
	return d;
}

void vm_domain_hold(struct vm_domain *d)
{
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
}

void vm_domain_release(struct vm_domain *d)
{
	while (d != NULL) {
		unsigned int was = atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel);
		if (was == 0)
			machvm_panic("domain: reference count below zero");
		if (was > 1)
			return;
		/* Nobody can reach d any more: no task, object, batch or
		 * merged domain points at it, so nobody holds or waits for
		 * its lock. */
		struct vm_domain *into = atomic_load_explicit(&d->into, memory_order_acquire);
		pthread_mutex_destroy(&d->lock);
		free(d);
		vm_mem_give(sizeof(struct vm_domain));
		atomic_fetch_sub_explicit(&HOST.domains, 1, memory_order_relaxed);
		d = into;       /* drop the reference d held on it */
	}
}

/* Where d went in the end, following merges; no lock taken. */
struct vm_domain *vm_domain_end(struct vm_domain *d)
{
	struct vm_domain *next;
	while ((next = atomic_load_explicit(&d->into, memory_order_acquire)) != NULL)
		d = next;
	return d;
}

static void mutex_take(struct vm_domain *d)
{
	if (pthread_mutex_trylock(&d->lock) != 0) {
		atomic_fetch_add_explicit(&d->waiters, 1, memory_order_relaxed);
		pthread_mutex_lock(&d->lock);
		atomic_fetch_sub_explicit(&d->waiters, 1, memory_order_relaxed);
	}
	atomic_store_explicit(&d->takes,
	                      atomic_load_explicit(&d->takes, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

/* Locks the domain d ends in: merged meanwhile, the lock moves on. */
static struct vm_domain *lock_final(struct vm_domain *d)
{
#ifdef MACHVM_DEBUG
	if (domain_held)
		machvm_panic("lock order: a domain lock taken with one held");
#endif
	for (;;) {
		struct vm_domain *r = vm_domain_end(d);
		mutex_take(r);
		if (atomic_load_explicit(&r->into, memory_order_acquire) == NULL) {
			domain_held = r;
			return r;
		}
		pthread_mutex_unlock(&r->lock);
	}
}

/* t locked: t points straight at r (which the caller has locked). */
static void point_at(struct task *t, struct vm_domain *r)
{
	if (t->domain == r)
		return;
	vm_domain_hold(r);
	struct vm_domain *old = t->domain;
	t->domain = r;
	/* Cannot free r: t's reference was just taken. */
	vm_domain_release(old);
}

struct vm_domain *vm_domain_enter(struct task *t)
{
	struct vm_domain *r = lock_final(t->domain);
	point_at(t, r);
	return r;
}

struct vm_domain *vm_domain_enter_ref(struct vm_domain *d)
{
	return lock_final(d);
}

/*
 * Makes a and b (two domains that went nowhere, as seen a moment ago)
 * one, if they still are two: b goes into a.  Both locked in address
 * order; a merge that raced with this one is seen under the locks and
 * left to the caller's next look.
 */
static void merge_two(struct vm_domain *a, struct vm_domain *b)
{
	struct vm_domain *lo = a < b ? a : b, *hi = a < b ? b : a;
	mutex_take(lo);
	mutex_take(hi);
	if (atomic_load_explicit(&a->into, memory_order_relaxed) == NULL &&
	    atomic_load_explicit(&b->into, memory_order_relaxed) == NULL) {
		vm_domain_hold(a);      /* b's reference on it */
		atomic_store_explicit(&b->into, a, memory_order_release);
	}
	pthread_mutex_unlock(&hi->lock);
	pthread_mutex_unlock(&lo->lock);
}

struct vm_domain *vm_domain_enter_all(struct task *const *ts, size_t n)
{
#ifdef MACHVM_DEBUG
	if (domain_held)
		machvm_panic("lock order: a domain lock taken with one held");
#endif
	/* Until every task's domain ends in one: the tasks are locked, so
	 * no other call can split them again, and each round merges. */
	for (size_t i = 1; i < n;) {
		struct vm_domain *a = vm_domain_end(ts[0]->domain), *b = vm_domain_end(ts[i]->domain);
		if (a == b)
			i++;
		else
			merge_two(a, b);
	}
	struct vm_domain *r = lock_final(ts[0]->domain);
	for (size_t i = 0; i < n; i++)
		point_at(ts[i], r);
	return r;
}

struct vm_domain *vm_domain_current(void)
{
	return domain_held;
}

void vm_domain_leave(void)
{
	struct vm_domain *d = domain_held;
	if (d == NULL)
		machvm_panic("domain: left without one held");
	domain_held = NULL;
	pthread_mutex_unlock(&d->lock);
}

/*
 * A mutex gives no turns: a thread that unlocks and locks again at once
 * mostly gets the lock back before a waiter wakes.  So the yield, when
 * somebody waits, unlocks and then lets the others run until one of them
 * has taken the lock (or about a millisecond has gone by), and only then
 * locks again.  Meanwhile a call on two other tasks may have merged the
 * domain into another: then the lock taken is that one's.
 */
void vm_domain_yield(void)
{
	struct vm_domain *d = domain_held;
	vm_domain_assert();
	if (d == NULL)
		return;         /* a frozen host: nobody to hand over to */
	if (atomic_load_explicit(&d->waiters, memory_order_relaxed) == 0) {
		/* Nobody wants the lock, but a thread may want this CPU: the
		 * scheduler does not cut a thread that keeps going to sleep
		 * between calls short for one it wakes (a reader of another
		 * task, say), which then waits for the whole call.  So now and
		 * then a long call lets it run, as a kernel's long loops do. */
		static _Thread_local unsigned int calls;
		if (++calls % VM_CPU_YIELD_EVERY == 0)
			sched_yield();
		return;
	}
	uint_fast64_t seen = atomic_load_explicit(&d->takes, memory_order_relaxed);
	domain_held = NULL;
	pthread_mutex_unlock(&d->lock);
	for (int i = 0; i < 1000; i++) {
		if (atomic_load_explicit(&d->takes, memory_order_relaxed) != seen ||
		    atomic_load_explicit(&d->waiters, memory_order_relaxed) == 0)
			break;
		sched_yield();
	}
	mutex_take(d);
	if (atomic_load_explicit(&d->into, memory_order_acquire) != NULL) {
		pthread_mutex_unlock(&d->lock);
		(void)lock_final(d);    /* the caller's task keeps d, so d's end */
		return;
	}
	domain_held = d;
}

void vm_domain_freeze(bool on)
{
	if (on)
		frozen++;
	else
		frozen--;
}

bool vm_domain_mine(void)
{
#ifdef MACHVM_DEBUG
	return domain_held != NULL;
#else
	return false;
#endif
}

void vm_domain_assert(void)
{
#ifdef MACHVM_DEBUG
	if (domain_held == NULL && frozen == 0)
		machvm_panic("no domain lock held");
#endif
}
