/*
 * vm_object.h - memory objects: pages of real bytes, shadow chains,
 * copy-on-write, collapse and bypass.
 *
 * Locking: an object's domain lock (vm_domain.h) guards it: its reference
 * count, pages, shadow links and children lists.  Every function here needs
 * the calling thread to hold the domain of the objects it is given (or the
 * host frozen), which vm_domain_assert() checks in debug builds.  The
 * host's object table (every live object, by id and in id order) has a
 * lock of its own, the innermost of all, taken inside these functions;
 * the host's event counters are atomic.
 */
#ifndef MACHVM_VM_OBJECT_H
#define MACHVM_VM_OBJECT_H

#include <pthread.h>
#include "engine.h"
#include "vm_domain.h"
#include "vm_page.h"

struct vm_object {
	uint64_t id;                    /* unique, never reused */
	uint32_t ref_count;             /* map entries mapping it + objects shadowing it */
	bool true_share;                /* shared by a sharing vm_remap */
	vm_size_t size;                 /* bytes: offsets [0, size) are meaningful */
	struct vm_object *shadow;       /* backing object: where missing pages come from */
	vm_offset_t shadow_offset;      /* offset 0 here is this offset in shadow */
	struct vm_object *first_child;  /* the objects whose shadow is this one */
	struct vm_object *sib_prev, *sib_next;
	uint32_t nchildren;
	size_t bypass_retry;            /* resident count at which to try a bypass again */
	uint32_t pins;                  /* references an open batch's saved entries hold
	                                   (vm_batch.c); while any, no bypass skips its
	                                   shadow and no deallocate frees its pages */
	bool bypass_wanted;             /* a bypass was held back by pins: the
	                                   batch's commit tries it */
	struct vm_page_table pages;     /* page index -> P bytes */
	struct vm_domain *domain;       /* the domain it was made in (a reference);
	                                   its lock, merges followed, guards it */
	struct vm_object *all_prev, *all_next;  /* the object table's lock */
};

/* The host's object-layer counters: read and written atomically
 * (vm_object_stat_add, vm_object_stat). */
struct vm_object_stats {
	uint64_t objects, resident_pages;
	struct vm_fault_counts faults;
	uint64_t shadows_created, collapses, bypasses, pages_copied;
};

/* The host (host.h) keeps the counters (object_stats), every live object
 * (object_all) and the last id handed out (object_next_id). */

/* Adds n (wrapping: -1 takes one off) to a counter of HOST.object_stats. */
#define vm_object_stat_add(field, n) \
	((void)__atomic_fetch_add(&HOST.object_stats.field, (uint64_t)(n), __ATOMIC_RELAXED))
#define vm_object_stat(field) __atomic_load_n(&HOST.object_stats.field, __ATOMIC_RELAXED)
#define vm_object_stat_set(field, v) \
	__atomic_store_n(&HOST.object_stats.field, (uint64_t)(v), __ATOMIC_RELAXED)

/* A new empty object of size bytes with one reference, in the calling
 * thread's domain; NULL if out of memory. */
struct vm_object *vm_object_allocate(vm_size_t size);
void vm_object_reference(struct vm_object *o);
/*
 * Drops one reference.  At zero the object and its pages are freed and its
 * reference on its shadow is dropped in turn.  When only one reference is
 * left and it is a shadowing object's, that object absorbs this one
 * (collapse), so pages nobody can see any more are freed at once.
 */
void vm_object_deallocate(struct vm_object *o);

/*
 * Puts a new empty object of length bytes in front of *object (which may not
 * be NULL): the caller's reference moves to the new object, which shadows the
 * old one at *offset; *object and *offset then name the new one (offset 0).
 * KERN_RESOURCE_SHORTAGE, with nothing changed, if memory runs out.
 */
kern_return_t vm_object_shadow(struct vm_object **object, vm_offset_t *offset,
                               vm_size_t length);

/* The page holding offset off of o, searching down the shadow chain; NULL if
 * none has it (the page reads as zeros).  *depth: the level it was found at. */
void *vm_object_page_lookup(struct vm_object *o, vm_offset_t off, unsigned int *depth);

/*
 * The page at off of top, made resident in top itself, ready for writing:
 * copied up from the shadow chain (a copy-on-write fault) or zero filled.
 * Counts the fault in *task and the host.  NULL if memory runs out.
 */
void *vm_object_page_writable(struct vm_object *top, vm_offset_t off,
                              struct vm_fault_counts *task);

/*
 * A new object (one reference) holding a private copy of [off, off + len) of
 * top as seen through its chain: the eager copy used for wired and shared
 * entries.  NULL if memory runs out.
 */
struct vm_object *vm_object_copy_range(struct vm_object *top, vm_offset_t off, vm_size_t len);

/* Frees the page at page index idx held by o itself, if it has one. */
void vm_object_page_free(struct vm_object *o, uint64_t idx);

/* Frees the pages of [off, off + len) held by o itself (not its chain). */
void vm_object_free_window(struct vm_object *o, vm_offset_t off, vm_size_t len);

/* Collapses and bypasses the chain behind o while that is possible. */
void vm_object_collapse(struct vm_object *o);
/*
 * Only the collapses: absorbs into o each object behind it that nothing but
 * o refers to, and stops at the first one something else refers to.  Frees
 * only the objects absorbed.  false if memory ran out (o then still has such
 * an object behind it).
 */
bool vm_object_collapse_unshared(struct vm_object *o);

/*
 * What vm_region_extended reports of the window [off, off + len) of top:
 * how many of its pages have bytes somewhere in the chain, and the deepest
 * chain level a page lookup reaches (the whole chain length if some page
 * is found nowhere).  *in_top (if not NULL): how many of those top holds
 * itself.
 */
void vm_object_window_report(struct vm_object *top, vm_offset_t off, vm_size_t len,
                             uint64_t *resident, unsigned int *depth, uint64_t *in_top);

/*
 * Calls fn(page_index_in_window, level_object, level, arg) once for every
 * page of the window [off, off + len) of top that has bytes somewhere in
 * the chain, with the level a lookup finds it at; in no particular order.
 */
typedef void (*vm_object_page_fn)(uint64_t i, struct vm_object *o, unsigned int level,
                                  void *arg);
void vm_object_window_pages(struct vm_object *top, vm_offset_t off, vm_size_t len,
                            vm_object_page_fn fn, void *arg);

/* The live object with this id, or NULL.  O(1): a hash of every live object by id.
 * Reading it needs its domain held (or the host frozen): vm_object_find_held. */
struct vm_object *vm_object_find(uint64_t id);
/*
 * The live object with this id, with its domain locked and made the
 * calling thread's (vm_domain_leave lets go), or NULL (nothing locked).
 */
struct vm_object *vm_object_find_held(uint64_t id);
/* The host's next object id and its setting (the state files). */
uint64_t vm_object_next_id(void);
void vm_object_set_next_id(uint64_t last);
/* Gives o the id `id` (the import's): -1 if another live object has it or
 * memory ran out, o unchanged. */
int vm_object_renumber(struct vm_object *o, uint64_t id);

/* The live ids >= first, ascending: at most cap into ids; returns how many
 * there are.  O(log n + cap), after a sweep of freed ids when some are
 * left (O(n), once per run of frees). */
size_t vm_object_ids(uint64_t first, uint64_t *ids, size_t cap);
/* The checker's: the ordered ids hold every live object's id in order. */
bool vm_object_ids_check(void);

/* How many pages of the window [off, off + len) o holds itself (not its
 * chain); O(min(window pages, o's pages)). */
uint64_t vm_object_window_own_pages(struct vm_object *o, vm_offset_t off, vm_size_t len);

/* Number of objects behind o (0: no shadow). */
unsigned int vm_object_chain_length(const struct vm_object *o);

/* Frees every object; only when no map refers to any (host stop). */
void vm_object_reset(void);

#endif
