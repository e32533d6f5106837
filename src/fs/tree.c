/*
 * tree.c - see tree.h.
 *
 * The table below is the whole tree.  Adding a file is one row (and its read
 * or write function); listing, lookup, inode numbers, modes, paths and the
 * layout dump all follow from the rows.
 */
#include "tree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "ctl.h"
#include "fields.h"
#include "graph.h"
#include "node.h"
#include "objects.h"
#include "parse.h"
#include "render.h"
#include "save.h"

#define M_DIR (S_IFDIR | 0755)
#define RO    (S_IFREG | 0444)
#define RW    (S_IFREG | 0644)

/* A row; read and write are function names (or NULL), kept as text too so
 * the dump shows exactly which handler serves which file.  calls names the
 * engine calls the file makes (NULL: derived, see the dump). */
#define ROW(name, parent, opens, mode, flags, rd, wr, calls) \
	{ name, parent, opens, mode, flags, rd, #rd, wr, #wr, NULL, calls }
/* A region file: its value is the field of its name (fields.c), its write
 * runs verb on the whole region (ctl.c). */
#define REGION_FILE(name, mode, wr, verb) \
	{ name, FS_L_REGION, FS_L_NONE, mode, 0, fs_read_region, "fs_read_region", \
	  wr, #wr, verb, NULL }

/* A file that takes one verb of the command table (its read shows usage,
 * then results). */
#define VERB_ROW(name, parent, rd, wr, verb) \
	{ name, parent, FS_L_NONE, RW, FS_RESULT, rd, #rd, wr, #wr, verb, NULL }

/* A file of objects/<object>/ (objects.c). */
#define OBJECT_FILE(name, calls) \
	{ name, FS_L_OBJECT, FS_L_NONE, RO, 0, fs_read_object, "fs_read_object", NULL, "NULL", \
	  NULL, calls }

/* A growing log of the engine's reports (events.c), read by the daemon
 * itself: no text is rendered at open. */
#define EVENTS_ROW(parent) \
	{ "events", parent, FS_L_NONE, RO, FS_EVENTS, NULL, "fs_events_read", NULL, "NULL", \
	  NULL, "reports" }

/* Region rows must stay together, last, and start with the directory:
 * their order is part of the region inode numbers (see node.h). */
const struct fs_row fs_rows[] = {
	ROW("",               FS_L_NONE,    FS_L_ROOT,    M_DIR, 0, NULL, NULL, NULL),
	ROW("host",           FS_L_ROOT,    FS_L_HOST,    M_DIR, 0, NULL, NULL, NULL),
	ROW("tasks",          FS_L_ROOT,    FS_L_TASKS,   M_DIR, 0, NULL, NULL, "machvm_task_list"),
	ROW("objects",        FS_L_ROOT,    FS_L_OBJECTS, M_DIR, 0, NULL, NULL, "machvm_object_list"),
	ROW("page_size",      FS_L_HOST,    FS_L_NONE,    RO, 0, fs_read_page_size, NULL,
	    "host_page_size"),
	ROW("stats",          FS_L_HOST,    FS_L_NONE,    RO, 0, fs_read_host_stats, NULL,
	    "machvm_host_stats"),
	ROW("personality",    FS_L_HOST,    FS_L_NONE,    RO, 0, fs_read_personality, NULL,
	    "machvm_host_personality"),
	VERB_ROW("save",      FS_L_HOST,    fs_read_save, fs_write_save, "save"),
	EVENTS_ROW(FS_L_HOST),
	ROW("graph.dot",      FS_L_HOST,    FS_L_NONE,    RO, 0, fs_read_graph, NULL,
	    "machvm_host_export"),
	ROW("ctl",            FS_L_TASKS,   FS_L_NONE,    RW, FS_RESULT,
	    fs_read_tasks_ctl, fs_write_tasks_ctl, NULL),
	ROW("last_error",     FS_L_TASKS,   FS_L_NONE,    RO, 0, fs_read_last_error, NULL, NULL),
	ROW("<object>",       FS_L_OBJECTS, FS_L_OBJECT,  M_DIR, FS_DYNAMIC, NULL, NULL,
	    "machvm_object_alive"),
	OBJECT_FILE("size",           "machvm_object_info"),
	OBJECT_FILE("resident_pages", "machvm_object_info"),
	OBJECT_FILE("ref_count",      "machvm_object_info"),
	OBJECT_FILE("shadow",         "machvm_object_info"),
	OBJECT_FILE("shadow_offset",  "machvm_object_info"),
	OBJECT_FILE("shadowed_by",    "machvm_object_info"),
	OBJECT_FILE("mapped_by",      "machvm_object_info"),
	OBJECT_FILE("pages",          "machvm_object_info"),
	OBJECT_FILE("chain",          "machvm_object_info"),
	ROW("<id>",           FS_L_TASKS,   FS_L_TASK,    M_DIR, FS_DYNAMIC, NULL, NULL,
	    "machvm_task_alive"),
	ROW("ctl",            FS_L_TASK,    FS_L_NONE,    RW, FS_RESULT,
	    fs_read_task_ctl, fs_write_task_ctl, NULL),
	ROW("parent",         FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_parent, NULL,
	    "machvm_task_stats"),
	ROW("status",         FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_status, NULL,
	    "machvm_task_stats"),
	ROW("last_error",     FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_last_error, NULL, NULL),
	ROW("maps",           FS_L_TASK,    FS_L_NONE,    RO, FS_KEPT, fs_read_maps, NULL,
	    "machvm_region_snapshot"),
	ROW("maps.json",      FS_L_TASK,    FS_L_NONE,    RO, FS_KEPT, fs_read_maps_json, NULL,
	    "machvm_region_snapshot"),
	ROW("pagemap",        FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_pagemap, NULL,
	    "machvm_task_pagemap"),
	ROW("graph.dot",      FS_L_TASK,    FS_L_NONE,    RO, 0, fs_read_graph, NULL,
	    "machvm_host_export"),
	ROW("mem",            FS_L_TASK,    FS_L_NONE,    RW, FS_DATA, NULL, NULL,
	    "vm_read vm_write"),
	VERB_ROW("remap",     FS_L_TASK,    fs_read_remap, fs_write_remap, "remap"),
	EVENTS_ROW(FS_L_TASK),
	ROW("regions",        FS_L_TASK,    FS_L_REGIONS, M_DIR, 0, NULL, NULL, "vm_region"),
	ROW("<start>",        FS_L_REGIONS, FS_L_REGION,  M_DIR, FS_DYNAMIC, NULL, NULL, "vm_region"),
	REGION_FILE("start",          RO, NULL, NULL),
	REGION_FILE("end",            RO, NULL, NULL),
	REGION_FILE("size",           RO, NULL, NULL),
	REGION_FILE("protection",     RW, fs_write_protection, "protect"),
	REGION_FILE("max_protection", RW, fs_write_max_protection, "protect"),
	REGION_FILE("inheritance",    RW, fs_write_inheritance, "inherit"),
	REGION_FILE("wired",          RW, fs_write_wired, "wire"),
	REGION_FILE("attr",           RW, fs_write_attr, "attr"),
	REGION_FILE("shared",         RO, NULL, NULL),
	REGION_FILE("needs_copy",     RO, NULL, NULL),
	REGION_FILE("share_mode",     RO, NULL, NULL),
	REGION_FILE("object",         RO, NULL, NULL),
	REGION_FILE("offset",         RO, NULL, NULL),
	REGION_FILE("info",           RO, NULL, NULL),
	ROW("chain",          FS_L_REGION,  FS_L_NONE,    RO, 0, fs_read_region_chain, NULL,
	    "vm_region_extended,machvm_object_info"),
};
const size_t fs_nrows = sizeof fs_rows / sizeof fs_rows[0];

unsigned
fs_level_row(enum fs_level l)
{
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].opens == l)
			return r;
	return 0;
}

unsigned
fs_region_row(void)
{
	static unsigned row;

	if (row == 0)
		row = fs_level_row(FS_L_REGION);
	return row;
}

int
fs_tree_check(const char **why)
{
	unsigned task_row = fs_level_row(FS_L_TASK), region_row = fs_level_row(FS_L_REGION);

	*why = NULL;
	if (task_row == 0 || region_row == 0)
		*why = "no task or region directory row";
	else if (region_row >= (1u << FS_KIND_BITS) - 1 ||
	         fs_nrows - region_row + 1 > (1u << FS_KIND_BITS))
		*why = "more rows than the inode numbers have room for";
	for (unsigned r = 0; r < fs_nrows && !*why; r++) {
		const struct fs_row *row = &fs_rows[r];
		bool has_task = row->parent >= FS_L_TASK ||
		                (row->parent == FS_L_TASKS && (row->flags & FS_DYNAMIC));

		if ((r >= region_row) != (row->parent >= FS_L_REGIONS) ||
		    (r >= task_row) != has_task)
			*why = "rows out of order: tasks' rows after the others, regions' last";
		else if (row->parent == FS_L_REGION && row->read == fs_read_region &&
		         !fs_region_read_call(row->name))
			*why = "a region file that shows no field";
		else if (row->write && row->parent == FS_L_REGION && !fs_verb_named(FS_L_TASK, row->verb))
			*why = "a writable region file without a ctl verb";
	}
	return *why ? -1 : 0;
}

/* ---- the layout dump ------------------------------------------------- */

/* The path pattern of a row: "tasks/<id>/regions/<start>/protection". */
static void
row_path(unsigned r, char *buf, size_t cap)
{
	const struct fs_row *row = &fs_rows[r];
	size_t len;

	if (row->parent == FS_L_NONE) {
		snprintf(buf, cap, "/");
		return;
	}
	if (fs_rows[fs_level_row(row->parent)].parent == FS_L_NONE)
		buf[0] = '\0';
	else
		row_path(fs_level_row(row->parent), buf, cap);
	len = strlen(buf);
	snprintf(buf + len, cap - len, "%s%s", row->name, row->opens != FS_L_NONE ? "/" : "");
}

/* Writes one line with trailing blanks removed, so the text is stable. */
static void __attribute__((format(printf, 2, 3)))
dump_line(FILE *out, const char *fmt, ...)
{
	char line[256];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	len = strlen(line);
	while (len && line[len - 1] == ' ')
		line[--len] = '\0';
	fprintf(out, "%s\n", line);
}

/* The ctl file a level's commands are written to. */
static const char *
commands_file(enum fs_level l)
{
	switch (l) {
	case FS_L_HOST:  return "host/save";
	case FS_L_TASKS: return "tasks/ctl";
	default:         return "tasks/<id>/ctl";
	}
}

/*
 * The engine calls a row's file makes, as one word: what reading renders
 * from (a region file's fields say), then what writing runs (a region
 * file's or remap's verb; the ctl files run the commands listed after the
 * files).
 */
static void
row_calls(const struct fs_row *row, char *buf, size_t cap)
{
	const char *rd = row->calls, *wr = NULL;

	if (row->read == fs_read_region)
		rd = fs_region_read_call(row->name);
	if (row->verb) {
		const struct fs_verb *v = fs_verb_named(row->parent == FS_L_REGION ? FS_L_TASK
		                                        : row->parent, row->verb);

		wr = v ? v->call : "?";
	} else if (row->write) {
		wr = "commands";
	}
	snprintf(buf, cap, "%s%s%s", rd ? rd : "", rd && wr ? "," : "", wr ? wr : "");
	if (!buf[0])
		snprintf(buf, cap, "-");
}

void
fs_dump_layout(FILE *out)
{
	dump_line(out, "# files: path, mode, read handler, write handler, engine calls, flags");
	for (unsigned r = 0; r < fs_nrows; r++) {
		const struct fs_row *row = &fs_rows[r];
		char path[96], calls[96];

		row_path(r, path, sizeof path);
		row_calls(row, calls, sizeof calls);
		dump_line(out, "%-42s %04o %-24s %-26s %-34s%s%s%s%s%s", path,
		          (unsigned)(row->mode & 07777),
		          row->read || (row->flags & FS_EVENTS) ? row->read_name : "-",
		          row->write ? row->write_name : "-", calls,
		          row->flags & FS_DYNAMIC ? " dynamic" : "",
		          row->flags & FS_RESULT ? " result" : "",
		          row->flags & FS_DATA ? " data" : "",
		          row->flags & FS_KEPT ? " kept" : "",
		          row->flags & FS_EVENTS ? " events" : "");
	}
	dump_line(out, "# commands: file, verb, argument count, engine call, usage");
	for (size_t i = 0; i < fs_nverbs; i++) {
		const struct fs_verb *v = &fs_verbs[i];
		unsigned min, max;
		char count[16];

		fs_verb_arg_count(v, &min, &max);
		if (min == max)
			snprintf(count, sizeof count, "%u", min);
		else
			snprintf(count, sizeof count, "%u-%u", min, max);
		dump_line(out, "%-15s %-12s %-4s %-21s %s%s%s", commands_file(v->level),
		          v->verb, count, v->call, v->verb, v->args[0] ? " " : "", v->args);
	}
}
