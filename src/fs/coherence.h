/*
 * coherence.h - the one place that keeps the kernel's caches true.
 *
 * The kernel keeps names (entries) and attributes for FS_CACHE_TIMEOUT
 * seconds (cache.h).  Names go stale only when a region start stops being
 * one, a task dies or a memory object dies; the sizes of text files whose
 * length can change are invalidated wholesale at every change (cache.h).  This module is the only consumer of the engine's change reports
 * (report.h) in the daemon:
 *
 *   - it knows which region directories the kernel holds an entry for
 *     (counted at every lookup and readdirplus, dropped at FORGET);
 *   - for every report it turns the starts that vanished (MERGED, MOVED,
 *     REMOVED, TASK_TERMINATED) into invalidations of the held ones, so
 *     nothing here knows the engine's rules for clipping or merging;
 *   - it moves the content generation (a kept whole-map text that another
 *     task's call could change is current while it stands still) and hands
 *     every report to the kept texts (kept.h), which note the ranges it
 *     changed, and to the events log.
 *
 * A write collects what its calls make stale in a scope: the scope's names
 * are invalidated (by cache.c's notifier) before the write is answered.
 * A terminated task's own name and files are too, except in an rmdir's
 * scope: the kernel holds tasks/ and the task's directory locked until
 * the rmdir is answered and drops the name itself, so its files go in the
 * scope's `after` list (and the name nowhere; cache.c keeps names in
 * tasks/ from ever holding up an rmdir's answer).  A call made outside any scope still has its
 * names invalidated, without holding up anything.
 *
 * The lookup protocol (why a name handed out is never missed): a lookup
 * reads the task's map generation, finds the region, counts the name as
 * held, and reads the generation again; if it moved, the region is looked
 * for again and the count taken back if it is gone.  A change moves the
 * generation and then (in the report, under the task's lock) looks for
 * held names: so either the change sees the count or the lookup sees the
 * generation move.  The kernel holds the directory's lock across a lookup
 * and an invalidation takes it, so one racing with the reply lands after.
 */
#ifndef MACHVMFS_COHERENCE_H
#define MACHVMFS_COHERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <machvm/report.h>

#include "cache.h"

/* Installs the report hook (after the host started, before requests). */
void fs_coherence_init(void);
/* Removes it and forgets every held name. */
void fs_coherence_fini(void);

/* What one write's engine calls made stale, and the last call's report. */
struct fs_scope {
	struct fs_inval before;         /* invalidate, then answer */
	struct fs_inval after;          /* invalidate after answering */
	bool            rmdir;          /* the kernel holds tasks/ and the task's
	                                 * directory locked until the answer */
	bool            changed;        /* a call reported: sizes may have changed */
	bool            have_report;
	struct machvm_report report;    /* the last report (its changes not kept) */
	struct fs_scope *outer;
};

/* Starts collecting the calls this thread makes into s. */
void fs_scope_begin(struct fs_scope *s);
/* Stops collecting; sends the wake-ups of the events log and, if any call
 * reported, the invalidations of the sizes the kernel holds (cache.h:
 * fs_cache_attr_stale).  s's lists are then the caller's to send (cache.h)
 * or free. */
void fs_scope_end(struct fs_scope *s);
/* Frees s's lists (when nothing is to be sent). */
void fs_scope_free(struct fs_scope *s);

/* The task's map generation (report.h); 0 for a dead task. */
uint64_t fs_coherence_gen(task_t task);

/*
 * The kernel is being handed an entry for each region directory
 * starts[0..n) of task, found at map generation gen: counts them held.
 * If the map changed since gen, each is looked for again, and those gone
 * are taken back and marked in gone[] (gone may be NULL when n is 1: then
 * the return says).  Returns how many stay held.
 */
size_t fs_coherence_hold(task_t task, const vm_address_t *starts, size_t n,
                         uint64_t gen, bool *gone);
/* The kernel dropped count lookups of a region directory (FORGET), or
 * never got the entries after all (the reply failed). */
void fs_coherence_release(task_t task, vm_address_t start, uint64_t count);
/*
 * The same for a directory objects/<id>/: counts it held, then checks the
 * object still lives; if it died meanwhile the count is taken back and
 * false returned (the death's report may have looked before the count).
 * An object's death (OBJECT_DESTROYED, or COLLAPSED into its shadow)
 * invalidates its held name and its files' names.
 */
bool fs_coherence_hold_object(uint64_t id);
void fs_coherence_release_object(uint64_t id, uint64_t count);

/* How many region directories of the task the kernel holds. */
size_t fs_coherence_held(task_t task);

/*
 * The content generation: it moves with every report, before the call's
 * write is answered.  A text rendered at generation g is current for as
 * long as the generation is g.
 */
uint64_t fs_coherence_content_gen(void);
/* Something a render shows changed with no report (a batch's references
 * came or went): the kept texts are rendered again. */
void fs_coherence_touch(void);

#endif
