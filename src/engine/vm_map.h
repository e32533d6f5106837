/*
 * vm_map.h - address maps: the entries of one task, and the map-level
 * operations the calls are built from.
 *
 * Locking: a map belongs to one task and is guarded by that task's lock
 * (task->lock, see host.c).  Every function here needs the owning task's
 * lock held and its domain's lock as well (the map layer moves object
 * references around).  Functions never take locks themselves.
 */
#ifndef MACHVM_VM_MAP_H
#define MACHVM_VM_MAP_H

#include "engine.h"
#include "vm_map_store.h"
#include "vm_object.h"
#include "vm_report.h"

#define VM_MAX_WIRE_COUNT 65535

/*
 * task and gen come last, task in the padding after nfree: struct task then
 * still fits the allocation it had before they were added, and the fields
 * before them keep their offsets.  The one-page calls are sensitive to
 * where the hot fields and the entries fall in the cache (they moved by up
 * to 40 % for a 16-byte shift of the entries), so the reports must not
 * move them.
 */
struct vm_map {
	struct vm_map_store store;
	vm_size_t size;                 /* bytes mapped */
	uint64_t wired_pages;           /* pages of entries with wired_count > 0 */
	struct vm_map_entry *free_entries;  /* recently freed entries, for reuse */
	unsigned int nfree;
	task_t task;                    /* the owner, for reports; TASK_NULL while built */
	uint64_t gen;                   /* moves with every boundary change (report.h) */
};

/* Entries a range operation may need for clipping, taken before anything
 * changes so that running out of memory cannot leave a half-done call. */
struct vm_map_spares {
	struct vm_map_entry *e[2];
};

/*
 * The sums over every map of the host (maps of dead tasks are emptied, so
 * they add nothing): entries, bytes mapped, wired pages.  Kept as the maps
 * change, so host statistics cost O(1) however many tasks there are.
 */
struct vm_map_totals {
	uint64_t entries, size, wired_pages;
};
void vm_map_totals(struct vm_map_totals *out);

/* e's pages leave (sign -1) or join (+1) m's wired pages if e is wired:
 * around a change of e->wired_count made outside this file. */
void vm_map_wire_change(struct vm_map *m, const struct vm_map_entry *e, int sign);

/* The import built m's entries itself: m's counters and the totals take them. */
void vm_map_account_built(struct vm_map *m);

/* An empty map with no owner yet (nothing of it is reported) and generation 0. */
void vm_map_init(struct vm_map *m);
/* Removes every entry (task termination), reporting nothing: the caller
 * reports the task's end with vm_map_report_task first. */
void vm_map_destroy(struct vm_map *m);
/* The same for task_terminate, which holds the object lock: every
 * VM_OBJECT_YIELD_EVERY entries it lets waiting calls have that lock. */
void vm_map_destroy_yielding(struct vm_map *m);

/*
 * The map is complete and belongs to task id from now on: its generation
 * starts at 1 (whatever building it did is not counted or reported) and the
 * report hears TASK_CREATED with its entries.
 */
void vm_map_created(struct vm_map *m, task_t id);
/* Reports TASK_CREATED or TASK_TERMINATED of m's task with its entries. */
void vm_map_report_task(struct vm_map *m, machvm_change_kind_t kind);

kern_return_t vm_map_spares_get(struct vm_map *m, struct vm_map_spares *s);
void vm_map_spares_put(struct vm_map *m, struct vm_map_spares *s);

/* Splits the entries holding start and end so that [start, end) is whole entries. */
void vm_map_clip_range(struct vm_map *m, vm_address_t start, vm_address_t end,
                       struct vm_map_spares *s);
/* Merges equal neighbours from the entry before start to the one after end,
 * by the host's merge rule (policy.h). */
void vm_map_coalesce_range(struct vm_map *m, vm_address_t start, vm_address_t end);
/* vm_map_coalesce_range if the host coalesces after call (a VM_COALESCE_*
 * bit of policy.h). */
void vm_map_coalesce_after(struct vm_map *m, unsigned int call, vm_address_t start,
                           vm_address_t end);

/*
 * Changes [start, end) (page aligned, wholly allocated) by calling fn on
 * each entry of it, clipping first and coalescing after if the host does
 * after call (a VM_COALESCE_* bit of policy.h).  fn only changes
 * the entry's attributes (protection, inheritance, attributes, wired count)
 * and allocates nothing.  When the range is one end of a single entry and
 * the changed piece would merge with the neighbour on that side, the
 * boundary between the two just moves, as Linux's vma_merge does: no entry
 * is made or freed.
 */
typedef void (*vm_map_apply_fn)(struct vm_map_entry *e, const void *arg);
kern_return_t vm_map_apply_range(struct vm_map *m, unsigned int call, vm_address_t start,
                                 vm_address_t end, vm_map_apply_fn fn, const void *arg);

/*
 * XNU's VM_PROT_COPY: [start, end) (page aligned, wholly allocated) becomes
 * a private copy of itself, as if remapped over itself with copy: shared
 * and wired objects are copied, every entry loses its sharing and its
 * wiring, its maximum gains write and its inheritance is the default.
 * KERN_RESOURCE_SHORTAGE if memory runs out (the entries before stay
 * copied).
 */
kern_return_t vm_map_copy_in_place(struct vm_map *m, vm_address_t start, vm_address_t end);

/* The first address in [start, end) not covered by an entry, or end. */
vm_address_t vm_map_first_hole(struct vm_map *m, vm_address_t start, vm_address_t end);

/* A new entry [start, end) with the defaults of vm_allocate; space must be free. */
kern_return_t vm_map_enter(struct vm_map *m, vm_address_t start, vm_address_t end);
/* Removes every entry piece inside [start, end). */
kern_return_t vm_map_delete(struct vm_map *m, vm_address_t start, vm_address_t end);

/*
 * Replaces every entry of m by the n entries of head (linked by ->next, in
 * ascending order, disjoint, each holding its own reference on its object,
 * charged to the memory account): a batch being undone (vm_batch.c).  The
 * report hears REMOVED for the entries that go and ADDED for those that
 * come; the objects the old entries held are dropped.
 */
void vm_map_replace(struct vm_map *m, struct vm_map_entry *head, size_t n);
/* A zeroed entry outside any map, charged to the memory account; NULL
 * past the limit or out of memory.  vm_map_entry_dispose frees one. */
struct vm_map_entry *vm_map_entry_new(void);
void vm_map_entry_dispose(struct vm_map_entry *e);

/* Gives an entry an object of its own to write to: creates one if it has
 * none, and resolves needs_copy with a shadow.  KERN_RESOURCE_SHORTAGE. */
kern_return_t vm_map_entry_private_object(struct vm_map_entry *e);
/* Gives an entry an object (none yet) and resolves needs_copy, so that it
 * can be shared with another mapping. */
kern_return_t vm_map_entry_shareable(struct vm_map_entry *e);

/*
 * Builds child (new, no owner yet) from parent by inheritance (task_create
 * with inherit_memory).  Reports the parent's entries whose sharing state
 * changed and its merges; the caller reports the child with vm_map_created.
 */
kern_return_t vm_map_fork(struct vm_map *parent, struct vm_map *child);

/*
 * vm_remap's map half: the source range [src, src + size) has been checked
 * (no hole; readable max if copying) and the target [dst, dst + size) is
 * free.  Maps each source piece at the same distance from dst.
 */
kern_return_t vm_map_remap_pieces(struct vm_map *target, vm_address_t dst,
                                  struct vm_map *source, vm_address_t src, vm_size_t size,
                                  boolean_t copy, vm_inherit_t inheritance,
                                  vm_prot_t *cur, vm_prot_t *max);

/*
 * The most memory (engine.h's account) a call may take, for reserving it
 * before the call changes anything.  These are bounds: a call may take
 * less (a needs_copy entry with the last reference needs no shadow).
 *   vm_map_resident_cost: making every page of [start, end) resident in
 *     its entry's own object (wiring, a write or copy into the range):
 *     every page and an object for an entry with no object or needs_copy,
 *     else the pages its object lacks; skip_wired passes wired entries.
 *   vm_map_fork_cost: vm_map_fork's child entries, objects for shared
 *     entries, and the eager copies (with no memory limit set, only the
 *     entries: O(1), nothing to keep within).
 *   vm_map_remap_cost: vm_map_remap_pieces' new entries, objects for
 *     shared pieces, and the eager copies.
 */
uint64_t vm_map_resident_cost(struct vm_map *m, vm_address_t start, vm_address_t end,
                              bool skip_wired);
uint64_t vm_map_fork_cost(struct vm_map *parent);
uint64_t vm_map_remap_cost(struct vm_map *source, vm_address_t src, vm_size_t size,
                           boolean_t copy);

/*
 * The extended report of entry e.  aliases maps object id -> number of
 * entries of this map whose chain holds that object; NULL to count them by
 * scanning the map.
 */
void vm_map_entry_report(struct vm_map *m, struct vm_map_entry *e,
                         const struct vm_page_table *aliases,
                         vm_region_extended_info_t *info);
/* Fills aliases for vm_map_entry_report over the whole map; -1 on no memory. */
int vm_map_alias_table(struct vm_map *m, struct vm_page_table *aliases);

/*
 * What the next write through e (which has an object) does to a page
 * found at chain level `level` (MACHVM_PAGE_*): a page below the top
 * object, or any page of a needs_copy entry whose object has another
 * reference, is copied first (cow); a page of the top object is otherwise
 * written in place, private when the top object has no other reference
 * (no other entry, no shadow), shared otherwise.
 */
unsigned int vm_map_page_mode(const struct vm_map_entry *e, unsigned int level);

/* Checks the map; returns NULL or a description of the first problem. */
const char *vm_map_check(struct vm_map *m);

#endif
