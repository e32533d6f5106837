/*
 * vm.h - the Mach VM calls of libmachvm.
 *
 * docs/semantics.md is the full description; each call below carries the
 * short form of its contract.  Conventions used throughout:
 *
 *   P              the host's page size (host_page_size).
 *   user range     [P, 2^47): page 0 is never mapped (MACHVM_USER_MAX).
 *   "the range"    [trunc(address), round(address + size)): every page that
 *                  holds a byte of [address, address + size).  If
 *                  address + size overflows, or its rounding wraps:
 *                  KERN_INVALID_ARGUMENT.  Not inside the user range:
 *                  KERN_INVALID_ADDRESS (vm_machine_attribute:
 *                  KERN_INVALID_ARGUMENT).
 *   not alive      a task id never created, terminated, or TASK_NULL:
 *                  KERN_INVALID_ARGUMENT, except where a call says
 *                  KERN_INVALID_TASK (task_create's parent, vm_wire).
 *
 * Every call is atomic with respect to every other call on the same task,
 * and validates before it commits: it checks everything first, in the
 * order listed, and the first problem decides the return code; a call that
 * fails changes nothing any reader can observe.  (Only running out of
 * memory part way can break this, in the few places docs/semantics.md
 * section 7 lists.)  Calls that change part of an entry split it, and
 * merge equal neighbours again afterwards, so a region as vm_region reports
 * it is always one maximal map entry.
 *
 * machvm_host_start() must have been called first.
 *
 * The codes below are the default (mach) personality's.  A host set to the
 * gnu or xnu personality (machvm_host_set_personality, machvm.h) answers as
 * GNU Mach or XNU where they differ: docs/semantics.md, section 8.
 */
#ifndef MACHVM_VM_H
#define MACHVM_VM_H

#include <stddef.h>
#include <machvm/api.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- host ------------------------------------------------------------ */

/*
 * The ordinary host port, and the privileged one that vm_wire requires.
 * Fixed non-zero values, never equal to a task id.
 */
MACHVM_API host_t      mach_host_self(void);
MACHVM_API host_priv_t host_priv_self(void);

/*
 * The page size P into *page_size.
 *   KERN_INVALID_HOST       host is neither host port (either one works)
 *   KERN_INVALID_ARGUMENT   page_size is NULL
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t host_page_size(host_t host, vm_size_t *page_size);

/* ---- tasks ----------------------------------------------------------- */

/*
 * A new task, with the next id (ids start at 1 and are never reused while
 * the host runs).
 *
 * inherit_memory FALSE: the child's map is empty; a live parent (or
 * TASK_NULL) is recorded as its parent.  inherit_memory TRUE: the child's
 * map is built from the parent's, entry by entry: VM_INHERIT_NONE leaves a
 * hole; VM_INHERIT_SHARE maps the same memory on both sides (both marked
 * shared); VM_INHERIT_COPY gives a copy-on-write copy (both needs_copy),
 * except that wired and already shared entries are copied at once.  The
 * child keeps protections, maxima, inheritance and machine attributes; it
 * has nothing wired.  O(entries), no page copied but for eager copies.
 *
 *   KERN_INVALID_ARGUMENT    child_task is NULL
 *   KERN_INVALID_TASK        a parent is needed (parent != TASK_NULL, or
 *                            inherit_memory) and parent is not alive
 *   KERN_RESOURCE_SHORTAGE   out of memory (no task is created)
 *   KERN_SUCCESS             *child_task = the new id
 */
MACHVM_API kern_return_t task_create(task_t parent, boolean_t inherit_memory,
                                     task_t *child_task);

/*
 * Removes the task and all its memory, as a vm_deallocate of everything.
 *   KERN_INVALID_ARGUMENT   task is not alive
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t task_terminate(task_t task);

/* ---- the map calls ----------------------------------------------------- */

/*
 * New zero-filled memory: protection rw-, maximum rwx, inheritance copy,
 * not wired, cache on, migrate and replicate off; no object until first
 * written.  Its own rounding: rsize = round(size); fixed placement covers
 * [trunc(*address), trunc(*address) + rsize) (so (0x1ff0, 0x20) is the one
 * page [0x1000, 0x2000)); anywhere placement takes the lowest address >= P
 * where rsize fits (first fit; *address is not a hint).
 *
 *   KERN_INVALID_ARGUMENT    address is NULL; task not alive
 *   KERN_SUCCESS             size 0: *address = 0, nothing allocated
 *   KERN_INVALID_ARGUMENT    round(size) wraps
 *   KERN_NO_SPACE            anywhere: no hole of rsize bytes
 *   KERN_INVALID_ADDRESS     fixed: trunc(*address) < P, or the end wraps
 *                            or exceeds 2^47
 *   KERN_NO_SPACE            fixed: the pages overlap existing memory
 *   KERN_RESOURCE_SHORTAGE   out of memory
 *   KERN_SUCCESS             *address = the start of the new memory
 */
MACHVM_API kern_return_t vm_allocate(task_t task, vm_address_t *address, vm_size_t size,
                                     boolean_t anywhere);

/*
 * Removes every entry piece inside the range; holes are skipped, wired
 * memory is removed with its wiring.  Pages nobody can reach any more are
 * freed at once.
 *
 *   KERN_INVALID_ARGUMENT    task not alive
 *   KERN_SUCCESS             size 0 (address not looked at)
 *   KERN_INVALID_ARGUMENT    the range overflows
 *   KERN_INVALID_ADDRESS     the range leaves the user range
 *   KERN_RESOURCE_SHORTAGE   out of memory
 *   KERN_SUCCESS             also when the range held nothing
 */
MACHVM_API kern_return_t vm_deallocate(task_t task, vm_address_t address, vm_size_t size);

/*
 * Sets the current protection of the range (set_maximum FALSE), or its
 * maximum (set_maximum TRUE), which also lowers the current protection to
 * current & new_protection.  The maximum can never be raised.  Wiring is
 * kept.
 *
 *   KERN_INVALID_ARGUMENT    task not alive
 *   KERN_INVALID_ARGUMENT    new_protection has bits outside rwx
 *   KERN_SUCCESS             size 0
 *   KERN_INVALID_ARGUMENT    the range overflows
 *   KERN_INVALID_ADDRESS     the range leaves the user range
 *   then, walking the range in address order, the first problem met:
 *   KERN_INVALID_ADDRESS     a hole (or unallocated start)
 *   KERN_PROTECTION_FAILURE  an entry whose maximum lacks a bit of
 *                            new_protection (with set_maximum too)
 *   KERN_RESOURCE_SHORTAGE   out of memory for the split
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_protect(task_t task, vm_address_t address, vm_size_t size,
                                    boolean_t set_maximum, vm_prot_t new_protection);

/*
 * Sets the inheritance of every entry piece in the range (it matters only
 * at task_create).  Holes are an error (GNU Mach and XNU skip them).
 *
 *   KERN_INVALID_ARGUMENT    task not alive
 *   KERN_INVALID_ARGUMENT    new_inheritance is not SHARE, COPY or NONE
 *   KERN_SUCCESS             size 0
 *   KERN_INVALID_ARGUMENT    the range overflows
 *   KERN_INVALID_ADDRESS     the range leaves the user range
 *   KERN_INVALID_ADDRESS     any part of the range is unallocated
 *   KERN_RESOURCE_SHORTAGE   out of memory for the split
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_inherit(task_t task, vm_address_t address, vm_size_t size,
                                    vm_inherit_t new_inheritance);

/*
 * The map-level form of vm_inherit: start and end are both rounded DOWN,
 * the range is [trunc(start), trunc(end)).  (0x10fff, 0x12fff) covers
 * [0x10000, 0x12000) and not the page holding 0x12fff.
 *
 *   KERN_INVALID_ARGUMENT    task not alive
 *   KERN_INVALID_ARGUMENT    new_inheritance is not SHARE, COPY or NONE
 *   KERN_INVALID_ARGUMENT    trunc(end) < trunc(start)
 *   KERN_SUCCESS             trunc(end) == trunc(start): nothing to do
 *   KERN_INVALID_ADDRESS     trunc(start) < P or trunc(end) > 2^47
 *   KERN_INVALID_ADDRESS     any part of the range is unallocated
 *   KERN_RESOURCE_SHORTAGE   out of memory for the split
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_map_inherit(task_t task, vm_address_t start, vm_address_t end,
                                        vm_inherit_t new_inheritance);

/*
 * Looks forward from *address (not rounded, any value): the entry holding
 * it, else the first entry above it.  *address is set to that entry's start
 * (it can move down).  Reports its size, protection, maximum, inheritance,
 * shared (set on both sides by a fork of a SHARE entry or a sharing
 * vm_remap; kept when split, never cleared), object_name (the object id;
 * MACH_PORT_NULL before the entry has an object; ids above 2^32 are
 * truncated, vm_region_extended has the full id) and offset (of the
 * entry's start in its object).  Walk a map with address = 0, then
 * address = start + size after each region.
 *
 *   KERN_INVALID_ARGUMENT    any pointer is NULL; task not alive
 *   KERN_NO_SPACE            no entry at or above *address (outputs untouched)
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_region(task_t task, vm_address_t *address, vm_size_t *size,
                                   vm_prot_t *protection, vm_prot_t *max_protection,
                                   vm_inherit_t *inheritance, boolean_t *shared,
                                   mach_port_t *object_name, vm_offset_t *offset);

/*
 * Wires (access != VM_PROT_NONE) or unwires (access == VM_PROT_NONE) the
 * range.  Wiring is counted (N wirings need N unwirings, at most 65535);
 * an entry going from 0 to 1 gets every page resident in its own object
 * at once (object created, copy-on-write resolved, zero pages filled), so
 * the range takes no more faults.  Unwiring needs no protection.
 *
 *   KERN_INVALID_HOST        host is not host_priv_self()
 *   KERN_INVALID_TASK        task not alive
 *   KERN_INVALID_VALUE       access has bits outside rwx
 *   KERN_SUCCESS             size 0
 *   KERN_INVALID_ARGUMENT    the range overflows
 *   KERN_INVALID_ADDRESS     the range leaves the user range
 *   then, walking the range in address order, the first problem met:
 *   KERN_FAILURE             a hole (or unallocated start)
 *   KERN_FAILURE             wiring: an entry whose current protection
 *                            lacks a bit of access, or already wired 65535
 *                            times
 *   KERN_INVALID_ARGUMENT    unwiring: an entry that is not wired
 *   KERN_RESOURCE_SHORTAGE   out of memory
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_wire(host_priv_t host, task_t task, vm_address_t address,
                                 vm_size_t size, vm_prot_t access);

/*
 * Machine attributes of the range, on a simulated machine that has all
 * three.  MATTR_CACHE takes OFF, ON, GET and the three flushes;
 * MATTR_MIGRATE and MATTR_REPLICATE take OFF, ON and GET.  ON / OFF set the
 * attribute (splitting entries as needed).  GET sets *value to
 * MATTR_VAL_ON or MATTR_VAL_OFF as the page trunc(address) has it.  A flush
 * changes nothing but adds one to that flush count of every entry the range
 * touches (no split).  Every bad range is KERN_INVALID_ARGUMENT here.
 *
 *   KERN_INVALID_ARGUMENT    value is NULL; task not alive
 *   KERN_INVALID_ARGUMENT    unknown attribute, or a value it does not take
 *   KERN_SUCCESS             size 0: nothing done, *value left as it was
 *   KERN_INVALID_ARGUMENT    the range overflows, leaves the user range, or
 *                            is not wholly allocated
 *   KERN_RESOURCE_SHORTAGE   out of memory for the split
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_machine_attribute(task_t task, vm_address_t address,
                                              vm_size_t size,
                                              vm_machine_attribute_t attribute,
                                              vm_machine_attribute_val_t *value);

/*
 * Maps [trunc(src_address), trunc(src_address) + round(size)) of src_task
 * into target_task (may be the same task): shared (copy FALSE: both sides
 * see each other's writes, both marked shared) or copy-on-write (copy TRUE:
 * independent from now on; wired or already shared source pieces are
 * copied at once).  One new entry per source entry piece, contiguous, each
 * keeping its piece's protection, maximum and machine attributes, with the
 * given inheritance, unwired.  Source entries are not split.
 *
 * Placement: anywhere takes the lowest page-aligned start >=
 * max(trunc(*target_address), P) with no bit of mask set where the pages
 * fit; fixed takes trunc(*target_address).
 *
 *   KERN_INVALID_ARGUMENT    target_address, cur_protection or
 *                            max_protection NULL; size 0; inheritance not
 *                            SHARE, COPY or NONE
 *   KERN_INVALID_ARGUMENT    either task not alive
 *   KERN_INVALID_ARGUMENT    round(size) or the source end wraps
 *   KERN_INVALID_ADDRESS     the source leaves the user range
 *   then, walking the source in address order, the first problem met:
 *   KERN_INVALID_ADDRESS     a hole (or unallocated start)
 *   KERN_PROTECTION_FAILURE  copy: an entry whose maximum lacks read
 *   then the target:
 *   KERN_NO_SPACE            anywhere: no fit
 *   KERN_INVALID_ADDRESS     fixed: start < P, or the end wraps or exceeds 2^47
 *   KERN_NO_SPACE            fixed: start & mask != 0, or overlap
 *   KERN_RESOURCE_SHORTAGE   out of memory
 *   KERN_SUCCESS             *target_address = the start; *cur_protection
 *                            and *max_protection = the AND over every
 *                            source piece (the most restrictive)
 */
MACHVM_API kern_return_t vm_remap(task_t target_task, vm_address_t *target_address,
                                  vm_size_t size, vm_address_t mask, boolean_t anywhere,
                                  task_t src_task, vm_address_t src_address,
                                  boolean_t copy, vm_prot_t *cur_protection,
                                  vm_prot_t *max_protection, vm_inherit_t inheritance);

/* ---- the data path --------------------------------------------------- */

/*
 * Copies task memory at [address, address + size) into buf (a user-space
 * vm_read_overwrite).  Bytes, not pages: nothing is rounded.  Untouched
 * pages read as zeros; reading allocates nothing.
 *
 *   KERN_INVALID_ARGUMENT    count NULL, or buf NULL with size > 0;
 *                            task not alive
 *   (*count is set to 0 from here on)
 *   KERN_INVALID_ARGUMENT    size > 0 and address + size overflows or its
 *                            page rounding wraps
 *   KERN_INVALID_ADDRESS     the first byte is unallocated (anything outside
 *                            the user range is)
 *   KERN_PROTECTION_FAILURE  the first byte's current protection lacks read
 *   KERN_SUCCESS             *count bytes read; past the first byte a hole
 *                            or an unreadable page ends the read early
 *                            (*count < size; buf past *count untouched).
 *                            Size 0 reads nothing, at any address.
 */
MACHVM_API kern_return_t vm_read(task_t task, vm_address_t address, vm_size_t size,
                                 void *buf, vm_size_t *count);

/*
 * Writes data into task memory at [address, address + size), with the
 * rules of vm_read and write permission.  Writes go through copy-on-write
 * (a needs_copy entry gets its own shadow, the page is copied up or zero
 * filled) and are seen by every mapping sharing the memory.
 *
 *   KERN_INVALID_ARGUMENT    count NULL, or data NULL with size > 0;
 *                            task not alive
 *   (*count is set to 0 from here on)
 *   KERN_INVALID_ARGUMENT    size > 0 and address + size overflows or its
 *                            rounding wraps
 *   KERN_SUCCESS             size 0, at any address: nothing written
 *   KERN_INVALID_ADDRESS     the first byte is unallocated
 *   KERN_PROTECTION_FAILURE  the first byte's current protection lacks write
 *   KERN_RESOURCE_SHORTAGE   no memory for the first page
 *   KERN_SUCCESS             *count bytes written; past the first byte a
 *                            hole, a page without write permission or no
 *                            memory ends the write early (*count < size)
 */
MACHVM_API kern_return_t vm_write(task_t task, vm_address_t address, const void *data,
                                  vm_size_t size, vm_size_t *count);

/*
 * Copies size bytes from source_address to dest_address in one task, as if
 * the whole source were read first (overlap works like memmove).  All or
 * nothing: everything is checked before anything is written.
 *
 *   KERN_INVALID_ARGUMENT    task not alive
 *   KERN_SUCCESS             size 0
 *   KERN_INVALID_ARGUMENT    source or destination overflows or its
 *                            rounding wraps
 *   KERN_INVALID_ADDRESS     the page-rounded source, then destination,
 *                            leaves the user range
 *   then walking the source bytes in address order, the first problem met:
 *   KERN_INVALID_ADDRESS     a hole
 *   KERN_PROTECTION_FAILURE  a page without read permission
 *   then the destination bytes in the same way:
 *   KERN_INVALID_ADDRESS     a hole
 *   KERN_PROTECTION_FAILURE  a page without write permission
 *   KERN_RESOURCE_SHORTAGE   out of memory
 *   KERN_SUCCESS
 */
MACHVM_API kern_return_t vm_copy(task_t task, vm_address_t source_address, vm_size_t size,
                                 vm_address_t dest_address);

#ifdef __cplusplus
}
#endif

#endif
