/*
 * fields.h - the values of a region, in one table.
 *
 * Everything the tree shows about a region (its own files, the attr and
 * info files, a line of maps, an object of maps.json) is read from one
 * table of fields: a field has a name (the file name, the info key and the
 * JSON key), a type (which says how it is spelled in text, in JSON and in
 * maps) and whether vm_region answers it or vm_region_extended is needed.
 * A new region value is a getter and one row here; a new region file
 * showing it is one row of the file table (tree.c) whose name is the
 * field's.
 */
#ifndef MACHVMFS_FIELDS_H
#define MACHVMFS_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <machvm/machvm.h>

#include "render.h"
#include "tree.h"

/* How a value is spelled. */
enum fs_field_type {
	FT_ADDR,        /* text 0x%016llx, JSON the same as a string, maps 16 hex digits */
	FT_COUNT,       /* decimal everywhere */
	FT_PROT,        /* "rw-" */
	FT_INHERIT,     /* "share" "copy" "none" */
	FT_BOOL,        /* text yes/no, JSON true/false */
	FT_SHARE_MODE,  /* "cow", "private", ... */
	FT_OBJECT,      /* decimal id, or text "none" / JSON null */
	FT_HEX,         /* text 0x%llx, JSON a number, maps without 0x */
	FT_ONOFF,       /* "on" "off" */
};

/* Where a field is shown besides info and maps.json (which show them all). */
#define FF_FILE  0x1    /* a file of its own, named after the field */
#define FF_ATTR  0x2    /* a "name value" line of the attr file */

struct fs_field {
	const char        *name;
	enum fs_field_type type;
	bool               extended;    /* needs vm_region_extended */
	unsigned           shown;       /* FF_* */
	uint64_t         (*get)(const vm_region_extended_info_t *x);   /* the value */
};

extern const struct fs_field fs_fields[];
extern const size_t fs_nfields;

/*
 * The one place the daemon asks the engine about one region: the region
 * holding addr or else the first above it (vm_region's look-forward), with
 * vm_region (the fields it answers filled, the rest 0) or, when extended,
 * vm_region_extended.  0, or -ENOENT when there is none.
 */
int fs_region_next(task_t task, vm_address_t addr, bool extended,
                   vm_region_extended_info_t *x);
/* The region starting exactly at start, the same way; -ENOENT when no
 * region starts there. */
int fs_region_get(task_t task, vm_address_t start, bool extended,
                  vm_region_extended_info_t *x);

/*
 * The region files' reader: the field the row is named after ("value\n"),
 * the attr fields for attr and every field for info ("name value" lines).
 */
int fs_read_region(const struct fs_node *n, struct fs_buf *out);

/* The engine call a region file's read makes: "vm_region" or
 * "vm_region_extended"; NULL for a row that is not a region file. */
const char *fs_region_read_call(const char *file);

/* Whether a region file's text always has the same length, whatever the
 * region (one field written at a fixed width: start, end, protection,
 * max_protection). */
bool fs_region_fixed_length(const char *file);

/* tasks/<id>/maps and maps.json: one whole-map snapshot, each region
 * written from the fields.  These always render afresh; the open of a
 * kept row goes through kept.h, which keeps the text up to date. */
int fs_read_maps(const struct fs_node *n, struct fs_buf *out);
int fs_read_maps_json(const struct fs_node *n, struct fs_buf *out);

/* The whole map of task at one instant (machvm_region_snapshot):
 * 0, -ENOENT for a dead task, -ENOMEM. */
int fs_map_snapshot(task_t task, vm_region_extended_info_t **regions, size_t *count);

/*
 * A whole-map format: the text is head, then each region's text (put),
 * sep between two, then tail; empty for a map of no region.  put writes
 * at most fs_mapfmt_max() bytes.
 */
struct fs_mapfmt {
	const char *head, *sep, *tail, *empty;
	size_t      max;
	char     *(*put)(char *p, const vm_region_extended_info_t *x);
};
extern const struct fs_mapfmt fs_maps_fmt, fs_maps_json_fmt;
size_t fs_mapfmt_max(const struct fs_mapfmt *f);
/* The formats' tables are sound (false: a bug; look before using put). */
bool fs_mapfmt_ready(void);
/* Appends the text of r[0..count) in format f to out; offsets (NULL, or
 * count of them) gets where each region's text starts in out.  0 or
 * -errno. */
int fs_render_map(const vm_region_extended_info_t *r, size_t count,
                  const struct fs_mapfmt *f, struct fs_buf *out, uint32_t *offsets);

#endif
