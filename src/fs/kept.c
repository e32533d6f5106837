/*
 * kept.c - see kept.h.
 *
 * A slot keeps one task's text of one kept row, the region pieces of it
 * (struct line: the region's span, where its piece starts, whether another
 * task can change it) and, while it is active, the ranges reports said
 * changed since the text was taken for the last render (dirty).  A few
 * direct-mapped slots, so memory stays bounded; texts over TEXT_MAX are
 * not kept, nor one that would take the texts kept in all past KEPT_MAX.
 */
#include "kept.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "coherence.h"
#include "fields.h"
#include "log.h"

#define SLOTS     16
#define TEXT_MAX  (256u << 20)  /* bigger texts are not kept (offsets fit 32 bits) */
#define KEPT_MAX  (256u << 20)  /* the most all kept texts and their lines take */
#define DIRTY_MAX 64            /* more changed ranges: render whole */
#define KEPT_ROWS 4

/* ---- texts ------------------------------------------------------------ */

struct fs_text *
fs_text_new(struct fs_buf *b)
{
	struct fs_text *t = malloc(sizeof *t);

	if (!t)
		return NULL;
	atomic_init(&t->refs, 1);
	t->len = b->len;
	t->data = b->data;
	fs_buf_init(b);
	return t;
}

void
fs_text_put(struct fs_text *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
		free(t->data);
		free(t);
	}
}

/* ---- slots ------------------------------------------------------------ */

struct line {
	vm_address_t start, end;
	uint32_t     off;       /* where its piece starts in the text */
	uint32_t     shared;    /* another task's call can change it */
};

struct range {
	vm_address_t lo, hi;
};

static struct slot {
	pthread_mutex_t render;
	pthread_mutex_t lock;
	/* lock: */
	bool            active;         /* collecting changes for (task, row) */
	task_t          task;
	unsigned        row;
	bool            whole;          /* render whole next time */
	size_t          ndirty;
	struct range    dirty[DIRTY_MAX];
	/* render (the hook never looks): */
	struct fs_text *text;           /* NULL: none */
	struct line    *lines;
	size_t          nlines, nshared;
	uint64_t        gen;            /* content generation before the render */
} slots[SLOTS];

static unsigned kept_rows[KEPT_ROWS], nkept_rows;
static _Atomic size_t kept_bytes;       /* texts and lines kept in all slots */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
init(void)
{
	for (size_t i = 0; i < SLOTS; i++) {
		pthread_mutex_init(&slots[i].render, NULL);
		pthread_mutex_init(&slots[i].lock, NULL);
	}
	for (unsigned r = 0; r < fs_nrows && nkept_rows < KEPT_ROWS; r++)
		if (fs_rows[r].flags & FS_KEPT)
			kept_rows[nkept_rows++] = r;
}

static struct slot *
slot_of(task_t task, unsigned row)
{
	return &slots[(task * 7 + row) % SLOTS];
}

static const struct fs_mapfmt *
fmt_of(unsigned row)
{
	return fs_rows[row].read == fs_read_maps_json ? &fs_maps_json_fmt : &fs_maps_fmt;
}

static size_t
slot_bytes(const struct slot *s)
{
	return s->text ? s->text->len + s->nlines * sizeof *s->lines : 0;
}

/* Drops the kept text.  Caller holds render. */
static void
drop_text(struct slot *s)
{
	atomic_fetch_sub(&kept_bytes, slot_bytes(s));
	fs_text_put(s->text);
	s->text = NULL;
	free(s->lines);
	s->lines = NULL;
	s->nlines = s->nshared = 0;
}

/*
 * Whether a call on another task can change what x shows without a report
 * about x's task: anything but no object, or a private one (the only
 * reference, no shadow below, no copy pending, not marked shared).
 */
static bool
region_shared(const vm_region_extended_info_t *x)
{
	if (x->shared)
		return true;
	if (x->share_mode == SM_EMPTY && x->object_id == 0)
		return false;
	return !(x->share_mode == SM_PRIVATE && x->shadow_depth == 0 && !x->needs_copy &&
	         x->ref_count == 1);
}

/* ---- the reports -------------------------------------------------------- */

static void
add_dirty(struct slot *s, vm_address_t lo, vm_address_t hi)
{
	struct range *last = s->ndirty ? &s->dirty[s->ndirty - 1] : NULL;

	if (lo >= hi)
		return;
	if (last && lo <= last->hi && hi >= last->lo) {
		if (lo < last->lo)
			last->lo = lo;
		if (hi > last->hi)
			last->hi = hi;
		return;
	}
	if (s->ndirty == DIRTY_MAX) {
		s->whole = true;
		return;
	}
	s->dirty[s->ndirty].lo = lo;
	s->dirty[s->ndirty].hi = hi;
	s->ndirty++;
}

/*
 * What report r means for slot s, the text of task t.  Ranges for the
 * calls whose changes name every region of t they touched: the map calls,
 * and a fork or remap out of t too (the engine reports each entry of the
 * parent or source whose sharing changed); whole for the rest (vm_copy,
 * whose reading side is not reported, t made or ended, lost changes).
 */
static void
note(struct slot *s, const struct machvm_report *r, task_t t)
{
	if (s->whole)
		return;
	if (r->incomplete || r->call == MACHVM_CALL_TASK_TERMINATE ||
	    r->call == MACHVM_CALL_VM_COPY ||
	    (r->call == MACHVM_CALL_TASK_CREATE && r->args.other == t)) {
		s->whole = true;
		return;
	}
	for (size_t i = 0; i < r->nchanges && !s->whole; i++) {
		const struct machvm_change *c = &r->changes[i];

		if (c->task != t)
			continue;
		switch (c->kind) {
		case MACHVM_CHANGE_SPLIT:
		case MACHVM_CHANGE_MERGED:
		case MACHVM_CHANGE_MOVED:
		case MACHVM_CHANGE_ADDED:
		case MACHVM_CHANGE_REMOVED:
		case MACHVM_CHANGE_ATTRIBUTES:
		case MACHVM_CHANGE_CONTENTS:
			add_dirty(s, c->start, c->end);
			break;
		case MACHVM_CHANGE_TASK_CREATED:
		case MACHVM_CHANGE_TASK_TERMINATED:
			s->whole = true;
			break;
		default:
			break;
		}
	}
}

static void
note_task(const struct machvm_report *r, task_t t)
{
	for (unsigned k = 0; k < nkept_rows; k++) {
		struct slot *s = slot_of(t, kept_rows[k]);

		pthread_mutex_lock(&s->lock);
		if (s->active && s->task == t && s->row == kept_rows[k])
			note(s, r, t);
		pthread_mutex_unlock(&s->lock);
	}
}

void
fs_kept_report(const struct machvm_report *r)
{
	task_t seen[8];
	size_t nseen = 0;

	pthread_once(&once, init);
	for (size_t i = 0; i < r->ntasks && nseen < 2; i++)
		seen[nseen++] = r->tasks[i];
	/* A task a change names that the call did not lock (none expected):
	 * noted all the same. */
	for (size_t i = 0; i < r->nchanges; i++) {
		task_t t = r->changes[i].task;
		size_t k = 0;

		if (t == TASK_NULL)
			continue;
		while (k < nseen && seen[k] != t)
			k++;
		if (k == nseen && nseen < sizeof seen / sizeof seen[0])
			seen[nseen++] = t;
	}
	for (size_t i = 0; i < nseen; i++)
		note_task(r, seen[i]);
}

/* ---- rendering ---------------------------------------------------------- */

/* The whole text from a snapshot, and its lines; *keep says whether it can
 * be kept (not too big, the lines made).  0 or -errno. */
static int
render_whole(task_t task, const struct fs_mapfmt *f, struct fs_buf *out,
             struct line **lines, size_t *nlines, size_t *nshared, bool *keep)
{
	vm_region_extended_info_t *r;
	uint32_t *offs = NULL;
	size_t count;
	int rc = fs_map_snapshot(task, &r, &count);

	*lines = NULL;
	*nlines = *nshared = 0;
	*keep = false;
	if (rc)
		return rc;
	if (count && !(offs = malloc(count * sizeof *offs))) {
		free(r);
		return -ENOMEM;
	}
	rc = fs_render_map(r, count, f, out, offs);
	if (rc == 0 && out->len <= TEXT_MAX && count && (*lines = malloc(count * sizeof **lines))) {
		for (size_t i = 0; i < count; i++) {
			struct line *l = &(*lines)[i];

			l->start = r[i].start;
			l->end = r[i].start + r[i].size;
			l->off = offs[i];
			l->shared = region_shared(&r[i]);
			*nshared += l->shared;
		}
		*nlines = count;
	}
	*keep = rc == 0 && out->len <= TEXT_MAX && (count == 0 || *lines);
	free(offs);
	free(r);
	return rc;
}

static int
cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The first line ending after a (nlines if none). */
static size_t
line_ending_after(const struct line *l, size_t n, vm_address_t a)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l[mid].end > a)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The first line starting at or after a (nlines if none). */
static size_t
line_starting_from(const struct line *l, size_t n, vm_address_t a)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l[mid].start >= a)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

struct regions {
	vm_region_extended_info_t *v;
	size_t n, cap;
};

static bool
regions_push(struct regions *rs, const vm_region_extended_info_t *x)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		vm_region_extended_info_t *v = realloc(rs->v, cap * sizeof *v);

		if (!v)
			return false;
		rs->v = v;
		rs->cap = cap;
	}
	rs->v[rs->n++] = *x;
	return true;
}

/*
 * The quick way, when nobody else holds the kept text (the slot's is its
 * only reference: only an open of this slot takes one, and opens wait for
 * the slot's render mutex) and every range's regions come out as many and
 * as long, in bytes, as before (a protection, inheritance or wiring that
 * changed and changed back, say): the new pieces are written over the old
 * ones and nothing else is copied.  True if done.
 */
static bool
patch_in_place(struct slot *s, const struct fs_mapfmt *f, const size_t *first,
               const size_t *past, const size_t *nnew, const struct regions *rs, size_t nd)
{
	size_t sl = strlen(f->sep), tl = strlen(f->tail), on = s->nlines, r = 0;
	char *tmp;

	if (atomic_load(&s->text->refs) != 1)
		return false;
	for (size_t i = 0; i < nd; i++)
		if (nnew[i] != past[i] - first[i])
			return false;
	tmp = malloc(fs_mapfmt_max(f));
	if (!tmp)
		return false;
	/* First the lengths, then (all equal) the writing. */
	for (size_t i = 0; i < nd; i++) {
		size_t want, have = 0;

		if (nnew[i] == 0)
			continue;
		want = (past[i] < on ? s->lines[past[i]].off - sl : s->text->len - tl) -
		       s->lines[first[i]].off;
		for (size_t j = 0; j < nnew[i]; j++)
			have += (size_t)(f->put(tmp, &rs->v[r + j]) - tmp) + (j ? sl : 0);
		r += nnew[i];
		if (have != want) {
			free(tmp);
			return false;
		}
	}
	r = 0;
	for (size_t i = 0; i < nd; i++) {
		char *p = nnew[i] ? s->text->data + s->lines[first[i]].off : NULL;

		for (size_t j = 0; j < nnew[i]; j++, r++) {
			struct line *l = &s->lines[first[i] + j];
			const vm_region_extended_info_t *x = &rs->v[r];
			size_t n = (size_t)(f->put(tmp, x) - tmp);

			if (j) {
				memcpy(p, f->sep, sl);
				p += sl;
			}
			s->nshared -= l->shared;
			l->start = x->start;
			l->end = x->start + x->size;
			l->off = (uint32_t)(p - s->text->data);
			l->shared = region_shared(x);
			s->nshared += l->shared;
			memcpy(p, tmp, n);
			p += n;
		}
	}
	free(tmp);
	return true;
}

/*
 * The text of s brought up to date: the regions in the dirty ranges d[0..nd)
 * rendered again, the rest copied.  0 (out, *lines, *nlines, *nshared the
 * new text), 2 when the kept text itself was brought up to date
 * (patch_in_place), 1 when it cannot be done so (render whole), or -errno.
 */
static int
splice_text(struct slot *s, task_t task, const struct fs_mapfmt *f, struct range *d,
       size_t nd, struct fs_buf *out, struct line **lines, size_t *nlines, size_t *nshared)
{
	const struct line *ol = s->lines;
	size_t on = s->nlines, sl = strlen(f->sep), tl = strlen(f->tail), max = fs_mapfmt_max(f);
	size_t *first = NULL, *past = NULL, *nnew = NULL, m = 0, nn, k;
	struct regions rs = { NULL, 0, 0 };
	struct line *nl = NULL;
	bool moved;
	int rc = 1;

	if (on == 0 || nd == 0 || !fs_mapfmt_ready())
		return 1;
	/* Each range out to whole old lines, then joined where they meet. */
	qsort(d, nd, sizeof *d, cmp_range);
	for (size_t i = 0; i < nd; i++) {
		size_t a = line_ending_after(ol, on, d[i].lo);
		size_t b = d[i].hi ? line_ending_after(ol, on, d[i].hi - 1) : on;

		if (a < on && ol[a].start < d[i].lo)
			d[i].lo = ol[a].start;
		if (b < on && ol[b].start < d[i].hi && ol[b].end > d[i].hi)
			d[i].hi = ol[b].end;
	}
	k = 0;
	for (size_t i = 1; i < nd; i++) {
		if (d[i].lo <= d[k].hi) {
			if (d[i].hi > d[k].hi)
				d[k].hi = d[i].hi;
		} else {
			d[++k] = d[i];
		}
	}
	nd = k + 1;

	first = malloc(nd * sizeof *first);
	past = malloc(nd * sizeof *past);
	nnew = calloc(nd, sizeof *nnew);
	if (!first || !past || !nnew) {
		rc = -ENOMEM;
		goto out;
	}
	/* The old lines each range replaces, and the regions there now. */
	nn = on;
	for (size_t i = 0; i < nd; i++) {
		vm_address_t a = d[i].lo;
		vm_region_extended_info_t x;

		first[i] = line_ending_after(ol, on, d[i].lo);
		past[i] = line_starting_from(ol, on, d[i].hi);
		if (past[i] < first[i])
			past[i] = first[i];
		nn -= past[i] - first[i];
		while (a < d[i].hi && fs_region_next(task, a, true, &x) == 0 &&
		       x.start < d[i].hi) {
			/* A region reaching out of the range changed where no
			 * report said: not for splicing. */
			if (x.start < d[i].lo || x.start + x.size > d[i].hi)
				goto out;
			if (!regions_push(&rs, &x)) {
				rc = -ENOMEM;
				goto out;
			}
			nnew[i]++;
			a = x.start + x.size;
		}
		nn += nnew[i];
	}
	if (!machvm_task_alive(task)) {
		rc = -ENOENT;
		goto out;
	}
	/*
	 * One snapshot: the regions were read one call at a time, so they are
	 * the map at one instant only if no call changed the task meanwhile,
	 * that is if nothing was noted since the changes were taken.
	 * Otherwise a snapshot of the whole map (what was noted stays noted).
	 */
	pthread_mutex_lock(&s->lock);
	moved = s->whole || s->ndirty;
	pthread_mutex_unlock(&s->lock);
	if (moved)
		goto out;
	if (patch_in_place(s, f, first, past, nnew, &rs, nd)) {
		rc = 2;
		goto out;
	}
	if (nn == 0) {
		fs_buf_put(out, f->empty, strlen(f->empty));
		rc = fs_buf_status(out);
		*lines = NULL;
		*nlines = *nshared = 0;
		goto out;
	}
	if (s->text->len + rs.n * (max + sl) + 64 > TEXT_MAX)
		goto out;
	if (!fs_buf_room(out, s->text->len + rs.n * (max + sl) + 64) ||
	    !(nl = malloc(nn * sizeof *nl))) {
		rc = -ENOMEM;
		goto out;
	}
	fs_buf_put(out, f->head, strlen(f->head));
	*nshared = 0;
	{
		size_t cursor = 0, r = 0;

		for (size_t i = 0; i <= nd; i++) {
			size_t upto = i < nd ? first[i] : on;

			if (cursor < upto) {
				/* Old lines [cursor, upto) in one piece. */
				size_t from = ol[cursor].off;
				size_t to = upto < on ? ol[upto].off - sl : s->text->len - tl;
				size_t base;

				if (m)
					fs_buf_put(out, f->sep, sl);
				base = out->len;
				fs_buf_put(out, s->text->data + from, to - from);
				for (size_t j = cursor; j < upto; j++) {
					nl[m] = ol[j];
					nl[m].off = (uint32_t)(ol[j].off - from + base);
					*nshared += nl[m].shared;
					m++;
				}
			}
			if (i == nd)
				break;
			for (size_t j = 0; j < nnew[i]; j++, r++) {
				const vm_region_extended_info_t *x = &rs.v[r];
				char *p, *e;

				if (m)
					fs_buf_put(out, f->sep, sl);
				nl[m].start = x->start;
				nl[m].end = x->start + x->size;
				nl[m].off = (uint32_t)out->len;
				nl[m].shared = region_shared(x);
				*nshared += nl[m].shared;
				m++;
				p = fs_buf_room(out, max);
				if (!p)
					break;
				e = f->put(p, x);
				fs_buf_commit(out, (size_t)(e - p));
			}
			cursor = past[i];
		}
	}
	fs_buf_put(out, f->tail, tl);
	rc = fs_buf_status(out);
	if (rc == 0 && m != nn)
		rc = 1;                 /* cannot happen: the counts are the same */
	if (rc == 0) {
		*lines = nl;
		*nlines = nn;
		nl = NULL;
	}
out:
	free(nl);
	free(first);
	free(past);
	free(nnew);
	free(rs.v);
	if (rc != 0 && rc != 2)
		fs_buf_free(out);
	return rc;
}

#ifdef MACHVM_DEBUG
/*
 * Debug builds: a spliced text must equal a fresh render whenever no call
 * reported since the changes were taken (gen): a difference is a bug in
 * the splice or in the reports, and the daemon stops at once.
 */
static void
check_splice(const struct fs_node *n, const char *got, size_t len, uint64_t gen)
{
	struct fs_buf ref;
	int rc;

	fs_buf_init(&ref);
	rc = fs_rows[n->row].read(n, &ref);
	if (rc == 0 && fs_coherence_content_gen() == gen &&
	    (ref.len != len || memcmp(ref.data, got, len) != 0)) {
		size_t at = 0;

		while (at < ref.len && at < len && ref.data[at] == got[at])
			at++;
		fs_error("kept text of tasks/%u/%s differs from a fresh render at byte %zu "
		         "(%zu and %zu bytes)", (unsigned)n->task, fs_rows[n->row].name, at,
		         len, ref.len);
		abort();
	}
	fs_buf_free(&ref);
}
#endif

int
fs_kept_open(const struct fs_node *n, struct fs_text **out)
{
	const struct fs_mapfmt *f = fmt_of(n->row);
	struct slot *s = slot_of(n->task, n->row);
	struct range d[DIRTY_MAX];
	size_t nd = 0, nlines = 0, nshared = 0;
	struct line *lines = NULL;
	struct fs_buf b;
	struct fs_text *t;
	bool whole, keep = false;
	uint64_t gen;
	int rc = 1;

	pthread_once(&once, init);
	pthread_mutex_lock(&s->render);
	pthread_mutex_lock(&s->lock);
	if (!s->active || s->task != n->task || s->row != n->row) {
		drop_text(s);
		s->active = true;
		s->task = n->task;
		s->row = n->row;
		s->whole = true;
		s->ndirty = 0;
	}
	gen = fs_coherence_content_gen();
	if (s->text && (s->nshared ? s->gen == gen : !s->whole && s->ndirty == 0)) {
		atomic_fetch_add(&s->text->refs, 1);
		*out = s->text;
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&s->render);
		return 0;
	}
	whole = !s->text || s->nshared || s->whole;
	if (!whole) {
		nd = s->ndirty;
		memcpy(d, s->dirty, nd * sizeof *d);
	}
	s->whole = false;
	s->ndirty = 0;
	pthread_mutex_unlock(&s->lock);

	fs_buf_init(&b);
	if (!whole) {
		rc = splice_text(s, n->task, f, d, nd, &b, &lines, &nlines, &nshared);
		keep = rc == 0;
#ifdef MACHVM_DEBUG
		if (rc == 0)
			check_splice(n, b.data, b.len, gen);
		else if (rc == 2)
			check_splice(n, s->text->data, s->text->len, gen);
#endif
		if (rc == 2) {
			/* Patched where it is: still the slot's, now current. */
			s->gen = gen;
			atomic_fetch_add(&s->text->refs, 1);
			*out = s->text;
			pthread_mutex_unlock(&s->render);
			return 0;
		}
	}
	if (rc == 1)
		rc = render_whole(n->task, f, &b, &lines, &nlines, &nshared, &keep);
	t = rc == 0 ? fs_text_new(&b) : NULL;
	if (rc == 0 && !t)
		rc = -ENOMEM;
	drop_text(s);
	if (rc == 0 && keep && t->len <= TEXT_MAX &&
	    atomic_fetch_add(&kept_bytes, t->len + nlines * sizeof *lines) +
	    t->len + nlines * sizeof *lines <= KEPT_MAX) {
		atomic_fetch_add(&t->refs, 1);
		s->text = t;
		s->lines = lines;
		s->nlines = nlines;
		s->nshared = nshared;
		s->gen = gen;
		lines = NULL;
	} else {
		/* Not kept: the next open renders whole. */
		if (rc == 0 && keep && t->len <= TEXT_MAX)
			atomic_fetch_sub(&kept_bytes, t->len + nlines * sizeof *lines);
		pthread_mutex_lock(&s->lock);
		s->active = false;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->render);
	free(lines);
	fs_buf_free(&b);
	if (rc)
		return rc;
	*out = t;
	return 0;
}

void
fs_kept_clear(void)
{
	pthread_once(&once, init);
	for (size_t i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[i];

		pthread_mutex_lock(&s->render);
		drop_text(s);
		pthread_mutex_lock(&s->lock);
		s->active = false;
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&s->render);
	}
}
