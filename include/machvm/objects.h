/*
 * objects.h - looking inside: memory objects, their shadow chains, who
 * maps them, and where each page of a task really comes from.
 *
 * These are queries: they change nothing and report nothing (report.h).
 * An object is named by its id, as vm_region_extended's object_id and the
 * state file name it; ids are never reused while the host runs, so a stale
 * id only ever names a dead object.  docs/semantics.md, section 2.12,
 * describes what each figure means.
 *
 * Locking: a query of one task takes that task's lock, then its memory
 * domain's lock (the lock of the objects of the tasks that can share
 * them), as vm_region_extended does.  A query that needs the map entries
 * of every task (machvm_object_info with MACHVM_OBJECT_MAPPED_BY or
 * MACHVM_OBJECT_PAGES) locks every live task, then the object's domain: it
 * holds up every other call for as long as it walks (the walk is
 * O(entries of every task) plus the object's pages).  The others take the
 * object's domain only.  A task that is being created (a fork not yet
 * returned) is not in the task table yet: its entries are not among the
 * mappings a query finds, though the references they hold are counted.
 */
#ifndef MACHVM_OBJECTS_H
#define MACHVM_OBJECTS_H

#include <stddef.h>
#include <stdint.h>
#include <machvm/api.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ids of the live memory objects that are >= first, ascending.  Fills
 * at most cap ids into ids and sets *count to the number of live objects
 * with an id >= first (which may exceed cap; ids NULL with cap 0 asks for
 * the count only).  O(log(live objects) + cap) (after freed ids are swept
 * out, O(live objects) once after a run of frees).
 *   KERN_INVALID_ARGUMENT   count is NULL, or ids is NULL with cap > 0
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_object_list(uint64_t first, uint64_t *ids, size_t cap,
                                            size_t *count);

/* TRUE if id names a live memory object (FALSE for 0 and dead ids). */
MACHVM_API boolean_t machvm_object_alive(uint64_t id);

/* One map entry that maps an object (its top object is this one). */
typedef struct machvm_object_mapping {
	task_t       task;
	vm_address_t start, end;        /* the entry */
	vm_offset_t  offset;            /* of start in the object */
	boolean_t    needs_copy;        /* the entry maps it copy-on-write */
	unsigned int wired_count;
} machvm_object_mapping_t;

/* One resident page of an object (bytes held by the object itself). */
typedef struct machvm_object_page {
	vm_offset_t offset;             /* in the object, page aligned */
	boolean_t   wired;              /* inside a wired entry that maps it */
} machvm_object_page_t;

/* One level of a shadow chain, from the object asked about down. */
typedef struct machvm_chain_level {
	unsigned int depth;             /* 0: the object itself */
	uint64_t     id;
	vm_offset_t  offset;            /* where the first object's offset 0 is
	                                   in this one (shadow offsets summed) */
	uint64_t     resident_pages;    /* pages this level holds itself */
} machvm_chain_level_t;

/* What machvm_object_info fills besides the figures (the `what` bits). */
#define MACHVM_OBJECT_CHAIN        0x1u
#define MACHVM_OBJECT_SHADOWED_BY  0x2u
#define MACHVM_OBJECT_MAPPED_BY    0x4u
#define MACHVM_OBJECT_PAGES        0x8u

typedef struct machvm_object_info {
	uint64_t     id;
	vm_size_t    size;              /* bytes: offsets [0, size) mean something */
	uint64_t     resident_pages;    /* pages the object holds itself */
	unsigned int ref_count;         /* map entries mapping it + objects
	                                   shadowing it */
	uint64_t     shadow;            /* the object missing pages are read
	                                   from; 0: none */
	vm_offset_t  shadow_offset;     /* offset 0 here is this offset there */
	boolean_t    true_share;        /* shared by a sharing vm_remap */
	/* Each array is malloc'd, NULL when empty or not asked for. */
	machvm_chain_level_t    *chain;         /* CHAIN: this object first */
	size_t                   nchain;
	uint64_t                *shadowed_by;   /* SHADOWED_BY: ids, ascending */
	size_t                   nshadowed_by;
	machvm_object_mapping_t *mapped_by;     /* MAPPED_BY: by task, then start */
	size_t                   nmapped_by;
	machvm_object_page_t    *pages;         /* PAGES: by offset */
	size_t                   npages;
} machvm_object_info_t;

/*
 * Everything about one object, at one instant: the figures always, and
 * the lists `what` asks for (MACHVM_OBJECT_* bits; other bits are
 * ignored).  Free the lists with machvm_object_info_free (also after a
 * failure, which leaves them NULL).
 *   KERN_INVALID_ARGUMENT    info is NULL, or id names no live object
 *   KERN_RESOURCE_SHORTAGE   out of memory
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_object_info(uint64_t id, unsigned int what,
                                            machvm_object_info_t *info);

/* Frees the lists of info and sets them to NULL; info NULL is fine. */
MACHVM_API void machvm_object_info_free(machvm_object_info_t *info);

/* What the next write to a page does (machvm_page_info_t.mode). */
#define MACHVM_PAGE_PRIVATE  1  /* writes the page in place; no other
                                   mapping sees it */
#define MACHVM_PAGE_SHARED   2  /* writes it in place, and another mapping
                                   of the same object sees the write */
#define MACHVM_PAGE_COW      3  /* copies it first: the page comes from a
                                   shadow, or the entry is needs_copy and
                                   its object has another reference */

/* "private", "shared", "cow"; "unknown" for anything else.  A static string. */
MACHVM_API const char *machvm_page_mode_name(unsigned int mode);

/* One page of a task that holds bytes somewhere in its entry's chain. */
typedef struct machvm_page_info {
	vm_address_t address;
	uint64_t     object_id;         /* the object a read takes it from */
	unsigned int depth;             /* that object's level in the chain
	                                   (0: the entry's top object) */
	unsigned int mode;              /* MACHVM_PAGE_* */
} machvm_page_info_t;

/*
 * The task's pages that hold bytes (written, copied or wired somewhere in
 * their entry's shadow chain), in address order, at one instant: pages
 * never touched have no line however big their region.  *pages is
 * malloc'd (free() it); NULL when *count is 0.  O(entries plus the pages
 * of their chains, times the chain depth).
 *   KERN_INVALID_ARGUMENT    pages or count is NULL; task is not alive
 *   KERN_RESOURCE_SHORTAGE   out of memory (*pages, *count untouched)
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_task_pagemap(task_t task, machvm_page_info_t **pages,
                                             size_t *count);

#ifdef __cplusplus
}
#endif

#endif
