/*
 * render.h - the growable buffer every file's text is written into, the
 * names of values, and the texts of the host and task files (the region
 * files and maps are fields.c's).
 *
 * Each fs_read_* function renders one kind of file for one node, from one
 * engine query, into a fresh buffer: that text is the open file's snapshot.
 * They return 0, -ENOENT if the task or region is gone, or -ENOMEM.
 */
#ifndef MACHVMFS_RENDER_H
#define MACHVMFS_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <machvm/vm_types.h>

#include "tree.h"

struct fs_buf {
	char  *data;
	size_t len;
	size_t cap;
	bool   failed;      /* an allocation failed: the text is incomplete */
};

void fs_buf_init(struct fs_buf *b);
void fs_buf_free(struct fs_buf *b);
void fs_buf_put(struct fs_buf *b, const char *s, size_t n);
/* Room for n more bytes at the end of b (NULL, and b failed, when memory
 * runs out); fs_buf_commit then keeps the first n written there. */
char *fs_buf_room(struct fs_buf *b, size_t n);
void fs_buf_commit(struct fs_buf *b, size_t n);
void fs_buf_printf(struct fs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* 0, or -ENOMEM if anything written to b was lost. */
int fs_buf_status(const struct fs_buf *b);

/* Protection as three letters, "rw-"; out holds 4 bytes. */
void fs_prot_letters(vm_prot_t prot, char out[4]);
/* "share", "copy", "none"; "?" for another value. */
const char *fs_inherit_name(vm_inherit_t inh);
/* "on" for MATTR_VAL_ON, "off" otherwise. */
const char *fs_attr_value_name(int value);

int fs_read_page_size(const struct fs_node *n, struct fs_buf *out);
int fs_read_personality(const struct fs_node *n, struct fs_buf *out);
int fs_read_host_stats(const struct fs_node *n, struct fs_buf *out);
int fs_read_last_error(const struct fs_node *n, struct fs_buf *out);
int fs_read_parent(const struct fs_node *n, struct fs_buf *out);
int fs_read_status(const struct fs_node *n, struct fs_buf *out);

#endif
