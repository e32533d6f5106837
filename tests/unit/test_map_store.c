/*
 * test_map_store.c - the entry store (src/engine/vm_map_store.c) on its own.
 *
 * The store is driven directly with entries allocated here, and compared with
 * a plain sorted array of ranges: lookups, first-fit placement under several
 * masks, and the structure checker after every change.  The randomized case
 * prints its seed and step when it fails; set MACHVM_STORE_SEED to rerun one
 * seed.
 */
#include "harness.h"

#include <stdlib.h>
#include "../../src/engine/vm_map_store.h"

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: small, and the same sequence on every machine */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi], both included. */
static uint64_t rnd_in(uint64_t lo, uint64_t hi)
{
	uint64_t span = hi - lo + 1;
	return span == 0 ? rnd() : lo + rnd() % span;
}

static struct vm_map_entry *entry_new(vm_address_t start, vm_address_t end)
{
	struct vm_map_entry *e = calloc(1, sizeof(*e));
	CHECK(e != NULL);
	e->start = start;
	e->end = end;
	return e;
}

#define CHECK_STORE(s)                                                  \
	do { const char *why_ = vm_map_store_check(s);                  \
	     if (why_) harness_fail(__FILE__, __LINE__,                 \
	         "vm_map_store_check: %s", why_); } while (0)

/* Frees every entry of a store (walks the list, so also after build). */
static void store_free_all(struct vm_map_store *s)
{
	struct vm_map_entry *e = s->first;
	while (e) {
		struct vm_map_entry *n = e->next;
		free(e);
		e = n;
	}
	vm_map_store_init(s, s->min, s->max);
}

/*
 * The smallest x >= a with (x & mask) == 0, computed differently from the
 * store: either a itself, or a with its bits below some bit b cleared and a 0
 * bit b (not in mask) set, where a's bits above b hold no mask bit; the
 * lowest such b gives the smallest x.
 */
static bool ref_align(uint64_t a, uint64_t mask, uint64_t *out)
{
	if ((a & mask) == 0) {
		*out = a;
		return true;
	}
	for (int b = 0; b < 64; b++) {
		uint64_t bit = 1ull << b;
		uint64_t above = b == 63 ? 0 : ~((bit << 1) - 1);
		if ((a & bit) || (mask & bit) || (a & above & mask))
			continue;
		*out = (a & above) | bit;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------- model */

#define MODEL_MAX 4096

struct model {
	size_t n;
	struct { vm_address_t start, end; struct vm_map_entry *e; } r[MODEL_MAX];
	vm_address_t min, max;
};

static struct model M;

static size_t model_index_ge(vm_address_t start)
{
	size_t i = 0;
	while (i < M.n && M.r[i].start < start)
		i++;
	return i;
}

static bool model_overlaps(vm_address_t start, vm_address_t end)
{
	for (size_t i = 0; i < M.n; i++)
		if (M.r[i].start < end && start < M.r[i].end)
			return true;
	return false;
}

static void model_insert(struct vm_map_entry *e)
{
	size_t i = model_index_ge(e->start);
	memmove(&M.r[i + 1], &M.r[i], (M.n - i) * sizeof(M.r[0]));
	M.r[i].start = e->start;
	M.r[i].end = e->end;
	M.r[i].e = e;
	M.n++;
}

static void model_remove(size_t i)
{
	memmove(&M.r[i], &M.r[i + 1], (M.n - i - 1) * sizeof(M.r[0]));
	M.n--;
}

static struct vm_map_entry *model_lookup(vm_address_t a)
{
	for (size_t i = 0; i < M.n; i++)
		if (M.r[i].start <= a && a < M.r[i].end)
			return M.r[i].e;
	return NULL;
}

static struct vm_map_entry *model_lookup_ge(vm_address_t a)
{
	for (size_t i = 0; i < M.n; i++)
		if (a < M.r[i].end)
			return M.r[i].e;
	return NULL;
}

/* First fit by walking every hole of the model in address order. */
static bool model_find_space(vm_address_t lo, vm_size_t size, vm_address_t mask,
                             vm_address_t *out)
{
	for (size_t i = 0; i <= M.n; i++) {
		vm_address_t hs = i == 0 ? M.min : M.r[i - 1].end;
		vm_address_t he = i == M.n ? M.max : M.r[i].start;
		vm_address_t a = hs > lo ? hs : lo, x;
		if (a >= he || !ref_align(a, mask, &x) || x >= he || he - x < size)
			continue;
		*out = x;
		return true;
	}
	return false;
}

/* ------------------------------------------------- the randomized comparison */

static uint64_t cur_seed;
static long cur_step;

#define FAILF(fmt, ...) harness_fail(__FILE__, __LINE__, "seed %llu step %ld: " fmt, \
	(unsigned long long)cur_seed, cur_step, __VA_ARGS__)

static void compare_find_space(const struct vm_map_store *s, vm_address_t lo,
                               vm_size_t size, vm_address_t mask)
{
	vm_address_t got = 0xdeadbeef, want = 0;
	bool g = vm_map_store_find_space(s, lo, size, mask, &got);
	bool w = model_find_space(lo, size, mask, &want);

	if (g != w || (g && got != want))
		FAILF("find_space(lo 0x%llx, size 0x%llx, mask 0x%llx): got %s 0x%llx, want %s 0x%llx",
		      (unsigned long long)lo, (unsigned long long)size, (unsigned long long)mask,
		      g ? "fit" : "none", (unsigned long long)(g ? got : 0),
		      w ? "fit" : "none", (unsigned long long)(w ? want : 0));
	if (g && ((got & mask) || got < lo || got < s->min || got > s->max ||
	          s->max - got < size || model_overlaps(got, got + size)))
		FAILF("find_space returned a bad address 0x%llx", (unsigned long long)got);
}

static void compare_lookups(struct vm_map_store *s, vm_address_t a)
{
	struct vm_map_entry *g = vm_map_store_lookup(s, a), *w = model_lookup(a);
	if (g != w)
		FAILF("lookup(0x%llx): got %p, want %p", (unsigned long long)a, (void *)g, (void *)w);
	g = vm_map_store_lookup_ge(s, a);
	w = model_lookup_ge(a);
	if (g != w)
		FAILF("lookup_ge(0x%llx): got %p, want %p", (unsigned long long)a, (void *)g, (void *)w);
}

/* An address somewhere interesting: near an entry's edge, anywhere, or far out. */
static vm_address_t pick_addr(void)
{
	uint64_t k = rnd() % 10;
	if (M.n && k < 5) {
		size_t i = rnd() % M.n;
		vm_address_t base = rnd() & 1 ? M.r[i].start : M.r[i].end;
		uint64_t d = rnd_in(0, 2);
		return rnd() & 1 ? base + d : base - d;
	}
	if (k < 8)
		return rnd_in(M.min, M.max);
	if (k == 8)
		return rnd() & 1 ? 0 : UINT64_MAX - rnd_in(0, 3);
	return rnd();
}

static vm_size_t pick_size(vm_size_t span)
{
	switch (rnd() % 8) {
	case 0: return 1;
	case 1: return rnd_in(1, 0x3000);
	case 2: return rnd_in(1, 16) * 0x1000;
	case 3: return rnd_in(1, span / 8 + 1);
	case 4: return rnd_in(span / 2, span + 1);
	case 5: return UINT64_MAX - rnd_in(0, 0x1000);
	case 6: return rnd();
	default: return rnd_in(1, 4) * 0x10000;
	}
}

static const vm_address_t test_masks[] = { 0, 0xfff, 0xffff, 0x5000, 0x1, 0x8000000000000000ull,
                                           0xa0a0 };

static void query_all(struct vm_map_store *s)
{
	vm_size_t span = M.max - M.min;
	for (int q = 0; q < 4; q++) {
		vm_address_t lo = pick_addr();
		vm_size_t size = pick_size(span);
		for (size_t m = 0; m < sizeof(test_masks) / sizeof(test_masks[0]); m++)
			compare_find_space(s, lo, size, test_masks[m]);
		compare_find_space(s, lo, size, rnd() & rnd() & 0xfffff);
		compare_lookups(s, pick_addr());
	}
	if (vm_map_store_lookup(s, M.min - 1) != model_lookup(M.min - 1))
		FAILF("%s", "lookup below min");
}

static void compare_structure(const struct vm_map_store *s)
{
	const char *why = vm_map_store_check(s);
	if (why)
		FAILF("vm_map_store_check: %s", why);
	if (s->nentries != M.n)
		FAILF("nentries %zu, model %zu", s->nentries, M.n);
	const struct vm_map_entry *e = s->first;
	for (size_t i = 0; i < M.n; i++, e = e->next)
		if (e != M.r[i].e || e->start != M.r[i].start || e->end != M.r[i].end)
			FAILF("list entry %zu differs from the model", i);
	vm_size_t lead = (M.n ? M.r[0].start : M.max) - M.min;
	if (s->lead_gap != lead)
		FAILF("lead_gap 0x%llx, want 0x%llx", (unsigned long long)s->lead_gap,
		      (unsigned long long)lead);
}

/* One random change to store and model alike. */
static void random_step(struct vm_map_store *s, size_t target)
{
	vm_size_t span = M.max - M.min;
	uint64_t op = rnd() % 100;
	bool grow = M.n < target;

	if (M.n == 0 || (grow ? op < 60 : op < 30)) {
		vm_address_t start, end;
		int tries = 0;
	again:
		if (rnd() & 1) {
			/* placed by the store itself, as allocate-anywhere does */
			vm_size_t size = rnd_in(1, 8) * 0x1000 - (rnd() % 4 == 0 ? rnd_in(1, 0xfff) : 0);
			if (!vm_map_store_find_space(s, pick_addr(), size, test_masks[rnd() % 4], &start))
				return;
			end = start + size;
		} else {
			start = rnd_in(M.min, M.max - 1);
			if (rnd() % 3)
				start &= ~(vm_address_t)0xfff;
			if (start < M.min)
				start = M.min;
			vm_size_t len = rnd_in(1, span / 512 + 1);
			if (rnd() % 8 == 0)
				len = rnd_in(1, span / 16 + 1);
			end = M.max - start < len ? M.max : start + len;
		}
		if (M.n == MODEL_MAX)
			return;
		if (model_overlaps(start, end)) {
			if (++tries < 8)
				goto again;
			return;
		}
		struct vm_map_entry *e = entry_new(start, end);
		/* Also link it next to a known neighbour, as clipping does. */
		struct vm_map_entry *after = NULL, *before = NULL;
		for (size_t i = 0; i < M.n; i++) {
			if (M.r[i].e->end <= start)
				after = M.r[i].e;
			else if (before == NULL)
				before = M.r[i].e;
		}
		unsigned int how = rnd() % 3;
		if (how == 1 && after)
			vm_map_store_insert_after(s, after, e);
		else if (how == 2 && before)
			vm_map_store_insert_before(s, before, e);
		else
			vm_map_store_insert(s, e);
		model_insert(e);
	} else if (grow ? op < 75 : op < 70) {
		size_t i = rnd() % M.n;
		struct vm_map_entry *e = M.r[i].e;
		vm_map_store_remove(s, e);
		model_remove(i);
		free(e);
	} else {
		/* in-place change of one entry's range, order kept */
		size_t i = rnd() % M.n;
		struct vm_map_entry *e = M.r[i].e;
		vm_address_t lo_bound = i ? M.r[i - 1].end : M.min;
		vm_address_t hi_bound = i + 1 < M.n ? M.r[i + 1].start : M.max;
		switch (rnd() % 4) {
		case 0: /* grow or shrink the end */
			e->end = rnd_in(e->start + 1, hi_bound);
			break;
		case 1: /* raise the start */
			e->start = rnd_in(e->start, e->end - 1);
			break;
		case 2: /* lower the start */
			e->start = rnd_in(lo_bound, e->start);
			break;
		default: /* both, to exactly touch the neighbours */
			e->start = lo_bound;
			e->end = hi_bound;
			break;
		}
		vm_map_store_update(s, e);
		M.r[i].start = e->start;
		M.r[i].end = e->end;
	}
}

static void random_run(uint64_t seed, vm_address_t min, vm_address_t max, long steps)
{
	struct vm_map_store s;

	cur_seed = seed;
	rng_state = seed;
	vm_map_store_init(&s, min, max);
	M.n = 0;
	M.min = min;
	M.max = max;
	for (cur_step = 0; cur_step < steps; cur_step++) {
		/* The population swings between near-empty and a few hundred. */
		size_t target = (cur_step / 1000) % 2 ? 8 : 400;
		random_step(&s, target);
		compare_structure(&s);
		query_all(&s);
	}
	/* Empty it again entry by entry. */
	while (M.n) {
		size_t i = rnd() % M.n;
		struct vm_map_entry *e = M.r[i].e;
		vm_map_store_remove(&s, e);
		model_remove(i);
		free(e);
		compare_structure(&s);
		query_all(&s);
		cur_step++;
	}
	CHECK(s.root == NULL && s.first == NULL && s.last == NULL);
}

static uint64_t seed_or(uint64_t dflt)
{
	const char *env = getenv("MACHVM_STORE_SEED");
	return env && *env ? strtoull(env, NULL, 0) : dflt;
}

TEST(store_random_small_space)
{
	random_run(seed_or(1), 0x3000, 0x803000, 6000);
}

TEST(store_random_page_range)
{
	random_run(seed_or(2), 0x1000, 0x200000, 6000);
}

TEST(store_random_top_of_space)
{
	/* Holes end at 2^64 - 1: alignment and sums must not wrap. */
	random_run(seed_or(3), 0xffffffffff000000ull, UINT64_MAX, 6000);
}

TEST(store_random_from_zero)
{
	random_run(seed_or(4), 0, 0x100000, 4000);
}

/* --------------------------------------------------------------- edge cases */

TEST(store_empty)
{
	struct vm_map_store s;
	vm_address_t a = 0;

	vm_map_store_init(&s, 0x1000, 0x10000);
	CHECK_STORE(&s);
	CHECK_EQ(s.lead_gap, 0xf000);
	CHECK(vm_map_store_lookup(&s, 0x1000) == NULL);
	CHECK(vm_map_store_lookup_ge(&s, 0) == NULL);
	CHECK(vm_map_store_find_space(&s, 0, 0x1000, 0, &a));
	CHECK_EQ(a, 0x1000);
	CHECK(vm_map_store_find_space(&s, 0x1001, 0x1000, 0xfff, &a));
	CHECK_EQ(a, 0x2000);
	/* exactly the whole space, and one byte more */
	CHECK(vm_map_store_find_space(&s, 0, 0xf000, 0, &a));
	CHECK_EQ(a, 0x1000);
	CHECK(!vm_map_store_find_space(&s, 0, 0xf001, 0, &a));
	/* a fit that ends exactly at max */
	CHECK(vm_map_store_find_space(&s, 0xe000, 0x2000, 0, &a));
	CHECK_EQ(a, 0xe000);
	CHECK(!vm_map_store_find_space(&s, 0xe001, 0x2000, 0, &a));
	/* lo at and beyond max */
	CHECK(!vm_map_store_find_space(&s, 0x10000, 1, 0, &a));
	CHECK(!vm_map_store_find_space(&s, UINT64_MAX, 1, 0, &a));
	/* no aligned start inside the space */
	CHECK(!vm_map_store_find_space(&s, 0, 0x1000, 0xffff, &a));
	CHECK(vm_map_store_find_space(&s, 0, 0x1000, 0xe000, &a));
	CHECK_EQ(a, 0x1000);
}

TEST(store_find_space_edges)
{
	struct vm_map_store s;
	vm_address_t a = 0;
	struct vm_map_entry *e1 = entry_new(0x2000, 0x4000);
	struct vm_map_entry *e2 = entry_new(0x6000, 0x7000);
	struct vm_map_entry *e3 = entry_new(0x9000, 0xa000);

	vm_map_store_init(&s, 0x1000, 0xc000);
	vm_map_store_insert(&s, e2);
	vm_map_store_insert(&s, e3);
	vm_map_store_insert(&s, e1);
	CHECK_STORE(&s);
	CHECK_EQ(s.lead_gap, 0x1000);
	CHECK_EQ(vm_map_entry_gap(&s, e1), 0x2000);
	CHECK_EQ(vm_map_entry_gap(&s, e2), 0x2000);
	CHECK_EQ(vm_map_entry_gap(&s, e3), 0x2000);
	CHECK_EQ(s.root->max_gap, 0x2000);

	/* lead gap first, then each hole after an entry */
	CHECK(vm_map_store_find_space(&s, 0, 0x1000, 0, &a));
	CHECK_EQ(a, 0x1000);
	CHECK(vm_map_store_find_space(&s, 0, 0x2000, 0, &a));
	CHECK_EQ(a, 0x4000);
	/* lo inside an entry: the hole after it */
	CHECK(vm_map_store_find_space(&s, 0x3000, 0x1000, 0, &a));
	CHECK_EQ(a, 0x4000);
	CHECK(vm_map_store_find_space(&s, 0x6800, 0x1000, 0, &a));
	CHECK_EQ(a, 0x7000);
	/* lo inside a hole, remainder too small: the next hole */
	CHECK(vm_map_store_find_space(&s, 0x4800, 0x2000, 0, &a));
	CHECK_EQ(a, 0x7000);
	/* fit ending exactly at max */
	CHECK(vm_map_store_find_space(&s, 0x9500, 0x2000, 0, &a));
	CHECK_EQ(a, 0xa000);
	CHECK(!vm_map_store_find_space(&s, 0xa001, 0x2000, 0, &a));
	/* too big for any hole, or for the whole space */
	CHECK(!vm_map_store_find_space(&s, 0, 0x2001, 0, &a));
	CHECK(!vm_map_store_find_space(&s, 0, UINT64_MAX, 0, &a));
	CHECK(!vm_map_store_find_space(&s, UINT64_MAX, 1, 0, &a));
	/* masks: 0x4000 aligned holes are at 0x4000 and 0x8000 */
	CHECK(vm_map_store_find_space(&s, 0x4001, 0x1000, 0x3fff, &a));
	CHECK_EQ(a, 0x8000);
	/* non-contiguous mask: bits 12 and 14 clear -> 0x8000, 0xa000, ... */
	CHECK(vm_map_store_find_space(&s, 0x0, 0x1000, 0x5000, &a));
	CHECK_EQ(a, 0x8000);
	CHECK(vm_map_store_find_space(&s, 0x8001, 0x1000, 0x5000, &a));
	CHECK_EQ(a, 0xa000);
	CHECK(!vm_map_store_find_space(&s, 0x8001, 0x1000, 0x7000, &a));

	/* lookups at the edges */
	CHECK(vm_map_store_lookup(&s, 0x1fff) == NULL);
	CHECK(vm_map_store_lookup(&s, 0x2000) == e1);
	CHECK(vm_map_store_lookup(&s, 0x3fff) == e1);
	CHECK(vm_map_store_lookup(&s, 0x4000) == NULL);
	CHECK(vm_map_store_lookup_ge(&s, 0x4000) == e2);
	CHECK(vm_map_store_lookup_ge(&s, 0x6fff) == e2);
	CHECK(vm_map_store_lookup_ge(&s, 0x9000) == e3);
	CHECK(vm_map_store_lookup_ge(&s, 0xa000) == NULL);
	CHECK(vm_map_store_lookup_ge(&s, 0) == e1);

	/* update: close every hole, then reopen */
	e1->end = 0x6000;
	vm_map_store_update(&s, e1);
	e2->end = 0x9000;
	vm_map_store_update(&s, e2);
	e3->end = 0xc000;
	vm_map_store_update(&s, e3);
	CHECK_STORE(&s);
	CHECK_EQ(s.root->max_gap, 0);
	CHECK(!vm_map_store_find_space(&s, 0x2000, 1, 0, &a));
	e1->start = 0x1000;
	vm_map_store_update(&s, e1);
	CHECK_STORE(&s);
	CHECK_EQ(s.lead_gap, 0);
	CHECK(!vm_map_store_find_space(&s, 0, 1, 0, &a));
	e2->start = 0x6100;
	vm_map_store_update(&s, e2);
	CHECK_STORE(&s);
	CHECK(vm_map_store_find_space(&s, 0, 1, 0, &a));
	CHECK_EQ(a, 0x6000);
	CHECK(!vm_map_store_find_space(&s, 0, 0x101, 0, &a));

	/* removing the first entry grows the lead gap */
	vm_map_store_remove(&s, e1);
	CHECK_STORE(&s);
	CHECK_EQ(s.lead_gap, 0x5100);
	CHECK_EQ(s.first, e2);
	free(e1);
	store_free_all(&s);
}

TEST(store_find_space_overflow)
{
	struct vm_map_store s;
	vm_address_t a = 0;

	/* A space reaching 2^64 - 1: sums like a + size must never wrap. */
	vm_map_store_init(&s, 0xfffffffffff00000ull, UINT64_MAX);
	struct vm_map_entry *e = entry_new(0xfffffffffff00000ull, 0xfffffffffff10000ull);
	vm_map_store_insert(&s, e);
	CHECK_STORE(&s);
	CHECK_EQ(vm_map_entry_gap(&s, e), UINT64_MAX - 0xfffffffffff10000ull);
	CHECK(vm_map_store_find_space(&s, 0, 0x1000, 0, &a));
	CHECK_EQ(a, 0xfffffffffff10000ull);
	CHECK(!vm_map_store_find_space(&s, UINT64_MAX - 0x10, 0x11, 0, &a));
	CHECK(vm_map_store_find_space(&s, UINT64_MAX - 0x10, 0x10, 0, &a));
	CHECK_EQ(a, UINT64_MAX - 0x10);
	CHECK(vm_map_store_find_space(&s, 0xfffffffffff10001ull, 0x1000, 0xffff, &a));
	CHECK_EQ(a, 0xfffffffffff20000ull);
	CHECK(!vm_map_store_find_space(&s, 0xfffffffffff10001ull, 1, 0xfffff, &a));
	CHECK(vm_map_store_find_space(&s, 0xfffffffffff10001ull, 0x1000, 0xfff, &a));
	CHECK_EQ(a, 0xfffffffffff11000ull);
	/* aligning past 2^64 means no fit, not a wrap to 0 */
	CHECK(!vm_map_store_find_space(&s, 0xfffffffffff10001ull, 1, 0x8000000000000000ull, &a));
	CHECK(!vm_map_store_find_space(&s, UINT64_MAX, 1, 0, &a));
	CHECK(!vm_map_store_find_space(&s, 0, UINT64_MAX, 0, &a));
	CHECK(!vm_map_store_find_space(&s, 0, UINT64_MAX - 0xfffffffffff10000ull + 1, 0, &a));
	CHECK(vm_map_store_find_space(&s, 0, UINT64_MAX - 0xfffffffffff10000ull, 0, &a));
	CHECK_EQ(a, 0xfffffffffff10000ull);
	store_free_all(&s);

	/* The whole 64-bit line, lowest address 0, mask with every bit. */
	vm_map_store_init(&s, 0, UINT64_MAX);
	CHECK(vm_map_store_find_space(&s, 0, 1, UINT64_MAX, &a));
	CHECK_EQ(a, 0);
	CHECK(!vm_map_store_find_space(&s, 1, 1, UINT64_MAX, &a));
	CHECK(vm_map_store_find_space(&s, 1, 1, 0x7fffffffffffffffull, &a));
	CHECK_EQ(a, 0x8000000000000000ull);
	CHECK(vm_map_store_find_space(&s, 0, UINT64_MAX, 0, &a));
	CHECK_EQ(a, 0);
	CHECK(!vm_map_store_find_space(&s, 1, UINT64_MAX, 0, &a));
}

/* Sequential inserts are the classic way to unbalance a search tree. */
TEST(store_sequential_inserts_stay_balanced)
{
	struct vm_map_store s;
	enum { N = 1000 };
	struct vm_map_entry *ents[N];

	vm_map_store_init(&s, 0x1000, 0x1000 + 0x2000ull * N);
	for (int i = 0; i < N; i++) {
		ents[i] = entry_new(0x1000 + 0x2000ull * i, 0x2000 + 0x2000ull * i);
		vm_map_store_insert(&s, ents[i]);
	}
	CHECK_STORE(&s);
	/* Inserts alone keep it an AVL tree: height < 1.45 log2(n + 2), and
	 * log2(1002) < 10 */
	CHECK(s.root->rank + 1 <= 14);
	CHECK_EQ(s.nentries, N);
	for (int i = 0; i < N; i += 2) {
		vm_map_store_remove(&s, ents[i]);
		free(ents[i]);
	}
	CHECK_STORE(&s);
	CHECK_EQ(s.lead_gap, 0x2000);
	CHECK_EQ(s.root->max_gap, 0x3000);
	for (int i = N - 1; i >= 0; i -= 2) {
		vm_map_store_remove(&s, ents[i]);
		free(ents[i]);
	}
	CHECK_STORE(&s);
	CHECK(s.root == NULL);
	CHECK_EQ(s.lead_gap, 0x2000ull * N);

	for (int i = N - 1; i >= 0; i--) {
		ents[i] = entry_new(0x1000 + 0x2000ull * i, 0x2000 + 0x2000ull * i);
		vm_map_store_insert(&s, ents[i]);
	}
	CHECK_STORE(&s);
	CHECK(s.root->rank + 1 <= 14);
	store_free_all(&s);
}

/* A list of n entries with some spacing, for build(). */
static struct vm_map_entry *make_list(size_t n, vm_address_t base, struct vm_map_entry **tab)
{
	struct vm_map_entry *head = NULL, **link = &head;
	vm_address_t a = base;
	for (size_t i = 0; i < n; i++) {
		struct vm_map_entry *e = entry_new(a, a + 0x1000 * (1 + i % 3));
		a = e->end + 0x1000 * (i % 5);
		/* stale links the build must overwrite */
		e->left = e->right = e->parent = e->prev = (struct vm_map_entry *)0x1;
		e->rank = 99;
		e->max_gap = 12345;
		tab[i] = e;
		*link = e;
		link = &e->next;
	}
	return head;
}

static void build_case(size_t n)
{
	struct vm_map_store s;
	struct vm_map_entry **tab = calloc(n + 1, sizeof(*tab));
	vm_address_t a = 0;

	CHECK(tab != NULL);
	vm_map_store_init(&s, 0x10000, 0x10000 + 0x10000ull * (n + 1));
	vm_map_store_build(&s, make_list(n, 0x11000, tab), n);
	CHECK_STORE(&s);
	CHECK_EQ(s.nentries, n);
	CHECK(s.first == (n ? tab[0] : NULL));
	CHECK(s.last == (n ? tab[n - 1] : NULL));
	CHECK_EQ(s.lead_gap, n ? 0x1000 : 0x10000ull * (n + 1));
	for (size_t i = 0; i < n; i++) {
		CHECK(vm_map_store_lookup(&s, tab[i]->start) == tab[i]);
		CHECK(vm_map_store_lookup(&s, tab[i]->end - 1) == tab[i]);
		CHECK(vm_map_store_lookup_ge(&s, tab[i]->start) == tab[i]);
		CHECK(vm_map_store_lookup_ge(&s, i ? tab[i - 1]->end : 0) == tab[i]);
		vm_address_t he = i + 1 < n ? tab[i + 1]->start : s.max;
		CHECK_EQ(vm_map_entry_gap(&s, tab[i]), he - tab[i]->end);
	}
	/* height of a size-balanced tree: floor(log2 n) + 1, its root's rank
	 * one less */
	if (n) {
		int32_t h = 0;
		for (size_t k = n; k; k >>= 1)
			h++;
		CHECK_EQ(s.root->rank + 1, h);
	}
	CHECK(vm_map_store_find_space(&s, 0, 0x1000, 0, &a));
	CHECK_EQ(a, 0x10000);
	/* the built tree keeps working under changes */
	for (size_t i = 0; i < n; i += 3) {
		vm_map_store_remove(&s, tab[i]);
		free(tab[i]);
		tab[i] = NULL;
		CHECK_STORE(&s);
	}
	struct vm_map_entry *e = entry_new(0x10000, 0x11000);
	vm_map_store_insert(&s, e);
	CHECK_STORE(&s);
	CHECK_EQ(s.lead_gap, 0);
	store_free_all(&s);
	free(tab);
}

TEST(store_build_0) { build_case(0); }
TEST(store_build_1) { build_case(1); }
TEST(store_build_2) { build_case(2); }
TEST(store_build_3) { build_case(3); }
TEST(store_build_1000) { build_case(1000); }

TEST(store_build_then_random)
{
	/* A built tree compared with the model under random changes. */
	enum { N = 257 };
	struct vm_map_entry *tab[N];
	struct vm_map_store s;

	cur_seed = seed_or(5);
	rng_state = cur_seed;
	M.min = 0x10000;
	M.max = 0x10000 + 0x10000ull * (N + 1);
	vm_map_store_init(&s, M.min, M.max);
	vm_map_store_build(&s, make_list(N, 0x11000, tab), N);
	M.n = 0;
	for (size_t i = 0; i < N; i++)
		model_insert(tab[i]);
	for (cur_step = 0; cur_step < 2000; cur_step++) {
		compare_structure(&s);
		query_all(&s);
		random_step(&s, 200);
	}
	store_free_all(&s);
}

/* The checker must notice each kind of damage, or the other tests mean little. */
TEST(store_check_detects_damage)
{
	struct vm_map_store s;
	enum { N = 31 };
	struct vm_map_entry *tab[N];

	vm_map_store_init(&s, 0x10000, 0x10000 + 0x10000ull * (N + 1));
	vm_map_store_build(&s, make_list(N, 0x11000, tab), N);
	CHECK_STORE(&s);

	struct vm_map_entry *r = s.root;
	vm_size_t saved;
	vm_address_t sa;
	int32_t sh;
	struct vm_map_entry *sp;

	/* an entry's end moved behind the store's back: its gap outgrows
	 * every max_gap that counted it (0x2000 + 0x2800, above any gap) */
	sa = tab[2]->end; tab[2]->end -= 0x2800;
	CHECK(vm_map_store_check(&s) != NULL); tab[2]->end = sa;
	saved = r->max_gap; r->max_gap++;
	CHECK(vm_map_store_check(&s) != NULL); r->max_gap = saved;
	saved = s.lead_gap; s.lead_gap--;
	CHECK(vm_map_store_check(&s) != NULL); s.lead_gap = saved;
	sh = r->rank; r->rank += 2;
	CHECK(vm_map_store_check(&s) != NULL); r->rank = (uint8_t)sh;
	sp = r->left->parent; r->left->parent = r->right;
	CHECK(vm_map_store_check(&s) != NULL); r->left->parent = sp;
	s.nentries++;
	CHECK(vm_map_store_check(&s) != NULL); s.nentries--;
	sp = s.last; s.last = s.last->prev;
	CHECK(vm_map_store_check(&s) != NULL); s.last = sp;
	sp = tab[5]->prev; tab[5]->prev = tab[3];
	CHECK(vm_map_store_check(&s) != NULL); tab[5]->prev = sp;
	/* overlap with the next entry (gap fixed up so only the overlap is wrong) */
	sa = tab[7]->start; tab[7]->start = tab[6]->end - 1;
	CHECK(vm_map_store_check(&s) != NULL); tab[7]->start = sa;
	sa = tab[0]->start; tab[0]->start = s.min - 1;
	CHECK(vm_map_store_check(&s) != NULL); tab[0]->start = sa;
	/* out of BST order: swap two ranges' values */
	sa = tab[10]->start; tab[10]->start = tab[12]->start; tab[12]->start = sa;
	CHECK(vm_map_store_check(&s) != NULL);
	tab[12]->start = tab[10]->start; tab[10]->start = sa;
	CHECK_STORE(&s);
	/* unbalance: unhang a leaf, so that ranks and links disagree */
	struct vm_map_entry *l = r;
	while (l->left)
		l = l->left;
	CHECK(l == s.first);
	struct vm_map_entry *p = l->parent;
	p->left = NULL;
	CHECK(vm_map_store_check(&s) != NULL);
	p->left = l;
	CHECK_STORE(&s);
	store_free_all(&s);
}
