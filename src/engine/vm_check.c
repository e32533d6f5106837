/*
 * vm_check.c - the invariant checker, and the debug bracket that runs it
 * after every call that changed something.
 *
 * The checker needs a moment when no call is half done, for reference counts
 * to balance.  In debug builds every call holds call_gate for reading while
 * it runs, and the checker takes it for writing.  Release builds take no
 * gate in calls: there machvm_check() must only be called when no other
 * call is running.
 */
#include "task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_rwlock_t call_gate = PTHREAD_RWLOCK_INITIALIZER;

#ifdef MACHVM_DEBUG
static int checks_wanted = -1;
static _Thread_local unsigned checks_paused;

static bool checks_on(void)
{
	if (checks_wanted < 0) {
		const char *v = getenv("MACHVM_CHECK");
		checks_wanted = !(v && strcmp(v, "0") == 0);
	}
	return checks_wanted;
}

void vm_call_enter(void)
{
	pthread_rwlock_rdlock(&call_gate);
}

void vm_call_exit(bool changed)
{
	pthread_rwlock_unlock(&call_gate);
	if (changed && checks_paused == 0 && checks_on())
		(void)machvm_check();
}

void vm_check_pause(bool pause)
{
	if (pause)
		checks_paused++;
	else
		checks_paused--;
}
#else
void vm_call_enter(void)
{
}

void vm_call_exit(bool changed)
{
	(void)changed;
}

void vm_check_pause(bool pause)
{
	(void)pause;
}
#endif

/* Writes up to 40 entries of m around the problem into buf. */
static void dump_map(char *buf, size_t len, struct task *t, const char *why)
{
	size_t used = (size_t)snprintf(buf, len, "task %u: %s\n", t->id, why);
	int shown = 0;
	for (struct vm_map_entry *e = t->map.store.first; e && used < len && shown < 40; e = e->next, shown++) {
		used += (size_t)snprintf(buf + used, len - used,
		        "  [0x%llx, 0x%llx) prot %d/%d inh %d wired %u flags 0x%x obj %llu off 0x%llx gap 0x%llx\n",
		        (unsigned long long)e->start, (unsigned long long)e->end,
		        e->protection, e->max_protection, e->inheritance, e->wired_count, e->flags,
		        e->object ? (unsigned long long)e->object->id : 0ull,
		        (unsigned long long)e->offset, (unsigned long long)e->gap);
	}
}

kern_return_t vm_check_all_locked(void)
{
	static char msg[8192];
	struct vm_page_table refs = VM_PAGE_TABLE_INIT;

	for (size_t id = 1; id < task_table_size(); id++) {
		struct task *t = task_table_at(id);
		if (t == NULL)
			continue;
		const char *why = vm_map_check(&t->map);
		if (why) {
			dump_map(msg, sizeof msg, t, why);
			machvm_panic("%s", msg);
		}
		for (struct vm_map_entry *e = t->map.store.first; e; e = e->next) {
			if (e->object == NULL)
				continue;
			uintptr_t n = (uintptr_t)vm_page_table_remove(&refs, e->object->id);
			if (vm_page_table_put(&refs, e->object->id, (void *)(n + 1)) != 0)
				goto no_memory;
		}
	}

	uint64_t objects = 0, pages = 0;
	for (struct vm_object *o = vm_object_all; o; o = o->all_next) {
		objects++;
		pages += o->pages.count;
		uint32_t children = 0;
		for (struct vm_object *c = o->first_child; c; c = c->sib_next) {
			if (c->shadow != o)
				machvm_panic("object %llu lists child %llu that does not shadow it",
				             (unsigned long long)o->id, (unsigned long long)c->id);
			children++;
		}
		if (children != o->nchildren)
			machvm_panic("object %llu: %u children listed, %u counted",
			             (unsigned long long)o->id, children, o->nchildren);
		uintptr_t n = (uintptr_t)vm_page_table_remove(&refs, o->id);
		if (vm_page_table_put(&refs, o->id, (void *)(n + children)) != 0)
			goto no_memory;
	}
	for (struct vm_object *o = vm_object_all; o; o = o->all_next) {
		uintptr_t found = (uintptr_t)vm_page_table_get(&refs, o->id);
		if (found != o->ref_count)
			machvm_panic("object %llu: reference count %u, but %llu references found",
			             (unsigned long long)o->id, o->ref_count, (unsigned long long)found);
		if (o->ref_count == 1 && o->nchildren == 1)
			machvm_panic("object %llu: only its shadow refers to it, yet it was not collapsed",
			             (unsigned long long)o->id);
	}
	if (objects != vm_object_stats.objects)
		machvm_panic("%llu objects live, %llu counted", (unsigned long long)objects,
		             (unsigned long long)vm_object_stats.objects);
	if (pages != vm_object_stats.resident_pages)
		machvm_panic("%llu pages resident, %llu counted", (unsigned long long)pages,
		             (unsigned long long)vm_object_stats.resident_pages);
	vm_page_table_destroy(&refs);
	return KERN_SUCCESS;
no_memory:
	vm_page_table_destroy(&refs);
	return KERN_RESOURCE_SHORTAGE;
}

kern_return_t machvm_check(void)
{
	pthread_rwlock_wrlock(&call_gate);
	vm_object_lock_acquire();
	kern_return_t kr = vm_check_all_locked();
	vm_object_lock_release();
	pthread_rwlock_unlock(&call_gate);
	return kr;
}
