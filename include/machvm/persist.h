/*
 * persist.h - the whole host as plain data, for keeping it across runs.
 *
 * machvm_host_export() hands every memory object, resident page, task and
 * map entry to callbacks; the machvm_import_*() calls rebuild a host from
 * the same data.  What becomes of the data (a state file, a test's arrays)
 * is the caller's business: the engine reads and writes no files.
 *
 * Import data is input from outside and is checked in full: a failed
 * import leaves the host stopped, with nothing of the data kept, and
 * machvm_import_error() says what was wrong.  docs/semantics.md, section 5.
 */
#ifndef MACHVM_PERSIST_H
#define MACHVM_PERSIST_H

#include <stdint.h>
#include <machvm/api.h>
#include <machvm/machvm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The host: its page size, the next ids it hands out, its event counters. */
typedef struct machvm_host_desc {
	uint64_t page_size;
	uint64_t next_task_id;       /* the id the next new task gets (>= 1) */
	uint64_t next_object_id;     /* the id the next new object gets (>= 1) */
	uint64_t faults;             /* the counters of machvm_host_stats_t */
	uint64_t zero_fill_faults;
	uint64_t cow_faults;
	uint64_t shadows_created;
	uint64_t collapses;
	uint64_t bypasses;
	uint64_t pages_copied;
	uint64_t personality;        /* machvm_personality_t; 0 (mach) if unset */
} machvm_host_desc_t;

/* A memory object.  Its pages are passed separately, by page index. */
typedef struct machvm_object_desc {
	uint64_t id;                 /* >= 1, below next_object_id */
	uint64_t size;               /* bytes, a multiple of the page size */
	uint64_t shadow;             /* the backing object's id; 0: none */
	uint64_t shadow_offset;      /* offset 0 here is this offset in shadow */
	boolean_t true_share;        /* shared by a sharing vm_remap */
} machvm_object_desc_t;

typedef struct machvm_task_desc {
	uint64_t id;                 /* >= 1, below next_task_id */
	uint64_t parent;             /* TASK_NULL if none; may name a dead task */
	uint64_t faults;
	uint64_t zero_fill_faults;
	uint64_t cow_faults;
} machvm_task_desc_t;

/* One map entry: one region as vm_region_extended reports it, but with the
 * object's own id and offset rather than derived figures. */
typedef struct machvm_entry_desc {
	uint64_t start, end;         /* [start, end), page aligned */
	uint64_t object;             /* the object's id; 0: none yet (reads zeros) */
	uint64_t offset;             /* of start within object */
	uint64_t protection;         /* VM_PROT_* bits */
	uint64_t max_protection;
	uint64_t inheritance;        /* VM_INHERIT_* */
	uint64_t wired_count;
	boolean_t is_shared;         /* the object is written through by another mapping */
	boolean_t needs_copy;        /* the object is shared copy-on-write */
	boolean_t cache, migrate, replicate;   /* machine attributes: TRUE is on */
	uint64_t cache_flushes, dcache_flushes, icache_flushes;
} machvm_entry_desc_t;

/*
 * The export's callbacks, all required.  Each gets the caller's arg first and
 * returns 0 to go on, anything else to stop the export.  They run with the
 * engine's locks held: they must not call the engine.  `bytes` is one page
 * (P bytes), valid only during the call.
 */
struct machvm_export_ops {
	int (*host)(void *arg, const machvm_host_desc_t *host);
	int (*object)(void *arg, const machvm_object_desc_t *object);
	int (*page)(void *arg, uint64_t object, uint64_t index, const void *bytes);
	int (*task)(void *arg, const machvm_task_desc_t *task);
	int (*entry)(void *arg, task_t task, const machvm_entry_desc_t *entry);
};

/*
 * Walks the whole host in one consistent picture, with the task table and
 * every live task locked (so no object can change either), calling:
 *   host() once; then object() for every object some map can reach, an
 *   object's shadow always before it, each followed by page() for its
 *   resident pages in ascending index order; then task() for every live
 *   task in ascending id order, each followed by entry() for its map
 *   entries in address order.
 * This is exactly the order the import takes.  Nothing is changed.
 *   KERN_INVALID_ARGUMENT    ops or one of its callbacks is NULL
 *   KERN_FAILURE             a callback returned non-zero (the walk stops)
 *   KERN_RESOURCE_SHORTAGE   memory ran out
 *   KERN_SUCCESS
 * The host is not checked to be running: a host that is not running is
 * reported as one with no objects and no tasks.
 */
MACHVM_API kern_return_t machvm_host_export(const struct machvm_export_ops *ops, void *arg);

/*
 * The import, in the export's order:
 *
 *   machvm_import_begin     the host must not be running; starts it (empty)
 *                           with the description's page size
 *   machvm_import_object    each object after its shadow (backing object):
 *                           id 1 .. next_object_id - 1, each once; size a
 *                           non-zero multiple of P up to 2^47; shadow_offset
 *                           page aligned, the window inside the shadow
 *   machvm_import_page      P bytes of a page of an object already given;
 *                           index below the object's pages, each once
 *   machvm_import_task      tasks in ascending id order, id 1 ..
 *                           next_task_id - 1, parent 0 or a lower id
 *   machvm_import_entry     a task's entries after it, in address order,
 *                           not overlapping, page aligned in [P, 2^47);
 *                           protections rwx with cur within max; a valid
 *                           inheritance; wired_count <= 65535; flush counts
 *                           below 2^32; naming an object already given, the
 *                           entry's window inside it (or 0: then neither
 *                           shared nor wired)
 *   machvm_import_end       checks the whole (every object used by an entry
 *                           or an object; every map as the engine keeps
 *                           maps), builds the host, and runs the invariant
 *                           checker; the host is then ready
 *
 * Every call checks what it is given.  The first problem ends the import:
 * the call returns KERN_INVALID_ARGUMENT (KERN_RESOURCE_SHORTAGE if memory
 * ran out), the host is stopped, and later import calls return KERN_FAILURE
 * until the next machvm_import_begin.
 *
 * machvm_import_begin:
 *   KERN_FAILURE             an import is already in progress
 *   KERN_INVALID_ARGUMENT    host is NULL, its page size is not a power of
 *                            two from 4096 to 65536, next_task_id is 0 or
 *                            above 2^22, or next_object_id is 0 or above
 *                            2^53 (nothing is started)
 *   KERN_FAILURE             the host is running; nothing changed
 *   KERN_SUCCESS
 * machvm_import_end can also return KERN_FAILURE (host stopped) when another
 * engine call ran during the import: none may.
 *
 * The rebuilt host reads exactly as the exported one did: the same tasks,
 * ids, regions, object ids, bytes, sharing and copy-on-write relations and
 * counters.  Two things are mended rather than refused, as the engine
 * itself would have done: equal neighbouring entries are merged into one,
 * and an object left behind only by the object that shadows it (an export
 * that raced with a task's termination) is merged into that shadow.
 */
MACHVM_API kern_return_t machvm_import_begin(const machvm_host_desc_t *host);
MACHVM_API kern_return_t machvm_import_object(const machvm_object_desc_t *object);
MACHVM_API kern_return_t machvm_import_page(uint64_t object, uint64_t index, const void *bytes);
MACHVM_API kern_return_t machvm_import_task(const machvm_task_desc_t *task);
MACHVM_API kern_return_t machvm_import_entry(task_t task, const machvm_entry_desc_t *entry);
MACHVM_API kern_return_t machvm_import_end(void);

/* Gives up an import in progress (the host is stopped, the data dropped);
 * nothing if none. */
MACHVM_API void machvm_import_abort(void);

/* Why the last import failed, e.g. "object 7: its shadow 9 was not given
 * before it"; "" if it did not fail (machvm_import_begin clears it).  A
 * static buffer, valid until the next import call. */
MACHVM_API const char *machvm_import_error(void);

#ifdef __cplusplus
}
#endif

#endif
