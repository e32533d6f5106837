/*
 * vm_page.c - the page-index hash table of a memory object.
 */
#include "vm_page.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap)
{
	/* Fibonacci hashing: page indices are dense and sequential, so spread them. */
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

void *vm_page_table_get(const struct vm_page_table *t, uint64_t key)
{
	if (t->cap == 0)
		return NULL;
	for (size_t i = slot_of(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (t->vals[i] == NULL)
			return NULL;
		if (t->keys[i] == key)
			return t->vals[i];
	}
}

static int rehash(struct vm_page_table *t, size_t cap)
{
	uint64_t *keys = malloc(cap * sizeof *keys);
	void **vals = calloc(cap, sizeof *vals);
	if (keys == NULL || vals == NULL) {
		free(keys);
		free(vals);
		return -1;
	}
	for (size_t i = 0; i < t->cap; i++) {
		if (t->vals[i] == NULL)
			continue;
		size_t j = slot_of(t->keys[i], cap);
		while (vals[j] != NULL)
			j = (j + 1) & (cap - 1);
		keys[j] = t->keys[i];
		vals[j] = t->vals[i];
	}
	free(t->keys);
	free(t->vals);
	t->keys = keys;
	t->vals = vals;
	t->cap = cap;
	return 0;
}

int vm_page_table_reserve(struct vm_page_table *t, size_t n)
{
	size_t need = t->count + n, cap = t->cap ? t->cap : 8;
	/* Keep the load at or under 3/4. */
	while (need * 4 > cap * 3)
		cap *= 2;
	return cap == t->cap ? 0 : rehash(t, cap);
}

int vm_page_table_put(struct vm_page_table *t, uint64_t key, void *val)
{
	if (vm_page_table_reserve(t, 1) != 0)
		return -1;
	size_t i = slot_of(key, t->cap);
	while (t->vals[i] != NULL)
		i = (i + 1) & (t->cap - 1);
	t->keys[i] = key;
	t->vals[i] = val;
	t->count++;
	return 0;
}

void *vm_page_table_remove(struct vm_page_table *t, uint64_t key)
{
	if (t->cap == 0)
		return NULL;
	size_t mask = t->cap - 1, i = slot_of(key, t->cap);
	while (t->vals[i] != NULL && t->keys[i] != key)
		i = (i + 1) & mask;
	void *val = t->vals[i];
	if (val == NULL)
		return NULL;
	/* Backward-shift: pull later members of the probe run into the hole. */
	size_t hole = i;
	for (size_t j = (i + 1) & mask; t->vals[j] != NULL; j = (j + 1) & mask) {
		size_t home = slot_of(t->keys[j], t->cap);
		/* Move j into the hole unless its home lies cyclically in (hole, j]. */
		int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
		if (!stays) {
			t->keys[hole] = t->keys[j];
			t->vals[hole] = t->vals[j];
			hole = j;
		}
	}
	t->vals[hole] = NULL;
	t->count--;
	return val;
}

void vm_page_table_destroy(struct vm_page_table *t)
{
	free(t->keys);
	free(t->vals);
	t->keys = NULL;
	t->vals = NULL;
	t->cap = t->count = 0;
}
