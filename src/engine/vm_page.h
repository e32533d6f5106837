/*
 * vm_page.h - the resident pages of one memory object: a hash table from
 * page index (offset / P) to the page's bytes.
 *
 * Open addressing with linear probing and backward-shift deletion, so there
 * are no tombstones and a lookup stops at the first empty slot.  The caller
 * holds the object lock.
 */
#ifndef MACHVM_VM_PAGE_H
#define MACHVM_VM_PAGE_H

#include <stddef.h>
#include <stdint.h>

struct vm_page_table {
	uint64_t *keys;
	void **vals;            /* NULL marks an empty slot */
	size_t cap;             /* 0 or a power of two */
	size_t count;
};

#define VM_PAGE_TABLE_INIT { NULL, NULL, 0, 0 }

void *vm_page_table_get(const struct vm_page_table *t, uint64_t key);
/* Adds key -> val (val != NULL, key not present).  -1 if memory ran out. */
int vm_page_table_put(struct vm_page_table *t, uint64_t key, void *val);
/* Removes key and returns its value, or NULL if absent. */
void *vm_page_table_remove(struct vm_page_table *t, uint64_t key);
/* Makes room for n more entries without rehashing; -1 if memory ran out. */
int vm_page_table_reserve(struct vm_page_table *t, size_t n);
/* Frees the table itself (not the values). */
void vm_page_table_destroy(struct vm_page_table *t);

/* Iteration: for (i = 0; i < t->cap; i++) if (t->vals[i]) use keys[i], vals[i]. */

#endif
