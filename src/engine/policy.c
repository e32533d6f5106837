/*
 * policy.c - the three personalities' answers to the rules in policy.h.
 * docs/semantics.md, section 8, says where each kernel takes each one.
 */
#include "policy.h"

#include <string.h>

const struct vm_policy vm_policies[3] = {
	[MACHVM_PERSONALITY_MACH] = {
		.personality = MACHVM_PERSONALITY_MACH,
		.name = "mach",
		.protect_skips_holes = false,
		.inherit_skips_holes = false,
		.region_past_end = KERN_NO_SPACE,
		.wire_stacks = true,
		.wire_hole = KERN_FAILURE,
		.wire_protection = KERN_FAILURE,
		.unwire_skips_unwired = false,
		.unwire_skips_holes = false,
		.wrap_is_empty = false,
		.protect_round_wrap = KERN_INVALID_ARGUMENT,
		.clamp_outside = 0,
		.deallocate_outside_noop = false,
		.size0_touches_page = false,
		.data_all_or_nothing = false,
		.data_wrap = KERN_INVALID_ARGUMENT,
		.small_copy_pages = 0,
		.has_remap = true,
		.placement = VM_PLACE_FIRST_FIT,
		.coalesce_after = VM_COALESCE_ALLOCATE | VM_COALESCE_PROTECT | VM_COALESCE_INHERIT |
		                  VM_COALESCE_WIRE | VM_COALESCE_UNWIRE | VM_COALESCE_ATTRIBUTE |
		                  VM_COALESCE_REMAP | VM_COALESCE_FORK | VM_COALESCE_IMPORT,
		.merge_rule = VM_MERGE_SAME_OR_NONE,
		.merge_shared = true,
		.enter_grow_limit = 0,
		.data_page_aligned = false,
		.attribute_rule = VM_ATTR_RECORD,
		.protect_extra = VM_PROT_EXTRA_NONE,
		.size0_before_values = false,
		.wire_unprivileged_max = 0,
		.wire_bad_access = KERN_INVALID_VALUE,
		.wire_wired_unchecked = false,
		.fork_skips_unreadable = false,
		.region_names_object = true,
	},
	[MACHVM_PERSONALITY_GNU] = {
		.personality = MACHVM_PERSONALITY_GNU,
		.name = "gnu",
		.protect_skips_holes = true,
		.inherit_skips_holes = true,
		.region_past_end = KERN_NO_SPACE,
		.wire_stacks = false,
		.wire_hole = KERN_NO_SPACE,
		.wire_protection = KERN_NO_SPACE,
		.unwire_skips_unwired = true,
		.unwire_skips_holes = false,
		.wrap_is_empty = true,
		.protect_round_wrap = KERN_SUCCESS,     /* unused: wrap_is_empty */
		.clamp_outside = VM_POLICY_DEALLOCATE | VM_POLICY_PROTECT | VM_POLICY_INHERIT |
		                 VM_POLICY_WIRE,
		.deallocate_outside_noop = false,
		.size0_touches_page = true,
		.data_all_or_nothing = true,
		.data_wrap = KERN_INVALID_ADDRESS,
		.small_copy_pages = 0,
		.has_remap = false,
		.placement = VM_PLACE_LOWEST_ELSE_BEST,
		.coalesce_after = VM_COALESCE_ALLOCATE | VM_COALESCE_PROTECT | VM_COALESCE_INHERIT,
		.merge_rule = VM_MERGE_GROW,
		.merge_shared = false,
		.enter_grow_limit = 0,
		.data_page_aligned = true,
		.attribute_rule = VM_ATTR_NONE,
		.protect_extra = VM_PROT_EXTRA_NOTIFY,
		.size0_before_values = false,
		.wire_unprivileged_max = 8u << 20,
		.wire_bad_access = KERN_INVALID_ARGUMENT,
		.wire_wired_unchecked = false,
		.fork_skips_unreadable = false,
		.region_names_object = true,
	},
	[MACHVM_PERSONALITY_XNU] = {
		.personality = MACHVM_PERSONALITY_XNU,
		.name = "xnu",
		.protect_skips_holes = false,
		.inherit_skips_holes = true,
		.region_past_end = KERN_INVALID_ADDRESS,
		.wire_stacks = true,
		.wire_hole = KERN_INVALID_ADDRESS,
		.wire_protection = KERN_PROTECTION_FAILURE,
		.unwire_skips_unwired = true,
		.unwire_skips_holes = true,
		.wrap_is_empty = false,
		.protect_round_wrap = KERN_INVALID_ADDRESS,
		.clamp_outside = VM_POLICY_INHERIT,
		.deallocate_outside_noop = true,
		.size0_touches_page = false,
		.data_all_or_nothing = true,
		.data_wrap = KERN_INVALID_ADDRESS,
		.small_copy_pages = 2,
		.has_remap = true,
		.placement = VM_PLACE_FIRST_FIT,
		.coalesce_after = VM_COALESCE_ALLOCATE | VM_COALESCE_PROTECT | VM_COALESCE_WIRE |
		                  VM_COALESCE_UNWIRE,
		.merge_rule = VM_MERGE_SAME_OBJECT,
		.merge_shared = true,
		.enter_grow_limit = 128u << 10,
		.data_page_aligned = false,
		.attribute_rule = VM_ATTR_CACHE_SYNC,
		.protect_extra = VM_PROT_EXTRA_COPY,
		.size0_before_values = true,
		.wire_unprivileged_max = 0,
		.wire_bad_access = KERN_INVALID_ARGUMENT,
		.wire_wired_unchecked = true,
		.fork_skips_unreadable = true,
		.region_names_object = false,
	},
};


const char *machvm_personality_name(machvm_personality_t personality)
{
	if ((unsigned)personality > MACHVM_PERSONALITY_XNU)
		return NULL;
	return vm_policies[personality].name;
}

kern_return_t machvm_personality_parse(const char *name, machvm_personality_t *out)
{
	if (name == NULL || out == NULL)
		return KERN_INVALID_ARGUMENT;
	for (unsigned i = 0; i < 3; i++)
		if (strcmp(name, vm_policies[i].name) == 0) {
			*out = (machvm_personality_t)i;
			return KERN_SUCCESS;
		}
	return KERN_INVALID_ARGUMENT;
}

machvm_personality_t machvm_host_personality(void)
{
	return vm_policy()->personality;
}
