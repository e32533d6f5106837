/*
 * machvm.h - libmachvm: the Mach VM calls plus what a user-space engine
 * needs around them (starting the host, counters, the extended region report,
 * whole-map snapshots, the invariant checker).  docs/semantics.md, section 4,
 * describes each; vm.h states the conventions ("not alive", ranges).
 */
#ifndef MACHVM_MACHVM_H
#define MACHVM_MACHVM_H

#include <stddef.h>
#include <machvm/api.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>
#include <machvm/vm.h>
#include <machvm/objects.h>
#include <machvm/why.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The user range is [P, MACHVM_USER_MAX), P the page size: the lowest user
 * address is P (page 0 is never mapped), the highest plus one is 2^47. */
#define MACHVM_USER_MAX  ((vm_address_t)1 << 47)

/* Every task id a host hands out is below MACHVM_TASK_ID_LIMIT.  Ids are
 * reused: task_create takes the lowest id that no live task has (and no
 * pin holds, machvm_task_pin), so only MACHVM_TASK_ID_LIMIT - 1 tasks
 * alive at once could exhaust them (task_create: KERN_RESOURCE_SHORTAGE). */
#define MACHVM_TASK_ID_LIMIT  ((task_t)1 << 22)

/*
 * Hosts as values.  Every call works on the calling thread's current host.
 * A thread starts on the process's default host; machvm_host_create makes
 * another, wholly independent one (its own tasks and ids, objects,
 * counters, personality, limits, report hook and page size), and
 * machvm_host_use makes it the calling thread's.  Several hosts may run at
 * once, each used by one thread or by several; the calls below on "the
 * host" mean the calling thread's.
 */
typedef struct machvm_host *machvm_host_t;

/*
 * A new host, not running (start it with machvm_host_start while it is
 * the calling thread's), into *host.
 *   KERN_INVALID_ARGUMENT   host is NULL
 *   KERN_RESOURCE_SHORTAGE  out of memory
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_host_create(machvm_host_t *host);

/*
 * Stops host (as machvm_host_stop) and frees it.  No other thread may use
 * it meanwhile or afterwards; if it was the calling thread's, the thread
 * is back on the default host.
 *   KERN_INVALID_ARGUMENT   host is NULL or the default host
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_host_destroy(machvm_host_t host);

/* Makes host the calling thread's current host (NULL: the default host)
 * and returns the one that was (NULL for the default host). */
MACHVM_API machvm_host_t machvm_host_use(machvm_host_t host);

/*
 * Starts the host with page size page_size (0 means 4096; else a power of two
 * from 4096 to 65536).  Call it before any other engine call; the VM calls do
 * not check that the host runs.  Task and object ids start at 1.
 *   KERN_INVALID_ARGUMENT   another size (checked first, also while running)
 *   KERN_FAILURE            the host is already running; nothing changed
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_host_start(vm_size_t page_size);

/* Terminates every task, frees every object and zeroes every counter; the
 * host may then be started again, with any page size.  Nothing if the host
 * is not running.  No other call may run meanwhile. */
MACHVM_API void machvm_host_stop(void);

/*
 * The host's personality: which kernel's rules the calls follow where the
 * Mach kernels people run disagree (docs/semantics.md, section 8, has the
 * whole table).  MACH (the default) is the rules this header and vm.h
 * state; GNU follows GNU Mach; XNU follows modern XNU.  One host has one
 * personality; it is chosen before the host has any task and stays until
 * machvm_host_stop(), which restores MACH.
 */
typedef enum machvm_personality {
	MACHVM_PERSONALITY_MACH = 0,
	MACHVM_PERSONALITY_GNU  = 1,
	MACHVM_PERSONALITY_XNU  = 2
} machvm_personality_t;

/*
 * Sets the host's personality.  Works whether or not the host runs, as
 * long as no task is alive (also before machvm_host_start()).
 *   KERN_INVALID_ARGUMENT   personality is none of the three
 *   KERN_FAILURE            a task is alive; nothing changed
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_host_set_personality(machvm_personality_t personality);

/* The host's personality (MACH unless set). */
MACHVM_API machvm_personality_t machvm_host_personality(void);

/* "mach", "gnu", "xnu"; NULL for any other value.  A static string. */
MACHVM_API const char *machvm_personality_name(machvm_personality_t personality);

/*
 * The personality named name ("mach", "gnu" or "xnu", exactly) into *out.
 *   KERN_INVALID_ARGUMENT   name or out is NULL, or an unknown name
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_personality_parse(const char *name, machvm_personality_t *out);

/* Counters.  Host counters of events (faults ...) include terminated tasks.
 * A read of a page not in the entry's top object counts as a fault (a
 * zero-fill fault if no object has it) though it allocates nothing. */
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
	uint64_t memory_used;        /* bytes charged to the memory account */
	uint64_t memory_limit;       /* machvm_host_set_memory_limit; 0: none */
} machvm_host_stats_t;

/*
 * Bounds the memory the host may hold: P bytes per resident page plus the
 * size of each memory object, map entry and task record the engine keeps
 * (what grows with use; the counts are memory_used in machvm_host_stats).
 * A call that would take the host past the limit fails with
 * KERN_RESOURCE_SHORTAGE and changes nothing (vm_write: ends short, as
 * for any shortage after its first page); calls that may need much at once
 * (vm_wire, vm_copy, a fork, vm_remap) reserve the most they could take
 * before they change anything.  0 means no limit, the default; a host
 * start resets it to 0.  Lowering the limit below the memory in use frees
 * nothing: the host only refuses to grow until it shrinks under it.  May be
 * called at any time, from any thread.
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_host_set_memory_limit(uint64_t bytes);

/*
 * Limits every task of the host alike, as Linux's RLIMIT_MEMLOCK and
 * RLIMIT_AS do a process: max_wired bounds the bytes of a task's map that
 * are wired (vm_wire), max_mapped the bytes it maps (vm_allocate,
 * vm_remap's target; a fork's child maps at most what its parent does).
 * 0 means no limit, the default; a host start resets both to 0.  A call
 * that would take a task past one fails with KERN_RESOURCE_SHORTAGE and
 * changes nothing.  Resident pages have no limit per task: one page may
 * be mapped by many tasks (shared, or copy-on-write after a fork), so
 * they are bounded by the host's memory limit above.  Lowering a limit
 * changes no mapping: a task over it only cannot grow.  May be called at
 * any time, from any thread.
 *   KERN_INVALID_ARGUMENT   limits is NULL
 *   KERN_SUCCESS
 */
typedef struct machvm_task_limits {
	uint64_t max_wired;          /* bytes; 0: none */
	uint64_t max_mapped;         /* bytes; 0: none */
} machvm_task_limits_t;
MACHVM_API kern_return_t machvm_host_set_task_limits(const machvm_task_limits_t *limits);
MACHVM_API kern_return_t machvm_host_get_task_limits(machvm_task_limits_t *limits);

/*
 * A pin keeps a task's id from being reused after the task terminates,
 * until it is unpinned, so that a holder of the id (an open file of a
 * filesystem) can never reach a newer task with the same id: once the
 * pinned task dies, the id names no live task however many tasks are
 * created.  Returns NULL when task is not alive (or memory ran out).
 * Every pin must be unpinned, exactly once; pins cost no lock held
 * between calls.
 */
typedef struct machvm_task_pin machvm_task_pin_t;

/*
 * Which task an id names now: a number unique among the tasks of a host
 * run (a reused id gets a new one), for telling a task from an earlier one
 * with the same id (a filesystem's inode generation).  O(1).
 *   KERN_INVALID_ARGUMENT   serial is NULL, or task is not alive
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_task_serial(task_t task, uint64_t *serial);
MACHVM_API machvm_task_pin_t *machvm_task_pin(task_t task);
MACHVM_API void machvm_task_unpin(machvm_task_pin_t *pin);

/* The host's counters.  Each task's share is consistent in itself; on a busy
 * host the sum is not one atomic picture.
 *   KERN_INVALID_ARGUMENT   stats is NULL
 *   KERN_SUCCESS */
MACHVM_API kern_return_t machvm_host_stats(machvm_host_stats_t *stats);

typedef struct machvm_task_stats {
	task_t   id;
	task_t   parent;             /* TASK_NULL if none */
	boolean_t parent_alive;
	uint64_t regions;            /* map entries */
	uint64_t virtual_size;       /* bytes mapped */
	uint64_t resident_pages;     /* pages of its entries that have bytes
	                                somewhere in their chains */
	uint64_t wired_pages;        /* pages in wired entries */
	uint64_t objects;            /* distinct objects mapped directly */
	uint64_t max_shadow_depth;   /* longest shadow chain behind an entry
	                                (objects behind the top one) */
	uint64_t faults;
	uint64_t zero_fill_faults;
	uint64_t cow_faults;
} machvm_task_stats_t;

/* One task's counters; walks its map.
 *   KERN_INVALID_ARGUMENT   stats is NULL, or task is not alive
 *   KERN_SUCCESS */
MACHVM_API kern_return_t machvm_task_stats(task_t task, machvm_task_stats_t *stats);

/* The number of regions (map entries) of a task, in O(1).
 * machvm_task_stats has it too, but walks the map.
 *   KERN_INVALID_ARGUMENT   count is NULL, or task is not alive
 *   KERN_SUCCESS */
MACHVM_API kern_return_t machvm_task_region_count(task_t task, size_t *count);

/*
 * The ids of the live tasks, ascending.  Fills at most cap ids into ids and
 * sets *count to the number of live tasks (which may exceed cap; ids NULL
 * with cap 0 asks for the count only).
 *   KERN_INVALID_ARGUMENT   count is NULL, or ids is NULL with cap > 0
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_task_list(task_t *ids, size_t cap, size_t *count);

/* TRUE if task names a live task (FALSE for TASK_NULL, unknown and
 * terminated ids). */
MACHVM_API boolean_t machvm_task_alive(task_t task);

/* One region (one map entry), everything the engine can say about it.
 * docs/semantics.md, section 2.10, says how the derived figures (share mode,
 * shadow depth, ref count, resident pages) are computed. */
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
	unsigned int shadow_depth;      /* deepest shadow level pages are read
	                                   from; the whole chain length if some
	                                   page has bytes nowhere */
	unsigned int ref_count;         /* as XNU's extended info reports it: the
	                                   top object's references plus, for each
	                                   of the first shadow_depth objects
	                                   behind it, its references minus one */
	uint64_t     resident_pages;    /* pages of the region that have bytes */
	unsigned int wired_count;
	vm_machine_attribute_val_t cache;      /* MATTR_VAL_ON / OFF */
	vm_machine_attribute_val_t migrate;
	vm_machine_attribute_val_t replicate;
	uint64_t     cache_flushes;
	uint64_t     dcache_flushes;
	uint64_t     icache_flushes;
	/* resident_pages split by what the next write to each does
	 * (MACHVM_PAGE_*, objects.h): the three add up to resident_pages. */
	uint64_t     private_pages;     /* in the top object, mapped once */
	uint64_t     shared_pages;      /* in the top object, mapped elsewhere too */
	uint64_t     cow_pages;         /* a write copies them first */
} vm_region_extended_info_t;

/*
 * As vm_region, the full report: looks forward from *address (the entry
 * holding it, else the first above) and sets *address to its start.
 *   KERN_INVALID_ARGUMENT   address or info is NULL; task is not alive
 *   KERN_NO_SPACE           no entry at or above *address
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_region_extended(task_t task, vm_address_t *address,
                                            vm_region_extended_info_t *info);

/*
 * A consistent snapshot of the whole map: every region, in address order,
 * taken atomically, as vm_region_extended reports it.  *regions is malloc'd
 * (free() it); NULL when *count is 0.  O(entries) plus the pages the
 * resident counts look at.
 *   KERN_INVALID_ARGUMENT    regions or count is NULL; task is not alive
 *   KERN_RESOURCE_SHORTAGE   out of memory (*regions, *count untouched)
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t machvm_region_snapshot(task_t task,
                                                vm_region_extended_info_t **regions,
                                                size_t *count);

/* "cow", "private", "empty", "shared", "trueshared", "private_aliased",
 * "shared_aliased"; "unknown" for anything else.  A static string. */
MACHVM_API const char *machvm_share_mode_name(unsigned int share_mode);

/*
 * The invariant checker: every map sorted and disjoint, inside the user
 * range, page aligned, cur within max, no two mergeable neighbours, wired
 * entries resident in their own object, shared entries never needs_copy,
 * shared and needs_copy entries with an object, gap bookkeeping right;
 * every object's reference count equal to the references found, its window
 * inside its shadow, no object left that only its shadow refers to; the
 * host's object and page counts right; and who sees which bytes: no two
 * references (entries, shadowing objects) whose windows of an object
 * overlap unless both are shared entries or neither writes the object
 * (needs_copy entries, shadowing objects), so a private entry's bytes are
 * its own and a shared entry's writes never show in a copy.
 *   KERN_SUCCESS             all holds
 *   KERN_RESOURCE_SHORTAGE   the checker ran out of memory
 * A broken invariant panics (below) with the offending map written into the
 * message.  Debug builds (MACHVM_DEBUG) run it after every call that changes
 * anything; MACHVM_CHECK=0 in the environment turns that off for a process,
 * for speed.  In release builds call it only while no other call runs.
 */
MACHVM_API kern_return_t machvm_check(void);

/*
 * Batches: a run of calls that can be undone as a whole.
 *
 * machvm_batch_begin saves the maps of tasks[0..ntasks) (every entry, each
 * holding a reference on its object) and the sharing flag of the objects
 * they map.  The caller then makes its calls; before each call that writes
 * or makes resident pages in place (vm_copy's destination, vm_wire) it
 * calls machvm_batch_note for the range, which saves the bytes (bytes TRUE)
 * or just the residency (FALSE) of the pages there that an object of the
 * saved maps holds.  Then exactly one of:
 *   machvm_batch_undo    puts the saved maps back, every page noted back as
 *                        it was (in reverse order), the objects' sharing
 *                        flags back; frees the batch.  Cannot fail.
 *   machvm_batch_commit  keeps what the calls did and frees the batch.
 * Only the saved tasks may change while the batch is open, and nothing but
 * the caller's calls may change them or fork them (the caller excludes
 * everyone else; the engine does not), and no two open batches may save
 * the same task; tasks the calls create are the caller's to terminate
 * before the undo.  While a batch is open its references show in the
 * objects' reference counts (ref_count, share modes), pages of its objects
 * are not freed by a partial deallocate, and their shadows are not
 * bypassed; after the commit all of that is as if there had been no batch.
 * Counters (faults, shadows made ...) and object ids count the work done,
 * undone or not.  An export must not run while a batch is open.
 *   machvm_batch_begin: KERN_SUCCESS; KERN_INVALID_ARGUMENT for a NULL
 *     pointer, ntasks 0 or over 64; KERN_INVALID_TASK if a task is not
 *     alive; KERN_FAILURE if a task is in another open batch;
 *     KERN_RESOURCE_SHORTAGE past the memory limit (each saved entry is
 *     charged as an entry) or out of memory.
 *   machvm_batch_note: KERN_SUCCESS (a range outside the user range or a
 *     hole is passed over); KERN_INVALID_ARGUMENT if task is not one of the
 *     batch's; KERN_RESOURCE_SHORTAGE when a saved page does not fit under
 *     the memory limit (each is charged a page).
 */
typedef struct machvm_batch machvm_batch_t;
MACHVM_API kern_return_t machvm_batch_begin(const task_t *tasks, size_t ntasks,
                                            machvm_batch_t **batch);
MACHVM_API kern_return_t machvm_batch_note(machvm_batch_t *batch, task_t task,
                                           vm_address_t address, vm_size_t size,
                                           boolean_t bytes);
MACHVM_API void machvm_batch_undo(machvm_batch_t *batch);
MACHVM_API void machvm_batch_commit(machvm_batch_t *batch);

/*
 * The engine never prints.  A broken invariant calls the panic hook with a
 * description (map dump included) and then abort()s.  The default hook does
 * nothing; programs install one that writes the message where they log.
 * NULL restores the default.  Set it before calls run.
 */
typedef void (*machvm_panic_hook_t)(const char *message);
MACHVM_API void machvm_set_panic_hook(machvm_panic_hook_t hook);

#ifdef __cplusplus
}
#endif

#endif
