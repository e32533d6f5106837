/*
 * vm_types.h - the scalar types and constants of the Mach VM interface.
 *
 * Numeric values are those of GNU Mach and XNU, so code written against
 * <mach/vm_prot.h>, <mach/vm_inherit.h> and <mach/vm_attributes.h> reads the
 * same here.  docs/semantics.md (section 1.4) says which values each call
 * accepts.
 *
 * Only types and macros: nothing here has linkage, so the header needs no
 * extern "C" block and is the same in C and C++.
 */
#ifndef MACHVM_VM_TYPES_H
#define MACHVM_VM_TYPES_H

#include <stdint.h>

typedef uint64_t vm_address_t;
typedef uint64_t vm_offset_t;
typedef uint64_t vm_size_t;
typedef int      boolean_t;
typedef uint32_t mach_port_t;

/* Task ports are the task ids (1, 2, 3, ...); TASK_NULL names no task. */
typedef mach_port_t task_t;
typedef mach_port_t host_t;
typedef mach_port_t host_priv_t;
#define TASK_NULL        ((task_t)0)
#define MACH_PORT_NULL   ((mach_port_t)0)

#ifndef TRUE
#define TRUE  1
#define FALSE 0
#endif

/* vm_prot_t: any OR of READ, WRITE, EXECUTE; other bits are invalid. */
typedef int vm_prot_t;
#define VM_PROT_NONE     ((vm_prot_t)0x00)
#define VM_PROT_READ     ((vm_prot_t)0x01)
#define VM_PROT_WRITE    ((vm_prot_t)0x02)
#define VM_PROT_EXECUTE  ((vm_prot_t)0x04)
#define VM_PROT_DEFAULT  (VM_PROT_READ | VM_PROT_WRITE)
#define VM_PROT_ALL      (VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE)
/* The bit above rwx that vm_protect takes in one personality each
 * (docs/semantics.md, section 8): GNU Mach's VM_PROT_NOTIFY, XNU's
 * VM_PROT_COPY. */
#define VM_PROT_NOTIFY   ((vm_prot_t)0x10)
#define VM_PROT_COPY     ((vm_prot_t)0x10)

/* vm_inherit_t: what a child gets at task_create; values above NONE are invalid. */
typedef unsigned int vm_inherit_t;
#define VM_INHERIT_SHARE    ((vm_inherit_t)0)
#define VM_INHERIT_COPY     ((vm_inherit_t)1)
#define VM_INHERIT_NONE     ((vm_inherit_t)2)
#define VM_INHERIT_DEFAULT  VM_INHERIT_COPY

/* Machine attributes (vm_machine_attribute).  The flush values are taken by
 * MATTR_CACHE only; OFF, ON and GET by all three. */
typedef unsigned int vm_machine_attribute_t;
#define MATTR_CACHE      ((vm_machine_attribute_t)1)
#define MATTR_MIGRATE    ((vm_machine_attribute_t)2)
#define MATTR_REPLICATE  ((vm_machine_attribute_t)4)

typedef int vm_machine_attribute_val_t;
#define MATTR_VAL_OFF           0
#define MATTR_VAL_ON            1
#define MATTR_VAL_GET           2
#define MATTR_VAL_CACHE_FLUSH   6
#define MATTR_VAL_DCACHE_FLUSH  7
#define MATTR_VAL_ICACHE_FLUSH  8

/* Share modes reported by vm_region_extended (XNU's SM_* values); how they
 * are computed: docs/semantics.md, section 2.10. */
#define SM_COW              1
#define SM_PRIVATE          2
#define SM_EMPTY            3
#define SM_SHARED           4
#define SM_TRUESHARED       5
#define SM_PRIVATE_ALIASED  6
#define SM_SHARED_ALIASED   7

#endif
