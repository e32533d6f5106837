/*
 * vm_check.c - the invariant checker, and the debug bracket that runs it
 * after every call that changed something.
 *
 * The checker needs a moment when no call is half done, for reference counts
 * to balance.  In debug builds every call holds call_gate for reading while
 * it runs, and the checker takes it for writing.  Release builds take no
 * gate in calls: there machvm_check() must only be called when no other
 * call is running.
 *
 * The checker reports what it finds rather than panicking, so that the
 * import (vm_persist.c) can refuse a host that breaks an invariant with the
 * same rules, in every build; machvm_check() turns a finding into a panic.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#ifdef MACHVM_DEBUG
static atomic_int checks_wanted = -1;      /* read by every thread, of every host */
static _Thread_local unsigned checks_paused;

static bool checks_on(void)
{
	int wanted = atomic_load_explicit(&checks_wanted, memory_order_relaxed);
	if (wanted < 0) {
		const char *v = getenv("MACHVM_CHECK");
		wanted = !(v && strcmp(v, "0") == 0);
		atomic_store_explicit(&checks_wanted, wanted, memory_order_relaxed);
	}
	return wanted;
}

void vm_call_enter(void)
{
	pthread_rwlock_rdlock(&HOST.call_gate);
}

void vm_call_exit(bool changed)
{
	pthread_rwlock_unlock(&HOST.call_gate);
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

/* Writes up to 40 entries of t's map after the line why into buf. */
static void dump_map(char *buf, size_t len, struct task *t, const char *why)
{
	size_t used = (size_t)snprintf(buf, len, "%s\n", why);
	int shown = 0;
	for (struct vm_map_entry *e = t->map.store.first; e && used < len && shown < 40; e = e->next, shown++) {
		used += (size_t)snprintf(buf + used, len - used,
		        "  [0x%llx, 0x%llx) prot %d/%d inh %d wired %u flags 0x%x obj %llu off 0x%llx gap 0x%llx\n",
		        (unsigned long long)e->start, (unsigned long long)e->end,
		        e->protection, e->max_protection, e->inheritance, e->wired_count, e->flags,
		        e->object ? (unsigned long long)e->object->id : 0ull,
		        (unsigned long long)e->offset,
		        (unsigned long long)vm_map_entry_gap(&t->map.store, e));
	}
}

/*
 * Who sees which bytes of an object.  Every reference to an object (an
 * entry mapping it, an object shadowing it) sees a window of it; the
 * engine never lets two references whose windows overlap disagree about
 * whether a write through one shows in the other:
 *   - a private entry (an object, neither is_shared nor needs_copy) is the
 *     only reference that sees its window: nothing else maps those bytes
 *     (its own clipped pieces map other windows of the object);
 *   - a shared entry (is_shared) sees its window only with other shared
 *     entries: no copy-on-write entry and no shadowing object reads bytes
 *     that it writes.
 * Copy-on-write entries (needs_copy) and shadowing objects may overlap one
 * another freely: none of them writes the object.
 */
enum share_kind { SK_PRIVATE, SK_SHARED, SK_COPY, SK_SHADOW, SK_KINDS };

struct share_ref {
	uint64_t object;                /* the object's id */
	vm_offset_t start, end;         /* the window of it seen */
	uint64_t who;                   /* the task; for SK_SHADOW the shadowing object */
	vm_address_t at, at_end;        /* the entry's range (not SK_SHADOW) */
	enum share_kind kind;
};

struct share_refs {
	struct share_ref *v;
	size_t n, cap;
};

static int share_ref_add(struct share_refs *r, struct share_ref x)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct share_ref *v = realloc(r->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = x;
	return 0;
}

static int cmp_share_ref(const void *a, const void *b)
{
	const struct share_ref *x = a, *y = b;
	if (x->object != y->object)
		return x->object < y->object ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* "task 2 region [0x10000, 0x12000)" or "object 7, which shadows it,". */
static void share_ref_name(char *buf, size_t len, const struct share_ref *x)
{
	if (x->kind == SK_SHADOW)
		snprintf(buf, len, "object %llu, which shadows it,", (unsigned long long)x->who);
	else
		snprintf(buf, len, "task %llu region [0x%llx, 0x%llx)", (unsigned long long)x->who,
		         (unsigned long long)x->at, (unsigned long long)x->at_end);
}

/* Describes into why the clash of a and b, whose windows overlap. */
static void share_clash(char *why, size_t len, const struct share_ref *a, const struct share_ref *b)
{
	/* The writer first, a private one before a shared one (the kinds are
	 * in that order), else the one met first. */
	if (b->kind < a->kind) {
		const struct share_ref *t = a;
		a = b;
		b = t;
	}
	char an[96], bn[96];
	share_ref_name(an, sizeof an, a);
	share_ref_name(bn, sizeof bn, b);
	vm_offset_t s = a->start > b->start ? a->start : b->start;
	vm_offset_t e = a->end < b->end ? a->end : b->end;
	static const char *const how[SK_KINDS] = {
		[SK_PRIVATE] = "writes them as private too",
		[SK_SHARED] = "writes them as shared",
		[SK_COPY] = "maps them copy-on-write (needs_copy)",
		[SK_SHADOW] = "reads them",
	};
	snprintf(why, len, "object %llu, bytes [0x%llx, 0x%llx): %s writes them as %s, yet %s %s",
	         (unsigned long long)a->object, (unsigned long long)s, (unsigned long long)e, an,
	         a->kind == SK_PRIVATE ? "private (neither shared nor needs_copy)" : "shared",
	         bn, how[b->kind]);
}

/*
 * Sorted by object and window start, a sweep finds any two overlapping
 * windows that may not overlap: for each kind it keeps the reference
 * reaching furthest, and a window clashes with an earlier one exactly when
 * it starts before that one's end.
 */
static bool share_check(struct share_refs *r, char *why, size_t len)
{
	if (r->n > 1)
		qsort(r->v, r->n, sizeof *r->v, cmp_share_ref);
	const struct share_ref *far[SK_KINDS];
	for (size_t i = 0; i < r->n; i++) {
		const struct share_ref *x = &r->v[i];
		if (i == 0 || x->object != r->v[i - 1].object)
			memset(far, 0, sizeof far);
		/* Which earlier kinds x may not overlap. */
		bool clash_with[SK_KINDS] = { false };
		switch (x->kind) {
		case SK_PRIVATE:
			clash_with[SK_PRIVATE] = clash_with[SK_SHARED] = true;
			clash_with[SK_COPY] = clash_with[SK_SHADOW] = true;
			break;
		case SK_SHARED:
			clash_with[SK_PRIVATE] = clash_with[SK_COPY] = clash_with[SK_SHADOW] = true;
			break;
		default:
			clash_with[SK_PRIVATE] = clash_with[SK_SHARED] = true;
			break;
		}
		for (int k = 0; k < SK_KINDS; k++) {
			if (clash_with[k] && far[k] && far[k]->end > x->start) {
				share_clash(why, len, far[k], x);
				return false;
			}
		}
		if (!far[x->kind] || far[x->kind]->end < x->end)
			far[x->kind] = x;
	}
	return true;
}

/* Adds n to the references counted for object id. */
static int count_ref(struct vm_page_table *refs, uint64_t id, uintptr_t n)
{
	uintptr_t had = (uintptr_t)vm_page_table_remove(refs, id);
	return had + n ? vm_page_table_put(refs, id, (void *)(had + n)) : 0;
}

/* An open batch's reference: counted as a reference and as a pin. */
struct batch_count {
	struct vm_page_table *refs, *pins;
	bool failed;
};

static void count_batch_ref(struct vm_object *o, void *arg)
{
	struct batch_count *c = arg;
	if (count_ref(c->refs, o->id, 1) != 0 || count_ref(c->pins, o->id, 1) != 0)
		c->failed = true;
}

kern_return_t vm_check_all_locked(char *why, size_t len, task_t *culprit)
{
	struct vm_page_table refs = VM_PAGE_TABLE_INIT, pins = VM_PAGE_TABLE_INIT;
	struct share_refs shares = { NULL, 0, 0 };
	kern_return_t kr = KERN_FAILURE;
	uint64_t entries = 0, live_entries = 0, live_size = 0, live_wired = 0;

	*culprit = TASK_NULL;
	for (size_t id = 1; id < task_table_size(); id++) {
		struct task *t = task_table_at(id);
		if (t == NULL)
			continue;
		entries += t->map.store.nentries + t->map.nfree;
		live_entries += t->map.store.nentries;
		live_size += t->map.size;
		live_wired += t->map.wired_pages;
		const char *bad = vm_map_check(&t->map);
		if (bad) {
			snprintf(why, len, "task %u: %s", t->id, bad);
			*culprit = t->id;
			goto out;
		}
		if (t->domain == NULL) {
			snprintf(why, len, "task %u: no domain", t->id);
			*culprit = t->id;
			goto out;
		}
		for (struct vm_map_entry *e = t->map.store.first; e; e = e->next) {
			if (e->object == NULL)
				continue;
			/* What makes a domain's lock enough for its tasks' calls. */
			if (vm_domain_end(e->object->domain) != vm_domain_end(t->domain)) {
				snprintf(why, len, "task %u: the object %llu at 0x%llx is of another domain",
				         t->id, (unsigned long long)e->object->id,
				         (unsigned long long)e->start);
				*culprit = t->id;
				goto out;
			}
			if (count_ref(&refs, e->object->id, 1) != 0)
				goto no_memory;
			/* An object with one reference shares nothing. */
			if (e->object->ref_count < 2)
				continue;
			struct share_ref x = {
				e->object->id, e->offset, e->offset + (e->end - e->start), t->id,
				e->start, e->end,
				(e->flags & VME_NEEDS_COPY) ? SK_COPY :
				(e->flags & VME_IS_SHARED) ? SK_SHARED : SK_PRIVATE
			};
			if (share_ref_add(&shares, x) != 0)
				goto no_memory;
		}
	}

	struct batch_count bc = { &refs, &pins, false };
	vm_batch_each_ref(count_batch_ref, &bc);
	if (bc.failed)
		goto no_memory;

	uint64_t objects = 0, pages = 0;
	for (struct vm_object *o = HOST.object_all; o; o = o->all_next) {
		objects++;
		pages += o->pages.count;
		if (vm_object_find(o->id) != o) {
			snprintf(why, len, "object %llu: not found by its id", (unsigned long long)o->id);
			goto out;
		}
		if (o->all_next == NULL && !vm_object_ids_check()) {
			snprintf(why, len, "the ordered list of object ids misses a live id or is out of order");
			goto out;
		}
		uint32_t children = 0;
		for (struct vm_object *c = o->first_child; c; c = c->sib_next) {
			if (vm_domain_end(c->domain) != vm_domain_end(o->domain)) {
				snprintf(why, len, "object %llu is shadowed by %llu of another domain",
				         (unsigned long long)o->id, (unsigned long long)c->id);
				goto out;
			}
			if (c->shadow != o) {
				snprintf(why, len, "object %llu lists child %llu that does not shadow it",
				         (unsigned long long)o->id, (unsigned long long)c->id);
				goto out;
			}
			children++;
		}
		if (children != o->nchildren) {
			snprintf(why, len, "object %llu: %u children listed, %u counted",
			         (unsigned long long)o->id, children, o->nchildren);
			goto out;
		}
		if (count_ref(&refs, o->id, children) != 0)
			goto no_memory;
		struct vm_object *s = o->shadow;
		if (s == NULL)
			continue;
		if (o->shadow_offset > s->size || o->size > s->size - o->shadow_offset) {
			snprintf(why, len, "object %llu: its window [0x%llx, 0x%llx) runs past the end "
			         "of its shadow %llu (size 0x%llx)", (unsigned long long)o->id,
			         (unsigned long long)o->shadow_offset,
			         (unsigned long long)(o->shadow_offset + o->size),
			         (unsigned long long)s->id, (unsigned long long)s->size);
			goto out;
		}
		if (s->ref_count >= 2) {
			struct share_ref x = {
				s->id, o->shadow_offset, o->shadow_offset + o->size, o->id, 0, 0, SK_SHADOW
			};
			if (share_ref_add(&shares, x) != 0)
				goto no_memory;
		}
	}
	for (struct vm_object *o = HOST.object_all; o; o = o->all_next) {
		uintptr_t found = (uintptr_t)vm_page_table_get(&refs, o->id);
		if (found != o->ref_count) {
			snprintf(why, len, "object %llu: reference count %u, but %llu references found",
			         (unsigned long long)o->id, o->ref_count, (unsigned long long)found);
			goto out;
		}
		uintptr_t pinned = (uintptr_t)vm_page_table_get(&pins, o->id);
		if (pinned != o->pins) {
			snprintf(why, len, "object %llu: %u pins, but open batches hold %llu references",
			         (unsigned long long)o->id, o->pins, (unsigned long long)pinned);
			goto out;
		}
		if (o->ref_count == 1 && o->nchildren == 1) {
			snprintf(why, len, "object %llu: only its shadow refers to it, yet it was not collapsed",
			         (unsigned long long)o->id);
			goto out;
		}
	}
	if (objects != vm_object_stat(objects)) {
		snprintf(why, len, "%llu objects live, %llu counted", (unsigned long long)objects,
		         (unsigned long long)vm_object_stat(objects));
		goto out;
	}
	if (pages != vm_object_stat(resident_pages)) {
		snprintf(why, len, "%llu pages resident, %llu counted", (unsigned long long)pages,
		         (unsigned long long)vm_object_stat(resident_pages));
		goto out;
	}
	/* The memory account: every page, object, entry (spares cached by
	 * live maps included; dead tasks keep none), task struct and what
	 * open batches saved, and nothing else, with no call running to hold a reservation. */
	uint64_t charged = pages * vm_page_size + objects * sizeof(struct vm_object) +
	                   entries * sizeof(struct vm_map_entry) +
	                   task_struct_count() * sizeof(struct task) + vm_batch_charged() +
	                   atomic_load(&HOST.domains) * sizeof(struct vm_domain);
	if (charged != vm_mem_used()) {
		snprintf(why, len, "memory account: %llu bytes charged, %llu held",
		         (unsigned long long)vm_mem_used(), (unsigned long long)charged);
		goto out;
	}
	struct vm_map_totals tot;
	vm_map_totals(&tot);
	if (tot.entries != live_entries || tot.size != live_size || tot.wired_pages != live_wired) {
		snprintf(why, len, "host totals: %llu entries, %llu bytes, %llu wired pages counted; "
		         "the live maps hold %llu, %llu, %llu", (unsigned long long)tot.entries,
		         (unsigned long long)tot.size, (unsigned long long)tot.wired_pages,
		         (unsigned long long)live_entries, (unsigned long long)live_size,
		         (unsigned long long)live_wired);
		goto out;
	}
	/* Last: the windows are read knowing every reference count is right. */
	if (!share_check(&shares, why, len))
		goto out;
	kr = KERN_SUCCESS;
	goto out;
no_memory:
	snprintf(why, len, "the invariant checker ran out of memory");
	kr = KERN_RESOURCE_SHORTAGE;
out:
	vm_page_table_destroy(&refs);
	vm_page_table_destroy(&pins);
	free(shares.v);
	return kr;
}

kern_return_t machvm_check(void)
{
	static char msg[8192];
	char why[512];
	task_t culprit;

	pthread_rwlock_wrlock(&HOST.call_gate);
#ifdef MACHVM_DEBUG
	/* Every call that changes anything holds the gate: all shut out. */
	struct task **tasks = NULL;
	size_t ntasks = 0;
#else
	/* Release builds shut no call out at the gate: every task locked
	 * and the batches' lock keep every map and object still. */
	size_t ntasks;
	struct task **tasks = task_lock_world(&ntasks);
	if (tasks == NULL) {
		pthread_rwlock_unlock(&HOST.call_gate);
		return KERN_RESOURCE_SHORTAGE;
	}
#endif
	vm_batch_lock();
	vm_domain_freeze(true);
	kern_return_t kr = vm_check_all_locked(why, sizeof why, &culprit);
	if (kr == KERN_FAILURE) {
		struct task *t = culprit ? task_table_at(culprit) : NULL;
		if (t)
			dump_map(msg, sizeof msg, t, why);
		else
			snprintf(msg, sizeof msg, "%s", why);
		machvm_panic("%s", msg);
	}
	vm_domain_freeze(false);
	vm_batch_unlock();
	if (tasks)
		task_unlock_world(tasks, ntasks);
	pthread_rwlock_unlock(&HOST.call_gate);
	return kr;
}
