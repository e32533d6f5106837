/*
 * kern_return.h - Mach return codes, with the numeric values Mach uses.
 *
 * What each code means in libmachvm, and which call returns it when, is in
 * docs/semantics.md (section 1.3 and each call's section).
 */
#ifndef MACHVM_KERN_RETURN_H
#define MACHVM_KERN_RETURN_H

#include <machvm/api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int kern_return_t;

#define KERN_SUCCESS             0   /* done */
#define KERN_INVALID_ADDRESS     1   /* outside the user range, or unallocated memory */
#define KERN_PROTECTION_FAILURE  2   /* a protection forbids the request */
#define KERN_NO_SPACE            3   /* no room to place memory; vm_region: nothing at or above */
#define KERN_INVALID_ARGUMENT    4   /* bad value, NULL pointer, overflowing range, task not alive */
#define KERN_FAILURE             5   /* vm_wire refused; host already running; export/import state */
#define KERN_RESOURCE_SHORTAGE   6   /* out of memory */
#define KERN_NO_ACCESS           8   /* an unprivileged vm_wire past its cap (gnu) */
#define KERN_INVALID_NAME       15   /* defined for completeness; never returned */
#define KERN_INVALID_TASK       16   /* task_create: parent not alive; vm_wire: task not alive */
#define KERN_INVALID_VALUE      18   /* vm_wire: access bits outside rwx */
#define KERN_INVALID_HOST       22   /* not a host port (vm_wire: not the privileged one) */
#define MIG_BAD_ID            -303   /* no such call in this kernel: vm_remap under the gnu
                                        personality (what a MIG server answers an unknown routine) */

/*
 * The name of a code: "KERN_SUCCESS", "KERN_INVALID_ADDRESS", ... for the
 * codes above, "KERN_UNKNOWN" for any other value.  Never NULL; a static
 * string.  Needs no running host.
 */
MACHVM_API const char *kern_return_name(kern_return_t kr);

#ifdef __cplusplus
}
#endif

#endif
