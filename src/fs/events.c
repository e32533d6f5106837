/*
 * events.c - see events.h.
 *
 * Every event is stored once, as its line of text, in one arena allocated
 * at the first event (see arena_take).  Each stream (the host's,
 * and one per task that has state) is a ring of references to its kept
 * events with the stream offset each begins at, so a stream's kept bytes
 * are [first entry's offset, size) without a gap, found by binary search.
 * The host ring holds every kept event in the order they were logged, and
 * each task ring a subsequence of it in the same order: the oldest event is
 * at the front of every ring it is in, so dropping it pops those fronts.
 *
 * A reader keeps where it stopped in stream terms (pos, and next, the
 * stream's number of the first event it has not wholly read) and, once it
 * fell below the window, a shift between its file offsets and the stream's
 * and the missed line it was given.
 *
 * Poll handles wait on their stream's list of waiters; an append moves the
 * stream's waiters to the wake list, which fs_events_wake empties outside
 * the lock (the record runs under engine locks and must not talk to the
 * kernel).
 *
 * Lock legend: `lock` guards every static below and every field of the
 * streams, events and readers; wake_pending is also read without it (a
 * hint: set under the lock whenever the wake list fills).  It is a leaf:
 * nothing else is taken while it is held (it is taken under engine locks),
 * and the waker's functions are called only after it is released.
 */
#include "events.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/kern_return.h>

#include "render.h"

#define BYTES_PER_EVENT 256     /* the byte window, per event of the count window */
#define LINE_MAX_BYTES  4096    /* longer than any line (32 changes of at most 80 bytes) */
#define KEEP_BYTES_MIN  (2 * LINE_MAX_BYTES)    /* room for the longest line and its seq */
#define MAX_TASKS       64      /* distinct tasks one report may name (the engine's name 2) */
#define MAX_TOKENS      32      /* changes listed before +N_more */
#define RING_MIN        8
#define REC_PER_EVENT   24      /* a record's header, two task ids and padding */
#define ARENA_SLACK     (2 * LINE_MAX_BYTES)    /* the end a wrapped record leaves */
#define BUCKETS_MIN     16

/* One logged event, a record in the arena: its line (text follows the task array). */
struct ev {
	uint32_t len;           /* bytes of text, the newline included */
	uint16_t ntasks;        /* task streams it was appended to */
	uint16_t ncap;          /* room in tasks[] */
	task_t   tasks[];
};

static char *
ev_text(struct ev *e)
{
	return (char *)(e->tasks + e->ncap);
}

struct ent {
	struct ev *ev;
	uint64_t   off;         /* stream offset of its first byte */
};

enum { R_IDLE, R_WAITING, R_QUEUED };

struct stream {
	struct stream *hnext;   /* hash chain */
	task_t   task;          /* TASK_NULL: the host */
	bool     ended;         /* the task terminated: nothing more is appended */
	unsigned readers;
	uint64_t size;          /* bytes appended so far */
	uint64_t count;         /* events appended so far */
	struct ent *ring;       /* kept events; cap is 0 or a power of two */
	size_t   cap, head, len;
	struct fs_events_reader *waiters;
};

struct fs_events_reader {
	struct stream *s;
	uint64_t pos;           /* stream offset just past its last read */
	uint64_t next;          /* stream number of the first event not wholly read */
	int64_t  delta;         /* stream offset = file offset + delta */
	uint64_t m_off;         /* the missed line's file offset, */
	uint32_t m_len;         /* and length (0: none) */
	char     missed[48];
	void    *ph;            /* kept poll handle, or NULL */
	int      where;         /* R_WAITING: on s->waiters; R_QUEUED: on wake_list */
	struct fs_events_reader *prev, *next_rd;
};

_Static_assert(sizeof(struct fs_events_reader) <= FS_EVENTS_READER_BYTES,
               "FS_EVENTS_READER_BYTES is documented as the reader's cost");

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool inited;
static size_t keep_events, keep_bytes;
static size_t window_bytes;     /* text bytes of the kept events */
static size_t held;             /* bytes asked of malloc */
static char *arena;             /* the records; allocated at the first event */
static size_t arena_cap, a_tail;
static uint64_t last_seq;
static struct stream host;
static struct stream **buckets;
static size_t nbuckets, nstreams;
static struct fs_events_reader *wake_list;
static atomic_bool wake_pending;
static void (*waker)(void *ph);
static void (*destroyer)(void *ph);

/* ---- memory, counted ------------------------------------------------- */

static void *
mem_alloc(size_t n)
{
	void *p = malloc(n);

	if (p)
		held += n;
	return p;
}

static void
mem_free(void *p, size_t n)
{
	if (p) {
		held -= n;
		free(p);
	}
}

/* ---- rings ----------------------------------------------------------- */

static struct ent *
ring_at(const struct stream *s, size_t i)
{
	return &s->ring[(s->head + i) & (s->cap - 1)];
}

/* Moves the ring to a new array of cap entries (>= len); false if out of memory. */
static bool
ring_resize(struct stream *s, size_t cap)
{
	struct ent *r = mem_alloc(cap * sizeof *r);

	if (!r)
		return false;
	for (size_t i = 0; i < s->len; i++)
		r[i] = *ring_at(s, i);
	mem_free(s->ring, s->cap * sizeof *s->ring);
	s->ring = r;
	s->cap = cap;
	s->head = 0;
	return true;
}

static bool
ring_push(struct stream *s, struct ev *e)
{
	if (s->len == s->cap && !ring_resize(s, s->cap ? 2 * s->cap : RING_MIN))
		return false;
	*ring_at(s, s->len) = (struct ent){ e, s->size };
	s->len++;
	s->size += e->len;
	s->count++;
	return true;
}

/* Drops the front entry; an empty ring costs nothing, a sparse one shrinks
 * (so a ring never holds more than 4 entries a kept event, or RING_MIN). */
static void
ring_pop(struct stream *s)
{
	s->head = (s->head + 1) & (s->cap - 1);
	s->len--;
	if (s->len == 0) {
		mem_free(s->ring, s->cap * sizeof *s->ring);
		s->ring = NULL;
		s->cap = s->head = 0;
	} else if (s->cap > RING_MIN && s->len <= s->cap / 4) {
		ring_resize(s, s->cap / 2);     /* out of memory: stays bigger */
	}
}

/* The window's start: the stream offset and number of its first kept event. */
static uint64_t
window_off(const struct stream *s)
{
	return s->len ? ring_at(s, 0)->off : s->size;
}

static uint64_t
window_first(const struct stream *s)
{
	return s->count - s->len;
}

/* The index of the kept entry holding stream offset off (window_off <= off < size). */
static size_t
ring_find(const struct stream *s, uint64_t off)
{
	size_t lo = 0, hi = s->len - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (ring_at(s, mid)->off <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* ---- task streams: a chained hash table by id ----------------------- */

static size_t
bucket_of(task_t t, size_t n)
{
	return (size_t)((t * UINT32_C(2654435761)) & (n - 1));
}

/* Rehashes into n buckets; out of memory: the table stays as it is. */
static void
rehash(size_t n)
{
	struct stream **b = mem_alloc(n * sizeof *b);

	if (!b)
		return;
	memset(b, 0, n * sizeof *b);
	for (size_t i = 0; i < nbuckets; i++) {
		struct stream *s = buckets[i], *next;

		for (; s; s = next) {
			next = s->hnext;
			s->hnext = b[bucket_of(s->task, n)];
			b[bucket_of(s->task, n)] = s;
		}
	}
	mem_free(buckets, nbuckets * sizeof *buckets);
	buckets = b;
	nbuckets = n;
}

/*
 * The task's live stream.  Task ids are reused: a stream that ended (its
 * task terminated) stays in the table while a reader holds it, but is
 * never found again, so a newer task with the same id gets a stream of
 * its own and the old reader sees nothing of it.
 */
static struct stream *
stream_find(task_t t)
{
	struct stream *s;

	if (t == TASK_NULL)
		return &host;
	if (!nbuckets)
		return NULL;
	for (s = buckets[bucket_of(t, nbuckets)]; s; s = s->hnext)
		if (s->task == t && !s->ended)
			return s;
	return NULL;
}

static struct stream *
stream_new(task_t t)
{
	struct stream *s;

	if (nstreams + 1 > nbuckets)
		rehash(nbuckets ? 2 * nbuckets : BUCKETS_MIN);
	if (!nbuckets)
		return NULL;
	s = mem_alloc(sizeof *s);
	if (!s)
		return NULL;
	memset(s, 0, sizeof *s);
	s->task = t;
	s->hnext = buckets[bucket_of(t, nbuckets)];
	buckets[bucket_of(t, nbuckets)] = s;
	nstreams++;
	return s;
}

/* Frees a task stream nobody reads (its events stay in the host ring). */
static void
stream_free(struct stream *s)
{
	struct stream **pp = &buckets[bucket_of(s->task, nbuckets)];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	nstreams--;
	mem_free(s->ring, s->cap * sizeof *s->ring);
	mem_free(s, sizeof *s);
	if (nbuckets > BUCKETS_MIN && nstreams < nbuckets / 4)
		rehash(nbuckets / 2);
}

/* A task stream without reader and without a future is forgotten. */
static void
stream_maybe_free(struct stream *s)
{
	if (s != &host && s->readers == 0 && (s->ended || s->count == 0))
		stream_free(s);
}

/* ---- reader lists ---------------------------------------------------- */

static void
list_add(struct fs_events_reader **head, struct fs_events_reader *rd)
{
	rd->prev = NULL;
	rd->next_rd = *head;
	if (*head)
		(*head)->prev = rd;
	*head = rd;
}

static void
list_del(struct fs_events_reader **head, struct fs_events_reader *rd)
{
	if (rd->prev)
		rd->prev->next_rd = rd->next_rd;
	else
		*head = rd->next_rd;
	if (rd->next_rd)
		rd->next_rd->prev = rd->prev;
	rd->prev = rd->next_rd = NULL;
}

static void
reader_unlink(struct fs_events_reader *rd)
{
	if (rd->where == R_WAITING)
		list_del(&rd->s->waiters, rd);
	else if (rd->where == R_QUEUED)
		list_del(&wake_list, rd);
	rd->where = R_IDLE;
}

/* The stream grew: its waiters are to be woken. */
static void
queue_waiters(struct stream *s)
{
	struct fs_events_reader *rd;

	while ((rd = s->waiters) != NULL) {
		list_del(&s->waiters, rd);
		list_add(&wake_list, rd);
		rd->where = R_QUEUED;
	}
	if (wake_list)
		atomic_store(&wake_pending, true);
}

/* ---- the window ------------------------------------------------------- */

/* Drops the oldest event from the host ring and from each task ring it is in. */
static void
evict_oldest(void)
{
	struct ev *e = ring_at(&host, 0)->ev;

	ring_pop(&host);
	for (size_t i = 0; i < e->ntasks; i++) {
		/* The stream may have been freed (ended, unread) since, and
		 * ended ones of the same id may be kept: the one holding e at
		 * its front is the one it went to. */
		for (struct stream *s = buckets[bucket_of(e->tasks[i], nbuckets)]; s; s = s->hnext)
			if (s->task == e->tasks[i] && s->len && ring_at(s, 0)->ev == e) {
				ring_pop(s);
				break;
			}
	}
	window_bytes -= e->len;
	if (host.len == 0)
		a_tail = 0;
}

/*
 * The arena holds every kept event's record in log order: a record is
 * appended at a_tail and the oldest, at the front, is the host ring's first
 * event, so logging an event allocates nothing and the records of the window
 * lie together.  A record that does not fit before the arena's end goes to
 * its start, and the end stays unused until the front has passed it.
 */
static size_t
rec_bytes(size_t ntasks, size_t len)
{
	return (sizeof(struct ev) + ntasks * sizeof(task_t) + len + 7) & ~(size_t)7;
}

/* Room for n bytes at the tail, or NULL: the front must move first. */
static struct ev *
arena_take(size_t n)
{
	size_t at;

	if (host.len == 0) {
		if (n > arena_cap)
			return NULL;
		at = 0;
	} else {
		size_t front = (size_t)((char *)ring_at(&host, 0)->ev - arena);

		if (a_tail > front && arena_cap - a_tail >= n)
			at = a_tail;            /* used: [front, a_tail) */
		else if (a_tail > front && front >= n)
			at = 0;                 /* wrap */
		else if (a_tail <= front && front - a_tail >= n)
			at = a_tail;            /* used: [front, end) and [0, a_tail) */
		else
			return NULL;
	}
	a_tail = at + n;
	return (struct ev *)(void *)(arena + at);
}

/* ---- the line ------------------------------------------------------- */

struct line {
	char   buf[LINE_MAX_BYTES];
	size_t len;
	bool   full;
};

/*
 * Appenders: a line is made of strings and numbers only, so it is built
 * without printf (a line is made for every call the engine makes).  Each
 * keeps room for the newline; a piece that would not fit ends the line
 * there (it cannot happen with MAX_TOKENS changes, but the bound is kept).
 */
static void
put_mem(struct line *l, const char *p, size_t n)
{
	if (l->full || n > sizeof l->buf - 1 - l->len) {
		l->full = true;
		return;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

static void
put_s(struct line *l, const char *s)
{
	put_mem(l, s, strlen(s));
}

/* v in decimal. */
static void
put_u(struct line *l, uint64_t v)
{
	char b[20];
	size_t i = sizeof b;

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_mem(l, b + i, sizeof b - i);
}

/* v as 0x and lowercase hex digits, without leading zeros. */
static void
put_x(struct line *l, uint64_t v)
{
	char b[18];
	size_t i = sizeof b;

	do {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	put_mem(l, b + i, sizeof b - i);
}

/* " key=" */
static void
put_key(struct line *l, const char *key)
{
	put_mem(l, " ", 1);
	put_s(l, key);
	put_mem(l, "=", 1);
}

static const char *
tf(boolean_t b)
{
	return b ? "TRUE" : "FALSE";
}

static void
put_task(struct line *l, const char *key, task_t t)
{
	put_key(l, key);
	if (t == TASK_NULL)
		put_s(l, "none");
	else
		put_u(l, t);
}

static void
put_addr(struct line *l, const char *key, vm_address_t a)
{
	put_key(l, key);
	put_x(l, a);
}

static void
put_dec(struct line *l, const char *key, uint64_t v)
{
	put_key(l, key);
	put_u(l, v);
}

static void
put_bool(struct line *l, const char *key, boolean_t b)
{
	put_key(l, key);
	put_s(l, tf(b));
}

static void
put_prot(struct line *l, const char *key, vm_prot_t p)
{
	char rwx[3] = { (p & VM_PROT_READ) ? 'r' : '-', (p & VM_PROT_WRITE) ? 'w' : '-',
	                (p & VM_PROT_EXECUTE) ? 'x' : '-' };

	put_key(l, key);
	put_mem(l, rwx, 3);
}

static void
put_inherit(struct line *l, const char *key, vm_inherit_t i)
{
	put_key(l, key);
	switch (i) {
	case VM_INHERIT_SHARE: put_s(l, "share"); break;
	case VM_INHERIT_COPY:  put_s(l, "copy"); break;
	case VM_INHERIT_NONE:  put_s(l, "none"); break;
	default:               put_u(l, i); break;
	}
}

static void
put_attribute(struct line *l, vm_machine_attribute_t a)
{
	put_key(l, "attribute");
	switch (a) {
	case MATTR_CACHE:     put_s(l, "cache"); break;
	case MATTR_MIGRATE:   put_s(l, "migrate"); break;
	case MATTR_REPLICATE: put_s(l, "replicate"); break;
	default:              put_u(l, a); break;
	}
}

static void
put_value(struct line *l, const char *key, vm_machine_attribute_val_t v)
{
	static const char *const names[] = {
		[MATTR_VAL_OFF] = "off", [MATTR_VAL_ON] = "on", [MATTR_VAL_GET] = "get",
		[MATTR_VAL_CACHE_FLUSH] = "flush", [MATTR_VAL_DCACHE_FLUSH] = "dcache_flush",
		[MATTR_VAL_ICACHE_FLUSH] = "icache_flush",
	};

	put_key(l, key);
	if (v >= 0 && (size_t)v < sizeof names / sizeof names[0] && names[v]) {
		put_s(l, names[v]);
	} else if (v < 0) {
		put_mem(l, "-", 1);
		put_u(l, -(uint64_t)(int64_t)v);
	} else {
		put_u(l, (uint64_t)v);
	}
}

static void
put_args(struct line *l, const struct machvm_report *r)
{
	const struct machvm_call_args *a = &r->args;

	switch (r->call) {
	case MACHVM_CALL_TASK_CREATE:
		put_task(l, "task", a->other);
		put_task(l, "parent", a->task);
		put_bool(l, "inherit_memory", a->flag);
		return;
	case MACHVM_CALL_VM_REMAP:
		put_task(l, "task", a->task);
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		put_addr(l, "mask", a->mask);
		put_bool(l, "anywhere", a->flag);
		put_task(l, "src_task", a->other);
		put_addr(l, "src_address", a->address2);
		put_bool(l, "copy", a->flag2);
		put_inherit(l, "inheritance", a->inheritance);
		return;
	default:
		break;
	}
	put_task(l, "task", a->task);
	switch (r->call) {
	case MACHVM_CALL_VM_ALLOCATE:
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		put_bool(l, "anywhere", a->flag);
		break;
	case MACHVM_CALL_VM_DEALLOCATE:
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		break;
	case MACHVM_CALL_VM_PROTECT:
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		put_bool(l, "set_maximum", a->flag);
		put_prot(l, "new_protection", a->prot);
		break;
	case MACHVM_CALL_VM_INHERIT:
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		put_inherit(l, "new_inheritance", a->inheritance);
		break;
	case MACHVM_CALL_VM_MAP_INHERIT:
		put_addr(l, "start", a->address);
		put_addr(l, "end", a->address2);
		put_inherit(l, "new_inheritance", a->inheritance);
		break;
	case MACHVM_CALL_VM_WIRE:
		put_bool(l, "host_priv", a->flag);
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		put_prot(l, "access", a->prot);
		break;
	case MACHVM_CALL_VM_MACHINE_ATTRIBUTE:
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		put_attribute(l, a->attribute);
		put_value(l, "value", a->value);
		if (a->value == MATTR_VAL_GET && r->kr == KERN_SUCCESS)
			put_value(l, "value_out", a->value_out);
		break;
	case MACHVM_CALL_VM_WRITE:
		put_addr(l, "address", a->address);
		put_dec(l, "size", a->size);
		put_dec(l, "count", a->count);
		break;
	case MACHVM_CALL_VM_COPY:
		put_addr(l, "source_address", a->address);
		put_dec(l, "size", a->size);
		put_addr(l, "dest_address", a->address2);
		break;
	default:        /* task_terminate, or a call we do not know */
		break;
	}
}

static void
put_change(struct line *l, const struct machvm_change *c, task_t line_task)
{
	const char *name = machvm_change_name(c->kind);

	switch (c->kind) {
	case MACHVM_CHANGE_TASK_CREATED:
	case MACHVM_CHANGE_TASK_TERMINATED:
		put_s(l, name);
		put_mem(l, ":", 1);
		put_u(l, c->task);
		put_mem(l, "*", 1);
		put_u(l, c->count);
		return;
	case MACHVM_CHANGE_OBJECT_CREATED:
	case MACHVM_CHANGE_OBJECT_DESTROYED:
		put_s(l, name);
		put_mem(l, ":", 1);
		put_u(l, c->object);
		return;
	case MACHVM_CHANGE_OBJECT_SHADOWED:
	case MACHVM_CHANGE_OBJECT_COLLAPSED:
	case MACHVM_CHANGE_OBJECT_BYPASSED:
		put_s(l, name);
		put_mem(l, ":", 1);
		put_u(l, c->object);
		put_mem(l, "/", 1);
		put_u(l, c->object2);
		return;
	case MACHVM_CHANGE_SPLIT:
	case MACHVM_CHANGE_MERGED:
	case MACHVM_CHANGE_MOVED:
	case MACHVM_CHANGE_ADDED:
	case MACHVM_CHANGE_REMOVED:
	case MACHVM_CHANGE_ATTRIBUTES:
	case MACHVM_CHANGE_CONTENTS:
		break;
	default:
		put_s(l, "unknown");
		return;
	}
	put_s(l, name);
	if (c->task != TASK_NULL && c->task != line_task) {
		put_mem(l, "[", 1);
		put_u(l, c->task);
		put_mem(l, "]", 1);
	}
	switch (c->kind) {
	case MACHVM_CHANGE_SPLIT:
	case MACHVM_CHANGE_MERGED:
		put_mem(l, "@", 1);
		put_x(l, c->at);
		break;
	case MACHVM_CHANGE_MOVED:
		put_mem(l, "@", 1);
		put_x(l, c->at);
		put_mem(l, ">", 1);
		put_x(l, c->to);
		break;
	default:
		put_mem(l, ":", 1);
		put_x(l, c->start);
		put_mem(l, "-", 1);
		put_x(l, c->end);
		if ((c->kind == MACHVM_CHANGE_ADDED || c->kind == MACHVM_CHANGE_REMOVED) &&
		    c->count != 1) {
			put_mem(l, "*", 1);
			put_u(l, c->count);
		}
		break;
	}
}

/* The line of r without its seq and the space after it. */
static void
format_line(struct line *l, const struct machvm_report *r)
{
	const struct machvm_call_args *a = &r->args;
	task_t line_task = r->call == MACHVM_CALL_TASK_CREATE ? a->other : a->task;
	size_t shown = r->nchanges < MAX_TOKENS ? r->nchanges : MAX_TOKENS;

	l->len = 0;
	l->full = false;
	put_s(l, machvm_call_name(r->call));
	put_args(l, r);
	if (a->has_range) {
		put_key(l, "range");
		put_x(l, a->start);
		put_mem(l, "-", 1);
		put_x(l, a->end);
	}
	if (a->has_src_range) {
		put_key(l, "src_range");
		put_x(l, a->src_start);
		put_mem(l, "-", 1);
		put_x(l, a->src_end);
	}
	if (r->call == MACHVM_CALL_VM_REMAP && r->kr == KERN_SUCCESS) {
		put_prot(l, "cur_protection", a->prot);
		put_prot(l, "max_protection", a->max_protection);
	}
	put_key(l, "kr");
	put_s(l, kern_return_name(r->kr));
	put_key(l, "changes");
	for (size_t i = 0; i < shown; i++) {
		if (i)
			put_mem(l, ",", 1);
		put_change(l, &r->changes[i], line_task);
	}
	if (r->nchanges > shown) {
		put_s(l, ",+");
		put_u(l, r->nchanges - shown);
		put_s(l, "_more");
	}
	if (r->incomplete)
		put_s(l, shown ? ",incomplete" : "incomplete");
	else if (!shown)
		put_mem(l, "-", 1);
	l->buf[l->len++] = '\n';
}

/* ---- the public side ---------------------------------------------- */

/* Frees every event and stream (lock held). */
static void
teardown(void)
{
	while (host.len)
		evict_oldest();
	mem_free(arena, arena_cap);
	arena = NULL;
	a_tail = 0;
	for (size_t i = 0; i < nbuckets; i++) {
		struct stream *s, *next;

		for (s = buckets[i]; s; s = next) {
			next = s->hnext;
			mem_free(s->ring, s->cap * sizeof *s->ring);
			mem_free(s, sizeof *s);
		}
	}
	mem_free(buckets, nbuckets * sizeof *buckets);
	buckets = NULL;
	nbuckets = nstreams = 0;
	inited = false;
}

int
fs_events_init(size_t keep)
{
	return fs_events_init_arena(keep, 0);
}

int
fs_events_init_arena(size_t keep, size_t arena_bytes)
{
	if (keep == 0 || keep > SIZE_MAX / (2 * (BYTES_PER_EVENT + REC_PER_EVENT)))
		return -EINVAL;
	if (arena_bytes && arena_bytes < KEEP_BYTES_MIN)
		return -EINVAL;
	pthread_mutex_lock(&lock);
	if (inited)
		teardown();
	keep_events = keep;
	keep_bytes = keep * BYTES_PER_EVENT < KEEP_BYTES_MIN ? KEEP_BYTES_MIN
	                                                     : keep * BYTES_PER_EVENT;
	arena_cap = arena_bytes ? arena_bytes : keep_bytes + keep * REC_PER_EVENT + ARENA_SLACK;
	window_bytes = held = 0;
	last_seq = 0;
	memset(&host, 0, sizeof host);
	buckets = NULL;
	nbuckets = nstreams = 0;
	wake_list = NULL;
	atomic_store(&wake_pending, false);
	inited = true;
	pthread_mutex_unlock(&lock);
	return 0;
}

void
fs_events_fini(void)
{
	pthread_mutex_lock(&lock);
	if (inited)
		teardown();
	pthread_mutex_unlock(&lock);
}

/* Adds t to the task list (distinct, not TASK_NULL), with whether it may
 * create the stream. */
static void
name_task(task_t *tasks, bool *create, size_t *n, task_t t, bool may_create)
{
	if (t == TASK_NULL)
		return;
	for (size_t i = 0; i < *n; i++)
		if (tasks[i] == t) {
			create[i] = create[i] || may_create;
			return;
		}
	tasks[*n] = t;
	create[*n] = may_create;
	(*n)++;
}

/* "seq " into buf (24 bytes); its length. */
static size_t
seq_text(char *buf, uint64_t seq)
{
	char b[20];
	size_t i = sizeof b, n;

	do {
		b[--i] = (char)('0' + seq % 10);
		seq /= 10;
	} while (seq);
	n = sizeof b - i;
	memcpy(buf, b + i, n);
	buf[n] = ' ';
	return n + 1;
}

void
fs_events_record(const struct machvm_report *r)
{
	struct line l;
	char seq[24];
	size_t ntasks = 0, size;
	bool ok = r->kr == KERN_SUCCESS;
	task_t tasks[MAX_TASKS];
	bool create[MAX_TASKS];
	struct ev *e;
	size_t n, old_tail;

	format_line(&l, r);
	/* Changes name tasks the call changed, so alive ones; arguments of a
	 * failed call may name anything, so they only reach existing streams. */
	name_task(tasks, create, &ntasks, r->args.task, ok);
	name_task(tasks, create, &ntasks, r->args.other, ok);
	for (size_t i = 0; i < r->nchanges && ntasks < MAX_TASKS; i++)
		name_task(tasks, create, &ntasks, r->changes[i].task, true);

	pthread_mutex_lock(&lock);
	if (!inited)
		goto out;
	n = seq_text(seq, ++last_seq);
	size = n + l.len;
	while (host.len && (host.len >= keep_events || window_bytes + size > keep_bytes))
		evict_oldest();
	if (!arena && (arena = mem_alloc(arena_cap)) == NULL)
		goto out;
	old_tail = a_tail;
	while ((e = arena_take(rec_bytes(ntasks, size))) == NULL && host.len)
		evict_oldest();
	if (!e)
		goto out;
	e->len = (uint32_t)size;
	e->ncap = (uint16_t)ntasks;
	e->ntasks = 0;
	memcpy(ev_text(e), seq, n);
	memcpy(ev_text(e) + n, l.buf, l.len);
	if (!ring_push(&host, e)) {
		a_tail = host.len ? old_tail : 0;
		goto out;
	}
	window_bytes += size;
	queue_waiters(&host);
	for (size_t i = 0; i < ntasks; i++) {
		struct stream *s = stream_find(tasks[i]);

		if (!s && create[i])
			s = stream_new(tasks[i]);
		if (!s || s->ended)
			continue;
		if (!ring_push(s, e)) {
			stream_maybe_free(s);
			continue;
		}
		e->tasks[e->ntasks++] = tasks[i];
		queue_waiters(s);
	}
	/* The stream ends after the line that ends the task. */
	for (size_t i = 0; i < r->nchanges + 1; i++) {
		task_t gone = TASK_NULL;
		struct stream *s;

		if (i < r->nchanges && r->changes[i].kind == MACHVM_CHANGE_TASK_TERMINATED)
			gone = r->changes[i].task;
		else if (i == r->nchanges && r->call == MACHVM_CALL_TASK_TERMINATE && ok)
			gone = r->args.task;
		if (gone != TASK_NULL && (s = stream_find(gone)) != NULL) {
			s->ended = true;
			stream_maybe_free(s);
		}
	}
out:
	pthread_mutex_unlock(&lock);
}

uint64_t
fs_events_size(task_t stream)
{
	struct stream *s;
	uint64_t size = 0;

	pthread_mutex_lock(&lock);
	if (inited && (s = stream_find(stream)) != NULL)
		size = s->size;
	pthread_mutex_unlock(&lock);
	return size;
}

struct fs_events_reader *
fs_events_open(task_t stream)
{
	struct fs_events_reader *rd = calloc(1, sizeof *rd);
	struct stream *s;

	if (!rd)
		return NULL;
	pthread_mutex_lock(&lock);
	s = inited ? stream_find(stream) : NULL;
	if (inited && !s)
		s = stream_new(stream);
	if (s) {
		s->readers++;
		rd->s = s;
		held += sizeof *rd;
	}
	pthread_mutex_unlock(&lock);
	if (!s) {
		free(rd);
		return NULL;
	}
	return rd;
}

void
fs_events_close(struct fs_events_reader *rd)
{
	void (*destroy)(void *);
	void *ph;

	if (!rd)
		return;
	pthread_mutex_lock(&lock);
	destroy = destroyer;
	reader_unlink(rd);
	ph = rd->ph;
	rd->s->readers--;
	stream_maybe_free(rd->s);
	held -= sizeof *rd;
	pthread_mutex_unlock(&lock);
	if (ph && destroy)
		destroy(ph);
	free(rd);
}

/* Makes rd's missed line at file offset f: the stream's window starts above
 * where it asked (so). */
static void
give_missed(struct fs_events_reader *rd, uint64_t f, int64_t so)
{
	const struct stream *s = rd->s;
	uint64_t w = window_off(s), first = window_first(s), n;
	int len;

	/* Read on from where it stopped: exactly the events in between. */
	if (so == (int64_t)rd->pos && rd->next <= first)
		n = first - rd->next;
	else
		n = first;
	len = snprintf(rd->missed, sizeof rd->missed, "# missed %" PRIu64 " events\n", n);
	rd->m_off = f;
	rd->m_len = (uint32_t)len;
	rd->delta = (int64_t)w - (int64_t)(f + (uint64_t)len);      /* f < 2^63 */
	rd->pos = w;
	rd->next = first;
}

/* Makes room for n more bytes (and a NUL, as render.c's buffers have). */
static bool
out_reserve(struct fs_buf *out, size_t n)
{
	size_t want = out->len + n + 1;
	char *p;

	if (out->failed)
		return false;
	if (want <= out->cap)
		return true;
	p = realloc(out->data, want);
	if (!p) {
		out->failed = true;
		return false;
	}
	out->data = p;
	out->cap = want;
	return true;
}

int
fs_events_read(struct fs_events_reader *rd, uint64_t off, size_t size,
               struct fs_buf *out)
{
	struct stream *s = rd->s;
	size_t got = 0, start = out->len;
	uint64_t f = off;
	int rc = 0;

	pthread_mutex_lock(&lock);
	while (got < size) {
		int64_t so;

		if (rd->m_len && f >= rd->m_off && f - rd->m_off < rd->m_len) {
			size_t at = (size_t)(f - rd->m_off), n = rd->m_len - at;

			if (n > size - got)
				n = size - got;
			if (!out_reserve(out, n)) {
				rc = -ENOMEM;
				break;
			}
			memcpy(out->data + out->len, rd->missed + at, n);
			out->len += n;
			got += n;
			f += n;
			continue;
		}
		/* Offsets that map past 2^63 are past any end. */
		if (f > (uint64_t)INT64_MAX ||
		    (rd->delta > 0 && f > (uint64_t)(INT64_MAX - rd->delta)))
			break;
		so = (int64_t)f + rd->delta;
		if (so >= 0 && (uint64_t)so >= s->size)
			break;                          /* EOF */
		if (so < 0 || (uint64_t)so < window_off(s)) {
			if (got)
				break;                  /* the rest in the next read */
			give_missed(rd, f, so);
			continue;
		}
		{
			uint64_t sof = (uint64_t)so, end;
			size_t i = ring_find(s, sof), n = s->size - sof < size - got
			                                  ? (size_t)(s->size - sof) : size - got;
			size_t done = 0;

			if (!out_reserve(out, n)) {
				rc = -ENOMEM;
				break;
			}
			while (done < n) {
				const struct ent *en = ring_at(s, i);
				size_t at = (size_t)(sof + done - en->off);
				size_t k = en->ev->len - at;

				if (k > n - done)
					k = n - done;
				memcpy(out->data + out->len + done, ev_text(en->ev) + at, k);
				done += k;
				if (at + k == en->ev->len)
					i++;
			}
			out->len += n;
			got += n;
			end = sof + n;
			rd->pos = end;
			/* i: the entry holding end, or len when end is the stream's end */
			rd->next = window_first(s) + i;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (rc)
		out->len = start;
	if (out->data && out->len < out->cap)
		out->data[out->len] = '\0';
	return rc;
}

uint64_t
fs_events_reader_size(struct fs_events_reader *rd)
{
	int64_t size;

	pthread_mutex_lock(&lock);
	size = (int64_t)rd->s->size - rd->delta;
	pthread_mutex_unlock(&lock);
	return size > 0 ? (uint64_t)size : 0;
}

unsigned
fs_events_poll(struct fs_events_reader *rd, void *ph)
{
	void (*destroy)(void *);
	unsigned mask = 0;
	void *old = NULL;

	pthread_mutex_lock(&lock);
	destroy = destroyer;
	if (rd->pos < rd->s->size)
		mask = POLLIN;
	else if (rd->s->ended)
		mask = POLLIN | POLLHUP;
	if (!mask && ph) {
		old = rd->ph;
		rd->ph = ph;
		if (rd->where == R_IDLE) {
			list_add(&rd->s->waiters, rd);
			rd->where = R_WAITING;
		}
	}
	pthread_mutex_unlock(&lock);
	if (old && old != ph && destroy)
		destroy(old);
	return mask;
}

void
fs_events_wake(void)
{
	if (!atomic_load(&wake_pending))
		return;
	for (;;) {
		void (*wake)(void *), (*destroy)(void *);
		struct fs_events_reader *rd;
		void *ph = NULL;

		pthread_mutex_lock(&lock);
		wake = waker;
		destroy = destroyer;
		rd = wake_list;
		if (rd) {
			list_del(&wake_list, rd);
			rd->where = R_IDLE;
			ph = rd->ph;
			rd->ph = NULL;
		} else {
			atomic_store(&wake_pending, false);
		}
		pthread_mutex_unlock(&lock);
		if (!rd)
			return;
		if (ph && wake)
			wake(ph);
		if (ph && destroy)
			destroy(ph);
	}
}

void
fs_events_set_waker(void (*wake)(void *ph), void (*destroy)(void *ph))
{
	pthread_mutex_lock(&lock);
	waker = wake;
	destroyer = destroy;
	pthread_mutex_unlock(&lock);
}

size_t
fs_events_memory(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = held;
	pthread_mutex_unlock(&lock);
	return n;
}

size_t
fs_events_streams(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = nstreams;
	pthread_mutex_unlock(&lock);
	return n;
}
