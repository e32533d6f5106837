/*
 * events.h - the events log: one line per engine call, in host/events (every
 * call) and tasks/<id>/events (the calls that name the task).
 *
 * Each events file reads like a log file that grows: its size is the number
 * of bytes of events appended to its stream so far, of which only a window
 * (the newest events) is kept.  cat prints what is there and stops; tail -f
 * follows it; poll(2) wakes when a line is appended.  This module knows
 * nothing of FUSE: the daemon calls it from its callbacks and from the
 * engine's report hook.
 *
 * ---- The format (for fs_layout.md) ------------------------------------
 *
 * One line per engine call that reports (successful or failed), fields
 * separated by one space, no other space, ending in a newline:
 *
 *     <seq> <call> task=<id> <key>=<value>... [range=<a>-<b>] [src_range=<a>-<b>]
 *           [cur_protection=<p> max_protection=<p>] kr=<KERN_NAME> changes=<list>
 *
 * seq        host-wide number of the event, from 1, in the order the events
 *            were logged; a task's stream holds a subsequence (gaps are
 *            other tasks' events).  For any one task the order is the order
 *            the calls took effect.
 * call       task_create, task_terminate, vm_allocate, vm_deallocate,
 *            vm_protect, vm_inherit, vm_map_inherit, vm_wire,
 *            vm_machine_attribute, vm_remap, vm_write, vm_copy (unknown for
 *            anything else).
 * task=      the task called on, in decimal: for task_create the new task
 *            (none if the call failed), for vm_remap the target.
 * then the call's own arguments as the engine saw them, named as in its
 * prototype, in this order:
 *     task_create           parent=<id|none> inherit_memory=<bool>
 *     task_terminate        (nothing)
 *     vm_allocate           address= size= anywhere=
 *     vm_deallocate         address= size=
 *     vm_protect            address= size= set_maximum= new_protection=
 *     vm_inherit            address= size= new_inheritance=
 *     vm_map_inherit        start= end= new_inheritance=
 *     vm_wire               host_priv= address= size= access=
 *     vm_machine_attribute  address= size= attribute= value= [value_out=]
 *     vm_remap              address= size= mask= anywhere= src_task=
 *                           src_address= copy= inheritance=
 *     vm_write              address= size= count=
 *     vm_copy               source_address= size= dest_address=
 *   address=, start=, end=, mask=, *_address=: as passed (not rounded);
 *   host_priv=TRUE: the privileged host port was passed; value_out=: the
 *   value a successful get returned; count=: bytes written.
 * range=     the page-rounded range the call worked on, when it got that far
 *            (vm_remap: the target pages); src_range= vm_remap's source pages.
 * cur_protection= max_protection=   a successful vm_remap's results.
 * kr=        the result: KERN_SUCCESS, KERN_INVALID_ADDRESS, ...
 * changes=   what the call changed, comma separated, in the engine's order;
 *            - for nothing:
 *              split@<at>  merged@<at>  moved@<at>><to>
 *              added:<start>-<end>[*<n>]      removed:<start>-<end>[*<n>]
 *                  (n entries, shown when not 1)
 *              attributes:<start>-<end>       contents:<start>-<end>
 *              task_created:<task>*<entries>  task_terminated:<task>*<entries>
 *              object_created:<obj>           object_destroyed:<obj>
 *              object_shadowed:<obj>/<obj2>   object_collapsed:<obj>/<obj2>
 *              object_bypassed:<obj>/<obj2>   unknown
 *            A region change (split to contents) on another task than task=
 *            carries that task in brackets after its kind: merged[3]@0x11000,
 *            attributes[1]:0x10000-0x14000 (a fork's parent, a remap's
 *            source).  At most 32 changes are listed, then +<n>_more;
 *            incomplete ends the list when the engine ran out of memory
 *            while recording the changes (any boundary may have moved).
 * Values: addresses 0x and lowercase hex without leading zeros (0x0);
 * sizes, counts, ids in decimal; booleans TRUE/FALSE; protections rwx
 * letters (r--); inheritances share/copy/none; attributes
 * cache/migrate/replicate; attribute values off/on/get/flush/dcache_flush/
 * icache_flush (another number: in decimal).
 *
 *     7 vm_protect task=1 address=0x11000 size=4096 set_maximum=FALSE new_protection=r-- range=0x11000-0x12000 kr=KERN_SUCCESS changes=split@0x11000,split@0x12000,attributes:0x11000-0x12000
 *     8 task_create task=2 parent=1 inherit_memory=TRUE kr=KERN_SUCCESS changes=attributes[1]:0x10000-0x14000,object_shadowed:4/3,task_created:2*3
 *
 * Streams: host/events gets every event; tasks/<id>/events every event that
 * names the task (task=, parent=, src_task=, or a change on it): a fork is
 * in the parent's and the child's, a remap in the target's and the source's.
 * A task's stream ends with its task_terminate line.
 *
 * The window: the newest keep_events events, and no more than keep_bytes of
 * text (256 bytes an event, at least 8192).  A read below the window's start
 * gets one line instead,
 *
 *     # missed <n> events
 *
 * then the window's first line follows at the next offset: the file offsets
 * after that line are the stream's offsets shifted by a constant (for a
 * sequential reader, like cat or tail -f, they only get smaller, so the
 * file's size stays ahead of the reader).  n is exact for a reader that read
 * on from where it stopped (the events of the stream between that point and
 * the window); for a fresh reader, or one that jumped, n is the number of the
 * stream's events before the window.  Reads at or past the end return 0
 * bytes; reads may start in the middle of a line.
 *
 * ---- Memory ----------------------------------------------------------
 *
 * fs_events_memory() counts every byte this module asked malloc for.  With
 * T the most task streams one event goes to (2 for every report the engine
 * makes) and S the task streams that have state, it stays at or below
 *
 *     keep_bytes + 8192 + keep_events * (64 + 68 * T) + 256 * S + 256
 *         + FS_EVENTS_READER_BYTES per open reader
 *
 * The events' records live in one block of keep_bytes + 8192 +
 * 24 * keep_events bytes, allocated at the first event and freed by
 * fs_events_fini, so logging an event allocates nothing.
 *
 * A task stream has state while its task is alive and has had an event, or
 * while a reader holds it; a stream that never had an event costs nothing,
 * and a terminated task's stream is freed with its last reader.
 *
 * ---- Locking ---------------------------------------------------------
 *
 * One mutex guards the whole module.  It is a leaf: no other lock is taken
 * while it is held, no engine call is made, and the waker is called only
 * outside it.  So fs_events_record may be called from the report hook with
 * engine locks held, from any number of threads.
 */
#ifndef MACHVMFS_EVENTS_H
#define MACHVMFS_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <machvm/report.h>
#include <machvm/vm_types.h>

struct fs_buf;
struct fs_events_reader;

/* The memory an open reader costs (see Memory above). */
#define FS_EVENTS_READER_BYTES 128

/* Starts (or restarts, forgetting everything) the module with a window of
 * keep_events events (and keep_bytes as above).  0, or -EINVAL for 0 events.
 * Reports before it are not logged. */
int fs_events_init(size_t keep_events);
/*
 * fs_events_init with a records' block of arena_bytes (at least 8192, the
 * longest record's room) instead of the size the window needs, so that the
 * block, not the window, decides what is kept: for the unit tests.  0 is
 * fs_events_init; -EINVAL as there, or for a block under 8192 bytes.
 */
int fs_events_init_arena(size_t keep_events, size_t arena_bytes);
/* Frees everything; every reader must have been closed. */
void fs_events_fini(void);

/*
 * Logs one report (the report hook calls this, on the calling thread, with
 * engine locks held): formats its line and appends it to the host stream
 * and to the streams of the tasks it names.  Never blocks beyond the
 * module's lock, never calls the engine.  A stream gets state when a change
 * names its task, or when a successful call names it; a failed call (a
 * mistyped id) creates none, so it cannot cost memory.  A task_terminate
 * that succeeded, or a task_terminated change, ends the task's stream.
 * Out of memory, an event goes to fewer streams or none (its seq is then
 * missing from host/events).
 */
void fs_events_record(const struct machvm_report *r);

/* Bytes appended to a stream so far (TASK_NULL: the host stream); 0 for a
 * stream without state.  The events file's st_size. */
uint64_t fs_events_size(task_t stream);

/*
 * A reader: one per open events file.  NULL when out of memory.  For a task
 * stream, open the reader first and then check that the task is alive
 * (closing the reader if it is not): a termination logged after the open is
 * seen by the reader, one before it is not.
 */
struct fs_events_reader *fs_events_open(task_t stream);
/* Closes a reader; a poll handle it kept is destroyed (through the waker's
 * destroy function). */
void fs_events_close(struct fs_events_reader *rd);

/*
 * Appends to out (which the caller initialized) the bytes at file offset off,
 * up to size: the stream's bytes, or the missed line (see The window).  0,
 * or -ENOMEM (out is then unchanged but for its failed flag).
 */
int fs_events_read(struct fs_events_reader *rd, uint64_t off, size_t size,
                   struct fs_buf *out);

/* The file's size as this reader sees it: fs_events_size of its stream in
 * the reader's file offsets (they differ once it got a missed line).  For
 * st_size of an fstat on the open file, so tail -f stays exact. */
uint64_t fs_events_reader_size(struct fs_events_reader *rd);

/*
 * The poll mask of the reader: POLLIN when its stream has bytes past where
 * the reader last read; POLLIN|POLLHUP when the task's stream has ended and
 * the reader read all of it.  When nothing is ready and ph is not NULL, the
 * module keeps ph (destroying the one it kept before) and wakes it after the
 * next append to the stream; otherwise ph stays the caller's.
 */
unsigned fs_events_poll(struct fs_events_reader *rd, void *ph);

/*
 * Wakes the poll handles of streams that grew (wake(ph), then destroy(ph),
 * each handle once).  The daemon calls it after each engine call returns,
 * outside engine locks; it costs one atomic load when nothing is queued.
 */
void fs_events_wake(void);

/* The functions poll handles are handed to (FUSE's fuse_lowlevel_notify_poll
 * and fuse_pollhandle_destroy, wrapped).  Set before the first poll. */
void fs_events_set_waker(void (*wake)(void *ph), void (*destroy)(void *ph));

/* What the module holds: bytes asked of malloc, and task streams with state. */
size_t fs_events_memory(void);
size_t fs_events_streams(void);

#endif
