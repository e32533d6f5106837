/*
 * objects.c - see objects.h.
 *
 * Addresses are written as everywhere in the tree: a task address (a map
 * entry's start and end, a page map address) as 0x and 16 hex digits, an
 * offset in an object as 0x and its hex digits (as regions/<start>/offset).
 */
#include "objects.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "fields.h"

int
fs_parse_object_name(const char *s, uint64_t *id)
{
	uint64_t v = 0;

	if (s[0] < '1' || s[0] > '9')
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*id = v;
	return 0;
}

static void
put_chain(struct fs_buf *out, const machvm_object_info_t *i)
{
	for (size_t k = 0; k < i->nchain; k++)
		fs_buf_printf(out, "%u %llu 0x%llx %llu\n", i->chain[k].depth,
		              (unsigned long long)i->chain[k].id,
		              (unsigned long long)i->chain[k].offset,
		              (unsigned long long)i->chain[k].resident_pages);
}

/* What each file of objects/<id>/ needs besides the figures. */
static unsigned
object_what(const char *file)
{
	if (strcmp(file, "chain") == 0)
		return MACHVM_OBJECT_CHAIN;
	if (strcmp(file, "shadowed_by") == 0)
		return MACHVM_OBJECT_SHADOWED_BY;
	if (strcmp(file, "mapped_by") == 0)
		return MACHVM_OBJECT_MAPPED_BY;
	if (strcmp(file, "pages") == 0)
		return MACHVM_OBJECT_PAGES;
	return 0;
}

int
fs_read_object(const struct fs_node *n, struct fs_buf *out)
{
	const char *file = fs_row_of(n)->name;
	machvm_object_info_t i;
	kern_return_t kr = machvm_object_info(n->object, object_what(file), &i);

	if (kr == KERN_RESOURCE_SHORTAGE)
		return -ENOMEM;
	if (kr != KERN_SUCCESS)
		return -ENOENT;
	if (strcmp(file, "size") == 0) {
		fs_buf_printf(out, "%llu\n", (unsigned long long)i.size);
	} else if (strcmp(file, "resident_pages") == 0) {
		fs_buf_printf(out, "%llu\n", (unsigned long long)i.resident_pages);
	} else if (strcmp(file, "ref_count") == 0) {
		fs_buf_printf(out, "%u\n", i.ref_count);
	} else if (strcmp(file, "shadow") == 0) {
		if (i.shadow)
			fs_buf_printf(out, "%llu\n", (unsigned long long)i.shadow);
		else
			fs_buf_printf(out, "none\n");
	} else if (strcmp(file, "shadow_offset") == 0) {
		fs_buf_printf(out, "0x%llx\n", (unsigned long long)i.shadow_offset);
	} else if (strcmp(file, "shadowed_by") == 0) {
		for (size_t k = 0; k < i.nshadowed_by; k++)
			fs_buf_printf(out, "%llu\n", (unsigned long long)i.shadowed_by[k]);
	} else if (strcmp(file, "mapped_by") == 0) {
		for (size_t k = 0; k < i.nmapped_by; k++)
			fs_buf_printf(out, "%u 0x%016llx 0x%016llx 0x%llx\n",
			              (unsigned)i.mapped_by[k].task,
			              (unsigned long long)i.mapped_by[k].start,
			              (unsigned long long)i.mapped_by[k].end,
			              (unsigned long long)i.mapped_by[k].offset);
	} else if (strcmp(file, "pages") == 0) {
		for (size_t k = 0; k < i.npages; k++)
			fs_buf_printf(out, "0x%llx%s\n", (unsigned long long)i.pages[k].offset,
			              i.pages[k].wired ? " wired" : "");
	} else if (strcmp(file, "chain") == 0) {
		put_chain(out, &i);
	} else {
		machvm_object_info_free(&i);
		return -EIO;            /* a row with no text: a bug in the tables */
	}
	machvm_object_info_free(&i);
	return fs_buf_status(out);
}

int
fs_read_region_chain(const struct fs_node *n, struct fs_buf *out)
{
	/* The region's top object can die between the two queries (a
	 * collapse into a new shadow): then the region is asked again. */
	for (;;) {
		vm_region_extended_info_t x;
		machvm_object_info_t i;
		kern_return_t kr;
		int rc = fs_region_get(n->task, n->start, true, &x);

		if (rc)
			return rc;
		if (x.object_id == 0)
			return 0;
		kr = machvm_object_info(x.object_id, MACHVM_OBJECT_CHAIN, &i);
		if (kr == KERN_RESOURCE_SHORTAGE)
			return -ENOMEM;
		if (kr != KERN_SUCCESS)
			continue;
		put_chain(out, &i);
		machvm_object_info_free(&i);
		return fs_buf_status(out);
	}
}

int
fs_read_pagemap(const struct fs_node *n, struct fs_buf *out)
{
	machvm_page_info_t *v;
	size_t count;
	kern_return_t kr = machvm_task_pagemap(n->task, &v, &count);

	if (kr == KERN_RESOURCE_SHORTAGE)
		return -ENOMEM;
	if (kr != KERN_SUCCESS)
		return -ENOENT;
	for (size_t k = 0; k < count; k++)
		fs_buf_printf(out, "0x%016llx %llu %u %s\n", (unsigned long long)v[k].address,
		              (unsigned long long)v[k].object_id, v[k].depth,
		              machvm_page_mode_name(v[k].mode));
	free(v);
	return fs_buf_status(out);
}
