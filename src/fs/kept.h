/*
 * kept.h - the texts an open file reads, and the whole-map texts kept
 * between opens.
 *
 * The whole-map files (maps, maps.json: rows flagged FS_KEPT) are big and
 * rendered from a snapshot of every region.  The daemon keeps the last
 * text of each in a few slots, with the offset of every region's piece of
 * it, and keeps it true from the engine's change reports:
 *
 *   - A text in which every region is one no other task can change (no
 *     memory object, or a private one: one reference, no shadow, no
 *     pending copy) changes only through calls on its own task, and
 *     those calls' reports say which ranges changed.  The report hook
 *     (fs_kept_report) notes the ranges; the next open renders the
 *     regions in those ranges again and splices them into the old text,
 *     and copies the rest.  The regions are read one call at a time, so
 *     the result is one state of the map only if no call changed the task
 *     while they were read: if one did, a snapshot of the whole map is
 *     taken instead.
 *   - Any other text (some region shares memory with another task or
 *     waits for a copy: a call on another task can change its share mode
 *     or counts, and says so in no report about this task) is current only
 *     while no engine call reported at all (the content generation,
 *     coherence.h), and otherwise rendered whole.
 *   - A fork of the task, a remap from it, vm_copy, a report that lost
 *     changes, a task created or terminated under the id: rendered whole.
 *
 * Either way the text is exactly what a fresh render gives; the debug
 * builds check that after every splice (they render afresh and compare,
 * and abort on a difference).
 *
 * Lock legend: a slot's render mutex is held across a whole open of its
 * file (engine calls included); its lock guards the slot's fields and is
 * taken inside engine locks by the report hook, never around an engine
 * call.  Order: render, then engine, then lock.
 */
#ifndef MACHVMFS_KEPT_H
#define MACHVMFS_KEPT_H

#include <stdatomic.h>
#include <stddef.h>
#include <machvm/report.h>

#include "render.h"
#include "tree.h"

/* A text an open file reads from: shared by the handle, the reads in
 * flight and a kept slot, freed with its last reference. */
struct fs_text {
	_Atomic size_t refs;
	size_t         len;
	char          *data;
};

/* A text taking over b's data (b is emptied); NULL when out of memory. */
struct fs_text *fs_text_new(struct fs_buf *b);
/* Takes a reference back (NULL is allowed). */
void fs_text_put(struct fs_text *t);

/* The text an open of n (a FS_KEPT row) reads: kept, spliced or rendered.
 * 0 (*out a reference) or -errno. */
int fs_kept_open(const struct fs_node *n, struct fs_text **out);

/* The report hook's part (coherence.c calls it for every report). */
void fs_kept_report(const struct machvm_report *r);

/* Forgets every kept text (the session ended). */
void fs_kept_clear(void);

#endif
