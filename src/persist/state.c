/*
 * state.c - see state.h.
 *
 * Saving turns the engine's export into one JSON tree (the callbacks run
 * under the engine's locks and only build the tree), then writes the tree
 * out with no engine lock held.  Loading reads the file whole (a big host
 * loads about as fast as it saves), parses it with jansson,
 * checks each value's type and spelling here, and hands the values to the
 * engine's import, which checks what they mean together (ids, ranges,
 * references, the map rules).  Either side's complaint becomes one message:
 * "FILE: objects[3].pages: key '1x' is not a page index".
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <machvm/machvm.h>
#include <machvm/persist.h>

#include "base64.h"
#include "say.h"

#define STATE_FORMAT  "machvmfs-state"
#define STATE_VERSION 1

static void
prot_letters(uint64_t p, char out[4])
{
	out[0] = (p & VM_PROT_READ) ? 'r' : '-';
	out[1] = (p & VM_PROT_WRITE) ? 'w' : '-';
	out[2] = (p & VM_PROT_EXECUTE) ? 'x' : '-';
	out[3] = '\0';
}

static const char *const inherit_names[] = { "share", "copy", "none" };

/* The folder part of path ("." if none), in buf. */
static void
folder_of(const char *path, char *buf, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(buf, cap, ".");
	else if (slash == path)
		snprintf(buf, cap, "/");
	else
		snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* ---- saving ------------------------------------------------------------ */

struct saver {
	json_t *root, *objects, *tasks;
	json_t *pages;                  /* the current object's */
	json_t *entries;                /* the current task's */
	size_t page_size;
	char *text;                     /* scratch for one page's base64 */
	const char *problem;            /* why a callback stopped the export */
};

/* A JSON number for v; NULL (and s->problem) past what JSON integers hold here. */
static json_t *
num(struct saver *s, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX) {
		s->problem = "a value above 2^63 - 1 cannot be written";
		return NULL;
	}
	return json_integer((json_int_t)v);
}

static json_t *
id_or_null(struct saver *s, uint64_t v)
{
	return v ? num(s, v) : json_null();
}

static json_t *
address(uint64_t a)
{
	char text[24];

	snprintf(text, sizeof text, "0x%016" PRIx64, a);
	return json_string(text);
}

/* Sets key of o to v (taking v); false, with s->problem set, if v is NULL
 * or memory ran out. */
static bool
put(struct saver *s, json_t *o, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0) {
		if (!s->problem)
			s->problem = "out of memory";
		return false;
	}
	return true;
}

static bool
append(struct saver *s, json_t *array, json_t *v)
{
	if (v == NULL || json_array_append_new(array, v) != 0) {
		if (!s->problem)
			s->problem = "out of memory";
		return false;
	}
	return true;
}

static int
save_host(void *arg, const machvm_host_desc_t *h)
{
	struct saver *s = arg;
	json_t *c = json_object();
	bool ok;

	s->page_size = h->page_size;
	s->text = malloc(base64_encoded_len(h->page_size) + 1);
	if (!s->text) {
		json_decref(c);
		s->problem = "out of memory";
		return -1;
	}
	ok = put(s, s->root, "format", json_string(STATE_FORMAT)) &&
	     put(s, s->root, "version", json_integer(STATE_VERSION)) &&
	     put(s, s->root, "page_size", num(s, h->page_size)) &&
	     put(s, s->root, "personality",
	         json_string(machvm_personality_name((machvm_personality_t)h->personality))) &&
	     put(s, s->root, "next_task_id", num(s, h->next_task_id)) &&
	     put(s, s->root, "next_object_id", num(s, h->next_object_id));
	if (!ok || !c) {
		json_decref(c);
		if (!s->problem)
			s->problem = "out of memory";
		return -1;
	}
	ok = put(s, s->root, "counters", c) &&
	     put(s, c, "faults", num(s, h->faults)) &&
	     put(s, c, "zero_fill_faults", num(s, h->zero_fill_faults)) &&
	     put(s, c, "cow_faults", num(s, h->cow_faults)) &&
	     put(s, c, "shadows_created", num(s, h->shadows_created)) &&
	     put(s, c, "collapses", num(s, h->collapses)) &&
	     put(s, c, "bypasses", num(s, h->bypasses)) &&
	     put(s, c, "pages_copied", num(s, h->pages_copied)) &&
	     put(s, s->root, "objects", s->objects = json_array()) &&
	     put(s, s->root, "tasks", s->tasks = json_array());
	return ok ? 0 : -1;     /* root owns the arrays; s keeps them borrowed */
}

static int
save_object(void *arg, const machvm_object_desc_t *d)
{
	struct saver *s = arg;
	json_t *o = json_object();

	if (!append(s, s->objects, o) ||
	    !put(s, o, "id", num(s, d->id)) ||
	    !put(s, o, "size", num(s, d->size)) ||
	    !put(s, o, "shadow", id_or_null(s, d->shadow)) ||
	    !put(s, o, "shadow_offset", num(s, d->shadow_offset)) ||
	    !put(s, o, "true_share", json_boolean(d->true_share)))
		return -1;
	s->pages = json_object();
	return put(s, o, "pages", s->pages) ? 0 : -1;
}

static int
save_page(void *arg, uint64_t object, uint64_t index, const void *bytes)
{
	struct saver *s = arg;
	char key[24];
	size_t len;

	(void)object;   /* always the object just saved */
	snprintf(key, sizeof key, "%" PRIu64, index);
	len = base64_encode(bytes, s->page_size, s->text);
	return put(s, s->pages, key, json_stringn_nocheck(s->text, len)) ? 0 : -1;
}

static json_t *
fault_counters(struct saver *s, uint64_t faults, uint64_t zero_fill, uint64_t cow)
{
	json_t *c = json_object();

	if (c && put(s, c, "faults", num(s, faults)) &&
	    put(s, c, "zero_fill_faults", num(s, zero_fill)) &&
	    put(s, c, "cow_faults", num(s, cow)))
		return c;
	json_decref(c);
	return NULL;
}

static int
save_task(void *arg, const machvm_task_desc_t *d)
{
	struct saver *s = arg;
	json_t *t = json_object();

	if (!append(s, s->tasks, t) ||
	    !put(s, t, "id", num(s, d->id)) ||
	    !put(s, t, "parent", id_or_null(s, d->parent)) ||
	    !put(s, t, "counters", fault_counters(s, d->faults, d->zero_fill_faults,
	                                          d->cow_faults)))
		return -1;
	s->entries = json_array();
	return put(s, t, "entries", s->entries) ? 0 : -1;
}

static int
save_entry(void *arg, task_t task, const machvm_entry_desc_t *d)
{
	struct saver *s = arg;
	json_t *e = json_object();
	char prot[4], max[4];

	(void)task;     /* always the task just saved */
	prot_letters(d->protection, prot);
	prot_letters(d->max_protection, max);
	if (!append(s, s->entries, e))
		return -1;
	return put(s, e, "start", address(d->start)) &&
	       put(s, e, "end", address(d->end)) &&
	       put(s, e, "object", id_or_null(s, d->object)) &&
	       put(s, e, "offset", num(s, d->offset)) &&
	       put(s, e, "protection", json_string(prot)) &&
	       put(s, e, "max_protection", json_string(max)) &&
	       put(s, e, "inheritance", json_string(inherit_names[d->inheritance % 3])) &&
	       put(s, e, "wired", num(s, d->wired_count)) &&
	       put(s, e, "shared", json_boolean(d->is_shared)) &&
	       put(s, e, "needs_copy", json_boolean(d->needs_copy)) &&
	       put(s, e, "cache", json_string(d->cache ? "on" : "off")) &&
	       put(s, e, "migrate", json_string(d->migrate ? "on" : "off")) &&
	       put(s, e, "replicate", json_string(d->replicate ? "on" : "off")) &&
	       put(s, e, "cache_flushes", num(s, d->cache_flushes)) &&
	       put(s, e, "dcache_flushes", num(s, d->dcache_flushes)) &&
	       put(s, e, "icache_flushes", num(s, d->icache_flushes)) ? 0 : -1;
}

static const struct machvm_export_ops save_ops = {
	save_host, save_object, save_page, save_task, save_entry
};

/*
 * Creates a fresh temporary file in the folder dfd, named after base with
 * ".tmp." and random letters, mode 0600.  O_EXCL and O_NOFOLLOW: whatever
 * another user planted in the folder (a symbolic link to a file of ours,
 * a file of theirs) is never opened, and the random name (getrandom) cannot
 * be guessed ahead.  The fd, with its name in name (cap bytes), or -1.
 */
static int
create_temp(int dfd, const char *base, char *name, size_t cap, char *msg, size_t mcap)
{
	static const char letters[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[8];
	int tries, fd;

	for (tries = 0; tries < 100; tries++) {
		size_t i, len;

		if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
			say(msg, mcap, "%s: no random bytes for a temporary name: %s", base,
			    strerror(errno));
			return -1;
		}
		len = (size_t)snprintf(name, cap, "%s.tmp.", base);
		if (len + sizeof r >= cap) {
			say(msg, mcap, "%s: the name is too long", base);
			return -1;
		}
		for (i = 0; i < sizeof r; i++)
			name[len + i] = letters[r[i] % (sizeof letters - 1)];
		name[len + sizeof r] = '\0';
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			say(msg, mcap, "%s: cannot create: %s", name, strerror(errno));
			return -1;
		}
	}
	say(msg, mcap, "%s: no free temporary name", base);
	return -1;
}

/*
 * jansson hands its output over in pieces of a few bytes (json_dumpfd makes
 * a write(2) of each): they are gathered in a buffer of OUT_BUF bytes and
 * written a buffer at a time.
 */
#define OUT_BUF (256 * 1024)

struct out {
	int    fd;
	size_t len;
	char   buf[OUT_BUF];
};

/* Writes all of p; 0, or -1 with errno. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
out_put(const char *p, size_t n, void *arg)
{
	struct out *o = arg;

	if (o->len + n > sizeof o->buf) {
		if (write_all(o->fd, o->buf, o->len) != 0)
			return -1;
		o->len = 0;
		if (n > sizeof o->buf)
			return write_all(o->fd, p, n);
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

/* Writes root to the open file fd (named tmp in messages), synced, and
 * closes it; 0 or -1 with msg. */
static int
write_file(json_t *root, int fd, const char *tmp, char *msg, size_t cap)
{
	struct out *o = malloc(sizeof *o);
	int rc = 0;

	errno = 0;
	if (o) {
		o->fd = fd;
		o->len = 0;
	}
	if (!o || json_dump_callback(root, out_put, o, JSON_INDENT(1)) != 0 ||
	    out_put("\n", 1, o) != 0 || write_all(fd, o->buf, o->len) != 0) {
		say(msg, cap, "%s: cannot write: %s", tmp, errno ? strerror(errno) : "error");
		rc = -1;
	} else if (fsync(fd) != 0) {
		say(msg, cap, "%s: cannot sync: %s", tmp, strerror(errno));
		rc = -1;
	}
	if (close(fd) != 0 && rc == 0) {
		say(msg, cap, "%s: cannot close: %s", tmp, strerror(errno));
		rc = -1;
	}
	free(o);
	return rc;
}

/*
 * Whether a save may replace the name base in the folder dfd: it may not
 * exist yet, or be a regular file.  A symbolic link is refused rather than
 * replaced (whoever made it meant the save to go where it points), and so
 * is anything else.  0, or -1 with msg.
 */
static int
replaceable(int dfd, const char *path, const char *base, char *msg, size_t cap)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		say(msg, cap, "%s: cannot stat: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		say(msg, cap, "%s: is a symbolic link: refusing to replace it (a state file "
		    "must be a regular file)", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		say(msg, cap, "%s: not a regular file: refusing to replace it", path);
		return -1;
	}
	return 0;
}

static pthread_mutex_t save_lock = PTHREAD_MUTEX_INITIALIZER;

int
state_save(const char *path, char *msg, size_t cap)
{
	struct saver s;
	char folder[PATH_MAX], tmp[NAME_MAX + 1];
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	kern_return_t kr;
	int rc = -1, dfd, fd;

	memset(&s, 0, sizeof s);
	s.root = json_object();
	if (!s.root) {
		say(msg, cap, "%s: out of memory", path);
		return -1;
	}
	/* One save at a time, export included, so the file ends up holding
	 * the latest picture. */
	pthread_mutex_lock(&save_lock);
	folder_of(path, folder, sizeof folder);
	dfd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		say(msg, cap, "%s: cannot open its folder %s: %s", path, folder, strerror(errno));
		goto out;
	}
	if (replaceable(dfd, path, base, msg, cap) != 0)
		goto out_dir;
	kr = machvm_host_export(&save_ops, &s);
	if (kr != KERN_SUCCESS) {
		say(msg, cap, "%s: cannot save the host: %s", path,
		    s.problem ? s.problem : kern_return_name(kr));
		goto out_dir;
	}
	fd = create_temp(dfd, base, tmp, sizeof tmp, msg, cap);
	if (fd < 0)
		goto out_dir;
	if (write_file(s.root, fd, tmp, msg, cap) != 0) {
		unlinkat(dfd, tmp, 0);
	} else if (renameat(dfd, tmp, dfd, base) != 0) {
		say(msg, cap, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
		unlinkat(dfd, tmp, 0);
	} else {
		/* The rename itself is durable only once the folder is synced. */
		(void)fsync(dfd);
		rc = 0;
	}
out_dir:
	close(dfd);
out:
	pthread_mutex_unlock(&save_lock);
	json_decref(s.root);
	free(s.text);
	return rc;
}

/* ---- loading ----------------------------------------------------------- */

struct loader {
	const char *path;
	char *msg;
	size_t cap;
	uint64_t page_size;
	unsigned char *page;            /* one decoded page */
	const struct state_progress *progress;  /* NULL: none */
	uint64_t regions, total;        /* entries given to the engine, in the file */
	uint64_t next_ns;               /* when progress is next due */
	bool told;                      /* progress was called ... */
	uint64_t told_regions;          /* ... last with this count */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
tell(struct loader *l)
{
	l->told = true;
	l->told_regions = l->regions;
	l->progress->fn(l->progress->arg, l->path, l->regions, l->total);
}

/* Tells progress how many regions are in, if it is due.  A clock read per
 * region costs next to nothing beside the import. */
static void
progress_due(struct loader *l)
{
	uint64_t t;

	if (!l->progress || !l->progress->fn)
		return;
	t = now_ns();
	if (t < l->next_ns)
		return;
	l->next_ns = t + l->progress->interval_ms * 1000000u;
	tell(l);
}

/* The end of the regions: the last word, if anything was said. */
static void
progress_end(struct loader *l)
{
	if (l->told && l->told_regions != l->regions)
		tell(l);
}

/* One more region given to the engine. */
static void
region_done(struct loader *l)
{
	l->regions++;
	progress_due(l);
}

/* A complaint about the value at where (a JSON path such as "tasks[2].id"). */
static bool __attribute__((format(printf, 3, 4)))
bad(struct loader *l, const char *where, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	say(l->msg, l->cap, "%s: %s: %s", l->path, where, what);
	return false;
}

/* Checks that o is an object with exactly the keys in keys (NULL ended). */
static bool
has_keys(struct loader *l, json_t *o, const char *where, const char *const *keys)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return bad(l, where, "expected a JSON object");
	for (const char *const *k = keys; *k; k++)
		if (!json_object_get(o, *k))
			return bad(l, where, "missing key '%s'", *k);
	json_object_foreach(o, key, v) {
		bool known = false;

		for (const char *const *k = keys; *k && !known; k++)
			known = strcmp(*k, key) == 0;
		if (!known)
			return bad(l, where, "unknown key '%s'", key);
	}
	return true;
}

static bool
get_u64(struct loader *l, json_t *o, const char *key, const char *where, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad(l, where, "'%s' must be a non-negative integer", key);
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* An id, or null for none (0). */
static bool
get_id(struct loader *l, json_t *o, const char *key, const char *where, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (json_is_null(v)) {
		*out = 0;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return bad(l, where, "'%s' must be a positive integer or null", key);
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static bool
get_bool(struct loader *l, json_t *o, const char *key, const char *where, int *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return bad(l, where, "'%s' must be true or false", key);
	*out = json_is_true(v);
	return true;
}

static const char *
get_string(struct loader *l, json_t *o, const char *key, const char *where)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v)) {
		bad(l, where, "'%s' must be a string", key);
		return NULL;
	}
	return json_string_value(v);
}

/* "0x" and 1 to 16 hex digits. */
static bool
get_address(struct loader *l, json_t *o, const char *key, const char *where, uint64_t *out)
{
	const char *s = get_string(l, o, key, where);
	size_t n;
	uint64_t v = 0;

	if (!s)
		return false;
	n = strlen(s);
	if (n < 3 || n > 18 || s[0] != '0' || s[1] != 'x')
		return bad(l, where, "'%s' must be 0x and up to 16 hex digits, got '%.40s'", key, s);
	for (size_t i = 2; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' :
		        c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		        c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return bad(l, where, "'%s' must be 0x and up to 16 hex digits, got '%.40s'", key, s);
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

/* Exactly three characters "rwx" with '-' for an absent right. */
static bool
get_prot(struct loader *l, json_t *o, const char *key, const char *where, uint64_t *out)
{
	const char *s = get_string(l, o, key, where);
	static const char letters[] = "rwx";

	if (!s)
		return false;
	*out = 0;
	if (strlen(s) != 3)
		return bad(l, where, "'%s' must be three letters like 'rw-', got '%.40s'", key, s);
	for (int i = 0; i < 3; i++) {
		if (s[i] == letters[i])
			*out |= (uint64_t)1 << i;
		else if (s[i] != '-')
			return bad(l, where, "'%s' must be three letters like 'rw-', got '%.40s'", key, s);
	}
	return true;
}

static bool
get_inherit(struct loader *l, json_t *o, const char *key, const char *where, uint64_t *out)
{
	const char *s = get_string(l, o, key, where);

	if (!s)
		return false;
	for (uint64_t i = 0; i < 3; i++)
		if (strcmp(s, inherit_names[i]) == 0) {
			*out = i;
			return true;
		}
	return bad(l, where, "'%s' must be share, copy or none, got '%.40s'", key, s);
}

static bool
get_onoff(struct loader *l, json_t *o, const char *key, const char *where, int *out)
{
	const char *s = get_string(l, o, key, where);

	if (!s)
		return false;
	if (strcmp(s, "on") != 0 && strcmp(s, "off") != 0)
		return bad(l, where, "'%s' must be on or off, got '%.40s'", key, s);
	*out = strcmp(s, "on") == 0;
	return true;
}

/* An import call failed: the engine says what was wrong with the whole. */
static bool
refused(struct loader *l, const char *where, kern_return_t kr)
{
	const char *why = machvm_import_error();

	if (kr == KERN_RESOURCE_SHORTAGE)
		say(l->msg, l->cap, "%s: out of memory loading it (%s)", l->path, why);
	else if (where)
		say(l->msg, l->cap, "%s: %s: inconsistent: %s", l->path, where,
		    why[0] ? why : kern_return_name(kr));
	else
		say(l->msg, l->cap, "%s: inconsistent: %s", l->path,
		    why[0] ? why : kern_return_name(kr));
	return false;
}

/* A page key: a decimal index as the saver writes it (no sign, no leading zero). */
static bool
page_index(const char *key, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = strlen(key);

	if (n == 0 || n > 19 || (key[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (key[i] < '0' || key[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(key[i] - '0');
	}
	*out = v;
	return true;
}

static bool
load_object(struct loader *l, json_t *o, size_t i)
{
	static const char *const keys[] = {
		"id", "size", "shadow", "shadow_offset", "true_share", "pages", NULL
	};
	machvm_object_desc_t d;
	char where[64], pwhere[96];
	const char *key;
	json_t *pages, *v;
	kern_return_t kr;
	int ts = 0;

	snprintf(where, sizeof where, "objects[%zu]", i);
	memset(&d, 0, sizeof d);
	if (!has_keys(l, o, where, keys) ||
	    !get_u64(l, o, "id", where, &d.id) ||
	    !get_u64(l, o, "size", where, &d.size) ||
	    !get_id(l, o, "shadow", where, &d.shadow) ||
	    !get_u64(l, o, "shadow_offset", where, &d.shadow_offset) ||
	    !get_bool(l, o, "true_share", where, &ts))
		return false;
	d.true_share = ts;
	pages = json_object_get(o, "pages");
	snprintf(pwhere, sizeof pwhere, "%s.pages", where);
	if (!json_is_object(pages))
		return bad(l, pwhere, "expected a JSON object of page index -> base64");
	if ((kr = machvm_import_object(&d)) != KERN_SUCCESS)
		return refused(l, where, kr);
	json_object_foreach(pages, key, v) {
		uint64_t index;
		long n;

		if (!page_index(key, &index))
			return bad(l, pwhere, "key '%.40s' is not a page index", key);
		if (!json_is_string(v))
			return bad(l, pwhere, "page %s: expected a base64 string", key);
		n = base64_decode(json_string_value(v), json_string_length(v), l->page,
		                  l->page_size);
		if (n != (long)l->page_size)
			return bad(l, pwhere, "page %s: not the base64 of exactly %" PRIu64 " bytes",
			           key, l->page_size);
		if ((kr = machvm_import_page(d.id, index, l->page)) != KERN_SUCCESS)
			return refused(l, pwhere, kr);
	}
	return true;
}

static bool
load_entry(struct loader *l, json_t *e, uint64_t task, const char *where)
{
	static const char *const keys[] = {
		"start", "end", "object", "offset", "protection", "max_protection",
		"inheritance", "wired", "shared", "needs_copy", "cache", "migrate",
		"replicate", "cache_flushes", "dcache_flushes", "icache_flushes", NULL
	};
	machvm_entry_desc_t d;
	int shared = 0, nc = 0, cache = 0, migrate = 0, replicate = 0;
	kern_return_t kr;

	memset(&d, 0, sizeof d);
	if (!has_keys(l, e, where, keys) ||
	    !get_address(l, e, "start", where, &d.start) ||
	    !get_address(l, e, "end", where, &d.end) ||
	    !get_id(l, e, "object", where, &d.object) ||
	    !get_u64(l, e, "offset", where, &d.offset) ||
	    !get_prot(l, e, "protection", where, &d.protection) ||
	    !get_prot(l, e, "max_protection", where, &d.max_protection) ||
	    !get_inherit(l, e, "inheritance", where, &d.inheritance) ||
	    !get_u64(l, e, "wired", where, &d.wired_count) ||
	    !get_bool(l, e, "shared", where, &shared) ||
	    !get_bool(l, e, "needs_copy", where, &nc) ||
	    !get_onoff(l, e, "cache", where, &cache) ||
	    !get_onoff(l, e, "migrate", where, &migrate) ||
	    !get_onoff(l, e, "replicate", where, &replicate) ||
	    !get_u64(l, e, "cache_flushes", where, &d.cache_flushes) ||
	    !get_u64(l, e, "dcache_flushes", where, &d.dcache_flushes) ||
	    !get_u64(l, e, "icache_flushes", where, &d.icache_flushes))
		return false;
	d.is_shared = shared;
	d.needs_copy = nc;
	d.cache = cache;
	d.migrate = migrate;
	d.replicate = replicate;
	if ((kr = machvm_import_entry((task_t)task, &d)) != KERN_SUCCESS)
		return refused(l, where, kr);
	region_done(l);
	return true;
}

static bool
load_task(struct loader *l, json_t *t, size_t i)
{
	static const char *const keys[] = { "id", "parent", "counters", "entries", NULL };
	static const char *const ckeys[] = { "faults", "zero_fill_faults", "cow_faults", NULL };
	machvm_task_desc_t d;
	char where[64], ewhere[96];
	json_t *c, *entries, *e;
	kern_return_t kr;
	size_t j;

	snprintf(where, sizeof where, "tasks[%zu]", i);
	memset(&d, 0, sizeof d);
	if (!has_keys(l, t, where, keys) ||
	    !get_u64(l, t, "id", where, &d.id) ||
	    !get_id(l, t, "parent", where, &d.parent))
		return false;
	c = json_object_get(t, "counters");
	snprintf(ewhere, sizeof ewhere, "%s.counters", where);
	if (!has_keys(l, c, ewhere, ckeys) ||
	    !get_u64(l, c, "faults", ewhere, &d.faults) ||
	    !get_u64(l, c, "zero_fill_faults", ewhere, &d.zero_fill_faults) ||
	    !get_u64(l, c, "cow_faults", ewhere, &d.cow_faults))
		return false;
	if ((kr = machvm_import_task(&d)) != KERN_SUCCESS)
		return refused(l, where, kr);
	entries = json_object_get(t, "entries");
	if (!json_is_array(entries))
		return bad(l, where, "'entries' must be an array");
	json_array_foreach(entries, j, e) {
		snprintf(ewhere, sizeof ewhere, "%s.entries[%zu]", where, j);
		if (!load_entry(l, e, d.id, ewhere))
			return false;
	}
	return true;
}

/* The whole file; the import has not begun.  true: the host is the file's. */
static bool
load_root(struct loader *l, json_t *root, uint64_t want_page_size, int want_personality)
{
	static const char *const keys[] = {
		"format", "version", "page_size", "next_task_id", "next_object_id",
		"counters", "objects", "tasks", NULL
	};
	static const char *const ckeys[] = {
		"faults", "zero_fill_faults", "cow_faults", "shadows_created", "collapses",
		"bypasses", "pages_copied", NULL
	};
	machvm_host_desc_t h;
	json_t *format = json_object_get(root, "format"), *version, *c, *objects, *tasks, *v;
	kern_return_t kr;
	size_t i;

	if (!json_is_object(root))
		return bad(l, "top level", "expected a JSON object");
	/* Say "not a state file" before anything finer. */
	if (!json_is_string(format) || strcmp(json_string_value(format), STATE_FORMAT) != 0)
		return bad(l, "format", "not a machvmfs state file (\"format\" is not \"%s\")",
		           STATE_FORMAT);
	version = json_object_get(root, "version");
	if (!json_is_integer(version) || json_integer_value(version) != STATE_VERSION)
		return bad(l, "version", "this machvmfs reads version %d only", STATE_VERSION);
	memset(&h, 0, sizeof h);
	/* Optional (files from before personalities hold mach hosts): read,
	 * then taken out so the keys below are exactly the rest. */
	v = json_object_get(root, "personality");
	if (v) {
		machvm_personality_t p;

		if (!json_is_string(v) ||
		    machvm_personality_parse(json_string_value(v), &p) != KERN_SUCCESS)
			return bad(l, "personality", "expected \"mach\", \"gnu\" or \"xnu\"");
		h.personality = (uint64_t)p;
		json_object_del(root, "personality");
	}
	c = json_object_get(root, "counters");
	if (!has_keys(l, root, "top level", keys) ||
	    !get_u64(l, root, "page_size", "top level", &h.page_size) ||
	    !get_u64(l, root, "next_task_id", "top level", &h.next_task_id) ||
	    !get_u64(l, root, "next_object_id", "top level", &h.next_object_id) ||
	    !has_keys(l, c, "counters", ckeys) ||
	    !get_u64(l, c, "faults", "counters", &h.faults) ||
	    !get_u64(l, c, "zero_fill_faults", "counters", &h.zero_fill_faults) ||
	    !get_u64(l, c, "cow_faults", "counters", &h.cow_faults) ||
	    !get_u64(l, c, "shadows_created", "counters", &h.shadows_created) ||
	    !get_u64(l, c, "collapses", "counters", &h.collapses) ||
	    !get_u64(l, c, "bypasses", "counters", &h.bypasses) ||
	    !get_u64(l, c, "pages_copied", "counters", &h.pages_copied))
		return false;
	objects = json_object_get(root, "objects");
	tasks = json_object_get(root, "tasks");
	if (!json_is_array(objects))
		return bad(l, "objects", "expected an array");
	if (!json_is_array(tasks))
		return bad(l, "tasks", "expected an array");
	if (want_page_size && want_page_size != h.page_size)
		return bad(l, "page_size", "the file holds a host with %" PRIu64 "-byte pages, "
		           "but -o page_size=%" PRIu64 " was given", h.page_size, want_page_size);
	if (want_personality >= 0 && (uint64_t)want_personality != h.personality)
		return bad(l, "personality", "the file holds a %s host, but -o personality=%s "
		           "was given", machvm_personality_name((machvm_personality_t)h.personality),
		           machvm_personality_name((machvm_personality_t)want_personality));

	/* Counted up front, for progress; what is not an array is refused later. */
	json_array_foreach(tasks, i, v)
		l->total += json_array_size(json_object_get(v, "entries"));
	if ((kr = machvm_import_begin(&h)) != KERN_SUCCESS)
		return refused(l, "top level", kr);
	l->page_size = h.page_size;
	l->page = malloc(h.page_size);
	if (!l->page) {
		machvm_import_abort();
		say(l->msg, l->cap, "%s: out of memory", l->path);
		return false;
	}
	json_array_foreach(objects, i, v)
		if (!load_object(l, v, i))
			goto fail;
	progress_due(l);        /* "0 of N" if reading and parsing took long */
	json_array_foreach(tasks, i, v)
		if (!load_task(l, v, i))
			goto fail;
	progress_end(l);
	if ((kr = machvm_import_end()) != KERN_SUCCESS) {
		refused(l, NULL, kr);
		goto fail;
	}
	return true;
fail:
	machvm_import_abort();  /* nothing if the engine already gave up */
	return false;
}

/* Whether a save will be able to write next to path. */
static bool
folder_writable(const char *path, char *msg, size_t cap)
{
	char folder[PATH_MAX];

	folder_of(path, folder, sizeof folder);
	if (access(folder, W_OK | X_OK) != 0) {
		say(msg, cap, "%s: its folder %s is not writable (%s), so the host could not "
		    "be saved there", path, folder, strerror(errno));
		return false;
	}
	return true;
}

/*
 * The whole file in memory, in one buffer (a NUL after it): jansson's own
 * file readers fetch one byte per read(2), which made reading a big state
 * file cost a system call per byte.  NULL, with msg, on failure.
 */
static char *
read_whole(int fd, const char *path, off_t size_hint, size_t *len, char *msg, size_t cap)
{
	/* One byte more than the file's size, so the read that sees its end
	 * needs no second buffer. */
	size_t have = 0, room = size_hint > 0 ? (size_t)size_hint + 1 : 4096;
	char *buf = malloc(room + 1), *more;
	ssize_t n;

	while (buf) {
		if (have == room) {
			more = room < SIZE_MAX / 4 ? realloc(buf, room * 2 + 1) : NULL;
			if (!more)
				break;
			buf = more;
			room *= 2;
		}
		n = read(fd, buf + have, room - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			say(msg, cap, "%s: cannot read: %s", path, strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0) {
			buf[have] = '\0';
			*len = have;
			return buf;
		}
		have += (size_t)n;
	}
	say(msg, cap, "%s: out of memory reading it", path);
	free(buf);
	return NULL;
}

enum state_load_result
state_load(const char *path, uint64_t page_size, int personality,
           const struct state_progress *progress,
           char *msg, size_t cap)
{
	struct loader l = { path, msg, cap, 0, NULL, progress, 0, 0, 0, false, 0 };
	json_error_t err;
	struct stat st;
	json_t *root;
	char *text;
	size_t len;
	bool ok;
	int fd;

	/* Never through a symbolic link (a save would not write through it
	 * either), and never waiting on a FIFO: O_NONBLOCK opens one at once,
	 * and the fstat below refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT) {
		kern_return_t kr;

		if (!folder_writable(path, msg, cap))
			return STATE_ERROR;
		kr = machvm_host_start(page_size);
		if (kr == KERN_SUCCESS && personality >= 0 &&
		    (kr = machvm_host_set_personality((machvm_personality_t)personality)) != KERN_SUCCESS)
			machvm_host_stop();
		if (kr != KERN_SUCCESS) {
			say(msg, cap, "%s: cannot start the host: %s", path, kern_return_name(kr));
			return STATE_ERROR;
		}
		return STATE_MISSING;
	}
	if (fd < 0 && errno == ELOOP) {
		say(msg, cap, "%s: is a symbolic link: refused (a state file must be a regular "
		    "file)", path);
		return STATE_ERROR;
	}
	if (fd < 0) {
		say(msg, cap, "%s: cannot open: %s", path, strerror(errno));
		return STATE_ERROR;
	}
	if (fstat(fd, &st) != 0) {
		say(msg, cap, "%s: cannot stat: %s", path, strerror(errno));
		close(fd);
		return STATE_ERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		say(msg, cap, "%s: not a regular file (%s): refused", path,
		    S_ISDIR(st.st_mode) ? "a folder" : S_ISFIFO(st.st_mode) ? "a FIFO" :
		    S_ISSOCK(st.st_mode) ? "a socket" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ?
		    "a device" : "not a plain file");
		close(fd);
		return STATE_ERROR;
	}
	if (progress)
		l.next_ns = now_ns() + progress->interval_ms * 1000000u;
	text = read_whole(fd, path, st.st_size, &len, msg, cap);
	close(fd);
	if (!text)
		return STATE_ERROR;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	free(text);
	if (!root) {
		say(msg, cap, "%s: not a valid JSON file: line %d, column %d: %s",
		    path, err.line, err.column, err.text);
		return STATE_ERROR;
	}
	ok = load_root(&l, root, page_size, personality);
	json_decref(root);
	free(l.page);
	if (ok && !folder_writable(path, msg, cap)) {
		machvm_host_stop();
		ok = false;
	}
	return ok ? STATE_LOADED : STATE_ERROR;
}
