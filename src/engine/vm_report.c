/*
 * vm_report.c - change reports: the hook, the per-thread record, the names,
 * and the map generations.
 *
 * Each thread has one record and one change buffer, reused call after call,
 * so a call with a hook set allocates only when it makes more changes than
 * any call on that thread before it.  A call that made unusually many (a
 * fork of a big map, a deallocate of many entries) leaves a big buffer
 * behind: it is freed after the hook has run, so what a thread keeps stays
 * small.  A thread that ends frees its buffer through a key destructor.
 */
#include "vm_report.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

#define REPORT_FIRST_CAP 32
#define REPORT_KEEP_CAP 256     /* a bigger buffer is freed after its call */


_Thread_local struct vm_report_rec *vm_report_cur;
static _Thread_local struct vm_report_rec rec;
static _Thread_local unsigned int quiet;

static pthread_once_t buf_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t buf_key;
static bool buf_key_ok;

static void buf_key_make(void)
{
	buf_key_ok = pthread_key_create(&buf_key, free) == 0;
}

/* The thread's buffer moved (or went): the key follows it, for thread exit. */
static void buf_note(void)
{
	pthread_once(&buf_key_once, buf_key_make);
	if (buf_key_ok)
		(void)pthread_setspecific(buf_key, rec.buf);
}

void machvm_set_report_hook(machvm_report_hook_t hook, void *arg)
{
	HOST.report_hook_arg = arg;
	atomic_store_explicit(&vm_host_head()->report_hook, hook, memory_order_relaxed);
}

void vm_report_quiet(bool on)
{
	if (on)
		quiet++;
	else
		quiet--;
}

struct machvm_call_args *vm_report_begin_hooked(machvm_call_t call)
{
	/* Every call ends its report on every path: none is open here. */
	VM_ASSERT(vm_report_cur == NULL);
	if (quiet) {
		vm_report_cur = NULL;
		return NULL;
	}
	memset(&rec.r, 0, sizeof rec.r);
	rec.r.call = call;
	rec.maps[0] = rec.maps[1] = NULL;
	rec.n = 0;
	vm_report_cur = &rec;
	return &rec.r.args;
}

void vm_report_add_map(struct vm_map *m)
{
	struct vm_report_rec *c = vm_report_cur;
	for (size_t i = 0; i < c->r.ntasks; i++)
		if (c->maps[i] == m)
			return;
	if (c->r.ntasks < 2)
		c->maps[c->r.ntasks++] = m;
}

/* Joins ch into the last change if report.h says they are reported as one. */
static bool join(struct machvm_change *last, const struct machvm_change *ch)
{
	if (last->kind != ch->kind || last->task != ch->task)
		return false;
	switch (ch->kind) {
	case MACHVM_CHANGE_REMOVED:
		last->count += ch->count;
		/* fall through */
	case MACHVM_CHANGE_ATTRIBUTES:
	case MACHVM_CHANGE_CONTENTS:
		if (ch->start < last->start)
			last->start = ch->start;
		if (ch->end > last->end)
			last->end = ch->end;
		return true;
	default:
		return false;
	}
}

void vm_report_add(machvm_change_kind_t kind, task_t task, vm_address_t start,
                   vm_address_t end, vm_address_t at, vm_address_t to, uint64_t count,
                   uint64_t object, uint64_t object2)
{
	struct vm_report_rec *c = vm_report_cur;
	if (c->r.incomplete)
		return;
	struct machvm_change ch = {
		.kind = kind, .task = task, .start = start, .end = end, .at = at, .to = to,
		.count = count, .object = object, .object2 = object2,
	};
	if (c->n > 0 && join(&c->buf[c->n - 1], &ch))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : REPORT_FIRST_CAP;
		struct machvm_change *b = realloc(c->buf, cap * sizeof *b);
		if (b == NULL) {
			/* The reader is told, and assumes the worst of tasks[]. */
			c->r.incomplete = TRUE;
			return;
		}
		c->buf = b;
		c->cap = cap;
		buf_note();
	}
	c->buf[c->n++] = ch;
}

void vm_report_end_hooked(kern_return_t kr)
{
	struct vm_report_rec *c = vm_report_cur;
	/* Nothing this call does from here on belongs to its report. */
	vm_report_cur = NULL;
	c->r.kr = kr;
	for (size_t i = 0; i < c->r.ntasks; i++) {
		c->r.tasks[i] = c->maps[i]->task;
		c->r.gens[i] = c->maps[i]->gen;
	}
	c->r.nchanges = c->n;
	c->r.changes = c->n ? c->buf : NULL;
	machvm_report_hook_t hook = atomic_load_explicit(&vm_host_head()->report_hook,
	                                                  memory_order_relaxed);
	if (hook)
		hook(HOST.report_hook_arg, &c->r);
	c->r.changes = NULL;
	if (c->cap > REPORT_KEEP_CAP) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
		buf_note();
	}
	c->n = 0;
}

bool vm_report_end_if_changed(kern_return_t kr)
{
	struct vm_report_rec *c = vm_report_cur;
	if (c == NULL)
		return false;
	if (c->n == 0 && !c->r.incomplete) {
		vm_report_cur = NULL;
		return false;
	}
	vm_report_end_hooked(kr);
	return true;
}

kern_return_t machvm_task_map_gen(task_t task, uint64_t *gen)
{
	if (gen == NULL)
		return KERN_INVALID_ARGUMENT;
	struct task *t = task_lookup(task);
	if (t == NULL || !task_lock_live(t, task))
		return KERN_INVALID_ARGUMENT;
	*gen = t->map.gen;
	task_unlock(t);
	return KERN_SUCCESS;
}

const char *machvm_call_name(machvm_call_t call)
{
	switch (call) {
	case MACHVM_CALL_TASK_CREATE: return "task_create";
	case MACHVM_CALL_TASK_TERMINATE: return "task_terminate";
	case MACHVM_CALL_VM_ALLOCATE: return "vm_allocate";
	case MACHVM_CALL_VM_DEALLOCATE: return "vm_deallocate";
	case MACHVM_CALL_VM_PROTECT: return "vm_protect";
	case MACHVM_CALL_VM_INHERIT: return "vm_inherit";
	case MACHVM_CALL_VM_MAP_INHERIT: return "vm_map_inherit";
	case MACHVM_CALL_VM_WIRE: return "vm_wire";
	case MACHVM_CALL_VM_MACHINE_ATTRIBUTE: return "vm_machine_attribute";
	case MACHVM_CALL_VM_REMAP: return "vm_remap";
	case MACHVM_CALL_VM_WRITE: return "vm_write";
	case MACHVM_CALL_VM_COPY: return "vm_copy";
	case MACHVM_CALL_BATCH_UNDO: return "machvm_batch_undo";
	case MACHVM_CALL_BATCH_COMMIT: return "machvm_batch_commit";
	default: return "unknown";
	}
}

const char *machvm_change_name(machvm_change_kind_t kind)
{
	switch (kind) {
	case MACHVM_CHANGE_SPLIT: return "split";
	case MACHVM_CHANGE_MERGED: return "merged";
	case MACHVM_CHANGE_MOVED: return "moved";
	case MACHVM_CHANGE_ADDED: return "added";
	case MACHVM_CHANGE_REMOVED: return "removed";
	case MACHVM_CHANGE_ATTRIBUTES: return "attributes";
	case MACHVM_CHANGE_CONTENTS: return "contents";
	case MACHVM_CHANGE_TASK_CREATED: return "task_created";
	case MACHVM_CHANGE_TASK_TERMINATED: return "task_terminated";
	case MACHVM_CHANGE_OBJECT_CREATED: return "object_created";
	case MACHVM_CHANGE_OBJECT_SHADOWED: return "object_shadowed";
	case MACHVM_CHANGE_OBJECT_COLLAPSED: return "object_collapsed";
	case MACHVM_CHANGE_OBJECT_BYPASSED: return "object_bypassed";
	case MACHVM_CHANGE_OBJECT_DESTROYED: return "object_destroyed";
	default: return "unknown";
	}
}
