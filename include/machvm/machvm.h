/*
 * machvm.h - libmachvm: the Mach VM calls plus what a user-space engine
 * needs around them (starting the host, counters, the extended region report,
 * whole-map snapshots, the invariant checker).
 */
#ifndef MACHVM_MACHVM_H
#define MACHVM_MACHVM_H

#include <stddef.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>
#include <machvm/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The lowest and the highest-plus-one user address, given the page size P. */
#define MACHVM_USER_MAX  ((vm_address_t)1 << 47)

/*
 * Starts the host with page size page_size (0 means 4096; else a power of two
 * from 4096 to 65536).  KERN_INVALID_ARGUMENT for another size,
 * KERN_FAILURE if the host is already running.  Call once before anything else.
 */
kern_return_t machvm_host_start(vm_size_t page_size);

/* Terminates every task and frees everything; the host may be started again. */
void machvm_host_stop(void);

/* Counters.  Host counters of events (faults ...) include terminated tasks. */
typedef struct machvm_host_stats {
	uint64_t page_size;
	uint64_t tasks;              /* live tasks */
	uint64_t entries;            /* map entries over all tasks */
	uint64_t objects;            /* live memory objects */
	uint64_t resident_pages;     /* pages of real bytes held by objects */
	uint64_t wired_pages;        /* pages of wired entries, over all tasks */
	uint64_t virtual_size;       /* bytes mapped, over all tasks */
	uint64_t faults;             /* page faults taken */
	uint64_t zero_fill_faults;   /* ... that produced a zero page */
	uint64_t cow_faults;         /* ... that copied a page for a writer */
	uint64_t shadows_created;    /* shadow objects made for copy-on-write */
	uint64_t collapses;          /* backing objects merged into their shadow */
	uint64_t bypasses;           /* backing objects skipped by their shadow */
	uint64_t pages_copied;       /* pages copied (COW faults and eager copies) */
} machvm_host_stats_t;

kern_return_t machvm_host_stats(machvm_host_stats_t *stats);

typedef struct machvm_task_stats {
	task_t   id;
	task_t   parent;             /* TASK_NULL if none */
	boolean_t parent_alive;
	uint64_t regions;            /* map entries */
	uint64_t virtual_size;       /* bytes mapped */
	uint64_t resident_pages;     /* distinct mapped pages that have bytes */
	uint64_t wired_pages;        /* pages in wired entries */
	uint64_t objects;            /* distinct objects mapped directly */
	uint64_t max_shadow_depth;   /* longest shadow chain behind an entry */
	uint64_t faults;
	uint64_t zero_fill_faults;
	uint64_t cow_faults;
} machvm_task_stats_t;

/* Unknown task: KERN_INVALID_ARGUMENT. */
kern_return_t machvm_task_stats(task_t task, machvm_task_stats_t *stats);

/* The number of regions (map entries) of a task, in O(1); unknown task:
 * KERN_INVALID_ARGUMENT.  machvm_task_stats has it too, but walks the map. */
kern_return_t machvm_task_region_count(task_t task, size_t *count);

/*
 * The ids of the live tasks, ascending.  Fills at most cap ids into ids and
 * sets *count to the number of live tasks (which may exceed cap).
 */
kern_return_t machvm_task_list(task_t *ids, size_t cap, size_t *count);

/* TRUE if task names a live task. */
boolean_t machvm_task_alive(task_t task);

/* One region (one map entry), everything the engine can say about it. */
typedef struct vm_region_extended_info {
	vm_address_t start;
	vm_size_t    size;
	vm_prot_t    protection;
	vm_prot_t    max_protection;
	vm_inherit_t inheritance;
	boolean_t    shared;            /* is_shared, as vm_region */
	boolean_t    needs_copy;
	uint64_t     object_id;         /* 0: no object yet */
	vm_offset_t  offset;            /* offset in that object */
	unsigned int share_mode;        /* SM_* */
	unsigned int shadow_depth;      /* deepest shadow level pages are read from */
	unsigned int ref_count;         /* as XNU's extended info reports it */
	uint64_t     resident_pages;    /* pages of the region that have bytes */
	unsigned int wired_count;
	vm_machine_attribute_val_t cache;      /* MATTR_VAL_ON / OFF */
	vm_machine_attribute_val_t migrate;
	vm_machine_attribute_val_t replicate;
	uint64_t     cache_flushes;
	uint64_t     dcache_flushes;
	uint64_t     icache_flushes;
} vm_region_extended_info_t;

/* As vm_region (look-forward, KERN_NO_SPACE past the end), the full report. */
kern_return_t vm_region_extended(task_t task, vm_address_t *address,
                                 vm_region_extended_info_t *info);

/*
 * A consistent snapshot of the whole map: every region, in address order,
 * taken atomically.  *regions is malloc'd (free() it); NULL when *count is 0.
 * KERN_RESOURCE_SHORTAGE if memory runs out.  O(entries) plus the pages the
 * resident counts look at.
 */
kern_return_t machvm_region_snapshot(task_t task,
                                     vm_region_extended_info_t **regions,
                                     size_t *count);

/* "cow", "private", "empty", "shared", "trueshared", "private_aliased",
 * "shared_aliased"; "unknown" for anything else. */
const char *machvm_share_mode_name(unsigned int share_mode);

/*
 * The invariant checker: every map sorted and disjoint, inside the user
 * range, page aligned, cur within max, wired entries resident, gap
 * bookkeeping right; every object's reference count equal to the references
 * found.  Returns KERN_SUCCESS, or panics (below) with the offending map
 * written into the message.  Debug builds (MACHVM_DEBUG) run it after every
 * call that changes anything; MACHVM_CHECK=0 in the environment turns that
 * off for a process, for speed.
 */
kern_return_t machvm_check(void);

/*
 * The engine never prints.  A broken invariant calls the panic hook with a
 * description (map dump included) and then abort()s.  The default hook does
 * nothing; programs install one that writes the message where they log.
 */
typedef void (*machvm_panic_hook_t)(const char *message);
void machvm_set_panic_hook(machvm_panic_hook_t hook);

#ifdef __cplusplus
}
#endif

#endif
