/*
 * vm_map_store.h - where a map keeps its entries: a weak AVL tree keyed by
 * start address, threaded by a sorted doubly-linked list, and augmented
 * with free space so that first-fit placement is O(log n).
 *
 * Each entry has a gap, the free space after it (up to the next entry's
 * start, or the map's max for the last entry), read off the list rather
 * than stored (vm_map_entry_gap), and records `max_gap`, the largest gap
 * in its subtree (OpenBSD UVM keeps the same per-subtree figure).  The free
 * space in front of the first entry, [min, first->start), is not any entry's
 * gap; the store tracks it as `lead_gap`.
 *
 * Nothing here allocates or frees entries, or looks at anything but the
 * linkage and [start, end).  The caller holds the owning map's lock.
 */
#ifndef MACHVM_VM_MAP_STORE_H
#define MACHVM_VM_MAP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <machvm/vm_types.h>

struct vm_object;

/* Entry flag bits (vm_map_entry.flags). */
#define VME_IS_SHARED   0x01
#define VME_NEEDS_COPY  0x02
#define VME_CACHE       0x04   /* MATTR_CACHE on */
#define VME_MIGRATE     0x08   /* MATTR_MIGRATE on */
#define VME_REPLICATE   0x10   /* MATTR_REPLICATE on */

struct vm_map_entry {
	/* Linkage: owned by vm_map_store. */
	struct vm_map_entry *left, *right, *parent;
	struct vm_map_entry *prev, *next;      /* address order */
	vm_size_t max_gap;                     /* the largest gap in this subtree
	                                          (vm_map_entry_gap) */

	/* The range: set by the map layer, read by the store. */
	vm_address_t start, end;

	/* Payload: owned by the map layer; the store never reads it. */
	struct vm_object *object;              /* NULL until first touch */
	vm_offset_t offset;                    /* of start within object */
	uint32_t cache_flushes, dcache_flushes, icache_flushes;
	uint16_t wired_count;
	uint8_t protection, max_protection, inheritance;
	uint8_t flags;                         /* VME_* */

	uint8_t rank;                          /* store: weak AVL rank, leaf = 0 */
};

/* With malloc's 8 bytes, 112: the engine's figure per entry (the
 * benchmark's bytes per entry) stays under 128. */
_Static_assert(sizeof(struct vm_map_entry) <= 104, "struct vm_map_entry grew past 104 bytes");

struct vm_map_store {
	struct vm_map_entry *root;
	struct vm_map_entry *first, *last;     /* lowest and highest entry */
	size_t nentries;
	vm_address_t min, max;                 /* the map's bounds [min, max) */
	vm_size_t lead_gap;                    /* first ? first->start - min : max - min */
	struct vm_map_entry *hint;             /* last entry looked up, or NULL */
};

/* The free bytes after e, up to the next entry or the map's max: its gap. */
static inline vm_size_t vm_map_entry_gap(const struct vm_map_store *s,
                                         const struct vm_map_entry *e)
{
	return (e->next ? e->next->start : s->max) - e->end;
}

void vm_map_store_init(struct vm_map_store *s, vm_address_t min, vm_address_t max);

/*
 * Links e into the store.  e->start/e->end must be set, min <= start < end <=
 * max, and [start, end) must not overlap any entry.  Sets e's linkage and
 * gap, and the predecessor's gap.  O(log n).
 */
void vm_map_store_insert(struct vm_map_store *s, struct vm_map_entry *e);

/*
 * The same as vm_map_store_insert when e is known to go right after (or
 * right before) entry `at`: no search from the root.  A split does not
 * update `at` first when it has moved at's start (at's end) to where e
 * ends (starts): with e in place every gap is what it was, and a moment
 * without e would count a hole that is not there.
 */
void vm_map_store_insert_after(struct vm_map_store *s, struct vm_map_entry *at,
                               struct vm_map_entry *e);
void vm_map_store_insert_before(struct vm_map_store *s, struct vm_map_entry *at,
                                struct vm_map_entry *e);

/* Unlinks e; the predecessor's gap (or lead_gap) grows.  O(log n). */
void vm_map_store_remove(struct vm_map_store *s, struct vm_map_entry *e);
/*
 * Unlinks e's successor and extends e over its range in one step, so that
 * no figure ever counts the hole the successor leaves for a moment (which
 * would refigure the tree up to the root and back).  O(log n), and O(1)
 * amortized when the gaps stay as they were.
 */
void vm_map_store_absorb_next(struct vm_map_store *s, struct vm_map_entry *e);

/*
 * After the caller changed e->start and/or e->end in place (without moving it
 * past a neighbour, so the order is unchanged), recomputes e's gap and its
 * predecessor's (or lead_gap) and every max_gap above them.  O(log n).
 */
void vm_map_store_update(struct vm_map_store *s, struct vm_map_entry *e);

/* The entry with start <= addr < end, or NULL.  O(log n); O(1) at or just
 * after the previous lookup (the store remembers it as a hint). */
struct vm_map_entry *vm_map_store_lookup(struct vm_map_store *s, vm_address_t addr);

/* The entry holding addr, else the first entry above addr, else NULL. */
struct vm_map_entry *vm_map_store_lookup_ge(struct vm_map_store *s, vm_address_t addr);

/*
 * First fit: the lowest a >= lo with (a & mask) == 0 such that [a, a + size)
 * lies in [min, max) and overlaps no entry.  size > 0.  Returns false if
 * there is none.  O(log n) when mask is 0; a mask can make it visit more gaps
 * that are big enough but hold no aligned start.
 */
bool vm_map_store_find_space(const struct vm_map_store *s, vm_address_t lo,
                             vm_size_t size, vm_address_t mask, vm_address_t *out);

/*
 * Replaces the (empty) store's contents with n entries given as a list linked
 * by ->next in ascending, non-overlapping order, building a balanced tree in
 * O(n) (this is how fork makes a child map).
 */
void vm_map_store_build(struct vm_map_store *s, struct vm_map_entry *head, size_t n);

/*
 * Checks everything the store promises: BST order, the rank rule,
 * parent links, list order = in-order walk, first/last/nentries, entries
 * disjoint and inside [min, max), every gap, max_gap and lead_gap.  Returns
 * NULL if all holds, else a static description of the first problem.
 */
const char *vm_map_store_check(const struct vm_map_store *s);

#endif
