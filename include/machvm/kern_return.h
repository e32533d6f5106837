/*
 * kern_return.h - Mach return codes, with the numeric values Mach uses.
 */
#ifndef MACHVM_KERN_RETURN_H
#define MACHVM_KERN_RETURN_H

typedef int kern_return_t;

#define KERN_SUCCESS             0
#define KERN_INVALID_ADDRESS     1
#define KERN_PROTECTION_FAILURE  2
#define KERN_NO_SPACE            3
#define KERN_INVALID_ARGUMENT    4
#define KERN_FAILURE             5
#define KERN_RESOURCE_SHORTAGE   6
#define KERN_NO_ACCESS           8
#define KERN_INVALID_NAME       15
#define KERN_INVALID_TASK       16
#define KERN_INVALID_VALUE      18
#define KERN_INVALID_HOST       22

/* "KERN_SUCCESS", "KERN_INVALID_ADDRESS", ...; "KERN_UNKNOWN" for any other value. */
const char *kern_return_name(kern_return_t kr);

#endif
