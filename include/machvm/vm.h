/*
 * vm.h - the Mach VM calls of libmachvm.
 *
 * Every call is atomic with respect to every other call on the same task, and
 * a call that fails changes nothing any reader can observe.  The exact return
 * codes are those of the project's semantics page; the short notes below
 * name the main ones.
 *
 * A call on a task that does not exist (never created, or terminated) returns
 * KERN_INVALID_ARGUMENT, as Mach's kernel routines do for a null map, except
 * where a call says otherwise (task_create, vm_wire: KERN_INVALID_TASK).
 */
#ifndef MACHVM_VM_H
#define MACHVM_VM_H

#include <stddef.h>
#include <machvm/kern_return.h>
#include <machvm/vm_types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- host ------------------------------------------------------------ */

/* The ordinary host port, and the privileged one that vm_wire requires. */
host_t      mach_host_self(void);
host_priv_t host_priv_self(void);

/* The page size P.  KERN_INVALID_HOST if host is neither host port. */
kern_return_t host_page_size(host_t host, vm_size_t *page_size);

/* ---- tasks ----------------------------------------------------------- */

/*
 * A new task.  parent == TASK_NULL with inherit_memory FALSE makes a task
 * with no parent.  With inherit_memory the child's map is built from the
 * parent's by inheritance (share / copy / none).  A dead or null parent where
 * one is needed: KERN_INVALID_TASK.  Task ids are never reused.
 */
kern_return_t task_create(task_t parent, boolean_t inherit_memory,
                          task_t *child_task);

/* Removes the task and all its memory.  Unknown task: KERN_INVALID_ARGUMENT. */
kern_return_t task_terminate(task_t task);

/* ---- the map calls ----------------------------------------------------- */

kern_return_t vm_allocate(task_t task, vm_address_t *address, vm_size_t size,
                          boolean_t anywhere);
kern_return_t vm_deallocate(task_t task, vm_address_t address, vm_size_t size);
kern_return_t vm_protect(task_t task, vm_address_t address, vm_size_t size,
                         boolean_t set_maximum, vm_prot_t new_protection);
kern_return_t vm_inherit(task_t task, vm_address_t address, vm_size_t size,
                         vm_inherit_t new_inheritance);
/* The map-level form: start and end are both rounded DOWN to a page. */
kern_return_t vm_map_inherit(task_t task, vm_address_t start, vm_address_t end,
                             vm_inherit_t new_inheritance);

/*
 * Looks forward from *address: the entry holding it, else the first above.
 * *address is set to the entry's start.  object_name is the entry's object id
 * (MACH_PORT_NULL before first touch; ids above 2^32 are truncated here, use
 * vm_region_extended for the full id).  Nothing at or above: KERN_NO_SPACE.
 */
kern_return_t vm_region(task_t task, vm_address_t *address, vm_size_t *size,
                        vm_prot_t *protection, vm_prot_t *max_protection,
                        vm_inherit_t *inheritance, boolean_t *shared,
                        mach_port_t *object_name, vm_offset_t *offset);

kern_return_t vm_wire(host_priv_t host, task_t task, vm_address_t address,
                      vm_size_t size, vm_prot_t access);

kern_return_t vm_machine_attribute(task_t task, vm_address_t address,
                                   vm_size_t size,
                                   vm_machine_attribute_t attribute,
                                   vm_machine_attribute_val_t *value);

kern_return_t vm_remap(task_t target_task, vm_address_t *target_address,
                       vm_size_t size, vm_address_t mask, boolean_t anywhere,
                       task_t src_task, vm_address_t src_address,
                       boolean_t copy, vm_prot_t *cur_protection,
                       vm_prot_t *max_protection, vm_inherit_t inheritance);

/* ---- the data path --------------------------------------------------- */

/*
 * vm_read copies task memory into buf (a user-space vm_read_overwrite).
 * The first byte decides the error: unallocated -> KERN_INVALID_ADDRESS,
 * no read permission -> KERN_PROTECTION_FAILURE.  Past the first byte, a
 * hole or an unreadable page ends the read early: *count says how much was
 * read.  Size 0 reads nothing and succeeds.
 */
kern_return_t vm_read(task_t task, vm_address_t address, vm_size_t size,
                      void *buf, vm_size_t *count);
/* The same rules with write permission; writes resolve copy-on-write. */
kern_return_t vm_write(task_t task, vm_address_t address, const void *data,
                       vm_size_t size, vm_size_t *count);
/*
 * As if the whole source were read, then written to dest.  All or nothing:
 * any hole or missing permission in either range fails the call.
 */
kern_return_t vm_copy(task_t task, vm_address_t source_address, vm_size_t size,
                      vm_address_t dest_address);

#ifdef __cplusplus
}
#endif

#endif
