/*
 * ctl.c - see ctl.h.
 *
 * Data flows one way: a line -> one parse into a struct fs_cmd -> one run
 * function -> one engine call -> one kern_return_t -> one errno (errors.c).
 * The command table below is the only list of verbs: the ctl files' usage
 * text, their parsing and the layout dump all read it.
 */
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <machvm/machvm.h>

#include "cache.h"
#include "errors.h"
#include "log.h"
#include "render.h"
#include "taskinfo.h"

/* The most words a command line may have (remap has the most: 7). */
#define MAX_WORDS 16

/* A write whose working copies take this much gives the memory back after. */
#define BULK_WRITE (256 * 1024)

/* ---- run functions --------------------------------------------------- */

/*
 * The engine call as made, for last_error and the -d log: formatted only
 * when it will be shown (the call failed, or the daemon logs).
 */
static bool
want_call(kern_return_t kr)
{
	return kr != KERN_SUCCESS || fs_log_debugging();
}

static void __attribute__((format(printf, 2, 3)))
call_text(struct fs_run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->call, sizeof r->call, fmt, ap);
	va_end(ap);
}

/* Ends a run: KERN_SUCCESS -> 0 with "ok" unless a result was set, else -errno. */
static int
finish(struct fs_run *r, kern_return_t kr)
{
	r->kr = kr;
	if (kr != KERN_SUCCESS)
		return -fs_errno(kr);
	if (r->result[0] == '\0')
		memcpy(r->result, "ok\n", 4);
	return 0;
}

/*
 * Calls that can move a task's region boundaries run under the task's
 * change lock (striped by id), each with the bookkeeping after it: so a
 * fork can compare the parent's region count before and after it (see
 * run_fork).  The engine serializes calls on one task anyway.
 */
#define CHANGE_STRIPES 64

static pthread_mutex_t change_locks[CHANGE_STRIPES];
static pthread_once_t change_once = PTHREAD_ONCE_INIT;

static void
change_locks_init(void)
{
	for (size_t i = 0; i < CHANGE_STRIPES; i++)
		pthread_mutex_init(&change_locks[i], NULL);
}

static void
lock_tasks(task_t a, task_t b)
{
	size_t x = a % CHANGE_STRIPES, y = b % CHANGE_STRIPES;

	pthread_once(&change_once, change_locks_init);
	if (x > y) {
		size_t t = x;

		x = y;
		y = t;
	}
	pthread_mutex_lock(&change_locks[x]);
	if (y != x)
		pthread_mutex_lock(&change_locks[y]);
}

static void
unlock_tasks(task_t a, task_t b)
{
	size_t x = a % CHANGE_STRIPES, y = b % CHANGE_STRIPES;

	if (y != x)
		pthread_mutex_unlock(&change_locks[y]);
	pthread_mutex_unlock(&change_locks[x]);
}

/*
 * After a call that may have moved region boundaries of task in
 * [addr, addr + size] (whatever it returned: a failed vm_wire can have
 * clipped): the kernel's stale names go to ctx's list (cache.h).
 */
static void
changed(const struct fs_ctx *ctx, task_t task, vm_address_t addr, vm_size_t size)
{
	vm_address_t end = addr + size < addr ? MACHVM_USER_MAX : addr + size;

	fs_cache_changed(task, addr, end, ctx->inval);
}

bool
fs_may_change(task_t task, const struct fs_ctx *ctx)
{
	uid_t uid;
	gid_t gid;

	if (ctx->uid == 0)
		return true;
	fs_taskinfo_owner(task, &uid, &gid);
	return uid == ctx->uid;
}

static int
run_create(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
           struct fs_run *r)
{
	task_t child;
	kern_return_t kr;

	(void)n;
	(void)c;
	fs_taskinfo_creating(true);
	kr = task_create(TASK_NULL, FALSE, &child);
	if (kr == KERN_SUCCESS) {
		if (fs_taskinfo_add(child, ctx->uid, ctx->gid) != 0)
			fs_error("task %u: no memory to record its owner", (unsigned)child);
		snprintf(r->result, sizeof r->result, "%u\n", (unsigned)child);
	}
	fs_taskinfo_creating(false);
	if (want_call(kr))
		call_text(r, "task_create(TASK_NULL, inherit_memory FALSE)");
	return finish(r, kr);
}

/* The number of regions of a live task, or -1. */
static long long
region_count(task_t task)
{
	size_t n;

	return machvm_task_region_count(task, &n) == KERN_SUCCESS ? (long long)n : -1;
}

/*
 * Forking shares the parent's memory with the child (inheritance share), so
 * it counts as changing the parent: only its owner may.
 *
 * Fork coalesces the parent's whole map, so any region directory of the
 * parent the kernel holds could have gone.  Fork only ever merges the
 * parent's regions, so when their count is the same before and after (the
 * change lock keeps other writers out meanwhile), no start came or went:
 * nothing to check, and the copy of the starts stays good.  Only when the
 * count dropped are the held names checked one by one.
 */
static int
run_fork(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
         struct fs_run *r)
{
	long long before = -1;
	task_t child;
	kern_return_t kr;

	(void)n;
	if (machvm_task_alive(c->task) && !fs_may_change(c->task, ctx)) {
		snprintf(r->why, sizeof r->why, "task %u belongs to another user",
		         (unsigned)c->task);
		return -EACCES;
	}
	lock_tasks(c->task, c->task);
	if (fs_taskinfo_known_count(c->task) > 0) {
		uint64_t gen;
		struct fs_starts *list = fs_taskinfo_starts(c->task, &gen);

		/* The listing's copy of the starts, when current, is the count. */
		before = list ? (long long)list->count : region_count(c->task);
		fs_starts_put(list);
	}
	fs_taskinfo_creating(true);
	kr = task_create(c->task, TRUE, &child);
	if (kr == KERN_SUCCESS) {
		if (fs_taskinfo_add(child, ctx->uid, ctx->gid) != 0)
			fs_error("task %u: no memory to record its owner", (unsigned)child);
		snprintf(r->result, sizeof r->result, "%u\n", (unsigned)child);
	}
	fs_taskinfo_creating(false);
	/* Same count: no start came or went, the parent's names all hold. */
	if (before < 0 || region_count(c->task) != before)
		changed(ctx, c->task, 0, MACHVM_USER_MAX);
	unlock_tasks(c->task, c->task);
	if (want_call(kr))
		call_text(r, "task_create(task %u, inherit_memory TRUE)", (unsigned)c->task);
	return finish(r, kr);
}

static int
run_allocate(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
             struct fs_run *r)
{
	vm_address_t asked = c->anywhere ? 0 : c->addr, a = asked;
	kern_return_t kr;

	lock_tasks(n->task, n->task);
	kr = vm_allocate(n->task, &a, c->size, c->anywhere);
	if (kr == KERN_SUCCESS)
		changed(ctx, n->task, a, c->size);
	unlock_tasks(n->task, n->task);
	if (kr == KERN_SUCCESS)
		snprintf(r->result, sizeof r->result, "0x%016llx\n", (unsigned long long)a);
	if (want_call(kr))
		call_text(r, "vm_allocate(task %u, 0x%llx, %llu, %s)", (unsigned)n->task,
		          (unsigned long long)asked, (unsigned long long)c->size,
		          c->anywhere ? "anywhere" : "fixed");
	return finish(r, kr);
}

static int
run_deallocate(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
               struct fs_run *r)
{
	kern_return_t kr;

	lock_tasks(n->task, n->task);
	kr = vm_deallocate(n->task, c->addr, c->size);
	changed(ctx, n->task, c->addr, c->size);
	unlock_tasks(n->task, n->task);
	if (want_call(kr))
		call_text(r, "vm_deallocate(task %u, 0x%llx, %llu)", (unsigned)n->task,
		          (unsigned long long)c->addr, (unsigned long long)c->size);
	return finish(r, kr);
}

static int
run_protect(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
            struct fs_run *r)
{
	kern_return_t kr;
	char prot[4];

	lock_tasks(n->task, n->task);
	kr = vm_protect(n->task, c->addr, c->size, c->set_max, c->prot);
	changed(ctx, n->task, c->addr, c->size);
	unlock_tasks(n->task, n->task);
	if (want_call(kr)) {
		fs_prot_letters(c->prot, prot);
		call_text(r, "vm_protect(task %u, 0x%llx, %llu, set_maximum %s, %s)",
		          (unsigned)n->task, (unsigned long long)c->addr,
		          (unsigned long long)c->size, c->set_max ? "TRUE" : "FALSE", prot);
	}
	return finish(r, kr);
}

static int
run_inherit(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
            struct fs_run *r)
{
	kern_return_t kr;

	lock_tasks(n->task, n->task);
	kr = vm_inherit(n->task, c->addr, c->size, c->inherit);
	changed(ctx, n->task, c->addr, c->size);
	unlock_tasks(n->task, n->task);
	if (want_call(kr))
		call_text(r, "vm_inherit(task %u, 0x%llx, %llu, %s)", (unsigned)n->task,
		          (unsigned long long)c->addr, (unsigned long long)c->size,
		          fs_inherit_name(c->inherit));
	return finish(r, kr);
}

static int
run_map_inherit(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
                struct fs_run *r)
{
	kern_return_t kr;

	lock_tasks(n->task, n->task);
	kr = vm_map_inherit(n->task, c->addr, c->end, c->inherit);
	if (c->end > c->addr)
		changed(ctx, n->task, c->addr, c->end - c->addr);
	unlock_tasks(n->task, n->task);
	if (want_call(kr))
		call_text(r, "vm_map_inherit(task %u, 0x%llx, 0x%llx, %s)", (unsigned)n->task,
		          (unsigned long long)c->addr, (unsigned long long)c->end,
		          fs_inherit_name(c->inherit));
	return finish(r, kr);
}

/* Only root and the mounting user hold the privileged host port; anyone
 * else's request goes to the engine with the ordinary one, which refuses it
 * (KERN_INVALID_HOST -> EPERM), so the engine stays the one judge. */
static int
run_wire(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
         struct fs_run *r)
{
	host_priv_t host = ctx->privileged ? host_priv_self() : mach_host_self();
	kern_return_t kr;
	char prot[4];

	lock_tasks(n->task, n->task);
	kr = vm_wire(host, n->task, c->addr, c->size, c->prot);
	changed(ctx, n->task, c->addr, c->size);
	unlock_tasks(n->task, n->task);
	if (want_call(kr)) {
		fs_prot_letters(c->prot, prot);
		call_text(r, "vm_wire(%s, task %u, 0x%llx, %llu, %s)",
		          ctx->privileged ? "host_priv_self()" : "mach_host_self()",
		          (unsigned)n->task, (unsigned long long)c->addr,
		          (unsigned long long)c->size, prot);
	}
	return finish(r, kr);
}

static int
run_attr(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
         struct fs_run *r)
{
	vm_machine_attribute_val_t value = c->value;
	kern_return_t kr;

	lock_tasks(n->task, n->task);
	kr = vm_machine_attribute(n->task, c->addr, c->size, c->attr, &value);
	/* A flush counts on whole regions without clipping them: the region
	 * after the range may merge into the last one (as for remap's source). */
	if (c->value != MATTR_VAL_GET)
		fs_cache_changed_after(n->task, c->addr, c->addr + c->size < c->addr ?
		                       MACHVM_USER_MAX : c->addr + c->size, ctx->inval);
	unlock_tasks(n->task, n->task);
	if (kr == KERN_SUCCESS && c->value == MATTR_VAL_GET)
		snprintf(r->result, sizeof r->result, "%s\n", fs_attr_value_name(value));
	if (want_call(kr))
		call_text(r, "vm_machine_attribute(task %u, 0x%llx, %llu, %u, %d)",
		          (unsigned)n->task, (unsigned long long)c->addr,
		          (unsigned long long)c->size, c->attr, c->value);
	return finish(r, kr);
}

/* Copies bytes only: no region boundary moves. */
static int
run_copy(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
         struct fs_run *r)
{
	kern_return_t kr = vm_copy(n->task, c->addr, c->size, c->dest);

	(void)ctx;
	if (want_call(kr))
		call_text(r, "vm_copy(task %u, 0x%llx, %llu, 0x%llx)", (unsigned)n->task,
		          (unsigned long long)c->addr, (unsigned long long)c->size,
		          (unsigned long long)c->dest);
	return finish(r, kr);
}

/* A sharing remap lets this task write the source's memory, so it needs the
 * source's owner; a copy only reads it, which everyone may. */
static int
run_remap(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
          struct fs_run *r)
{
	const struct fs_remap_args *m = &c->remap;
	vm_address_t a = m->address;
	vm_prot_t cur = VM_PROT_NONE, max = VM_PROT_NONE;
	char curs[4], maxs[4];
	kern_return_t kr;

	if (!m->copy && machvm_task_alive(m->src_task) && !fs_may_change(m->src_task, ctx)) {
		snprintf(r->why, sizeof r->why,
		         "task %u belongs to another user (a copy is allowed, share is not)",
		         (unsigned)m->src_task);
		return -EACCES;
	}
	lock_tasks(n->task, m->src_task);
	kr = vm_remap(n->task, &a, m->size, m->mask, m->anywhere, m->src_task,
	              m->src_addr, m->copy, &cur, &max, m->inherit);
	/* The source's entries change too (shared, or copy-on-write), and are
	 * coalesced as far as the region after the range. */
	fs_cache_changed_after(m->src_task, m->src_addr, m->src_addr + m->size < m->src_addr ?
	                       MACHVM_USER_MAX : m->src_addr + m->size, ctx->inval);
	if (kr == KERN_SUCCESS)
		changed(ctx, n->task, a, m->size);
	unlock_tasks(n->task, m->src_task);
	if (kr == KERN_SUCCESS) {
		fs_prot_letters(cur, curs);
		fs_prot_letters(max, maxs);
		snprintf(r->result, sizeof r->result,
		         "address 0x%016llx cur_protection %s max_protection %s\n",
		         (unsigned long long)a, curs, maxs);
	}
	if (want_call(kr))
		call_text(r, "vm_remap(task %u, 0x%llx, %llu, mask 0x%llx, %s, task %u, 0x%llx, %s, %s)",
		          (unsigned)n->task, (unsigned long long)m->address,
		          (unsigned long long)m->size, (unsigned long long)m->mask,
		          m->anywhere ? "anywhere" : "fixed", (unsigned)m->src_task,
		          (unsigned long long)m->src_addr, m->copy ? "copy" : "share",
		          fs_inherit_name(m->inherit));
	return finish(r, kr);
}

static int
args_remap(char *const *words, size_t n, struct fs_cmd *c, struct fs_why *why)
{
	return fs_parse_remap(words, n, &c->remap, why);
}

/* ---- the command table -------------------------------------------- */

/* Forms of one verb are adjacent; a form with a leading keyword comes first. */
const struct fs_verb fs_verbs[] = {
	{ FS_L_TASKS, "create", "", NULL, run_create, "task_create" },
	{ FS_L_TASKS, "fork", "<parent>", NULL, run_fork, "task_create" },
	{ FS_L_TASK, "allocate", "anywhere <size>", NULL, run_allocate, "vm_allocate" },
	{ FS_L_TASK, "allocate", "<addr> <size>", NULL, run_allocate, "vm_allocate" },
	{ FS_L_TASK, "deallocate", "<addr> <size>", NULL, run_deallocate, "vm_deallocate" },
	{ FS_L_TASK, "protect", "<addr> <size> <prot> [max]", NULL, run_protect, "vm_protect" },
	{ FS_L_TASK, "inherit", "<addr> <size> <inheritance>", NULL, run_inherit, "vm_inherit" },
	{ FS_L_TASK, "map_inherit", "<start> <end> <inheritance>", NULL, run_map_inherit,
	  "vm_map_inherit" },
	{ FS_L_TASK, "wire", "<addr> <size> <access>", NULL, run_wire, "vm_wire" },
	{ FS_L_TASK, "attr", "<addr> <size> <attribute> <value>", NULL, run_attr,
	  "vm_machine_attribute" },
	{ FS_L_TASK, "copy", "<source> <size> <dest>", NULL, run_copy, "vm_copy" },
	{ FS_L_TASK, "remap",
	  "src=<task>:<addr> size=<n> [at=<addr>|anywhere[=<hint>]] [mask=<m>] "
	  "[copy|share] [inherit=<inheritance>]", args_remap, run_remap, "vm_remap" },
};
const size_t fs_nverbs = sizeof fs_verbs / sizeof fs_verbs[0];

static const struct fs_verb *
verb_named(enum fs_level level, const char *name)
{
	for (size_t i = 0; i < fs_nverbs; i++)
		if (fs_verbs[i].level == level && strcmp(fs_verbs[i].verb, name) == 0)
			return &fs_verbs[i];
	return NULL;
}

/* ---- the argument grammar ------------------------------------------ */

enum slot_type { T_ADDR, T_SIZE, T_PROT, T_INHERIT, T_ATTR, T_VALUE, T_TASK };

/* What each "<type>" of an args spec means and which field it fills. */
static const struct slot {
	const char *name;
	enum slot_type type;
	size_t field;
} slots[] = {
	{ "<addr>", T_ADDR, offsetof(struct fs_cmd, addr) },
	{ "<start>", T_ADDR, offsetof(struct fs_cmd, addr) },
	{ "<source>", T_ADDR, offsetof(struct fs_cmd, addr) },
	{ "<end>", T_ADDR, offsetof(struct fs_cmd, end) },
	{ "<dest>", T_ADDR, offsetof(struct fs_cmd, dest) },
	{ "<size>", T_SIZE, offsetof(struct fs_cmd, size) },
	{ "<prot>", T_PROT, offsetof(struct fs_cmd, prot) },
	{ "<access>", T_PROT, offsetof(struct fs_cmd, prot) },
	{ "<inheritance>", T_INHERIT, offsetof(struct fs_cmd, inherit) },
	{ "<attribute>", T_ATTR, offsetof(struct fs_cmd, attr) },
	{ "<value>", T_VALUE, offsetof(struct fs_cmd, value) },
	{ "<parent>", T_TASK, offsetof(struct fs_cmd, task) },
};

/* Parses word as the typed item item into c; -1 with why on failure. */
static int
parse_slot(const char *item, size_t len, const char *word, struct fs_cmd *c,
           struct fs_why *why)
{
	char what[32];

	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
		const struct slot *s = &slots[i];
		void *field = (char *)c + s->field;

		if (strlen(s->name) != len || strncmp(s->name, item, len) != 0)
			continue;
		snprintf(what, sizeof what, "%.*s", (int)(len - 2), item + 1);
		switch (s->type) {
		case T_ADDR:    return fs_parse_number(what, word, (uint64_t *)field, why);
		case T_SIZE:    return fs_parse_size(what, word, (uint64_t *)field, why);
		case T_PROT:    return fs_parse_prot(word, (vm_prot_t *)field, why);
		case T_INHERIT: return fs_parse_inherit(word, (vm_inherit_t *)field, why);
		case T_ATTR:    return fs_parse_attr(word, (vm_machine_attribute_t *)field, why);
		case T_VALUE:   return fs_parse_attr_value(word, (vm_machine_attribute_val_t *)field, why);
		case T_TASK:    return fs_parse_task(what, word, (task_t *)field, why);
		}
	}
	/* An args spec names a type the table above lacks: a bug in fs_verbs. */
	fs_why_set(why, "internal error: unknown argument type '%.*s'", (int)len, item);
	return -1;
}

/* Sets the flag a keyword stands for. */
static void
set_keyword(const char *kw, size_t len, struct fs_cmd *c)
{
	if (len == 8 && strncmp(kw, "anywhere", 8) == 0)
		c->anywhere = true;
	else if (len == 3 && strncmp(kw, "max", 3) == 0)
		c->set_max = true;
}

/* Walks the items of an args spec: p points at each item in turn, len is
 * its length. */
#define FOR_EACH_ITEM(spec, p, len) \
	for (const char *p = (spec); (p = p + strspn(p, " ")), \
	     (len = strcspn(p, " ")), *p; p += len)

void
fs_verb_arg_count(const struct fs_verb *v, unsigned *min, unsigned *max)
{
	size_t len;

	*min = *max = 0;
	FOR_EACH_ITEM(v->args, p, len) {
		(*max)++;
		if (*p != '[')
			(*min)++;
	}
}

/*
 * Matches the arguments against one form.  1: it fits and c is filled;
 * 0: the form does not apply (count or a keyword differ); -1: it applies
 * but an argument is wrong (why says which).
 */
static int
match_form(const struct fs_verb *v, char *const *args, size_t nargs,
           struct fs_cmd *c, struct fs_why *why)
{
	unsigned min, max;
	size_t i = 0, len;

	fs_verb_arg_count(v, &min, &max);
	if (nargs < min || nargs > max)
		return 0;
	if (v->parse)
		return v->parse(args, nargs, c, why) == 0 ? 1 : -1;
	/* Keywords first, so a form only reports typed errors once it applies. */
	FOR_EACH_ITEM(v->args, p, len) {
		if (i >= nargs)
			break;
		if (*p == '[') {
			if (strlen(args[i]) != len - 2 || strncasecmp(args[i], p + 1, len - 2) != 0)
				return 0;
		} else if (*p != '<') {
			if (strlen(args[i]) != len || strncasecmp(args[i], p, len) != 0)
				return 0;
		}
		i++;
	}
	i = 0;
	FOR_EACH_ITEM(v->args, p, len) {
		if (i >= nargs)
			break;
		if (*p == '<') {
			if (parse_slot(p, len, args[i], c, why) != 0)
				return -1;
		} else if (*p == '[') {
			set_keyword(p + 1, len - 2, c);
		} else {
			set_keyword(p, len, c);
		}
		i++;
	}
	return 1;
}

/* "allocate anywhere <size> | allocate <addr> <size>" into why. */
static void
usage_of(enum fs_level level, const char *verb, struct fs_why *why)
{
	size_t at = 0;

	why->text[0] = '\0';
	for (size_t i = 0; i < fs_nverbs && at < sizeof why->text; i++) {
		const struct fs_verb *v = &fs_verbs[i];
		int n;

		if (v->level != level || strcmp(v->verb, verb) != 0)
			continue;
		n = snprintf(why->text + at, sizeof why->text - at, "%s%s%s%s",
		             at ? " | " : "", v->verb, v->args[0] ? " " : "", v->args);
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

/* Parses a ctl line of the given level through the command table. */
static int
parse_command(enum fs_level level, char *line, struct fs_cmd *c, struct fs_why *why)
{
	char *words[MAX_WORDS];
	size_t n = fs_split_words(line, words, MAX_WORDS);
	bool known = false;

	if (n > MAX_WORDS) {
		fs_why_set(why, "too many words (at most %d)", MAX_WORDS);
		return -1;
	}
	for (size_t i = 0; i < fs_nverbs; i++) {
		const struct fs_verb *v = &fs_verbs[i];
		int m;

		if (v->level != level || strcmp(v->verb, words[0]) != 0)
			continue;
		known = true;
		c->verb = v;
		m = match_form(v, words + 1, n - 1, c, why);
		if (m == 1)
			return 0;
		if (m < 0)
			return -1;
	}
	if (!known) {
		size_t at = 0;
		char list[160];

		list[0] = '\0';
		for (size_t i = 0; i < fs_nverbs; i++) {
			const struct fs_verb *v = &fs_verbs[i];
			int k;

			if (v->level != level || (i > 0 && fs_verbs[i - 1].level == level &&
			                          strcmp(fs_verbs[i - 1].verb, v->verb) == 0))
				continue;
			k = snprintf(list + at, sizeof list - at, "%s%s", at ? " " : "", v->verb);
			if (k < 0 || (size_t)k >= sizeof list - at)
				break;
			at += (size_t)k;
		}
		fs_why_set(why, "unknown command '%s' (known: %s)", words[0], list);
		return -1;
	}
	{
		struct fs_why usage;

		usage_of(level, words[0], &usage);
		fs_why_set(why, "wrong number of arguments for %s (usage: %s)", words[0],
		           usage.text);
	}
	return -1;
}

/* ---- the writable files' parsers ----------------------------------- */

int
fs_write_tasks_ctl(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	return parse_command(FS_L_TASKS, line, c, why);
}

int
fs_write_task_ctl(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	return parse_command(FS_L_TASK, line, c, why);
}

int
fs_write_remap(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	char *words[MAX_WORDS];
	size_t count = fs_split_words(line, words, MAX_WORDS);

	(void)n;
	c->verb = verb_named(FS_L_TASK, "remap");
	if (count > MAX_WORDS) {
		fs_why_set(why, "too many words (at most %d)", MAX_WORDS);
		return -1;
	}
	return fs_parse_remap(words, count, &c->remap, why);
}

/* A region file's value: one verb over the whole region. */
static int
region_cmd(struct fs_cmd *c, const char *verb)
{
	c->verb = verb_named(FS_L_TASK, verb);
	c->region = true;
	return 0;
}

int
fs_write_protection(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	if (fs_parse_prot(line, &c->prot, why) != 0)
		return -1;
	return region_cmd(c, "protect");
}

int
fs_write_max_protection(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	if (fs_parse_prot(line, &c->prot, why) != 0)
		return -1;
	c->set_max = true;
	return region_cmd(c, "protect");
}

int
fs_write_inheritance(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	if (fs_parse_inherit(line, &c->inherit, why) != 0)
		return -1;
	return region_cmd(c, "inherit");
}

int
fs_write_wired(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	if (fs_parse_prot(line, &c->prot, why) != 0)
		return -1;
	return region_cmd(c, "wire");
}

int
fs_write_attr(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	char *words[3];
	size_t count = fs_split_words(line, words, 3);

	(void)n;
	if (count != 2) {
		fs_why_set(why, "expected '<attribute> <value>', e.g. 'cache off'");
		return -1;
	}
	if (fs_parse_attr(words[0], &c->attr, why) != 0 ||
	    fs_parse_attr_value(words[1], &c->value, why) != 0)
		return -1;
	return region_cmd(c, "attr");
}

/* ---- usage texts ----------------------------------------------------- */

static int
usage_text(enum fs_level level, struct fs_buf *out)
{
	for (size_t i = 0; i < fs_nverbs; i++) {
		const struct fs_verb *v = &fs_verbs[i];

		if (v->level == level)
			fs_buf_printf(out, "%s%s%s\n", v->verb, v->args[0] ? " " : "", v->args);
	}
	return fs_buf_status(out);
}

int
fs_read_tasks_ctl(const struct fs_node *n, struct fs_buf *out)
{
	(void)n;
	return usage_text(FS_L_TASKS, out);
}

int
fs_read_task_ctl(const struct fs_node *n, struct fs_buf *out)
{
	if (!machvm_task_alive(n->task))
		return -ENOENT;
	return usage_text(FS_L_TASK, out);
}

int
fs_read_remap(const struct fs_node *n, struct fs_buf *out)
{
	const struct fs_verb *v = verb_named(FS_L_TASK, "remap");

	if (!machvm_task_alive(n->task))
		return -ENOENT;
	fs_buf_printf(out, "%s\n", v->args);
	return fs_buf_status(out);
}

/* ---- running a write ------------------------------------------------- */

/* The input as it goes into a message: at most 200 bytes, anything but
 * printable ASCII (control characters, NUL, bytes of other encodings) shown
 * as '?', so last_error stays one printable line. */
static void
clip(const char *s, size_t len, char *out, size_t cap)
{
	size_t i = 0, max = cap - 4 < 200 ? cap - 4 : 200;

	for (; i < len && i < max; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	if (i < len) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static const char *
errno_name(int e)
{
	switch (e) {
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case ESRCH:  return "ESRCH";
	case ENOMEM: return "ENOMEM";
	default:     return "EIO";
	}
}

/* n's path from the mount point in buf, made on first use: it only goes
 * into messages, and most writes have none. */
static const char *
lazy_path(const struct fs_node *n, char *buf, size_t cap)
{
	if (buf[0] == '\0')
		fs_node_path(n, buf, cap);
	return buf;
}

int
fs_ctl_write(const struct fs_node *n, const struct fs_ctx *ctx,
             const char *data, size_t len, struct fs_buf *result)
{
	const struct fs_row *row = fs_row_of(n);
	char path[128], shown[208], failure[FS_LAST_ERROR_MAX], *orig, *work;
	struct fs_cmd *cmds = NULL;
	size_t ncmds = 0, nlines = 1, at = 0;
	int rc = 0;

	fs_buf_init(result);
	if (n->task && !machvm_task_alive(n->task))
		return -ESRCH;
	path[0] = '\0';        /* made by lazy_path when a message needs it */
	failure[0] = '\0';
	if (memchr(data, '\0', len)) {
		size_t shown_len = len;

		while (shown_len && isspace((unsigned char)data[shown_len - 1]))
			shown_len--;
		clip(data, shown_len, shown, sizeof shown);
		fs_fail(n->task, failure, sizeof failure, KERN_INVALID_ARGUMENT,
		        "%s: the input holds a NUL byte, got '%s'", lazy_path(n, path, sizeof path), shown);
		fs_buf_printf(result, "%s\n", failure);
		return -EINVAL;
	}

	/* Two copies: work is cut into words by the parsers, orig keeps each
	 * line whole for messages; both are split at the same places. */
	orig = malloc(2 * (len + 1));
	if (!orig)
		return -ENOMEM;
	work = orig + len + 1;
	memcpy(orig, data, len);
	orig[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (orig[i] == '\n') {
			orig[i] = '\0';
			nlines++;
		}
	}
	memcpy(work, orig, len + 1);
	cmds = calloc(nlines, sizeof *cmds);
	if (!cmds) {
		free(orig);
		return -ENOMEM;
	}

	/* Pass 1: parse every line; nothing changes unless all of them parse.
	 * The failure goes to the task of the file (0: tasks/ctl's). */
	while (at <= len) {
		size_t next = at + strlen(orig + at) + 1;
		char *line = fs_trim(orig + at);
		char *wline = fs_trim(work + at);
		struct fs_why why = { "" };
		struct fs_cmd *c = &cmds[ncmds];

		at = next;
		if (*line == '\0')
			continue;
		c->line = line;
		if (row->write(n, wline, c, &why) != 0) {
			clip(line, strlen(line), shown, sizeof shown);
			rc = -fs_fail(n->task, failure, sizeof failure, KERN_INVALID_ARGUMENT,
			              "%s: %s, got '%s'", lazy_path(n, path, sizeof path), why.text, shown);
			break;
		}
		ncmds++;
	}

	/* Pass 2: run them in order, stopping at the first failure. */
	for (size_t i = 0; rc == 0 && i < ncmds; i++) {
		struct fs_cmd *c = &cmds[i];
		struct fs_run r = { .kr = KERN_SUCCESS };

		if (c->region) {
			c->addr = n->start;
			if (fs_region_find(n->task, n->start, &c->size) != 0) {
				snprintf(r.why, sizeof r.why,
				         "no region starts at 0x%016llx any more",
				         (unsigned long long)n->start);
				rc = -ENOENT;
			}
		}
		if (rc == 0)
			rc = c->verb->run(n, ctx, c, &r);
		if (rc == 0) {
			result->len = 0;
			fs_buf_put(result, r.result, strlen(r.result));
			if (fs_log_debugging()) {
				clip(c->line, strlen(c->line), shown, sizeof shown);
				fs_debug("%s: '%s': %s", lazy_path(n, path, sizeof path), shown, r.call);
			}
		} else if (n->task && !machvm_task_alive(n->task)) {
			rc = -ESRCH;
		} else if (r.kr != KERN_SUCCESS) {
			clip(c->line, strlen(c->line), shown, sizeof shown);
			fs_fail(n->task, failure, sizeof failure, r.kr,
			        "%s: %s failed, got '%s'", lazy_path(n, path, sizeof path), r.call, shown);
		} else {
			/* Long input is cut; the message stays one line. */
			clip(c->line, strlen(c->line), shown, sizeof shown);
			if (snprintf(failure, sizeof failure, "%s: %s: %s, got '%s'",
			             errno_name(-rc), lazy_path(n, path, sizeof path), r.why, shown) < 0)
				failure[0] = '\0';
			fs_debug("%s", failure);
		}
	}

	/* Whatever ran may have changed what files show (cache.h). */
	if (ncmds > 0)
		fs_cache_content_changed();

	/* After a failure the file reads the failure's line next. */
	if (rc != 0) {
		result->len = 0;
		if (failure[0])
			fs_buf_printf(result, "%s\n", failure);
	}
	free(cmds);
	free(orig);
	/* A bulk write's copies and commands (hundreds of KiB) would otherwise
	 * stay in the heap's free lists, counted in the daemon's memory. */
	if (nlines * sizeof *cmds + 2 * len >= BULK_WRITE)
		malloc_trim(0);
	if (fs_buf_status(result) != 0)
		fs_buf_free(result);
	return rc;
}
