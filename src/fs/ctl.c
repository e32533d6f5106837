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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <machvm/machvm.h>

#include "coherence.h"
#include "errors.h"
#include "fields.h"
#include "log.h"
#include "node.h"
#include "render.h"
#include "save.h"
#include "taskinfo.h"

/* The most words a command line may have (remap has the most: 7). */
#define MAX_WORDS 16

/* A write whose working copies take this much gives the memory back after. */
#define BULK_WRITE (256 * 1024)

/* ---- the engine calls ------------------------------------------------ */

/*
 * One function per verb, each making its one engine call and nothing else
 * (see fs_call_fn): the run frame below does the rest from the verb's
 * columns.
 */

static kern_return_t
call_create(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
            struct fs_run *r)
{
	(void)n; (void)ctx; (void)r;
	return task_create(TASK_NULL, FALSE, &c->out_task);
}

static kern_return_t
call_fork(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
          struct fs_run *r)
{
	(void)n; (void)ctx; (void)r;
	return task_create(c->task, TRUE, &c->out_task);
}

static kern_return_t
call_terminate(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
               struct fs_run *r)
{
	(void)n; (void)ctx; (void)r;
	return task_terminate(c->task);
}

static kern_return_t
call_allocate(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
              struct fs_run *r)
{
	(void)ctx; (void)r;
	c->out_addr = c->anywhere ? 0 : c->addr;
	return vm_allocate(n->task, &c->out_addr, c->size, c->anywhere);
}

static kern_return_t
call_deallocate(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
                struct fs_run *r)
{
	(void)ctx; (void)r;
	return vm_deallocate(n->task, c->addr, c->size);
}

static kern_return_t
call_protect(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
             struct fs_run *r)
{
	(void)ctx; (void)r;
	return vm_protect(n->task, c->addr, c->size, c->set_max, c->prot);
}

static kern_return_t
call_inherit(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
             struct fs_run *r)
{
	(void)ctx; (void)r;
	return vm_inherit(n->task, c->addr, c->size, c->inherit);
}

static kern_return_t
call_map_inherit(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
                 struct fs_run *r)
{
	(void)ctx; (void)r;
	return vm_map_inherit(n->task, c->addr, c->end, c->inherit);
}

/* Only root and the mounting user hold the privileged host port; anyone
 * else's request goes to the engine with the ordinary one, which refuses it
 * (KERN_INVALID_HOST -> EPERM), so the engine stays the one judge. */
static kern_return_t
call_wire(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
          struct fs_run *r)
{
	(void)r;
	return vm_wire(ctx->privileged ? host_priv_self() : mach_host_self(), n->task,
	               c->addr, c->size, c->prot);
}

static kern_return_t
call_attr(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
          struct fs_run *r)
{
	(void)ctx; (void)r;
	c->out_value = c->value;
	return vm_machine_attribute(n->task, c->addr, c->size, c->attr, &c->out_value);
}

static kern_return_t
call_copy(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
          struct fs_run *r)
{
	(void)ctx; (void)r;
	return vm_copy(n->task, c->addr, c->size, c->dest);
}

static kern_return_t
call_remap(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
           struct fs_run *r)
{
	const struct fs_remap_args *m = &c->remap;

	(void)ctx; (void)r;
	c->out_addr = m->address;
	c->out_cur = c->out_max = VM_PROT_NONE;
	return vm_remap(n->task, &c->out_addr, m->size, m->mask, m->anywhere, m->src_task,
	                m->src_addr, m->copy, &c->out_cur, &c->out_max, m->inherit);
}

static kern_return_t
call_region(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
            struct fs_run *r)
{
	mach_port_t object;
	vm_offset_t offset;

	(void)ctx; (void)r;
	c->out_addr = c->addr;
	return vm_region(n->task, &c->out_addr, &c->out_size, &c->out_cur, &c->out_max,
	                 &c->out_inherit, &c->out_shared, &object, &offset);
}

static int
args_remap(char *const *words, size_t n, struct fs_cmd *c, struct fs_why *why)
{
	return fs_parse_remap(words, n, &c->remap, why);
}

/* ---- the command table -------------------------------------------- */

/* Forms of one verb are adjacent; a form with a leading keyword comes first. */
const struct fs_verb fs_verbs[] = {
	{ FS_L_HOST, "save", "", NULL, fs_call_save, "machvm_host_export",
	  OWN_MOUNTER, LOCK_NONE, RES_OK },
	{ FS_L_TASKS, "create", "", NULL, call_create, "task_create",
	  OWN_FILE, LOCK_NONE, RES_TASK },
	{ FS_L_TASKS, "fork", "<parent>", NULL, call_fork, "task_create",
	  OWN_TASK_ARG, LOCK_TASK_ARG, RES_TASK },
	{ FS_L_TASKS, "terminate", "<task>", NULL, call_terminate, "task_terminate",
	  OWN_TASK_ARG, LOCK_TASK_ARG, RES_OK },
	{ FS_L_TASK, "allocate", "anywhere <size>", NULL, call_allocate, "vm_allocate",
	  OWN_FILE, LOCK_FILE, RES_ADDRESS },
	{ FS_L_TASK, "allocate", "<addr> <size>", NULL, call_allocate, "vm_allocate",
	  OWN_FILE, LOCK_FILE, RES_ADDRESS },
	{ FS_L_TASK, "deallocate", "<addr> <size>", NULL, call_deallocate, "vm_deallocate",
	  OWN_FILE, LOCK_FILE, RES_OK },
	{ FS_L_TASK, "protect", "<addr> <size> <prot> [max]", NULL, call_protect, "vm_protect",
	  OWN_FILE, LOCK_FILE, RES_OK },
	{ FS_L_TASK, "inherit", "<addr> <size> <inheritance>", NULL, call_inherit, "vm_inherit",
	  OWN_FILE, LOCK_FILE, RES_OK },
	{ FS_L_TASK, "map_inherit", "<start> <end> <inheritance>", NULL, call_map_inherit,
	  "vm_map_inherit", OWN_FILE, LOCK_FILE, RES_OK },
	{ FS_L_TASK, "wire", "<addr> <size> <access>", NULL, call_wire, "vm_wire",
	  OWN_FILE, LOCK_FILE, RES_OK },
	{ FS_L_TASK, "attr", "<addr> <size> <attribute> <value>", NULL, call_attr,
	  "vm_machine_attribute", OWN_FILE, LOCK_FILE, RES_VALUE },
	{ FS_L_TASK, "copy", "<source> <size> <dest>", NULL, call_copy, "vm_copy",
	  OWN_FILE, LOCK_FILE, RES_OK },
	{ FS_L_TASK, "region", "<addr>", NULL, call_region, "vm_region",
	  OWN_FILE, LOCK_NONE, RES_REGION },
	{ FS_L_TASK, "remap",
	  "src=<task>:<addr> size=<n> [at=<addr>|anywhere[=<hint>]] [mask=<m>] "
	  "[copy|share] [inherit=<inheritance>]", args_remap, call_remap, "vm_remap",
	  OWN_SHARE_SOURCE, LOCK_FILE_SOURCE, RES_REMAP },
};
const size_t fs_nverbs = sizeof fs_verbs / sizeof fs_verbs[0];

const struct fs_verb *
fs_verb_named(enum fs_level level, const char *name)
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
	{ "<task>", T_TASK, offsetof(struct fs_cmd, task) },
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
	c->verb = fs_verb_named(FS_L_TASK, "remap");
	if (count > MAX_WORDS) {
		fs_why_set(why, "too many words (at most %d)", MAX_WORDS);
		return -1;
	}
	return fs_parse_remap(words, count, &c->remap, why);
}

/* A region file's value: the row's verb over the whole region, whose
 * range the run frame finds when it runs. */
static int
region_cmd(const struct fs_node *n, struct fs_cmd *c)
{
	c->verb = fs_verb_named(FS_L_TASK, fs_row_of(n)->verb);
	c->region = true;
	return 0;
}

int
fs_write_protection(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	if (fs_parse_prot(line, &c->prot, why) != 0)
		return -1;
	return region_cmd(n, c);
}

int
fs_write_max_protection(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	if (fs_parse_prot(line, &c->prot, why) != 0)
		return -1;
	c->set_max = true;
	return region_cmd(n, c);
}

int
fs_write_inheritance(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	if (fs_parse_inherit(line, &c->inherit, why) != 0)
		return -1;
	return region_cmd(n, c);
}

int
fs_write_wired(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	if (fs_parse_prot(line, &c->prot, why) != 0)
		return -1;
	return region_cmd(n, c);
}

int
fs_write_attr(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	char *words[3];
	size_t count = fs_split_words(line, words, 3);

	if (count != 2) {
		fs_why_set(why, "expected '<attribute> <value>', e.g. 'cache off'");
		return -1;
	}
	if (fs_parse_attr(words[0], &c->attr, why) != 0 ||
	    fs_parse_attr_value(words[1], &c->value, why) != 0)
		return -1;
	return region_cmd(n, c);
}

/* ---- usage texts ----------------------------------------------------- */

int
fs_usage_text(enum fs_level level, struct fs_buf *out)
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
	return fs_usage_text(FS_L_TASKS, out);
}

int
fs_read_task_ctl(const struct fs_node *n, struct fs_buf *out)
{
	if (!machvm_task_alive(n->task))
		return -ENOENT;
	return fs_usage_text(FS_L_TASK, out);
}

int
fs_read_remap(const struct fs_node *n, struct fs_buf *out)
{
	const struct fs_verb *v = fs_verb_named(FS_L_TASK, "remap");

	if (!machvm_task_alive(n->task))
		return -ENOENT;
	fs_buf_printf(out, "%s\n", v->args);
	return fs_buf_status(out);
}

/* ---- the run frame --------------------------------------------------- */

/*
 * Every write to a task through the files runs under that task's change
 * lock (striped by id; two, in stripe order, for a remap), so that the
 * region a region file acts on is found and changed with no other write in
 * between.  The engine serializes calls on one task anyway; this lock
 * spans the lookup and the call.
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

/* The owner column: 0, or -EACCES with the reason in r->why. */
static int
check_owner(const struct fs_ctx *ctx, const struct fs_cmd *c, struct fs_run *r)
{
	task_t other = TASK_NULL;
	const char *more = "";

	switch (c->verb->owner) {
	case OWN_FILE:
		return 0;
	case OWN_MOUNTER:
		if (ctx->privileged)
			return 0;
		snprintf(r->why, sizeof r->why, "only the user who mounted may save the host");
		return -EACCES;
	case OWN_TASK_ARG:
		other = c->task;
		break;
	case OWN_SHARE_SOURCE:
		if (c->remap.copy)
			return 0;
		other = c->remap.src_task;
		more = " (a copy is allowed, share is not)";
		break;
	}
	if (!machvm_task_alive(other) || fs_may_change(other, ctx))
		return 0;
	snprintf(r->why, sizeof r->why, "task %u belongs to another user%s", (unsigned)other, more);
	return -EACCES;
}

/* The tasks the locks column names. */
static bool
lock_pair(const struct fs_node *n, const struct fs_cmd *c, task_t *a, task_t *b)
{
	switch (c->verb->locks) {
	case LOCK_NONE:
		return false;
	case LOCK_FILE:
		*a = *b = n->task;
		return true;
	case LOCK_TASK_ARG:
		*a = *b = c->task;
		return true;
	case LOCK_FILE_SOURCE:
		*a = n->task;
		*b = c->remap.src_task;
		return true;
	}
	return false;
}

/* The engine call as the engine took it, for last_error and the -d log:
 * "vm_protect(task 1, 0x10000, 4096, set_maximum FALSE, r--)". */
static void
call_text(const struct machvm_report *rep, char *buf, size_t cap)
{
	const struct machvm_call_args *a = &rep->args;
	unsigned long long addr = a->address, size = a->size;
	char prot[4];

	fs_prot_letters(a->prot, prot);
	switch (rep->call) {
	case MACHVM_CALL_TASK_CREATE:
		if (a->flag)
			snprintf(buf, cap, "task_create(task %u, inherit_memory TRUE)", (unsigned)a->task);
		else
			snprintf(buf, cap, "task_create(TASK_NULL, inherit_memory FALSE)");
		break;
	case MACHVM_CALL_VM_ALLOCATE:
		snprintf(buf, cap, "vm_allocate(task %u, 0x%llx, %llu, %s)", (unsigned)a->task,
		         addr, size, a->flag ? "anywhere" : "fixed");
		break;
	case MACHVM_CALL_VM_DEALLOCATE:
		snprintf(buf, cap, "vm_deallocate(task %u, 0x%llx, %llu)", (unsigned)a->task,
		         addr, size);
		break;
	case MACHVM_CALL_VM_PROTECT:
		snprintf(buf, cap, "vm_protect(task %u, 0x%llx, %llu, set_maximum %s, %s)",
		         (unsigned)a->task, addr, size, a->flag ? "TRUE" : "FALSE", prot);
		break;
	case MACHVM_CALL_VM_INHERIT:
		snprintf(buf, cap, "vm_inherit(task %u, 0x%llx, %llu, %s)", (unsigned)a->task,
		         addr, size, fs_inherit_name(a->inheritance));
		break;
	case MACHVM_CALL_VM_MAP_INHERIT:
		snprintf(buf, cap, "vm_map_inherit(task %u, 0x%llx, 0x%llx, %s)", (unsigned)a->task,
		         addr, (unsigned long long)a->address2, fs_inherit_name(a->inheritance));
		break;
	case MACHVM_CALL_VM_WIRE:
		snprintf(buf, cap, "vm_wire(%s, task %u, 0x%llx, %llu, %s)",
		         a->flag ? "host_priv_self()" : "mach_host_self()", (unsigned)a->task,
		         addr, size, prot);
		break;
	case MACHVM_CALL_VM_MACHINE_ATTRIBUTE:
		snprintf(buf, cap, "vm_machine_attribute(task %u, 0x%llx, %llu, %u, %d)",
		         (unsigned)a->task, addr, size, a->attribute, a->value);
		break;
	case MACHVM_CALL_VM_COPY:
		snprintf(buf, cap, "vm_copy(task %u, 0x%llx, %llu, 0x%llx)", (unsigned)a->task,
		         addr, size, (unsigned long long)a->address2);
		break;
	case MACHVM_CALL_VM_REMAP:
		snprintf(buf, cap, "vm_remap(task %u, 0x%llx, %llu, mask 0x%llx, %s, task %u, "
		         "0x%llx, %s, %s)", (unsigned)a->task, addr, size,
		         (unsigned long long)a->mask, a->flag ? "anywhere" : "fixed",
		         (unsigned)a->other, (unsigned long long)a->address2,
		         a->flag2 ? "copy" : "share", fs_inherit_name(a->inheritance));
		break;
	default:
		snprintf(buf, cap, "%s(task %u)", machvm_call_name(rep->call), (unsigned)a->task);
		break;
	}
}

/* The result column: what a read shows after success. */
static void
result_text(const struct fs_cmd *c, struct fs_run *r)
{
	char cur[4], max[4];

	switch (c->verb->result) {
	case RES_TASK:
		snprintf(r->result, sizeof r->result, "%u\n", (unsigned)c->out_task);
		return;
	case RES_ADDRESS:
		snprintf(r->result, sizeof r->result, "0x%016llx\n", (unsigned long long)c->out_addr);
		return;
	case RES_VALUE:
		if (c->value == MATTR_VAL_GET) {
			snprintf(r->result, sizeof r->result, "%s\n", fs_attr_value_name(c->out_value));
			return;
		}
		break;
	case RES_REMAP:
		fs_prot_letters(c->out_cur, cur);
		fs_prot_letters(c->out_max, max);
		snprintf(r->result, sizeof r->result,
		         "address 0x%016llx cur_protection %s max_protection %s\n",
		         (unsigned long long)c->out_addr, cur, max);
		return;
	case RES_REGION:
		fs_prot_letters(c->out_cur, cur);
		fs_prot_letters(c->out_max, max);
		snprintf(r->result, sizeof r->result,
		         "start 0x%016llx size %llu protection %s max_protection %s "
		         "inheritance %s shared %s\n", (unsigned long long)c->out_addr,
		         (unsigned long long)c->out_size, cur, max, fs_inherit_name(c->out_inherit),
		         c->out_shared ? "yes" : "no");
		return;
	case RES_OK:
		break;
	}
	snprintf(r->result, sizeof r->result, "ok\n");
}

/*
 * Runs one parsed command: the owner check, the change locks, the region
 * of a region file found under them, the call, and its text and result.
 * What the call makes stale is collected in scope by the engine's report
 * (coherence.c), not decided here.  0, or -errno with r saying why.
 */
static int
run(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
    struct fs_run *r, struct fs_scope *scope)
{
	const struct fs_verb *v = c->verb;
	kern_return_t kr = KERN_SUCCESS;
	task_t a = TASK_NULL, b = TASK_NULL;
	bool locked;
	int rc = check_owner(ctx, c, r);

	if (rc)
		return rc;
	locked = lock_pair(n, c, &a, &b);
	if (locked)
		lock_tasks(a, b);
	if (c->region) {
		vm_region_extended_info_t x;

		c->addr = n->start;
		if (fs_region_get(n->task, n->start, false, &x) == 0) {
			c->size = x.size;
		} else {
			snprintf(r->why, sizeof r->why, "no region starts at 0x%016llx any more",
			         (unsigned long long)n->start);
			rc = -ENOENT;
		}
	}
	if (rc == 0) {
		if (v->result == RES_TASK)
			fs_taskinfo_creating(true);
		scope->have_report = false;
		kr = v->run(n, ctx, c, r);
		/* The engine's own word on a failure, taken before anything
		 * else can call it on this thread (<machvm/why.h>).  Only the
		 * map calls (a task's ctl, remap and region files) keep the
		 * record: task_create, task_terminate and the save leave
		 * whatever an earlier call on this thread left there. */
		if (kr != KERN_SUCCESS && v->level == FS_L_TASK)
			fs_why_text(r->cause, sizeof r->cause);
		if (v->result == RES_TASK) {
			if (kr == KERN_SUCCESS && fs_taskinfo_add(c->out_task, ctx->uid, ctx->gid) != 0)
				fs_error("task %u: no memory to record its owner", (unsigned)c->out_task);
			fs_taskinfo_creating(false);
		}
	}
	if (locked)
		unlock_tasks(a, b);
	if (rc)
		return rc;
	r->kr = kr;
	if (scope->have_report && (kr != KERN_SUCCESS || fs_log_debugging()))
		call_text(&scope->report, r->call, sizeof r->call);
	else if (r->call[0] == '\0')
		snprintf(r->call, sizeof r->call, "%s", v->call);
	if (kr != KERN_SUCCESS)
		return -fs_errno(kr);
	result_text(c, r);
	return 0;
}

/* ---- running a write ------------------------------------------------- */

/* See ctl.h; written once by the init request, before any write. */
static _Atomic size_t write_limit = 31 * 4096;

void
fs_ctl_set_write_limit(size_t max_write, size_t max_pages, size_t page)
{
	size_t by_bytes = max_write > 0 ? max_write - 1 : 0;
	size_t by_pages = max_pages > 0 ? (max_pages - 1) * page : 0;

	atomic_store(&write_limit, by_bytes < by_pages ? by_bytes : by_pages);
}

size_t
fs_ctl_write_limit(void)
{
	return atomic_load(&write_limit);
}

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

/* ---- batches ----------------------------------------------------------- */

static pthread_rwlock_t batch_lock;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;

static void
batch_lock_init(void)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	/* A batch waiting must not starve behind a stream of one-line writes. */
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&batch_lock, &a);
	pthread_rwlockattr_destroy(&a);
}

void
fs_batch_shared_lock(void)
{
	pthread_once(&batch_once, batch_lock_init);
	pthread_rwlock_rdlock(&batch_lock);
}

void
fs_batch_shared_unlock(void)
{
	pthread_rwlock_unlock(&batch_lock);
}

static void
batch_exclusive_lock(void)
{
	pthread_once(&batch_once, batch_lock_init);
	pthread_rwlock_wrlock(&batch_lock);
}

/* A line ran: its result is what the file reads next (the last line's). */
static void
line_done(const struct fs_node *n, const struct fs_cmd *c, const struct fs_run *r,
          struct fs_buf *result, char *path, size_t pathcap)
{
	char shown[208];

	result->len = 0;
	fs_buf_put(result, r->result, strlen(r->result));
	if (fs_log_debugging()) {
		clip(c->line, strlen(c->line), shown, sizeof shown);
		fs_debug("%s: '%s': %s", lazy_path(n, path, pathcap), shown, r->call);
	}
}

/*
 * A line failed with rc: failure gets its line (recorded as last_error for
 * an engine failure), with more appended ("" or " (line 3 of 5; ...)").
 * Returns the write's -errno.
 */
static int
line_failed(const struct fs_node *n, const struct fs_cmd *c, const struct fs_run *r, int rc,
            const char *more, char *failure, size_t cap, char *path, size_t pathcap)
{
	char shown[208];

	clip(c->line, strlen(c->line), shown, sizeof shown);
	if (n->task && !machvm_task_alive(n->task))
		return -ESRCH;
	if (r->kr == MIG_BAD_ID) {
		/* The host's kernel has no such call (vm_remap under gnu). */
		fs_fail(n->task, failure, cap, r->kr,
		        "%s: %s does not exist in this kernel (personality %s), got '%s'%s",
		        lazy_path(n, path, pathcap), c->verb->call,
		        machvm_personality_name(machvm_host_personality()), shown, more);
		return rc;
	}
	if (r->kr != KERN_SUCCESS) {
		fs_fail(n->task, failure, cap, r->kr, "%s: %s failed%s, got '%s'%s",
		        lazy_path(n, path, pathcap), r->call, r->cause, shown, more);
		return rc;
	}
	/* Long input is cut; the message stays one line. */
	if (snprintf(failure, cap, "%s: %s: %s, got '%s'%s", errno_name(-rc),
	             lazy_path(n, path, pathcap), r->why, shown, more) < 0)
		failure[0] = '\0';
	fs_debug("%s", failure);
	return rc;
}

/* " (line 3 of 5; the 2 lines before it were undone)" and the like. */
static void
batch_where(size_t i, size_t n, bool ran, char *out, size_t cap)
{
	if (!ran)
		snprintf(out, cap, " (line %zu of %zu; nothing was run)", i + 1, n);
	else if (i == 0)
		snprintf(out, cap, " (line 1 of %zu; no line ran before it)", n);
	else if (i == 1)
		snprintf(out, cap, " (line 2 of %zu; the line before it was undone)", n);
	else
		snprintf(out, cap, " (line %zu of %zu; the %zu lines before it were undone)",
		         i + 1, n, i);
}

/* A failure found before any line ran: failure and last_error say so. */
static int
batch_refuse(const struct fs_node *n, const struct fs_cmd *c, size_t i, size_t ncmds,
             kern_return_t kr, int rc, const char *why, char *failure, size_t cap,
             char *path, size_t pathcap)
{
	char shown[208], where[96];

	clip(c->line, strlen(c->line), shown, sizeof shown);
	batch_where(i, ncmds, false, where, sizeof where);
	if (kr != KERN_SUCCESS) {
		fs_fail(n->task, failure, cap, kr, "%s: %s, got '%s'%s",
		        lazy_path(n, path, pathcap), why, shown, where);
		return -fs_errno(kr);
	}
	if (snprintf(failure, cap, "%s: %s: %s, got '%s'%s", errno_name(-rc),
	             lazy_path(n, path, pathcap), why, shown, where) < 0)
		failure[0] = '\0';
	fs_debug("%s", failure);
	return rc;
}

static void
add_task(task_t *v, size_t *n, task_t t)
{
	for (size_t i = 0; i < *n; i++)
		if (v[i] == t)
			return;
	v[(*n)++] = t;
}

/* Most tasks one batch saves: the file's and the other tasks its lines
 * name (remap sources, fork parents). */
#define BATCH_TASKS 64

/*
 * Runs several lines all or nothing (see fs_layout.md, Writing): under the
 * batch lock held exclusively, the owners checked first, the tasks the
 * lines change saved by the engine (machvm_batch_begin), the lines run in
 * order, and on the first failure the tasks the batch made terminated and
 * the saved tasks put back (machvm_batch_undo).  terminate cannot be
 * undone: a tasks/ctl batch holding it holds nothing else, and its lines
 * are all checked before the first runs, so that none can fail then.
 */
static int
run_batch(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *cmds,
          size_t ncmds, struct fs_buf *result, struct fs_scope *scope,
          char *failure, size_t cap, char *path, size_t pathcap)
{
	task_t saved[BATCH_TASKS], *made = NULL;
	size_t nsaved = 0, nmade = 0, nterm = 0, i;
	machvm_batch_t *b = NULL;
	char where[96];
	int rc = 0;

	batch_exclusive_lock();
	if (n->task && !machvm_task_alive(n->task)) {
		rc = -ESRCH;
		goto out;
	}
	/* Who may: every line's owner column, before anything runs. */
	for (i = 0; i < ncmds; i++) {
		struct fs_run r = { .kr = KERN_SUCCESS };
		int e = check_owner(ctx, &cmds[i], &r);

		if (e) {
			rc = batch_refuse(n, &cmds[i], i, ncmds, KERN_SUCCESS, e, r.why, failure, cap,
			                  path, pathcap);
			goto out;
		}
		if (strcmp(cmds[i].verb->verb, "terminate") == 0)
			nterm++;
	}
	if (nterm > 0) {
		for (i = 0; i < ncmds; i++) {
			bool twice = false;

			if (strcmp(cmds[i].verb->verb, "terminate") != 0) {
				rc = batch_refuse(n, &cmds[i], i, ncmds, KERN_INVALID_ARGUMENT, 0,
				                  "a batch holding terminate lines holds nothing else "
				                  "(a terminate cannot be undone): write them apart",
				                  failure, cap, path, pathcap);
				goto out;
			}
			for (size_t j = 0; j < i; j++)
				twice |= cmds[j].task == cmds[i].task;
			if (twice || !machvm_task_alive(cmds[i].task)) {
				char why[96];

				snprintf(why, sizeof why, "task_terminate(task %u) would fail: %s",
				         (unsigned)cmds[i].task, twice ? "terminated by an earlier line"
				                                       : "no such task");
				rc = batch_refuse(n, &cmds[i], i, ncmds, KERN_INVALID_ARGUMENT, 0, why,
				                  failure, cap, path, pathcap);
				goto out;
			}
		}
	}
	/* What the lines can change besides the tasks they make. */
	if (n->task)
		add_task(saved, &nsaved, n->task);
	for (i = 0; i < ncmds && nterm == 0; i++) {
		task_t other = TASK_NULL;

		if (cmds[i].verb->locks == LOCK_FILE_SOURCE)
			other = cmds[i].remap.src_task;
		else if (cmds[i].verb->locks == LOCK_TASK_ARG)
			other = cmds[i].task;
		if (other == TASK_NULL || !machvm_task_alive(other))
			continue;   /* the line fails (or forks a task the batch makes) */
		if (nsaved == BATCH_TASKS) {
			rc = batch_refuse(n, &cmds[i], i, ncmds, KERN_INVALID_ARGUMENT, 0,
			                  "a batch may name at most 63 other tasks", failure, cap,
			                  path, pathcap);
			goto out;
		}
		add_task(saved, &nsaved, other);
	}
	if (nsaved > 0) {
		kern_return_t kr = machvm_batch_begin(saved, nsaved, &b);

		if (kr != KERN_SUCCESS) {
			rc = batch_refuse(n, &cmds[0], 0, ncmds, kr, 0,
			                  "machvm_batch_begin failed: no memory to save the tasks "
			                  "the batch changes", failure, cap, path, pathcap);
			goto out;
		}
		fs_coherence_touch();
	}
	if (nterm == 0 && cmds[0].verb->level == FS_L_TASKS &&
	    !(made = malloc(ncmds * sizeof *made))) {
		rc = -ENOMEM;
		goto undo;
	}

	for (i = 0; i < ncmds; i++) {
		struct fs_cmd *c = &cmds[i];
		struct fs_run r = { .kr = KERN_SUCCESS };
		const char *verb = c->verb->verb;
		bool is_copy = strcmp(verb, "copy") == 0, is_wire = strcmp(verb, "wire") == 0;

		if (b && (is_copy || is_wire)) {
			/* What the line writes in place, saved first. */
			vm_address_t at = is_copy ? c->dest : c->addr;
			vm_size_t size = c->size;
			vm_region_extended_info_t x;

			if (c->region) {
				at = n->start;
				size = fs_region_get(n->task, n->start, false, &x) == 0 ? x.size : 0;
			}
			r.kr = machvm_batch_note(b, n->task, at, size, is_copy);
			if (r.kr != KERN_SUCCESS) {
				snprintf(r.call, sizeof r.call,
				         "machvm_batch_note(task %u, 0x%llx, %llu) (saving what it overwrites)",
				         (unsigned)n->task, (unsigned long long)at, (unsigned long long)size);
				rc = -fs_errno(r.kr);
				goto failed;
			}
		}
		rc = run(n, ctx, c, &r, scope);
		if (rc == 0) {
			if (made && c->verb->result == RES_TASK)
				made[nmade++] = c->out_task;
			line_done(n, c, &r, result, path, pathcap);
			continue;
		}
failed:
		batch_where(i, ncmds, nterm == 0, where, sizeof where);
		rc = line_failed(n, c, &r, rc, nterm == 0 ? where : "", failure, cap, path, pathcap);
		break;
	}
	if (rc == 0) {
		if (b) {
			machvm_batch_commit(b);
			fs_coherence_touch();
		}
		goto out;
	}
undo:
	/* Newest first: a fork of a task the batch made goes before it. */
	while (nmade > 0)
		(void)task_terminate(made[--nmade]);
	if (b)
		machvm_batch_undo(b);
	result->len = 0;
out:
	pthread_rwlock_unlock(&batch_lock);
	free(made);
	return rc;
}


int
fs_ctl_write(const struct fs_node *n, const struct fs_ctx *ctx,
             const char *data, size_t len, struct fs_buf *result, struct fs_scope *scope)
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
	if (len > fs_ctl_write_limit()) {
		/* Maybe the first piece of a longer write(2): refused whole, so
		 * the write(2) fails before any of it ran (see ctl.h). */
		fs_fail(n->task, failure, sizeof failure, KERN_INVALID_ARGUMENT,
		        "%s: one write may hold at most %zu bytes (the kernel passes a longer one "
		        "in pieces), got %zu or more", lazy_path(n, path, sizeof path),
		        fs_ctl_write_limit(), len);
		fs_buf_printf(result, "%s\n", failure);
		return -EFBIG;
	}
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

	/* Pass 2: one line alone as it always ran; several as a batch. */
	if (rc == 0 && ncmds > 1 && cmds[0].verb->level != FS_L_HOST) {
		rc = run_batch(n, ctx, cmds, ncmds, result, scope, failure, sizeof failure,
		               path, sizeof path);
	} else if (rc == 0) {
		fs_batch_shared_lock();
		for (size_t i = 0; rc == 0 && i < ncmds; i++) {
			struct fs_run r = { .kr = KERN_SUCCESS };

			rc = run(n, ctx, &cmds[i], &r, scope);
			if (rc == 0)
				line_done(n, &cmds[i], &r, result, path, sizeof path);
			else
				rc = line_failed(n, &cmds[i], &r, rc, "", failure, sizeof failure,
				                 path, sizeof path);
		}
		fs_batch_shared_unlock();
	}

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
