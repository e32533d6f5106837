/*
 * vm_domain.h - memory domains: the locks that guard memory objects.
 *
 * A domain is a set of tasks that may share memory objects, with one lock
 * for every object those tasks can reach.  Objects only ever travel
 * between tasks along three paths, and the domains follow them:
 *  - task_create without inherit_memory: the new task starts a domain of
 *    its own (nothing of it is shared yet);
 *  - a fork (task_create with inherit_memory): the child joins its
 *    parent's domain;
 *  - a vm_remap from one task into another, and a batch or an import over
 *    several tasks: their domains become one (a merge) before anything is
 *    shared.
 * Domains are never split: tasks that stopped sharing stay in one domain
 * until they end.  So the lock of a task's domain guards every object its
 * map reaches, the chains behind them, and every other map's entries'
 * objects that could be the same: two calls on tasks of two domains never
 * touch one object, and run side by side without waiting for each other.
 *
 * A merge does not visit the tasks: the domain merged away points to the
 * one it went into (`into`, set once, never cleared), and whoever locks a
 * task's domain follows those pointers to the end, locks that one, and
 * checks under its lock that it was not merged meanwhile.  With its task
 * locked, a caller then points the task straight at it.
 *
 * Lifetime: a domain counts references from the tasks that point at it,
 * the objects made in it (vm_object.h: `domain`), the domains merged into
 * it, open batches, and callers looking an object up by id.  A thread
 * holding a domain's lock always holds, through its task, a reference
 * that keeps it, so a domain is freed only when nobody can reach it.
 *
 * Lock order (engine.h): host_lock, task locks, one domain lock, the open
 * batches' lock, then the host's object table lock (vm_object.c).  A thread holds one domain lock
 * at a time; only a merge holds two, taken in address order, while it
 * holds the task locks that make them one.
 */
#ifndef MACHVM_VM_DOMAIN_H
#define MACHVM_VM_DOMAIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct task;

struct vm_domain {
	pthread_mutex_t lock;
	struct vm_domain *_Atomic into; /* merged into (under both locks); then forever */
	atomic_uint refs;
	/* Who waits for the lock, and how many times it was taken: what
	 * vm_domain_yield needs to hand it over.  takes is written only with
	 * the lock held, and read by the yielding thread without it. */
	atomic_uint waiters;
	atomic_uint_fast64_t takes;
};

/* A new domain with one reference (the caller's); NULL if out of memory. */
struct vm_domain *vm_domain_create(void);
void vm_domain_hold(struct vm_domain *d);
/* Drops a reference; the last one frees d and drops d's on what it went into. */
void vm_domain_release(struct vm_domain *d);
/* The domain d went into in the end (d itself if never merged); no lock
 * taken, so only a holder of its lock or of every task lock may count on
 * the answer staying true. */
struct vm_domain *vm_domain_end(struct vm_domain *d);

/*
 * t locked and alive: locks t's domain (following merges) and makes it
 * the calling thread's; t then points straight at it.  Returns it.
 */
struct vm_domain *vm_domain_enter(struct task *t);
/*
 * The tasks ts[0..n) locked and alive (n >= 1): merges their domains into
 * one, locks it, makes it the calling thread's and points every ts[i] at
 * it.  Returns it.
 */
struct vm_domain *vm_domain_enter_all(struct task *const *ts, size_t n);
/* The thread's domain: a reference on it (an open batch keeps one), or
 * NULL if it holds none. */
struct vm_domain *vm_domain_current(void);
/*
 * Locks d itself (following merges) and makes it the calling thread's,
 * for a caller that holds a reference on d (or on a domain merged into
 * it): an open batch's domain, or an object's looked up by id.  Returns
 * the domain locked.
 */
struct vm_domain *vm_domain_enter_ref(struct vm_domain *d);
/* Unlocks the calling thread's domain. */
void vm_domain_leave(void);

/*
 * Called with a domain held by a call that holds it for long (a fork or
 * the end of a big task) between two steps that each leave every object
 * whole: if other threads wait for the lock, it lets one of them have it
 * before it takes it back; if none does, every VM_CPU_YIELD_EVERY-th call
 * lets other runnable threads have the CPU (sched_yield).  Nothing the
 * caller's own task locks guard can change meanwhile; objects of the
 * domain can, so pointers to objects the caller holds no reference on
 * must be read again.
 */
void vm_domain_yield(void);
/* Entries a long call handles between two yields. */
#define VM_OBJECT_YIELD_EVERY 256
/* Yields with nobody waiting for the lock between two of the CPU. */
#define VM_CPU_YIELD_EVERY 4

/*
 * The whole host is still: every live task is locked by the calling
 * thread (the export, the checker), so no call can change an object, and
 * objects may be read without a domain lock.  Nests.
 */
void vm_domain_freeze(bool on);

/* Whether the calling thread holds a domain lock (release builds: false,
 * it is only asked by the debug lock-order check). */
bool vm_domain_mine(void);
/* Debug builds: panics unless the thread holds a domain or froze the host. */
void vm_domain_assert(void);

#endif
