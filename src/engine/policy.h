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

/* Calls, as bits of vm_policy.clamp_outside. */
enum {
	VM_POLICY_DEALLOCATE = 1u << 0,
	VM_POLICY_PROTECT    = 1u << 1,
	VM_POLICY_INHERIT    = 1u << 2,
	VM_POLICY_WIRE       = 1u << 3,
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
};

extern const struct vm_policy vm_policies[3];
extern const struct vm_policy *_Atomic vm_policy_current;

/* The host's policy. */
static inline const struct vm_policy *vm_policy(void)
{
	return atomic_load_explicit(&vm_policy_current, memory_order_acquire);
}

#endif
