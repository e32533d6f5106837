/*
 * policy.h - the rules on which the Mach kernels disagree, one named field
 * each, and the table of them per personality (policy.c).
 *
 * The calls never ask which kernel they imitate: they ask the host's
 * policy one question per decision (vm_policy()->protect_skips_holes ...).
 * docs/semantics.md, section 8, is the same table in prose, with where
 * each kernel does it.
 */
#ifndef MACHVM_POLICY_H
#define MACHVM_POLICY_H

#include <stdbool.h>
#include <stdatomic.h>
#include <machvm/machvm.h>
#include "engine.h"

/* Calls, as bits of vm_policy.clamp_outside. */
enum {
	VM_POLICY_DEALLOCATE = 1u << 0,
	VM_POLICY_PROTECT    = 1u << 1,
	VM_POLICY_INHERIT    = 1u << 2,
	VM_POLICY_WIRE       = 1u << 3,
};

/* Calls after which equal neighbours are merged, as bits of
 * vm_policy.coalesce_after. */
enum {
	VM_COALESCE_ALLOCATE  = 1u << 0,  /* vm_allocate (see enter_grow_limit) */
	VM_COALESCE_PROTECT   = 1u << 1,
	VM_COALESCE_INHERIT   = 1u << 2,  /* vm_inherit, vm_map_inherit */
	VM_COALESCE_WIRE      = 1u << 3,  /* a vm_wire that wires, if it succeeds */
	VM_COALESCE_UNWIRE    = 1u << 4,  /* a vm_wire that unwires */
	VM_COALESCE_ATTRIBUTE = 1u << 5,  /* vm_machine_attribute */
	VM_COALESCE_REMAP     = 1u << 6,  /* vm_remap, both maps */
	VM_COALESCE_FORK      = 1u << 7,  /* task_create with memory, both maps */
	VM_COALESCE_IMPORT    = 1u << 8,  /* loading a state file */
};

/* Which neighbours may merge (they must agree on every attribute). */
enum vm_merge_rule {
	VM_MERGE_SAME_OR_NONE,  /* neither has an object, or both map the same
	                         * object at contiguous offsets */
	VM_MERGE_GROW,          /* that, or one has no object and the other's
	                         * object (private: one reference, no shadow)
	                         * grows over it */
	VM_MERGE_SAME_OBJECT,   /* only the same object at contiguous offsets */
};

/* vm_machine_attribute. */
enum vm_attribute_rule {
	VM_ATTR_RECORD,         /* values checked, a wholly allocated range; the
	                         * setting and flush counts kept per region */
	VM_ATTR_NONE,           /* nothing implemented: outside the user range
	                         * KERN_INVALID_ARGUMENT, else KERN_INVALID_ADDRESS;
	                         * *value untouched */
	VM_ATTR_CACHE_SYNC,     /* size 0 succeeds; outside the user range and any
	                         * attribute but MATTR_CACHE KERN_INVALID_ADDRESS;
	                         * MATTR_CACHE syncs page by page (nothing to
	                         * record), KERN_FAILURE at a hole; *value untouched */
};

/* vm_protect's bit 0x10. */
enum vm_prot_extra {
	VM_PROT_EXTRA_NONE,
	VM_PROT_EXTRA_NOTIFY,
	VM_PROT_EXTRA_COPY,
};

enum vm_placement {
	VM_PLACE_FIRST_FIT,     /* the lowest hole that fits */
	VM_PLACE_LOWEST_ELSE_BEST,   /* the lowest hole if it fits, else the
	                              * smallest hole that fits (lowest of equals) */
};

struct vm_policy {
	machvm_personality_t personality;
	const char *name;

	/* vm_protect: a hole in the range (or an unallocated start) is skipped
	 * (true) rather than refused with KERN_INVALID_ADDRESS. */
	bool protect_skips_holes;
	/* vm_inherit, vm_map_inherit: likewise. */
	bool inherit_skips_holes;
	/* vm_region, vm_region_extended: nothing at or above the address. */
	kern_return_t region_past_end;

	/* vm_wire: wirings are counted (N wirings need N unwirings); false:
	 * a wired entry stays wired once, one unwiring clears it. */
	bool wire_stacks;
	/* vm_wire: a hole (or unallocated start) in the range. */
	kern_return_t wire_hole;
	/* vm_wire: an entry whose current protection lacks a bit of access. */
	kern_return_t wire_protection;
	/* Unwiring: entries that are not wired are skipped (true) rather than
	 * refused with KERN_INVALID_ARGUMENT. */
	bool unwire_skips_unwired;
	/* Unwiring: holes after an allocated start are skipped (true). */
	bool unwire_skips_holes;

	/* Map calls (vm_deallocate, vm_protect, vm_inherit, vm_wire): an
	 * address + size that overflows, or whose rounding wraps, is an empty
	 * range and the call succeeds doing nothing (true), rather than
	 * KERN_INVALID_ARGUMENT. */
	bool wrap_is_empty;
	/* vm_protect: the code when only the end's rounding wraps (the sum
	 * itself does not overflow). */
	kern_return_t protect_round_wrap;
	/* Calls (VM_POLICY_* bits) whose range is clamped to the user range
	 * instead of refused with KERN_INVALID_ADDRESS when it leaves it. */
	unsigned int clamp_outside;
	/* vm_deallocate of a range leaving the user range: KERN_SUCCESS and
	 * nothing removed (true). */
	bool deallocate_outside_noop;
	/* vm_protect, vm_inherit, vm_wire with size 0 work on
	 * [trunc(address), round(address)): the page holding an unaligned
	 * address (true), rather than succeeding at once. */
	bool size0_touches_page;

	/* vm_read, vm_write: the whole range is checked first and a hole or a
	 * page without the permission anywhere in it fails the call (true);
	 * false: it ends the transfer early (a short count). */
	bool data_all_or_nothing;
	/* vm_read, vm_write, vm_copy: address + size overflows or its rounding
	 * wraps. */
	kern_return_t data_wrap;
	/* vm_read, vm_write, vm_copy of fewer than this many pages: a
	 * protection problem answers KERN_INVALID_ADDRESS (the kernel copies
	 * such small ranges through a buffer).  0: never. */
	unsigned int small_copy_pages;

	/* vm_remap exists (else it fails with MIG_BAD_ID, changing nothing). */
	bool has_remap;
	/* vm_allocate anywhere. */
	enum vm_placement placement;

	/* Coalescing: the calls after which it runs (VM_COALESCE_* bits), what
	 * may merge, and whether entries marked shared may. */
	unsigned int coalesce_after;
	enum vm_merge_rule merge_rule;
	bool merge_shared;
	/* vm_allocate: 0: the new entry coalesces with both neighbours (if
	 * VM_COALESCE_ALLOCATE); else only the entry just before it may grow
	 * over it, by merge_rule VM_MERGE_GROW, while the sum stays below this
	 * many bytes. */
	vm_size_t enter_grow_limit;

	/* vm_write, vm_copy: the addresses and the size must be page aligned,
	 * else KERN_INVALID_ARGUMENT (vm_copy: after the source is checked). */
	bool data_page_aligned;

	/* vm_machine_attribute. */
	enum vm_attribute_rule attribute_rule;

	/* vm_protect: the bit 0x10 besides rwx: refused (KERN_INVALID_ARGUMENT),
	 * VM_PROT_NOTIFY (accepted, then ignored) or VM_PROT_COPY (the range
	 * first becomes a private copy of itself, its maximum gaining write). */
	enum vm_prot_extra protect_extra;
	/* vm_protect, vm_inherit, vm_wire: size 0 succeeds before the protection,
	 * inheritance or access value is checked (true). */
	bool size0_before_values;

	/* vm_wire: mach_host_self() is accepted too (an unprivileged wiring),
	 * up to this many bytes wired in the task (the size as given, not
	 * rounded), past it KERN_NO_ACCESS.  0: only host_priv_self(). */
	vm_size_t wire_unprivileged_max;
	/* vm_wire: access bits outside rwx. */
	kern_return_t wire_bad_access;
	/* vm_wire: an entry already wired takes another wiring without its
	 * protection being checked (true). */
	bool wire_wired_unchecked;

	/* Fork: a VM_INHERIT_COPY entry copied the slow way (wired, or its
	 * object shared) whose maximum lacks read is left out of the child
	 * (true) rather than copied. */
	bool fork_skips_unreadable;

	/* vm_region's object_name: the object's id as a name (MACH_PORT_NULL
	 * without an object) (true), or always MACH_PORT_NULL. */
	bool region_names_object;
};

extern const struct vm_policy vm_policies[3];

/* The host's policy. */
static inline const struct vm_policy *vm_policy(void)
{
	return atomic_load_explicit(&vm_host_head()->policy, memory_order_acquire);
}

#endif
