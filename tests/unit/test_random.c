/*
 * test_random.c - a seeded, randomized differential test of the whole engine
 * against a small reference model kept in this file.
 *
 * The model knows nothing of entries, objects or shadows.  Per task it keeps
 * one record per page over two small windows of the address space: the
 * NWIN pages from P up (so that first-fit placement lands there) and the NTOP
 * pages just under the top of the user range.  A record says whether the page
 * is allocated and its protection, max protection, inheritance, wired count,
 * machine attributes, flush counters and is_shared flag, and names a "cell":
 * the page's bytes.  Cells are reference counted; sharing (a sharing remap,
 * a fork of a SHARE page) makes two page records name the same cell, so a
 * write through either is seen by both; copying (a copying remap, a fork of
 * a COPY page) makes a new cell holding a snapshot.  Every page outside the
 * windows is unallocated, and the generator never lets a call succeed that
 * would allocate one (such a call is simply not made).
 *
 * For every call the model computes the return code docs/semantics.md and
 * the project's interpretation decisions demand (the first problem in address
 * order, holes, rounding, size 0, overflow, dead tasks), the engine must
 * return it, and a failed call must leave every region report and every
 * counter unchanged.  After every step the invariant checker runs and every
 * live task is compared with the model: every region page by page, every
 * readable byte, the look-forward rule of vm_region, the task and host
 * counters.  Region counts depend on object identity once memory is shared
 * or copied, so the mixed cases do not predict them; the case
 * random_coalesce keeps one task to allocate / protect / inherit / attribute
 * / wire calls, where the entries are exactly the maximal runs of equal
 * pages, and checks the region list exactly (wiring gives each entry piece
 * without an object one of its own, after clipping, so objects are modelled
 * there too).  random_dense crowds many tasks onto a dozen pages to grow
 * long aliasing and shadow chains.
 *
 * Where the semantics leave a choice the model says which it takes: a
 * remapped page keeps its source's machine attributes and starts with zero
 * flush counts; a forked page keeps both.  Where two checks have no fixed
 * order (vm_remap's source against its target; vm_copy's two range
 * conversions) either code is accepted.  A data-path range whose first byte
 * is valid but which leaves the user range is not generated (the first-byte
 * rule and the range rule disagree there).
 *
 * MACHVM_SEED=n replays a run (the seed is printed at the start of every case
 * and in every failure), MACHVM_RANDOM_STEPS=n changes the number of steps,
 * MACHVM_RANDOM_TRACE=1 prints every call as it is made.
 */
#include <stdbool.h>
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PG          ((uint64_t)4096)
#define PG_SHIFT    12
#define TOP_PN      (MACHVM_USER_MAX >> PG_SHIFT)   /* first page past the user range */
#define NWIN        96                              /* pages [1, 1 + NWIN) */
#define NTOP        4                               /* pages [TOP_PN - NTOP, TOP_PN) */
#define NSLOT       (NWIN + NTOP)
#define TOP0        (TOP_PN - NTOP)
#define MAXT        6
#define MAXDEAD     256
#define NEVER_TASK  ((task_t)0x7fffff00)            /* an id no case reaches */
#define MAXDATA     (10 * PG)

/*
 * Flush counters are kept per entry and a flush does not clip: every entry
 * the range touches counts one more, over its whole extent.  Where an entry
 * reaches past the range depends on object identity, so the mixed cases
 * forget those neighbours' counters (fknown); random_coalesce knows its
 * entries and counts exactly.
 */

enum { SH_NO, SH_YES, SH_MAYBE };

struct mpage {
	int cell;                 /* -1: not allocated */
	vm_prot_t prot, max;
	vm_inherit_t inh;
	unsigned int wired;
	int attr[3];              /* cache, migrate, replicate: MATTR_VAL_ON / OFF */
	int shared;               /* SH_*; MAYBE where entry extents decide */
	uint64_t flush[3];        /* cache, dcache, icache flushes of its entry */
	unsigned int fknown;      /* bit i: flush[i] is known */
	int obj;                  /* random_coalesce only: 0 none, else model object */
	uint64_t off;             /* ... page offset in that object */
};

struct mtask {
	task_t id, parent;
	bool parent_dead;       /* the parent terminated (its id may be reused) */
	struct mpage pg[NSLOT];
};

struct cell {
	int refs;
	unsigned char data[PG];
};

/* ---- run state ------------------------------------------------------------- */

static uint64_t seed_base;
static int seed_known;
static uint64_t case_seed, rng;
static const char *case_name;
static long step;
static int focused;               /* random_coalesce: one task, predictable entries */
static uint64_t span = NWIN;      /* the low pages most ranges are drawn from */
static int trace;

static struct mtask *live[MAXT];
static int nlive;
static task_t dead[MAXDEAD];
static int ndead;
static task_t max_id;

static struct cell **cells;
static int ncells, capcells;
static int *freecells;
static int nfree;
static int next_obj;

#define LOGN 40
static char oplog[LOGN][400];
static long nlog;

static unsigned char databuf[MAXDATA], readbuf[MAXDATA + PG];
static unsigned char runbuf[NSLOT * 4096];

/* ---- failure reporting ------------------------------------------------------ */

static void failf(int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

static void failf(int line, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "test_random: %s failed at step %ld; seed: MACHVM_SEED=%llu\n"
	        "last calls (oldest first):\n", case_name, step, (unsigned long long)seed_base);
	long first = nlog > LOGN ? nlog - LOGN : 0;
	for (long i = first; i < nlog; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOGN]);
	harness_fail(__FILE__, line, "MACHVM_SEED=%llu case %s step %ld: %s",
	             (unsigned long long)seed_base, case_name, step, msg);
	abort();
}
#define FAIL(...) failf(__LINE__, __VA_ARGS__)

/* A broken engine invariant: the calls that led there, then the engine's
 * message (the engine aborts after the hook). */
static void panic_hook(const char *message)
{
	fprintf(stderr, "test_random: %s: engine panic at step %ld; seed: MACHVM_SEED=%llu\n"
	        "last calls (oldest first):\n", case_name, step, (unsigned long long)seed_base);
	long first = nlog > LOGN ? nlog - LOGN : 0;
	for (long i = first; i < nlog; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOGN]);
	fprintf(stderr, "machvm panic in %s:\n%s\n", case_name, message);
}

static void logop(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logop(const char *fmt, ...)
{
	char *b = oplog[nlog % LOGN];
	int n = snprintf(b, sizeof oplog[0], "[%ld] ", step);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b + n, sizeof oplog[0] - (size_t)n, fmt, ap);
	va_end(ap);
	nlog++;
	if (trace)
		fprintf(stderr, "%s\n", b);
}

static const char *krn(kern_return_t k)
{
	return kern_return_name(k);
}

/* ---- random numbers --------------------------------------------------------- */

static uint64_t rnd64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

static int chance(int percent)
{
	return rnd(100) < (uint64_t)percent;
}

static uint64_t get_seed_base(void)
{
	if (!seed_known) {
		const char *s = getenv("MACHVM_SEED");
		if (s && *s)
			seed_base = strtoull(s, NULL, 0);
		else
			seed_base = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^
			            (uint64_t)clock();
		seed_known = 1;
		const char *t = getenv("MACHVM_RANDOM_TRACE");
		trace = t && *t && *t != '0';
	}
	return seed_base;
}

/* ---- cells ------------------------------------------------------------------ */

static int cell_new(void)
{
	int c;
	if (nfree > 0) {
		c = freecells[--nfree];
	} else {
		if (ncells == capcells) {
			capcells = capcells ? capcells * 2 : 256;
			cells = realloc(cells, (size_t)capcells * sizeof *cells);
			freecells = realloc(freecells, (size_t)capcells * sizeof *freecells);
			if (!cells || !freecells)
				FAIL("out of memory for model cells");
		}
		c = ncells++;
		cells[c] = malloc(sizeof(struct cell));
		if (!cells[c])
			FAIL("out of memory for a model cell");
	}
	memset(cells[c]->data, 0, PG);
	cells[c]->refs = 1;
	return c;
}

static int cell_clone(int from)
{
	int c = cell_new();
	memcpy(cells[c]->data, cells[from]->data, PG);
	return c;
}

static void cell_ref(int c)
{
	cells[c]->refs++;
}

static void cell_unref(int c)
{
	if (--cells[c]->refs == 0)
		freecells[nfree++] = c;
}

static void model_reset(void)
{
	for (int i = 0; i < nlive; i++)
		free(live[i]);
	nlive = 0;
	ndead = 0;
	max_id = 0;
	for (int i = 0; i < ncells; i++)
		free(cells[i]);
	free(cells);
	free(freecells);
	cells = NULL;
	freecells = NULL;
	ncells = capcells = nfree = 0;
	next_obj = 0;
	nlog = 0;
	step = 0;
}

/* ---- pages and ranges ------------------------------------------------------- */

static int slot_of(uint64_t pn)
{
	if (pn >= 1 && pn < 1 + NWIN)
		return (int)(pn - 1);
	if (pn >= TOP0 && pn < TOP_PN)
		return NWIN + (int)(pn - TOP0);
	return -1;
}

static uint64_t slot_pn(int s)
{
	return s < NWIN ? (uint64_t)s + 1 : TOP0 + (uint64_t)(s - NWIN);
}

static struct mpage *page_at(struct mtask *m, uint64_t pn)
{
	int s = slot_of(pn);
	return s < 0 ? NULL : &m->pg[s];
}

/* Every page of [spn, epn) is one the model keeps. */
static int range_tracked(uint64_t spn, uint64_t epn)
{
	if (epn <= spn)
		return 1;
	int a = slot_of(spn), b = slot_of(epn - 1);
	return a >= 0 && b >= 0 && (a < NWIN) == (b < NWIN);
}

/* The lowest allocated page in [spn, epn) (model pages only: others are free). */
static int first_alloc_in(struct mtask *m, uint64_t spn, uint64_t epn, uint64_t *out)
{
	for (int s = 0; s < NSLOT; s++) {
		uint64_t pn = slot_pn(s);
		if (pn >= spn && pn < epn && m->pg[s].cell >= 0) {
			*out = pn;
			return 1;
		}
	}
	return 0;
}

/* The smallest y >= *c with (y & mask) == 0; 0 if there is none. */
static int align_up(uint64_t *c, uint64_t mask)
{
	uint64_t y = *c, bad = y & mask;
	if (bad == 0)
		return 1;
	int h = 63 - __builtin_clzll(bad);
	for (int k = h + 1; k < 64; k++) {
		if (!((y >> k) & 1) && !((mask >> k) & 1)) {
			uint64_t low = k == 63 ? ~0ULL : ((1ULL << (k + 1)) - 1);
			*c = (y & ~low) | (1ULL << k);
			return 1;
		}
	}
	return 0;
}

/* First fit in page numbers: the lowest c >= from with (c & mpn) == 0 and
 * [c, c + npages) free inside [1, TOP_PN).  No wrap-around. */
static int find_fit(struct mtask *m, uint64_t from, uint64_t npages, uint64_t mpn, uint64_t *out)
{
	uint64_t c = from < 1 ? 1 : from;
	for (;;) {
		if (!align_up(&c, mpn))
			return 0;
		if (c >= TOP_PN || npages > TOP_PN - c)
			return 0;
		uint64_t a;
		if (!first_alloc_in(m, c, c + npages, &a)) {
			*out = c;
			return 1;
		}
		c = a + 1;
	}
}

/*
 * The engine's range conversion: start = trunc(addr), end = round(addr +
 * size); overflow or a rounded end wrapping: KERN_INVALID_ARGUMENT; leaving
 * [P, 2^47): out_of_range.  Page numbers in *spn, *epn.
 */
static kern_return_t conv(vm_address_t addr, vm_size_t size, kern_return_t out_of_range,
                          uint64_t *spn, uint64_t *epn)
{
	uint64_t e = addr + size;
	if (e < addr)
		return KERN_INVALID_ARGUMENT;
	uint64_t end = (e + PG - 1) & ~(PG - 1);
	if (end < e)
		return KERN_INVALID_ARGUMENT;
	uint64_t start = addr & ~(PG - 1);
	if (start < PG || end > MACHVM_USER_MAX)
		return out_of_range;
	*spn = start >> PG_SHIFT;
	*epn = end >> PG_SHIFT;
	return KERN_SUCCESS;
}

static void page_defaults(struct mpage *p)
{
	p->prot = VM_PROT_DEFAULT;
	p->max = VM_PROT_ALL;
	p->inh = VM_INHERIT_DEFAULT;
	p->wired = 0;
	p->attr[0] = MATTR_VAL_ON;
	p->attr[1] = MATTR_VAL_OFF;
	p->attr[2] = MATTR_VAL_OFF;
	p->shared = SH_NO;
	p->flush[0] = p->flush[1] = p->flush[2] = 0;
	p->fknown = 7;
	p->obj = 0;
	p->off = 0;
}

/* Equal in everything an entry carries (object aside). */
static int same_attrs(const struct mpage *a, const struct mpage *b)
{
	return a->prot == b->prot && a->max == b->max && a->inh == b->inh &&
	       a->wired == b->wired && a->attr[0] == b->attr[0] &&
	       a->attr[1] == b->attr[1] && a->attr[2] == b->attr[2] &&
	       a->shared == b->shared && a->flush[0] == b->flush[0] &&
	       a->flush[1] == b->flush[1] && a->flush[2] == b->flush[2];
}

/* random_coalesce: page b (at pnb) continues page a's entry. */
static int same_entry(const struct mpage *a, uint64_t pna, const struct mpage *b, uint64_t pnb)
{
	if (pnb != pna + 1 || a->cell < 0 || b->cell < 0 || !same_attrs(a, b))
		return 0;
	if (a->obj == 0 && b->obj == 0)
		return 1;
	return a->obj == b->obj && b->off == a->off + 1;
}

/* ---- model data path -------------------------------------------------------- */

static void model_read(struct mtask *m, uint64_t addr, uint64_t n, unsigned char *out)
{
	while (n > 0) {
		struct mpage *p = page_at(m, addr >> PG_SHIFT);
		uint64_t o = addr & (PG - 1), k = PG - o;
		if (k > n)
			k = n;
		memcpy(out, cells[p->cell]->data + o, k);
		out += k;
		addr += k;
		n -= k;
	}
}

static void model_write(struct mtask *m, uint64_t addr, uint64_t n, const unsigned char *in)
{
	while (n > 0) {
		struct mpage *p = page_at(m, addr >> PG_SHIFT);
		uint64_t o = addr & (PG - 1), k = PG - o;
		if (k > n)
			k = n;
		memcpy(cells[p->cell]->data + o, in, k);
		in += k;
		addr += k;
		n -= k;
	}
}

/* Bytes a transfer of [addr, addr + size) moves before a hole or a page
 * without `bit` stops it. */
static uint64_t data_count(struct mtask *m, uint64_t addr, uint64_t size, vm_prot_t bit)
{
	uint64_t pos = addr, end = addr + size;
	while (pos < end) {
		struct mpage *p = page_at(m, pos >> PG_SHIFT);
		if (!p || p->cell < 0 || !(p->prot & bit))
			break;
		uint64_t next = (pos | (PG - 1)) + 1;
		pos = next < end && next != 0 ? next : end;
	}
	return pos - addr;
}

/* ---- tasks ------------------------------------------------------------------ */

struct tsel {
	task_t id;
	struct mtask *m;          /* NULL: not a live task */
};

static int task_is_live(task_t id)
{
	for (int i = 0; i < nlive; i++)
		if (live[i]->id == id)
			return 1;
	return 0;
}

static task_t some_dead_id(void)
{
	uint64_t r = rnd(3);
	if (r == 0 || (r == 1 && ndead == 0))
		return TASK_NULL;
	if (r == 1)
		return dead[rnd((uint64_t)ndead)];
	return NEVER_TASK;
}

/* A live task mostly, a dead or null one now and then. */
static struct tsel pick_task(int dead_percent)
{
	struct tsel t;
	if (nlive == 0 || chance(dead_percent)) {
		t.id = some_dead_id();
		t.m = NULL;
	} else {
		t.m = live[rnd((uint64_t)nlive)];
		t.id = t.m->id;
	}
	return t;
}

static struct mtask *mtask_new(task_t id, task_t parent)
{
	struct mtask *m = calloc(1, sizeof *m);
	if (!m)
		FAIL("out of memory for a model task");
	m->id = id;
	m->parent = parent;
	for (int s = 0; s < NSLOT; s++)
		m->pg[s].cell = -1;
	return m;
}

static void mtask_free_pages(struct mtask *m)
{
	for (int s = 0; s < NSLOT; s++)
		if (m->pg[s].cell >= 0) {
			cell_unref(m->pg[s].cell);
			m->pg[s].cell = -1;
		}
}

/* ---- expected results ------------------------------------------------------- */

/* The codes a call may return: one, or several where the order of two
 * independent checks is not fixed by docs/semantics.md. */
struct want {
	kern_return_t kr[4];
	int n;
};

static void want_one(struct want *w, kern_return_t k)
{
	w->kr[0] = k;
	w->n = 1;
}

static void want_also(struct want *w, kern_return_t k)
{
	for (int i = 0; i < w->n; i++)
		if (w->kr[i] == k)
			return;
	if (w->n < 4)
		w->kr[w->n++] = k;
}

static int want_has(const struct want *w, kern_return_t k)
{
	for (int i = 0; i < w->n; i++)
		if (w->kr[i] == k)
			return 1;
	return 0;
}

static const char *want_str(const struct want *w)
{
	static char b[200];
	b[0] = 0;
	for (int i = 0; i < w->n; i++) {
		if (i)
			strcat(b, " or ");
		strcat(b, krn(w->kr[i]));
	}
	return b;
}

/* ---- state fingerprints (a failed call changes nothing) ---------------------- */

struct fp_task {
	task_t id;
	vm_region_extended_info_t *r;
	size_t n;
	machvm_task_stats_t st;
};

struct fp {
	int n;
	struct fp_task t[MAXT];
	machvm_host_stats_t hs;
};

static void fp_take(struct fp *f)
{
	f->n = nlive;
	for (int i = 0; i < nlive; i++) {
		f->t[i].id = live[i]->id;
		kern_return_t kr = machvm_region_snapshot(live[i]->id, &f->t[i].r, &f->t[i].n);
		if (kr != KERN_SUCCESS)
			FAIL("machvm_region_snapshot(%u): %s", live[i]->id, krn(kr));
		kr = machvm_task_stats(live[i]->id, &f->t[i].st);
		if (kr != KERN_SUCCESS)
			FAIL("machvm_task_stats(%u): %s", live[i]->id, krn(kr));
	}
	kern_return_t kr = machvm_host_stats(&f->hs);
	if (kr != KERN_SUCCESS)
		FAIL("machvm_host_stats: %s", krn(kr));
}

static void fp_free(struct fp *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->t[i].r);
	f->n = 0;
}

/* The first field in which two reports differ, or NULL. */
static const char *region_diff(const vm_region_extended_info_t *a, const vm_region_extended_info_t *b)
{
#define RD(f) if (a->f != b->f) return #f
	RD(start); RD(size); RD(protection); RD(max_protection); RD(inheritance);
	RD(shared); RD(needs_copy); RD(object_id); RD(offset); RD(share_mode);
	RD(shadow_depth); RD(ref_count); RD(resident_pages); RD(wired_count);
	RD(cache); RD(migrate); RD(replicate); RD(cache_flushes);
	RD(dcache_flushes); RD(icache_flushes);
#undef RD
	return NULL;
}

/* Set by a successful read: it may count faults, and change nothing else. */
static int fp_faults_may_change;

static void fp_check(struct fp *before, const char *what)
{
	struct fp after;
	fp_take(&after);
	if (after.n != before->n)
		FAIL("%s: the model's task list changed?", what);
	for (int i = 0; i < before->n; i++) {
		struct fp_task *a = &before->t[i], *b = &after.t[i];
		if (a->n != b->n)
			FAIL("%s failed but changed task %u: %zu regions before, %zu after",
			     what, a->id, a->n, b->n);
		for (size_t j = 0; j < a->n; j++) {
			const char *d = region_diff(&a->r[j], &b->r[j]);
			if (d)
				FAIL("%s failed but changed task %u region %zu (0x%llx+0x%llx): field %s",
				     what, a->id, j, (unsigned long long)a->r[j].start,
				     (unsigned long long)a->r[j].size, d);
		}
#define SD(f) if (a->st.f != b->st.f) \
	FAIL("%s failed but changed task %u stats " #f ": %llu -> %llu", what, a->id, \
	     (unsigned long long)a->st.f, (unsigned long long)b->st.f)
		SD(regions); SD(virtual_size); SD(resident_pages); SD(wired_pages);
		SD(objects); SD(max_shadow_depth); SD(cow_faults);
		if (!fp_faults_may_change) {
			SD(faults); SD(zero_fill_faults);
		}
#undef SD
	}
#define HD(f) if (before->hs.f != after.hs.f) \
	FAIL("%s failed but changed host stats " #f ": %llu -> %llu", what, \
	     (unsigned long long)before->hs.f, (unsigned long long)after.hs.f)
	HD(tasks); HD(entries); HD(objects); HD(resident_pages); HD(wired_pages);
	HD(virtual_size); HD(cow_faults);
	if (!fp_faults_may_change) {
		HD(faults); HD(zero_fill_faults);
	}
	HD(shadows_created); HD(collapses); HD(bypasses); HD(pages_copied);
#undef HD
	fp_free(&after);
	fp_free(before);
}

/*
 * Compares the engine's code with the model's; a call expected to fail (or
 * to do nothing) gets a fingerprint before, compared after.  Returns 1 when
 * the call succeeded and the model must apply it.
 */
static struct fp fp_before;
static int fp_taken;

static void prepare(const struct want *w, int noop_success)
{
	fp_taken = 0;
	fp_faults_may_change = 0;
	if (w->kr[0] != KERN_SUCCESS || noop_success) {
		fp_take(&fp_before);
		fp_taken = 1;
	}
}

/* Per call name: how many succeeded and failed, for the summary line. */
#define NSTAT 16
static struct { char name[24]; long ok, failed; } stats[NSTAT];

static void count_call(const char *what, int ok)
{
	size_t len = strcspn(what, "(");
	if (len >= sizeof stats[0].name)
		len = sizeof stats[0].name - 1;
	int i;
	for (i = 0; i < NSTAT && stats[i].name[0]; i++)
		if (strlen(stats[i].name) == len && strncmp(stats[i].name, what, len) == 0)
			break;
	if (i == NSTAT)
		return;
	if (!stats[i].name[0])
		memcpy(stats[i].name, what, len);
	if (ok)
		stats[i].ok++;
	else
		stats[i].failed++;
}

static int settle(const char *what, kern_return_t got, const struct want *w)
{
	count_call(what, got == KERN_SUCCESS);
	if (!want_has(w, got))
		FAIL("%s: got %s, want %s", what, krn(got), want_str(w));
	if (fp_taken) {
		fp_check(&fp_before, what);
		fp_taken = 0;
	}
	return got == KERN_SUCCESS;
}

/* ---- argument generators ---------------------------------------------------- */

/* A page number near the windows: mostly the low window (page 0 below the
 * user range, a few untracked pages past it), sometimes the top window and
 * the pages around the top of the user range. */
static uint64_t pick_pn(void)
{
	if (chance(88))
		return rnd(span + 4);
	return TOP0 - 2 + rnd(NTOP + 4);
}

/* A page-ish size: mostly a few pages, sometimes unaligned. */
static uint64_t pick_size(void)
{
	uint64_t n = 1 + (chance(70) ? rnd(3) : rnd(8));
	uint64_t s = n * PG;
	if (chance(25))
		s -= rnd(PG);
	else if (chance(10))
		s += 1 + rnd(PG - 1);
	return s;
}

/*
 * A range inside m's memory (wired memory only if want_wired), a few pages
 * from a random allocated page, now and then running one page past the end
 * of its run; 0 if m has no such memory.
 */
static int pick_in_memory(struct mtask *m, int want_wired, uint64_t *addr, uint64_t *size)
{
	if (!m)
		return 0;
	int cand[NSLOT], n = 0;
	for (int s = 0; s < NSLOT; s++)
		if (m->pg[s].cell >= 0 && (!want_wired || m->pg[s].wired))
			cand[n++] = s;
	if (n == 0)
		return 0;
	int s = cand[rnd((uint64_t)n)], e = s + 1;
	while (e < NSLOT && m->pg[e].cell >= 0 && slot_pn(e) == slot_pn(e - 1) + 1)
		e++;
	uint64_t room = (uint64_t)(e - s), np = 1 + rnd(room < 6 ? room : 6);
	if (chance(10))
		np++;
	uint64_t off = chance(30) ? rnd(PG) : 0;
	*addr = slot_pn(s) * PG + off;
	*size = np * PG - off;
	if (chance(30))
		*size -= rnd(*size);
	return 1;
}

/* An (address, size) for a map call on m, with the corner cases mixed in. */
static void pick_range(struct mtask *m, uint64_t *addr, uint64_t *size)
{
	if (chance(55) && pick_in_memory(m, 0, addr, size))
		return;
	uint64_t r = rnd(100);
	if (r < 4) {
		*addr = (1 + rnd(span + 2)) * PG + (chance(50) ? rnd(PG) : 0);
		*size = 0;
		return;
	}
	if (r < 10) {
		switch (rnd(8)) {
		case 0:         /* addr + size overflows */
			*addr = UINT64_MAX - rnd(2 * PG);
			*size = 1 + rnd(4 * PG);
			return;
		case 1:
			*addr = pick_pn() * PG;
			*size = UINT64_MAX - rnd(PG);
			return;
		case 2:         /* no overflow, but the rounded end wraps to 0 */
			*addr = (UINT64_MAX - 2 * PG + 1) + rnd(PG / 2);
			*size = PG + rnd(PG / 2);
			return;
		case 3:         /* ends past the user range */
			*addr = PG * (1 + rnd(4));
			*size = MACHVM_USER_MAX;
			return;
		case 4:         /* around the top of the user range */
			*addr = MACHVM_USER_MAX - rnd(3) * PG + (chance(30) ? rnd(PG) : 0);
			*size = PG * (1 + rnd(3));
			return;
		case 5:         /* page 0 */
			*addr = rnd(PG);
			*size = PG * (1 + rnd(3));
			return;
		case 6:         /* untracked memory in the middle */
			*addr = (1 + NWIN + 8 + rnd(1000)) * PG;
			*size = pick_size();
			return;
		default:        /* a huge range from the window */
			*addr = (1 + rnd(span)) * PG;
			*size = (uint64_t)1 << (30 + rnd(16));
			return;
		}
	}
	*addr = pick_pn() * PG;
	if (chance(30))
		*addr += rnd(PG);
	*size = pick_size();
}

/* An (address, size) for the data path: unaligned, a few pages at most. */
static void pick_data_range(struct mtask *m, uint64_t *addr, uint64_t *size)
{
	if (chance(65) && pick_in_memory(m, 0, addr, size))
		return;
	uint64_t r = rnd(100);
	*addr = pick_pn() * PG;
	if (chance(70))
		*addr += rnd(PG);
	if (r < 4) {
		*size = 0;
		*addr = (1 + rnd(span)) * PG + rnd(PG);
	} else if (r < 8) {
		if (chance(50)) {
			*addr = UINT64_MAX - rnd(PG);
			*size = 1 + rnd(2 * PG);
		} else {
			*size = UINT64_MAX - rnd(PG);
		}
	} else if (r < 30) {
		*size = 1 + rnd(64);
	} else {
		*size = 1 + rnd(chance(80) ? 3 * PG : 9 * PG);
	}
}

/* On the data path a range leaving the user range after a valid first byte
 * is not decided by the rules (first byte vs range conversion): not made. */
static int data_range_ambiguous(uint64_t addr, uint64_t size)
{
	uint64_t s, e;
	kern_return_t kr = conv(addr, size, KERN_INVALID_ADDRESS, &s, &e);
	uint64_t start = addr & ~(PG - 1);
	return kr == KERN_INVALID_ADDRESS && start >= PG && start < MACHVM_USER_MAX;
}

static vm_prot_t pick_prot(void)
{
	if (chance(3))
		return (vm_prot_t)(chance(50) ? 8 | rnd(8) : (uint64_t)0x10 << rnd(4));
	return (vm_prot_t)rnd(8);
}

static vm_inherit_t pick_inh(void)
{
	if (chance(3))
		return chance(50) ? 3 + (vm_inherit_t)rnd(10) : 0xffffffffu;
	return (vm_inherit_t)rnd(3);
}

/* ---- the calls ---------------------------------------------------------------- */

static void op_allocate(void)
{
	struct tsel t = pick_task(3);
	boolean_t anywhere = chance(focused ? 25 : 35);
	uint64_t addr, size, spn = 0, epn = 0;
	pick_range(t.m, &addr, &size);
	if (chance(4))
		size = chance(50) ? UINT64_MAX - rnd(PG - 1) : ((uint64_t)1 << (47 + rnd(17))) - rnd(2) * PG;
	struct want w;
	uint64_t want_addr = 0;
	uint64_t rs = (size + PG - 1) & ~(PG - 1);
	if (!t.m) {
		want_one(&w, KERN_INVALID_ARGUMENT);
	} else if (size == 0) {
		want_one(&w, KERN_SUCCESS);
	} else if (rs == 0) {
		want_one(&w, KERN_INVALID_ARGUMENT);
	} else if (anywhere) {
		uint64_t c;
		if (!find_fit(t.m, 1, rs >> PG_SHIFT, 0, &c)) {
			want_one(&w, KERN_NO_SPACE);
		} else {
			if (!range_tracked(c, c + (rs >> PG_SHIFT)))
				return;
			want_one(&w, KERN_SUCCESS);
			spn = c;
			epn = c + (rs >> PG_SHIFT);
			want_addr = c * PG;
		}
	} else {
		uint64_t start = addr & ~(PG - 1), end = start + rs, a;
		if (end < start || start < PG || end > MACHVM_USER_MAX) {
			want_one(&w, KERN_INVALID_ADDRESS);
		} else if (first_alloc_in(t.m, start >> PG_SHIFT, end >> PG_SHIFT, &a)) {
			want_one(&w, KERN_NO_SPACE);
		} else {
			if (!range_tracked(start >> PG_SHIFT, end >> PG_SHIFT))
				return;
			want_one(&w, KERN_SUCCESS);
			spn = start >> PG_SHIFT;
			epn = end >> PG_SHIFT;
			want_addr = start;
		}
	}
	char what[200];
	snprintf(what, sizeof what, "vm_allocate(%u, 0x%llx, 0x%llx, %s)", t.id,
	         (unsigned long long)addr, (unsigned long long)size, anywhere ? "anywhere" : "fixed");
	logop("%s want %s", what, want_str(&w));
	prepare(&w, size == 0);
	vm_address_t a = addr;
	kern_return_t kr = vm_allocate(t.id, &a, size, anywhere);
	if (!settle(what, kr, &w))
		return;
	if (a != want_addr)
		FAIL("%s: address 0x%llx, want 0x%llx", what, (unsigned long long)a,
		     (unsigned long long)want_addr);
	for (uint64_t pn = spn; pn < epn; pn++) {
		struct mpage *p = page_at(t.m, pn);
		page_defaults(p);
		p->cell = cell_new();
	}
}

static void op_deallocate(void)
{
	struct tsel t = pick_task(3);
	uint64_t addr, size, spn = 0, epn = 0;
	pick_range(t.m, &addr, &size);
	struct want w;
	kern_return_t ck;
	if (!t.m)
		want_one(&w, KERN_INVALID_ARGUMENT);
	else if (size == 0)
		want_one(&w, KERN_SUCCESS);
	else if ((ck = conv(addr, size, KERN_INVALID_ADDRESS, &spn, &epn)) != KERN_SUCCESS)
		want_one(&w, ck);
	else
		want_one(&w, KERN_SUCCESS);
	char what[200];
	snprintf(what, sizeof what, "vm_deallocate(%u, 0x%llx, 0x%llx)", t.id,
	         (unsigned long long)addr, (unsigned long long)size);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, size == 0);
	if (!settle(what, vm_deallocate(t.id, addr, size), &w) || size == 0)
		return;
	for (int s = 0; s < NSLOT; s++) {
		uint64_t pn = slot_pn(s);
		if (pn >= spn && pn < epn && t.m->pg[s].cell >= 0) {
			cell_unref(t.m->pg[s].cell);
			t.m->pg[s].cell = -1;
		}
	}
}

/* The first problem over [spn, epn) for a call that needs every page
 * allocated (hole_kr) and, if need is set, every page's `which` protection
 * (0 current, 1 max) holding need (bad_kr). */
static kern_return_t walk_range(struct mtask *m, uint64_t spn, uint64_t epn, kern_return_t hole_kr,
                                int which, vm_prot_t need, kern_return_t bad_kr)
{
	for (uint64_t pn = spn; pn < epn; pn++) {
		struct mpage *p = page_at(m, pn);
		if (!p || p->cell < 0)
			return hole_kr;
		vm_prot_t have = which ? p->max : p->prot;
		if (need & ~have)
			return bad_kr;
	}
	return KERN_SUCCESS;
}

static void op_protect(void)
{
	struct tsel t = pick_task(3);
	uint64_t addr, size, spn = 0, epn = 0;
	pick_range(t.m, &addr, &size);
	boolean_t setmax = chance(15);
	vm_prot_t prot = pick_prot();
	if (setmax && chance(50) && !(prot & ~VM_PROT_ALL))
		prot |= VM_PROT_READ;
	struct want w;
	kern_return_t ck;
	if (!t.m || (prot & ~VM_PROT_ALL))
		want_one(&w, KERN_INVALID_ARGUMENT);
	else if (size == 0)
		want_one(&w, KERN_SUCCESS);
	else if ((ck = conv(addr, size, KERN_INVALID_ADDRESS, &spn, &epn)) != KERN_SUCCESS)
		want_one(&w, ck);
	else
		want_one(&w, walk_range(t.m, spn, epn, KERN_INVALID_ADDRESS, 1, prot,
		                        KERN_PROTECTION_FAILURE));
	char what[200];
	snprintf(what, sizeof what, "vm_protect(%u, 0x%llx, 0x%llx, %d, 0x%x)", t.id,
	         (unsigned long long)addr, (unsigned long long)size, setmax, (unsigned)prot);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, size == 0);
	if (!settle(what, vm_protect(t.id, addr, size, setmax, prot), &w) || size == 0)
		return;
	for (uint64_t pn = spn; pn < epn; pn++) {
		struct mpage *p = page_at(t.m, pn);
		if (setmax) {
			p->max = prot;
			p->prot &= prot;
		} else {
			p->prot = prot;
		}
	}
}

static void apply_inherit(struct mtask *m, uint64_t spn, uint64_t epn, vm_inherit_t inh)
{
	for (uint64_t pn = spn; pn < epn; pn++)
		page_at(m, pn)->inh = inh;
}

static void op_inherit(void)
{
	struct tsel t = pick_task(3);
	uint64_t addr, size, spn = 0, epn = 0;
	pick_range(t.m, &addr, &size);
	vm_inherit_t inh = pick_inh();
	struct want w;
	kern_return_t ck;
	if (!t.m || inh > VM_INHERIT_NONE)
		want_one(&w, KERN_INVALID_ARGUMENT);
	else if (size == 0)
		want_one(&w, KERN_SUCCESS);
	else if ((ck = conv(addr, size, KERN_INVALID_ADDRESS, &spn, &epn)) != KERN_SUCCESS)
		want_one(&w, ck);
	else
		want_one(&w, walk_range(t.m, spn, epn, KERN_INVALID_ADDRESS, 0, 0, 0));
	char what[200];
	snprintf(what, sizeof what, "vm_inherit(%u, 0x%llx, 0x%llx, %u)", t.id,
	         (unsigned long long)addr, (unsigned long long)size, inh);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, size == 0);
	if (!settle(what, vm_inherit(t.id, addr, size, inh), &w) || size == 0)
		return;
	apply_inherit(t.m, spn, epn, inh);
}

static void op_map_inherit(void)
{
	struct tsel t = pick_task(3);
	uint64_t start, size;
	pick_range(t.m, &start, &size);
	uint64_t end = start + size;
	if (chance(8))
		end = start - rnd(3 * PG);      /* end before start, or in the same page */
	if (chance(10))
		end = start + rnd(PG);
	vm_inherit_t inh = pick_inh();
	uint64_t s = start & ~(PG - 1), e = end & ~(PG - 1);
	struct want w;
	int noop = 0;
	if (!t.m || inh > VM_INHERIT_NONE || e < s) {
		want_one(&w, KERN_INVALID_ARGUMENT);
	} else if (e == s) {
		want_one(&w, KERN_SUCCESS);
		noop = 1;
	} else if (s < PG || e > MACHVM_USER_MAX) {
		want_one(&w, KERN_INVALID_ADDRESS);
	} else {
		want_one(&w, walk_range(t.m, s >> PG_SHIFT, e >> PG_SHIFT, KERN_INVALID_ADDRESS, 0, 0, 0));
	}
	char what[200];
	snprintf(what, sizeof what, "vm_map_inherit(%u, 0x%llx, 0x%llx, %u)", t.id,
	         (unsigned long long)start, (unsigned long long)end, inh);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, noop);
	if (!settle(what, vm_map_inherit(t.id, start, end, inh), &w) || noop)
		return;
	apply_inherit(t.m, s >> PG_SHIFT, e >> PG_SHIFT, inh);
}

/* random_coalesce: wiring gives every entry piece without an object an
 * object of its own (the range is clipped first, then the piece filled). */
static void assign_wire_objects(struct mtask *m, uint64_t spn, uint64_t epn)
{
	struct mpage *prev = NULL;      /* the page before, if it got its object here */
	for (uint64_t pn = spn; pn < epn; pn++) {
		struct mpage *p = page_at(m, pn);
		if (p->obj != 0) {
			prev = NULL;
			continue;
		}
		/* Two object-less neighbours with equal attributes were one entry
		 * (coalescing is complete), so they share the new object. */
		if (prev && same_attrs(prev, p)) {
			p->obj = prev->obj;
			p->off = prev->off + 1;
		} else {
			p->obj = ++next_obj;
			p->off = 0;
		}
		prev = p;
	}
}

static void op_wire(void)
{
	struct tsel t = pick_task(3);
	uint64_t addr, size, spn = 0, epn = 0;
	vm_prot_t access;
	if (chance(50))
		access = VM_PROT_NONE;
	else
		access = chance(70) ? VM_PROT_READ : (vm_prot_t)(1 + rnd(7));
	if (access != VM_PROT_NONE || !chance(60) || !pick_in_memory(t.m, 1, &addr, &size))
		pick_range(t.m, &addr, &size);
	if (chance(3))
		access = (vm_prot_t)(8 << rnd(3));
	host_priv_t host = host_priv_self();
	uint64_t hr = rnd(100);
	if (hr < 3)
		host = mach_host_self();
	else if (hr < 5)
		host = host_priv_self() + mach_host_self() + 1000 + (host_t)rnd(1000);
	struct want w;
	kern_return_t ck;
	if (host != host_priv_self())
		want_one(&w, KERN_INVALID_HOST);
	else if (!t.m)
		want_one(&w, KERN_INVALID_TASK);
	else if (access & ~VM_PROT_ALL)
		want_one(&w, KERN_INVALID_VALUE);
	else if (size == 0)
		want_one(&w, KERN_SUCCESS);
	else if ((ck = conv(addr, size, KERN_INVALID_ADDRESS, &spn, &epn)) != KERN_SUCCESS)
		want_one(&w, ck);
	else {
		want_one(&w, KERN_SUCCESS);
		for (uint64_t pn = spn; pn < epn; pn++) {
			struct mpage *p = page_at(t.m, pn);
			if (!p || p->cell < 0) {
				want_one(&w, KERN_FAILURE);
				break;
			}
			if (access != VM_PROT_NONE && ((access & ~p->prot) || p->wired >= 65535)) {
				want_one(&w, KERN_FAILURE);
				break;
			}
			if (access == VM_PROT_NONE && p->wired == 0) {
				want_one(&w, KERN_INVALID_ARGUMENT);
				break;
			}
		}
	}
	char what[200];
	snprintf(what, sizeof what, "vm_wire(%s, %u, 0x%llx, 0x%llx, 0x%x)",
	         host == host_priv_self() ? "host_priv" : host == mach_host_self() ? "host" : "bogus",
	         t.id, (unsigned long long)addr, (unsigned long long)size, (unsigned)access);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, size == 0);
	if (!settle(what, vm_wire(host, t.id, addr, size, access), &w) || size == 0)
		return;
	if (focused && access != VM_PROT_NONE)
		assign_wire_objects(t.m, spn, epn);
	for (uint64_t pn = spn; pn < epn; pn++) {
		struct mpage *p = page_at(t.m, pn);
		if (access != VM_PROT_NONE)
			p->wired++;
		else
			p->wired--;
	}
}

/* Two pages that could be in one entry, as far as the model can tell. */
static int could_share_entry(const struct mpage *a, const struct mpage *b)
{
	if (a->cell < 0 || b->cell < 0 || a->prot != b->prot || a->max != b->max ||
	    a->inh != b->inh || a->wired != b->wired || a->attr[0] != b->attr[0] ||
	    a->attr[1] != b->attr[1] || a->attr[2] != b->attr[2])
		return 0;
	if ((a->shared == SH_YES && b->shared == SH_NO) || (a->shared == SH_NO && b->shared == SH_YES))
		return 0;
	for (int i = 0; i < 3; i++)
		if ((a->fknown & b->fknown & (1u << i)) && a->flush[i] != b->flush[i])
			return 0;
	return 1;
}

/* A flush of counter fi over [spn, epn): every entry touched counts one. */
static void apply_flush(struct mtask *m, uint64_t spn, uint64_t epn, int fi)
{
	unsigned char mark[NSLOT];
	memset(mark, 0, sizeof mark);
	for (uint64_t pn = spn; pn < epn; pn++)
		mark[slot_of(pn)] = 1;
	int first = slot_of(spn), last = slot_of(epn - 1);
	if (focused) {
		/* The entries are the runs: whole runs count. */
		for (int s = first; s > 0 && same_entry(&m->pg[s - 1], slot_pn(s - 1), &m->pg[s], slot_pn(s)); s--)
			mark[s - 1] = 1;
		for (int s = last; s + 1 < NSLOT && same_entry(&m->pg[s], slot_pn(s), &m->pg[s + 1], slot_pn(s + 1)); s++)
			mark[s + 1] = 1;
	} else {
		for (int s = first - 1; s >= 0 && slot_pn(s) + 1 == slot_pn(s + 1) &&
		     could_share_entry(&m->pg[first], &m->pg[s]); s--)
			m->pg[s].fknown &= ~(1u << fi);
		for (int s = last + 1; s < NSLOT && slot_pn(s) == slot_pn(s - 1) + 1 &&
		     could_share_entry(&m->pg[last], &m->pg[s]); s++)
			m->pg[s].fknown &= ~(1u << fi);
	}
	for (int s = 0; s < NSLOT; s++)
		if (mark[s])
			m->pg[s].flush[fi]++;
}

static int attr_index(vm_machine_attribute_t a)
{
	return a == MATTR_CACHE ? 0 : a == MATTR_MIGRATE ? 1 : a == MATTR_REPLICATE ? 2 : -1;
}

static void op_attr(void)
{
	struct tsel t = pick_task(3);
	uint64_t addr, size, spn = 0, epn = 0;
	pick_range(t.m, &addr, &size);
	static const vm_machine_attribute_t attrs[] = { MATTR_CACHE, MATTR_MIGRATE, MATTR_REPLICATE };
	static const vm_machine_attribute_t bad_attrs[] = { 0, 3, 8, 0x10 };
	vm_machine_attribute_t attr = chance(95) ? attrs[rnd(3)] : bad_attrs[rnd(4)];
	vm_machine_attribute_val_t val;
	uint64_t r = rnd(100);
	if (r < 60)
		val = chance(50) ? MATTR_VAL_ON : MATTR_VAL_OFF;
	else if (r < 78)
		val = MATTR_VAL_GET;
	else if (r < 95)
		val = MATTR_VAL_CACHE_FLUSH + (int)rnd(3);
	else {
		static const int bad[] = { 3, 4, 5, 9, -1 };
		val = bad[rnd(5)];
	}
	if (r >= 78 && r < 95 && chance(85))
		attr = MATTR_CACHE;
	int ai = attr_index(attr);
	int valid_val = val == MATTR_VAL_ON || val == MATTR_VAL_OFF || val == MATTR_VAL_GET ||
	                (ai == 0 && val >= MATTR_VAL_CACHE_FLUSH && val <= MATTR_VAL_ICACHE_FLUSH);
	struct want w;
	kern_return_t ck;
	if (!t.m || ai < 0 || !valid_val)
		want_one(&w, KERN_INVALID_ARGUMENT);
	else if (size == 0)
		want_one(&w, KERN_SUCCESS);
	else if ((ck = conv(addr, size, KERN_INVALID_ARGUMENT, &spn, &epn)) != KERN_SUCCESS)
		want_one(&w, ck);
	else
		want_one(&w, walk_range(t.m, spn, epn, KERN_INVALID_ARGUMENT, 0, 0, 0));
	char what[200];
	snprintf(what, sizeof what, "vm_machine_attribute(%u, 0x%llx, 0x%llx, %u, %d)", t.id,
	         (unsigned long long)addr, (unsigned long long)size, attr, val);
	logop("%s want %s", what, want_str(&w));
	int noop = size == 0 || val == MATTR_VAL_GET;
	prepare(&w, noop);
	vm_machine_attribute_val_t v = val;
	kern_return_t kr = vm_machine_attribute(t.id, addr, size, attr, &v);
	if (!settle(what, kr, &w))
		return;
	if (val == MATTR_VAL_GET) {
		/* Size 0 leaves *value as it was: MATTR_VAL_GET. */
		int want_v = size == 0 ? MATTR_VAL_GET : page_at(t.m, spn)->attr[ai];
		if (v != want_v)
			FAIL("%s: value %d, want %d", what, v, want_v);
		return;
	}
	if (size == 0)
		return;
	if (val == MATTR_VAL_ON || val == MATTR_VAL_OFF) {
		for (uint64_t pn = spn; pn < epn; pn++)
			page_at(t.m, pn)->attr[ai] = val;
		return;
	}
	apply_flush(t.m, spn, epn, val - MATTR_VAL_CACHE_FLUSH);
}

/* After vm_wire, accesses to the range take no faults. */
static void check_no_fault_if_wired(struct mtask *m, uint64_t addr, uint64_t n,
                                    const machvm_task_stats_t *before, const char *what)
{
	for (uint64_t pn = addr >> PG_SHIFT; pn <= (addr + n - 1) >> PG_SHIFT; pn++)
		if (page_at(m, pn)->wired == 0)
			return;
	machvm_task_stats_t st;
	if (machvm_task_stats(m->id, &st) != KERN_SUCCESS)
		FAIL("machvm_task_stats(%u) failed", m->id);
	if (st.faults != before->faults || st.zero_fill_faults != before->zero_fill_faults ||
	    st.cow_faults != before->cow_faults)
		FAIL("%s: wired memory took faults (%llu/%llu/%llu -> %llu/%llu/%llu)", what,
		     (unsigned long long)before->faults, (unsigned long long)before->zero_fill_faults,
		     (unsigned long long)before->cow_faults, (unsigned long long)st.faults,
		     (unsigned long long)st.zero_fill_faults, (unsigned long long)st.cow_faults);
}

static void op_write(void)
{
	struct tsel t = pick_task(3);
	uint64_t addr, size;
	pick_data_range(t.m, &addr, &size);
	if (data_range_ambiguous(addr, size))
		return;
	struct want w;
	uint64_t s, e, want_count = 0;
	kern_return_t ck;
	if (!t.m) {
		want_one(&w, KERN_INVALID_ARGUMENT);
	} else if (size == 0) {
		want_one(&w, KERN_SUCCESS);
	} else if ((ck = conv(addr, size, KERN_INVALID_ADDRESS, &s, &e)) != KERN_SUCCESS) {
		want_one(&w, ck);
	} else {
		struct mpage *p = page_at(t.m, s);
		if (!p || p->cell < 0)
			want_one(&w, KERN_INVALID_ADDRESS);
		else if (!(p->prot & VM_PROT_WRITE))
			want_one(&w, KERN_PROTECTION_FAILURE);
		else {
			want_one(&w, KERN_SUCCESS);
			want_count = data_count(t.m, addr, size, VM_PROT_WRITE);
		}
	}
	uint64_t n = size < MAXDATA ? size : MAXDATA;
	for (uint64_t i = 0; i < n; i += 8) {
		uint64_t x = rnd64();
		memcpy(databuf + i, &x, n - i < 8 ? n - i : 8);
	}
	char what[200];
	snprintf(what, sizeof what, "vm_write(%u, 0x%llx, <data>, 0x%llx)", t.id,
	         (unsigned long long)addr, (unsigned long long)size);
	logop("%s want %s count 0x%llx", what, want_str(&w), (unsigned long long)want_count);
	prepare(&w, size == 0);
	machvm_task_stats_t st0;
	if (t.m && machvm_task_stats(t.id, &st0) != KERN_SUCCESS)
		FAIL("machvm_task_stats(%u) failed", t.id);
	vm_size_t count = 0x12345;
	kern_return_t kr = vm_write(t.id, addr, databuf, size, &count);
	if (!settle(what, kr, &w))
		return;
	if (count != want_count)
		FAIL("%s: count 0x%llx, want 0x%llx", what, (unsigned long long)count,
		     (unsigned long long)want_count);
	if (want_count) {
		model_write(t.m, addr, want_count, databuf);
		check_no_fault_if_wired(t.m, addr, want_count, &st0, what);
	}
}

static void op_read(void)
{
	struct tsel t = pick_task(3);
	uint64_t addr, size;
	pick_data_range(t.m, &addr, &size);
	if (data_range_ambiguous(addr, size))
		return;
	struct want w;
	uint64_t s, e, want_count = 0;
	kern_return_t ck;
	if (!t.m) {
		want_one(&w, KERN_INVALID_ARGUMENT);
	} else if (size == 0) {
		want_one(&w, KERN_SUCCESS);
	} else if ((ck = conv(addr, size, KERN_INVALID_ADDRESS, &s, &e)) != KERN_SUCCESS) {
		want_one(&w, ck);
	} else {
		struct mpage *p = page_at(t.m, s);
		if (!p || p->cell < 0)
			want_one(&w, KERN_INVALID_ADDRESS);
		else if (!(p->prot & VM_PROT_READ))
			want_one(&w, KERN_PROTECTION_FAILURE);
		else {
			want_one(&w, KERN_SUCCESS);
			want_count = data_count(t.m, addr, size, VM_PROT_READ);
		}
	}
	char what[200];
	snprintf(what, sizeof what, "vm_read(%u, 0x%llx, 0x%llx)", t.id,
	         (unsigned long long)addr, (unsigned long long)size);
	logop("%s want %s count 0x%llx", what, want_str(&w), (unsigned long long)want_count);
	/* A read changes nothing but fault counters (reads never allocate
	 * pages), and a failed one not even those. */
	prepare(&w, 1);
	fp_faults_may_change = w.kr[0] == KERN_SUCCESS && size != 0;
	machvm_task_stats_t st0;
	if (t.m && machvm_task_stats(t.id, &st0) != KERN_SUCCESS)
		FAIL("machvm_task_stats(%u) failed", t.id);
	vm_size_t count = 0x12345;
	memset(readbuf, 0xa5, sizeof readbuf);
	kern_return_t kr = vm_read(t.id, addr, size, readbuf, &count);
	if (!settle(what, kr, &w))
		return;
	if (count != want_count)
		FAIL("%s: count 0x%llx, want 0x%llx", what, (unsigned long long)count,
		     (unsigned long long)want_count);
	if (want_count) {
		model_read(t.m, addr, want_count, databuf);
		for (uint64_t i = 0; i < want_count; i++)
			if (readbuf[i] != databuf[i])
				FAIL("%s: byte at 0x%llx is 0x%02x, want 0x%02x", what,
				     (unsigned long long)(addr + i), readbuf[i], databuf[i]);
		check_no_fault_if_wired(t.m, addr, want_count, &st0, what);
	}
}

static void op_copy(void)
{
	struct tsel t = pick_task(3);
	uint64_t src, size, dst, dsize;
	pick_data_range(t.m, &src, &size);
	pick_data_range(t.m, &dst, &dsize);
	if (chance(30))         /* overlapping copies */
		dst = src + rnd(2 * PG) - PG;
	if (size > 6 * PG && size < UINT64_MAX - 2 * PG)
		size = 1 + rnd(6 * PG);
	struct want w;
	uint64_t ss = 0, se = 0, ds = 0, de = 0;
	if (!t.m) {
		want_one(&w, KERN_INVALID_ARGUMENT);
	} else if (size == 0) {
		want_one(&w, KERN_SUCCESS);
	} else {
		kern_return_t cs = conv(src, size, KERN_INVALID_ADDRESS, &ss, &se);
		kern_return_t cd = conv(dst, size, KERN_INVALID_ADDRESS, &ds, &de);
		kern_return_t ks = cs ? cs : walk_range(t.m, ss, se, KERN_INVALID_ADDRESS, 0,
		                                        VM_PROT_READ, KERN_PROTECTION_FAILURE);
		kern_return_t kd = cd ? cd : walk_range(t.m, ds, de, KERN_INVALID_ADDRESS, 0,
		                                        VM_PROT_WRITE, KERN_PROTECTION_FAILURE);
		/* Conversions before walks, the source walked before the
		 * destination; which range is converted first, and whether the
		 * destination is converted before the source is walked, is not
		 * fixed. */
		if (cs) {
			want_one(&w, cs);
			if (cd)
				want_also(&w, cd);
		} else if (ks) {
			want_one(&w, ks);
			if (cd)
				want_also(&w, cd);
		} else
			want_one(&w, kd);
	}
	char what[200];
	snprintf(what, sizeof what, "vm_copy(%u, 0x%llx, 0x%llx, 0x%llx)", t.id,
	         (unsigned long long)src, (unsigned long long)size, (unsigned long long)dst);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, size == 0);
	if (!settle(what, vm_copy(t.id, src, size, dst), &w) || size == 0)
		return;
	model_read(t.m, src, size, databuf);
	model_write(t.m, dst, size, databuf);
}

/* After a sharing remap, the source entries are marked shared as a whole;
 * where an entry reaches past the range the model cannot tell, so equal
 * neighbours become "maybe". */
static void spread_maybe(struct mtask *m, uint64_t spn, uint64_t epn)
{
	for (int dir = -1; dir <= 1; dir += 2) {
		uint64_t edge = dir < 0 ? spn : epn - 1;
		struct mpage *ref = page_at(m, edge);
		for (uint64_t pn = edge + (uint64_t)(int64_t)dir;; pn += (uint64_t)(int64_t)dir) {
			struct mpage *p = page_at(m, pn);
			if (!p || p->cell < 0 || p->prot != ref->prot || p->max != ref->max ||
			    p->inh != ref->inh || p->wired != ref->wired ||
			    p->attr[0] != ref->attr[0] || p->attr[1] != ref->attr[1] ||
			    p->attr[2] != ref->attr[2])
				break;
			if (p->shared == SH_NO)
				p->shared = SH_MAYBE;
		}
	}
}

static void op_remap(void)
{
	struct tsel tt = pick_task(2), st;
	if (tt.m && chance(40))
		st = tt;
	else
		st = pick_task(2);
	boolean_t copy = chance(50), anywhere = chance(50);
	vm_inherit_t inh = pick_inh();
	uint64_t saddr = pick_pn() * PG + (chance(20) ? rnd(PG) : 0);
	uint64_t size = pick_size();
	if (chance(65))
		pick_in_memory(st.m, 0, &saddr, &size);
	uint64_t r = rnd(100);
	if (r < 3)
		size = 0;
	else if (r < 6)
		size = chance(50) ? UINT64_MAX - rnd(PG) : MACHVM_USER_MAX;
	static const uint64_t masks[] = { 0, 0xfff, 0x1fff, 0x3fff, 0xffff, 0x2000, 0x5000 };
	uint64_t mask = chance(70) ? 0 : masks[rnd(7)];
	uint64_t taddr;
	if (anywhere) {
		uint64_t h = rnd(100);
		taddr = h < 40 ? 0 : h < 80 ? rnd(span + 2) * PG + rnd(PG) :
		        h < 90 ? (TOP0 - 1 + rnd(NTOP + 2)) * PG : MACHVM_USER_MAX + rnd(1ULL << 40);
	} else {
		taddr = pick_pn() * PG + (chance(20) ? rnd(PG) : 0);
		if (chance(5))
			taddr = chance(50) ? UINT64_MAX - rnd(4) * PG : rnd(PG);
	}

	struct want w;
	uint64_t want_t = 0, npages = 0, s = 0;
	kern_return_t src_err = KERN_SUCCESS;
	kern_return_t tgt_err[2];
	int ntgt = 0;
	if (!tt.m || !st.m || inh > VM_INHERIT_NONE || size == 0) {
		want_one(&w, KERN_INVALID_ARGUMENT);
		goto call;
	}
	uint64_t rs = (size + PG - 1) & ~(PG - 1);
	s = saddr & ~(PG - 1);
	if (rs == 0 || s + rs < s) {
		want_one(&w, KERN_INVALID_ARGUMENT);
		goto call;
	}
	npages = rs >> PG_SHIFT;
	if (s < PG || s + rs > MACHVM_USER_MAX)
		src_err = KERN_INVALID_ADDRESS;
	else
		src_err = walk_range(st.m, s >> PG_SHIFT, (s + rs) >> PG_SHIFT, KERN_INVALID_ADDRESS, 1,
		                     copy ? VM_PROT_READ : 0, KERN_PROTECTION_FAILURE);
	int untracked = 0;
	if (anywhere) {
		uint64_t from = (taddr & ~(PG - 1)) >> PG_SHIFT, c;
		if (!find_fit(tt.m, from, npages, mask >> PG_SHIFT, &c))
			tgt_err[ntgt++] = KERN_NO_SPACE;
		else {
			want_t = c * PG;
			untracked = !range_tracked(c, c + npages);
		}
	} else {
		uint64_t t0 = taddr & ~(PG - 1), a;
		if (t0 & mask)
			tgt_err[ntgt++] = KERN_NO_SPACE;
		if (t0 < PG || t0 + rs < t0 || t0 + rs > MACHVM_USER_MAX)
			tgt_err[ntgt++] = KERN_INVALID_ADDRESS;
		else if (ntgt == 0 && first_alloc_in(tt.m, t0 >> PG_SHIFT, (t0 + rs) >> PG_SHIFT, &a))
			tgt_err[ntgt++] = KERN_NO_SPACE;
		if (ntgt == 0) {
			want_t = t0;
			untracked = !range_tracked(t0 >> PG_SHIFT, (t0 + rs) >> PG_SHIFT);
		}
	}
	if (src_err) {
		/* Source before target, or target before source: not fixed. */
		want_one(&w, src_err);
		for (int i = 0; i < ntgt; i++)
			want_also(&w, tgt_err[i]);
	} else if (ntgt) {
		want_one(&w, tgt_err[0]);
		for (int i = 1; i < ntgt; i++)
			want_also(&w, tgt_err[i]);
	} else {
		if (untracked)
			return;
		want_one(&w, KERN_SUCCESS);
	}

call:;
	char what[300];
	snprintf(what, sizeof what,
	         "vm_remap(%u, 0x%llx, 0x%llx, mask 0x%llx, %s, %u, 0x%llx, %s, inh %u)",
	         tt.id, (unsigned long long)taddr, (unsigned long long)size,
	         (unsigned long long)mask, anywhere ? "anywhere" : "fixed", st.id,
	         (unsigned long long)saddr, copy ? "copy" : "share", inh);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, 0);
	vm_address_t a = taddr;
	vm_prot_t cur = -1, max = -1;
	kern_return_t kr = vm_remap(tt.id, &a, size, mask, anywhere, st.id, saddr, copy, &cur, &max, inh);
	if (!settle(what, kr, &w))
		return;
	if (a != want_t)
		FAIL("%s: address 0x%llx, want 0x%llx", what, (unsigned long long)a,
		     (unsigned long long)want_t);
	struct mpage src[NSLOT];
	vm_prot_t cur_and = VM_PROT_ALL, max_and = VM_PROT_ALL;
	uint64_t spn = s >> PG_SHIFT, tpn = want_t >> PG_SHIFT;
	for (uint64_t i = 0; i < npages; i++) {
		src[i] = *page_at(st.m, spn + i);
		cur_and &= src[i].prot;
		max_and &= src[i].max;
	}
	if (cur != cur_and || max != max_and)
		FAIL("%s: cur/max 0x%x/0x%x, want 0x%x/0x%x", what, (unsigned)cur, (unsigned)max,
		     (unsigned)cur_and, (unsigned)max_and);
	for (uint64_t i = 0; i < npages; i++) {
		struct mpage *p = page_at(tt.m, tpn + i);
		*p = src[i];
		p->inh = inh;
		p->wired = 0;
		p->flush[0] = p->flush[1] = p->flush[2] = 0;
		p->fknown = 7;
		if (copy) {
			p->cell = cell_clone(src[i].cell);
			p->shared = SH_NO;
		} else {
			cell_ref(src[i].cell);
			p->shared = SH_YES;
		}
	}
	if (!copy) {
		spread_maybe(st.m, spn, spn + npages);
		for (uint64_t i = 0; i < npages; i++)
			page_at(st.m, spn + i)->shared = SH_YES;
	}
}

static void op_task_create(void)
{
	struct tsel parent;
	boolean_t inherit;
	uint64_t r = rnd(100);
	if (r < 55 && nlive > 0) {
		parent = pick_task(0);
		inherit = TRUE;
	} else if (r < 70 && nlive > 0) {
		parent = pick_task(0);
		inherit = FALSE;
	} else if (r < 85) {
		parent.id = TASK_NULL;
		parent.m = NULL;
		inherit = FALSE;
	} else if (r < 90) {
		parent.id = TASK_NULL;
		parent.m = NULL;
		inherit = TRUE;
	} else {
		parent.id = chance(50) && ndead ? dead[rnd((uint64_t)ndead)] : NEVER_TASK;
		parent.m = NULL;
		inherit = chance(50);
	}
	struct want w;
	if (parent.id != TASK_NULL && !parent.m)
		want_one(&w, KERN_INVALID_TASK);
	else if (parent.id == TASK_NULL && inherit)
		want_one(&w, KERN_INVALID_TASK);
	else {
		if (nlive == MAXT)
			return;
		want_one(&w, KERN_SUCCESS);
	}
	char what[200];
	snprintf(what, sizeof what, "task_create(%u, %s)", parent.id, inherit ? "TRUE" : "FALSE");
	logop("%s want %s", what, want_str(&w));
	prepare(&w, 0);
	task_t child = 0x777;
	if (!settle(what, task_create(parent.id, inherit, &child), &w))
		return;
	/* Ids are reused: the new task has the lowest id no live task has. */
	task_t lowest = 1;
	for (bool taken = true; taken; ) {
		taken = false;
		for (int i = 0; i < nlive; i++)
			if (live[i]->id == lowest) {
				lowest++;
				taken = true;
			}
	}
	if (child != lowest)
		FAIL("%s: new task id %u, but the lowest free id is %u", what, child, lowest);
	max_id = child > max_id ? child : max_id;
	logop("  -> task %u", child);
	/* A reused id is not dead any more. */
	for (int i = 0; i < ndead; i++)
		if (dead[i] == child)
			dead[i--] = dead[--ndead];
	struct mtask *c = mtask_new(child, parent.id);
	live[nlive++] = c;
	if (!inherit)
		return;
	struct mtask *p = parent.m;
	for (int s = 0; s < NSLOT; s++) {
		struct mpage *pp = &p->pg[s], *cp = &c->pg[s];
		if (pp->cell < 0 || pp->inh == VM_INHERIT_NONE)
			continue;
		*cp = *pp;
		cp->wired = 0;
		if (pp->inh == VM_INHERIT_SHARE) {
			cell_ref(pp->cell);
			pp->shared = SH_YES;
			cp->shared = SH_YES;
		} else {
			cp->cell = cell_clone(pp->cell);
			cp->shared = SH_NO;
		}
	}
}

static void op_task_terminate(void)
{
	struct tsel t;
	if (chance(15) || nlive == 0) {
		t.id = some_dead_id();
		t.m = NULL;
	} else {
		t = pick_task(0);
	}
	struct want w;
	want_one(&w, t.m ? KERN_SUCCESS : KERN_INVALID_ARGUMENT);
	char what[100];
	snprintf(what, sizeof what, "task_terminate(%u)", t.id);
	logop("%s want %s", what, want_str(&w));
	prepare(&w, 0);
	if (!settle(what, task_terminate(t.id), &w))
		return;
	for (int i = 0; i < nlive; i++)
		if (live[i] == t.m) {
			live[i] = live[--nlive];
			break;
		}
	mtask_free_pages(t.m);
	for (int i = 0; i < nlive; i++)
		if (live[i]->parent == t.id)
			live[i]->parent_dead = true;
	if (ndead < MAXDEAD)
		dead[ndead++] = t.id;
	free(t.m);
}

/* ---- comparing the engine with the model ------------------------------------ */

static void describe_page(char *b, size_t n, const struct mpage *p)
{
	snprintf(b, n, "prot %x max %x inh %u wired %u attr %d/%d/%d shared %d flush %llu/%llu/%llu known %x",
	         (unsigned)p->prot, (unsigned)p->max, p->inh, p->wired, p->attr[0], p->attr[1],
	         p->attr[2], p->shared, (unsigned long long)p->flush[0],
	         (unsigned long long)p->flush[1], (unsigned long long)p->flush[2], p->fknown);
}

static void check_page(struct mtask *m, uint64_t pn, const vm_region_extended_info_t *r)
{
	int s = slot_of(pn);
	if (s < 0 || m->pg[s].cell < 0)
		FAIL("task %u: region 0x%llx+0x%llx maps page 0x%llx, which the model has unallocated",
		     m->id, (unsigned long long)r->start, (unsigned long long)r->size,
		     (unsigned long long)(pn * PG));
	struct mpage *p = &m->pg[s];
	int bad = r->protection != p->prot || r->max_protection != p->max ||
	          r->inheritance != p->inh || r->wired_count != p->wired ||
	          r->cache != p->attr[0] || r->migrate != p->attr[1] || r->replicate != p->attr[2] ||
	          (p->shared != SH_MAYBE && !!r->shared != (p->shared == SH_YES)) ||
	          ((p->fknown & 1) && r->cache_flushes != p->flush[0]) ||
	          ((p->fknown & 2) && r->dcache_flushes != p->flush[1]) ||
	          ((p->fknown & 4) && r->icache_flushes != p->flush[2]);
	if (bad) {
		char b[300];
		describe_page(b, sizeof b, p);
		FAIL("task %u page 0x%llx: engine region 0x%llx+0x%llx has prot %x max %x inh %u "
		     "wired %u attr %d/%d/%d shared %d flush %llu/%llu/%llu; model: %s",
		     m->id, (unsigned long long)(pn * PG), (unsigned long long)r->start,
		     (unsigned long long)r->size, (unsigned)r->protection, (unsigned)r->max_protection,
		     r->inheritance, r->wired_count, r->cache, r->migrate, r->replicate, r->shared,
		     (unsigned long long)r->cache_flushes, (unsigned long long)r->dcache_flushes,
		     (unsigned long long)r->icache_flushes, b);
	}
}

/* random_coalesce: the entries are exactly the maximal runs of equal pages. */
static void check_partition(struct mtask *m, const vm_region_extended_info_t *r, size_t n)
{
	size_t k = 0;
	struct { int mobj; uint64_t eobj; uint64_t delta; } map[NSLOT];
	int nmap = 0;
	for (int s = 0; s < NSLOT; s++) {
		struct mpage *p = &m->pg[s];
		if (p->cell < 0)
			continue;
		uint64_t pn = slot_pn(s);
		if (s > 0 && same_entry(&m->pg[s - 1], slot_pn(s - 1), p, pn))
			continue;
		uint64_t e = pn + 1;
		int t = s + 1;
		while (t < NSLOT && same_entry(&m->pg[t - 1], slot_pn(t - 1), &m->pg[t], slot_pn(t))) {
			e++;
			t++;
		}
		if (k >= n || r[k].start != pn * PG || r[k].size != (e - pn) * PG)
			FAIL("task %u: region %zu is 0x%llx+0x%llx, the model's entry %zu is 0x%llx+0x%llx "
			     "(%zu regions in the engine)", m->id, k,
			     k < n ? (unsigned long long)r[k].start : 0ULL,
			     k < n ? (unsigned long long)r[k].size : 0ULL, k,
			     (unsigned long long)(pn * PG), (unsigned long long)((e - pn) * PG), n);
		/* Objects: none where the model has none, and one engine object
		 * per model object, at offsets that keep their distance. */
		if ((p->obj == 0) != (r[k].object_id == 0))
			FAIL("task %u region 0x%llx: engine object %llu, model object %d", m->id,
			     (unsigned long long)r[k].start, (unsigned long long)r[k].object_id, p->obj);
		uint64_t want_res = p->obj ? e - pn : 0;
		if (r[k].resident_pages != want_res)
			FAIL("task %u region 0x%llx: %llu resident pages, want %llu", m->id,
			     (unsigned long long)r[k].start, (unsigned long long)r[k].resident_pages,
			     (unsigned long long)want_res);
		if (p->obj) {
			uint64_t delta = r[k].offset - p->off * PG;
			int i;
			for (i = 0; i < nmap; i++)
				if (map[i].mobj == p->obj || map[i].eobj == r[k].object_id)
					break;
			if (i == nmap) {
				map[nmap].mobj = p->obj;
				map[nmap].eobj = r[k].object_id;
				map[nmap].delta = delta;
				nmap++;
			} else if (map[i].mobj != p->obj || map[i].eobj != r[k].object_id ||
			           map[i].delta != delta) {
				FAIL("task %u region 0x%llx: engine object %llu offset 0x%llx does not match "
				     "model object %d offset 0x%llx (seen before: model %d = engine %llu)",
				     m->id, (unsigned long long)r[k].start,
				     (unsigned long long)r[k].object_id, (unsigned long long)r[k].offset,
				     p->obj, (unsigned long long)(p->off * PG), map[i].mobj,
				     (unsigned long long)map[i].eobj);
			}
		}
		k++;
	}
	if (k != n)
		FAIL("task %u: the engine has %zu regions, the model's runs are %zu", m->id, n, k);
	int hc = harness_region_count(m->id);
	if (hc < 0 || (size_t)hc != n)
		FAIL("task %u: vm_region walk finds %d regions, the snapshot %zu", m->id, hc, n);
}

static void verify_task(struct mtask *m, uint64_t *nregions, uint64_t *vsize, uint64_t *wired)
{
	vm_region_extended_info_t *r = NULL;
	size_t n = 0;
	kern_return_t kr = machvm_region_snapshot(m->id, &r, &n);
	if (kr != KERN_SUCCESS)
		FAIL("machvm_region_snapshot(%u): %s", m->id, krn(kr));

	/* The look-forward walk must see the same regions. */
	vm_address_t addr = 0;
	size_t k = 0;
	for (;;) {
		vm_region_extended_info_t info;
		vm_address_t asked = addr;
		kr = vm_region_extended(m->id, &addr, &info);
		if (kr == KERN_NO_SPACE)
			break;
		if (kr != KERN_SUCCESS)
			FAIL("vm_region_extended(%u, 0x%llx): %s", m->id, (unsigned long long)asked, krn(kr));
		if (k >= n)
			FAIL("task %u: vm_region_extended finds more regions than the snapshot (%zu)", m->id, n);
		const char *d = region_diff(&info, &r[k]);
		if (d || addr != info.start)
			FAIL("task %u: vm_region_extended region %zu differs from the snapshot in %s",
			     m->id, k, d ? d : "the returned address");
		if (step % 7 == 0) {
			vm_address_t a2 = asked;
			vm_size_t sz;
			vm_prot_t pr, mx;
			vm_inherit_t ih;
			boolean_t sh;
			mach_port_t obj;
			vm_offset_t off;
			kr = vm_region(m->id, &a2, &sz, &pr, &mx, &ih, &sh, &obj, &off);
			if (kr != KERN_SUCCESS || a2 != info.start || sz != info.size || pr != info.protection ||
			    mx != info.max_protection || ih != info.inheritance || !!sh != !!info.shared ||
			    off != info.offset || obj != (mach_port_t)info.object_id)
				FAIL("task %u: vm_region(0x%llx) disagrees with vm_region_extended (%s)", m->id,
				     (unsigned long long)asked, krn(kr));
		}
		addr = info.start + info.size;
		k++;
	}
	if (k != n)
		FAIL("task %u: vm_region_extended finds %zu regions, the snapshot %zu", m->id, k, n);

	unsigned char seen[NSLOT];
	memset(seen, 0, sizeof seen);
	uint64_t prev_end = PG, wired_pages = 0;
	for (size_t i = 0; i < n; i++) {
		const vm_region_extended_info_t *g = &r[i];
		if ((g->start | g->size) & (PG - 1) || g->size == 0 || g->start < prev_end ||
		    g->start + g->size > MACHVM_USER_MAX || g->size > NSLOT * PG)
			FAIL("task %u: region %zu is 0x%llx+0x%llx (bad, or more than the model has)",
			     m->id, i, (unsigned long long)g->start, (unsigned long long)g->size);
		prev_end = g->start + g->size;
		for (uint64_t pn = g->start >> PG_SHIFT; pn < prev_end >> PG_SHIFT; pn++) {
			check_page(m, pn, g);
			seen[slot_of(pn)] = 1;
		}
		if (g->object_id == 0 && (g->share_mode != SM_EMPTY || g->resident_pages != 0))
			FAIL("task %u region 0x%llx: no object but share mode %s, %llu resident", m->id,
			     (unsigned long long)g->start, machvm_share_mode_name(g->share_mode),
			     (unsigned long long)g->resident_pages);
		if (g->object_id != 0 && g->share_mode == SM_EMPTY)
			FAIL("task %u region 0x%llx: object %llu but share mode empty", m->id,
			     (unsigned long long)g->start, (unsigned long long)g->object_id);
		if (g->resident_pages > g->size / PG ||
		    (g->wired_count > 0 && g->resident_pages != g->size / PG))
			FAIL("task %u region 0x%llx (+0x%llx, wired %u): %llu resident pages", m->id,
			     (unsigned long long)g->start, (unsigned long long)g->size, g->wired_count,
			     (unsigned long long)g->resident_pages);
		if (g->wired_count)
			wired_pages += g->size / PG;
	}
	uint64_t alloc = 0, mwired = 0;
	for (int s = 0; s < NSLOT; s++) {
		if (m->pg[s].cell < 0)
			continue;
		alloc++;
		if (m->pg[s].wired)
			mwired++;
		if (!seen[s])
			FAIL("task %u: page 0x%llx is allocated in the model but in no region", m->id,
			     (unsigned long long)(slot_pn(s) * PG));
	}
	if (focused)
		check_partition(m, r, n);

	/* vm_region looks forward from any address. */
	for (int probe = 0; probe < 2; probe++) {
		uint64_t pn = chance(85) ? rnd(NWIN + 3) : TOP0 - 1 + rnd(NTOP + 2);
		vm_address_t a = pn * PG + rnd(PG), got = a;
		vm_region_extended_info_t info;
		kr = vm_region_extended(m->id, &got, &info);
		int s = slot_of(pn);
		if (s >= 0 && m->pg[s].cell >= 0) {
			if (kr != KERN_SUCCESS || info.start > a || info.start + info.size <= a || got != info.start)
				FAIL("task %u: vm_region_extended(0x%llx) gives %s 0x%llx+0x%llx, "
				     "not the region holding it", m->id, (unsigned long long)a, krn(kr),
				     (unsigned long long)info.start, (unsigned long long)info.size);
		} else {
			uint64_t next = 0;
			int found = first_alloc_in(m, pn + 1, TOP_PN, &next);
			if (!found && kr != KERN_NO_SPACE)
				FAIL("task %u: vm_region_extended(0x%llx) gives %s, want KERN_NO_SPACE",
				     m->id, (unsigned long long)a, krn(kr));
			if (found && (kr != KERN_SUCCESS || info.start != next * PG || got != next * PG))
				FAIL("task %u: vm_region_extended(0x%llx) gives %s at 0x%llx, want the region "
				     "at 0x%llx", m->id, (unsigned long long)a, krn(kr),
				     (unsigned long long)info.start, (unsigned long long)(next * PG));
		}
	}

	machvm_task_stats_t st;
	kr = machvm_task_stats(m->id, &st);
	if (kr != KERN_SUCCESS)
		FAIL("machvm_task_stats(%u): %s", m->id, krn(kr));
	if (st.id != m->id || st.regions != n || st.virtual_size != alloc * PG ||
	    st.wired_pages != mwired || st.wired_pages != wired_pages || st.parent != m->parent ||
	    !!st.parent_alive != (m->parent != TASK_NULL && !m->parent_dead && task_is_live(m->parent)))
		FAIL("task %u stats: id %u regions %llu (want %zu) virtual_size 0x%llx (want 0x%llx) "
		     "wired_pages %llu (want %llu) parent %u alive %d (want %u)", m->id, st.id,
		     (unsigned long long)st.regions, n, (unsigned long long)st.virtual_size,
		     (unsigned long long)(alloc * PG), (unsigned long long)st.wired_pages,
		     (unsigned long long)mwired, st.parent, st.parent_alive, m->parent);

	/* Every readable byte, a run at a time. */
	for (int s = 0; s < NSLOT;) {
		struct mpage *p = &m->pg[s];
		if (p->cell < 0 || !(p->prot & VM_PROT_READ)) {
			s++;
			continue;
		}
		int e = s + 1;
		while (e < NSLOT && m->pg[e].cell >= 0 && (m->pg[e].prot & VM_PROT_READ) &&
		       slot_pn(e) == slot_pn(e - 1) + 1)
			e++;
		uint64_t len = (uint64_t)(e - s) * PG;
		vm_size_t count = 0;
		kr = vm_read(m->id, slot_pn(s) * PG, len, runbuf, &count);
		if (kr != KERN_SUCCESS || count != len)
			FAIL("task %u: vm_read(0x%llx, 0x%llx) of readable memory: %s, count 0x%llx",
			     m->id, (unsigned long long)(slot_pn(s) * PG), (unsigned long long)len,
			     krn(kr), (unsigned long long)count);
		for (int i = s; i < e; i++) {
			const unsigned char *want = cells[m->pg[i].cell]->data;
			const unsigned char *got = runbuf + (uint64_t)(i - s) * PG;
			if (memcmp(want, got, PG) != 0) {
				uint64_t o = 0;
				while (want[o] == got[o])
					o++;
				FAIL("task %u: byte at 0x%llx is 0x%02x, the model has 0x%02x", m->id,
				     (unsigned long long)(slot_pn(i) * PG + o), got[o], want[o]);
			}
		}
		s = e;
	}
	free(r);
	*nregions += n;
	*vsize += alloc * PG;
	*wired += mwired;
}

static int cmp_task(const void *a, const void *b)
{
	task_t x = *(const task_t *)a, y = *(const task_t *)b;
	return x < y ? -1 : x > y;
}

static void verify_all(void)
{
	kern_return_t kr = machvm_check();
	if (kr != KERN_SUCCESS)
		FAIL("machvm_check: %s", krn(kr));
	uint64_t nregions = 0, vsize = 0, wired = 0;
	for (int i = 0; i < nlive; i++)
		verify_task(live[i], &nregions, &vsize, &wired);

	task_t ids[MAXT + 8], want[MAXT];
	size_t count = 0;
	kr = machvm_task_list(ids, MAXT + 8, &count);
	for (int i = 0; i < nlive; i++)
		want[i] = live[i]->id;
	qsort(want, (size_t)nlive, sizeof want[0], cmp_task);
	if (kr != KERN_SUCCESS || count != (size_t)nlive)
		FAIL("machvm_task_list: %s, %zu tasks, the model has %d", krn(kr), count, nlive);
	for (int i = 0; i < nlive; i++)
		if (ids[i] != want[i])
			FAIL("machvm_task_list: task %d is %u, want %u", i, ids[i], want[i]);

	machvm_host_stats_t hs;
	kr = machvm_host_stats(&hs);
	if (kr != KERN_SUCCESS || hs.tasks != (uint64_t)nlive || hs.entries != nregions ||
	    hs.virtual_size != vsize || hs.wired_pages != wired || hs.page_size != PG)
		FAIL("host stats: tasks %llu entries %llu virtual_size 0x%llx wired %llu; want %d %llu "
		     "0x%llx %llu", (unsigned long long)hs.tasks, (unsigned long long)hs.entries,
		     (unsigned long long)hs.virtual_size, (unsigned long long)hs.wired_pages, nlive,
		     (unsigned long long)nregions, (unsigned long long)vsize, (unsigned long long)wired);
}

/* ---- the driver ------------------------------------------------------------------ */

struct mix {
	int allocate, allocate_bias_anywhere, deallocate, protect, inherit, map_inherit;
	int wire, attr, write, read, copy, remap, create, terminate;
};

static void one_step(const struct mix *w)
{
	int total = w->allocate + w->deallocate + w->protect + w->inherit + w->map_inherit +
	            w->wire + w->attr + w->write + w->read + w->copy + w->remap + w->create +
	            w->terminate;
	int x = (int)rnd((uint64_t)total);
	if (!focused && nlive < 2 && chance(50)) {
		op_task_create();
		return;
	}
#define PICK(f, call) if (x < w->f) { call; return; } x -= w->f
	PICK(allocate, op_allocate());
	PICK(deallocate, op_deallocate());
	PICK(protect, op_protect());
	PICK(inherit, op_inherit());
	PICK(map_inherit, op_map_inherit());
	PICK(wire, op_wire());
	PICK(attr, op_attr());
	PICK(write, op_write());
	PICK(read, op_read());
	PICK(copy, op_copy());
	PICK(remap, op_remap());
	PICK(create, op_task_create());
	PICK(terminate, if (nlive > 2 || chance(20)) op_task_terminate());
#undef PICK
}

static long steps_wanted(long dflt)
{
	const char *s = getenv("MACHVM_RANDOM_STEPS");
	if (s && *s)
		return strtol(s, NULL, 0);
	return dflt;
}

static void run(const char *name, uint64_t salt, const struct mix *mix, long nsteps, int focus,
                uint64_t low_span)
{
	span = low_span;
	model_reset();
	memset(stats, 0, sizeof stats);
	machvm_set_panic_hook(panic_hook);
	case_name = name;
	focused = focus;
	case_seed = get_seed_base() ^ (salt * 0x9e3779b97f4a7c15ULL);
	rng = case_seed;
	fprintf(stderr, "test_random: %s seed MACHVM_SEED=%llu (%ld steps)\n", name,
	        (unsigned long long)seed_base, nsteps);
	/* Two tasks to start with, one of them with some memory. */
	int ntasks = focus ? 1 : 2;
	for (int i = 0; i < ntasks; i++) {
		task_t id = TASK_NULL;
		kern_return_t kr = task_create(TASK_NULL, FALSE, &id);
		if (kr != KERN_SUCCESS)
			FAIL("task_create: %s", krn(kr));
		logop("task_create(0, FALSE) -> %u", id);
		if (i == 0 && id != 1)
			FAIL("the first task of a fresh host is %u, not 1", id);
		max_id = id > max_id ? id : max_id;
		live[nlive++] = mtask_new(id, TASK_NULL);
	}
	for (step = 1; step <= nsteps; step++) {
		one_step(mix);
		verify_all();
	}
	fprintf(stderr, "test_random: %s done, calls (succeeded/failed):", name);
	for (int i = 0; i < NSTAT && stats[i].name[0]; i++)
		fprintf(stderr, " %s %ld/%ld", stats[i].name, stats[i].ok, stats[i].failed);
	machvm_host_stats_t hs;
	if (machvm_host_stats(&hs) == KERN_SUCCESS)
		fprintf(stderr, "; engine: %llu faults, %llu cow, %llu shadows, %llu collapses, "
		        "%llu bypasses, %llu pages copied",
		        (unsigned long long)hs.faults, (unsigned long long)hs.cow_faults,
		        (unsigned long long)hs.shadows_created, (unsigned long long)hs.collapses,
		        (unsigned long long)hs.bypasses, (unsigned long long)hs.pages_copied);
	fprintf(stderr, "\n");
	for (int i = 0; i < nlive; i++)
		mtask_free_pages(live[i]);
	model_reset();
}

static const struct mix mix_all = {
	.allocate = 14, .deallocate = 6, .protect = 10, .inherit = 6, .map_inherit = 3,
	.wire = 7, .attr = 7, .write = 16, .read = 6, .copy = 5, .remap = 10, .create = 5,
	.terminate = 2,
};

static const struct mix mix_sharing = {
	.allocate = 12, .deallocate = 5, .protect = 6, .inherit = 12, .map_inherit = 3,
	.wire = 5, .attr = 3, .write = 20, .read = 5, .copy = 5, .remap = 16, .create = 9,
	.terminate = 4,
};

static const struct mix mix_dense = {
	.allocate = 8, .deallocate = 4, .protect = 4, .inherit = 8, .map_inherit = 2,
	.wire = 4, .attr = 2, .write = 30, .read = 6, .copy = 6, .remap = 14, .create = 10,
	.terminate = 5,
};

static const struct mix mix_coalesce = {
	.allocate = 16, .deallocate = 7, .protect = 18, .inherit = 10, .map_inherit = 5,
	.wire = 14, .attr = 14,
};

TEST(random_mixed)
{
	run("random_mixed", 1, &mix_all, steps_wanted(8000), 0, NWIN);
}

TEST(random_sharing)
{
	run("random_sharing", 2, &mix_sharing, steps_wanted(8000), 0, NWIN);
}

/* Few pages, many tasks writing, sharing and copying them: long aliasing
 * and shadow chains, collapses and bypasses. */
TEST(random_dense)
{
	run("random_dense", 4, &mix_dense, steps_wanted(8000), 0, 12);
}

TEST(random_coalesce)
{
	run("random_coalesce", 3, &mix_coalesce, steps_wanted(10000), 1, 40);
}
