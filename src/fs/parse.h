/*
 * parse.h - every piece of text the daemon accepts goes through here.
 *
 * Each parser takes one NUL-terminated word (already trimmed), returns 0 and
 * stores the value, or returns -1 and writes what was wrong into *why without
 * touching the output.  Nothing here calls the engine or knows about files.
 *
 * Spellings accepted (fs_layout.md lists them for users):
 *   number     decimal, or hex with 0x / 0X; no sign, no spaces; must fit 64 bits
 *   size       a number, optionally followed by K, M or G (powers of 1024)
 *   protection rwx letters with '-' for an absent one, letters in that order,
 *              1 to 3 characters ("r-x", "rw", "---", "x"); "none"; one octal
 *              digit 0-7; VM_PROT_NONE|READ|WRITE|EXECUTE|DEFAULT|ALL joined by '|'
 *   inheritance  share copy none, VM_INHERIT_SHARE|COPY|NONE|DEFAULT, 0 1 2
 *   attribute  cache migrate replicate, MATTR_CACHE|MIGRATE|REPLICATE, 1 2 4
 *   value      on off get flush (= cache_flush) dcache_flush icache_flush,
 *              MATTR_VAL_*, or the numbers 0 1 2 6 7 8
 * Keywords are matched without regard to case.
 */
#ifndef MACHVMFS_PARSE_H
#define MACHVMFS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <machvm/vm_types.h>

/* Why a parse failed: a short phrase, e.g. "size 'zz' is not a number". */
struct fs_why {
	char text[192];
};

void fs_why_set(struct fs_why *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int fs_parse_number(const char *what, const char *s, uint64_t *out, struct fs_why *why);
int fs_parse_size(const char *what, const char *s, uint64_t *out, struct fs_why *why);
int fs_parse_prot(const char *s, vm_prot_t *out, struct fs_why *why);
int fs_parse_inherit(const char *s, vm_inherit_t *out, struct fs_why *why);
int fs_parse_attr(const char *s, vm_machine_attribute_t *out, struct fs_why *why);
int fs_parse_attr_value(const char *s, vm_machine_attribute_val_t *out, struct fs_why *why);
/* A task id as written in a command: a number from 1 to 2^32-1. */
int fs_parse_task(const char *what, const char *s, task_t *out, struct fs_why *why);

/*
 * Directory names.  A task directory is its id in canonical decimal (no sign,
 * no leading zero).  A region directory is its start in hex: "0x" or "0X" is
 * optional, leading zeros are allowed; *canonical says whether s is exactly
 * the listed spelling "0x%016llx".  Both return 0 or -1 (no reason needed:
 * a name that does not parse is simply not there).
 */
int fs_parse_task_name(const char *s, task_t *out);
int fs_parse_region_name(const char *s, vm_address_t *out, bool *canonical);

/* ---- lines and words ------------------------------------------------ */

/* Strips leading and trailing white space in place; returns the new start. */
char *fs_trim(char *s);

/*
 * Splits s in place at runs of white space.  Stores at most max word pointers
 * and returns the number of words found (which may exceed max).
 */
size_t fs_split_words(char *s, char **words, size_t max);

/* ---- vm_remap's key=value arguments --------------------------------- */

struct fs_remap_args {
	task_t       src_task;
	vm_address_t src_addr;
	vm_size_t    size;
	vm_address_t address;    /* at= target, or the anywhere hint */
	vm_address_t mask;
	bool         anywhere;
	bool         copy;
	vm_inherit_t inherit;
};

/*
 * Parses the words of
 *   src=<task>:<addr> size=<n> [at=<addr> | anywhere[=<hint>]] [mask=<m>]
 *   [copy | share] [inherit=<inheritance>]
 * in any order, each at most once.  Defaults: anywhere from 0, share,
 * inherit=copy, mask=0.
 */
int fs_parse_remap(char *const *words, size_t n, struct fs_remap_args *out,
                   struct fs_why *why);

#endif
